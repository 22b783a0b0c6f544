"""Which warm start is better? `sdar sft` variants × seeds, each evaluated on the same held-out tasks.

Every cell (variant, seed) runs `sdar sft SHARED VARIANT --seed S` and then `sdar eval --policy model` on
the model it made, with the evaluation's thinking and history window taken from the run's own `sft.json`,
and its turns saved (`eval_turns.jsonl`, for `invalid_turns.py`). The cells go seed by seed (every
variant of seed 0, then of seed 1, ...), and the pooled numbers cover only the seeds every variant has
finished, so a comparison cut short still compares like with like. Each cell's results are in
OUT/VARIANT/seedS/, and a rerun with the same OUT skips the finished cells (and a finished warm start
whose evaluation did not finish), so a comparison too long for one sitting resumes where it stopped; a
cell records its commands, and a rerun that would change a finished part stops with an error instead of
mixing two commands. Each cell records the commit it ran (`git describe`), and NAME.md names the commits,
so a comparison resumed on other code says so (a cell whose warm start and evaluation ran different code
names both).

Writes benchmarks/results/NAME.json (every cell) and NAME.md (per variant: wins over the pooled seeds
with the 95% Wilson interval, wins per seed, valid actions, invalid turns by where the episode's last
take, put, treat or use was (`invalid_turns.SIGHT`), training minutes), updated
after every cell. The interval treats every episode as independent; the seeds replay the same held-out
tasks, so it says how sure the comparison is on these tasks, not on new ones.

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

from invalid_turns import SIGHT, sight_counts  # the benchmark next to this one
from record import RESULTS, code_version, command, write_results

from sdar.evaluate import wilson_interval


def parse_variant(text: str) -> tuple[str, list[str]]:
    """"NAME=OPTIONS" → (NAME, the options as words)."""
    name, sep, options = text.partition("=")
    if not sep or not name.strip():
        raise SystemExit(f"--variant: expected NAME=OPTIONS (the options may be empty), got {text!r}")
    return name.strip(), shlex.split(options)


def run(cmd: list[str], out: Path, log: Path) -> None:
    """`cmd`'s stdout into `out`, its stderr into `log`; an error naming the log if it fails."""
    with open(out, "w", encoding="utf-8") as stdout, open(log, "w", encoding="utf-8") as stderr:
        code = subprocess.run(cmd, stdout=stdout, stderr=stderr, env={**os.environ, "HF_HUB_OFFLINE": "1"}).returncode
    if code != 0:
        raise SystemExit(f"{' '.join(map(shlex.quote, cmd))} failed with exit code {code}; its output: {log}")


def cell(variant: list[str], seed: int, args, out: Path) -> dict:
    """One warm start and its evaluation, or the finished parts' results when `out` already holds them."""
    options = [*shlex.split(args.shared), *variant, "--seed", str(seed)]
    sft = [sys.executable, "-m", "sdar", "sft", *options, "--out", str(out), "--no-progress"]
    commands = {"sft": options, "eval": {"episodes": args.eval_episodes, "options": args.eval_options}}
    out.mkdir(parents=True, exist_ok=True)
    recorded = out / "command.json"
    before = json.loads(recorded.read_text()) if recorded.exists() else {}
    for part, done in (("sft", "sft.json"), ("eval", "cell.json")):
        if (out / done).exists() and before.get(part) != commands[part]:
            raise SystemExit(f"{out} holds a {part} made by another command, or by none on record ({recorded}); "
                             "use another --out")
    if (out / "cell.json").exists():
        return json.loads((out / "cell.json").read_text())
    recorded.write_text(json.dumps(commands) + "\n")
    if not (out / "sft.json").exists():
        (out / "sft.code").write_text(code_version() + "\n")
        run(sft, out / "sft.out", out / "sft.log")
    sft_code = (out / "sft.code").read_text().strip() if (out / "sft.code").exists() else "not recorded"
    eval_code = code_version()
    record = json.loads((out / "sft.json").read_text())
    o = record["options"]
    evaluate = [sys.executable, "-m", "sdar", "eval", "--env", o["env"], "--policy", "model", "--model",
                str(out / "model"), "--episodes", str(args.eval_episodes), "--history", str(record["history"]),
                "--json", "--no-progress", "--trajectories", str(out / "eval_turns.jsonl"),
                *(["--thinking"] if o["thinking"] else []), *(["--data", o["data"]] if o["data"] else []),
                *shlex.split(args.eval_options)]
    run(evaluate, out / "eval.json", out / "eval.log")
    summary = json.loads((out / "eval.json").read_text().strip().splitlines()[-1])  # --json: one line, last
    turns = [json.loads(line) for line in (out / "eval_turns.jsonl").read_text().splitlines() if line.strip()]
    result = {"seed": seed, "wins": round(summary["success_rate"] * summary["episodes"]),
              "episodes": summary["episodes"], "per_type": summary["per_type"],
              "valid_action_rate": summary["valid_action_rate"], "turns": len(turns),
              "invalid_turns": sum(not t["valid"] for t in turns), "invalid_by_last_change": sight_counts(turns),
              "train_seconds": record["perf/train_seconds"], "trained_turns": record["demos"]["trained_turns"],
              "precision": record["precision"], "sft": sft[3:], "eval": evaluate[3:],
              "code": sft_code if sft_code == eval_code else f"{sft_code} (sft) + {eval_code} (eval)"}
    (out / "cell.json").write_text(json.dumps(result, indent=1) + "\n")
    return result


