"""`validate`: reject out-of-range values and meaningless combinations of a `RunConfig` at parse time,
naming the fields (and what to set instead)."""

from __future__ import annotations

import dataclasses
import math

from sdar.algos import ALGOS, Algo
from sdar.config.parts import (ADV_ESTIMATORS, AGG_MODES, CONTEXTS, GATES, KL_ESTIMATORS, PRECISIONS, SHARDINGS,
                               TEACHER_MODES, ConfigError, RunConfig, WarmstartConfig)


def _choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"--{name}: {value!r} is not one of {', '.join(allowed)}")


def _field(cfg: RunConfig, name: str):
    """The value of a dotted option ("loss.beta") in `cfg`."""
    part, key = name.split(".")
    return getattr(getattr(cfg, part), key)


def _positive(cfg: RunConfig, names: list[str], *, allow_zero: bool = False, at_most: float = math.inf) -> None:
    for name in names:
        value = _field(cfg, name)
        if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero) or value > at_most:
            low = ">= 0" if allow_zero else "> 0"
            raise ConfigError(f"--{name}: must be {low if at_most == math.inf else f'in [0, {at_most:g}]'}, "
                              f"got {value}")


def env_spec_for(cfg: RunConfig):
    """The environment's spec with the run's environment options; ConfigError naming what is wrong."""
    from sdar.envs import get_env_spec

    try:
        return get_env_spec(cfg.env.name, data_dir=cfg.env.data or None, eval_split=cfg.env.eval_split or None)
    except ValueError as err:
        raise ConfigError(f"--env.data/--env.eval_split: {err}") from None
    except (FileNotFoundError, ImportError) as err:
        raise ConfigError(f"--env.name {cfg.env.name}: {err}") from None


def validate(cfg: RunConfig) -> None:
    """Reject out-of-range values and meaningless combinations, naming the fields."""
    _check_choices(cfg)
    env_spec_for(cfg)
    _check_ranges(cfg)
    for name in ("kind_change", "arrival"):
        if getattr(cfg.warmstart, name) and not cfg.rollout.thinking:
            raise ConfigError(f"--warmstart.{name} adds to the demonstrations' thoughts: it needs "
                              "--rollout.thinking true")
    if cfg.warmstart.backtrack and not cfg.warmstart.unlikelihood:
        raise ConfigError("--warmstart.backtrack adds unlikelihood negatives: it needs --warmstart.unlikelihood W > 0")
    if cfg.lora.r and cfg.teacher.mode == "ema":
        raise ConfigError("--teacher.mode ema needs a full copy of the weights; it is not supported with --lora.r")
    _check_sharding(cfg)
    _check_unused_options(cfg)
    from sdar.train.trackers import check_trackers

    problem = check_trackers(tracker_names(cfg))
    if problem:
        raise ConfigError(f"--log.to: {problem}")


def _check_choices(cfg: RunConfig) -> None:
    """Each named option is one of its registry's names."""
    from sdar.envs import env_names

    _choice("env.name", cfg.env.name, tuple(env_names()))
    _choice("loss.algo", cfg.loss.algo, tuple(ALGOS))
    _choice("loss.adv_estimator", cfg.loss.adv_estimator, ADV_ESTIMATORS)
    _choice("teacher.mode", cfg.teacher.mode, TEACHER_MODES)
    _choice("loss.gate", cfg.loss.gate, GATES)
    _choice("loss.agg", cfg.loss.agg, AGG_MODES)
    _choice("loss.kl_estimator", cfg.loss.kl_estimator, KL_ESTIMATORS)
    _choice("model.precision", cfg.model.precision, PRECISIONS)
    _choice("teacher.context", cfg.teacher.context, CONTEXTS)
    _choice("train.shard", cfg.train.shard, SHARDINGS)


