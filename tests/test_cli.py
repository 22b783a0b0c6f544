"""The command line: evaluation of the expert and random policies, and one-line errors."""

import json

import pytest
import torch

from sdar.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_expert_wins_every_type(capsys):
    code, out, _ = run(capsys, "eval", "--env", "household", "--policy", "expert", "--episodes", "120", "--json")
    report = json.loads(out)
    assert code == 0 and report["success_rate"] == 1.0
    assert set(report["per_type"]) == {"pick", "look", "clean", "heat", "cool", "pick_two"}
    assert all(rate == 1.0 for rate in report["per_type"].values())
    assert report["valid_action_rate"] == 1.0


def test_random_policy_is_far_worse(capsys):
    code, out, _ = run(capsys, "eval", "--policy", "random", "--episodes", "60", "--json")
    assert code == 0 and json.loads(out)["success_rate"] < 0.4


def test_table_output(capsys):
    code, out, _ = run(capsys, "eval", "--policy", "expert", "--episodes", "12")
    assert code == 0 and out.splitlines()[0] == "pick | look | clean | heat | cool | pick_two | All | valid"
    assert out.splitlines()[2] == "(All: 95% interval 75.7-100.0 over 12 episodes)"  # 12 wins of 12: 12 / (12 + 1.96²)


def test_eval_shows_progress_on_stderr_unless_asked_not_to(capsys):
    """Episodes finish on the bar as they end (40 tasks: a batch of 32, then 8); stdout stays one JSON."""
    code, out, err = run(capsys, "eval", "--policy", "expert", "--episodes", "40", "--json")
    assert code == 0 and json.loads(out)["success_rate"] == 1.0
    assert "sdar eval" in err and "40/40" in err and "turn=" in err
    code, out, err = run(capsys, "eval", "--policy", "expert", "--episodes", "5", "--json", "--no-progress")
    assert code == 0 and json.loads(out) and err == ""


def test_eval_writes_every_turn_it_played(capsys, tmp_path):
    path = tmp_path / "deep" / "turns.jsonl"
    code, out, _ = run(capsys, "eval", "--policy", "random", "--episodes", "3", "--max-turns", "4", "--json",
                       "--trajectories", str(path))
    report = json.loads(out)
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert code == 0 and len(records) == 12 and {r["trajectory"] for r in records} == {0, 1, 2}
    assert [r["turn"] for r in records[:4]] == [0, 1, 2, 3]
    assert sum(r["valid"] for r in records) / 12 == report["valid_action_rate"]
    assert all(r["response"] == f"<action>{r['action']}</action>" and r["goal"] for r in records)


def test_eval_saves_each_batch_as_it_ends(capsys, tmp_path, monkeypatch):
    """Batches of 2: a run that dies in its second batch has written the first batch's turns."""
    import sdar.evaluate

    played = sdar.evaluate.run_episodes

    def dies_on_the_second_batch(agent, tasks, group_ids, *args, **kwargs):
        if group_ids[0] > 0:
            raise RuntimeError("cut off")
        return played(agent, tasks, group_ids, *args, **kwargs)
    monkeypatch.setattr(sdar.evaluate, "run_episodes", dies_on_the_second_batch)
    path = tmp_path / "turns.jsonl"
    with pytest.raises(RuntimeError):
        main(["eval", "--policy", "expert", "--episodes", "3", "--batch-size", "2", "--no-progress",
              "--trajectories", str(path)])
    assert {json.loads(line)["trajectory"] for line in path.read_text().splitlines()} == {0, 1}
    monkeypatch.undo()
    code, _, _ = run(capsys, "eval", "--policy", "expert", "--episodes", "3", "--batch-size", "2", "--json",
                     "--no-progress", "--trajectories", str(path))
    numbers = [json.loads(line)["trajectory"] for line in path.read_text().splitlines()]
    assert code == 0 and numbers == sorted(numbers) and set(numbers) == {0, 1, 2}


