"""Seeded generation of one household room and the task set in it.

`generate(seed)` draws, from `random.Random(seed)` alone, a task type, a goal, a themed room of
receptacles and the objects lying in them, such that the goal is reachable and not already met.
It deliberately knows nothing about commands, game state, observation text or how to solve the task.
"""

from __future__ import annotations

import random
from collections.abc import Collection
from dataclasses import dataclass

from sdar.envs.household.catalogue import (
    LAMP_HOLDERS,
    OBJECTS,
    RECEPTACLES,
    TASK_THEMES,
    THEMES,
    TREATMENTS,
    preposition,
    serves,
)
from sdar.envs.names import kind, natural_key

TASK_TYPES = ("pick", "look", "clean", "heat", "cool", "pick_two")
# At most this many objects start in one receptacle, so the take/examine part of an admissible
# list stays short; the agent may pile more up later.
CAPACITY = 4


@dataclass(frozen=True)
class Goal:
    """What must become true. `receptacle_kind` is None for look tasks (the desklamp decides)."""

    task_type: str
    object_kind: str
    receptacle_kind: str | None
    text: str


@dataclass(frozen=True)
class World:
    """An initial room: receptacles in natural order, their contents, where the desklamp stands."""

    goal: Goal
    receptacles: tuple[str, ...]
    contents: dict[str, tuple[str, ...]]
    lamp: str | None


def generate(seed: int) -> World:
    rng = random.Random(seed)
    # seed % 6 rather than a draw: any six consecutive seeds hold every task type exactly once.
    task_type = TASK_TYPES[seed % len(TASK_TYPES)]
    pool = THEMES[rng.choice(TASK_THEMES[task_type])]
    lamp_kind = _choose_lamp_kind(rng, task_type, pool)
    object_kind, receptacle_kind, spawn_kind = _choose_goal(rng, task_type, pool, lamp_kind)
    required = [k for k in (receptacle_kind, spawn_kind, lamp_kind) if k is not None]
    if task_type in TREATMENTS:
        required.append(TREATMENTS[task_type][1])
    receptacles = _receptacles(rng, pool, required)
    lamp = rng.choice([r for r in receptacles if kind(r) == lamp_kind]) if lamp_kind else None
    contents: dict[str, list[str]] = {r: [] for r in receptacles}
    avoid = lamp if task_type == "look" else None
    _place_goal_objects(rng, contents, task_type, object_kind, receptacle_kind, avoid)
    _place_distractors(rng, contents, object_kind)
    goal = Goal(task_type, object_kind, receptacle_kind,
                _goal_text(rng, task_type, object_kind, receptacle_kind))
    frozen = {r: tuple(objs) for r, objs in contents.items()}
    return World(goal, receptacles, frozen, lamp)


def _choose_lamp_kind(rng: random.Random, task_type: str, pool: tuple[str, ...]) -> str | None:
    """Look tasks need a desklamp; elsewhere one stands in half the rooms with a place for it."""
    holders = [k for k in LAMP_HOLDERS if k in pool]
    if not holders or (task_type != "look" and rng.random() < 0.5):
        return None
    return rng.choice(holders)


def _goal_kinds(object_kind: str, task_type: str, pool: tuple[str, ...]) -> list[str]:
    """Receptacle kinds the object may have to end up in. The treating appliance and the bin
    are left out for treatment tasks ("put a clean apple in garbagecan" reads as nonsense)."""
    places = [p for p in OBJECTS[object_kind][0] if p in pool]
    if task_type in TREATMENTS:
        places = [p for p in places if p not in (TREATMENTS[task_type][1], "garbagecan")]
    return places


def _spawn_kinds(object_kind: str, present: Collection[str], excluded: tuple) -> list[str]:
    """Kinds the object may start in, in catalogue order (never a set: order feeds the rng)."""
    return [p for p in OBJECTS[object_kind][0] if p in present and p not in excluded]


