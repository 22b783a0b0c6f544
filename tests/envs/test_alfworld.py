"""Tests of the real ALFWorld environment (alfworld 0.4.2's TextWorld engine over json_2.1.1 game files).

Parsing and error-message tests always run. The rest need the game files (`$ALFWORLD_DATA`, else
../shared/data/alfworld beside the repository) and the alfworld package, and are skipped without them.
Timings are printed (reset, step, per expert game) so that regressions in engine cost show up.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import time
from pathlib import Path

import pytest

from sdar.envs.alfworld import AlfworldDataError, AlfworldNotInstalled, alfworld_spec, parse_walkthrough
from sdar.envs.alfworld.data import TASK_TYPES, TYPE_OF_DIR, check_data_dir, parse_goal, task_type_of
from sdar.envs.alfworld.env import check_installed, initial_text
from sdar.skills import alfworld as alfworld_skills
from sdar.types import Task

DATA = Path(os.environ.get("ALFWORLD_DATA") or Path(__file__).parents[3] / "shared/data/alfworld")
EVAL = 1_000_000
PER_TYPE = 2  # expert games per task type from valid_seen


@pytest.fixture(scope="module")
def spec():
    pytest.importorskip("alfworld", reason="alfworld is not installed (pip install alfworld==0.4.2)")
    if not (DATA / "json_2.1.1").is_dir():
        pytest.skip(f"no ALFWorld game files at {DATA} (set ALFWORLD_DATA or run alfworld-download)")
    return alfworld_spec(str(DATA))


def _report(capsys, line: str) -> None:
    with capsys.disabled():
        print(f"\n[alfworld] {line}", end="")


# ----- parsing (no data needed) -------------------------------------------------------------------
@pytest.mark.parametrize("dir_name, task_type", [
    ("pick_and_place_simple-SprayBottle-None-Toilet-422", "pick"),
    ("look_at_obj_in_light-AlarmClock-None-DeskLamp-301", "look"),
    ("pick_clean_then_place_in_recep-Cloth-None-BathtubBasin-409", "clean"),
    ("pick_heat_then_place_in_recep-Apple-None-SideTable-21", "heat"),
    ("pick_cool_then_place_in_recep-Potato-None-Microwave-17", "cool"),
    ("pick_two_obj_and_place-Book-None-Desk-310", "pick_two"),
    ("pick_and_place_with_movable_recep-Spoon-Cup-DiningTable-27", None),
    ("pick_heat_then_place_in_recep-AppleSliced-None-DiningTable-26", None),
])
def test_task_type_from_directory_name(dir_name: str, task_type: str | None) -> None:
    assert task_type_of(dir_name) == task_type


def test_six_task_types_in_paper_order() -> None:
    assert TASK_TYPES == ("pick", "look", "clean", "heat", "cool", "pick_two")
    assert set(TYPE_OF_DIR.values()) == set(TASK_TYPES)
    assert set(alfworld_skills.BY_TYPE) == set(TASK_TYPES)


def test_walkthrough_parses_both_forms() -> None:
    plan = ("go to desk 1", "use desklamp 1", "take alarmclock 2 from desk 1")
    assert parse_walkthrough(list(plan)) == plan
    assert parse_walkthrough("['go to desk 1', 'use desklamp 1', 'take alarmclock 2 from desk 1']") == plan
    assert parse_walkthrough('["go to desk 1", "use desklamp 1", "take alarmclock 2 from desk 1"]') == plan
    assert parse_walkthrough("[]") == () and parse_walkthrough("") == ()
    for bad in ("__import__('os').system('true')", "{'a': 1}", "[1, 2]", "not a list"):
        with pytest.raises((ValueError, SyntaxError)):
            parse_walkthrough(bad)


def test_goal_and_first_observation_text() -> None:
    grammar = '"task": [\n  {\n "rhs": "Your task is to: put a clean mug in coffeemachine."\n }\n ],'
    assert parse_goal(grammar) == "put a clean mug in coffeemachine."
    assert parse_goal('"intro": []') is None
    feedback = ("-= Welcome to TextWorld, ALFRED! =-\n\nYou are in the middle of a room. Looking quickly around "
                "you, you see a desk 1.\n\nYour task is to: look at book under the desklamp.")
    assert initial_text(feedback) == ("You are in the middle of a room. Looking quickly around you, "
                                      "you see a desk 1.")


# ----- errors (no data needed) --------------------------------------------------------------------
def test_missing_data_names_the_path_and_the_fix(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("ALFWORLD_DATA", str(tmp_path / "nowhere"))
    for data_dir in (None, str(tmp_path)):  # $ALFWORLD_DATA, then an explicit directory
        with pytest.raises(AlfworldDataError) as info:
            alfworld_spec(data_dir)
        message = str(info.value)
        assert isinstance(info.value, FileNotFoundError) and "\n" not in message
        assert str(Path(data_dir or tmp_path / "nowhere") / "json_2.1.1" / "train") in message
        for hint in ("--env.data DIR", "sdar sft: --data DIR", "export ALFWORLD_DATA=DIR", "pip install alfworld==0.4.2",
                     "alfworld-download"):
            assert hint in message


def test_missing_eval_split_lists_the_splits_found(tmp_path) -> None:
    game = tmp_path / "json_2.1.1" / "train" / "pick_and_place_simple-X-None-Y-1" / "trial_1" / "game.tw-pddl"
    game.parent.mkdir(parents=True)
    game.write_text("{}")
    check_data_dir(tmp_path, "train")
    with pytest.raises(AlfworldDataError, match=r"valid_unseen does not exist \(splits found there: train\)"):
        alfworld_spec(str(tmp_path), eval_split="valid_unseen")
    with pytest.raises(ValueError, match="is the training split"):  # evaluating on what it trains on
        alfworld_spec(str(tmp_path), eval_split="train")


def test_missing_package_says_how_to_install(monkeypatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "alfworld" else real(name, *a))
    with pytest.raises(AlfworldNotInstalled, match=r"missing: alfworld\); run: pip install alfworld==0.4.2"):
        check_installed()


# ----- tasks from the game files ------------------------------------------------------------------
def test_spec_protocol_and_task_types_of_both_splits(spec) -> None:
    assert (spec.name, spec.task_types, spec.max_turns, spec.history) == ("alfworld", TASK_TYPES, 50, 2)
    assert (spec.success_reward, spec.invalid_penalty, spec.eval_seed_offset) == (10.0, 0.1, EVAL)
    for split in ("train", "valid_seen"):
        games = spec.make_task.split_games(split)
        assert {g.task_type for g in games} == set(TASK_TYPES)
        assert len({g.path for g in games}) == len(games)
        assert {g.task_type for g in games[:24]} == set(TASK_TYPES)  # a fixed shuffle: the first tasks mix types
        assert all(Path(g.path).parent.parent.name.startswith(tuple(TYPE_OF_DIR)) for g in games)


def test_make_task_is_deterministic_cheap_and_indexes_the_splits(spec, capsys) -> None:
    tasks = spec.make_task
    n_train, n_eval = len(tasks.split_games("train")), len(tasks.split_games("valid_seen"))
    start = time.perf_counter()
    made = [tasks(seed) for seed in range(n_train)] + [tasks(EVAL + i) for i in range(n_eval)]
    per_task = (time.perf_counter() - start) / len(made)
    assert per_task < 1e-3
    assert tasks(3) == tasks(3) and tasks(3).privileged == tasks(3).privileged
    assert tasks(n_train + 3).privileged["game_file"] == tasks(3).privileged["game_file"]
    assert tasks(EVAL + n_eval + 2).privileged["game_file"] == tasks(EVAL + 2).privileged["game_file"]
    assert "/train/" in tasks(0).privileged["game_file"]
    assert "/valid_seen/" in tasks(spec.task_seed("eval", 0)).privileged["game_file"]
    assert len({t.privileged["game_file"] for t in made}) == n_train + n_eval
    for task in made:
        assert task.env == "alfworld" and task.goal and task.privileged["expert_plan"]
        assert not task.goal.lower().startswith("your task is to")
    _report(capsys, f"make_task {per_task * 1e6:.0f} us per task once a split is listed")


# ----- the engine ---------------------------------------------------------------------------------
def _sample(spec) -> list[Task]:
    """PER_TYPE valid_seen games per type, spread over each type's games."""
    games = spec.make_task.split_games("valid_seen")
    tasks = []
    for task_type in TASK_TYPES:
        indices = [i for i, g in enumerate(games) if g.task_type == task_type]
        step = len(indices) // PER_TYPE
        tasks += [spec.make_task(EVAL + indices[k * step]) for k in range(PER_TYPE)]
    return tasks