def table(cells: dict[str, list[dict]], command: str) -> list[str]:
    """The Markdown summary: one row per variant, pooled over the seeds every variant has finished."""
    pooled = set.intersection(*({c["seed"] for c in done} for done in cells.values()))
    code = sorted({c.get("code", "not recorded") for done in cells.values() for c in done})
    mixed = " (the cells ran different code)" if len(code) > 1 else ""
    lines = [f"`{command}`", "", f"Code: {', '.join(code) or '(no cell yet)'}{mixed}.", "",
             f"Pooled over seeds {', '.join(map(str, sorted(pooled))) or '(none yet)'} "
             "(those every variant has finished); each episode counted as independent.", "",
             "| variant | won (95% interval) | per seed | valid actions | invalid turns (last change: "
             + ", ".join(SIGHT) + ") | train min |", "|---|---|---|---|---|---|"]
    for name, done in cells.items():
        used = [c for c in done if c["seed"] in pooled]
        per_seed = ", ".join(f"{c['wins']}/{c['episodes']} (seed {c['seed']})" for c in done) or "—"
        if not used:
            lines.append(f"| {name} | — | {per_seed} | — | — | — |")
            continue
        wins, n = sum(c["wins"] for c in used), sum(c["episodes"] for c in used)
        lo, hi = wilson_interval(wins, n)
        invalid = sum(c["invalid_turns"] for c in used)
        valid = 1 - invalid / max(sum(c["turns"] for c in used), 1)  # over all turns of the pooled seeds
        sight = " / ".join(str(sum(c["invalid_by_last_change"].get(k, 0) for c in used)) for k in SIGHT)
        lines.append(f"| {name} | {wins}/{n} = {wins / n:.2f} ({lo:.2f}–{hi:.2f}) | {per_seed} | {valid:.3f} | "
                     f"{invalid} ({sight}) | "
                     f"{sum(c['train_seconds'] for c in used) / 60 / len(used):.1f} |")
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
    if len(set(args.seeds)) != len(args.seeds):
        raise SystemExit(f"--seeds: each seed once, got {args.seeds}")
    cells: dict[str, list[dict]] = {name: [] for name in variants}
    t0 = time.perf_counter()
    for seed in args.seeds:
        for name, options in variants.items():
            cells[name].append(cell(options, seed, args, Path(args.out) / name.replace(" ", "_") / f"seed{seed}"))
            print(f"{name}, seed {seed}: won {cells[name][-1]['wins']}/{cells[name][-1]['episodes']}, "
                  f"valid {cells[name][-1]['valid_action_rate']:.3f}", flush=True)
            write_results(args.name, {"cells": cells, "seconds_this_sitting": time.perf_counter() - t0},
                          table(cells, command()), folder=Path(args.results))


if __name__ == "__main__":
    main()
