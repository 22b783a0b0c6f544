"""One real ALFWorld game bound to one task: the `Env` protocol over alfworld's TextWorld (PDDL) engine.

The engine is TextWorld's `PddlEnv` under alfworld's `AlfredDemangler` (object ids -> "alarmclock 2"),
asked for `won`, `admissible_commands` and `extra.walkthrough`, as alfworld's `AlfredTWEnv` does for
one game. Observations follow verl-agent: the first one drops the "Your task is to: ..." line (the prompt
shows `Task.goal` separately) and the TextWorld banner, and "help" is never offered as an action.

The expert replays the game's walkthrough: it returns the walkthrough's next unexecuted action (the
count of its actions the agent has executed in order) when that action is admissible, else "look".
It never replans, so once the agent has deviated it may not finish the game. The warm start's
demonstrator (`demo_action`) is `searcher.Searcher` instead: it searches the room from what the prompt
shows, which a model can imitate.

Engine facts this module works around (alfworld 0.4.2 / TextWorld 1.7.0):
- each `PddlEnv` loads its own copy of the 33 MB fast-downward library and never unloads it (unloading
  crashes the interpreter at exit), so engines are kept in a per-process pool and reused across tasks;
- loading a game or resetting rewrites `sys.argv` and swaps `sys.stdout` (the PDDL translator), and
  every step derives its text with one module-level TatSu parser, so all engine calls of a process run
  under one lock (with `sys.argv` restored): in-process envs take turns; for parallel episodes run them
  in worker processes (`sdar.envs.workers`);
- every load and reset re-translates the game's PDDL (most of a reset's time): translations are
  memoised per process, so only the first reset of a game pays for them;
- importing alfworld sets `$ALFWORLD_DATA` and creates ~/.cache/alfworld; the variable is restored.
It deliberately knows nothing about prompts, models or rewards.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import os
import sys
import threading
import weakref
from pathlib import Path

from sdar.envs.alfworld.data import ENV_NAME, GOAL_PREFIX, parse_walkthrough
from sdar.envs.alfworld.searcher import Searcher, goal_from_walkthrough
from sdar.types import Observation, Task

FALLBACK_ACTION = "look"  # always admissible, changes nothing
HIDDEN_ACTIONS = frozenset({"help"})
_BANNER = "-= Welcome to TextWorld"
_ENGINE_LOCK = threading.Lock()
_IDLE_ENGINES: list = []  # loaded-library engines free for the next task in this process
TRANSLATION_CACHE = 32  # PDDL -> SAS translations kept per process (two per game)


class AlfworldNotInstalled(ImportError):
    """The alfworld package (and the TextWorld PDDL engine it brings) is missing."""


def check_installed() -> None:
    """Raise `AlfworldNotInstalled` with the fix unless alfworld, TextWorld and fast-downward import."""
    missing = [m for m in ("alfworld", "textworld", "fast_downward") if importlib.util.find_spec(m) is None]
    if missing:
        raise AlfworldNotInstalled(
            f"the ALFWorld engine is not installed (missing: {', '.join(missing)}); "
            "run: pip install alfworld==0.4.2")


@functools.lru_cache(maxsize=1)
def _engine_classes():
    """(EnvInfos, PddlEnv, AlfredDemangler), imported once; importing alfworld must not change our env."""
    check_installed()
    saved = os.environ.get("ALFWORLD_DATA")
    try:
        import fast_downward
        from alfworld.agents.environment.alfred_tw_env import AlfredDemangler
        from textworld import EnvInfos
        from textworld.envs.pddl import PddlEnv
    finally:
        if saved is None:
            os.environ.pop("ALFWORLD_DATA", None)
        else:
            os.environ["ALFWORLD_DATA"] = saved
    if not hasattr(fast_downward.pddl2sas, "cache_info"):
        # Every load and every reset translates the same PDDL twice (~85% of a reset); the result is only
        # read afterwards, so one translation serves every reset of a game in this process.
        fast_downward.pddl2sas = functools.lru_cache(maxsize=TRANSLATION_CACHE)(fast_downward.pddl2sas)
    return EnvInfos, PddlEnv, AlfredDemangler


def _acquire_engine():
    if _IDLE_ENGINES:
        return _IDLE_ENGINES.pop()
    env_infos, pddl_env, demangler = _engine_classes()
    infos = env_infos(won=True, admissible_commands=True, extras=["walkthrough"])
    return demangler(shuffle=False)(pddl_env(infos))


def _release_engine(engine) -> None:
    _IDLE_ENGINES.append(engine)


@contextlib.contextmanager
def _engine_call():
    """Serialise engine calls in this process and undo the translator's `sys.argv` rewrite."""
    with _ENGINE_LOCK:
        argv = list(sys.argv)
        try:
            yield
        finally:
            sys.argv[:] = argv


