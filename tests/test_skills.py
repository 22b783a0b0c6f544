"""Context providers: which privileged text each one gives the teacher."""

from sdar.envs import get_env_spec
from sdar.skills import get_provider, skill_bank
from sdar.skills.household import BY_TYPE, GENERAL
from sdar.types import Task, Trajectory, Turn

HEAT = Task("household", 3, "heat", "heat some egg and put it in countertop.",
            {"expert_plan": ["go to fridge 1", "open fridge 1"]})


def traj(won, actions, group=0):
    t = Trajectory(HEAT, group, won=won)
    t.turns = [Turn(i, "", [], [1], "", a, True, "") for i, a in enumerate(actions)]
    return t


def test_by_type_all_random():
    by_type = get_provider("skills_by_type")(HEAT)
    assert BY_TYPE["heat"][0] in by_type and BY_TYPE["cool"][0] not in by_type and GENERAL[0] in by_type
    everything = get_provider("skills_all")(HEAT)
    assert all(s in everything for s in skill_bank("household"))
    random_a = get_provider("skills_random")(HEAT)
    assert random_a == get_provider("skills_random")(HEAT)  # fixed per task
    others = {get_provider("skills_random")(Task("household", k, "heat", "g")) for k in range(10)}
    assert len(others) > 1


def test_bm25_ranks_the_matching_skill_first():
    text = get_provider("skills_bm25")(HEAT)
    lines = text.splitlines()[1:]
    assert "heat" in lines[0].lower()
    some = get_provider("skills_bm25")(Task("household", 3, "heat", "zzzqqq microwave.")).splitlines()[1:]
    assert 0 < len(some) < len(lines) and all("microwave" in line.lower() for line in some)  # only those that match
    assert get_provider("skills_bm25")(Task("household", 3, "heat", "zzzqqq.")) == ""  # no word in common


def test_sibling_prefers_another_winner_and_is_empty_without_one():
    me, winner, loser = traj(True, ["a"]), traj(True, ["go to microwave 1", "heat egg 1 with microwave 1"]), traj(False, ["x"])
    text = get_provider("sibling")(HEAT, [me, winner, loser], me)
    assert "1. go to microwave 1" in text and "2. heat egg 1 with microwave 1" in text
    assert get_provider("sibling")(HEAT, [me, loser], me).endswith("1. a")
    assert get_provider("sibling")(HEAT, [loser], loser) == ""


def test_ground_truth_lists_the_expert_plan():
    text = get_provider("ground_truth")(HEAT)
    assert text.splitlines()[1:] == ["1. go to fridge 1", "2. open fridge 1"]
    spec = get_env_spec("household")
    real = spec.make_task(5)
    assert real.privileged["expert_plan"][0] in get_provider("ground_truth")(real)
