"""The household environment bound to one task: the `Env` protocol over a `Game`, and task creation.

A task is fully determined by its seed; `reset()` regenerates the same world from it, so an
environment can be reset any number of times. It deliberately knows nothing about prompts, models
or rewards (the EnvSpec carries the reward protocol; the rollout applies it).
"""

from __future__ import annotations

from sdar.envs.household.game import Game
from sdar.envs.household.planner import expert_action, searching_action
from sdar.envs.household.world import generate
from sdar.types import Observation, Task

ENV_NAME = "household"
# The expert needs ~11 actions at worst; this bound only guards against a planner bug looping.
PLAN_LIMIT = 50


class HouseholdEnv:
    """One household game for one task. Call `reset()` before `step()`."""

    def __init__(self, task: Task) -> None:
        if task.env != ENV_NAME:
            raise ValueError(f"HouseholdEnv got a task for env {task.env!r}")
        self.task = task
        self._game: Game | None = None

    @property
    def game(self) -> Game:
        if self._game is None:
            raise RuntimeError("call reset() before using the environment")
        return self._game

    def reset(self) -> Observation:
        self._game = Game(generate(self.task.seed))
        return self._observe(self._game.initial_text())

    def step(self, action: str) -> Observation:
        return self._observe(self.game.step(action))

    def expert_action(self) -> str:
        return expert_action(self.game)

    def demo_action(self) -> str:
        return searching_action(self.game)

    def _observe(self, text: str) -> Observation:
        game = self.game
        return Observation(text, game.admissible(), done=game.done, won=game.won)


def expert_plan(seed: int) -> list[str]:
    """The expert's full action sequence from the initial state of the world of `seed`."""
    game = Game(generate(seed))
    plan: list[str] = []
    while not game.done:
        if len(plan) >= PLAN_LIMIT:
            raise RuntimeError(f"household expert did not finish seed {seed}")
        action = expert_action(game)
        plan.append(action)
        game.step(action)
    return plan


def make_household_task(seed: int) -> Task:
    goal = generate(seed).goal
    return Task(env=ENV_NAME, seed=seed, task_type=goal.task_type, goal=goal.text,
                privileged={"expert_plan": expert_plan(seed)})
