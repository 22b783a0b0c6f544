"""Score token sequences with a causal LM: log-probs (and entropy) of the last `n` tokens of each row.

Rows are left-padded so every response ends in the last column; scoring the last `n` positions then
covers every row's response (shorter responses are masked by the caller). Only the logits of those
positions are materialised (`logits_to_keep`) when the model supports it: the vocabulary is large and
the prompt is long.

`shared_prefix_logprobs` gives the same numbers for rows that share a long prefix (the teacher's rows:
every turn of a group starts with the same privileged block and task), scoring each shared prefix once
and the rest of each row against its cached keys and values. `detached_prompt_logprobs` gives them too,
with the gradient cut at the prompt (a cheaper supervised update). This module knows nothing about
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
    logits = response_logits(model, input_ids, attention_mask, n, amp_dtype=amp_dtype)
    logprobs = logprobs_from_logits(logits, input_ids[:, -n:])
    entropy = entropy_from_logits(logits) if with_entropy else None
    return logprobs, entropy


def detached_prompt_logprobs(model, input_ids: torch.Tensor, attention_mask: torch.Tensor, n: int, *,
                             amp_dtype: torch.dtype | None = None) -> torch.Tensor:
    """`response_logprobs`'s (B, n) log-probs, with the gradient cut at the prompt (`response_logits`)."""
    logits = response_logits(model, input_ids, attention_mask, n, amp_dtype=amp_dtype, detach_prompt=True)
    return logprobs_from_logits(logits, input_ids[:, -n:])


def response_logits(model, input_ids: torch.Tensor, attention_mask: torch.Tensor, n: int, *,
                    amp_dtype: torch.dtype | None = None, detach_prompt: bool = False) -> torch.Tensor:
    """(B, n, V) float32 logits of the last n columns: position t predicts ids[:, t].

    `detach_prompt`: all but the last n + 1 columns are forwarded without autograd into a KV cache, and
    the last n + 1 (every response and the token before it) with autograd, attending to that cache. The
    numbers are the same; the gradient counts the weights' effect on the responses' own positions only,
    not on the keys and values of the prompt they read. Where prompts are most of the tokens (household
    demonstrations: 95%) that skips the backward pass and the stored activations of nearly all of them."""
    split = input_ids.shape[1] - (n + 1)
    if not detach_prompt or split <= 0:
        extra = {"logits_to_keep": n + 1} if _supports_logits_to_keep(model) else {}
        with autocast(input_ids.device, amp_dtype):
            out = model(input_ids=input_ids, attention_mask=attention_mask,
                        position_ids=position_ids_from_mask(attention_mask), use_cache=False, **extra)
        return out.logits[:, -(n + 1):-1, :].float()
    positions = position_ids_from_mask(attention_mask)
    cache_arg = cache_argument(model)
    with torch.no_grad(), autocast(input_ids.device, amp_dtype):
        prefix = model(input_ids=input_ids[:, :split], attention_mask=attention_mask[:, :split],
                       position_ids=positions[:, :split], use_cache=True,
                       **({"logits_to_keep": 1} if _supports_logits_to_keep(model) else {}))
    with autocast(input_ids.device, amp_dtype):
        out = model(input_ids=input_ids[:, split:], attention_mask=attention_mask, position_ids=positions[:, split:],
                    use_cache=True, **{cache_arg: getattr(prefix, cache_arg)})
    return out.logits[:, :-1, :].float()


def prefix_groups(rows: list[list[int]], keep: list[int], min_shared: int) -> list[tuple[int, list[int]]]:
    """(prefix length P, row indices) groups covering every row once, sharing as many tokens as they can.

    Rows are sorted by their ids, so any run of neighbours has the common prefix its adjacent pairs
    agree on (the smallest of their common prefixes). A run is kept whole, P = that prefix (short of
    every member's last `keep[i]` ids), or split where its neighbours agree least, whichever saves more
    tokens ((members − 1)·P summed); runs with P < `min_shared` share nothing and go, together, into one
    group with P = 0."""
    def common(a: list[int], b: list[int]) -> int:
        k = 0
        for x, y in zip(a, b):
            if x != y:
                break
            k += 1
        return k

    order = sorted(range(len(rows)), key=lambda i: rows[i])
    agree = [common(rows[a], rows[b]) for a, b in zip(order, order[1:])]  # agree[k]: order[k] and order[k+1]

    def best(lo: int, hi: int) -> tuple[int, list[tuple[int, list[int]]]]:  # (saved tokens, groups) of order[lo:hi]
        if hi - lo < 2:
            return 0, []
        least = min(agree[lo:hi - 1])
        shared = min(least, *(len(rows[i]) - keep[i] for i in order[lo:hi]))
        whole = ((hi - lo - 1) * shared, [(shared, order[lo:hi])] if shared >= min_shared else [])
        if least == max(agree[lo:hi - 1]):  # nowhere to split
            return whole if shared >= min_shared else (0, [])
        cuts = [lo] + [k + 1 for k in range(lo, hi - 1) if agree[k] == least] + [hi]
        parts = [best(a, b) for a, b in zip(cuts, cuts[1:])]
        split = (sum(saved for saved, _ in parts), [g for _, groups in parts for g in groups])
        return whole if shared >= min_shared and whole[0] >= split[0] else split

    groups = best(0, len(rows))[1]
    grouped = {i for _, g in groups for i in g}
    loners = [i for i in range(len(rows)) if i not in grouped]
    return groups + ([(0, loners)] if loners else [])


@torch.no_grad()
def shared_prefix_logprobs(model, rows: list[list[int]], ns: list[int], *, token_budget: int,
                           amp_dtype: torch.dtype | None = None, min_shared: int = 64, with_greedy: bool = False):
    """log p(row[t] | row[:t]) for each row's last ns[i] ids (1-D tensors): `response_logprobs`'s numbers
    up to float rounding. Rows sharing at least `min_shared` leading ids score that prefix once; each
    micro-batch of their suffixes (at most `token_budget` padded suffix tokens) attends to a copy of its
    keys and values, with positions continuing after it. `with_greedy`: also, per row, whether each of
    those ids is the argmax of its distribution (bool tensors), i.e. what greedy decoding would write."""
    device = next(model.parameters()).device
    cache_arg = cache_argument(model)
    out: list[torch.Tensor | None] = [None] * len(rows)
    greedy: list[torch.Tensor | None] = [None] * len(rows)
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
            logits = logits[:, -(n + 1):-1, :].float()
            logprobs = logprobs_from_logits(logits, ids[:, -n:])  # (B, n)
            hits = logits.argmax(dim=-1) == ids[:, -n:]  # (B, n)
            for r, i in enumerate(chunk):
                out[i], greedy[i] = logprobs[r, n - ns[i]:], hits[r, n - ns[i]:]
    return (out, greedy) if with_greedy else out


def _unwrapped(model):
    """The underlying transformers model of a PEFT wrapper (whose forward takes **kwargs)."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model
