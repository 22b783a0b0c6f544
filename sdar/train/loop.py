"""The SDAR training loop, top to bottom. One step:

  1. rollout       G episodes on each of `tasks_per_step` train tasks, one batched generation per turn
  2. teacher       the teacher model, privileged context in its prompt, scores the student's tokens (no grad)
  3. reference     the frozen initial model scores them too, for the KL penalty (no grad)
  4. advantages    each turn sample carries its episode's return (minus its own invalid-action penalty);
                   GRPO normalises over all turn samples of the group
  5. update        one AdamW step over all micro-batches (gradient accumulation), gradient-norm clip
  6. log/eval/save metrics.jsonl, samples.jsonl, held-out evaluation, final model

Every algorithm of the paper runs through these same phases; `sdar.algos` says which terms are on.
Deviations from textbook GRPO, all as in the reference unless noted:
- a "sample" is one turn, not one episode; the advantage is normalised over every turn of the group;
- one PPO epoch with one optimizer step per batch, so θ_old is the current policy and old log-probs
  are the live ones detached (ours: this saves a forward pass; the reference recomputes them);
- the teacher is "live" by default: the current weights, scored before the update.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import random
import time
from pathlib import Path

import safetensors.torch
import torch
from tqdm.auto import tqdm

from sdar.algos import get_algo
from sdar.config import ConfigError, RunConfig, env_spec_for, to_json
from sdar.envs.workers import WorkerPool, in_workers
from sdar.evaluate import evaluate
from sdar.losses import get_advantage_estimator, rlsd_lambda
from sdar.models import apply_lora, autocast_dtype, load_adapter, load_model, pick_device, resolve_model_path
from sdar.rollout.collect import ModelAgent, run_episodes
from sdar.rollout.prompts import get_format
from sdar.skills import get_provider
from sdar.teacher import privileged_renderer, teacher_prompt_ids
from sdar.train.batch import Sample, build_micro_batch, check_loss_mask, plan_micro_batches, samples_from
from sdar.train.checkpoint import (CheckpointError, Resumed, load_latest, save_checkpoint, start_afresh,
                                  truncate_jsonl)
from sdar.train.distributed import Dist
from sdar.train.records import RunFiles, rollout_metrics, sample_records, split_token_stats
from sdar.train.step import StepScalars, score_reference, score_teacher, update
from sdar.types import Trajectory


def step_tasks(spec, seed: int, step: int, count: int):
    """The train tasks of a step: a pure function of (seed, step), so a resumed run draws the same ones."""
    rng = random.Random(f"{seed}/{step}")
    return [spec.make_task(spec.task_seed("train", rng.randrange(spec.eval_seed_offset))) for _ in range(count)]


def protocol(cfg: RunConfig, spec) -> tuple[int, int]:
    """(max_turns, history) after applying the run's overrides to the environment's own protocol."""
    max_turns = cfg.env.max_turns or spec.max_turns
    history = spec.history if cfg.env.history < 0 else cfg.env.history
    return max_turns, history


def ramp(value: float, warmup_steps: int, step: int) -> float:
    """`value` reached linearly over `warmup_steps` (step 1 is the first step)."""
    return value if warmup_steps <= 0 else value * min(1.0, step / warmup_steps)


def step_scalars(cfg: RunConfig, step: int) -> StepScalars:
    algo = get_algo(cfg.loss.algo)
    beta = algo.fixed_beta if algo.fixed_beta is not None else ramp(cfg.loss.beta, cfg.loss.beta_warmup_steps, step)
    return StepScalars(beta=beta, distill_coef=ramp(cfg.loss.distill_coef, cfg.loss.distill_warmup_steps, step),
                       rlsd_lambda=rlsd_lambda(step - 1, start=cfg.loss.rlsd_lambda,
                                               decay_steps=cfg.loss.rlsd_decay_steps))


class TrainingDiverged(RuntimeError):
    """Too many consecutive steps had a non-finite loss or gradient."""


def train(cfg: RunConfig, *, progress: bool = True, resume: bool = False) -> Path:
    """Run the whole training job (or continue it from its last checkpoint); returns the run directory."""
    out = Path(cfg.train.out)
    # a run cut during its warm start goes on with the warm start, then RL from step 0
    warming = cfg.warmstart.episodes > 0 and not (out / "warmstart" / "sft.json").is_file()
    resumed = load_latest(out) if resume and not warming else None
    if resumed is not None and resumed.step > cfg.train.steps:
        raise CheckpointError(f"--train.steps {cfg.train.steps} is below the step of the checkpoint to resume "
                              f"({resumed.step}); a resumed run can only go on (raise --train.steps)")
    device = pick_device(cfg.model.device)
    dist = Dist.from_env(device, shard=cfg.train.shard)
    if not resume:
        local = resolve_model_path(cfg.model.path)  # a bad --model.path stops here, before an earlier run goes
        if cfg.model.path not in ("bundled", "tiny"):  # recorded absolute: resume and export work from anywhere
            cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, path=str(local.resolve())))
        start_afresh(out, remove=dist.main, keep=local)
    if dist.main:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text(to_json(cfg))
    if cfg.warmstart.episodes and resumed is None:  # a fresh run, or one cut during its warm start
        cfg = warm_start(cfg, out, dist, resume=resume, progress=progress)
    spec = env_spec_for(cfg)
    pool = None
    if cfg.env.workers:
        pool = WorkerPool(cfg.env.workers)
        spec = in_workers(spec, timeout=cfg.env.timeout, pool=pool)
    try:
        return _train(cfg, spec, out, resumed, progress and dist.main, device, dist)
    finally:
        if pool is not None:
            pool.close()
        dist.close()


def _train(cfg: RunConfig, spec, out: Path, resumed: Resumed | None, progress: bool, device, dist: Dist) -> Path:
    algo = get_algo(cfg.loss.algo)
    max_turns, history = protocol(cfg, spec)
    torch.manual_seed(cfg.train.seed)
    amp = autocast_dtype(cfg.model.precision, device)
    model, tokenizer, frozen, ema = build_models(cfg, algo, device, resumed)
    for m in {id(m): m for m in (model, frozen) if m is not None}.values():
        dist.shard_model(m)  # FSDP only (config rules out LoRA and the EMA teacher with it)
    lora = cfg.lora.r > 0
    teacher_model = {"live": model, "frozen": frozen, "ema": ema}[cfg.teacher.mode]
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=cfg.optim.lr, weight_decay=cfg.optim.weight_decay)
    context = get_provider(cfg.teacher.context)
    student_render = (privileged_renderer(tokenizer, context, budget=cfg.teacher.context_tokens)
                      if algo.skills_in_student else None)
    stops = get_format(spec.prompt_format).stop_strings
    agent = ModelAgent(model, tokenizer, temperature=cfg.rollout.temperature, stop_strings=stops,
                       max_new_tokens=cfg.rollout.max_new_tokens, amp_dtype=amp, prompt_messages=student_render,
                       generator=torch.Generator(device).manual_seed(cfg.train.seed + 7919 * dist.rank))
    first = 1
    if resumed:
        first = restore(resumed, out, model=model, optimizer=optimizer, generator=agent.generator, ema_model=ema,
                        dist=dist)
    G = cfg.rollout.group_size
    files = RunFiles(out, cfg, append=resumed is not None) if dist.main else None
    bad_streak = 0
    bar = tqdm(range(first, cfg.train.steps + 1), desc=f"sdar train ({algo.name})", disable=not progress,
               unit="step", initial=first - 1, total=cfg.train.steps)
    for step in bar:
        t_start = time.perf_counter()
        timings: dict[str, float] = {}
        scalars = step_scalars(cfg, step)

        # 1. rollout
        generate_before, tokens_before = agent.generate_seconds, agent.generated_tokens
        mine = dist.shard(list(enumerate(step_tasks(spec, cfg.train.seed, step, cfg.rollout.tasks_per_step))))
        model.eval()
        with dist.full_weights(model):  # under FSDP: episodes end at different turns on different ranks
            trajectories = run_episodes(agent, [t for _, t in mine for _ in range(G)],
                                        [g for g, _ in mine for _ in range(G)], spec,
                                        max_turns=max_turns, history=history, thinking=cfg.rollout.thinking,
                                        max_prompt_tokens=cfg.rollout.max_prompt_tokens)
        samples = samples_from(trajectories)
        timings["perf/generate_seconds"] = agent.generate_seconds - generate_before
        timings["perf/generated_tokens"] = float(agent.generated_tokens - tokens_before)
        rewards = torch.tensor([s.reward for s in samples])  # (N,)
        group_ids = torch.tensor([s.group_id for s in samples])  # (N,)
        if cfg.loss.filter_groups:
            samples, rewards, group_ids = drop_constant_groups(samples, rewards, group_ids)
        timings["perf/rollout_seconds"] = time.perf_counter() - t_start
        timings["perf/scored_tokens"] = float(sum(len(x.prompt_ids) + len(x.response_ids) for x in samples))

        # 2. teacher scoring (privileged context inside the chat template, its own budget)
        t0 = time.perf_counter()
        if algo.needs_teacher:
            add_teacher_prompts(samples, trajectories, tokenizer, context, cfg.teacher.context_tokens)
        mbs = [build_micro_batch(samples, rows, tokenizer.pad_token_id, device)
               for rows in plan_micro_batches(samples, cfg.optim.micro_batch_tokens)]
        if cfg.train.check_masks:
            for mb in mbs:
                check_loss_mask(mb, samples)
        if algo.needs_teacher:
            with adapter_off(model, lora and cfg.teacher.mode == "frozen"), dist.full_weights(teacher_model):
                score_teacher(teacher_model, mbs, amp_dtype=amp, check=cfg.train.check_masks,
                              share_prefix=cfg.teacher.share_prefix, token_budget=cfg.optim.micro_batch_tokens)
        timings["perf/teacher_seconds"] = time.perf_counter() - t0

        # 3. reference log-probs
        t0 = time.perf_counter()
        if cfg.loss.kl_coef > 0 and cfg.loss.kl_estimator != "none":
            with adapter_off(model, lora), dist.full_weights(frozen):
                score_reference(frozen, mbs, amp_dtype=amp)
        timings["perf/reference_seconds"] = time.perf_counter() - t0

        # 4. advantages: normalised over every turn sample of a group
        advantages = get_advantage_estimator(cfg.loss.adv_estimator)(rewards, group_ids)  # (N,)
        for mb in mbs:
            mb.advantages = advantages[mb.rows].to(device)

        # 5. update
        t0 = time.perf_counter()
        model.train()
        update_metrics, per_row = update(model, optimizer, mbs, cfg.loss, algo, scalars,
                                         grad_clip=cfg.optim.grad_clip, amp_dtype=amp, dist=dist)
        if ema is not None:
            ema_update(ema, model, decay=cfg.teacher.ema_decay)
        timings["perf/update_seconds"] = time.perf_counter() - t0

        # 6. log / eval / save (rank 0 writes; the rollout metrics cover every rank's episodes)
        everyone = [t for part in dist.gather(trajectories) for t in part]
        record = {"step": step, **rollout_metrics(everyone, samples_from(everyone)), **update_metrics,
                  **split_token_stats(samples, per_row), **timings,
                  "distill/beta": scalars.beta, "distill/coef": scalars.distill_coef}
        record["perf/step_seconds"] = time.perf_counter() - t_start
        if should_eval(cfg, step):
            with dist.full_weights(model):  # every rank gathers (FSDP), then rank 0 evaluates alone
                if dist.main:
                    record.update(run_eval(cfg, spec, model, tokenizer, amp, device, step, max_turns, history))
                if dist.main and algo.skills_in_student:
                    record.update(run_eval(cfg, spec, model, tokenizer, amp, device, step, max_turns, history,
                                           with_skills=True))
        if files:
            files.write(record, sample_records(step, trajectories, samples, advantages, per_row, tokenizer,
                                               cfg.train.sample_trajectories))
        bar.set_postfix(success=f"{record['rollout/success_rate']:.2f}",
                        gate=f"{record.get('distill/gate_mean', float('nan')):.2f}",
                        sec=f"{record['perf/step_seconds']:.0f}")
        for message in range_warnings(record, cfg) if dist.main else ():
            tqdm.write(f"sdar train: warning: step {step}: {message}")
        bad_streak = bad_streak + 1 if record.get("perf/skipped_step") else 0
        if bad_streak >= cfg.train.max_bad_steps:
            raise TrainingDiverged(f"{bad_streak} steps in a row had a non-finite loss or gradient and were "
                                   f"skipped (last at step {step}); lower --optim.lr or resume from the last "
                                   "checkpoint with --resume")
        sampler_states = dist.gather(agent.generator.get_state())
        if step == cfg.train.steps or (cfg.train.save_every and step % cfg.train.save_every == 0):
            model_state, optimizer_state = dist.model_state(model), dist.optimizer_state(model, optimizer)
            if dist.main:
                save_checkpoint(out, step, model=model, tokenizer=tokenizer, optimizer=optimizer,
                                sampler_states=sampler_states, ema_model=ema, keep=cfg.train.keep_checkpoints,
                                model_state=model_state, optimizer_state=optimizer_state)
        dist.barrier()
    model_state = dist.model_state(model)  # FSDP: gathered from every rank; None: the model's own
    if files:
        files.close()
        model.save_pretrained(out / "final", safe_serialization=True, state_dict=model_state)
        tokenizer.save_pretrained(out / "final")
    dist.barrier()
    return out


def warm_start(cfg: RunConfig, out: Path, dist: Dist, *, resume: bool = False, progress: bool = True) -> RunConfig:
    """Supervised warm start on expert demonstrations in the rollout's exact format (`sdar.sft`), written to
    RUN/warmstart/; RL then starts from that model, and config.json records its path (so resume does too).
    With `resume` (the run was cut during it), it goes on from its checkpoint (`--warmstart.save_every`),
    else it runs again."""
    from sdar.sft.checkpoint import CHECKPOINT
    from sdar.sft.run import options_for_run, run_sft

    if dist.world > 1:
        raise ConfigError("--warmstart.episodes runs in one process: run `sdar sft` first, then train with "
                          "--model DIR/model under torchrun")
    warm_dir = out / "warmstart"
    run_sft(options_for_run(cfg, str(warm_dir), **dataclasses.asdict(cfg.warmstart), progress=progress,  # same names
                            resume=resume and (warm_dir / CHECKPOINT / "state.json").is_file()))
    warm = (warm_dir / "model").resolve()  # absolute: --resume and export work from any directory
    cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, path=str(warm)))
    (out / "config.json").write_text(to_json(cfg))
    return cfg


def build_models(cfg: RunConfig, algo, device, resumed: Resumed | None):
    """(model, tokenizer, frozen, ema): the policy; the initial weights for the KL reference and the
    `frozen` teacher (None if unused); the EMA teacher's own copy (None unless `--teacher.mode ema`)."""
    initial, tokenizer = load_model(cfg.model.path, device)
    lora = cfg.lora.r > 0
    if lora:  # the base weights stay frozen inside `model`: the adapter switched off *is* the initial model
        model = (load_adapter(initial, resumed.model_dir) if resumed else
                 apply_lora(initial, r=cfg.lora.r, alpha=cfg.lora.alpha, dropout=cfg.lora.dropout,
                            target_modules=cfg.lora.target_modules))
    else:
        model = load_model(str(resumed.model_dir), device)[0] if resumed else initial
    frozen = None
    if (cfg.loss.kl_coef > 0 and cfg.loss.kl_estimator != "none") or cfg.teacher.mode == "frozen":
        frozen = model if lora else (initial if resumed else copy.deepcopy(initial)).eval().requires_grad_(False)
    ema = None  # its own copy: it moves, the KL reference must not
    if cfg.teacher.mode == "ema" and algo.needs_teacher:
        ema = copy.deepcopy(initial).eval().requires_grad_(False)
    return model, tokenizer, frozen, ema


