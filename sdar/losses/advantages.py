"""Advantage estimators: sequence-level (GRPO, RLOO) and the RLSD per-token rewrite.

Sequence-level estimators take one return per turn sample, `rewards` (N,), and the group each sample
belongs to, `group_ids` (N,) of any integers; they return `advantages` (N,), to be broadcast over the
sample's tokens by the caller. They are looked up by name in ADVANTAGE_ESTIMATORS. All outputs are
detached: advantages are constants of the policy-gradient loss. This module does not know what a
trajectory, a turn or an environment is.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch

from sdar.losses.registry import lookup


class _Groups(NamedTuple):
    """Per-sample group statistics: (N,) tensors indexed by sample, plus the number of groups G."""

    values: torch.Tensor  # rewards, float64
    inverse: torch.Tensor  # long: group index 0..G−1 of each sample
    n_groups: int
    sizes: torch.Tensor  # n_g of the sample's group
    sums: torch.Tensor  # S_g of the sample's group
    constant: torch.Tensor  # bool: the sample's group has max == min


def _group_sum(values: torch.Tensor, inverse: torch.Tensor, n_groups: int) -> torch.Tensor:
    """(G,) sums of `values` (N,) per group index."""
    return values.new_zeros(n_groups).index_add_(0, inverse, values)


def _groups(rewards: torch.Tensor, group_ids: torch.Tensor) -> _Groups:
    """Vectorised per-group size, sum and constancy (unique + inverse + index_add, no loop)."""
    if rewards.shape != group_ids.shape or rewards.dim() != 1:
        raise ValueError(f"rewards {tuple(rewards.shape)} and group_ids {tuple(group_ids.shape)} must be (N,)")
    values = rewards.detach().to(torch.float64)  # (N,)
    _, inverse, counts = torch.unique(group_ids, return_inverse=True, return_counts=True)  # (N,), (G,)
    n_groups = counts.numel()
    highs = values.new_zeros(n_groups).scatter_reduce_(0, inverse, values, "amax", include_self=False)
    lows = values.new_zeros(n_groups).scatter_reduce_(0, inverse, values, "amin", include_self=False)
    sums = _group_sum(values, inverse, n_groups)  # (G,)
    sizes = counts.to(torch.float64)  # (G,)
    return _Groups(values, inverse, n_groups, sizes[inverse], sums[inverse], (highs == lows)[inverse])


def _out_dtype(rewards: torch.Tensor) -> torch.dtype:
    return rewards.dtype if rewards.is_floating_point() else torch.get_default_dtype()


def group_advantages(rewards: torch.Tensor, group_ids: torch.Tensor, *, eps: float = 1e-6) -> torch.Tensor:
    """GRPO: A_i = (R_i − mean_g R) / (std_g R + eps), std unbiased (n − 1), as torch.std / verl.

    A group of one sample gets 0 (verl instead uses mean 0, std 1, i.e. A = R). A constant group
    (max == min) gets exactly 0, not rounding noise / eps. Computed in float64, returned in the
    rewards' dtype. Naive form: for each group g, r = R[ids == g]; A[ids == g] = (r − r.mean()) /
    (r.std() + eps).
    """
    g = _groups(rewards, group_ids)
    deviations = g.values - g.sums / g.sizes  # (N,)
    squares = _group_sum(deviations.square(), g.inverse, g.n_groups)[g.inverse]  # (N,)
    std = (squares / (g.sizes - 1).clamp(min=1)).sqrt()  # (N,) unbiased
    advantages = deviations / (std + eps)  # (N,)
    keep = (g.sizes > 1) & ~g.constant
    return torch.where(keep, advantages, 0.0).to(_out_dtype(rewards))


def rloo_advantages(rewards: torch.Tensor, group_ids: torch.Tensor) -> torch.Tensor:
    """RLOO: A_i = R_i − mean_{j in g, j != i} R_j = R_i − (S_g − R_i) / (n_g − 1).

    Groups of one (and constant groups, where it is 0 anyway) get exactly 0.
    """
    g = _groups(rewards, group_ids)
    advantages = g.values - (g.sums - g.values) / (g.sizes - 1).clamp(min=1)  # (N,)
    keep = (g.sizes > 1) & ~g.constant
    return torch.where(keep, advantages, 0.0).to(_out_dtype(rewards))


ADVANTAGE_ESTIMATORS: dict[str, Callable[..., torch.Tensor]] = {
    "grpo": group_advantages,
    "rloo": rloo_advantages,
}


def get_advantage_estimator(name: str) -> Callable[..., torch.Tensor]:
    """ADVANTAGE_ESTIMATORS[name]; ValueError listing the valid names on a miss."""
    return lookup(ADVANTAGE_ESTIMATORS, name, "advantage estimator")


def rlsd_advantages(
    advantages: torch.Tensor,
    teacher_gap: torch.Tensor,
    *,
    lam: float,
    clip_low: float = 0.8,
    clip_high: float = 1.2,
) -> torch.Tensor:
    """RLSD per-token advantage: A·[(1 − λ) + λ·clip(exp(sign(A)·Δ), clip_low, clip_high)].

    `advantages` (B,) or (B, T), `teacher_gap` Δ = lt − l_old (B, T); returns (B, T), detached.
    λ = 0 returns A unchanged (exactly). sign(0) = 0, so A = 0 stays 0.
    """
    if not 0.0 <= lam <= 1.0:
        raise ValueError(f"lam must be in [0, 1], got {lam}")
    adv = advantages.detach()
    gap = teacher_gap.detach()  # (B, T)
    if adv.dim() == gap.dim() - 1:
        adv = adv.unsqueeze(-1)  # (B, 1), broadcast over tokens
    weight = torch.exp(torch.sign(adv) * gap).clamp(clip_low, clip_high)  # (B, T)
    return adv * ((1.0 - lam) + lam * weight)


def rlsd_lambda(step: int, *, start: float = 0.5, decay_steps: int = 100) -> float:
    """λ_step = start · max(0, 1 − step / decay_steps): linear decay from `start` to 0, then 0."""
    if decay_steps <= 0:
        return 0.0
    fraction = min(max(step / decay_steps, 0.0), 1.0)
    return start * (1.0 - fraction)
