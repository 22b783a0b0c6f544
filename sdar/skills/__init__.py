"""The skill library and the providers that turn a task into the teacher's privileged text.

A provider is a function `Task -> str`, looked up by name. Providers read the task (its type, its goal,
its privileged facts); they never see the student's tensors. The teacher decides where the text goes
and how many tokens it may take.
"""

from __future__ import annotations

from typing import Callable

from sdar.skills import household
from sdar.types import Task

LIBRARIES = {"household": household}


def skills_for(env: str, task_type: str) -> list[str]:
    """General skills plus the ones for this task type."""
    library = LIBRARIES.get(env)
    if library is None:
        return []
    return list(library.GENERAL) + list(library.BY_TYPE.get(task_type, ()))


def format_skills(skills: list[str]) -> str:
    return "\n".join(f"- {s}" for s in skills)


def skills_by_type(task: Task) -> str:
    """The reference's default: general skills plus the task type's skills."""
    return format_skills(skills_for(task.env, task.task_type))


PROVIDERS: dict[str, Callable[[Task], str]] = {"skills_by_type": skills_by_type}


def get_provider(name: str) -> Callable[[Task], str]:
    if name not in PROVIDERS:
        raise KeyError(f"unknown context source {name!r}; valid: {', '.join(sorted(PROVIDERS))}")
    return PROVIDERS[name]