def test_eval_skip_plays_the_held_out_tasks_after_the_first_k(capsys, tmp_path):
    """--skip 2 --episodes 3 plays tasks 2-4 of a 5-task evaluation, numbered so, replacing an older file."""
    whole, part = tmp_path / "whole.jsonl", tmp_path / "part.jsonl"
    part.write_text('{"older": true}\n')
    run(capsys, "eval", "--policy", "expert", "--episodes", "5", "--json", "--trajectories", str(whole))
    code, out, _ = run(capsys, "eval", "--policy", "expert", "--episodes", "3", "--skip", "2", "--batch-size", "2",
                       "--json", "--trajectories", str(part))
    goals = {}
    for path in (whole, part):
        for r in map(json.loads, path.read_text().splitlines()):
            goals.setdefault(path.name, {})[r["trajectory"]] = r["goal"]
    assert code == 0 and json.loads(out)["episodes"] == 3 and json.loads(out)["skip"] == 2
    assert goals["part.jsonl"] == {k: goals["whole.jsonl"][k] for k in (2, 3, 4)}
    assert len(set(goals["whole.jsonl"].values())) == 5  # distinct tasks, so the match says which ones were played
    code, _, err = run(capsys, "eval", "--policy", "expert", "--skip", "-1")
    assert code != 0 and "--skip" in err


def test_eval_history_sets_the_pairs_the_prompt_shows(capsys, tmp_path):
    """`--history N`, as `sdar sft --history N` trains: the prompts carry the last N turns (household's own: 2)."""
    shown = {}
    for history in ("-1", "4"):
        path = tmp_path / f"turns{history}.jsonl"
        code, out, _ = run(capsys, "eval", "--policy", "expert", "--episodes", "1", "--json", "--no-progress",
                           "--history", history, "--trajectories", str(path))
        assert code == 0
        last = json.loads(path.read_text().splitlines()[-1])
        shown[history] = (json.loads(out)["history"], last["prompt"].count("[Observation "))
    assert shown == {"-1": (2, 2), "4": (4, 4)}


def test_eval_cuts_the_history_of_prompts_over_the_budget_as_training_does(capsys, tmp_path):
    path = tmp_path / "turns.jsonl"
    code, out, _ = run(capsys, "eval", "--model", "tiny", "--episodes", "1", "--max-turns", "3", "--json",
                       "--no-progress", "--max-new-tokens", "4", "--history", "4", "--max-prompt-tokens", "50",
                       "--trajectories", str(path))
    assert code == 0 and json.loads(out)["max_prompt_tokens"] == 50
    assert [json.loads(line)["prompt"].count("[Observation ") for line in path.read_text().splitlines()] == [0, 0, 0]


@pytest.mark.parametrize("policy", ["expert", "demo", "random"])
def test_scripted_policies_write_the_think_block_a_thinking_prompt_asks_for(capsys, policy):
    reports = {}
    for flag in ("--thinking", "--no-thinking"):
        code, out, _ = run(capsys, "eval", "--policy", policy, "--episodes", "6", "--json", "--no-progress", flag)
        reports[flag] = json.loads(out)
    assert reports["--thinking"]["thinking"] and not reports["--no-thinking"]["thinking"]
    assert reports["--thinking"]["valid_action_rate"] == reports["--no-thinking"]["valid_action_rate"] == 1.0
    assert reports["--thinking"]["success_rate"] == reports["--no-thinking"]["success_rate"]


@pytest.mark.parametrize("record_name, record, recorded", [
    ("sft.json", {"options": {"thinking": True}, "history": 4}, (True, 4)),
    ("config.json", {"rollout": {"thinking": True, "max_new_tokens": 5}, "env": {"history": -1}},
     (True, 2)),  # -1: household's 2
    ("config.json", {"architectures": ["LlamaForCausalLM"]}, (False, 2)),  # not a run of ours: the defaults
])
def test_eval_takes_thinking_and_history_from_the_run_that_wrote_the_model(capsys, tmp_path, tiny, record_name,
                                                                           record, recorded):
    model, tokenizer = tiny
    model.save_pretrained(tmp_path / "run" / "final")
    tokenizer.save_pretrained(tmp_path / "run" / "final")
    (tmp_path / "run" / record_name).write_text(json.dumps(record))
    common = ["eval", "--model", str(tmp_path / "run" / "final"), "--episodes", "1", "--max-turns", "1", "--json",
              "--no-progress", "--max-new-tokens", "4"]
    code, out, err = run(capsys, *common)
    report = json.loads(out)
    assert code == 0 and (report["thinking"], report["history"]) == recorded
    assert (record_name in err) == (len(record) == 2)  # says where the settings came from
    code, out, _ = run(capsys, *common, "--no-thinking", "--history", "1")  # flags given win
    assert code == 0 and (json.loads(out)["thinking"], json.loads(out)["history"]) == (False, 1)
    code, out, _ = run(capsys, *[a for a in common if a not in ("--max-new-tokens", "4")])
    assert code == 0 and json.loads(out)["max_new_tokens"] == (5 if "rollout" in record else 64)  # a train run's
    if record_name == "config.json" and len(record) == 2:  # a checkpoint's model: the run's record, two up
        checkpoint = tmp_path / "run" / "checkpoints" / "step_000001" / "model"
        checkpoint.parent.mkdir(parents=True)
        (tmp_path / "run" / "final").rename(checkpoint)
        code, out, _ = run(capsys, *[str(checkpoint) if a.endswith("final") else a for a in common])
        assert code == 0 and (json.loads(out)["thinking"], json.loads(out)["history"]) == recorded


