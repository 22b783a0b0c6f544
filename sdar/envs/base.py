"""The environment protocol and the registry that looks environments up by name.

An environment is a text game bound to one task: `reset()` gives the first observation, `step(action)`
applies an admissible action. Validity of the *model's text* is the rollout's business, not the
environment's: the rollout only ever calls `step` with an action from `admissible_actions`.
Environments import no torch and never hold a model.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Callable, Protocol

from sdar.types import Observation, Task

SPLITS = ("train", "eval")


class Env(Protocol):
    task: Task

    def reset(self) -> Observation: ...

    def step(self, action: str) -> Observation: ...

    def expert_action(self) -> str:
        """The expert's next action from the current state (always admissible)."""
        ...

    def demo_action(self) -> str:
        """The supervised warm start's demonstrator: an admissible action decided only from what the agent
        observes (an omniscient expert's choices cannot be imitated from the prompt). Environments whose
        expert already acts on observations alone return `expert_action()`."""
        ...


@dataclass(frozen=True)
class EnvSpec:
    """How to build tasks and environments of one kind, and its reward protocol."""

    name: str
    task_types: tuple[str, ...]
    make_task: Callable[[int], Task]
    make_env: Callable[[Task], Env]
    max_turns: int
    history: int
    success_reward: float = 10.0
    invalid_penalty: float = 0.1
    eval_seed_offset: int = 1_000_000
    prompt_format: str = "admissible"
    """Name of the rollout's prompt format (`sdar.rollout.prompts.FORMATS`): how the student is prompted
    and how its text becomes an action. The default lists the admissible actions, ALFWorld-style."""

    def task_seed(self, split: str, index: int) -> int:
        """Train and eval tasks come from disjoint seed ranges."""
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; valid: {', '.join(SPLITS)}")
        return index + (self.eval_seed_offset if split == "eval" else 0)


_REGISTRY: dict[str, Callable[..., EnvSpec]] = {}


def register(name: str, factory: Callable[..., EnvSpec]) -> None:
    """`factory(**options)` builds the spec; options are the environment's own (alfworld: data_dir, eval_split)."""
    _REGISTRY[name] = factory


def env_names() -> list[str]:
    return sorted(_REGISTRY)


def get_env_spec(name: str, **options: Any) -> EnvSpec:
    """The spec of `name`. Options given as None keep the factory's defaults; an option the factory does not
    take raises ValueError naming the ones it does."""
    if name not in _REGISTRY:
        raise KeyError(f"unknown environment {name!r}; valid: {', '.join(env_names())}")
    factory = _REGISTRY[name]
    given = {key: value for key, value in options.items() if value is not None}
    accepted = list(inspect.signature(factory).parameters)
    unknown = sorted(set(given) - set(accepted))
    if unknown:
        raise ValueError(f"environment {name!r} takes no option {', '.join(unknown)}; "
                         f"valid: {', '.join(accepted) or 'none'}")
    return factory(**given)
