"""The wrong actions a small model writes, for the warm start's noise and its unlikelihood negatives.

`tempting_actions` and `stray_moves` are played as noise (`sdar sft --tempt`, `--stray`), so that the
demonstrator's next turn shows the way out; `wrong_moves` are what each demonstrated turn's negatives are
made of (`--unlikelihood`), with `backtracks` ones after a take, put or treat (`--backtrack`), and
`first_divergences` finds the token where each would leave the demonstrated response. Pure functions on
action strings and token ids: no environment, no model.
"""

from __future__ import annotations

import re

MOVE_PREFIX = "go to "
SEARCH_VERBS = ("go", "open", "close", "examine", "look", "inventory")
_TAKE = re.compile(r"^take (\S+ \d+) from (\S+ \d+)$")
_PLACE = re.compile(r"^(?:put|move) (\S+ \d+) (?:in/on|to) (\S+ \d+)$")  # household's put, ALFWorld's move
_TREAT = re.compile(r"^(?:heat|cool|clean) \S+ \d+ with \S+ \d+$")


def tempting_actions(actions: list[str], goal: str) -> list[str]:
    """The `actions` that take, place, treat or use an object the goal names (not go, open, close,
    examine, look, inventory): "take pot 2 from fridge 1" for "put two pot in fridge.", "use desklamp 1"
    for "look at cup under the desklamp.". A model that copies the goal's words writes these where they
    are wrong: it takes the first pot back out of the fridge, turns the lamp on before it holds the cup."""
    named = set(re.findall(r"[a-z]+", goal.lower()))
    return [a for a in actions if len(words := a.split()) > 1 and words[0] not in SEARCH_VERBS and words[1] in named]


def first_divergences(ids: list[int], others: list[list[int]]) -> tuple[tuple[int, int], ...]:
    """(index, token) where each of `others` first differs from `ids`, once each: the token that takes a
    response off `ids` towards that other one (none where one is a prefix of the other)."""
    found: list[tuple[int, int]] = []
    for other in others:
        j = next((i for i, (a, b) in enumerate(zip(ids, other)) if a != b), None)
        if j is not None and (j, other[j]) not in found:
            found.append((j, other[j]))
    return tuple(found)


def stray_moves(here: str | None, admissible: tuple[str, ...] | list[str]) -> list[str]:
    """The invalid "go to"s a small model writes while searching, standing at `here` ("cabinet 3"): to
    where it stands, to the next number of its kind where the room has no such receptacle ("go to
    drawer 4" at the last of three drawers, "go to diningtable 2" where there is one), and at number 1
    to number 0 ("go to drawer 0": counting down past a kind's last, where ALFWorld's searcher changes
    kind). Only those the `admissible` list does not offer."""
    if here is None:
        return []
    moves = [f"go to {here}"]
    if numbered := re.fullmatch(r"(.*) (\d+)", here):
        name, number = numbered.group(1), int(numbered.group(2))
        moves += [f"go to {name} {number + 1}"] + ([f"go to {name} 0"] if number == 1 else [])
    return [m for m in moves if m not in admissible]


def wrong_moves(here: str | None, action: str, admissible: tuple[str, ...] | list[str]) -> list[str]:
    """The invalid "go to"s a small model writes instead of `action`, standing at `here`: on a "go to" turn
    the `stray_moves`; on any other turn, "go to" where it stands (arrived where it carries an object to,
    it asks to go there again instead of placing, heating or cooling it). Only those not `admissible`."""
    if action.startswith(MOVE_PREFIX):
        return stray_moves(here, admissible)
    return [move for move in [f"{MOVE_PREFIX}{here}"] if here is not None and move not in admissible]


def backtracks(last: str | None, action: str, admissible: tuple[str, ...] | list[str]) -> list[str]:
    """The `admissible` actions, other than `action`, that go back on the action played `last`: after
    "take X from Y", placing X back in Y; after placing X in Y, "take X from Y"; after heating, cooling or
    cleaning X, the same again. Valid, but they lead nowhere: the loops of the warmed-up ALFWorld models
    (take the box, put it back, take it, ...; heat the plate again and again; README)."""
    if last is not None and (took := _TAKE.match(last)):
        back = [a for a in admissible if (placed := _PLACE.match(a)) and placed.groups() == took.groups()]
    elif last is not None and (placed := _PLACE.match(last)):
        back = [f"take {placed.group(1)} from {placed.group(2)}"]
    else:
        back = [last] if last is not None and _TREAT.match(last) else []
    return [a for a in back if a in admissible and a != action]
