"""An imitable ALFWorld demonstrator: it searches the room as the prompt shows it, where the walkthrough
walks straight to the hidden object.

What it may know is what the agent knows: the goal (its object kind, where it must end up, the treatment
or the desklamp, read from the walkthrough only as kinds), the receptacles listed by the first
observation, where it stands, what it holds, and this turn's admissible actions. It visits receptacles in
the room's own listing order (kinds alphabetically, each counted down: cabinet 13, cabinet 12, ...,
cabinet 1, coffeemachine 1, countertop 3, ...), so within a kind the next one is one number lower and the
last of every kind is number 1: a model that counts on cannot name a receptacle the room lacks. Counting
up (the admissible list's text order: cabinet 1, cabinet 10, ..., cabinet 2) taught a warm-started model
to walk past a kind's last ("go to drawer 4" in a room with three). Each kind starts at its highest
number, the one the first observation lists first; a model that starts a kind lower skips some, validly.

It opens closed ones, searches those that share its spot from there (the engine offers "examine cabinet
14" at cabinet 13 but no "go to cabinet 14"), takes the first instance of the goal kind it is offered,
also on a receptacle of the goal's kind (the household demonstrator skips that kind; in ALFWorld a tomato
to put on a countertop often starts on another countertop), treats it at number 1 of the appliance's
kind, and moves it to number 1 of the goal kind (every kind has a number 1; for two objects: the same
one). It is driven by `step`'s feedback, so an action it did not choose (noise, a model) is tracked too.
Pure logic: no engine, no game files.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sdar.envs.names import kind, natural_key

_LISTED = re.compile(r"you see (.*)\.", re.IGNORECASE)
_TREAT = ("heat", "cool", "clean")


@dataclass(frozen=True)
class Goal:
    object_kind: str
    target_kind: str | None  # None: a look task (the desklamp decides)
    treatment: tuple[str, str] | None  # (verb, appliance kind)
    count: int  # objects to place: 2 for pick_two


def goal_from_walkthrough(walkthrough: tuple[str, ...]) -> Goal:
    """The goal as kinds, read from the walkthrough's take/treat/move/use commands."""
    takes = [a for a in walkthrough if a.startswith("take ")]
    if not takes:
        raise ValueError(f"walkthrough takes nothing: {walkthrough!r}")
    object_kind = kind(takes[0][len("take "):].split(" from ")[0])
    moves = [a.split(" to ", 1)[1] for a in walkthrough if a.startswith("move ")]
    treat = next((a for a in walkthrough if a.split(" ", 1)[0] in _TREAT), None)
    treatment = (treat.split(" ", 1)[0], kind(treat.split(" with ", 1)[1])) if treat else None
    return Goal(object_kind, kind(moves[-1]) if moves else None, treatment, max(len(moves), 1))


def listed_receptacles(first_observation: str) -> list[str]:
    """'... you see a cabinet 1, a cabinet 2, and a toaster 1.' -> ['cabinet 1', 'cabinet 2', 'toaster 1']."""
    found = _LISTED.search(first_observation)
    if not found:
        return []
    items = re.split(r",\s*(?:and\s+)?|\s+and\s+", found.group(1))
    return [re.sub(r"^(a|an)\s+", "", item.strip()) for item in items if item.strip()]