def _choose_goal(
    rng: random.Random, task_type: str, pool: tuple[str, ...], lamp_kind: str | None
) -> tuple[str, str | None, str]:
    """Pick (object kind, goal receptacle kind, one kind the object may start in).

    The object kind is drawn first and uniformly so that kinds with many plausible places do not
    dominate. The start kind differs from the goal kind so the goal is never met at reset."""
    options: dict[str, list[tuple[str | None, str]]] = {}
    for object_kind in sorted(OBJECTS):
        if not serves(object_kind, task_type):
            continue
        if task_type == "look":
            pairs = [(None, s) for s in _spawn_kinds(object_kind, pool, (lamp_kind,))]
        else:
            pairs = [(g, s) for g in _goal_kinds(object_kind, task_type, pool)
                     for s in _spawn_kinds(object_kind, pool, (g,))]
        if pairs:
            options[object_kind] = pairs
    object_kind = rng.choice(sorted(options))
    receptacle_kind, spawn_kind = rng.choice(options[object_kind])
    return object_kind, receptacle_kind, spawn_kind


def _receptacles(rng: random.Random, pool: tuple[str, ...], required: list[str]) -> tuple[str, ...]:
    """Numbered receptacles, 8-14 of them: the required kinds once each, then random instances."""
    counts = {k: 1 for k in required}
    capacity = sum(RECEPTACLES[k][1] for k in pool)
    total = min(rng.randint(8, 14), capacity)
    while sum(counts.values()) < total:
        growable = [k for k in pool if counts.get(k, 0) < RECEPTACLES[k][1]]
        chosen = rng.choice(growable)
        counts[chosen] = counts.get(chosen, 0) + 1
    names = [f"{k} {i}" for k, n in counts.items() for i in range(1, n + 1)]
    return tuple(sorted(names, key=natural_key))


def _place(rng: random.Random, contents: dict[str, list[str]], name: str, where: list[str]) -> bool:
    free = [r for r in where if len(contents[r]) < CAPACITY]
    if not free:
        return False
    contents[rng.choice(free)].append(name)
    return True


def _place_goal_objects(
    rng: random.Random,
    contents: dict[str, list[str]],
    task_type: str,
    object_kind: str,
    receptacle_kind: str | None,
    avoid: str | None,
) -> None:
    """Goal objects go first (so there is always room), never into a goal-kind receptacle (the
    task would start solved) and, for look tasks, not under the lamp (it would need no search)."""
    count = rng.choice((2, 2, 3)) if task_type == "pick_two" else rng.choice((1, 1, 2))
    spawn = _spawn_kinds(object_kind, {kind(r) for r in contents}, (receptacle_kind,))
    where = [r for r in contents if kind(r) in spawn and r != avoid]
    for i in range(1, count + 1):
        if not _place(rng, contents, f"{object_kind} {i}", where):
            raise AssertionError(f"no room for goal object {object_kind} {i}")  # unreachable


def _place_distractors(rng: random.Random, contents: dict[str, list[str]], goal_kind: str) -> None:
    """Other kinds, one or two instances each, each where it plausibly lies, up to 8-16 objects.
    The goal kind is excluded so the number of goal instances stays what the task intends."""
    present = {kind(r) for r in contents}
    kinds = [k for k in sorted(OBJECTS)
             if k != goal_kind and any(p in present for p in OBJECTS[k][0])]
    rng.shuffle(kinds)
    target = rng.randint(8, 16)
    placed = sum(len(objs) for objs in contents.values())
    for object_kind in kinds:
        where = [r for r in contents if kind(r) in OBJECTS[object_kind][0]]
        for i in range(1, (2 if rng.random() < 0.3 else 1) + 1):
            if placed >= target:
                return
            if not _place(rng, contents, f"{object_kind} {i}", where):
                break  # no "pen 2" without a "pen 1"
            placed += 1


def _goal_text(rng: random.Random, task_type: str, obj: str, recep: str | None) -> str:
    """An ALFWorld-style goal sentence (without the "Your task is to: " prefix)."""
    if task_type == "look":
        return rng.choice((f"look at {obj} under the desklamp.",
                           f"examine the {obj} with the desklamp."))
    assert recep is not None
    prep = preposition(recep)
    if task_type == "pick":
        return rng.choice((f"put a {obj} {prep} {recep}.", f"put some {obj} {prep} {recep}."))
    if task_type == "pick_two":
        return rng.choice((f"put two {obj} {prep} {recep}.",
                           f"find two {obj} and put them {prep} {recep}."))
    verb, _, adjective = TREATMENTS[task_type]
    return rng.choice((f"put a {adjective} {obj} {prep} {recep}.",
                       f"{verb} some {obj} and put it in {recep}."))
