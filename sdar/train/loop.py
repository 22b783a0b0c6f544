"""The SDAR training loop, top to bottom. One step:

  1. rollout       G episodes on each of `tasks_per_step` train tasks, one batched generation per turn
  2. teacher       the same model, privileged context in its prompt, scores the student's tokens (no grad)
  3. reference     the frozen initial model scores them too, for the KL penalty (no grad)
  4. advantages    each turn sample carries its episode's return (minus its own invalid-action penalty);
                   GRPO normalises over all turn samples of the group
  5. update        one AdamW step over all micro-batches (gradient accumulation), gradient-norm clip
  6. log/eval/save metrics.jsonl, samples.jsonl, held-out evaluation, final model

Deviations from textbook GRPO, all as in the reference unless noted:
- a "sample" is one turn, not one episode; the advantage is normalised over every turn of the group;
- one PPO epoch with one optimizer step per batch, so θ_old is the current policy and old log-probs
  are the live ones detached (ours: this saves a forward pass; the reference recomputes them);
- the teacher is "live": the current weights, scored before the update.
"""

from __future__ import annotations

import copy
import json
import random
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm

from sdar.config import RunConfig, to_json
from sdar.envs import get_env_spec
from sdar.evaluate import evaluate
from sdar.losses import group_advantages
from sdar.models import autocast_dtype, load_model, pick_device
from sdar.rollout.collect import ModelAgent, run_episodes
from sdar.skills import get_provider
from sdar.teacher import teacher_prompt_ids
from sdar.train.batch import Sample, build_micro_batch, plan_micro_batches, samples_from
from sdar.train.records import rollout_metrics, sample_records
from sdar.train.step import score_reference, score_teacher, update


def step_tasks(spec, seed: int, step: int, count: int):
    """The train tasks of a step: a pure function of (seed, step), so a resumed run draws the same ones."""
    rng = random.Random(f"{seed}/{step}")
    return [spec.make_task(spec.task_seed("train", rng.randrange(spec.eval_seed_offset))) for _ in range(count)]


def protocol(cfg: RunConfig, spec) -> tuple[int, int]:
    """(max_turns, history) after applying the run's overrides to the environment's own protocol."""
    max_turns = cfg.env.max_turns or spec.max_turns
    history = spec.history if cfg.env.history < 0 else cfg.env.history
    return max_turns, history