class Searcher:
    """The demonstrator's memory of one episode; `observe` after every step, `action` for the next one."""

    def __init__(self, goal: Goal, first_observation: str) -> None:
        self.goal = goal
        self.receptacles = listed_receptacles(first_observation)  # the room's listing: each kind counted down
        self.here: str | None = None
        self.holding: str | None = None
        self.treated: set[str] = set()  # objects given the goal's treatment (it stays with the object)
        self.placed = 0
        self.target: str | None = None  # where the first object went (pick_two: the second follows)

    def observe(self, action: str, feedback: str) -> None:
        """Update from an executed action and the engine's answer (an action that did nothing changes nothing)."""
        if feedback.startswith("Nothing happens"):
            return
        verb = action.split(" ", 1)[0]
        if verb == "go" and action.startswith("go to "):
            self.here = action[len("go to "):]
        elif verb == "take" and " from " in action:
            self.holding = action[len("take "):].split(" from ")[0]
        elif verb == "move" and " to " in action and self.holding is not None:
            where = action.split(" to ", 1)[1]
            if self._done(self.holding) and kind(where) == self.goal.target_kind:
                self.placed += 1
                self.target = where
            self.holding = None  # put down untreated (noise): taken up again where it lies
        elif self.goal.treatment is not None and verb == self.goal.treatment[0] and self.holding is not None:
            self.treated.add(self.holding)

    def action(self, admissible: tuple[str, ...]) -> str:
        goal, held, here = self.goal, self.holding, self.here
        if held is not None and kind(held) != goal.object_kind:
            return self._first(admissible, f"move {held} to ") or self._next(admissible)
        if held is None:
            for spot in self._spot(admissible):
                if spot == self.target:  # pick two: not the one already placed
                    continue
                take = self._first(admissible, f"take {goal.object_kind} ", suffix=f" from {spot}")
                if take:
                    return take
                if f"open {spot}" in admissible:
                    return f"open {spot}"
            return self._next(admissible)
        if goal.target_kind is None:  # look: carry the object to the desklamp
            return self._first(admissible, "use desklamp") or self._next(admissible)
        if goal.treatment is not None and held not in self.treated:
            verb, appliance_kind = goal.treatment
            arrived = here is not None and kind(here) == appliance_kind
            return self._act_or_go(admissible, arrived, f"{verb} {held} with ", self._first_of_kind(appliance_kind))
        target = self.target or self._first_of_kind(goal.target_kind)
        return self._act_or_go(admissible, here is not None and here == target, f"move {held} to {here}", target)

    # ----- helpers -------------------------------------------------------------------------------
    def _done(self, obj: str) -> bool:
        """A goal object ready for its place: of the goal's kind and, where the goal asks, treated."""
        return kind(obj) == self.goal.object_kind and (self.goal.treatment is None or obj in self.treated)

    def _act_or_go(self, admissible: tuple[str, ...], arrived: bool, prefix: str, dest: str | None) -> str:
        """Arrived: the admissible action starting with `prefix`, else open the receptacle one stands at.
        Otherwise (or when neither is offered): go to `dest`, else keep searching."""
        if arrived:
            opener = f"open {self.here}"
            act = self._first(admissible, prefix) or (opener if opener in admissible else None)
            if act:
                return act
        if dest is not None and f"go to {dest}" in admissible:
            return f"go to {dest}"
        return self._next(admissible)

    def _spot(self, admissible: tuple[str, ...]) -> list[str]:
        """Where the agent stands, then the receptacles that share its spot: the engine offers "examine
        cabinet 14" at cabinet 13 but no "go to cabinet 14", so they are searched from here."""
        if self.here is None:
            return []
        return [self.here] + [r for r in self.receptacles if r != self.here and f"go to {r}" not in admissible
                              and f"examine {r}" in admissible]

    def _first_of_kind(self, receptacle_kind: str | None) -> str | None:
        """The kind's lowest number (1 in every ALFWorld room)."""
        return min((r for r in self.receptacles if kind(r) == receptacle_kind), key=natural_key, default=None)

    def _next(self, admissible: tuple[str, ...]) -> str:
        """The listed receptacle after the current one (wrapping) that one can go to; "look" if none."""
        order = self.receptacles
        start = order.index(self.here) + 1 if self.here in order else 0
        for offset in range(len(order)):
            candidate = order[(start + offset) % len(order)]
            if f"go to {candidate}" in admissible:
                return f"go to {candidate}"
        return "look"

    @staticmethod
    def _first(admissible: tuple[str, ...], prefix: str, suffix: str = "") -> str | None:
        """The admissible action with this prefix and suffix whose number is lowest (natural order)."""
        hits = [a for a in admissible if a.startswith(prefix) and a.endswith(suffix)]
        return min(hits, key=natural_key) if hits else None
