"""Typed records shared by every part of sdar. No logic lives here.

Vocabulary (see the README glossary):
- task: one environment instance to solve, fixed by an env name and a seed;
- turn: one observation -> generated response -> action exchange; each turn is one training sample;
- trajectory: all turns of one episode on one task;
- group: the G trajectories rolled out on the same task (GRPO normalises rewards inside it);
- step: one rollout of several groups followed by one optimizer update.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Task:
    """One environment instance. `privileged` is read only by the teacher's context builder."""

    env: str
    seed: int
    task_type: str
    goal: str
    privileged: dict[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class Observation:
    """What the agent sees after reset or after an action."""

    text: str
    admissible_actions: tuple[str, ...]
    done: bool = False
    won: bool = False


@dataclass
class Turn:
    """One turn sample: the student's user message and prompt ids, its sampled response, the parsed action.

    `observation` is what the environment answered to the action (the next turn shows it).
    """

    turn_index: int
    prompt: str
    prompt_ids: list[int]
    response_ids: list[int]
    response_text: str
    action: str | None
    valid: bool
    observation: str
    reward: float = 0.0


@dataclass
class Trajectory:
    """One episode of one task by one group member."""

    task: Task
    group_id: int
    turns: list[Turn] = field(default_factory=list)
    won: bool = False
    episode_return: float = 0.0
    failed: str | None = None