def test_expert_wins_sampled_valid_seen_games(spec, capsys) -> None:
    argv, data_env = list(sys.argv), os.environ.get("ALFWORLD_DATA")
    resets, steps, per_game = [], [], []
    for task in _sample(spec):
        start = time.perf_counter()
        env = spec.make_env(task)
        obs = env.reset()
        resets.append(time.perf_counter() - start)
        assert "Your task is to" not in obs.text and "Welcome to TextWorld" not in obs.text
        assert obs.text.startswith("You are in the middle of a room.")
        assert "help" not in obs.admissible_actions and "look" in obs.admissible_actions
        assert task.goal == _engine_goal(env)
        played = []
        while not obs.done and len(played) < spec.max_turns:
            action = env.expert_action()
            assert action in obs.admissible_actions
            t = time.perf_counter()
            obs = env.step(action)
            steps.append(time.perf_counter() - t)
            played.append(action)
        assert obs.won and obs.done, (task.privileged["game_file"], played)
        assert played == task.privileged["expert_plan"]
        per_game.append(time.perf_counter() - start)
        env.close()
    assert sys.argv == argv and os.environ.get("ALFWORLD_DATA") == data_env
    _report(capsys, f"expert won {len(per_game)}/{len(per_game)} valid_seen games; per game {_stats(per_game)}; "
                    f"reset {_stats(resets)} (first includes the engine import); step {_stats(steps)}")


