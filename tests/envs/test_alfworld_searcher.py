"""The ALFWorld warm-start demonstrator as pure logic: goals read as kinds, the room's listing parsed,
a scripted episode searched in the room's listing order, each kind counted down (its engine test is in
test_alfworld.py)."""

import pytest

from sdar.envs.alfworld.searcher import Goal, Searcher, goal_from_walkthrough, listed_receptacles

FIRST = ("You are in the middle of a room. Looking quickly around you, you see a desk 1, a drawer 2, "
         "a drawer 1, a microwave 1, and a sidetable 1.")


@pytest.mark.parametrize("walkthrough, goal", [
    (("go to desk 1", "take cd 2 from desk 1", "go to sidetable 1", "move cd 2 to sidetable 1"),
     Goal("cd", "sidetable", None, 1)),
    (("go to countertop 1", "take tomato 1 from countertop 1", "go to microwave 1", "heat tomato 1 with microwave 1",
      "go to countertop 2", "move tomato 1 to countertop 2"), Goal("tomato", "countertop", ("heat", "microwave"), 1)),
    (("go to bed 1", "take laptop 3 from bed 1", "go to dresser 1", "use desklamp 1"), Goal("laptop", None, None, 1)),
    (("go to sofa 1", "take pillow 1 from sofa 1", "go to armchair 1", "move pillow 1 to armchair 1", "go to bed 1",
      "take pillow 2 from bed 1", "go to armchair 1", "move pillow 2 to armchair 1"), Goal("pillow", "armchair", None, 2)),
])
def test_goal_is_read_as_kinds(walkthrough, goal):
    assert goal_from_walkthrough(walkthrough) == goal


def test_a_walkthrough_without_take_is_refused():
    with pytest.raises(ValueError, match="takes nothing"):
        goal_from_walkthrough(("look",))


def test_listing_of_the_first_observation():
    assert listed_receptacles(FIRST) == ["desk 1", "drawer 2", "drawer 1", "microwave 1", "sidetable 1"]
    assert listed_receptacles("You see a bed 1.") == ["bed 1"]
    assert listed_receptacles("nothing listed") == []


def go_to_all(here=None):
    return tuple(f"go to {r}" for r in listed_receptacles(FIRST) if r != here) + ("look", "inventory")


def test_a_scripted_episode_searches_in_order_and_ignores_where_the_object_really_is():
    # the cd lies in drawer 1 (the walkthrough would go straight there); the searcher looks in order
    s = Searcher(Goal("cd", "sidetable", ("heat", "microwave"), 1), FIRST)
    script = [
        (go_to_all(), "go to desk 1", "You arrive at desk 1. On the desk 1, you see a pen 1."),
        (go_to_all("desk 1") + ("take pen 1 from desk 1",), "go to drawer 2", "You arrive at drawer 2. The drawer 2 is closed."),
        (go_to_all("drawer 2") + ("open drawer 2",), "open drawer 2", "You open the drawer 2. The drawer 2 is open. In it, you see nothing."),
        (go_to_all("drawer 2") + ("close drawer 2",), "go to drawer 1", "You arrive at drawer 1. The drawer 1 is closed."),
        (go_to_all("drawer 1") + ("open drawer 1",), "open drawer 1", "You open the drawer 1. In it, you see a cd 3, and a cd 1."),
        (go_to_all("drawer 1") + ("take cd 3 from drawer 1", "take cd 1 from drawer 1"), "take cd 1 from drawer 1",
         "You pick up the cd 1 from the drawer 1."),
        (go_to_all("drawer 1"), "go to microwave 1", "You arrive at microwave 1. The microwave 1 is closed."),
        (go_to_all("microwave 1") + ("heat cd 1 with microwave 1", "open microwave 1"), "heat cd 1 with microwave 1",
         "You heat the cd 1 using the microwave 1."),
        (go_to_all("microwave 1"), "go to sidetable 1", "You arrive at sidetable 1. On the sidetable 1, you see nothing."),
        (go_to_all("sidetable 1") + ("move cd 1 to sidetable 1",), "move cd 1 to sidetable 1", "You move the cd 1 to the sidetable 1."),
    ]
    for admissible, expected, feedback in script:
        assert s.action(admissible) == expected
        s.observe(expected, feedback)
    assert s.placed == 1 and s.holding is None


def test_the_search_counts_each_kind_down_as_the_room_lists_it():
    """The engine lists cabinets 10 down to 1 (and sorts its admissible list as text); the searcher walks
    the listing, so within a kind the next is one number lower and every kind ends at number 1."""
    first = "Looking quickly around you, you see a cabinet 10, a cabinet 2, a cabinet 1, and a countertop 1."
    s = Searcher(Goal("cd", "sidetable", None, 1), first)
    visited = []
    for _ in range(5):
        here = visited[-1] if visited else None
        action = s.action(tuple(sorted(f"go to {r}" for r in listed_receptacles(first) if r != here)))
        visited.append(action[len("go to "):])
        s.observe(action, f"You arrive at {visited[-1]}. On the {visited[-1]}, you see nothing.")
    assert visited == ["cabinet 10", "cabinet 2", "cabinet 1", "countertop 1", "cabinet 10"]