def test_eval_refuses_an_unwritable_trajectories_file_before_playing(capsys, tmp_path):
    (tmp_path / "file").write_text("")
    code, out, err = run(capsys, "eval", "--policy", "expert", "--trajectories", str(tmp_path / "file" / "x.jsonl"))
    assert code != 0 and "--trajectories" in err and out == ""


def test_eval_keeps_an_older_trajectories_file_until_it_has_played(capsys, tmp_path):
    """A model that does not load leaves the file as it was; a run that plays replaces it."""
    path = tmp_path / "turns.jsonl"
    path.write_text('{"older": true}\n')
    code, _, err = run(capsys, "eval", "--policy", "model", "--model", str(tmp_path / "no-such-model"),
                       "--trajectories", str(path))
    assert code != 0 and "no config.json" in err and path.read_text() == '{"older": true}\n'
    code, _, _ = run(capsys, "eval", "--policy", "expert", "--episodes", "2", "--json", "--trajectories", str(path))
    assert code == 0 and all("older" not in json.loads(line) for line in path.read_text().splitlines())


def test_wilson_interval_is_where_the_score_test_accepts():
    """Every p inside the interval passes |p̂ − p| ≤ z·sqrt(p(1 − p)/n), found here by bisection."""
    from sdar.evaluate import wilson_interval

    def edge(k, n, lo, hi, inside_at_hi):  # the boundary of the accepted set between lo and hi
        for _ in range(60):
            mid = (lo + hi) / 2
            accepted = abs(k / n - mid) <= 1.96 * (mid * (1 - mid) / n) ** 0.5
            lo, hi = (lo, mid) if accepted == inside_at_hi else (mid, hi)
        return (lo + hi) / 2

    for k, n in [(0, 30), (1, 30), (3, 30), (15, 30), (30, 30), (7, 100)]:
        lo, hi = wilson_interval(k, n)
        p = k / n
        assert lo == pytest.approx(edge(k, n, 0.0, p, True) if k else 0.0, abs=1e-9)
        assert hi == pytest.approx(edge(k, n, p, 1.0, False) if k < n else 1.0, abs=1e-9)
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_a_lora_adapter_given_as_a_model_says_to_export_it(capsys, tmp_path):
    (tmp_path / "final").mkdir()
    (tmp_path / "final" / "adapter_config.json").write_text("{}")
    code, _, err = run(capsys, "eval", "--model", str(tmp_path / "final"), "--episodes", "1")
    assert code == 2 and "is a LoRA adapter" in err and "sdar export" in err
    (tmp_path / "config.json").write_text('{"model": {}}')  # an old or damaged run record
    code, _, err = run(capsys, "export", str(tmp_path))
    assert code == 2 and "not a valid sdar config" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("argv, words", [
    (["train", "--loss.beta", "x"], ["--loss.beta", "expected float"]),
    (["train", "--bogus", "1"], ["unknown option --bogus", "--algo"]),
    (["train", "--algo", "ppo"], ["--loss.algo", "sdar, grpo"]),
    (["train", "--preset", "huge"], ["unknown preset", "tiny"]),
    (["eval", "--batch-size", "0"], ["--batch-size", "> 0"]),
    (["train", "--model", "/no/such/dir", "--preset", "tiny"], ["--model.path", "config.json"]),
    (["eval", "--env", "moon", "--policy", "expert"], ["--env", "household"]),
    (["eval", "--policy", "expert", "--history", "-2"], ["--history", ">= -1"]),
    (["eval", "--policy", "expert", "--max-prompt-tokens", "0"], ["--max-prompt-tokens", "> 0"]),
    (["eval", "--policy", "expert", "--max-turns", "-3"], ["--max-turns", ">= 0"]),
    (["eval", "--policy", "expert", "--temperature", "-1"], ["--temperature", ">= 0"]),
    (["eval", "--policy", "expert", "--max-new-tokens", "0"], ["--max-new-tokens", "> 0"]),
    (["eval", "--policy", "expert", "--workers", "-2"], ["--workers", ">= 0"]),
    (["eval", "--policy", "expert", "--timeout", "5"], ["--timeout", "needs --workers"]),
    (["eval", "--policy", "expert", "--workers", "1", "--timeout", "0"], ["--timeout", "> 0"]),
    pytest.param(["eval", "--model", "tiny", "--device", "cuda:0"], ["--model.device cuda:0", "no CUDA GPU"],
                 marks=pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")),
    (["train", "--preset", "tiny", "--warmstart.noise", "1.5", "--warmstart.episodes", "2"],
     ["--warmstart.noise", "in [0, 1]"]),
    (["fly"], ["unknown command", "train"]),
])
def test_bad_input_is_one_clear_line(capsys, argv, words, tmp_path):
    if argv[0] == "train":
        argv = argv + ["--out", str(tmp_path / "run")]
    code, out, err = run(capsys, *argv)
    assert code == 2
    line = err.strip()
    assert "\n" not in line and "Traceback" not in line
    for word in words:
        assert word in line


@pytest.mark.parametrize("flags, timeout", [([], 60.0), (["--timeout", "7.5"], 7.5)])
def test_eval_workers_get_the_timeout(capsys, monkeypatch, flags, timeout):
    import sdar.envs.workers as workers

    given = []

    def in_workers(spec, **kwargs):
        given.append(kwargs["timeout"])
        return real(spec, **kwargs)
    real = workers.in_workers
    monkeypatch.setattr(workers, "in_workers", in_workers)
    code, out, err = run(capsys, "eval", "--policy", "expert", "--episodes", "1", "--workers", "1", "--json", *flags)
    assert code == 0, err
    assert given == [timeout] and json.loads(out.splitlines()[-1])["success_rate"] == 1.0


@pytest.mark.parametrize("flags, shows", [(["--algo", "skill_prompt"], True), (["--with-skills"], True),
                                          (["--algo", "vanilla"], False), ([], False)])
def test_only_skill_evaluations_show_skills(flags, shows):
    """`sdar eval`'s flags, through the CLI's parsing, to the prompt the model is given."""
    from sdar.cli import eval_arguments, make_eval_agent
    from sdar.envs import get_env_spec

    agent = make_eval_agent(eval_arguments(["--model", "tiny", "--device", "cpu", *flags]))
    task = get_env_spec("household").make_task(2)
    prompt = agent.tokenizer.decode(agent.encode("Your task is to: x", task))
    assert ("Skills that help with this task" in prompt) == shows


def test_vanilla_and_with_skills_contradict(capsys):
    code, _, err = run(capsys, "eval", "--algo", "vanilla", "--with-skills", "--policy", "expert")
    assert code == 2 and "contradicts" in err


def benchmark(name: str):
    """The module benchmarks/NAME.py (the benchmarks are scripts, not a package: run as a script, one finds
    the modules beside it, so its folder goes on the path here too)."""
    import importlib.util
    import sys
    from pathlib import Path

    folder = Path(__file__).resolve().parents[1] / "benchmarks"
    if str(folder) not in sys.path:
        sys.path.append(str(folder))
    spec = importlib.util.spec_from_file_location(name, folder / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_benchmark_results_name_their_command_commit_and_machine(tmp_path, monkeypatch, capsys):
    import os
    import subprocess
    import sys
    from pathlib import Path

    record = benchmark("record")
    monkeypatch.setattr(sys, "argv", ["/somewhere/benchmarks/toy.py", "--label", "two words"])
    record.write_results("toy", {"rows": [1, 2]}, ["# toy", "| a |"], folder=tmp_path / "out")
    written = json.loads((tmp_path / "out" / "toy.json").read_text())
    head = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True,
                          cwd=Path(record.__file__).parent).stdout.strip()
    assert written["command"] == "python benchmarks/toy.py --label 'two words'"
    assert written["rows"] == [1, 2] and head and head in written["commit"]
    assert written["machine"]["cores"] == os.cpu_count() and written["machine"]["torch"] == torch.__version__
    md = (tmp_path / "out" / "toy.md").read_text().splitlines()
    assert md[:3] == ["# toy", "| a |", ""] and md[3].startswith(f"Commit {written['commit']}; device ")
    assert capsys.readouterr().out.splitlines() == md
    kept = record.machine(precision="bf16")
    record.write_results("toy", {"machine": kept}, [], folder=tmp_path / "out")  # a benchmark's own record wins
    assert json.loads((tmp_path / "out" / "toy.json").read_text())["machine"]["precision"] == "bf16"


def test_demo_thoughts_counts_thought_kinds_per_task_type():
    from types import SimpleNamespace

    module = benchmark("demo_thoughts")

    def demo(task_type, thought, observation="You arrive at desk 1."):
        return SimpleNamespace(task=SimpleNamespace(task_type=task_type),
                               user_message=f"your current observation is: {observation}\n",
                               response_text=f"<think>{thought}</think><action>look</action>")
    demos = [demo("pick", "Looking for book, not here."), demo("pick", "Looking for book 1, here it is."),
             demo("pick_two", "Looking for pen, not here.", "You put the pen 1 in/on the safe 1."),
             demo("pick_two", "Carrying pen 2 to put it in/on safe 1."),
             demo("pick", "Looking for book, not here. That was the last cabinet; next: desk 1."),
             demo("look", "My task is to look at cd under the desklamp. The next step towards it is: look.")]
    table = module.counts(demos)
    assert table["all"] == {"turns": 6, "not here": 2, "kind done": 1, "here it is": 1, "carrying": 1,
                            "template": 1, "after put": 1}
    assert table["pick_two"]["not here"] == 1 and table["pick"]["turns"] == 3 and table["look"]["template"] == 1


def test_invalid_turns_pools_files_without_merging_their_episodes(tmp_path):
    module = benchmark("invalid_turns")
    turn = {"trajectory": 0, "task_type": "pick", "valid": True, "prompt": "your current observation is: x\n",
            "response": "<action>look</action>", "action": "look"}
    for name, won in (("a", True), ("b", False)):
        (tmp_path / f"{name}.jsonl").write_text(json.dumps({**turn, "won": won}) + "\n\n")
    text = module.summary(module.read_turns([str(tmp_path / "a.jsonl"), str(tmp_path / "b.jsonl")]))
    assert "2 episodes, 1 won; 2 turns, 0 invalid" in text


def test_invalid_turns_tells_loops_from_first_mistakes():
    module = benchmark("invalid_turns")

    def turn(k, valid, observation, action):
        return {"trajectory": k, "task_type": "pick", "won": k == 1, "valid": valid,
                "prompt": f"your current observation is: {observation}\n", "response": f"<action>{action}</action>",
                "action": action if valid else None}
    rows = [turn(0, True, "You arrive.", "go to desk 1"), turn(0, False, "You arrive at desk 1.", "go to desk 1"),
            turn(0, False, "Nothing happens.", "go to desk 1"), turn(0, True, "Nothing happens.", "open desk 1"),
            turn(1, False, "You see a book 1.", "take book from desk 1"), turn(1, True, "Nothing happens.", "look")]
    text = module.summary(rows)
    assert "2 episodes, 1 won; 6 turns, 3 invalid (0.500)" in text
    assert "right after an invalid turn: 1 (of 3 turns after one, 2 of them valid)" in text
    assert "first invalid turns: 2, by verb: go 1, take 1" in text and "pick 3/6" in text
    quiet = module.summary([turn(3, True, "You arrive.", "examine desk 1"),  # valid, yet "Nothing happens."
                            turn(3, False, "Nothing happens.", "go to desk 1")])
    assert "right after an invalid turn: 0 (of 0 turns after one" in quiet and "first invalid turns: 1" in quiet
    assert "take-backs (valid turns taking out what the episode's last put placed): 0 in 0 episodes" in text
    assert 'invalid "go to" turns, by where they went: where it stands 2' in text
    assert "by the thought's first word and the verb: no thought + go 2, no thought + take 1" in text
    thinking = [{**turn(5, valid, "", action), "response": f"<think>{thought}</think><action>{action}</action>"}
                for valid, thought, action in
                [(False, "Carrying pot 1 to cool it with fridge 1.", "go to fridge 1"),
                 (True, "Carrying pot 1 to cool it with fridge 1.", "cool pot 1 with fridge 1"),
                 (False, "Looking for mug, not here.", "go to cabinet 0"),
                 (False, "Carrying mug 1 to move it to desk 1.", "move mug 1 to desk 2")]]
    assert module.by_thought(thinking) == {"carrying + go": 1, "looking + go": 1, "carrying + move": 1}
    listed = ("[Observation 1: 'Nothing happens.', Action 1: 'go to shelf 9']\n"  # not offered: only in the history
              "Your admissible actions of the current situation are: ['go to desk 1', 'go to shelf 1'].")
    roam = [{**turn(4, valid, "", action), "prompt": listed} for valid, action in
            [(False, "go to desk 1"), (True, "go to desk 1"), (False, "go to shelf 9"), (False, "go to Desk  1")]]
    roam.append({**turn(4, False, "", "go to shelf 1"), "prompt": "admissible actions of the current situation "
                 "are: ['examine shelf 1', 'go to desk 1']."})  # shelf 1 shares desk 1's spot
    assert module.go_to_misses(roam) == {"offered this turn": 1, "offered at other turns": 1, "not in the room": 1,
                                         "where it stands": 1}
    counting = [{**turn(6, valid, "", action), "prompt": listed} for valid, action in
                [(True, "go to shelf 1"), (False, "go to shelf 2"), (False, "go to shelf 1"), (False, "go to desk 2"),
                 (False, "go to shelf 0")]]
    assert module.go_to_misses(counting) == {"one past where it stands": 1, "where it stands": 1, "not in the room": 1,
                                             "number 0": 1}
    room = turn(7, True, "You are in the middle of a room. Looking quickly around you, you see a cabinet 2, "
                         "a cabinet 1, a coffeemachine 1, and a drawer 1.", "go to cabinet 2")
    leaving = [room] + [turn(7, valid, "", action) for valid, action in
                        [(True, "go to cabinet 1"), (False, "go to cabinet 0"), (False, "go to cabinet 1"),
                         (True, "go to cabinet 2"), (True, "go to cabinet 1"), (True, "go to coffeemachine 1"),
                         (True, "go to cabinet 1"), (True, "go to drawer 1"), (True, "open drawer 1")]]
    # from cabinet 1: two invalid, back up to cabinet 2, on to the next kind, and later past it to the drawer;
    # coffeemachine 1 -> cabinet 1 is another kind too; the "go to"s from cabinet 2 and the open are not counted
    assert module.leaving_number_1(leaving) == {"invalid": 2, "same kind": 1, "next kind": 1, "other kind": 2}
    assert '"go to" turns standing at number 1 of a kind: next kind 0, other kind 0, same kind 0, invalid 2' in text
    loop = [turn(2, True, "", "put pot 2 in/on fridge 1"), turn(2, True, "", "take pot 2 from fridge 1"),
            turn(2, True, "", "take pot 3 from fridge 1"), turn(2, True, "", "put pot 2 in/on fridge 1"),
            turn(2, False, "", "take pot 2 from fridge 1"), turn(2, True, "", "take pot 2 from fridge 1")]
    assert module.take_backs(loop) == 2  # not the other pot, not an invalid take
    moved = [turn(2, True, "", "move pot 2 to fridge 1"), turn(2, True, "", "take pot 2 from fridge 1")]
    assert module.take_backs(moved) == 1  # ALFWorld places with "move"
    back = [turn(2, True, "", "take pot 2 from fridge 1"), turn(2, True, "", "move pot 2 to fridge 1"),
            turn(2, True, "", "take pot 2 from fridge 1"), turn(2, True, "", "go to microwave 1"),
            turn(2, True, "", "heat pot 2 with microwave 1"), turn(2, True, "", "heat pot 2 with microwave 1"),
            turn(2, False, "", "heat pot 2 with microwave 1"), turn(2, True, "", "heat pot 2 with microwave 1")]
    assert module.going_back(back) == {"put back": 1, "taken back": 1, "treated again": 1}  # not after an invalid
    assert "looks: 1, 1 of them right after an invalid turn; invalid turns right after a look: 0" in text
    looping = [turn(5, True, "", "look"), turn(5, False, "", "go to desk 1"), turn(5, True, "", "look"),
               turn(5, False, "", "go to desk 1"), turn(5, False, "", "look"), turn(5, True, "", "go to desk 2")]
    assert module.looks(looping) == {"look": 2, "after invalid": 1, "invalid next": 2}

    def shown(k, valid, action, pairs):  # a prompt whose history shows `pairs` past turns
        return {**turn(k, valid, "", action), "prompt": "[Observation 1: '', Action 1: '']\n" * pairs}
    held = [shown(3, False, "take pot 2 from fridge 1", 0), shown(3, True, "take pot 2 from fridge 1", 1),
            shown(3, True, "go to desk 1", 2), shown(3, False, "put pot 2 in/on desk 2", 2),
            shown(3, False, "put pot 2 in/on desk 2", 2), shown(3, True, "go to desk 2", 2),
            shown(3, False, "put pot 2 in/on desk 1", 2), shown(3, True, "take pot 3 from desk 1", 0),
            shown(3, False, "put pot 3 in/on desk 1", 0)]
    assert module.last_change_in_sight(held) == {"none yet": 1, "in the window": 1, "outcome only": 2, "beyond it": 1}
    assert "last take, put, treat or use was: none yet 3, in the window 0, outcome only 0, beyond it 0" in text


def test_warm_compare_runs_each_cell_once_and_refuses_a_changed_command(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "warm_compare.py"

    def compare(shared, episodes="2"):
        return subprocess.run(
            [sys.executable, str(script), "--out", str(tmp_path / "runs"), "--seeds", "0", "--shared", shared,
             "--variant", "plain=", "--variant", "short window=--history 1", "--eval-episodes", episodes,
             "--eval-options", "--max-turns 3", "--results", str(tmp_path), "--name", "wc"],
            capture_output=True, text=True)
    shared = "--model tiny --env household --episodes 2 --gap-episodes 0"
    first = compare(shared)
    assert first.returncode == 0, first.stdout + first.stderr
    rows = (tmp_path / "wc.md").read_text().splitlines()
    assert rows[0].startswith("`python benchmarks/warm_compare.py --out ")
    assert rows[2].startswith("Code: ") and "different code" not in rows[2]  # one commit for both cells
    assert rows[4].startswith("Pooled over seeds 0 ")
    assert [r.split(" | ")[0] for r in rows[8:-2]] == ["| plain", "| short window"]
    assert all(" = 0." in r and "/2 (seed 0)" in r for r in rows[8:-2])
    record = json.loads((tmp_path / "wc.json").read_text())
    assert rows[-1].startswith(f"Commit {record['commit']}; device ") and record["command"] == rows[0].strip("`")
    cells = record["cells"]
    evals = {name: c[0]["eval"] for name, c in cells.items()}  # the window each warm start was trained with
    assert "--history 2 " in " ".join(evals["plain"]) and "--history 1 " in " ".join(evals["short window"])
    assert cells["plain"][0]["code"] in rows[2]
    assert cells["plain"][0]["code"] == (tmp_path / "runs" / "plain" / "seed0" / "sft.code").read_text().strip()
    assert cells["plain"][0]["invalid_turns"] == sum(cells["plain"][0]["invalid_by_last_change"].values())

    cell = tmp_path / "runs" / "short_window" / "seed0"
    made, trained = (cell / "cell.json").stat().st_mtime_ns, (cell / "sft.json").stat().st_mtime_ns
    assert compare(shared).returncode == 0 and (cell / "cell.json").stat().st_mtime_ns == made  # read back
    (cell / "cell.json").unlink()  # as if cut off during its evaluation: the warm start is kept
    assert compare(shared).returncode == 0 and (cell / "cell.json").exists()
    assert (cell / "sft.json").stat().st_mtime_ns == trained
    for changed in (compare(shared + " --lr 1e-3"), compare(shared, episodes="3")):
        assert changed.returncode != 0 and "another command" in changed.stderr
