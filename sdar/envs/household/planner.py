"""The omniscient household expert: the next action that brings the current state towards the goal.

It reads the whole game state (including what lies inside closed receptacles) and re-decides every
turn, so it recovers from whatever was done before it took over. Its choices are stable: a choice
made on one turn is still the best on the next, so it never oscillates, and from reset it needs at
most ~11 actions. It deliberately knows nothing about how worlds are generated or how text is shown.
"""

from __future__ import annotations

from sdar.envs.household.catalogue import LAMP, TREATMENTS, kind, natural_key
from sdar.envs.household.game import Game


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
