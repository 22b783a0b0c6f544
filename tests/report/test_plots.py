"""`sdar plot`: PNG panels for one and several runs, panels without data skipped, one-line errors."""

import sys

import pytest

from sdar.cli import UsageError, main
from sdar.report.plots import PANELS, cli_plot, draw_panel, ema, load_series, plot_runs
from sdar.report.rundir import run_labels
from tests.report.conftest import metric_rows, write_run

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
EVERY_PANEL = {"success", "reward", "gate_mean", "gate_active_ratio", "teacher_gap", "student_teacher_kl",
               "kl_by_turn", "overview"}


def assert_pngs(paths, names):
    assert {p.stem for p in paths} == names
    for p in paths:
        data = p.read_bytes()
        assert data[:8] == PNG_MAGIC and len(data) > 5_000, p


def test_one_run_writes_every_panel(tmp_path):
    run = write_run(tmp_path / "run", metrics=metric_rows())
    assert_pngs(plot_runs([run], tmp_path / "plots"), EVERY_PANEL)


def test_two_runs_overlaid_one_colour_each(tmp_path):
    a = write_run(tmp_path / "a", metrics=metric_rows())
    b = write_run(tmp_path / "b", metrics=metric_rows(keys=("rollout/success_rate", "rollout/reward_mean")),
                  algo="grpo")
    assert_pngs(plot_runs([a, b], tmp_path / "plots"), EVERY_PANEL)

    from matplotlib.figure import Figure

    ax = Figure().subplots()
    draw_panel(ax, PANELS[0], [load_series(a), load_series(b)], ["a", "b"], smooth=0.0)
    lines = {line.get_label(): line for line in ax.get_lines() if not line.get_label().startswith("_")}
    assert sorted(lines) == ["a (eval)", "a (rollout)", "b (eval)", "b (rollout)"]
    assert lines["a (eval)"].get_color() == lines["a (rollout)"].get_color() != lines["b (rollout)"].get_color()
    assert lines["a (eval)"].get_marker() == "o"  # evaluation steps are sparse: markers


def test_panels_without_data_are_skipped(tmp_path):
    """A GRPO run has no distill/* keys: no gate, gap or KL panel, and the PNGs it has are still valid."""
    run = write_run(tmp_path / "grpo", metrics=metric_rows(keys=("rollout/success_rate",), eval_every=99))
    assert_pngs(plot_runs([run], tmp_path / "plots"), {"success"})
    empty = write_run(tmp_path / "empty")
    assert plot_runs([empty], tmp_path / "none") == []
    assert not (tmp_path / "none").exists()


def test_truncated_and_non_finite_rows_are_skipped(tmp_path):
    run = write_run(tmp_path / "run", metrics=metric_rows(steps=3))
    with (run / "metrics.jsonl").open("a") as f:
        f.write('{"step": 4, "rollout/success_rate": NaN}\n{"step": 5, "rollout/succ')  # killed mid-write
    steps, values = load_series(run)["rollout/success_rate"]
    assert steps == [1, 2, 3] and values == pytest.approx([0.1, 0.2, 0.3])


def test_labels_fall_back_to_algo_and_seed(tmp_path):
    a = write_run(tmp_path / "x" / "run", algo="sdar", seed=1)
    b = write_run(tmp_path / "y" / "run", algo="grpo", seed=1)
    assert run_labels([tmp_path / "x", tmp_path / "y"]) == ["x", "y"]
    assert run_labels([a, b]) == ["sdar seed 1", "grpo seed 1"]
    assert run_labels([a, a]) == [str(a), str(a)]


def test_ema_matches_its_formula():
    xs = [1.0, 3.0, -2.0, 4.0]
    naive = [xs[0]]
    for x in xs[1:]:
        naive.append(0.6 * naive[-1] + 0.4 * x)
    assert ema(xs, 0.6) == pytest.approx(naive)
    assert ema(xs, 0.0) == xs and ema([], 0.5) == []


def test_cli_errors_are_one_line(tmp_path, capsys):
    with pytest.raises(UsageError, match="no such run directory"):
        cli_plot([str(tmp_path / "missing")])
    (tmp_path / "not_a_run").mkdir()
    with pytest.raises(UsageError, match=r"not a run directory \(no metrics.jsonl\)"):
        cli_plot([str(tmp_path / "not_a_run")])
    with pytest.raises(UsageError, match="nothing to plot"):
        cli_plot([str(write_run(tmp_path / "empty"))])
    with pytest.raises(UsageError, match="--smooth"):
        cli_plot([str(tmp_path), "--smooth", "1.5"])
    (tmp_path / "a_file").write_text("")
    run = write_run(tmp_path / "full", metrics=metric_rows(3))
    with pytest.raises(UsageError, match="--out: cannot write plots to"):
        cli_plot([str(run), "--out", str(tmp_path / "a_file" / "plots")])


def test_without_matplotlib_the_message_says_what_to_install(tmp_path, monkeypatch):
    for name in [m for m in sys.modules if m.split(".")[0] == "matplotlib"] + ["matplotlib"]:
        monkeypatch.setitem(sys.modules, name, None)  # importing any of them now raises ImportError
    with pytest.raises(UsageError, match="needs matplotlib: pip install matplotlib"):
        cli_plot([str(write_run(tmp_path / "run", metrics=metric_rows()))])


def test_cli_on_a_real_tiny_run(tiny_run, tmp_path, capsys):
    assert cli_plot([str(tiny_run), str(tiny_run), "--out", str(tmp_path / "cmp"), "--smooth", "0.5"]) == 0
    assert "plots written to" in capsys.readouterr().out
    assert_pngs(list((tmp_path / "cmp").glob("*.png")), EVERY_PANEL)
    assert cli_plot([str(tiny_run)]) == 0 and (tiny_run / "plots" / "success.png").is_file()


def test_sdar_plot_command(tmp_path, capsys):
    assert main(["plot", str(tmp_path / "missing")]) == 2
    assert capsys.readouterr().err.strip() == f"sdar plot: {tmp_path / 'missing'}: no such run directory"
    run = write_run(tmp_path / "run", metrics=metric_rows())
    assert main(["plot", str(run), "--out", str(tmp_path / "p")]) == 0 and (tmp_path / "p" / "overview.png").is_file()
