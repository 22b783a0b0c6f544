"""Tests of the search-QA environment (knowledge base, questions, EM, actions, expert, Search-R1 files).

Golden transcripts live in tests/data/golden/search_qa_seed<N>.json. After an intended change to the
knowledge base, the questions or the expert, regenerate them and review the diff:

    SDAR_REGEN_GOLDEN=1 .venv/bin/python -m pytest tests/envs/test_search_qa.py -q
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import pytest

import sdar.rollout.search_format  # noqa: F401 - registers the "search" format
from sdar.envs.base import _REGISTRY, get_env_spec
from sdar.envs.search_qa import (
    KINDS,
    QuestionsError,
    SearchQATasks,
    exact_match,
    load_questions,
    make_question,
    normalize_answer,
    search_qa_metrics,
    search_qa_spec,
    split_action,
)
from sdar.envs.search_qa.kb import builtin_index, knowledge_base, passages
from sdar.evaluate import evaluate
from sdar.retrieval import CorpusError
from sdar.rollout.collect import ExpertAgent, RandomAgent, run_episodes
from sdar.rollout.prompts import get_format
from sdar.types import Task

DATA = Path(__file__).parent.parent / "data"
SEARCH_R1 = DATA / "search_r1"
GOLDEN_SEEDS = (1_000_000, 1_000_001, 1_000_002, 1_000_003)  # one per kind
EVAL_EPISODES = 240  # sixty per kind


@pytest.fixture
def registered(monkeypatch):
    monkeypatch.setitem(_REGISTRY, "search_qa", search_qa_spec)


def _transcript(seed: int) -> dict:
    spec = search_qa_spec()
    task = spec.make_task(seed)
    env = spec.make_env(task)
    obs = env.reset()
    steps = []
    while not obs.done:
        action = env.expert_action()
        obs = env.step(action)
        steps.append({"action": action, "observation": obs.text})
    return {"seed": seed, "kind": task.task_type, "question": task.goal, "answers": task.privileged["answers"],
            "steps": steps, "won": obs.won}


# ----- golden transcripts, spec, determinism ------------------------------------------------------
@pytest.mark.parametrize("seed", GOLDEN_SEEDS)
def test_golden_transcript(seed: int) -> None:
    path = DATA / "golden" / f"search_qa_seed{seed}.json"
    transcript = _transcript(seed)
    if os.environ.get("SDAR_REGEN_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(transcript, indent=2) + "\n")
    assert path.exists(), f"missing {path}; run with SDAR_REGEN_GOLDEN=1 to create it"
    assert transcript == json.loads(path.read_text())


def test_golden_seeds_cover_every_kind() -> None:
    kinds = {json.loads((DATA / "golden" / f"search_qa_seed{s}.json").read_text())["kind"] for s in GOLDEN_SEEDS}
    assert kinds == set(KINDS)


def test_spec_has_the_agreed_protocol(registered) -> None:
    spec = get_env_spec("search_qa")
    assert spec == search_qa_spec()
    assert spec.task_types == KINDS == ("single_hop", "attribute", "multi_hop", "comparison")
    assert (spec.max_turns, spec.history, spec.success_reward, spec.invalid_penalty, spec.prompt_format) == (
        4, 4, 1.0, 0.01, "search")
    task = spec.make_task(spec.task_seed("eval", 6))
    assert (task.env, task.seed, task.task_type) == ("search_qa", 1_000_006, KINDS[1_000_006 % 4])
    assert spec.make_task(9) == spec.make_task(9)


# ----- knowledge base and questions ---------------------------------------------------------------
def test_knowledge_base_is_fixed_unique_and_in_search_r1_format() -> None:
    kb = knowledge_base()
    docs = passages(kb)
    assert docs == passages(knowledge_base())
    assert len(docs) > 1400 and len({d["id"] for d in docs}) == len(docs)
    assert all(set(d) == {"id", "contents"} and "\n" in d["contents"] for d in docs)
    assert len(builtin_index()) == len(docs)


def test_questions_are_balanced_answerable_and_deterministic() -> None:
    questions = [make_question(s) for s in range(400)]
    assert Counter(q.kind for q in questions) == {k: 100 for k in KINDS}
    assert make_question(17) == make_question(17) and len({q.question for q in questions}) >= 350
    corpus = " ".join(d["contents"] for d in passages(knowledge_base()))
    for q in questions:
        assert all(a in corpus for a in q.answers)
        assert len(q.chain) == (2 if q.kind in ("multi_hop", "comparison") else 1)
        if q.kind == "comparison":
            assert q.answers[0] in q.question


def test_no_training_question_rests_on_a_fact_an_evaluation_answer_comes_from() -> None:
    """Held out by fact, not by question: "In what year was P born?" in evaluation means no training
    question ends on P's birth year, "the founder of C" included."""
    train = [make_question(s) for s in range(8000)]
    evals = [make_question(s, held_out=True) for s in range(400)]
    trained = {f for q in train for f in q.facts}
    for q in evals:
        answered_from = q.facts if q.kind == "comparison" else q.facts[-1:]
        assert not set(answered_from) <= trained, q.question
    value_of = {}
    for q in train + evals:  # a fact is one triple whichever question asks it, and the chain surfaces it
        assert len(q.facts) == len(q.chain) and all(f[2] == c[1] for f, c in zip(q.facts, q.chain))
        assert q.kind == "comparison" or q.answers == (q.facts[-1][2],)
        for subject, relation, value in q.facts:
            assert value_of.setdefault((subject, relation), value) == value
    assert {q.kind for q in evals} == set(KINDS) and len({q.question for q in evals}) >= 250


