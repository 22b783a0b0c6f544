"""Per-token KL estimators between the policy and a frozen reference, KL(π_θ ‖ π_ref).

Each estimator maps `logprobs` and `ref_logprobs` (B, T) of the sampled tokens to a per-token value
(B, T); the caller aggregates it under the loss mask. Gradient flows through `logprobs` only (the
reference is detached). Looked up by name in KL_ESTIMATORS.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from sdar.losses.aggregate import check_shapes
from sdar.losses.registry import lookup

# verl clamps log π_ref − log π_θ to [−20, 20] before exp(): keeps exp() finite, so a far-off token
# cannot produce inf·0 = NaN in the backward pass of the (clamped) k3.
_LOG_RATIO_LIMIT = 20.0


def _k1(log_ratio: torch.Tensor) -> torch.Tensor:
    """k1 = lp − ref = −r with r = ref − lp."""
    return -log_ratio


def _k2(log_ratio: torch.Tensor) -> torch.Tensor:
    """k2 = ½ (lp − ref)²."""
    return 0.5 * log_ratio.square()


def _k3(log_ratio: torch.Tensor) -> torch.Tensor:
    """k3 ("low-var-kl") = exp(r) − r − 1 with r = ref − lp; ≥ 0, unbiased for KL(π_θ ‖ π_ref)."""
    log_ratio = log_ratio.clamp(-_LOG_RATIO_LIMIT, _LOG_RATIO_LIMIT)
    return torch.exp(log_ratio) - log_ratio - 1.0


def _none(log_ratio: torch.Tensor) -> torch.Tensor:
    """No KL penalty: zeros."""
    return torch.zeros_like(log_ratio)


KL_ESTIMATORS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "k1": _k1,
    "k2": _k2,
    "k3": _k3,
    "low_var_kl": _k3,  # verl's name for k3
    "none": _none,
}


def kl_penalty(
    logprobs: torch.Tensor,
    ref_logprobs: torch.Tensor,
    *,
    estimator: str = "k3",
    clamp: float | None = 10.0,
) -> torch.Tensor:
    """Per-token KL estimate (B, T), r = ref − lp:

    k1 = lp − ref;  k2 = ½(lp − ref)²;  k3 = exp(r) − r − 1;  none = 0.
    The result is clamped to [−clamp, clamp] for every estimator (verl clamps k3 to [−10, 10]);
    clamp=None disables it. Unknown estimator -> ValueError listing KL_ESTIMATORS.
    """
    fn = lookup(KL_ESTIMATORS, estimator, "KL estimator")
    check_shapes("logprobs", logprobs, ref_logprobs=ref_logprobs)
    log_ratio = ref_logprobs.detach() - logprobs  # (B, T)
    kl = fn(log_ratio)  # (B, T)
    if clamp is not None:
        kl = kl.clamp(-clamp, clamp)
    return kl
