"""The PPO-clip policy-gradient surrogate with verl's dual clip (the GRPO policy loss).

Takes per-token log-probs of the sampled tokens under the live policy and the rollout policy, plus
advantages; knows nothing about how advantages were estimated or which tokens are masked (the mask
says). Returns the aggregated loss and detached scalar statistics (no `.item()`, no host sync).
"""

from __future__ import annotations

import torch

from sdar.losses.aggregate import aggregate, check_shapes, masked_max, masked_mean, on_mask

# verl clamps log π_θ − log π_old to [−20, 20] before exp(): inside that range (ratio up to 4.8e8)
# nothing changes; beyond it exp() could overflow to inf and turn the backward pass into NaN.
_LOG_RATIO_LIMIT = 20.0



def ppo_clip_loss(
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    loss_mask: torch.Tensor,
    *,
    clip_low: float = 0.2,
    clip_high: float = 0.2,
    dual_clip: float | None = 3.0,
    agg: str = "token-mean",
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """PPO-clip surrogate, per token (advantages (B, T), or (B,) broadcast over T):

    ratio = exp(lp − old);  pg1 = −A·ratio;  pg2 = −A·clip(ratio, 1 − clip_low, 1 + clip_high)
    clipped = max(pg1, pg2);  for A < 0: pg = min(clipped, −A·dual_clip) (verl's dual clip), else clipped
    loss = Agg[pg]. dual_clip=None disables the dual clip. At ratio 1 the loss is −Agg[A].
    stats (detached scalars, masked): clip_frac (share with pg2 > pg1), dual_clip_frac (share with
    A < 0 and clipped > −A·dual_clip), ratio_mean, ratio_max, approx_kl (mean of old − lp).
    """
    if dual_clip is not None and dual_clip <= 1.0:
        raise ValueError(f"dual_clip must be > 1 (or None), got {dual_clip}")
    if advantages.dim() == logprobs.dim() - 1 and advantages.shape == logprobs.shape[:-1]:
        advantages = advantages.unsqueeze(-1).expand_as(logprobs)  # (B, T)
    check_shapes("logprobs", logprobs, old_logprobs=old_logprobs, advantages=advantages, loss_mask=loss_mask)
    adv = on_mask(advantages.detach(), loss_mask)  # (B, T)
    log_ratio = on_mask(logprobs, loss_mask) - on_mask(old_logprobs.detach(), loss_mask)  # (B, T)
    ratio = torch.exp(log_ratio.clamp(-_LOG_RATIO_LIMIT, _LOG_RATIO_LIMIT))  # (B, T)
    pg1 = -adv * ratio
    pg2 = -adv * ratio.clamp(1.0 - clip_low, 1.0 + clip_high)
    clipped = torch.maximum(pg1, pg2)  # (B, T)
    pg = clipped
    dual_clipped = torch.zeros_like(loss_mask, dtype=torch.bool)
    if dual_clip is not None:
        bound = -adv * dual_clip  # (B, T)
        pg = torch.where(adv < 0, torch.minimum(clipped, bound), clipped)
        dual_clipped = (adv < 0) & (clipped > bound)
    loss = aggregate(pg, loss_mask, mode=agg)
    with torch.no_grad():
        stats = {
            "clip_frac": masked_mean(pg2 > pg1, loss_mask),
            "dual_clip_frac": masked_mean(dual_clipped, loss_mask),
            "ratio_mean": masked_mean(ratio, loss_mask),
            "ratio_max": masked_max(ratio, loss_mask),
            "approx_kl": masked_mean(-log_ratio, loss_mask),
        }
    return loss, {k: v.detach() for k, v in stats.items()}