def train(cfg: RunConfig, *, progress: bool = True) -> Path:
    """Run the whole training job; returns the run directory."""
    out = Path(cfg.train.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(to_json(cfg))
    spec = get_env_spec(cfg.env.name)
    max_turns, history = protocol(cfg, spec)
    torch.manual_seed(cfg.train.seed)
    device = pick_device(cfg.model.device)
    amp = autocast_dtype(cfg.model.precision, device)
    model, tokenizer = load_model(cfg.model.path, device)
    ref_model = None
    if cfg.loss.kl_coef > 0 and cfg.loss.kl_estimator != "none":
        ref_model = copy.deepcopy(model).eval().requires_grad_(False)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.optim.lr, weight_decay=cfg.optim.weight_decay)
    context = get_provider(cfg.teacher.context)
    generator = torch.Generator(device).manual_seed(cfg.train.seed)
    agent = ModelAgent(model, tokenizer, temperature=cfg.rollout.temperature,
                       max_new_tokens=cfg.rollout.max_new_tokens, generator=generator, amp_dtype=amp)
    G = cfg.rollout.group_size
    metrics_file = (out / "metrics.jsonl").open("w")
    samples_file = (out / "samples.jsonl").open("w")
    bar = tqdm(range(1, cfg.train.steps + 1), desc="sdar train", disable=not progress, unit="step")
    for step in bar:
        t_start = time.perf_counter()
        timings: dict[str, float] = {}

        # 1. rollout
        tasks = step_tasks(spec, cfg.train.seed, step, cfg.rollout.tasks_per_step)
        model.eval()
        trajectories = run_episodes(agent, [t for t in tasks for _ in range(G)],
                                    [g for g in range(len(tasks)) for _ in range(G)], spec,
                                    max_turns=max_turns, history=history, thinking=cfg.rollout.thinking,
                                    max_prompt_tokens=cfg.rollout.max_prompt_tokens)
        samples = samples_from(trajectories)
        timings["perf/rollout_seconds"] = time.perf_counter() - t_start

        # 2. teacher scoring (privileged context inside the chat template, its own budget)
        t0 = time.perf_counter()
        if cfg.loss.algo == "sdar":
            add_teacher_prompts(samples, tokenizer, context, cfg.teacher.context_tokens)
        mbs = [build_micro_batch(samples, rows, tokenizer.pad_token_id, device)
               for rows in plan_micro_batches(samples, cfg.optim.micro_batch_tokens)]
        if cfg.loss.algo == "sdar":
            score_teacher(model, mbs, amp_dtype=amp)
        timings["perf/teacher_seconds"] = time.perf_counter() - t0

        # 3. reference log-probs
        t0 = time.perf_counter()
        if ref_model is not None:
            score_reference(ref_model, mbs, amp_dtype=amp)
        timings["perf/reference_seconds"] = time.perf_counter() - t0

        # 4. advantages: group-normalised over every turn sample of a group
        rewards = torch.tensor([s.reward for s in samples])  # (N,)
        group_ids = torch.tensor([s.group_id for s in samples])  # (N,)
        advantages = group_advantages(rewards, group_ids)  # (N,)
        for mb in mbs:
            mb.advantages = advantages[mb.rows].to(device)

        # 5. update
        t0 = time.perf_counter()
        model.train()
        update_metrics, per_row = update(model, optimizer, mbs, cfg.loss, grad_clip=cfg.optim.grad_clip,
                                         amp_dtype=amp)
        timings["perf/update_seconds"] = time.perf_counter() - t0

        # 6. log / eval / save
        record = {"step": step, **rollout_metrics(trajectories, samples), **update_metrics, **timings}
        record["perf/step_seconds"] = time.perf_counter() - t_start
        if should_eval(cfg, step):
            record.update(run_eval(cfg, spec, model, tokenizer, amp, device, step, max_turns, history))
        metrics_file.write(json.dumps(record) + "\n")
        metrics_file.flush()
        for line in sample_records(step, trajectories, samples, advantages, per_row, tokenizer,
                                   cfg.train.sample_trajectories):
            samples_file.write(json.dumps(line) + "\n")
        samples_file.flush()
        bar.set_postfix(success=f"{record['rollout/success_rate']:.2f}",
                        gate=f"{record.get('distill/gate_mean', float('nan')):.2f}",
                        sec=f"{record['perf/step_seconds']:.0f}")
    metrics_file.close()
    samples_file.close()
    model.save_pretrained(out / "final", safe_serialization=True)
    tokenizer.save_pretrained(out / "final")
    return out


def add_teacher_prompts(samples: list[Sample], tokenizer, context, budget: int) -> None:
    texts: dict[int, str] = {}
    for s in samples:
        key = id(s.task)
        if key not in texts:
            texts[key] = context(s.task)
        s.teacher_prompt_ids = teacher_prompt_ids(tokenizer, s.user_message, texts[key], budget=budget)


def should_eval(cfg: RunConfig, step: int) -> bool:
    every = cfg.train.eval_every
    return step == cfg.train.steps or (every > 0 and step % every == 0)


def run_eval(cfg, spec, model, tokenizer, amp, device, step, max_turns, history) -> dict[str, float]:
    """Held-out evaluation without skills, at the eval temperature, with its own random stream."""
    generator = torch.Generator(device).manual_seed(cfg.train.seed * 100_003 + step)
    agent = ModelAgent(model, tokenizer, temperature=cfg.train.eval_temperature,
                       max_new_tokens=cfg.rollout.max_new_tokens, generator=generator, amp_dtype=amp)
    model.eval()
    summary, _ = evaluate(agent, spec, episodes=cfg.train.eval_episodes, max_turns=max_turns,
                          history=history, thinking=cfg.rollout.thinking)
    out = {"eval/success_rate": summary["success_rate"], "eval/valid_action_rate": summary["valid_action_rate"]}
    out.update({f"eval/per_type/{k}": v for k, v in summary["per_type"].items() if v is not None})
    return out