def test_demonstrator_searches_and_wins_most_sampled_valid_seen_games(spec, capsys) -> None:
    """The warm start's demonstrator plays from what the prompt shows: its first move is the first receptacle
    the room lists (not the walkthrough's), every action is admissible, and it still wins most games. The
    engine lists each kind counted down to number 1, which the searcher's order relies on."""
    from sdar.envs.alfworld.searcher import listed_receptacles
    from sdar.envs.names import kind

    wins, lengths, tasks = 0, [], _sample(spec)
    for task in tasks:
        env = spec.make_env(task)
        obs = env.reset()
        listed = listed_receptacles(obs.text)
        first = env.demo_action()
        shown = [a for a in obs.admissible_actions if a.startswith("go to ")]
        assert shown == sorted(f"go to {r}" for r in listed)  # the admissible list is sorted as text
        for k in {kind(r) for r in listed}:
            numbers = [int(r.rsplit(" ", 1)[1]) for r in listed if kind(r) == k]
            assert numbers == list(range(len(numbers), 0, -1)), (k, numbers)
        assert first == f"go to {listed[0]}"
        turns = 0
        while not obs.done and turns < spec.max_turns:
            action = env.demo_action()
            assert action in obs.admissible_actions, (task.privileged["game_file"], action)
            obs = env.step(action)
            turns += 1
        wins += obs.won
        lengths.append(turns)
        env.close()
    _report(capsys, f"demonstrator won {wins}/{len(tasks)} valid_seen games in <= {spec.max_turns} turns; "
                    f"turns median {sorted(lengths)[len(lengths) // 2]}, max {max(lengths)}")
    assert wins >= 0.75 * len(tasks)


def test_reset_is_repeatable_and_the_expert_recovers_or_looks(spec, capsys) -> None:
    task = spec.make_task(EVAL + 0)
    env = spec.make_env(task)
    first = env.reset()
    plan = task.privileged["expert_plan"]
    detour = next(a for a in first.admissible_actions if a.startswith("go to") and a != plan[0])
    obs = env.step(detour)
    assert env.expert_action() == plan[0]  # "go to" is admissible anywhere: the walkthrough goes on
    start = time.perf_counter()
    assert env.reset() == first
    again = time.perf_counter() - start
    for action in plan:
        obs = env.step(action)
    assert obs.won and env.expert_action() == "look"  # walkthrough used up
    obs = env.step("inventory")
    assert obs.text.startswith("You are") and "carrying" in obs.text and obs.won
    env.close()
    _report(capsys, f"reset of an already loaded game {again * 1e3:.0f} ms")


def test_in_process_envs_stepped_from_threads_match_sequential_play(spec) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def play(task: Task) -> list:
        return _play(spec.make_env(task))

    tasks = [spec.make_task(EVAL + i) for i in (0, 0, 1, 1)]  # two envs per game, like a GRPO group
    with ThreadPoolExecutor(len(tasks)) as threads:
        concurrent = list(threads.map(play, tasks))
    assert concurrent == [play(task) for task in tasks]
    assert all(obs[-1].won for obs in concurrent)


