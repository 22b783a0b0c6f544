"""Training curves from `metrics.jsonl`, several runs overlaid: `sdar plot RUN_DIR [RUN_DIR ...]`.

One PNG per panel (success, reward, gate mean, gate active ratio, teacher gap, student–teacher KL,
KL per turn bucket) plus `overview.png` with the scalar panels side by side. A panel no run has data for
is not written (a GRPO run has no `distill/*` keys; `eval/*` exists only on evaluation steps). Each run
keeps one colour in every panel; within a panel, line style tells its series apart (rollout vs eval).
matplotlib is imported on first use; figures are drawn on Agg canvases, without pyplot, so nothing here
needs a display or touches the caller's pyplot backend.
It reads the metric names the training loop writes and computes nothing new from them.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from pathlib import Path

from sdar.report.rundir import RunError, read_jsonl, run_file, run_labels

Series = dict[str, tuple[list[float], list[float]]]  # metric key -> (steps, values)
TURN_BUCKETS = ("1", "2", "3", "4", "5", "6+")
STYLES = ("-", "--", ":", "-.")


@dataclass(frozen=True)
class Panel:
    """One figure: which metric keys it overlays, with the suffix each gets in the legend."""

    name: str
    title: str
    ylabel: str
    keys: tuple[tuple[str, str], ...]
    ylim: tuple[float, float] | None = None
    hline: float | None = None


PANELS = (
    Panel("success", "success rate", "episodes won", (("rollout/success_rate", "rollout"),
          ("eval/success_rate", "eval"), ("eval/with_skills/success_rate", "eval with skills")), (-0.03, 1.03)),
    Panel("reward", "episode reward (rollout mean)", "reward", (("rollout/reward_mean", ""),)),
    Panel("gate_mean", "gate mean  σ(β·(lt − ls))", "gate", (("distill/gate_mean", ""),), (-0.03, 1.03), 0.5),
    Panel("gate_active_ratio", "gate active ratio", "fraction of tokens",
          (("distill/gate_active_ratio", ""),), (-0.03, 1.03)),
    Panel("teacher_gap", "teacher–student gap  lt − ls (mean)", "nats / token",
          (("distill/teacher_gap_mean", ""),), None, 0.0),
    Panel("student_teacher_kl", "student–teacher KL (k3, sampled tokens)", "nats / token",
          (("distill/student_teacher_kl", ""),), None, 0.0),
)


def load_series(run_dir: str | Path) -> Series:
    """Every finite numeric metric of the run as (steps, values); the step is the row's `step`."""
    out: Series = {}
    for i, row in enumerate(read_jsonl(run_file(run_dir, "metrics.jsonl"))):
        step = row.get("step", i + 1)
        for key, value in row.items():
            if key == "step" or isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            if math.isfinite(value):
                steps, values = out.setdefault(key, ([], []))
                steps.append(step)
                values.append(float(value))
    return out


def ema(values: list[float], weight: float) -> list[float]:
    """Exponential moving average, s_t = w·s_{t−1} + (1 − w)·x_t, s_1 = x_1 (w = 0: the values)."""
    out: list[float] = []
    for x in values:
        out.append(x if not out else weight * out[-1] + (1 - weight) * x)
    return out


def plot_runs(run_dirs: list[str | Path], out_dir: str | Path, *, smooth: float = 0.0) -> list[Path]:
    """Write the PNGs of every panel some run has data for into `out_dir`; returns their paths.
    Raises RunError for a path that is not a run directory, ImportError without matplotlib."""
    runs = [load_series(d) for d in run_dirs]  # read all first: a bad path fails before any file is written
    labels = run_labels([Path(d) for d in run_dirs])
    new_figure = _figure_factory()
    out = Path(out_dir)
    written, drawn = [], []
    for panel in PANELS:
        if any(key in series for series in runs for key, _ in panel.keys):
            fig = new_figure(figsize=(7, 4))
            draw_panel(fig.subplots(), panel, runs, labels, smooth)
            written.append(_save(fig, out / f"{panel.name}.png"))
            drawn.append(panel)
    buckets = [b for b in TURN_BUCKETS if any(_kl_key(b) in series for series in runs)]
    if buckets:
        written.append(_save(_kl_by_turn(new_figure, buckets, runs, labels, smooth), out / "kl_by_turn.png"))
    if len(drawn) > 1:
        written.append(_save(_overview(new_figure, drawn, runs, labels, smooth), out / "overview.png"))
    return written