def restore(resumed: Resumed, out: Path, *, model, optimizer, generator, ema_model, dist: Dist) -> int:
    """Load optimizer, random and EMA states; cut the logs back to the checkpoint. Returns the next step."""
    dist.load_optimizer_state(model, optimizer, resumed.optimizer_state)
    key = "sampler" if dist.rank == 0 else f"sampler_rank{dist.rank}"
    if key not in resumed.rng:
        raise CheckpointError(f"checkpoint {resumed.model_dir.parent} has no sampler state for rank {dist.rank}; "
                              "resume with the number of processes it was written with")
    generator.set_state(resumed.rng[key])
    torch.set_rng_state(resumed.rng["torch"])
    if ema_model is not None and resumed.ema_file is not None:
        safetensors.torch.load_model(ema_model, resumed.ema_file)
    if dist.main:
        for name in ("metrics.jsonl", "samples.jsonl"):
            truncate_jsonl(out / name, resumed.step)
    dist.barrier()
    return resumed.step + 1


def range_warnings(record: dict, cfg: RunConfig) -> list[str]:
    """Messages for statistics outside their configured range (the run goes on)."""
    out = []
    if record.get("loss/ratio_max", 0.0) > cfg.train.warn_ratio_max:
        out.append(f"importance ratio max {record['loss/ratio_max']:.3g} > {cfg.train.warn_ratio_max}")
    if record.get("loss/kl", 0.0) > cfg.train.warn_kl:
        out.append(f"KL to the reference {record['loss/kl']:.3g} > {cfg.train.warn_kl}")
    gate = record.get("distill/gate_mean")
    if gate is not None and not 0.01 < gate < 0.99:
        out.append(f"gate mean {gate:.3f} is saturated (teacher and student disagree everywhere)")
    if record.get("perf/skipped_step"):
        out.append("non-finite loss or gradient: the update was skipped")
    return out


