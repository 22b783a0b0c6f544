"""The generation seam: prompt token ids in, sampled response token ids out.

`ModelAgent` talks only to a `GenerationBackend`. `HFBackend` is the in-process implementation (our
batched KV-cache sampler on the training model itself, so it always samples from the current weights).
Another engine plugs in by implementing `generate` — e.g. a vLLM server: send the prompt token ids to its
completions endpoint with `temperature`, `max_tokens` and `stop`, return the generated token ids (ask it
for them, do not re-tokenise text), and push the trainer's weights to it after every optimizer step.
Log-probs are always recomputed by the trainer, so a backend never has to return them.
"""

from __future__ import annotations

from typing import Protocol

import torch

from sdar.rollout.sampler import sample


class GenerationBackend(Protocol):
    def generate(self, prompts: list[list[int]], *, max_new_tokens: int, temperature: float,
                 stop_strings: tuple[str, ...]) -> list[list[int]]:
        """One response (token ids, stop included, no padding) per prompt; temperature 0 is greedy."""
        ...


class HFBackend:
    """Samples from a Hugging Face causal LM in this process."""

    def __init__(self, model, tokenizer, *, generator: torch.Generator | None = None,
                 amp_dtype: torch.dtype | None = None):
        self.model, self.tokenizer, self.generator, self.amp_dtype = model, tokenizer, generator, amp_dtype

    def generate(self, prompts, *, max_new_tokens, temperature, stop_strings):
        return sample(self.model, self.tokenizer, prompts, max_new_tokens=max_new_tokens, temperature=temperature,
                      stop_strings=stop_strings, generator=self.generator, amp_dtype=self.amp_dtype)
