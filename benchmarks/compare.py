"""Does SDAR beat GRPO here? Every method, several seeds, side by side in one run, same budget.

For each seed and each method, train from the same starting model on the same train tasks (the task
sampler is a function of the seed and the step) for the same number of steps, evaluating on held-out
tasks without skills every `--eval-every` steps; `vanilla` is the untrained starting model. Writes
benchmarks/results/compare.json (every curve), compare.md (mean ± std of the final held-out success,
per method) and compare.png (held-out success and the teacher gap over steps, by method: the paper's
Figure 1 analogue).

    python benchmarks/compare.py --model runs/warmstart/model --seeds 0 1 2 --steps 20
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def train_one(algo: str, seed: int, args, out: Path) -> list[dict]:
    from sdar.config import build_config
    from sdar.train.loop import train

    overrides = {"model.path": args.model, "env.name": args.env, "loss.algo": algo, "train.seed": str(seed),
                 "train.steps": str(args.steps), "train.eval_every": str(args.eval_every),
                 "train.eval_episodes": str(args.eval_episodes), "train.out": str(out),
                 "rollout.tasks_per_step": str(args.tasks), "rollout.group_size": str(args.group),
                 "env.max_turns": str(args.max_turns), "optim.lr": str(args.lr)}
    train(build_config(args.preset, overrides), progress=False)
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def vanilla(seed: int, args) -> float:
    import torch

    from sdar.envs import get_env_spec
    from sdar.evaluate import evaluate
    from sdar.models import load_model
    from sdar.rollout.collect import ModelAgent

    spec = get_env_spec(args.env)
    model, tokenizer = load_model(args.model)
    agent = ModelAgent(model, tokenizer, temperature=0.4, max_new_tokens=32,
                       generator=torch.Generator().manual_seed(seed))
    summary, _ = evaluate(agent, spec, episodes=args.eval_episodes, max_turns=args.max_turns, history=spec.history,
                          thinking=False)
    return summary["success_rate"]


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

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for algo, by_seed in runs.items():
        for key, ax in (("eval/success_rate", axes[0]), ("distill/teacher_gap_mean", axes[1])):
            curves = [dict(run["curves"].get(key, [])) for run in by_seed.values()]
            steps = sorted(set.intersection(*(set(c) for c in curves))) if curves and all(curves) else []
            if steps:
                ax.plot(steps, [statistics.mean(c[s] for c in curves) for s in steps], label=algo, marker="o")
    axes[0].set(title="held-out success (mean over seeds)", xlabel="step")
    axes[1].set(title="teacher gap Δ (mean over seeds)", xlabel="step")
    for ax in axes:
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
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    out = Path(args.out)
    runs: dict[str, dict] = {}
    for seed in args.seeds:
        for algo in args.algos:  # interleaved, so a slow patch of the machine hits every method alike
            if algo == "vanilla":
                runs.setdefault(algo, {})[seed] = {"final_success": vanilla(seed, args), "curves": {}}
                continue
            records = train_one(algo, seed, args, out / "runs" / f"{algo}_seed{seed}")
            finals = curve(records, "eval/success_rate")
            runs.setdefault(algo, {})[seed] = {
                "final_success": finals[-1][1],
                "curves": {k: curve(records, k) for k in ("eval/success_rate", "rollout/success_rate",
                                                          "distill/teacher_gap_mean", "distill/gate_mean")}}
    table = summarize(runs)
    command = " ".join(["python", "benchmarks/compare.py"] + sys.argv[1:])
    out.mkdir(parents=True, exist_ok=True)
    (out / "compare.json").write_text(json.dumps({"command": command, "table": table, "runs": runs}, indent=2))
    lines = [f"`{command}`", "", "| method | held-out success, mean ± std | per seed |", "|---|---|---|"]
    lines += [f"| {a} | {100 * t['mean']:.1f} ± {100 * t['std']:.1f} | "
              f"{', '.join(f'{100 * x:.0f}' for x in t['seeds'])} |" for a, t in table.items()]
    (out / "compare.md").write_text("\n".join(lines) + "\n")
    plot(runs, out / "compare.png")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
