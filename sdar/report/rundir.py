"""Reading a run directory for the reports: `config.json`, `metrics.jsonl`, `samples.jsonl`.

Read-only and tolerant: a line cut short by a killed run is skipped, a missing `config.json` only loses
the legend's algo/seed. It knows the file names the training loop writes, nothing about how they were
computed.
"""

from __future__ import annotations

import json
from pathlib import Path


class RunError(ValueError):
    """A path that is not a readable run directory; the message is one line naming it."""


def read_jsonl(path: Path) -> list[dict]:
    """One dict per line; blank or unparsable lines (a line cut short by a killed run) are skipped."""
    rows = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict):
            rows.append(row)
    return rows


def run_file(run_dir: str | Path, name: str) -> Path:
    """`run_dir/name`, or a RunError saying which of the two is missing."""
    run = Path(run_dir)
    if not run.is_dir():
        raise RunError(f"{run_dir}: no such run directory")
    path = run / name
    if not path.is_file():
        raise RunError(f"{run_dir} is not a run directory (no {name})")
    return path


def read_config(run_dir: str | Path) -> dict:
    """The resolved config as plain JSON, or {} when it is absent or unreadable."""
    try:
        config = json.loads((Path(run_dir) / "config.json").read_text())
    except (OSError, ValueError):
        return {}
    return config if isinstance(config, dict) else {}


def run_labels(run_dirs: list[Path]) -> list[str]:
    """Legend labels: the directory names; where two collide, `algo seed N` from the configs; where
    those collide too, the paths as given."""
    names = [Path(d).resolve().name or str(d) for d in run_dirs]
    if len(set(names)) == len(names):
        return names
    configs = [read_config(d) for d in run_dirs]
    algo_seed = [f"{c.get('loss', {}).get('algo', '?')} seed {c.get('train', {}).get('seed', '?')}"
                 for c in configs]
    if len(set(algo_seed)) == len(algo_seed):
        return algo_seed
    return [str(d) for d in run_dirs]
