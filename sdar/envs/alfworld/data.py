"""ALFWorld game files on disk: where they are, which games a split holds, and the task of a seed.

Reads the official `json_2.1.1/<split>/<task dir>/<trial>/game.tw-pddl` layout (what `alfworld-download`
fetches) as plain JSON: the task type comes from the task directory's name, the goal from the game's
grammar, the expert plan from its walkthrough. Nothing here imports alfworld or TextWorld, so listing
games and making tasks never starts the engine; playing them is `sdar.envs.alfworld.env`'s business.
"""

from __future__ import annotations

import ast
import functools
import random
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from sdar.types import Task

ENV_NAME = "alfworld"
LAYOUT = "json_2.1.1"
GAME_FILE = "game.tw-pddl"
TRAIN_SPLIT = "train"
# ALFWorld's directory prefixes -> our task type names (the six types of the paper, in its order).
TYPE_OF_DIR = {
    "pick_and_place_simple": "pick",
    "look_at_obj_in_light": "look",
    "pick_clean_then_place_in_recep": "clean",
    "pick_heat_then_place_in_recep": "heat",
    "pick_cool_then_place_in_recep": "cool",
    "pick_two_obj_and_place": "pick_two",
}
TASK_TYPES = tuple(TYPE_OF_DIR.values())
GOAL_PREFIX = "Your task is to: "
# The grammar's "task" rule holds the goal sentence the engine prints after the room description.
_GOAL_RULE = re.compile(r'"task"\s*:\s*\[\s*\{\s*"rhs"\s*:\s*"Your task is to: (.*?)"\s*\}', re.DOTALL)
_FETCH_HINT = "pip install alfworld==0.4.2 && alfworld-download fetches the official files"


class AlfworldDataError(FileNotFoundError):
    """The ALFWorld game files are missing or not in the expected layout."""


@dataclass(frozen=True)
class GameInfo:
    """What a task needs from one game file; read without starting the engine."""

    path: str
    task_type: str
    goal: str
    walkthrough: tuple[str, ...]


def resolve_data_dir(data_dir: str | None = None) -> Path:
    """`data_dir`, else `$ALFWORLD_DATA`, else `~/.cache/alfworld` (alfworld-download's default).

    The directory holds `json_2.1.1/`; the `json_2.1.1` directory itself is accepted too.
    """
    raw = data_dir or os.environ.get("ALFWORLD_DATA") or "~/.cache/alfworld"
    root = Path(raw).expanduser()
    return root.parent if root.name == LAYOUT else root


_PASS_DATA = "pass --env.data DIR (sdar eval: --alfworld-data DIR; sdar sft: --data DIR)"


def check_data_dir(root: Path, eval_split: str) -> None:
    """Raise `AlfworldDataError` (one line naming the path and the fix) unless both splits hold games."""
    for split in (TRAIN_SPLIT, eval_split):
        split_dir = root / LAYOUT / split
        if not split_dir.is_dir():
            layout = root / LAYOUT
            found = sorted(p.name for p in layout.iterdir() if p.is_dir()) if layout.is_dir() else []
            extra = f" (splits found there: {', '.join(found)})" if found else ""
            raise AlfworldDataError(
                f"ALFWorld data not found: {split_dir} does not exist{extra}; {_PASS_DATA} or "
                f"export ALFWORLD_DATA=DIR, where DIR holds {LAYOUT}/{TRAIN_SPLIT} and {LAYOUT}/{eval_split} "
                f"({_FETCH_HINT})")
        if next(split_dir.glob(f"*/*/{GAME_FILE}"), None) is None:
            raise AlfworldDataError(
                f"ALFWorld data incomplete: no */*/{GAME_FILE} under {split_dir}; {_PASS_DATA} or "
                f"export ALFWORLD_DATA=DIR with the {LAYOUT} layout ({_FETCH_HINT})")


def task_type_of(task_dir_name: str) -> str | None:
    """'pick_two_obj_and_place-Pen-None-Desk-310' -> 'pick_two'; None for types we do not play
    (ALFWorld's TextWorld games skip movable-receptacle and sliced-object tasks too)."""
    if "Sliced" in task_dir_name:
        return None
    return TYPE_OF_DIR.get(task_dir_name.split("-", 1)[0])


def parse_walkthrough(raw) -> tuple[str, ...]:
    """A walkthrough is a JSON list, or a string holding a Python-style list (literal_eval, never eval)."""
    if isinstance(raw, str):
        raw = ast.literal_eval(raw.strip()) if raw.strip() else []
    if not isinstance(raw, (list, tuple)) or not all(isinstance(a, str) for a in raw):
        raise ValueError(f"walkthrough is not a list of commands: {raw!r:.200}")
    return tuple(a.strip() for a in raw)


def parse_goal(grammar: str) -> str | None:
    """The goal sentence from the grammar's "task" rule, without 'Your task is to: '; None if absent."""
    found = _GOAL_RULE.search(grammar)
    return found.group(1).strip() if found else None


def read_game(path: str | Path) -> GameInfo | None:
    """The game at `path`, or None when it cannot be played (unknown type or marked unsolvable)."""
    path = Path(path)
    task_type = task_type_of(path.parent.parent.name)
    if task_type is None:
        return None
    data = json.loads(path.read_text())
    if not data.get("solvable", False):
        return None
    goal = parse_goal(data["grammar"])
    if goal is None:
        from sdar.envs.alfworld.env import initial_goal  # rare: only the engine knows the goal text

        goal = initial_goal(str(path))
    return GameInfo(str(path), task_type, goal, parse_walkthrough(data.get("walkthrough") or []))


@functools.lru_cache(maxsize=8)
def list_games(split_dir: str) -> tuple[GameInfo, ...]:
    """Every playable game of a split (read once per process), sorted by path and then shuffled with a
    fixed seed: directory names group games by type, and the first N eval tasks must cover every type."""
    paths = sorted(Path(split_dir).glob(f"*/*/{GAME_FILE}"))
    random.Random(0).shuffle(paths)
    games = tuple(g for g in map(read_game, paths) if g is not None)
    if not games:
        raise AlfworldDataError(f"no playable ALFWorld games under {split_dir} ({_FETCH_HINT})")
    return games


@dataclass(frozen=True)
class AlfworldTasks:
    """`make_task` for one data directory: seeds below `eval_seed_offset` index the train games, seeds
    at or above it the `eval_split` games (both modulo the number of games)."""

    root: str
    eval_split: str
    eval_seed_offset: int

    def split_games(self, split: str) -> tuple[GameInfo, ...]:
        return list_games(str(Path(self.root) / LAYOUT / split))

    def game(self, seed: int) -> GameInfo:
        if seed < 0:
            raise ValueError(f"task seeds are >= 0, got {seed}")
        is_eval = seed >= self.eval_seed_offset
        games = self.split_games(self.eval_split if is_eval else TRAIN_SPLIT)
        return games[(seed - self.eval_seed_offset if is_eval else seed) % len(games)]

    def __call__(self, seed: int) -> Task:
        game = self.game(seed)
        return Task(env=ENV_NAME, seed=seed, task_type=game.task_type, goal=game.goal,
                    privileged={"expert_plan": list(game.walkthrough), "game_file": game.path})
