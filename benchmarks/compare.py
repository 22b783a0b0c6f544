"""Does SDAR beat GRPO here? Every method, several seeds, side by side in one run, same budget.

For each seed and each method, train from the same starting model on the same train tasks (the task
sampler is a function of the seed and the step) for the same number of steps, evaluating on held-out
tasks without skills every `--eval-every` steps; `vanilla` is the untrained starting model. Writes
benchmarks/results/compare.json (every curve), compare.md (mean ± std of the final held-out success,
per method) and compare.png (held-out success and the teacher gap over steps, by method: the paper's
Figure 1 analogue).

    python benchmarks/compare.py --model runs/warmstart/model --seeds 0 1 2 --steps 20

With `--jobs N` the runs go to N worker processes at a time (each run is one process either way, so
results do not depend on N); on a 2-core CPU keep N = 1, on a GPU several share the device.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from record import RESULTS, command, write_results  # the module next to this one


def config(algo: str, seed: int, args, out: Path):
    from sdar.config import build_config

    overrides = {"model.path": args.model, "env.name": args.env, "loss.algo": algo, "train.seed": str(seed),
                 "train.steps": str(args.steps), "train.eval_every": str(args.eval_every),
                 "train.eval_episodes": str(args.eval_episodes), "train.out": str(out),
                 "rollout.tasks_per_step": str(args.tasks), "rollout.group_size": str(args.group),
                 "env.max_turns": str(args.max_turns), "optim.lr": str(args.lr)}
    return build_config(args.preset, overrides)


def train_one(algo: str, seed: int, args, out: Path) -> list[dict]:
    from sdar.train.loop import train

    train(config(algo, seed, args, out), progress=False)
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def vanilla(seed: int, args, out: Path) -> float:
    """The starting model, evaluated exactly as the trained runs' final evaluation (same tasks, same
    sampling stream), so the comparison is paired."""
    from sdar.config import env_spec_for
    from sdar.models import autocast_dtype, load_model, pick_device
    from sdar.train.loop import protocol, run_eval

    cfg = config("grpo", seed, args, out)
    spec, device = env_spec_for(cfg), pick_device(cfg.model.device)
    model, tokenizer = load_model(cfg.model.path, device)
    max_turns, history = protocol(cfg, spec)
    result = run_eval(cfg, spec, model, tokenizer, autocast_dtype(cfg.model.precision, device), device,
                      cfg.train.steps, max_turns, history)
    return result["eval/success_rate"]


def one_run(algo: str, seed: int, args, out: Path) -> dict:
    """The final held-out success and the curves of one (method, seed)."""
    if algo == "vanilla":
        return {"final_success": vanilla(seed, args, out), "curves": {}}
    records = train_one(algo, seed, args, out)
    finals = curve(records, "eval/success_rate")
    return {"final_success": finals[-1][1],
            "curves": {k: curve(records, k) for k in ("eval/success_rate", "rollout/success_rate",
                                                      "distill/teacher_gap_mean", "distill/gate_mean")}}


def run_in_process(algo: str, seed: int, args, out: Path) -> dict:
    """One run in a fresh process (`--one`), so runs can share a machine and never share state."""
    out.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, __file__, "--one", algo, str(seed), *args.argv]
    with open(out / "stdout.log", "w") as log:
        done = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        raise RuntimeError(f"{algo} seed {seed} failed (exit {done.returncode}); see {out / 'stdout.log'}")
    return json.loads((out / "result.json").read_text())


def curve(records: list[dict], key: str) -> list[tuple[int, float]]:
    return [(r["step"], r[key]) for r in records if key in r]


def summarize(runs: dict) -> dict:
    table = {}
    for algo, by_seed in runs.items():
        finals = [seed_run["final_success"] for seed_run in by_seed.values()]
        table[algo] = {"mean": statistics.mean(finals), "std": statistics.stdev(finals) if len(finals) > 1 else 0.0,
                       "seeds": finals}
    return table


def plot(runs: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = {"eval/success_rate": "held-out success, no skills", "rollout/success_rate": "rollout success (train)",
              "distill/teacher_gap_mean": "teacher gap Δ", "distill/gate_mean": "gate mean"}
    fig, axes = plt.subplots(2, 2, figsize=(11, 8))
    for (key, title), ax in zip(panels.items(), axes.flat):
        for algo, by_seed in runs.items():
            if algo == "vanilla":
                if key == "eval/success_rate":
                    level = statistics.mean(run["final_success"] for run in by_seed.values())
                    ax.axhline(level, color="grey", linestyle="--", label="vanilla (start)")
                continue
            curves = [dict(run["curves"].get(key, [])) for run in by_seed.values()]
            steps = sorted(set.intersection(*(set(c) for c in curves))) if curves and all(curves) else []
            if steps:
                ax.plot(steps, [statistics.mean(c[s] for c in curves) for s in steps], label=algo, marker="o")
        ax.set(title=f"{title} (mean over seeds)", xlabel="step")
        if ax.lines:
            ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="bundled")
    parser.add_argument("--env", default="household")
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--algos", nargs="+", default=["vanilla", "grpo", "grpo_opsd", "sdar"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--eval-every", type=int, default=5)
    parser.add_argument("--eval-episodes", type=int, default=30)
    parser.add_argument("--tasks", type=int, default=2)
    parser.add_argument("--group", type=int, default=4)
    parser.add_argument("--max-turns", type=int, default=10)
    parser.add_argument("--lr", type=float, default=1e-5)
    parser.add_argument("--out", default=str(RESULTS))
    parser.add_argument("--jobs", type=int, default=1, help="runs at a time, each in its own process")
    parser.add_argument("--one", nargs=2, metavar=("ALGO", "SEED"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.argv = list(sys.argv[1:])
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    out = Path(args.out)
    if args.one:
        algo, seed = args.one[0], int(args.one[1])
        run_dir = out / "runs" / f"{algo}_seed{seed}"
        (run_dir / "result.json").write_text(json.dumps(one_run(algo, seed, args, run_dir)))
        return
    # interleaved (seed-major), so a slow patch of the machine hits every method alike
    pairs = [(algo, seed) for seed in args.seeds for algo in args.algos]
    runs: dict[str, dict] = {}
    started = time.perf_counter()

    def finished(pair, result) -> None:  # results are written as runs finish, so a cut-off run keeps them
        runs.setdefault(pair[0], {})[pair[1]] = result
        write(runs, out, complete=sum(len(v) for v in runs.values()) == len(pairs),
              seconds=time.perf_counter() - started)

    if args.jobs > 1:
        with ThreadPoolExecutor(args.jobs) as pool:
            futures = {pool.submit(run_in_process, a, s, args, out / "runs" / f"{a}_seed{s}"): (a, s) for a, s in pairs}
            for future in as_completed(futures):
                finished(futures[future], future.result())
    else:
        for algo, seed in pairs:
            finished((algo, seed), one_run(algo, seed, args, out / "runs" / f"{algo}_seed{seed}"))


def write(runs: dict, out: Path, *, complete: bool, seconds: float) -> None:
    ordered = {algo: dict(sorted(by_seed.items())) for algo, by_seed in runs.items()}
    table = summarize(ordered)
    record = {"complete": complete, "wall_seconds": round(seconds), "table": table, "runs": ordered}
    lines = [f"`{command()}`", "", f"{seconds / 60:.0f} min" + ("" if complete else " (INCOMPLETE)"), "",
             "| method | held-out success, mean ± std | per seed |", "|---|---|---|"]
    lines += [f"| {a} | {100 * t['mean']:.1f} ± {100 * t['std']:.1f} | "
              f"{', '.join(f'{100 * x:.0f}' for x in t['seeds'])} |" for a, t in table.items()]
    write_results("compare", record, lines, folder=out)
    plot(ordered, out / "compare.png")


if __name__ == "__main__":
    main()
