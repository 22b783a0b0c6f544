"""Score token sequences with a causal LM: log-probs (and entropy) of the last `n` tokens of each row.

Rows are left-padded so every response ends in the last column; scoring the last `n` positions then
covers every row's response (shorter responses are masked by the caller). Only the logits of those
positions are materialised (`logits_to_keep`) when the model supports it: the vocabulary is large and
the prompt is long.

`shared_prefix_logprobs` gives the same numbers for rows that share a long prefix (the teacher's rows:
every turn of a group starts with the same privileged block and task), scoring each shared prefix once
and the rest of each row against its cached keys and values. This module knows nothing about
environments, teachers or losses beyond the two logit helpers.
"""

from __future__ import annotations

import copy
import inspect

import torch

from sdar.losses import entropy_from_logits, logprobs_from_logits
from sdar.rollout.sampler import autocast, cache_argument, left_pad, position_ids_from_mask


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


def prefix_groups(rows: list[list[int]], keep: list[int], min_shared: int) -> list[tuple[int, list[int]]]:
    """(prefix length P, row indices) groups covering every row once: rows sorted by their ids, neighbours
    sharing at least `min_shared` leading ids grouped, P their common prefix but short of every member's
    last `keep[i]` ids. A row sharing too little with its neighbours is its own group with P = 0."""
    def common(a: list[int], b: list[int]) -> int:
        k = 0
        for x, y in zip(a, b):
            if x != y:
                break
            k += 1
        return k

    order = sorted(range(len(rows)), key=lambda i: rows[i])
    groups: list[list[int]] = []
    for i in order:  # sorted, so a group's common prefix is that of its first and last rows
        if groups and common(rows[groups[-1][0]], rows[i]) >= min_shared:
            groups[-1].append(i)
        else:
            groups.append([i])
    out = []
    for g in groups:
        shared = min(common(rows[g[0]], rows[g[-1]]), *(len(rows[i]) - keep[i] for i in g))
        out.append((shared if len(g) > 1 and shared >= min_shared else 0, g))
    return out


@torch.no_grad()
def shared_prefix_logprobs(model, rows: list[list[int]], ns: list[int], *, token_budget: int,
                           amp_dtype: torch.dtype | None = None, min_shared: int = 64) -> list[torch.Tensor]:
    """log p(row[t] | row[:t]) for each row's last ns[i] ids (1-D tensors): `response_logprobs`'s numbers
    up to float rounding. Rows sharing at least `min_shared` leading ids score that prefix once; each
    micro-batch of their suffixes (at most `token_budget` padded suffix tokens) attends to a copy of its
    keys and values, with positions continuing after it."""
    device = next(model.parameters()).device
    cache_arg = cache_argument(model)
    out: list[torch.Tensor | None] = [None] * len(rows)
    for shared, group in prefix_groups(rows, [n + 1 for n in ns], min_shared):
        prefix_cache = None
        if shared:
            with autocast(device, amp_dtype):
                prefix = model(input_ids=torch.tensor([rows[group[0]][:shared]], device=device), use_cache=True,
                               **({"logits_to_keep": 1} if _supports_logits_to_keep(model) else {}))
            prefix_cache = getattr(prefix, cache_arg)
        group = sorted(group, key=lambda i: len(rows[i]), reverse=True)
        start = 0
        while start < len(group):
            width = len(rows[group[start]]) - shared  # the longest suffix sets the padded width
            chunk = group[start:start + max(token_budget // width, 1)]
            start += len(chunk)
            ids, mask = left_pad([rows[i][shared:] for i in chunk], pad_id=0)
            ids, mask = ids.to(device), mask.to(device)
            n = max(ns[i] for i in chunk)
            extra = {"logits_to_keep": n + 1} if _supports_logits_to_keep(model) else {}
            positions = position_ids_from_mask(mask) + shared
            if prefix_cache is not None:
                cache = copy.deepcopy(prefix_cache)  # the forward appends to it; every chunk starts from the prefix
                cache.batch_repeat_interleave(len(chunk))
                extra[cache_arg] = cache
                mask = torch.cat([torch.ones((len(chunk), shared), dtype=mask.dtype, device=device), mask], dim=-1)
            with autocast(device, amp_dtype):
                logits = model(input_ids=ids, attention_mask=mask, position_ids=positions,
                               use_cache=prefix_cache is not None, **extra).logits
            logprobs = logprobs_from_logits(logits[:, -(n + 1):-1, :].float(), ids[:, -n:])  # (B, n)
            for r, i in enumerate(chunk):
                out[i] = logprobs[r, n - ns[i]:]
    return out


def _unwrapped(model):
    """The underlying transformers model of a PEFT wrapper (whose forward takes **kwargs)."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model
