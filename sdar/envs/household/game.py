"""The household game: mutable state, admissible commands, their effects, ALFWorld-style text.

Every command is produced together with its effect by `commands()`, so "admissible" and "executable"
cannot drift apart; anything else answers "Nothing happens." and changes nothing. Objects are only
ever moved, never destroyed, so a task stays solvable whatever was done before.
It deliberately knows nothing about seeds, how worlds are generated, or how to solve a task.
"""

from __future__ import annotations

from typing import Callable

from sdar.envs.household.catalogue import LAMP, TREATMENTS, openable
from sdar.envs.household.world import World
from sdar.envs.names import kind, natural_key

NOTHING = "Nothing happens."
ADJECTIVE_ORDER = ("clean", "hot", "cool")  # fixed order for "This is a clean and hot mug 1."


def _listing(items: list[str]) -> str:
    """ALFWorld's enumeration: 'a apple 1', 'a apple 1, and a mug 1', 'a a, a b, and a c'."""
    if not items:
        return "nothing"
    if len(items) == 1:
        return f"a {items[0]}"
    return ", ".join(f"a {item}" for item in items[:-1]) + f", and a {items[-1]}"


class Game:
    """State of one episode. `step` returns the observation text; `done`/`won` are kept updated."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.goal = world.goal
        self.location: str | None = None  # None: still in the middle of the room
        self.holding: str | None = None
        self.contents = {r: list(objs) for r, objs in world.contents.items()}
        self.is_open = {r: False for r in world.receptacles if openable(r)}
        # object -> adjectives it has gained; only ever tested for membership, never iterated
        self.states: dict[str, set[str]] = {}
        self.lamp_on = False
        self.done = False
        self.won = False

    # ----- queries -------------------------------------------------------------------------------
    def closed(self, receptacle: str) -> bool:
        return self.is_open.get(receptacle) is False

    def visible(self, receptacle: str) -> list[str]:
        """Takeable objects one can see in a receptacle: none while it is closed."""
        return [] if self.closed(receptacle) else list(self.contents[receptacle])

    def where(self, obj: str) -> str | None:
        """The receptacle holding `obj` (None if it is in hand)."""
        for receptacle in self.world.receptacles:
            if obj in self.contents[receptacle]:
                return receptacle
        return None

    def has(self, obj: str, adjective: str | None) -> bool:
        return adjective is None or adjective in self.states.get(obj, ())

    def goal_adjective(self) -> str | None:
        treatment = TREATMENTS.get(self.goal.task_type)
        return treatment[2] if treatment else None

    def goal_met(self) -> bool:
        goal = self.goal
        if goal.task_type == "look":
            return (self.holding is not None and kind(self.holding) == goal.object_kind
                    and self.location == self.world.lamp and self.lamp_on)
        need = 2 if goal.task_type == "pick_two" else 1
        adjective = self.goal_adjective()
        for receptacle in self.world.receptacles:
            if kind(receptacle) != goal.receptacle_kind:
                continue
            matching = [o for o in self.contents[receptacle]
                        if kind(o) == goal.object_kind and self.has(o, adjective)]
            if len(matching) >= need:
                return True
        return False

    # ----- text ----------------------------------------------------------------------------------
    def initial_text(self) -> str:
        return ("You are in the middle of a room. Looking quickly around you, you see "
                f"{_listing(list(self.world.receptacles))}.")

    def describe(self, receptacle: str) -> str:
        """What one sees of a receptacle on arriving at or examining it."""
        if self.closed(receptacle):
            return f"The {receptacle} is closed."
        shown = ([LAMP] if receptacle == self.world.lamp else []) + self.contents[receptacle]
        if openable(receptacle):
            return f"The {receptacle} is open. In it, you see {_listing(shown)}."
        return f"On the {receptacle}, you see {_listing(shown)}."

    # ----- commands ------------------------------------------------------------------------------
    def admissible(self) -> tuple[str, ...]:
        """Sorted like ALFWorld's list (numbers compare as numbers); empty once the game is over."""
        return () if self.done else tuple(sorted(self.commands(), key=natural_key))

    def step(self, action: str) -> str:
        effect = None if self.done else self.commands().get(action)
        if effect is None:
            return NOTHING
        text = effect()
        self.won = self.goal_met()
        self.done = self.won
        return text

    def commands(self) -> dict[str, Callable[[], str]]:
        """Every admissible command mapped to the function that performs it and returns its text."""
        table: dict[str, Callable[[], str]] = {"look": self._look, "inventory": self._inventory}
        for receptacle in self.world.receptacles:
            if receptacle != self.location:
                table[f"go to {receptacle}"] = lambda r=receptacle: self._go(r)
        if self.location is not None:
            self._add_local_commands(table, self.location)
        return table

    def _add_local_commands(self, table: dict[str, Callable[[], str]], here: str) -> None:
        if openable(here):
            if self.closed(here):
                table[f"open {here}"] = lambda: self._open(here)
            else:
                table[f"close {here}"] = lambda: self._close(here)
        table[f"examine {here}"] = lambda: self.describe(here)
        for obj in self.visible(here):
            table[f"examine {obj}"] = lambda o=obj: self._examine(o)
            if self.holding is None:
                table[f"take {obj} from {here}"] = lambda o=obj: self._take(o, here)
        if here == self.world.lamp:
            table[f"use {LAMP}"] = self._use_lamp
        if self.holding is not None:
            self._add_hand_commands(table, here, self.holding)

    def _add_hand_commands(self, table: dict[str, Callable[[], str]], here: str, obj: str) -> None:
        if not self.closed(here):
            table[f"put {obj} in/on {here}"] = lambda: self._put(obj, here)
        for verb, appliance, adjective in TREATMENTS.values():
            if kind(here) == appliance:
                table[f"{verb} {obj} with {here}"] = (
                    lambda v=verb, a=adjective: self._treat(obj, here, v, a))

    # ----- effects -------------------------------------------------------------------------------
    def _go(self, receptacle: str) -> str:
        self.location = receptacle
        return f"You arrive at {receptacle}. {self.describe(receptacle)}"

    def _open(self, receptacle: str) -> str:
        self.is_open[receptacle] = True
        return f"You open the {receptacle}. {self.describe(receptacle)}"

    def _close(self, receptacle: str) -> str:
        self.is_open[receptacle] = False
        return f"You close the {receptacle}."

    def _take(self, obj: str, receptacle: str) -> str:
        self.contents[receptacle].remove(obj)
        self.holding = obj
        return f"You pick up the {obj} from the {receptacle}."

    def _put(self, obj: str, receptacle: str) -> str:
        self.contents[receptacle].append(obj)
        self.holding = None
        return f"You put the {obj} in/on the {receptacle}."

    def _treat(self, obj: str, appliance: str, verb: str, adjective: str) -> str:
        self.states.setdefault(obj, set()).add(adjective)
        return f"You {verb} the {obj} using the {appliance}."

    def _use_lamp(self) -> str:
        self.lamp_on = True
        return f"You turn on the {LAMP}."

    def _examine(self, obj: str) -> str:
        gained = [a for a in ADJECTIVE_ORDER if self.has(obj, a)]
        return f"This is a {' and '.join(gained) or 'normal'} {obj}."

    def _look(self) -> str:
        if self.location is None:
            return self.initial_text()
        return f"You are facing the {self.location}. Next to it, you see nothing."

    def _inventory(self) -> str:
        if self.holding is None:
            return "You are not carrying anything."
        return f"You are carrying: a {self.holding}."
