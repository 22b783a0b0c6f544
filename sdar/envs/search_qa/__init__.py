"""Search-QA (the Search-R1 protocol): answer questions with a search engine, scored by exact match.

Built in: a generated knowledge base with four question kinds (`kb`) behind a BM25 index. For real data:
a Search-R1 JSONL corpus or a retrieval server URL (`corpus`), and Search-R1 question sets (`questions`).
The reward is exact match: `success_reward` (1.0) when the answer matches, else 0, and 0.01 per invalid
action, as in the reference (EM in {0, 1} with a 0.01 penalty, the same 1% ratio as ALFWorld's 10/0.1).
This package knows nothing about models, prompts or training.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from sdar.envs.base import EnvSpec
from sdar.envs.search_qa.data import (
    QuestionsError,
    exact_match,
    load_questions,
    normalize_answer,
)
from sdar.envs.search_qa.env import (
    EVAL_SEED_OFFSET,
    SearchQAEnv,
    SearchQAEnvMaker,
    SearchQATasks,
    split_action,
)
from sdar.envs.search_qa.kb import KINDS, make_question
from sdar.retrieval import CorpusError
from sdar.types import Trajectory

CORPUS_FILE = "corpus.jsonl"


def search_qa_spec(corpus: str | None = None, questions: str | None = None,
                   data_dir: str | None = None) -> EnvSpec:
    """The search-QA spec. `corpus`: a Search-R1 JSONL corpus or a retrieval server's URL (default: the
    built-in knowledge base). `questions`: a Search-R1 question file or directory (default: the built-in
    questions, which need the built-in corpus, served or not). `data_dir` (what `--env.data` passes): a
    directory holding corpus.jsonl and the question files."""
    if data_dir is not None:
        corpus = corpus or str(Path(data_dir) / CORPUS_FILE)
        questions = questions or str(data_dir)
    if questions is not None and corpus is None:
        raise ValueError("search_qa: a question set needs its corpus (corpus=PATH to a JSONL file, or a server URL)")
    if corpus is not None and not corpus.startswith(("http://", "https://")) and not Path(corpus).is_file():
        raise CorpusError(f"search_qa corpus not found: {corpus} (a Search-R1 JSONL file, or http://host:port)")
    tasks = SearchQATasks(questions, EVAL_SEED_OFFSET)
    return EnvSpec(
        name="search_qa",
        task_types=tasks.task_types(),
        make_task=tasks,
        make_env=SearchQAEnvMaker(corpus, tasks),
        max_turns=4,
        history=4,
        success_reward=1.0,
        invalid_penalty=0.01,
        eval_seed_offset=EVAL_SEED_OFFSET,
        prompt_format="search",
    )


def search_qa_metrics(trajectories: list[Trajectory], task_types: tuple[str, ...]) -> dict:
    """The paper's Search-QA table: exact match per kind (data source) and their unweighted mean."""
    by_kind: dict[str, list[bool]] = defaultdict(list)
    for traj in trajectories:
        by_kind[traj.task.task_type].append(traj.won)
    per_kind = {k: (sum(by_kind[k]) / len(by_kind[k]) if by_kind[k] else None) for k in task_types}
    seen = [v for v in per_kind.values() if v is not None]
    return {"em_per_kind": per_kind, "em_mean": sum(seen) / len(seen) if seen else 0.0}


__all__ = [
    "KINDS", "QuestionsError", "SearchQAEnv", "SearchQAEnvMaker", "SearchQATasks", "exact_match",
    "load_questions", "make_question", "normalize_answer", "search_qa_metrics", "search_qa_spec", "split_action",
]