def test_multi_hop_needs_the_second_search() -> None:
    """The first hop surfaces the bridge entity but (almost never) the answer."""
    index = builtin_index()
    seeds = [s for s in range(2, 800, 4)]
    answered_early = 0
    for seed in seeds:
        q = make_question(seed)
        assert q.kind == "multi_hop"
        first = " ".join(p.contents for p in index.search(q.chain[0][0], 3))
        assert q.chain[0][1] in first
        answered_early += q.answers[0] in first
    assert answered_early / len(seeds) < 0.1


def test_exact_match_normalisation() -> None:
    assert normalize_answer("The  Eiffel-Tower!") == "eiffeltower"
    assert normalize_answer("An apple, a day") == "apple day"
    assert exact_match("the Solandor.", ["Solandor"]) and exact_match("paris", ["Lyon", "Paris"])
    assert not exact_match("Solandor city", ["Solandor"]) and not exact_match("", ["x"])


# ----- actions ------------------------------------------------------------------------------------
def test_search_answer_and_invalid_actions() -> None:
    spec = search_qa_spec()
    task = spec.make_task(1_000_002)  # multi-hop
    env = spec.make_env(task)
    obs = env.reset()
    assert obs.text == task.goal and obs.admissible_actions == (f"<search>{task.goal}</search>",)
    assert split_action(" <SEARCH> a  b </search>") == ("search", "a b") and split_action("search a") is None
    assert env.step("look around").text.startswith("Invalid action")
    obs = env.step("<search>The Burning Island novel</search>")
    assert obs.text.startswith("<information>Doc 1(Title: The Burning Island) ") and obs.text.endswith(
        "</information>")
    assert obs.text.count("\nDoc ") == 2 and not obs.done
    assert "<answer>The Burning Island</answer>" in obs.admissible_actions
    assert "No passage matches" in env.step("<search>zzzz qqqq</search>").text
    done = env.step("<answer>the Composer!</answer>")
    assert done.done and done.won and done.admissible_actions == ()
    with pytest.raises(RuntimeError):
        env.step("<answer>x</answer>")
    env.reset()
    assert not env.step("<answer>Aldo Brisko</answer>").won


