"""Masked reductions of per-token values (B, T) to a scalar loss or statistic.

Masked-out positions never reach the result, even when they hold inf/NaN (padding): they are
selected away with `torch.where`, not multiplied by zero. An empty mask gives 0, never NaN, and the
0 still carries the graph of `values` (zero gradient) so callers can always call `.backward()`.
This module knows nothing about which loss the values come from.
"""

from __future__ import annotations

import torch

from sdar.losses.registry import check_name

AGG_MODES = ("token-mean", "seq-mean-token-mean", "seq-mean-token-sum")


def on_mask(x: torch.Tensor, loss_mask: torch.Tensor) -> torch.Tensor:
    """x on masked tokens, 0 elsewhere: a select, so padding holding inf/NaN reaches neither the value nor
    its gradient (multiplying by 0 would still give NaN in the backward pass)."""
    return torch.where(loss_mask != 0, x, 0.0)


def check_shapes(name: str, reference: torch.Tensor, **others: torch.Tensor | None) -> None:
    """ValueError naming the first of `others` that is missing or not shaped like `reference` (broadcasting
    would silently pair the wrong tokens)."""
    for other, tensor in others.items():
        if tensor is None:
            raise ValueError(f"{other} is missing: pass a tensor shaped like {name} {tuple(reference.shape)}")
        if tensor.shape != reference.shape:
            raise ValueError(f"{other} {tuple(tensor.shape)} must have the shape of {name} {tuple(reference.shape)}")


def _masked_values(values: torch.Tensor, loss_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(m·z with off-mask entries exactly 0, m as float weights); mask may be bool or float."""
    if values.shape != loss_mask.shape:
        raise ValueError(f"values {tuple(values.shape)} and loss_mask {tuple(loss_mask.shape)} differ")
    weights = loss_mask.to(values.dtype)  # (B, T)
    weighted = torch.where(loss_mask != 0, values, 0.0) * weights  # (B, T)
    return weighted, weights


def _safe_div(num: torch.Tensor, den: torch.Tensor) -> torch.Tensor:
    """num / den, with 0 (carrying num's graph) where den == 0; no host sync."""
    return num / torch.where(den != 0, den, torch.ones_like(den))


def aggregate(values: torch.Tensor, loss_mask: torch.Tensor, *, mode: str = "token-mean") -> torch.Tensor:
    """Reduce per-token `values` (B, T) under `loss_mask` (B, T) to a scalar.

    Naive formulas, m = loss_mask, z = values, rows b, tokens t:
    - "token-mean":          Σ_bt m·z / Σ_bt m
    - "seq-mean-token-mean": mean over rows b with Σ_t m > 0 of (Σ_t m·z / Σ_t m)
    - "seq-mean-token-sum":  (1/B) Σ_b Σ_t m·z, B = *all* rows, including empty ones (as verl does,
      so the scale of a row's contribution does not depend on how many other rows are empty)
    Empty mask (or no non-empty row) -> 0. Unknown mode -> ValueError listing AGG_MODES.
    """
    check_name(mode, AGG_MODES, "aggregation mode")
    weighted, weights = _masked_values(values, loss_mask)
    if mode == "token-mean":
        return _safe_div(weighted.sum(), weights.sum())
    row_sums = weighted.reshape(-1, weighted.shape[-1]).sum(-1)  # (B,)
    if mode == "seq-mean-token-sum":
        return row_sums.sum() / max(row_sums.numel(), 1)
    row_counts = weights.reshape(-1, weights.shape[-1]).sum(-1)  # (B,)
    row_means = _safe_div(row_sums, row_counts)  # (B,), 0 on empty rows
    return _safe_div(row_means.sum(), (row_counts != 0).sum().to(values.dtype))


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Σ m·v / Σ m over all entries; 0 if the mask is empty. Bool `values` count as 0/1."""
    if not values.is_floating_point():
        values = values.float()
    return aggregate(values, mask, mode="token-mean")


def masked_max(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """max of `values` over masked entries; 0 if the mask is empty (no host sync)."""
    if values.numel() == 0:
        return values.new_zeros(())
    best = torch.where(mask != 0, values, float("-inf")).amax()
    return torch.where(best == float("-inf"), torch.zeros_like(best), best)
