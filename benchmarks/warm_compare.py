"""Which warm start is better? `sdar sft` variants × seeds, each evaluated on the same held-out tasks.

Every cell (variant, seed) runs `sdar sft SHARED VARIANT --seed S` and then `sdar eval --policy model` on
the model it made, with the evaluation's thinking and history window taken from the run's own `sft.json`,
and its turns saved (`eval_turns.jsonl`, for `invalid_turns.py`). The cells go seed by seed (every
variant of seed 0, then of seed 1, ...), so a run cut short still compares like with like; each cell's
results are in OUT/VARIANT/seedS/, and a rerun with the same OUT skips the finished cells, so a
comparison too long for one sitting resumes where it stopped (a cell's command is recorded there, and a
rerun that changes it stops with an error instead of mixing two commands).

Writes benchmarks/results/NAME.json (every cell) and NAME.md (per variant: wins over all seeds with the
95% Wilson interval, wins per seed, valid actions, invalid turns still in sight of the last change of
state, training minutes), updated after every cell.

    python benchmarks/warm_compare.py --out runs/warm_compare --seeds 0 1 \\
        --shared "--env household --gap-episodes 0 --thinking --repeat-share 0.5 --tempt 0.2" \\
        --variant "window 2=" --variant "window 4=--history 4"
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

from invalid_turns import last_change_in_sight  # the benchmark next to this one
from sft_precision import RESULTS, machine

from sdar.evaluate import wilson_interval


def parse_variant(text: str) -> tuple[str, list[str]]:
    """"NAME=OPTIONS" → (NAME, the options as words)."""
    name, sep, options = text.partition("=")
    if not sep or not name.strip():
        raise SystemExit(f"--variant: expected NAME=OPTIONS (the options may be empty), got {text!r}")
    return name.strip(), shlex.split(options)


def run(cmd: list[str], log: Path) -> None:
    with open(log, "w", encoding="utf-8") as f:
        code = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT,
                              env={**os.environ, "HF_HUB_OFFLINE": "1"}).returncode
    if code != 0:
        raise SystemExit(f"{' '.join(map(shlex.quote, cmd))} failed with exit code {code}; its output: {log}")


def cell(variant: list[str], seed: int, args, out: Path) -> dict:
    """One warm start and its evaluation, or the finished cell's results when `out` already holds them."""
    sft = [sys.executable, "-m", "sdar", "sft", *shlex.split(args.shared), *variant, "--seed", str(seed),
           "--out", str(out), "--no-progress"]
    out.mkdir(parents=True, exist_ok=True)
    recorded = out / "command.json"
    if recorded.exists() and json.loads(recorded.read_text())["sft"] != sft[3:]:
        raise SystemExit(f"{out} holds a cell made by another command ({recorded}); use another --out")
    if (out / "cell.json").exists():
        return json.loads((out / "cell.json").read_text())
    recorded.write_text(json.dumps({"sft": sft[3:]}) + "\n")
    if not (out / "sft.json").exists():
        run(sft, out / "sft.log")
    record = json.loads((out / "sft.json").read_text())
    o = record["options"]
    evaluate = [sys.executable, "-m", "sdar", "eval", "--env", o["env"], "--policy", "model", "--model",
                str(out / "model"), "--episodes", str(args.eval_episodes), "--history", str(record["history"]),
                "--json", "--no-progress", "--trajectories", str(out / "eval_turns.jsonl"),
                *(["--thinking"] if o["thinking"] else []), *(["--data", o["data"]] if o["data"] else []),
                *shlex.split(args.eval_options)]
    run(evaluate, out / "eval.log")
    summary = json.loads((out / "eval.log").read_text().strip().splitlines()[-1])
    turns = [json.loads(line) for line in (out / "eval_turns.jsonl").read_text().splitlines() if line.strip()]
    episodes: dict[int, list[dict]] = {}
    for t in turns:
        episodes.setdefault(t["trajectory"], []).append(t)
    sight = {}
    for e in episodes.values():
        for k, n in last_change_in_sight(e).items():
            sight[k] = sight.get(k, 0) + n
    result = {"seed": seed, "wins": round(summary["success_rate"] * summary["episodes"]),
              "episodes": summary["episodes"], "per_type": summary["per_type"],
              "valid_action_rate": summary["valid_action_rate"], "turns": len(turns),
              "invalid_turns": sum(sight.values()),
              "invalid_by_last_change": sight, "train_seconds": record["perf/train_seconds"],
              "trained_turns": record["demos"]["trained_turns"], "precision": record["precision"],
              "sft": sft[3:], "eval": evaluate[3:]}
    (out / "cell.json").write_text(json.dumps(result, indent=1) + "\n")
    return result


def table(cells: dict[str, list[dict]], command: str) -> list[str]:
    lines = [f"`{command}`", "",
             "| variant | won (95% interval) | per seed | valid actions | invalid turns (last change beyond the "
             "window) | train min |", "|---|---|---|---|---|---|"]
    for name, done in cells.items():
        if not done:
            continue
        wins, n = sum(c["wins"] for c in done), sum(c["episodes"] for c in done)
        lo, hi = wilson_interval(wins, n)
        valid = 1 - sum(c["invalid_turns"] for c in done) / max(sum(c["turns"] for c in done), 1)  # over all turns
        lines.append(f"| {name} | {wins}/{n} = {wins / n:.2f} ({lo:.2f}–{hi:.2f}) | "
                     + ", ".join(f"{c['wins']}/{c['episodes']} (seed {c['seed']})" for c in done)
                     + f" | {valid:.3f} | {sum(c['invalid_turns'] for c in done)} "
                     f"({sum(c['invalid_by_last_change'].get('beyond it', 0) for c in done)}) | "
                     f"{sum(c['train_seconds'] for c in done) / 60 / len(done):.1f} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="where the cells' runs go (a rerun resumes from it)")
    parser.add_argument("--shared", default="--env household --gap-episodes 0",
                        help="sdar sft options every variant gets")
    parser.add_argument("--variant", action="append", required=True, metavar="NAME=OPTIONS",
                        help="a variant's own sdar sft options (repeat the flag for each variant)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--eval-episodes", type=int, default=30)
    parser.add_argument("--eval-options", default="", help="more sdar eval options, e.g. '--max-turns 10'")
    parser.add_argument("--name", default="warm_compare", help="the results' file stem")
    parser.add_argument("--results", default=str(RESULTS), help="the results' folder")
    args = parser.parse_args()
    variants = dict(map(parse_variant, args.variant))
    if len(variants) != len(args.variant):
        raise SystemExit("--variant: two variants share a name")
    command = " ".join(map(shlex.quote, ["python", "benchmarks/warm_compare.py", *sys.argv[1:]]))
    cells: dict[str, list[dict]] = {name: [] for name in variants}
    t0 = time.perf_counter()
    for seed in args.seeds:
        for name, options in variants.items():
            cells[name].append(cell(options, seed, args, Path(args.out) / name.replace(" ", "_") / f"seed{seed}"))
            print(f"{name}, seed {seed}: won {cells[name][-1]['wins']}/{cells[name][-1]['episodes']}, "
                  f"valid {cells[name][-1]['valid_action_rate']:.3f}", flush=True)
            results, lines = Path(args.results), table(cells, command)
            results.mkdir(parents=True, exist_ok=True)
            report = {"command": command, "machine": machine(), "cells": cells,
                      "seconds_this_sitting": time.perf_counter() - t0}
            (results / f"{args.name}.json").write_text(json.dumps(report, indent=1) + "\n")
            (results / f"{args.name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