def draw_panel(ax, panel: Panel, runs: list[Series], labels: list[str], smooth: float) -> None:
    """Overlay the panel's keys for every run: colour = run, line style = key."""
    for r, (series, label) in enumerate(zip(runs, labels)):
        for k, (key, suffix) in enumerate(panel.keys):
            if key in series:
                name = f"{label} ({suffix})" if suffix and len(panel.keys) > 1 else label
                _line(ax, *series[key], color=f"C{r % 10}", style=STYLES[k % len(STYLES)], label=name,
                      smooth=smooth, sparse=len(series[key][0]) < _n_steps(series))
    if panel.hline is not None:
        ax.axhline(panel.hline, color="0.6", linewidth=0.8, zorder=0)
    if panel.ylim:
        ax.set_ylim(*panel.ylim)
    _decorate(ax, panel.title, panel.ylabel)


def _line(ax, steps, values, *, color, style, label, smooth, sparse) -> None:
    """One series; sparse ones (evaluation steps) get markers and no smoothing; with smoothing the raw
    curve stays faint behind the smoothed one."""
    marker = "o" if sparse or len(steps) == 1 else None
    if smooth > 0 and len(values) > 2 and not sparse:
        ax.plot(steps, values, color=color, linestyle=style, alpha=0.25, linewidth=1)
        values = ema(values, smooth)
    ax.plot(steps, values, color=color, linestyle=style, marker=marker, markersize=4, linewidth=1.6, label=label)


def _kl_key(bucket: str) -> str:
    return f"distill/by_turn/{bucket}/student_teacher_kl"


def _kl_by_turn(new_figure, buckets: list[str], runs: list[Series], labels: list[str], smooth: float):
    """One small panel per turn bucket, shared y axis, so turns compare at a glance."""
    cols = min(len(buckets), 3)
    rows = math.ceil(len(buckets) / cols)
    fig = new_figure(figsize=(4.2 * cols, 3.2 * rows))
    axes = fig.subplots(rows, cols, sharey=True, squeeze=False)
    for i, (ax, bucket) in enumerate(zip(axes.flat, buckets)):
        for r, (series, label) in enumerate(zip(runs, labels)):
            if _kl_key(bucket) in series:
                steps, values = series[_kl_key(bucket)]
                _line(ax, steps, values, color=f"C{r % 10}", style="-", label=label, smooth=smooth,
                      sparse=len(steps) < _n_steps(series))
        ax.axhline(0.0, color="0.6", linewidth=0.8, zorder=0)
        _decorate(ax, f"turn {bucket}", "nats / token" if i % cols == 0 else "")
    for ax in list(axes.flat)[len(buckets):]:
        ax.set_visible(False)
    fig.suptitle("student–teacher KL (k3) by turn")
    return fig


def _overview(new_figure, panels: list[Panel], runs: list[Series], labels: list[str], smooth: float):
    cols = min(len(panels), 3)
    rows = math.ceil(len(panels) / cols)
    fig = new_figure(figsize=(5.2 * cols, 3.4 * rows))
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax, panel in zip(axes.flat, panels):
        draw_panel(ax, panel, runs, labels, smooth)
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    return fig


def _decorate(ax, title: str, ylabel: str) -> None:
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    ax.xaxis.get_major_locator().set_params(integer=True)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, loc="best")


def _n_steps(series: Series) -> int:
    return max((len(steps) for steps, _ in series.values()), default=0)


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def _figure_factory():
    """`new_figure(figsize=...)`: a Figure on its own Agg canvas (no pyplot state, freed when dropped)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError("plotting needs matplotlib: pip install matplotlib") from None

    def new_figure(figsize: tuple[float, float]):
        fig = Figure(figsize=figsize)
        FigureCanvasAgg(fig)
        return fig

    return new_figure


def cli_plot(args: list[str]) -> int:
    """`sdar plot RUN_DIR [RUN_DIR ...] [--out DIR] [--smooth W]`; bad input raises UsageError (one line)."""
    from sdar.cli import UsageError

    parser = argparse.ArgumentParser(prog="sdar plot", description="Write PNG training curves of one or "
                                     "more runs, overlaid (success, reward, gate, teacher gap, KL per turn).")
    parser.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    parser.add_argument("--out", metavar="DIR", help="default: RUN_DIR/plots for one run, ./plots for several")
    parser.add_argument("--smooth", type=float, default=0.0, metavar="W",
                        help="exponential moving-average weight in [0, 1); the raw curve stays faint")
    a = parser.parse_args(args)
    if not 0 <= a.smooth < 1:
        raise UsageError(f"--smooth: must be in [0, 1), got {a.smooth}")
    out = Path(a.out or (Path(a.run_dirs[0]) / "plots" if len(a.run_dirs) == 1 else "plots"))
    try:
        paths = plot_runs(a.run_dirs, out, smooth=a.smooth)
    except (RunError, ImportError) as err:
        raise UsageError(str(err)) from None
    except OSError as err:
        raise UsageError(f"--out: cannot write plots to {out} ({err.strerror or err})") from None
    if not paths:
        raise UsageError(f"nothing to plot: {', '.join(a.run_dirs)} hold no metrics yet")
    print(f"{len(paths)} plots written to {out}: {', '.join(p.name for p in paths)}")
    return 0