def test_expert_wins_in_a_worker_process(spec, capsys) -> None:
    from sdar.envs.workers import ProcessEnv

    task = spec.make_task(EVAL + 0)
    env = ProcessEnv(spec.make_env, task, timeout=60)
    start = time.perf_counter()
    env.reset()
    cold = time.perf_counter() - start
    # a fresh process translates the game itself: same transcript as this process's cached translation
    assert _play(env) == _play(spec.make_env(task))
    _report(capsys, f"cold reset in a fresh worker (interpreter + imports + game) {cold:.2f} s")


def _play(env) -> list:
    """Reset, follow the expert to the end, close; the observations."""
    try:
        observations = [env.reset()]
        while not observations[-1].done and len(observations) <= 50:
            observations.append(env.step(env.expert_action()))
    finally:
        env.close()
    assert observations[-1].won
    return observations


def _engine_goal(env) -> str:
    from sdar.envs.alfworld.env import goal_from_text

    return goal_from_text(env._state.feedback)


def _stats(values: list[float]) -> str:
    ordered = sorted(values)
    return (f"median {ordered[len(ordered) // 2] * 1e3:.0f} ms, max {ordered[-1] * 1e3:.0f} ms "
            f"(n={len(values)})")


# ----- through the CLI and the training loop ------------------------------------------------------
def test_cli_expert_eval_reports_every_type(spec, capsys) -> None:
    import json

    from sdar.cli import main

    code = main(["eval", "--env", "alfworld", "--alfworld-data", str(DATA), "--split", "valid_seen",
                 "--policy", "expert", "--episodes", "24", "--workers", "2", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["success_rate"] == 1.0
    assert set(report["per_type"]) == set(TASK_TYPES) and all(v == 1.0 for v in report["per_type"].values())


def test_sdar_trains_a_step_on_real_games(spec, tmp_path) -> None:
    import json

    from sdar.config import build_config
    from sdar.train.loop import train

    cfg = build_config("tiny", {"env.name": "alfworld", "env.data": str(DATA), "env.workers": "2",
                                "env.max_turns": "2", "train.steps": "1", "train.eval_episodes": "2",
                                "train.out": str(tmp_path)})
    record = json.loads((train(cfg, progress=False) / "metrics.jsonl").read_text().splitlines()[0])
    assert record["rollout/samples"] > 0 and record["rollout/failed_episodes"] == 0
    assert "distill/teacher_gap_mean" in record and "eval/success_rate" in record


def test_missing_data_is_one_clear_cli_line(capsys, tmp_path) -> None:
    from sdar.cli import main

    assert main(["train", "--preset", "tiny", "--env", "alfworld", "--env.data", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "ALFWORLD_DATA" in err and "alfworld-download" in err


@pytest.mark.slow
def test_warm_start_on_train_games_gives_valid_actions_and_some_success_on_valid_seen(spec, tmp_path, capsys):
    """The warm start's acceptance on real ALFWorld, with the README's best recipe: `sdar sft` with thoughts
    on 30 train games (`--thinking --repeat-share 0.5 --unlikelihood 1 --arrival`, no `--tempt`), then `sdar
    eval --thinking` on 24 valid_seen games. About an hour on a 2-core CPU; minutes on a GPU."""
    import json

    from sdar.cli import main
    from sdar.sft.run import SFTOptions, run_sft

    record = run_sft(SFTOptions(env="alfworld", data=str(DATA), model="bundled", out=str(tmp_path / "warm"),
                                episodes=30, gap_episodes=0, thinking=True, repeat_share=0.5, tempt=0.0,
                                unlikelihood=1.0, arrival=True, progress=False))
    assert record["demos"]["episodes_won"] >= 0.75 * record["demos"]["episodes"]
    capsys.readouterr()
    assert main(["eval", "--env", "alfworld", "--data", str(DATA), "--split", "valid_seen", "--model",
                 str(tmp_path / "warm" / "model"), "--episodes", "24", "--max-turns", "30", "--thinking",
                 "--workers", "2", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    _report(capsys, f"after the warm start: success {summary['success_rate']:.2f}, "
                    f"valid actions {summary['valid_action_rate']:.3f}, per type {summary['per_type']}")
    assert summary["valid_action_rate"] > 0.9
    assert 0.1 <= summary["success_rate"] <= 0.7
