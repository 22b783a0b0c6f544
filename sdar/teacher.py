"""The teacher branch: the same model, shown privileged context, scoring the student's own tokens.

Improvements over the reference, which prepends the skill text outside the chat template and then cuts
the whole prompt to the student's budget (so long skills are silently cut first):
- the privileged block goes *inside* the chat template, in the user turn, before the student's message;
- it has its own token budget (`context_tokens`), and only it is ever shortened: the task, the history
  and the observation reach the teacher intact;
- `check_alignment` asserts, on the tensors, that the teacher scores exactly the student's response ids.
This module builds prompts and checks; the student's tensors never contain privileged tokens.
"""

from __future__ import annotations

import torch

from sdar.rollout.collect import encode_chat
from sdar.rollout.prompts import student_messages


class AlignmentError(AssertionError):
    """Teacher and student would score different response tokens."""


def fit_to_budget(tokenizer, text: str, budget: int) -> str:
    """`text` cut to at most `budget` tokens (at a token boundary, marked with an ellipsis)."""
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    if len(ids) <= budget:
        return text
    return tokenizer.decode(ids[: max(budget - 1, 0)]) + " …"


def teacher_messages(user_message: str, privileged: str) -> list[dict[str, str]]:
    """The student's messages with the privileged block (header included) at the top of the user turn;
    with an empty block, exactly the student's messages."""
    messages = student_messages(user_message)
    if privileged:
        messages[-1] = {"role": "user", "content": f"{privileged}\n\n{user_message}"}
    return messages


def teacher_prompt_ids(tokenizer, user_message: str, privileged: str, *, budget: int) -> list[int]:
    return encode_chat(tokenizer, teacher_messages(user_message, fit_to_budget(tokenizer, privileged, budget)))


def privileged_renderer(tokenizer, provider, *, budget: int):
    """A `prompt_messages(message, task)` for agents whose own prompt shows a task-only provider's block:
    Skill-GRPO's student while training, and evaluation with skills."""
    return lambda message, task: teacher_messages(message, fit_to_budget(tokenizer, provider(task), budget))


def check_alignment(student_ids: torch.Tensor, teacher_ids: torch.Tensor, loss_mask: torch.Tensor) -> None:
    """Raise unless both (B, n) response windows hold the same token ids wherever the loss looks."""
    on = loss_mask.bool()
    if student_ids.shape != teacher_ids.shape or not torch.equal(student_ids[on], teacher_ids[on]):
        bad = int((student_ids != teacher_ids)[on].sum()) if student_ids.shape == teacher_ids.shape else -1
        raise AlignmentError(f"teacher and student response tokens differ at {bad} loss positions")
