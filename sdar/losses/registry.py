"""Name -> function lookup shared by the loss registries.

A miss raises ValueError listing every valid name (as verl's core_algos does), so a typo in a config
fails at once with the fix in the message.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TypeVar

F = TypeVar("F", bound=Callable)


def check_name(name: str, valid: Iterable[str], kind: str) -> str:
    """Return `name` if it is in `valid`, else raise ValueError naming the valid choices."""
    valid = tuple(valid)
    if name not in valid:
        raise ValueError(f"unknown {kind} {name!r}; valid {kind}s: {', '.join(valid)}")
    return name


def lookup(registry: Mapping[str, F], name: str, kind: str) -> F:
    """`registry[name]`, or ValueError listing the registry's keys."""
    return registry[check_name(name, registry.keys(), kind)]
