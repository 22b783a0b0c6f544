"""The built-in household environment: an ALFWorld-like text room generated from a seed.

Six task types (pick, look, clean, heat, cool, pick_two), ALFWorld's command vocabulary and
observation style, and an omniscient expert whose plan is stored in
`Task.privileged["expert_plan"]`.
This package knows nothing about models, prompts or training; it only needs `sdar.types` and
`sdar.envs.base`.
"""

from __future__ import annotations

from sdar.envs.base import EnvSpec
from sdar.envs.household.env import HouseholdEnv, expert_plan, make_household_task
from sdar.envs.household.world import TASK_TYPES


def household_spec() -> EnvSpec:
    return EnvSpec(
        name="household",
        task_types=TASK_TYPES,
        make_task=make_household_task,
        make_env=HouseholdEnv,
        max_turns=30,
        history=2,
        success_reward=10.0,
        invalid_penalty=0.1,
    )


__all__ = ["HouseholdEnv", "expert_plan", "household_spec", "make_household_task"]
