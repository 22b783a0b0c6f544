"""Score token sequences with a causal LM: log-probs (and entropy) of the last `n` tokens of each row.

Rows are left-padded so every response ends in the last column; scoring the last `n` positions then
covers every row's response (shorter responses are masked by the caller). Only the logits of those
positions are materialised (`logits_to_keep`) when the model supports it: the vocabulary is large and
the prompt is long. This module knows nothing about environments, teachers or losses beyond the two
logit helpers.
"""

from __future__ import annotations

import inspect

import torch

from sdar.losses import entropy_from_logits, logprobs_from_logits
from sdar.rollout.sampler import autocast, position_ids_from_mask


def _supports_logits_to_keep(model) -> bool:
    return "logits_to_keep" in inspect.signature(_unwrapped(model).forward).parameters


def response_logprobs(
    model,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    n: int,
    *,
    with_entropy: bool = False,
    amp_dtype: torch.dtype | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(logprobs, entropy), each (B, n): log p(ids[:, t] | ids[:, :t]) for the last n columns."""
    extra = {"logits_to_keep": n + 1} if _supports_logits_to_keep(model) else {}
    with autocast(input_ids.device, amp_dtype):
        out = model(input_ids=input_ids, attention_mask=attention_mask,
                    position_ids=position_ids_from_mask(attention_mask), use_cache=False, **extra)
    logits = out.logits[:, -(n + 1):-1, :].float()  # (B, n, V): position t predicts token t + 1
    labels = input_ids[:, -n:]  # (B, n)
    logprobs = logprobs_from_logits(logits, labels)
    entropy = entropy_from_logits(logits) if with_entropy else None
    return logprobs, entropy


def _unwrapped(model):
    """The underlying transformers model of a PEFT wrapper (whose forward takes **kwargs)."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model
