"""The skill library and the providers that turn a task into the teacher's privileged text.

A provider is `provider(task, group=(), own=None) -> str`, looked up by name; it returns the whole
privileged block, header included, or "" when it has nothing to offer (the teacher then sees exactly
the student's prompt). Providers read the task (type, goal, privileged facts) and, for `sibling`, the
trajectories of the same group; they never see tensors. The teacher decides where the block goes and
how many tokens it may take.
"""

from __future__ import annotations

import random
from functools import lru_cache
from typing import Callable, Sequence

from sdar.skills import alfworld, household, search_qa, shop
from sdar.types import Task, Trajectory

LIBRARIES = {"household": household, "alfworld": alfworld, "shop": shop, "search_qa": search_qa}
SKILLS_HEADER = "Skills that help with this task:"
RANDOM_SKILLS = 5
BM25_TOP_K = 5


def library_for(env: str):
    return LIBRARIES.get(env)


def skills_for(env: str, task_type: str) -> list[str]:
    """General skills plus the ones for this task type."""
    library = library_for(env)
    if library is None:
        return []
    return list(library.GENERAL) + list(library.BY_TYPE.get(task_type, ()))


def skill_bank(env: str) -> list[str]:
    """Every skill of the environment's library: general ones first, then each type's."""
    library = library_for(env)
    if library is None:
        return []
    # dict.fromkeys: a library may list one block under several types (search_qa: kinds and data sources)
    return list(dict.fromkeys(list(library.GENERAL) + [s for skills in library.BY_TYPE.values() for s in skills]))


def format_skills(skills: list[str]) -> str:
    return f"{SKILLS_HEADER}\n" + "\n".join(f"- {s}" for s in skills) if skills else ""


def _numbered(header: str, actions: Sequence[str]) -> str:
    return f"{header}\n" + "\n".join(f"{i}. {a}" for i, a in enumerate(actions, 1)) if actions else ""


def skills_by_type(task: Task, group: Sequence[Trajectory] = (), own: Trajectory | None = None) -> str:
    """The reference's default: general skills plus the task type's."""
    return format_skills(skills_for(task.env, task.task_type))


def skills_all(task: Task, group: Sequence[Trajectory] = (), own: Trajectory | None = None) -> str:
    """The whole skill bank, whatever the task."""
    return format_skills(skill_bank(task.env))


def skills_random(task: Task, group: Sequence[Trajectory] = (), own: Trajectory | None = None) -> str:
    """Random skills from the bank, fixed per task (the paper's random-retrieval ablation)."""
    bank = skill_bank(task.env)
    return format_skills(random.Random(task.seed).sample(bank, min(RANDOM_SKILLS, len(bank))))


@lru_cache(maxsize=None)
def _bm25_index(env: str):
    import bm25s

    bank = skill_bank(env)
    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize(bank, stopwords="en", show_progress=False), show_progress=False)
    return retriever, bank


def skills_bm25(task: Task, group: Sequence[Trajectory] = (), own: Trajectory | None = None) -> str:
    """The skills BM25 ranks highest for the task's goal text, of those sharing a word with it ("" when
    none does: a skill that scores 0 is not retrieved, whatever its place in the ranking)."""
    import bm25s

    if not skill_bank(task.env):
        return ""
    retriever, bank = _bm25_index(task.env)
    k = min(BM25_TOP_K, len(bank))
    ids, scores = retriever.retrieve(bm25s.tokenize([task.goal], stopwords="en", show_progress=False), k=k,
                                     show_progress=False)
    hits = [bank[int(i)] for i, score in zip(ids[0], scores[0]) if score > 0]
    return format_skills(hits) if hits else ""


def sibling(task: Task, group: Sequence[Trajectory] = (), own: Trajectory | None = None) -> str:
    """The actions of a successful trajectory from the same group (another one if there is one), as in
    SDPO's re-prompting; "" when no member of the group succeeded."""
    winners = [t for t in group if t.won]
    others = [t for t in winners if t is not own]
    chosen = (others or winners or [None])[0]
    if chosen is None:
        return ""
    return _numbered("A successful attempt at this task took these actions:",
                     [turn.action for turn in chosen.turns if turn.valid])


def ground_truth(task: Task, group: Sequence[Trajectory] = (), own: Trajectory | None = None) -> str:
    """The environment's own expert plan for the task, where it has one."""
    return _numbered("An expert solves this task with these actions:", task.privileged.get("expert_plan", []))


Provider = Callable[..., str]
PROVIDERS: dict[str, Provider] = {f.__name__: f for f in (
    skills_by_type, skills_all, skills_random, skills_bm25, sibling, ground_truth)}


def get_provider(name: str) -> Provider:
    if name not in PROVIDERS:
        raise KeyError(f"unknown context source {name!r}; valid: {', '.join(PROVIDERS)}")
    return PROVIDERS[name]
