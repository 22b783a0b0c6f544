"""Batched sampling from a HF causal LM: one prefill over left-padded prompts, then one token per step
with the KV cache, every row stopping on its own at EOS or at a stop string.

We write this loop instead of calling `generate` so that exactly what was sampled is known: each row's
response is its sampled tokens up to and including the stop (EOS counts as sampled), and nothing after.
Padding is never part of a response, even when the pad token equals EOS. The loop knows nothing about
environments or losses.
"""

from __future__ import annotations

import contextlib
import inspect

import torch


def left_pad(rows: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(input_ids, attention_mask), both (B, L), rows right-aligned."""
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        if row:
            ids[i, width - len(row):] = torch.tensor(row, dtype=torch.long)
            mask[i, width - len(row):] = 1
    return ids, mask


def position_ids_from_mask(mask: torch.Tensor) -> torch.Tensor:
    """Positions counting real tokens only, so left padding does not shift them."""
    return (mask.cumsum(-1) - 1).clamp(min=0)


def autocast(device: torch.device, dtype: torch.dtype | None):
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def _next_tokens(logits: torch.Tensor, temperature: float, generator: torch.Generator | None) -> torch.Tensor:
    if temperature == 0:
        return logits.argmax(-1)
    probs = torch.softmax(logits.float() / temperature, dim=-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


@torch.no_grad()
def sample(
    model,
    tokenizer,
    prompts: list[list[int]],
    *,
    max_new_tokens: int,
    temperature: float,
    stop_strings: tuple[str, ...] = (),
    generator: torch.Generator | None = None,
    amp_dtype: torch.dtype | None = None,
) -> list[list[int]]:
    """Sampled response token ids per prompt (temperature 0 = greedy)."""
    device = next(model.parameters()).device
    eos_ids = _eos_ids(model, tokenizer)
    ids, mask = left_pad(prompts, tokenizer.pad_token_id)
    ids, mask = ids.to(device), mask.to(device)
    positions = position_ids_from_mask(mask)
    responses: list[list[int]] = [[] for _ in prompts]
    done = [False] * len(prompts)
    cache_arg = cache_argument(model)
    extra = {"logits_to_keep": 1} if "logits_to_keep" in _forward_parameters(model) else {}
    past = None
    step_ids = ids
    for _ in range(max_new_tokens):
        with autocast(device, amp_dtype):
            out = model(input_ids=step_ids, attention_mask=mask, position_ids=positions, use_cache=True,
                        **{cache_arg: past}, **extra)
        past = getattr(out, cache_arg)
        logits = out.logits[:, -1, :]  # (B, V)
        gen_device = generator.device if generator is not None else device
        nxt = _next_tokens(logits.to(gen_device), temperature, generator).to(device)
        for i, token in enumerate(nxt.tolist()):
            if done[i]:
                continue
            responses[i].append(token)
            done[i] = token in eos_ids or _ends_with_stop(tokenizer, responses[i], stop_strings)
        if all(done):
            break
        step_ids = nxt.unsqueeze(-1)  # (B, 1)
        mask = torch.cat([mask, torch.ones_like(step_ids)], dim=-1)
        positions = positions[:, -1:] + 1
    return responses


def _forward_parameters(model) -> set[str]:
    return set(inspect.signature(_unwrapped(model).forward).parameters)


def cache_argument(model) -> str:
    """transformers >= 5.2x names the KV cache `cache`; older releases and many models `past_key_values`."""
    return "cache" if "cache" in _forward_parameters(model) else "past_key_values"


def _eos_ids(model, tokenizer) -> set[int]:
    ids = {tokenizer.eos_token_id}
    configured = getattr(model.generation_config, "eos_token_id", None)
    if isinstance(configured, int):
        ids.add(configured)
    elif configured:
        ids.update(configured)
    return {i for i in ids if i is not None}


def _ends_with_stop(tokenizer, response: list[int], stop_strings: tuple[str, ...]) -> bool:
    if not stop_strings:
        return False
    tail = tokenizer.decode(response[-12:], skip_special_tokens=False)
    return any(s in tail for s in stop_strings)


def _unwrapped(model):
    """The underlying transformers model of a PEFT wrapper (whose forward takes **kwargs)."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model
