"""Our GRPO step time against TRL's GRPOTrainer: same model, prompts, group size and generated tokens.

Measured in one process, side by side: `sdar.train.loop.train` (`--loss.algo grpo`) and TRL's
`GRPOTrainer.train()` take turns (sdar, trl, then trl, sdar, ...), each run `--steps` + 1 training steps
with the first discarded (one-off warm-up: allocator, kernels, the retrieval index). The task is
single-turn: search_qa with one turn (the question in, `<answer>...</answer>` out), scored by the same
environment on both sides (TRL gets it as a reward function). Goal: our step time / TRL's <= 1.0.

Matched: the model and tokenizer (`sdar.models.load_model`, fp32 on the CPU); the prompts of every step
(sdar's own `step_tasks`, rendered by sdar and checked token for token against TRL's chat-template
tokenisation; TRL reads them in order, unshuffled); tasks x G completions per step; sampling at
temperature 1 with no top-k/top-p; exactly `--max-new-tokens` tokens per completion on both sides (EOS
and stop strings do not end a response: TRL gets `min_new_tokens`, our sampler's EOS and stop checks are
switched off for the run); one optimizer step per training step over the whole batch in one
micro-batch, no old-log-prob pass (one PPO epoch); AdamW (torch, lr, weight decay 0.01, constant
schedule), gradient-norm clip 1.0; the objective: clipped policy gradient (eps 0.2, no dual clip),
group-normalised advantages, k3 KL to a frozen reference model at `--beta` (TRL `beta`, our
`loss.kl_coef`), entropy bonus `--entropy-coef`, token-mean aggregation (TRL `loss_type="dapo"`).
Not matched: TRL exempts biases and norm weights from weight decay; each side keeps its own generation
loop (ours: `sdar.rollout.sampler`; TRL: `model.generate`) and scoring code - that is what is measured.
Step time: ours `perf/step_seconds` (rollout to optimizer step, without eval and checkpoint writing);
TRL's from `on_step_begin` to `on_step_end` (generation to optimizer step, without logging).

Writes benchmarks/results/trl_compare.json and trl_compare.md. Needs `pip install -e '.[bench]'`.
    python benchmarks/trl_compare.py --steps 2 --repeats 2
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import platform
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from unittest import mock

from record import command, write_results  # the module next to this one


# ----- the shared task: prompts of every step and the reward ---------------------------------------------------

def step_prompts(args) -> list[dict]:
    """One row per task, in step order (steps 1 .. steps + 1): the chat messages sdar's rollout shows at
    turn 0, and the task seed for the reward."""
    from sdar.config import env_spec_for
    from sdar.rollout.prompts import get_format, student_messages
    from sdar.train.loop import step_tasks

    spec = env_spec_for(sdar_config(args, steps=1, out="unused"))
    fmt = get_format(spec.prompt_format)
    rows = []
    for step in range(1, args.steps + 2):
        for task in step_tasks(spec, args.seed, step, args.tasks):
            obs = spec.make_env(task).reset()
            message = fmt.render(task.goal, 0, [], obs.text, obs.admissible_actions, thinking=False)
            rows.append({"prompt": student_messages(message), "task_seed": task.seed})
    return rows


def check_prompt_tokens(rows: list[dict], tokenizer) -> None:
    """TRL tokenises conversational prompts with `apply_chat_template`; ours renders then tokenises. Raise
    unless both give the same ids, so the two sides prefill the same tokens."""
    from sdar.rollout.collect import encode_chat

    for row in rows:
        ours = encode_chat(tokenizer, row["prompt"])
        theirs = tokenizer.apply_chat_template(row["prompt"], add_generation_prompt=True, tokenize=True,
                                               return_dict=True)["input_ids"]
        if list(theirs) != ours:
            raise RuntimeError(f"prompt of task {row['task_seed']} tokenises differently for TRL "
                               f"({len(theirs)} ids) and sdar ({len(ours)} ids)")


def make_reward(args):
    """TRL reward function: the environment's own reward for a one-turn episode, as sdar's rollout gives
    it (success reward if won, minus the invalid-action penalty if the text names no action)."""
    from sdar.config import env_spec_for
    from sdar.rollout.prompts import get_format

    spec = env_spec_for(sdar_config(args, steps=1, out="unused"))
    fmt = get_format(spec.prompt_format)

    def env_reward(prompts, completions, task_seed, **_) -> list[float]:
        out = []
        for completion, seed in zip(completions, task_seed):
            text = completion[0]["content"] if isinstance(completion, list) else completion
            env = spec.make_env(spec.make_task(seed))
            obs = env.reset()
            action = fmt.parse(text, obs.admissible_actions, thinking=False)
            won = action is not None and env.step(action).won
            out.append((spec.success_reward if won else 0.0) - (spec.invalid_penalty if action is None else 0.0))
        return out

    return env_reward


# ----- sdar ------------------------------------------------------------------------------------------------------

def sdar_config(args, *, steps: int, out: str):
    from sdar.config import build_config

    overrides = {
        "loss.algo": "grpo", "model.path": args.model, "model.precision": "fp32", "model.device": "cpu",
        "env.name": args.env, "env.max_turns": 1,
        "rollout.tasks_per_step": args.tasks, "rollout.group_size": args.group, "rollout.temperature": 1.0,
        "rollout.max_new_tokens": args.max_new_tokens, "rollout.thinking": False,
        "optim.lr": args.lr, "optim.weight_decay": 0.01, "optim.grad_clip": 1.0,
        "optim.micro_batch_tokens": 1 << 20,  # the whole step in one micro-batch, as TRL's batch below
        "loss.kl_coef": args.beta, "loss.kl_estimator": "k3", "loss.entropy_coef": args.entropy_coef,
        "loss.clip_low": 0.2, "loss.clip_high": 0.2, "loss.dual_clip": 0.0, "loss.agg": "token-mean",
        "train.steps": steps, "train.seed": args.seed, "train.out": out, "train.eval_every": 0,
        "train.eval_episodes": 1, "train.sample_trajectories": 0,
    }
    return build_config(None, overrides)


@contextlib.contextmanager
def full_length_sampling():
    """Our sampler with EOS and stop strings ignored: every response is exactly max_new_tokens long."""
    with mock.patch("sdar.rollout.sampler._eos_ids", lambda model, tokenizer: set()), \
            mock.patch("sdar.rollout.sampler._ends_with_stop", lambda tokenizer, response, stops: False):
        yield


def run_sdar(args, out: Path) -> list[dict]:
    """Per-step timings of one `sdar train` run, warm-up step dropped."""
    from sdar.train.loop import train

    with full_length_sampling():
        train(sdar_config(args, steps=args.steps + 1, out=str(out)), progress=False)
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return [{"step_seconds": r["perf/step_seconds"], "generate_seconds": r["perf/generate_seconds"],
             "generated_tokens": r["perf/generated_tokens"],
             "prompt_tokens": r["perf/scored_tokens"] - r["perf/generated_tokens"]} for r in records[1:]]


# ----- TRL -------------------------------------------------------------------------------------------------------

def trl_config(args, out: Path):
    from trl import GRPOConfig

    return GRPOConfig(
        output_dir=str(out), max_steps=args.steps + 1, seed=args.seed, use_cpu=True, bf16=False, fp16=False,
        per_device_train_batch_size=args.tasks * args.group, gradient_accumulation_steps=1,
        num_generations=args.group, shuffle_dataset=False, num_iterations=1,
        max_completion_length=args.max_new_tokens, generation_kwargs={"min_new_tokens": args.max_new_tokens},
        temperature=1.0, top_p=1.0, top_k=0, use_vllm=False,
        learning_rate=args.lr, lr_scheduler_type="constant", warmup_steps=0, optim="adamw_torch",
        weight_decay=0.01, max_grad_norm=1.0, gradient_checkpointing=False,
        beta=args.beta, epsilon=0.2, loss_type="dapo", scale_rewards="group", entropy_coef=args.entropy_coef,
        report_to="none", save_strategy="no", logging_steps=args.steps + 1, disable_tqdm=True,
        dataloader_num_workers=0, log_completions=False,
    )


def run_trl(args, rows: list[dict], reward, out: Path) -> list[dict]:
    """Per-step timings of one GRPOTrainer run, warm-up step dropped."""
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import GRPOTrainer

    from sdar.models import load_model

    class StepTimer(TrainerCallback):
        def __init__(self):
            self.seconds: list[float] = []

        def on_step_begin(self, *_, **__):
            self.start = time.perf_counter()

        def on_step_end(self, *_, **__):
            self.seconds.append(time.perf_counter() - self.start)

    model, tokenizer = load_model(args.model)
    timer = StepTimer()
    trainer = GRPOTrainer(model=model, reward_funcs=reward, args=trl_config(args, out),
                          train_dataset=Dataset.from_list(rows), processing_class=tokenizer, callbacks=[timer])
    generations: list[dict] = []
    generate = trainer._generate_single_turn  # one call per step here: timed, tokens counted

    def timed_generate(prompt_ids, *rest, **kwargs):
        start = time.perf_counter()
        completion_ids, logprobs = generate(prompt_ids, *rest, **kwargs)
        generations.append({"generate_seconds": time.perf_counter() - start,
                            "generated_tokens": float(sum(map(len, completion_ids))),
                            "prompt_tokens": float(sum(map(len, prompt_ids)))})
        return completion_ids, logprobs

    trainer._generate_single_turn = timed_generate
    trainer.train()
    if len(timer.seconds) != len(generations):
        raise RuntimeError(f"TRL ran {len(timer.seconds)} steps but generated {len(generations)} times")
    return [{"step_seconds": s, **g} for s, g in zip(timer.seconds, generations)][1:]


# ----- the comparison --------------------------------------------------------------------------------------------

def measure(args) -> dict[str, list[dict]]:
    """Interleaved runs, alternating which side goes first; every step's timings per side."""
    from sdar.models import load_tokenizer

    rows = step_prompts(args)
    check_prompt_tokens(rows, load_tokenizer(args.model))
    reward = make_reward(args)
    steps: dict[str, list[dict]] = {"sdar": [], "trl": []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            for side in (("sdar", "trl") if r % 2 == 0 else ("trl", "sdar")):
                out = Path(tmp) / f"{side}{r}"
                steps[side] += run_sdar(args, out) if side == "sdar" else run_trl(args, rows, reward, out)
                shutil.rmtree(out, ignore_errors=True)  # our run saves a checkpoint: 2 GB with the bundled model
                gc.collect()
    expected = args.tasks * args.group * args.max_new_tokens
    for side, records in steps.items():
        counts = {r["generated_tokens"] for r in records}
        if counts != {expected}:
            raise RuntimeError(f"{side} generated {sorted(counts)} tokens per step, expected {expected}")
    return steps


def summarise(records: list[dict]) -> dict:
    mean = {k: statistics.mean(r[k] for r in records) for k in records[0]}
    seconds = [r["step_seconds"] for r in records]
    return {"steps_measured": len(records), "step_seconds": seconds, "step_seconds_mean": mean["step_seconds"],
            "step_seconds_median": statistics.median(seconds),
            "generate_seconds_mean": mean["generate_seconds"],
            "rest_seconds_mean": mean["step_seconds"] - mean["generate_seconds"],
            "generated_tokens_per_step": mean["generated_tokens"], "prompt_tokens_per_step": mean["prompt_tokens"],
            "generated_tokens_per_second": mean["generated_tokens"] / mean["step_seconds"]}


def versions() -> dict[str, str]:
    from importlib.metadata import version

    return {name: version(name) for name in ("sdar", "torch", "transformers", "trl", "accelerate", "datasets")} | {
        "python": platform.python_version()}


def markdown(results: dict) -> str:
    s, t = results["sdar"], results["trl"]
    rows = [("step seconds (mean)", "step_seconds_mean", ".2f"),
            ("step seconds (median)", "step_seconds_median", ".2f"),
            ("generation seconds", "generate_seconds_mean", ".2f"),
            ("rest of the step seconds", "rest_seconds_mean", ".2f"),
            ("generated tokens per step", "generated_tokens_per_step", ".0f"),
            ("prompt tokens per step", "prompt_tokens_per_step", ".0f"),
            ("generated tokens per second of step", "generated_tokens_per_second", ".1f"),
            ("steps measured", "steps_measured", "d")]
    lines = ["| | sdar (GRPO) | TRL GRPOTrainer |", "|---|---|---|"]
    lines += [f"| {label} | {s[key]:{fmt}} | {t[key]:{fmt}} |" for label, key, fmt in rows]
    v = results["versions"]
    ratio = (f"Our step time / TRL's: **{results['sdar_over_trl']:.2f}x** (goal <= 1.0); without generation: "
             f"{results['sdar_over_trl_without_generation']:.2f}x")
    lines += ["", ratio, "",
              f"Settings: {results['settings']}", "",
              "Versions: " + ", ".join(f"{k} {v[k]}" for k in v)]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="bundled", help="'bundled', 'tiny' or a local HF model directory")
    parser.add_argument("--env", default="search_qa", help="environment, played for one turn")
    parser.add_argument("--steps", type=int, default=2, help="measured steps per run (after one warm-up step)")
    parser.add_argument("--repeats", type=int, default=2, help="interleaved runs per side")
    parser.add_argument("--tasks", type=int, default=2, help="prompts per step")
    parser.add_argument("--group", type=int, default=4, help="completions per prompt, G")
    parser.add_argument("--max-new-tokens", type=int, default=32, help="tokens generated per completion")
    parser.add_argument("--lr", type=float, default=1e-5)
    parser.add_argument("--beta", type=float, default=0.01, help="KL coefficient (0: no reference model)")
    parser.add_argument("--entropy-coef", type=float, default=0.001)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
        os.environ.setdefault(name, "1")
    steps = measure(args)
    results = {"settings": f"model {args.model}, env {args.env} (1 turn), {args.tasks} prompts x G={args.group}, "
                           f"{args.max_new_tokens} new tokens each, fp32 CPU, lr {args.lr}, beta {args.beta}, "
                           f"entropy {args.entropy_coef}, {args.repeats} interleaved runs x {args.steps} steps",
               "versions": versions(), "sdar": summarise(steps["sdar"]), "trl": summarise(steps["trl"]),
               "per_step": steps}
    results["sdar_over_trl"] = results["sdar"]["step_seconds_mean"] / results["trl"]["step_seconds_mean"]
    results["sdar_over_trl_without_generation"] = (results["sdar"]["rest_seconds_mean"]
                                                   / results["trl"]["rest_seconds_mean"])
    write_results("trl_compare", results, [f"`{command()}`", "", markdown(results)])


if __name__ == "__main__":
    main()
