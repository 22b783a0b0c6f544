"""What the student sees each turn, and how its text becomes an action.

The user message follows the reference (verl-agent's ALFWorld template): the task, the step count, the
last H observations and actions, the current observation and the admissible actions, then the answer
format. This module renders *student* messages only; privileged context is the teacher's business
(`sdar.teacher`) and never appears here. Environments whose actions are not picked from a list (search
with free-text queries, say) register their own `PromptFormat`; an `EnvSpec` names its format.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

SYSTEM_PROMPT = "You are an expert agent. Solve the task one action per turn."

_FORMAT_THINK = (
    "Now it's your turn to take an action. You should first reason step-by-step about the current "
    "situation. This reasoning process MUST be enclosed within <think> </think> tags. Once you've finished "
    "your reasoning, you should choose an admissible action for the current step and present it within "
    "<action> </action> tags."
)
_FORMAT_ACT = (
    "Now it's your turn to take an action. Choose one admissible action for the current step and present "
    "it within <action> </action> tags, for example <action>look</action>."
)
_ACTION_RE = re.compile(r"<action>(.*?)</action>", re.DOTALL | re.IGNORECASE)
MAX_ACTION_CHARS = 200


def render_user_message(
    goal: str,
    step: int,
    history: list[tuple[str, str]],
    observation: str,
    admissible: tuple[str, ...],
    *,
    thinking: bool,
) -> str:
    """The student's user message at turn `step` (0-based); `history` holds (observation, action) pairs
    already cut to the window, oldest first."""
    lines = [f"Your task is to: {goal}"]
    if step > 0:
        lines.append(
            f"Prior to this step, you have already taken {step} step(s). Below are the most recent "
            f"{len(history)} observations and the corresponding actions you took:"
        )
        first = step - len(history) + 1
        for i, (obs, action) in enumerate(history):
            lines.append(f"[Observation {first + i}: '{obs}', Action {first + i}: '{action}']")
    lines.append(f"You are now at step {step + 1} and your current observation is: {observation}")
    lines.append("Your admissible actions of the current situation are: [" + ", ".join(
        f"'{a}'" for a in admissible) + "].")
    lines.append("")
    lines.append(_FORMAT_THINK if thinking else _FORMAT_ACT)
    return "\n".join(lines)


def student_messages(user_message: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user_message}]


def _normalise(text: str) -> str:
    return " ".join(text.lower().split())


def parse_action(text: str, admissible: tuple[str, ...], *, thinking: bool) -> str | None:
    """The admissible action the response names, or None if the response is invalid.

    Valid means: exactly one <action>...</action> block whose content, lower-cased and with whitespace
    collapsed, equals one admissible action; with thinking on, a <think>...</think> block before it.
    """
    blocks = _ACTION_RE.findall(text)
    if len(blocks) != 1 or len(blocks[0]) > MAX_ACTION_CHARS:
        return None
    if thinking and not re.search(r"<think>.*?</think>.*<action>", text, re.DOTALL | re.IGNORECASE):
        return None
    wanted = _normalise(blocks[0])
    for action in admissible:
        if _normalise(action) == wanted:
            return action
    return None


@dataclass(frozen=True)
class PromptFormat:
    """How one family of environments is prompted and how its responses become actions."""

    name: str
    render: Callable[..., str]
    """(goal, step, history, observation, admissible, *, thinking) -> the student's user message."""
    parse: Callable[..., str | None]
    """(text, admissible, *, thinking) -> the action to send to the environment, or None if invalid."""
    stop_strings: tuple[str, ...]
    """Generation stops once one of these is written (the closing tag of an action)."""


FORMATS: dict[str, PromptFormat] = {}


def register_format(fmt: PromptFormat) -> None:
    FORMATS[fmt.name] = fmt


def get_format(name: str) -> PromptFormat:
    if name not in FORMATS:
        raise KeyError(f"unknown prompt format {name!r}; valid: {', '.join(FORMATS)}")
    return FORMATS[name]


register_format(PromptFormat("admissible", render_user_message, parse_action, ("</action>",)))
