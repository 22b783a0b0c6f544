"""Loss kernels of sdar: pure functions on torch tensors, no config objects, no I/O.

- aggregate:   masked reductions (token-mean, seq-mean-token-mean, seq-mean-token-sum)
- advantages:  GRPO / RLOO group advantages (registry) and the RLSD per-token rewrite
- kl:          k1 / k2 / k3 KL-to-reference estimators (registry)
- policy:      PPO-clip surrogate with dual clip
- logits:      sampled-token log-probs and token entropy from logits
- gates:       SDAR gates σ(βΔ), σ(βh), soft-OR, constant (registry)
- distill:     SDAR's gated distillation term, Skill-SD's importance-weighted k3 term

Scalars come in as keyword arguments; registries are looked up by name and a miss lists the valid
names. This package imports only torch: it does not know about models, tokenizers, envs or configs.
"""

from sdar.losses.advantages import (
    ADVANTAGE_ESTIMATORS,
    get_advantage_estimator,
    group_advantages,
    rloo_advantages,
    rlsd_advantages,
    rlsd_lambda,
)
from sdar.losses.aggregate import AGG_MODES, aggregate, masked_max, masked_mean
from sdar.losses.distill import gated_distill_loss, skill_sd_loss
from sdar.losses.gates import GATES, constant_gate, entropy_gate, gap_gate, get_gate, soft_or_gate
from sdar.losses.kl import KL_ESTIMATORS, kl_penalty
from sdar.losses.logits import entropy_from_logits, logprobs_from_logits
from sdar.losses.policy import ppo_clip_loss

__all__ = [
    "ADVANTAGE_ESTIMATORS",
    "AGG_MODES",
    "GATES",
    "KL_ESTIMATORS",
    "aggregate",
    "constant_gate",
    "entropy_from_logits",
    "entropy_gate",
    "gap_gate",
    "gated_distill_loss",
    "get_advantage_estimator",
    "get_gate",
    "group_advantages",
    "kl_penalty",
    "logprobs_from_logits",
    "masked_max",
    "masked_mean",
    "ppo_clip_loss",
    "rloo_advantages",
    "rlsd_advantages",
    "rlsd_lambda",
    "skill_sd_loss",
    "soft_or_gate",
]
