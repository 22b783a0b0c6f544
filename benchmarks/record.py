"""What every benchmark writes beside its numbers: the command that made them, the code and the machine.

`write_results(stem, record, lines)` writes RESULTS/STEM.json (the record, with `command`, `commit` and
`machine` added where the benchmark did not set them) and RESULTS/STEM.md (the lines, then one line naming
the commit and the machine), and prints the Markdown. A number in the README can then be traced to the
code that measured it, and a result regenerated on other code says so.
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import subprocess
import sys
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def command() -> str:
    """This benchmark's command line as a user would type it from the repository root."""
    return " ".join(map(shlex.quote, ["python", f"benchmarks/{Path(sys.argv[0]).name}", *sys.argv[1:]]))


def code_version() -> str:
    """The commit the benchmark runs (`git describe`; "-dirty" when tracked files differ from it)."""
    found = subprocess.run(["git", "-C", str(Path(__file__).resolve().parent), "describe", "--always", "--dirty",
                            "--abbrev=12"], capture_output=True, text=True)
    return found.stdout.strip() if found.returncode == 0 else "unknown (not a git checkout)"


def machine(**extra) -> dict:
    """What the timings were measured on: device, cores, torch threads and versions, plus `extra`."""
    import torch

    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "CPU"
    return {"device": device, "processor": platform.processor() or platform.machine(), "cores": os.cpu_count(),
            "threads": torch.get_num_threads(), **extra, "torch": torch.__version__,
            "python": platform.python_version()}


def describe(found: dict) -> str:
    """A machine record in one line."""
    return ", ".join(f"{k} {v}" for k, v in found.items())


def write_results(stem: str, record: dict, lines: list[str], folder: Path = RESULTS) -> None:
    """FOLDER/STEM.json (`record` plus command, commit and machine) and FOLDER/STEM.md (`lines` plus a line
    naming the commit and the machine), and print the Markdown."""
    record = {"command": command(), "commit": code_version(), "machine": machine(), **record}
    found = record["machine"]
    lines = [*lines, "", f"Commit {record['commit']}; "
             f"{describe(found) if isinstance(found, dict) else found}."]
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{stem}.json").write_text(json.dumps(record, indent=2) + "\n")
    (folder / f"{stem}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
