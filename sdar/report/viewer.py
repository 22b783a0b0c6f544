"""The trajectory viewer: `sdar view RUN_DIR` writes one self-contained HTML file from `samples.jsonl`.

Episodes (one per step and trajectory) are listed by task type and outcome, filterable by step; each turn
shows its prompt (collapsible), the response's tokens coloured by the teacher–student gap (red: the
teacher rejects the token, green: it endorses it) and underlined by the gate, the parsed action, the
valid flag, reward and advantage, and the privileged text the teacher saw when the run recorded it.
The data goes into the page as JSON in a `<script type="application/json">`, with `<`, `>` and `&`
escaped, and the page's script only ever sets `textContent`: model output is untrusted text.
No network, no external asset. It reads the record fields `sdar.train.records.sample_records` writes
and tolerates missing ones (older runs, runs without a teacher).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from sdar.report.rundir import RunError, read_config, read_jsonl, run_file
from sdar.report.viewer_page import PAGE

TURN_FIELDS = ("turn", "prompt", "response", "action", "valid", "observation", "reward", "advantage",
               "tokens", "gap", "gate")


def group_episodes(records: list[dict]) -> list[dict]:
    """Turn records grouped into episodes keyed by (step, trajectory), ordered by step, trajectory and
    turn. An episode's `privileged` is the first one its turns carry (None when none does)."""
    episodes: dict[tuple, dict] = {}
    for r in records:
        key = (r.get("step", 0), r.get("trajectory", 0))
        ep = episodes.setdefault(key, {
            "step": key[0], "trajectory": key[1], "group": r.get("group", 0),
            "task_type": str(r.get("task_type", "?")), "goal": str(r.get("goal", "")),
            "won": bool(r.get("won", False)), "privileged": None, "turns": []})
        if ep["privileged"] is None and r.get("privileged"):
            ep["privileged"] = str(r["privileged"])
        ep["turns"].append({k: r.get(k) for k in TURN_FIELDS})
    for ep in episodes.values():
        ep["turns"].sort(key=lambda t: t["turn"] if isinstance(t["turn"], int) else 0)
    return [episodes[k] for k in sorted(episodes, key=lambda k: (_num(k[0]), _num(k[1])))]


def page_data(run_dir: str | Path, records: list[dict]) -> dict:
    """Everything the page shows: the run's name and config summary, and its episodes."""
    config = read_config(run_dir)
    episodes = group_episodes(records)
    return {
        "run": {"name": Path(run_dir).resolve().name, "algo": config.get("loss", {}).get("algo"),
                "env": config.get("env", {}).get("name"), "model": config.get("model", {}).get("path"),
                "context_tokens": config.get("teacher", {}).get("context_tokens")},
        "has_gap": any(t.get("gap") for ep in episodes for t in ep["turns"]),
        "episodes": episodes,
    }


def script_json(obj) -> str:
    """JSON that is inert inside `<script type="application/json">`: `<`, `>` and `&` as \\u escapes,
    so no `</script>` or `<!--` can end the block; ASCII only; NaN and ±inf as null (JSON has neither)."""
    text = json.dumps(_finite(obj), ensure_ascii=True, allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render_page(data: dict) -> str:
    return PAGE.replace("__SDAR_DATA__", script_json(data))


def write_viewer(run_dir: str | Path, out_path: str | Path | None = None) -> Path:
    """Write the viewer of `run_dir` (default `RUN_DIR/viewer.html`); returns its path.
    Raises RunError for a path that is not a run directory or has no samples.jsonl."""
    records = read_jsonl(run_file(run_dir, "samples.jsonl"))
    out = Path(out_path) if out_path is not None else Path(run_dir) / "viewer.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_page(page_data(run_dir, records)), encoding="utf-8")
    return out


def _finite(obj):
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def _num(x) -> float:
    return x if isinstance(x, (int, float)) else 0


def cli_view(args: list[str]) -> int:
    """`sdar view RUN_DIR [--out FILE]`; bad input raises UsageError (one line)."""
    from sdar.cli import UsageError

    parser = argparse.ArgumentParser(prog="sdar view", description="Write a self-contained HTML trajectory viewer "
                                     "of a run's samples (tokens coloured by the teacher-student gap and gate).")
    parser.add_argument("run_dir", metavar="RUN_DIR")
    parser.add_argument("--out", metavar="FILE", help="default: RUN_DIR/viewer.html")
    a = parser.parse_args(args)
    try:
        out = write_viewer(a.run_dir, a.out)
    except RunError as err:
        raise UsageError(str(err)) from None
    except OSError as err:
        raise UsageError(f"cannot write {a.out or 'the viewer'}: {err.strerror or err}") from None
    print(f"viewer written to {out}; open it in a browser")
    return 0