def initial_text(feedback: str) -> str:
    """The first observation without the banner and the goal line."""
    keep = [line for line in feedback.splitlines()
            if not line.startswith(_BANNER) and not line.startswith(GOAL_PREFIX)]
    return "\n".join(keep).strip()


def goal_from_text(feedback: str) -> str | None:
    for line in feedback.splitlines():
        if line.startswith(GOAL_PREFIX):
            return line[len(GOAL_PREFIX):].strip()
    return None


class AlfworldEnv:
    """One ALFWorld game for one task (its file is `task.privileged["game_file"]`). Call `reset()` first.

    Instances may be driven from different threads (one thread per instance at a time); their engine
    calls take turns.
    """

    def __init__(self, task: Task) -> None:
        if task.env != ENV_NAME:
            raise ValueError(f"AlfworldEnv got a task for env {task.env!r}")
        game_file = task.privileged.get("game_file")
        if not game_file:
            raise ValueError("an alfworld task needs privileged['game_file']; "
                             "make tasks with alfworld_spec().make_task")
        self.task = task
        self.game_file = str(game_file)
        self._engine = None
        self._release = None
        self._state = None
        self._walkthrough: tuple[str, ...] = ()
        self._progress = 0  # walkthrough actions executed in order so far
        self._searcher: Searcher | None = None

    def reset(self) -> Observation:
        with _engine_call():
            if self._engine is None:
                if not Path(self.game_file).is_file():
                    raise FileNotFoundError(f"ALFWorld game file not found: {self.game_file}")
                engine = _acquire_engine()
                try:
                    engine.load(self.game_file)
                except BaseException:
                    _release_engine(engine)  # the next load re-initialises it
                    raise
                self._engine = engine
                self._release = weakref.finalize(self, _release_engine, engine)
            self._state = self._engine.reset()
        self._walkthrough = parse_walkthrough(self._state.get("extra.walkthrough") or [])
        self._progress = 0
        first = initial_text(self._state.feedback)
        try:
            self._searcher = Searcher(goal_from_walkthrough(self._walkthrough), first)
        except ValueError:  # a walkthrough that takes nothing: the demonstrator falls back to it
            self._searcher = None
        return self._observe(first)

    def step(self, action: str) -> Observation:
        if self._state is None:
            raise RuntimeError("call reset() before step()")
        action = action.strip()
        with _engine_call():
            self._state, _, _ = self._engine.step(action)
        if self._progress < len(self._walkthrough) and action == self._walkthrough[self._progress]:
            self._progress += 1
        feedback = self._state.feedback.strip()
        if self._searcher is not None:
            self._searcher.observe(action, feedback)
        return self._observe(feedback)

    def demo_action(self) -> str:
        """The searching demonstrator (`sdar.envs.alfworld.searcher`): decided from what the prompt shows."""
        if self._state is None:
            raise RuntimeError("call reset() before demo_action()")
        if self._searcher is None:
            return self.expert_action()
        return self._searcher.action(tuple(a for a in self._state["admissible_commands"] if a not in HIDDEN_ACTIONS))

    def expert_action(self) -> str:
        """The walkthrough's next unexecuted action if admissible, else "look" (see the module docstring)."""
        if self._state is None:
            raise RuntimeError("call reset() before expert_action()")
        if self._progress < len(self._walkthrough):
            action = self._walkthrough[self._progress]
            if action in self._state["admissible_commands"]:
                return action
        return FALLBACK_ACTION

    def close(self) -> None:
        """Hand the engine back to this process's pool (also done when the env is garbage-collected)."""
        if self._release is not None:
            self._release()
        self._engine = self._release = self._state = None

    def _observe(self, text: str) -> Observation:
        won = bool(self._state["won"])
        actions = tuple(a for a in self._state["admissible_commands"] if a not in HIDDEN_ACTIONS)
        return Observation(text, actions, done=won, won=won)


@functools.lru_cache(maxsize=256)
def initial_goal(game_file: str) -> str:
    """The goal as the engine prints it (a fallback for games whose grammar has no plain "task" rule)."""
    env = AlfworldEnv(Task(ENV_NAME, 0, "", "", privileged={"game_file": game_file}))
    try:
        env.reset()
        goal = goal_from_text(env._state.feedback)
    finally:
        env.close()
    if goal is None:
        raise ValueError(f"no 'Your task is to:' line in the first observation of {game_file}")
    return goal