def _check_ranges(cfg: RunConfig) -> None:
    """Numbers in range: counts and sizes > 0, rates and coefficients >= 0, shares at most 1."""
    _positive(cfg, ["rollout.tasks_per_step", "rollout.group_size", "rollout.max_new_tokens",
                    "rollout.max_prompt_tokens", "optim.lr", "optim.micro_batch_tokens", "train.steps",
                    "train.eval_episodes", "teacher.context_tokens"])
    _positive(cfg, ["rollout.temperature", "train.eval_temperature", "loss.beta", "loss.distill_coef",
                    "loss.clip_low", "loss.clip_high", "loss.dual_clip", "loss.kl_coef", "loss.entropy_coef",
                    "optim.weight_decay", "optim.grad_clip", "env.max_turns", "train.eval_every",
                    "train.sample_trajectories", "loss.beta_warmup_steps", "loss.distill_warmup_steps",
                    "loss.skill_sd_coef", "loss.rlsd_lambda", "loss.rlsd_decay_steps", "train.save_every",
                    "train.warn_ratio_max", "train.warn_kl", "env.workers"], allow_zero=True)
    _positive(cfg, ["env.timeout", "lora.alpha", "warmstart.epochs", "warmstart.lr", "warmstart.kind_repeat"])
    _positive(cfg, ["warmstart.episodes", "warmstart.train_layers", "warmstart.max_turns", "warmstart.save_every",
                    "warmstart.unlikelihood"], allow_zero=True)
    _positive(cfg, ["warmstart.noise", "warmstart.skills_share", "warmstart.move_share", "warmstart.repeat_share",
                    "warmstart.tempt", "warmstart.stray"], allow_zero=True, at_most=1)
    _positive(cfg, ["lora.r"], allow_zero=True)
    _positive(cfg, ["lora.dropout"], allow_zero=True, at_most=1)
    _positive(cfg, ["train.keep_checkpoints", "train.max_bad_steps"])
    if cfg.env.history < -1:
        raise ConfigError(f"--env.history: must be >= -1 (-1: the environment's own), got {cfg.env.history}")
    if not 0 <= cfg.teacher.ema_decay < 1:
        raise ConfigError(f"--teacher.ema_decay: must be in [0, 1), got {cfg.teacher.ema_decay}")
    if cfg.loss.rlsd_lambda > 1:
        raise ConfigError(f"--loss.rlsd_lambda: must be in [0, 1], got {cfg.loss.rlsd_lambda}")
    if cfg.rollout.temperature == 0:
        raise ConfigError("--rollout.temperature: training rollouts must sample (> 0)")
    if 0 < cfg.loss.dual_clip <= 1:
        raise ConfigError(f"--loss.dual_clip: must be > 1 (or 0 to disable), got {cfg.loss.dual_clip}")
    if cfg.rollout.group_size < 2:
        raise ConfigError("--rollout.group_size: GRPO needs at least 2 rollouts per task")


def _check_sharding(cfg: RunConfig) -> None:
    if cfg.train.shard != "fsdp":
        return
    if cfg.lora.r:
        raise ConfigError("--train.shard fsdp is not supported with --lora.r: LoRA's gradients and optimizer state "
                          "are already small, so plain data-parallel (--train.shard none) loses nothing")
    if cfg.teacher.mode == "ema":
        raise ConfigError("--train.shard fsdp is not supported with --teacher.mode ema (its copy is not sharded); "
                          "use --teacher.mode live or frozen")


def tracker_names(cfg: RunConfig) -> list[str]:
    return [name.strip() for name in cfg.log.to.split(",") if name.strip()]


def _gated(a: Algo) -> bool:
    return a.distill == "gated" and a.fixed_beta is None


# Options that only some algorithms read: setting one for another algorithm is a mistake, not a no-op.
_USED_BY = {
    "loss.beta": _gated, "loss.beta_warmup_steps": _gated, "loss.gate": _gated,
    "loss.distill_coef": lambda a: a.distill == "gated",
    "loss.distill_warmup_steps": lambda a: a.distill == "gated",
    "loss.skill_sd_coef": lambda a: a.distill == "skill_sd",
    "loss.rlsd_lambda": lambda a: a.rlsd, "loss.rlsd_decay_steps": lambda a: a.rlsd,
    "teacher.mode": lambda a: a.needs_teacher, "teacher.ema_decay": lambda a: a.needs_teacher,
    "teacher.share_prefix": lambda a: a.needs_teacher,
    "teacher.context": lambda a: a.needs_teacher or a.skills_in_student,
    "teacher.context_tokens": lambda a: a.needs_teacher or a.skills_in_student,
}


# Options that act only under another setting: (is it on?, the setting to name).
_NEEDS = {
    "teacher.ema_decay": (lambda c: c.teacher.mode == "ema", "--teacher.mode ema"),
    "loss.kl_estimator": (lambda c: c.loss.kl_coef > 0 or c.loss.kl_estimator == "none", "--loss.kl_coef > 0"),
    **{f"lora.{k}": (lambda c: c.lora.r > 0, "--lora.r > 0") for k in ("alpha", "dropout", "target_modules")},
    **{f"warmstart.{f.name}": (lambda c: c.warmstart.episodes > 0, "--warmstart.episodes > 0")
       for f in dataclasses.fields(WarmstartConfig) if f.name != "episodes"},
}


def _check_unused_options(cfg: RunConfig) -> None:
    """A changed option that the algorithm does not read (`_USED_BY`) or whose switch is off (`_NEEDS`)."""
    algo = ALGOS[cfg.loss.algo]
    defaults = RunConfig()
    for name in [n for n in {**_USED_BY, **_NEEDS} if _field(cfg, n) != _field(defaults, n)]:
        used = _USED_BY.get(name)
        if used is not None and not used(algo):
            users = ", ".join(a.name for a in ALGOS.values() if used(a))
            raise ConfigError(f"--{name} is not used by --loss.algo {algo.name} (used by: {users})")
        if name in _NEEDS and not _NEEDS[name][0](cfg):
            raise ConfigError(f"--{name} does nothing without {_NEEDS[name][1]}")
    if algo.skills_in_student and cfg.teacher.context in ("sibling", "ground_truth"):
        raise ConfigError(f"--teacher.context {cfg.teacher.context} is privileged (the group's other rollouts, the "
                          f"task's solution) and never goes into the student's own prompt, as --loss.algo "
                          f"{algo.name} puts it; use a skills context")
