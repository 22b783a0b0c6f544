"""The omniscient household expert: the next action that brings the current state towards the goal.

It reads the whole game state (including what lies inside closed receptacles) and re-decides every
turn, so it recovers from whatever was done before it took over. Its choices are stable: a choice
made on one turn is still the best on the next, so it never oscillates, and from reset it needs at
most ~11 actions. It deliberately knows nothing about how worlds are generated or how text is shown.
"""

from __future__ import annotations

from sdar.envs.household.catalogue import LAMP, TREATMENTS
from sdar.envs.household.game import Game
from sdar.envs.names import kind, natural_key


def expert_action(game: Game) -> str:
    """The expert's next command; always admissible while the game is running."""
    if game.done:
        return "look"  # nothing is admissible any more; a harmless answer beats an exception
    held = game.holding
    if held is not None and kind(held) != game.goal.object_kind:
        return _put_down_here(game, held)
    if game.goal.task_type == "look":
        return _look_step(game)
    if game.goal.task_type == "pick_two":
        return _pick_two_step(game)
    return _single_step(game)


def _cost(game: Game, receptacle: str) -> int:
    """Actions needed before one can take from / put into a receptacle: walk there, open it."""
    return int(game.location != receptacle) + int(game.closed(receptacle))


def _reach(game: Game, receptacle: str) -> str | None:
    """The next action towards standing at an open receptacle, or None when already there."""
    if game.location != receptacle:
        return f"go to {receptacle}"
    if game.closed(receptacle):
        return f"open {receptacle}"
    return None


def _fetch(game: Game, obj: str) -> str:
    receptacle = game.where(obj)
    assert receptacle is not None, "only objects lying somewhere are fetched"
    return _reach(game, receptacle) or f"take {obj} from {receptacle}"


def _deliver(game: Game, obj: str, receptacle: str) -> str:
    return _reach(game, receptacle) or f"put {obj} in/on {receptacle}"


def _put_down_here(game: Game, held: str) -> str:
    """Free the hand where we stand: a wrong object is harmless anywhere, and here is cheapest."""
    assert game.location is not None, "one can only hold what was taken from a receptacle"
    return _deliver(game, held, game.location)


def _goal_objects(game: Game) -> list[str]:
    """Goal-kind objects lying in receptacles, in receptacle order (the held one is not listed)."""
    kind_wanted = game.goal.object_kind
    return [o for r in game.world.receptacles for o in game.contents[r] if kind(o) == kind_wanted]


def _cheapest(game: Game, objects: list[str], adjective: str | None = None) -> str:
    """Prefer objects already treated, then the fewest actions away, then natural order."""
    return min(objects, key=lambda o: (not game.has(o, adjective), _cost(game, game.where(o)),
                                       natural_key(o)))


def _goal_receptacles(game: Game) -> list[str]:
    return [r for r in game.world.receptacles if kind(r) == game.goal.receptacle_kind]


def _single_step(game: Game) -> str:
    """pick / clean / heat / cool: fetch one goal object, treat it if needed, deliver it."""
    adjective = game.goal_adjective()
    held = game.holding
    if held is None:
        return _fetch(game, _cheapest(game, _goal_objects(game), adjective))
    if adjective is not None and not game.has(held, adjective):
        verb, appliance_kind, _ = TREATMENTS[game.goal.task_type]
        appliance = next(r for r in game.world.receptacles if kind(r) == appliance_kind)
        if game.location != appliance:
            return f"go to {appliance}"
        return f"{verb} {held} with {appliance}"
    target = min(_goal_receptacles(game), key=lambda r: (_cost(game, r), natural_key(r)))
    return _deliver(game, held, target)


def _pick_two_step(game: Game) -> str:
    """Gather goal objects in the goal receptacle already holding the most of them. Ties go by
    natural order, not by distance, so walking around never changes the choice."""
    def held_there(receptacle: str) -> int:
        return sum(kind(o) == game.goal.object_kind for o in game.contents[receptacle])

    target = min(_goal_receptacles(game), key=lambda r: (-held_there(r), natural_key(r)))
    if game.holding is not None:
        return _deliver(game, game.holding, target)
    elsewhere = [o for o in _goal_objects(game) if game.where(o) != target]
    return _fetch(game, _cheapest(game, elsewhere))


def _look_step(game: Game) -> str:
    """Fetch a goal object, carry it to the desklamp, switch the lamp on (in whichever order)."""
    lamp = game.world.lamp
    assert lamp is not None, "look worlds always have a desklamp"
    if game.holding is None:
        return _fetch(game, _cheapest(game, _goal_objects(game)))
    if game.location != lamp:
        return f"go to {lamp}"
    return f"use {LAMP}"


def searching_action(game: Game) -> str:
    """An imitable demonstrator: the next command decided only from what an agent sees this turn.

    The omniscient expert walks straight to a hidden object, which no policy reading the prompt can
    copy. This one knows the goal, what it holds (and whether it treated it, which the last turn said),
    where it stands and what lies there, and the admissible list; it searches receptacles in the order
    the room lists them, skipping the goal's kind (goal objects never start there), opening closed
    ones, and wraps around. Not optimal, and over the turn limit on some tasks: a good, imperfect
    teacher for a supervised warm start.
    """
    if game.done:
        return "look"
    goal, held, here = game.goal, game.holding, game.location
    if held is not None and kind(held) != goal.object_kind:
        return _put_down_here(game, held)
    if held is None:
        if here is not None and kind(here) != goal.receptacle_kind:
            if game.closed(here):
                return f"open {here}"
            wanted = sorted((o for o in game.visible(here) if kind(o) == goal.object_kind), key=natural_key)
            if wanted:
                return f"take {wanted[0]} from {here}"
        return f"go to {_next_receptacle(game, skip_kind=goal.receptacle_kind)}"
    if goal.task_type == "look":  # hold the object, find the desklamp by the same sweep
        return f"use {LAMP}" if here == game.world.lamp else f"go to {_next_receptacle(game)}"
    adjective = game.goal_adjective()
    if adjective is not None and not game.has(held, adjective):
        verb, appliance_kind, _ = TREATMENTS[goal.task_type]
        appliance = _first_of_kind(game, appliance_kind)
        return f"go to {appliance}" if here != appliance else f"{verb} {held} with {appliance}"
    return _deliver(game, held, _first_of_kind(game, goal.receptacle_kind))


def _first_of_kind(game: Game, receptacle_kind: str | None) -> str:
    return next(r for r in game.world.receptacles if kind(r) == receptacle_kind)


def _next_receptacle(game: Game, skip_kind: str | None = None) -> str:
    """The receptacle after the current one in the room's listed order (the first from the middle of
    the room), wrapping around, skipping `skip_kind`."""
    order = list(game.world.receptacles)
    start = order.index(game.location) + 1 if game.location is not None else 0
    for offset in range(len(order)):
        candidate = order[(start + offset) % len(order)]
        if candidate != game.location and kind(candidate) != skip_kind:
            return candidate
    raise AssertionError("a room always has a receptacle of another kind")  # unreachable