def adapter_off(model, off: bool):
    """With LoRA, score the base weights (the initial model) by switching the adapter off."""
    return model.disable_adapter() if off else contextlib.nullcontext()


def drop_constant_groups(samples: list[Sample], rewards: torch.Tensor, group_ids: torch.Tensor):
    """Keep only the samples of groups whose rewards are not all equal."""
    keep_groups = {int(g) for g in group_ids.unique() if rewards[group_ids == g].unique().numel() > 1}
    keep = [i for i, s in enumerate(samples) if s.group_id in keep_groups]
    return [samples[i] for i in keep], rewards[keep], group_ids[keep]


def add_teacher_prompts(samples: list[Sample], trajectories: list[Trajectory], tokenizer, context,
                        budget: int) -> None:
    """Each sample's teacher prompt: its own user message under the trajectory's privileged block."""
    groups: dict[int, list[Trajectory]] = {}
    for traj in trajectories:
        groups.setdefault(traj.group_id, []).append(traj)
    blocks: dict[int, str] = {}
    for s in samples:
        if s.traj_index not in blocks:
            own = trajectories[s.traj_index]
            blocks[s.traj_index] = context(own.task, groups[own.group_id], own)
        s.privileged = blocks[s.traj_index]
        s.teacher_prompt_ids = teacher_prompt_ids(tokenizer, s.user_message, blocks[s.traj_index], budget=budget)


