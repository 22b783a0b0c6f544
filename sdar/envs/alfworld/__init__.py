"""The real ALFWorld environment: alfworld's TextWorld games (json_2.1.1 layout) behind the `Env` protocol.

Tasks come from the game files without starting the engine (`data`); episodes run on alfworld 0.4.2's
TextWorld PDDL engine (`env`), which is imported only when the first game is reset. The game files are
not bundled: point `data_dir` / `$ALFWORLD_DATA` at a directory holding `json_2.1.1/`
(`pip install alfworld==0.4.2 && alfworld-download` fetches them into ~/.cache/alfworld).
Like the household package it knows nothing about models, prompts or training.
"""

from __future__ import annotations

from sdar.envs.alfworld.data import (
    ENV_NAME,
    TASK_TYPES,
    TRAIN_SPLIT,
    AlfworldDataError,
    AlfworldTasks,
    check_data_dir,
    parse_walkthrough,
    resolve_data_dir,
    task_type_of,
)
from sdar.envs.alfworld.env import AlfworldEnv, AlfworldNotInstalled, check_installed
from sdar.envs.base import EnvSpec

EVAL_SEED_OFFSET = 1_000_000


def alfworld_spec(data_dir: str | None = None, eval_split: str = "valid_seen") -> EnvSpec:
    """The ALFWorld spec over `data_dir` (else `$ALFWORLD_DATA`, else ~/.cache/alfworld).

    Train seeds index `json_2.1.1/train`, eval seeds `json_2.1.1/<eval_split>` ("valid_seen" is
    in-distribution, "valid_unseen" out-of-distribution). Raises `AlfworldDataError` (a
    FileNotFoundError) or `AlfworldNotInstalled` (an ImportError) with the fix in one line.
    """
    if eval_split == TRAIN_SPLIT:
        raise ValueError(f"eval split {eval_split!r} is the training split; use valid_seen or valid_unseen")
    root = resolve_data_dir(data_dir)
    check_data_dir(root, eval_split)
    check_installed()
    return EnvSpec(
        name=ENV_NAME,
        task_types=TASK_TYPES,
        make_task=AlfworldTasks(str(root), eval_split, EVAL_SEED_OFFSET),
        make_env=AlfworldEnv,
        max_turns=50,
        history=2,
        success_reward=10.0,
        invalid_penalty=0.1,
        eval_seed_offset=EVAL_SEED_OFFSET,
    )


__all__ = [
    "AlfworldDataError", "AlfworldEnv", "AlfworldNotInstalled", "AlfworldTasks", "alfworld_spec",
    "parse_walkthrough", "task_type_of",
]
