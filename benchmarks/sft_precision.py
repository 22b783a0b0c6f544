"""What bf16 autocast buys a supervised warm start on the CPU, and what it costs in quality.

The same `sdar sft` job (same demonstrations, same batch order, same starting model) runs once in fp32 and
once under bf16 autocast (fp32 master weights and optimizer either way), in fresh processes one after the
other, `--repeats` times, alternating which goes first. Reported per precision: training seconds,
tokens per second (prompt + response of the trained turns), peak memory (the run's max RSS), and the
held-out response loss and greedy match after training (each scored in its own run's precision).

Writes benchmarks/results/sft_precision.json and sft_precision.md.
    python benchmarks/sft_precision.py --episodes 8 --repeats 1
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from record import command, machine, write_results  # the module next to this one

from sdar.models import cpu_has_bf16

PRECISIONS = ("fp32", "bf16")


def one_run(options: list[str], args, out: Path) -> dict:
    """One `sdar sft OPTIONS` in a fresh process (so its peak memory is its own); the numbers of its record."""
    cmd = [sys.executable, "-m", "sdar", "sft", "--out", str(out), "--model", args.model, "--env", args.env,
           "--episodes", str(args.episodes), "--gap-episodes", str(args.gap_episodes), "--no-progress", *options]
    child = subprocess.Popen(cmd, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    _, status, usage = os.wait4(child.pid, 0)  # this child's own resource usage
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(cmd)} failed with exit code {os.waitstatus_to_exitcode(status)}")
    record = json.loads((out / "sft.json").read_text())
    demos, after = record["demos"], record["held_out"]["after"]
    tokens = record["epochs"][-1]["sft/tokens"]
    return {"precision": record["precision"], "train_seconds": record["perf/train_seconds"],
            "tokens_per_second": tokens / record["perf/train_seconds"],
            "peak_rss_gib": usage.ru_maxrss / 2**20,  # KiB on Linux
            "loss_sft": record["epochs"][-1]["loss/sft"],
            "held_out_nll": -after["student_logprob_mean"], "held_out_greedy_match": after["student_greedy_match"],
            "trained_turns": demos["trained_turns"]}


KEYS = ["train_seconds", "tokens_per_second", "peak_rss_gib", "loss_sft", "held_out_nll", "held_out_greedy_match"]


def summarize(runs: list[dict], field: str, names) -> dict:
    """Per name (the runs' `field`), the mean of each KEYS number over its runs."""
    return {n: {k: statistics.mean(x[k] for x in runs if x[field] == n) for k in KEYS} for n in names}


def table(summary: dict, first_column: str) -> list[str]:
    """The markdown table of a summary, one row per name."""
    lines = [f"| {first_column} | train s | tokens/s | peak RSS GiB | last-epoch loss | held-out NLL "
             "| held-out greedy |",
             "|---|---|---|---|---|---|---|"]
    for name, s in summary.items():
        lines.append(f"| {name} | {s['train_seconds']:.0f} | {s['tokens_per_second']:.0f} | {s['peak_rss_gib']:.1f} | "
                     f"{s['loss_sft']:.3f} | {s['held_out_nll']:.3f} | {s['held_out_greedy_match']:.2f} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="bundled")
    parser.add_argument("--env", default="household")
    parser.add_argument("--episodes", type=int, default=8)
    parser.add_argument("--gap-episodes", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    if args.gap_episodes < 1:
        parser.error("--gap-episodes must be >= 1: the table compares the held-out loss and greedy match")
    runs = []
    with tempfile.TemporaryDirectory(prefix="sdar-sft-precision-") as tmp:
        for r in range(args.repeats):
            for precision in (PRECISIONS if r % 2 == 0 else PRECISIONS[::-1]):
                runs.append({"repeat": r, **one_run(["--precision", precision], args, Path(tmp) / f"{precision}-{r}")})
                print(json.dumps(runs[-1]), flush=True)
    summary = summarize(runs, "precision", PRECISIONS)
    speedup = summary["fp32"]["train_seconds"] / summary["bf16"]["train_seconds"]
    result = {"args": vars(args), "runs": runs, "summary": summary, "bf16_speedup": speedup,
              "machine": machine(cpu_native_bf16=cpu_has_bf16())}
    lines = [f"`{command()}` "
             f"({args.model}, {args.env}; native bf16 on this CPU: {cpu_has_bf16()})", "", *table(summary, "precision")]
    lines += ["", f"bf16 autocast trains {speedup:.2f}x as fast as fp32."]
    write_results("sft_precision", result, lines)


if __name__ == "__main__":
    main()
