"""Per-token quantities from model logits (..., T, V): sampled-token log-probs and entropy.

Both upcast to float32 and subtract the max one leading row (T, V) at a time, so without grad
(scoring old / ref / teacher log-probs) the float32 copy never exceeds one row for bf16 logits.
With grad, autograd keeps each row's float32 tensors for backward, as any upcast would.
"""

from __future__ import annotations

from collections.abc import Callable

import torch


def _shifted(logits: torch.Tensor) -> torch.Tensor:
    """float32 logits minus their (detached) max over the vocab.

    Both outputs are shift-invariant, and subtracting the max first keeps float32 exact where
    `z − logsumexp(z)` of two large, nearly equal numbers would lose digits (logits ~1e4).
    """
    logits = logits.float()
    return logits - logits.amax(dim=-1, keepdim=True).detach()


def _rowwise(fn: Callable[..., torch.Tensor], logits: torch.Tensor, *others: torch.Tensor) -> torch.Tensor:
    """Apply `fn(row_logits (T, V), *row_others)` to each leading row; result (..., T)."""
    if logits.dim() <= 2:
        return fn(_shifted(logits), *others)
    rows = logits.reshape(-1, *logits.shape[-2:])  # (R, T, V)
    if rows.shape[0] == 0:
        return logits.new_zeros(logits.shape[:-1], dtype=torch.float32)
    flat_others = [o.reshape(-1, o.shape[-1]) for o in others]  # (R, T) each
    out = [fn(_shifted(row), *(o[i] for o in flat_others)) for i, row in enumerate(rows)]
    return torch.stack(out).reshape(logits.shape[:-1])


def _row_logprobs(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """logits[t, y_t] − logsumexp_v logits[t, v] for one row (T, V) in float32."""
    picked = logits.gather(-1, labels.unsqueeze(-1)).squeeze(-1)  # (T,)
    return picked - torch.logsumexp(logits, dim=-1)


def logprobs_from_logits(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """log softmax(logits)[..., labels] (B, T) in float32, as gather − logsumexp.

    Naive: torch.log_softmax(logits.float(), -1).gather(-1, labels[..., None])[..., 0].
    """
    if logits.shape[:-1] != labels.shape:
        raise ValueError(f"logits {tuple(logits.shape)} do not match labels {tuple(labels.shape)}")
    return _rowwise(_row_logprobs, logits, labels.long())


def _row_entropy(logits: torch.Tensor) -> torch.Tensor:
    """H = −Σ_v p·log p with log p = z − logsumexp(z); vocab entries at −inf contribute 0."""
    logp = logits - torch.logsumexp(logits, dim=-1, keepdim=True)  # (T, V)
    p = logp.exp()
    # where() on log p, not on the product: keeps 0·(−inf) = NaN out of both passes.
    return -(p * torch.where(p > 0, logp, 0.0)).sum(-1)


def entropy_from_logits(logits: torch.Tensor) -> torch.Tensor:
    """Token entropy (..., T) of softmax(logits) in float32: −Σ_v softmax(z)_v · log_softmax(z)_v."""
    return _rowwise(_row_entropy, logits)
