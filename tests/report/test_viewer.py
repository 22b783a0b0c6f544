"""`sdar view`: the page holds every episode of samples.jsonl, in order, and no model text becomes markup."""

import json
import re

import pytest

from sdar.cli import UsageError, main
from sdar.report.viewer import cli_view, group_episodes, script_json, write_viewer
from tests.report.conftest import PAYLOAD, episodes_run, sample_record, write_run


def page_data(html: str) -> dict:
    """The JSON block, parsed as the browser would (JSON.parse of the script element's text)."""
    block = re.search(r'<script type="application/json" id="sdar-data">(.*?)</script>', html, re.DOTALL)
    return json.loads(block.group(1))


def test_html_holds_the_episodes(tmp_path):
    html = write_viewer(episodes_run(tmp_path / "run")).read_text()
    data = page_data(html)
    keys = [(e["step"], e["trajectory"]) for e in data["episodes"]]
    assert keys == [(1, 0), (1, 1), (2, 0), (2, 1)]
    won = data["episodes"][3]
    assert won["won"] and won["task_type"] == "heat" and won["goal"] == "heat some egg."
    assert [t["turn"] for t in won["turns"]] == [0, 1]  # sorted, though written 1, 0
    assert won["privileged"] == "Skills: heat it in the microwave."
    assert won["turns"][1]["gap"] == [-1.0, 2.0] and won["turns"][1]["gate"] == [0.1, 0.9]
    assert data["has_gap"] and data["run"] == {"name": "run", "algo": "sdar", "env": "household",
                                               "model": "tiny", "context_tokens": 512}
    assert data["episodes"][0]["privileged"] is None


def test_injected_markup_stays_text(tmp_path):
    html = write_viewer(episodes_run(tmp_path / "run")).read_text()
    assert len(re.findall(r"<script", html, re.IGNORECASE)) == 2  # the data block and the page's own script
    assert html.count("</script>") == 2 and "<img" not in html and "onerror=\"document" not in html
    assert "<!--" not in html
    turn = page_data(html)["episodes"][3]["turns"][1]
    assert turn["response"] == turn["action"] == turn["observation"] == turn["prompt"] == PAYLOAD
    assert turn["tokens"] == [PAYLOAD, "</script>"]
    assert "innerHTML" not in html and "insertAdjacentHTML" not in html and "document.write" not in html


def test_script_json_is_inert_and_exact():
    value = {"s": "</script><!-- & \u2028 é", "n": [float("nan"), float("inf"), 1.5]}
    text = script_json(value)
    assert not set(text) & set("<>&") and text.isascii()
    assert json.loads(text) == {"s": value["s"], "n": [None, None, 1.5]}


def test_run_without_teacher_or_privileged_text(tmp_path):
    run = write_run(tmp_path / "grpo", samples=[sample_record(1, 0, 0, teacher=False)], algo="grpo")
    data = page_data(write_viewer(run, tmp_path / "out" / "v.html").read_text())
    assert not data["has_gap"] and data["episodes"][0]["turns"][0]["gap"] is None
    assert data["episodes"][0]["privileged"] is None


def test_group_episodes_tolerates_missing_fields():
    episodes = group_episodes([{"step": 1, "trajectory": 0}, {"step": 1, "trajectory": 0, "turn": 1}])
    assert len(episodes) == 1 and episodes[0]["task_type"] == "?" and len(episodes[0]["turns"]) == 2


def test_cli_errors_are_one_line(tmp_path):
    with pytest.raises(UsageError, match="no such run directory"):
        cli_view([str(tmp_path / "missing")])
    (tmp_path / "not_a_run").mkdir()
    with pytest.raises(UsageError, match=r"not a run directory \(no samples.jsonl\)"):
        cli_view([str(tmp_path / "not_a_run")])


def test_cli_on_a_real_tiny_run(tiny_run, tmp_path, capsys):
    assert cli_view([str(tiny_run), "--out", str(tmp_path / "v.html")]) == 0
    assert "viewer written to" in capsys.readouterr().out
    data = page_data((tmp_path / "v.html").read_text())
    records = [json.loads(line) for line in (tiny_run / "samples.jsonl").read_text().splitlines()]
    assert sum(len(e["turns"]) for e in data["episodes"]) == len(records) > 0
    assert data["has_gap"] and data["run"]["algo"] == "sdar"
    assert any("privileged" in r for r in records)
    assert all(e["privileged"] for e in data["episodes"])
    assert cli_view([str(tiny_run)]) == 0 and (tiny_run / "viewer.html").is_file()


def test_sdar_view_command(tmp_path, capsys):
    assert main(["view", str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip() == f"sdar view: {tmp_path} is not a run directory (no samples.jsonl)"
    run = episodes_run(tmp_path / "run")
    assert main(["view", str(run)]) == 0 and (run / "viewer.html").is_file()