def test_a_receptacle_sharing_the_agents_spot_is_searched_from_there():
    """At cabinet 13 the engine offers "open cabinet 14" but no "go to cabinet 14": the searcher opens it
    and takes what it finds there instead of walking past it."""
    first = "Looking quickly around you, you see a cabinet 14, a cabinet 13, a drawer 1, and a sidetable 1."
    s = Searcher(Goal("cd", "sidetable", None, 1), first)
    s.observe("go to cabinet 13", "You arrive at cabinet 13. On the cabinet 13, you see nothing.")
    beside = ("examine cabinet 13", "examine cabinet 14", "go to drawer 1", "go to sidetable 1", "open cabinet 14")
    assert s.action(beside) == "open cabinet 14"
    s.observe("open cabinet 14", "You open the cabinet 14. In it, you see a cd 1.")
    opened = ("close cabinet 14", "examine cabinet 13", "examine cabinet 14", "go to drawer 1", "go to sidetable 1",
              "take cd 1 from cabinet 14")
    assert s.action(opened) == "take cd 1 from cabinet 14"
    assert s.action(opened[:-1]) == "go to drawer 1"  # nothing there: search on


def test_the_object_is_taken_from_a_receptacle_of_the_goals_kind_too():
    """"put a clean butterknife in countertop": the knife may lie on countertop 2; it is taken, cleaned and
    put on the first countertop (the household demonstrator never searches the goal's kind)."""
    s = Searcher(Goal("butterknife", "countertop", ("clean", "sinkbasin"), 1),
                 "Looking quickly around you, you see a countertop 2, a countertop 1, and a sinkbasin 1.")
    s.observe("go to countertop 2", "You arrive at countertop 2. On the countertop 2, you see a butterknife 1.")
    assert s.action(("go to countertop 1", "go to sinkbasin 1", "take butterknife 1 from countertop 2")) == (
        "take butterknife 1 from countertop 2")


def test_a_wrong_object_in_hand_is_put_down_and_failed_actions_change_nothing():
    s = Searcher(Goal("cd", "sidetable", None, 1), FIRST)
    s.observe("go to desk 1", "You arrive at desk 1. On the desk 1, you see a pen 1.")
    s.observe("take pen 1 from desk 1", "You pick up the pen 1 from the desk 1.")  # e.g. a noisy turn
    assert s.action(go_to_all("desk 1") + ("move pen 1 to desk 1",)) == "move pen 1 to desk 1"
    s.observe("go to sofa 9", "Nothing happens.")
    assert s.here == "desk 1"


def test_pick_two_does_not_take_back_what_it_placed():
    s = Searcher(Goal("cd", "sidetable", None, 2), FIRST)
    for action, feedback in [("go to desk 1", "You arrive at desk 1."), ("take cd 1 from desk 1", "You pick up"),
                             ("go to sidetable 1", "You arrive"), ("move cd 1 to sidetable 1", "You move")]:
        s.observe(action, feedback)
    assert s.action(go_to_all("sidetable 1") + ("take cd 1 from sidetable 1",)) == "go to desk 1"


def test_an_untreated_object_put_on_the_goals_kind_is_taken_up_again():
    """A noisy "move tomato 1 to countertop 2" before the heat is no placement: the searcher takes it up
    again (it used to count it as placed and search on past it), and a wrong treatment is no treatment."""
    s = Searcher(Goal("tomato", "countertop", ("heat", "microwave"), 1),
                 "Looking quickly around you, you see a countertop 2, a countertop 1, a fridge 1, and a microwave 1.")
    for action, feedback in [("go to countertop 2", "You arrive at countertop 2."),
                             ("take tomato 1 from countertop 2", "You pick up the tomato 1 from the countertop 2."),
                             ("move tomato 1 to countertop 2", "You move the tomato 1 to the countertop 2.")]:
        s.observe(action, feedback)
    assert s.placed == 0 and s.target is None
    assert s.action(("go to countertop 1", "go to microwave 1", "take tomato 1 from countertop 2")) == (
        "take tomato 1 from countertop 2")
    s.observe("take tomato 1 from countertop 2", "You pick up the tomato 1 from the countertop 2.")
    s.observe("go to fridge 1", "You arrive at fridge 1.")
    s.observe("cool tomato 1 with fridge 1", "You cool the tomato 1 using the fridge 1.")
    assert s.action(("go to countertop 1", "go to microwave 1")) == "go to microwave 1"
    s.observe("go to microwave 1", "You arrive at microwave 1.")
    s.observe("heat tomato 1 with microwave 1", "You heat the tomato 1 using the microwave 1.")
    assert s.action(("go to countertop 1", "go to countertop 2")) == "go to countertop 1"