def test_search_format_parses_one_tagged_action() -> None:
    fmt = get_format("search")
    assert fmt.stop_strings == ("</search>", "</answer>")
    parse = fmt.parse
    assert parse("<search> who  wrote X </search>", (), thinking=False) == "<search>who wrote X</search>"
    assert parse("I think <answer>Paris</answer>", (), thinking=False) == "<answer>Paris</answer>"
    assert parse("<action><search>q</search></action>", (), thinking=False) == "<search>q</search>"
    assert parse("<search>a</search><answer>b</answer>", (), thinking=False) is None
    assert parse("<search>  </search>", (), thinking=False) is None and parse("Paris", (), thinking=False) is None
    assert parse("<answer>x</answer>", (), thinking=True) is None
    assert parse("<think>hm</think> <answer>x</answer>", (), thinking=True) == "<answer>x</answer>"


def test_search_prompt_shows_each_search_with_its_results() -> None:
    render = get_format("search").render
    first = render("Who?", 0, [], "Who?", (), thinking=False)
    assert "Question: Who?" in first and "<search> query </search>" in first and "step(s)" not in first
    history = [("Who?", "<search>a</search>"), ("<information>A</information>", "<search>b</search>")]
    message = render("Who?", 2, history, "<information>B</information>", (), thinking=True)
    assert "Step 1: <search>a</search>\n<information>A</information>" in message
    assert "Step 2: <search>b</search>\n<information>B</information>" in message
    assert "<think>" in message
    cut = render("Who?", 5, history[1:], "<information>B</information>", (), thinking=False)
    assert "Step 5: <search>b</search>" in cut and "Step 4" not in cut
    bare = render("Who?", 5, [], "<information>B</information>", (), thinking=False)  # history 0
    assert "5 step(s)" in bare and "<information>B</information>" in bare


# ----- expert and random through the real rollout -----------------------------------------------
def test_expert_reaches_the_acceptance_bar_on_every_kind_and_random_does_not() -> None:
    spec = search_qa_spec()
    summary, trajs = evaluate(ExpertAgent(), spec, episodes=EVAL_EPISODES, max_turns=spec.max_turns,
                              history=spec.history, thinking=False)
    metrics = search_qa_metrics(trajs, spec.task_types)
    assert all(em >= 0.95 for em in metrics["em_per_kind"].values()), metrics
    assert summary["valid_action_rate"] == 1.0 and metrics["em_mean"] >= 0.95
    assert all(t.episode_return == 1.0 and len(t.turns) <= 3 for t in trajs if t.won)
    _, trajs = evaluate(RandomAgent(0), spec, episodes=EVAL_EPISODES, max_turns=spec.max_turns,
                        history=spec.history, thinking=False)
    assert search_qa_metrics(trajs, spec.task_types)["em_mean"] < 0.2


def test_the_expert_needs_the_retrieval(monkeypatch) -> None:
    """With a retriever that finds nothing the expert cannot answer: its EM comes from the searches."""
    from sdar.envs.search_qa import env as env_module

    class Empty:
        def search(self, query, topk=3):
            return []

    monkeypatch.setattr(env_module, "get_retriever", lambda corpus: Empty())
    spec = search_qa_spec()
    trajs = run_episodes(ExpertAgent(), [spec.make_task(s) for s in range(8)], list(range(8)), spec,
                         max_turns=4, history=4, thinking=False)
    assert not any(t.won for t in trajs) and all(t.turns[-1].action == "<answer>unknown</answer>" for t in trajs)


