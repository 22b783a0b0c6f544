"""Turn samples into padded micro-batches for scoring and the update.

Each row is `prompt ⊕ response`, left-padded, so every response ends in the last column and the last
`n` columns hold all responses of the micro-batch (`n` = its longest response). The teacher's rows are
`teacher_prompt ⊕ the same response ids`, laid out the same way, so the two windows line up column for
column and the alignment check compares tensors directly. `loss_mask` is 1 exactly on sampled response
tokens: never on prompt, privileged or padding tokens.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from sdar.rollout.sampler import left_pad
from sdar.types import Task, Trajectory


@dataclass
class Sample:
    """One turn sample ready for the update."""

    task: Task
    user_message: str
    prompt_ids: list[int]
    response_ids: list[int]
    reward: float
    group_id: int
    turn_index: int
    traj_index: int
    won: bool
    teacher_prompt_ids: list[int] | None = None
    privileged: str = ""  # the block under the teacher's prompt, before its token budget; "" without a teacher


@dataclass
class MicroBatch:
    """Padded tensors for a few samples; scoring phases fill the `*_logprobs` fields."""

    rows: list[int]
    n: int
    input_ids: torch.Tensor  # (B, L)
    attention_mask: torch.Tensor  # (B, L)
    loss_mask: torch.Tensor  # (B, n) float, 1 on sampled response tokens
    teacher_input_ids: torch.Tensor | None = None  # (B, Lt)
    teacher_attention_mask: torch.Tensor | None = None  # (B, Lt)
    advantages: torch.Tensor | None = None  # (B,)
    extras: dict[str, torch.Tensor] = field(default_factory=dict)  # teacher/ref log-probs, (B, n)

    @property
    def num_tokens(self) -> int:
        return int(self.loss_mask.sum())


def samples_from(trajectories: list[Trajectory]) -> list[Sample]:
    """Every turn with a non-empty response becomes a sample carrying its own reward; an episode the
    environment failed (a crash or a hang: `traj.failed`) gives none, since its zero return would read
    as the policy's failure in its group's advantages."""
    out = []
    for k, traj in enumerate(trajectories):
        for turn in traj.turns if traj.failed is None else ():
            if turn.response_ids:
                out.append(Sample(traj.task, turn.prompt, turn.prompt_ids, turn.response_ids, turn.reward,
                                  traj.group_id, turn.turn_index, k, traj.won))
    return out


def plan_micro_batches(samples: list[Sample], token_budget: int) -> list[list[int]]:
    """Group sample indices, longest first, so each micro-batch's padded size stays under the budget."""
    def width(i: int) -> int:
        s = samples[i]
        prompt = max(len(s.prompt_ids), len(s.teacher_prompt_ids or ()))
        return prompt + len(s.response_ids)

    order = sorted(range(len(samples)), key=width, reverse=True)
    chunks: list[list[int]] = []
    for i in order:
        # Sorted longest first, so the chunk's first row sets its padded width.
        if chunks and (len(chunks[-1]) + 1) * width(chunks[-1][0]) <= token_budget:
            chunks[-1].append(i)
        else:
            chunks.append([i])
    return chunks


class MaskError(AssertionError):
    """A loss mask covers something other than the sampled response tokens."""


def check_loss_mask(mb: MicroBatch, samples: list[Sample]) -> None:
    """Raise unless, row by row, the masked tokens are exactly that sample's sampled response ids (so no
    prompt, observation, privileged or padding token can enter the loss)."""
    window = mb.input_ids[:, -mb.n:].cpu()  # (B, n)
    mask = mb.loss_mask.bool().cpu()  # (B, n)
    for r, row in enumerate(mb.rows):
        response = samples[row].response_ids
        if window[r][mask[r]].tolist() != response or int(mask[r].sum()) != len(response):
            raise MaskError(f"sample {row}: the loss mask does not cover exactly its {len(response)} response tokens")
        if mask[r, : mb.n - len(response)].any():
            raise MaskError(f"sample {row}: the loss mask reaches into the prompt")


def build_micro_batch(samples: list[Sample], rows: list[int], pad_id: int, device) -> MicroBatch:
    chosen = [samples[i] for i in rows]
    n = max(len(s.response_ids) for s in chosen)
    ids, mask = left_pad([s.prompt_ids + s.response_ids for s in chosen], pad_id)
    loss_mask = torch.zeros((len(chosen), n))
    for r, s in enumerate(chosen):
        loss_mask[r, n - len(s.response_ids):] = 1.0
    mb = MicroBatch(rows, n, ids.to(device), mask.to(device), loss_mask.to(device))
    if all(s.teacher_prompt_ids is not None for s in chosen):
        t_ids, t_mask = left_pad([s.teacher_prompt_ids + s.response_ids for s in chosen], pad_id)
        mb.teacher_input_ids, mb.teacher_attention_mask = t_ids.to(device), t_mask.to(device)
    return mb
