"""Environments: the protocol, the registry, and the built-in ones."""

from sdar.envs.alfworld import alfworld_spec
from sdar.envs.base import Env, EnvSpec, env_names, get_env_spec, register
from sdar.envs.household import household_spec
from sdar.envs.search_qa import search_qa_spec
from sdar.envs.shop import shop_spec

register("household", household_spec)
register("alfworld", alfworld_spec)
register("shop", shop_spec)
register("search_qa", search_qa_spec)

__all__ = ["Env", "EnvSpec", "env_names", "get_env_spec", "register"]
