"""What a training step costs, phase by phase, on the bundled model (or any --model).

Measured in one process, side by side:
1. step breakdown for GRPO and SDAR on the same tasks and seed, runs interleaved (grpo, sdar, grpo, ...):
   generation, environment stepping (rollout minus generation), teacher scoring, reference scoring,
   update; tokens per second for each (turn-sample tokens: prompt + response; for generation the tokens
   written, responses only); SDAR's step time over
   GRPO's (goal <= 1.25x). A third arm, SDAR with `--teacher.share_prefix false` (each teacher row
   scored whole, as the reference does), shows what scoring the rows' shared prefix once saves;
2. prompt growth with episode length: prompt tokens and the time of one batched generation at turn 5
   and turn 40 of household episodes with the history window on (goal <= 1.2x);
3. peak memory (max RSS) of one training step at batch 4 x 512 tokens, in a fresh process (goal <= 8 GB):
   the policy's forward, backward and AdamW step, without the frozen reference copy a run also holds.

Writes benchmarks/results/throughput.json and throughput.md.
    python benchmarks/throughput.py --steps 2 --repeats 2
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from record import command, write_results  # the module next to this one

PHASES = ["generate", "env", "teacher", "reference", "update"]
ARMS = {"grpo": ("grpo", {}), "sdar": ("sdar", {}), "sdar_whole_teacher": ("sdar", {"teacher.share_prefix": "false"})}


def run_algo(arm: str, model: str, steps: int, out: Path, args) -> list[dict]:
    from sdar.config import build_config
    from sdar.train.loop import train

    algo, extra = ARMS[arm]
    overrides = {**extra, "loss.algo": algo, "model.path": model, "train.steps": str(steps), "train.out": str(out),
                 "train.eval_every": "0", "train.eval_episodes": "1", "rollout.tasks_per_step": str(args.tasks),
                 "rollout.group_size": str(args.group), "env.max_turns": str(args.turns)}
    train(build_config("cpu", overrides), progress=False)
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def phase_seconds(record: dict) -> dict[str, float]:
    return {"generate": record["perf/generate_seconds"],
            "env": record["perf/rollout_seconds"] - record["perf/generate_seconds"],
            "teacher": record["perf/teacher_seconds"], "reference": record["perf/reference_seconds"],
            "update": record["perf/update_seconds"], "step": record["perf/step_seconds"]}


def step_breakdown(args) -> dict:
    per_arm: dict[str, list[dict]] = {arm: [] for arm in ARMS}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            for arm in per_arm:
                # step 1 includes one-off warm-up (allocator, kernels): keep the later steps
                per_arm[arm] += run_algo(arm, args.model, args.steps + 1, Path(tmp) / f"{arm}{r}", args)[1:]
    out = {}
    for arm, records in per_arm.items():
        phases = {k: statistics.mean(phase_seconds(r)[k] for r in records) for k in PHASES + ["step"]}
        gen_tokens = statistics.mean(r["perf/generated_tokens"] for r in records)
        scored = statistics.mean(r["perf/scored_tokens"] for r in records)
        out[arm] = {"seconds": phases, "steps_measured": len(records),
                    "tokens_per_second": {"generate": gen_tokens / phases["generate"],
                                          "teacher": scored / phases["teacher"] if phases["teacher"] else None,
                                          "reference": scored / phases["reference"],
                                          "update": scored / phases["update"]},
                    "generated_tokens": gen_tokens, "scored_tokens": scored}
    out["sdar_over_grpo"] = out["sdar"]["seconds"]["step"] / out["grpo"]["seconds"]["step"]
    out["sdar_whole_teacher_over_grpo"] = out["sdar_whole_teacher"]["seconds"]["step"] / out["grpo"]["seconds"]["step"]
    out["sdar_over_grpo_without_rollout"] = (
        sum(out["sdar"]["seconds"][k] for k in ("teacher", "reference", "update"))
        / sum(out["grpo"]["seconds"][k] for k in ("teacher", "reference", "update")))
    return out


def prompt_growth(args) -> dict:
    import torch

    from sdar.envs import get_env_spec
    from sdar.models import load_model
    from sdar.rollout.collect import RandomAgent, encode_chat, run_episodes
    from sdar.rollout.prompts import student_messages
    from sdar.rollout.sampler import sample

    spec = get_env_spec("household")
    model, tokenizer = load_model(args.model)
    tasks = [spec.make_task(spec.task_seed("eval", i)) for i in range(8)]
    # random play lasts the whole 40 turns; its prompts are what a model's would be
    trajs = run_episodes(RandomAgent(0), tasks, list(range(8)), spec, max_turns=40, history=spec.history,
                         thinking=False)
    out = {}
    for turn in (5, 40):
        prompts = [encode_chat(tokenizer, student_messages(t.turns[turn - 1].prompt)) for t in trajs
                   if len(t.turns) >= turn]
        sample(model, tokenizer, prompts[:2], max_new_tokens=2, temperature=1.0)  # warm-up
        times = []
        for _ in range(3):
            start = time.perf_counter()
            sample(model, tokenizer, prompts, max_new_tokens=16, temperature=1.0,
                   generator=torch.Generator().manual_seed(0))
            times.append(time.perf_counter() - start)
        out[f"turn_{turn}"] = {"episodes": len(prompts), "prompt_tokens_mean": statistics.mean(map(len, prompts)),
                               "generate_seconds_median": statistics.median(times)}
    out["turn40_over_turn5"] = out["turn_40"]["generate_seconds_median"] / out["turn_5"]["generate_seconds_median"]
    return out


PEAK_SCRIPT = """
import resource, sys, torch
from sdar.models import load_model
from sdar.scoring import response_logprobs
model, _ = load_model(sys.argv[1])
opt = torch.optim.AdamW(model.parameters(), lr=1e-6)
ids = torch.randint(0, model.config.vocab_size, (4, 512)); mask = torch.ones_like(ids)
for _ in range(2):
    lp, ent = response_logprobs(model, ids, mask, 64, with_entropy=True)
    (-(lp.mean()) - 0.001 * ent.mean()).backward(); opt.step(); opt.zero_grad()
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def peak_memory(args) -> dict:
    done = subprocess.run([sys.executable, "-c", PEAK_SCRIPT, args.model], capture_output=True, text=True,
                          check=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    kib = int(done.stdout.strip().splitlines()[-1])
    return {"batch": "4 x 512 tokens, logits of the last 64 positions", "max_rss_gib": kib / 2**20}


def markdown(results: dict) -> str:
    b = results["step_breakdown"]
    lines = ["| phase | GRPO s | SDAR s | SDAR tokens/s | SDAR, teacher rows whole s |", "|---|---|---|---|---|"]
    for phase in PHASES + ["step"]:
        tps = b["sdar"]["tokens_per_second"].get(phase)
        lines.append(f"| {phase} | {b['grpo']['seconds'][phase]:.1f} | {b['sdar']['seconds'][phase]:.1f} | "
                     f"{'' if tps is None else f'{tps:.0f}'} | {b['sdar_whole_teacher']['seconds'][phase]:.1f} |")
    g = results["prompt_growth"]
    lines += ["", f"SDAR / GRPO step time: **{b['sdar_over_grpo']:.2f}x** (goal <= 1.25x); "
              f"scoring + update only: {b['sdar_over_grpo_without_rollout']:.2f}x; teacher rows whole: "
              f"{b['sdar_whole_teacher_over_grpo']:.2f}x",
              f"Generation time at turn 40 / turn 5: **{g['turn40_over_turn5']:.2f}x** (goal <= 1.2x); prompt "
              f"tokens {g['turn_5']['prompt_tokens_mean']:.0f} -> {g['turn_40']['prompt_tokens_mean']:.0f}",
              f"Peak memory of a training step ({results['peak_memory']['batch']}): "
              f"**{results['peak_memory']['max_rss_gib']:.2f} GiB** (goal <= 8 GB)"]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="bundled")
    parser.add_argument("--steps", type=int, default=2, help="measured steps per run (after one warm-up step)")
    parser.add_argument("--repeats", type=int, default=2, help="interleaved runs per arm")
    parser.add_argument("--tasks", type=int, default=2)
    parser.add_argument("--group", type=int, default=4)
    parser.add_argument("--turns", type=int, default=4)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    results = {"step_breakdown": step_breakdown(args), "prompt_growth": prompt_growth(args),
               "peak_memory": peak_memory(args)}
    write_results("throughput", results, [f"`{command()}`", "", markdown(results)])


if __name__ == "__main__":
    main()