@torch.no_grad()
def ema_update(ema_model, model, *, decay: float) -> None:
    for e, p in zip(ema_model.parameters(), model.parameters()):
        e.mul_(decay).add_(p.detach(), alpha=1 - decay)


def should_eval(cfg: RunConfig, step: int) -> bool:
    every = cfg.train.eval_every
    return step == cfg.train.steps or (every > 0 and step % every == 0)


def run_eval(cfg, spec, model, tokenizer, amp, device, step, max_turns, history, *,
             with_skills: bool = False) -> dict[str, float]:
    """Held-out evaluation at the eval temperature, with its own random stream; skills only if asked."""
    render = (privileged_renderer(tokenizer, get_provider(cfg.teacher.context), budget=cfg.teacher.context_tokens)
              if with_skills else None)  # the context the student trained with
    agent = ModelAgent(model, tokenizer, temperature=cfg.train.eval_temperature,
                       stop_strings=get_format(spec.prompt_format).stop_strings,
                       max_new_tokens=cfg.rollout.max_new_tokens, amp_dtype=amp, prompt_messages=render,
                       generator=torch.Generator(device).manual_seed(cfg.train.seed * 100_003 + step))
    model.eval()
    summary, _ = evaluate(agent, spec, episodes=cfg.train.eval_episodes, max_turns=max_turns,
                          history=history, thinking=cfg.rollout.thinking,
                          max_prompt_tokens=cfg.rollout.max_prompt_tokens)
    prefix = "eval/with_skills/" if with_skills else "eval/"
    out = {f"{prefix}success_rate": summary["success_rate"],
           f"{prefix}valid_action_rate": summary["valid_action_rate"]}
    out.update({f"{prefix}per_type/{k}": v for k, v in summary["per_type"].items() if v is not None})
    out.update({f"{prefix}{k}": summary[k] for k in ("score", "acc", "em_mean") if k in summary})
    return out