def test_cli_eval_runs_the_registered_env(registered, capsys) -> None:
    from sdar.cli import main

    assert main(["eval", "--env", "search_qa", "--policy", "expert", "--episodes", "20", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["success_rate"] >= 0.95 and set(report["per_type"]) == set(KINDS)



@pytest.mark.slow
def test_sdar_trains_on_the_tiny_preset(registered, tmp_path) -> None:
    """`sdar train --env search_qa` runs SDAR end to end on the tiny model (30-40 s on a CPU)."""
    from sdar.cli import main

    out = tmp_path / "run"
    assert main(["train", "--preset", "tiny", "--env", "search_qa", "--out", str(out), "--no-progress"]) == 0
    steps = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert steps[-1] == 2 and json.loads((out / "config.json").read_text())["env"]["name"] == "search_qa"

# ----- Search-R1 files ------------------------------------------------------------------------------
def test_search_r1_question_files_load_both_layouts() -> None:
    items = load_questions(str(SEARCH_R1 / "test.jsonl"))
    assert [(q.question, q.answers, q.source) for q in items] == [
        ("where was marie curie born", ("Warsaw",), "nq"),
        ("In which city was the designer of the Eiffel Tower's company born?", ("Dijon",), "hotpotqa"),
        ("what is the highest mountain on earth", ("Mount Everest",), "triviaqa"),
    ]
    tasks = SearchQATasks(str(SEARCH_R1))
    assert tasks.task_types() == ("hotpotqa", "nq", "triviaqa")
    assert tasks(0).goal == "what is the capital of france" and tasks(1_000_001).task_type == "hotpotqa"
    assert tasks(3).goal == tasks(1).goal  # train seeds wrap around the train file
    single = SearchQATasks(str(SEARCH_R1 / "test.jsonl"))  # one file: evaluation only
    assert single(1_000_001).task_type == "hotpotqa"
    with pytest.raises(QuestionsError, match="train.* and test.*"):
        single(0)


def test_bad_question_files_fail_clearly(tmp_path) -> None:
    bad = tmp_path / "q.jsonl"
    bad.write_text('{"question": "no answers"}\n')
    with pytest.raises(QuestionsError, match="golden_answers"):
        load_questions(str(bad))
    parquet = tmp_path / "test.parquet"
    parquet.write_bytes(b"PAR1")
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        with pytest.raises(QuestionsError, match="pyarrow"):
            load_questions(str(parquet))
    (tmp_path / "empty").mkdir()
    with pytest.raises(QuestionsError, match="neither"):
        SearchQATasks(str(tmp_path / "empty")).task_types()
    with pytest.raises(QuestionsError, match="not found"):
        SearchQATasks(str(tmp_path / "missing")).task_types()
    (tmp_path / "train_only").mkdir()
    (tmp_path / "train_only" / "train.jsonl").write_text((SEARCH_R1 / "train.jsonl").read_text())
    with pytest.raises(QuestionsError, match="no test.* .*score the training questions"):
        SearchQATasks(str(tmp_path / "train_only")).task_types()


def test_real_corpus_and_questions_drive_the_env(registered) -> None:
    spec = get_env_spec("search_qa", data_dir=str(SEARCH_R1))
    assert spec.task_types == ("hotpotqa", "nq", "triviaqa")
    tasks = [spec.make_task(spec.task_seed("eval", i)) for i in range(3)]
    trajs = run_episodes(ExpertAgent(), tasks, [0, 1, 2], spec, max_turns=4, history=4, thinking=False)
    assert all(t.won for t in trajs)
    assert "Doc 1(Title: Marie Curie)" in trajs[0].turns[0].observation  # quoted titles shown bare
    assert search_qa_metrics(trajs, spec.task_types)["em_per_kind"] == {"hotpotqa": 1.0, "nq": 1.0, "triviaqa": 1.0}


def test_spec_options_are_checked() -> None:
    with pytest.raises(ValueError, match="needs its corpus"):
        search_qa_spec(questions=str(SEARCH_R1))
    with pytest.raises(CorpusError, match="not found"):
        search_qa_spec(corpus="/no/such/corpus.jsonl")
    assert search_qa_spec(corpus="http://127.0.0.1:9").make_env.corpus == "http://127.0.0.1:9"


def test_skills_cover_every_kind_and_source(monkeypatch) -> None:
    from sdar import skills
    from sdar.skills import search_qa as search_skills

    assert set(KINDS) | set(search_skills.KIND_OF_SOURCE) <= set(search_skills.BY_TYPE)
    monkeypatch.setitem(skills.LIBRARIES, "search_qa", search_skills)
    text = skills.get_provider("skills_by_type")(Task("search_qa", 2, "hotpotqa", "q"))
    assert search_skills.BY_TYPE["multi_hop"][0] in text and search_skills.GENERAL[0] in text
    assert search_skills.BY_TYPE["comparison"][0] not in text
