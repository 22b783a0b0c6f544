"""The search-QA environment bound to one task (Search-R1's protocol), and task creation.

Actions are tagged strings: `<search>query</search>` answers the top passages inside
`<information>...</information>`; `<answer>text</answer>` ends the episode, won iff it exactly matches
a gold answer after normalisation. Queries are free text, so `admissible_actions` only *suggests*
actions (the question as a query, and each title just retrieved as an answer): the "search" prompt
format neither shows nor enforces them; they give the random baseline something to pick. The expert
follows the question's evidence chain through the real retriever and answers only if every search
surfaced its evidence. Knows nothing about prompts, models or rewards.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from sdar.envs.search_qa.data import QuestionsError, exact_match, load_questions, question_files
from sdar.envs.search_qa.kb import KINDS, Question, builtin_index, make_question
from sdar.retrieval import (
    DEFAULT_TOPK,
    BM25Index,
    Passage,
    RetrievalClient,
    format_passages,
)
from sdar.types import Observation, Task

ENV_NAME = "search_qa"
EVAL_SEED_OFFSET = 1_000_000
UNKNOWN = "unknown"  # the expert's answer when its searches did not surface the evidence
_ACTION = re.compile(r"\s*<(search|answer)>(.*?)</\1>\s*", re.DOTALL | re.IGNORECASE)
INVALID = "Invalid action: write <search>query</search> or <answer>answer</answer>."


def split_action(action: str) -> tuple[str, str] | None:
    """('search' | 'answer', content) of a tagged action, or None."""
    found = _ACTION.fullmatch(action)
    if not found:
        return None
    return found.group(1).lower(), " ".join(found.group(2).split())


@functools.lru_cache(maxsize=4)
def get_retriever(corpus: str | None):
    """The built-in index (None), a retrieval server (an http(s) URL) or a BM25 index over a JSONL corpus;
    built once per process."""
    if corpus is None:
        return builtin_index()
    if corpus.startswith(("http://", "https://")):
        return RetrievalClient(corpus)
    return BM25Index.from_jsonl(corpus)


@dataclass(frozen=True)
class SearchQATasks:
    """`make_task`: the built-in questions, or a Search-R1 question set (`questions`: a file, or a directory
    with train.* and test.*). Train seeds index the train split, seeds from `eval_seed_offset` the eval
    split, both modulo its size; a real question's task type is its `data_source`."""

    questions: str | None = None
    eval_seed_offset: int = EVAL_SEED_OFFSET

    def question(self, seed: int) -> Question:
        if seed < 0:
            raise ValueError(f"task seeds are >= 0, got {seed}")
        is_eval = seed >= self.eval_seed_offset
        if self.questions is None:
            return make_question(seed, held_out=is_eval)
        train, test = question_files(self.questions)
        if train == test and not is_eval:
            raise QuestionsError(f"{self.questions}: one question file for both splits; training on it would ask "
                                 "the evaluation questions: give a directory with train.* and test.* to train")
        items = load_questions(test if is_eval else train)
        qa = items[(seed - self.eval_seed_offset if is_eval else seed) % len(items)]
        return Question(qa.question, qa.answers, qa.source, ((qa.question, ""),))

    def task_types(self) -> tuple[str, ...]:
        if self.questions is None:
            return KINDS
        return tuple(sorted({qa.source for path in set(question_files(self.questions))
                             for qa in load_questions(path)}))

    def __call__(self, seed: int) -> Task:
        q = self.question(seed)
        plan = [f"<search>{query}</search>" for query, _ in q.chain] + [f"<answer>{q.answers[0]}</answer>"]
        return Task(env=ENV_NAME, seed=seed, task_type=q.kind, goal=q.question,
                    privileged={"answers": list(q.answers), "expert_plan": plan})


@dataclass(frozen=True)
class SearchQAEnvMaker:
    """`make_env`: picklable, so environments can live in worker processes (each builds its own index)."""

    corpus: str | None = None
    tasks: SearchQATasks = SearchQATasks()
    topk: int = DEFAULT_TOPK

    def __call__(self, task: Task) -> SearchQAEnv:
        return SearchQAEnv(task, get_retriever(self.corpus), self.tasks.question(task.seed), topk=self.topk)


class SearchQAEnv:
    """One question. Call `reset()` before `step()`."""

    def __init__(self, task: Task, retriever, question: Question, *, topk: int = DEFAULT_TOPK) -> None:
        if task.env != ENV_NAME:
            raise ValueError(f"SearchQAEnv got a task for env {task.env!r}")
        self.task, self.retriever, self.question, self.topk = task, retriever, question, topk
        self.searches: list[tuple[str, list[Passage]]] = []
        self.done = self.won = False

    def reset(self) -> Observation:
        self.searches, self.done, self.won = [], False, False
        return Observation(self.question.question, self._suggestions())

    def step(self, action: str) -> Observation:
        if self.done:
            raise RuntimeError("the episode is over; call reset()")
        parsed = split_action(action)
        if parsed is None or not parsed[1]:
            return Observation(INVALID, self._suggestions())
        kind, content = parsed
        if kind == "answer":
            self.done, self.won = True, exact_match(content, self.question.answers)
            verdict = "correct" if self.won else "not the expected answer"
            return Observation(f"Answer submitted: {content} ({verdict}).", (), done=True, won=self.won)
        found = self.retriever.search(content, self.topk)
        self.searches.append((content, found))
        body = format_passages(found) if found else "No passage matches this query."
        return Observation(f"<information>{body}</information>", self._suggestions())

    def _suggestions(self) -> tuple[str, ...]:
        titles = dict.fromkeys(p.title for p in self.searches[-1][1]) if self.searches else {}
        return (f"<search>{self.question.question}</search>",) + tuple(f"<answer>{t}</answer>" for t in titles)

    def demo_action(self) -> str:
        """The expert: its searches follow the question's evidence chain."""
        return self.expert_action()

    def expert_action(self) -> str:
        """The next search of the evidence chain; then the gold answer if every search surfaced its
        evidence, else `UNKNOWN` (so a retrieval miss costs the expert the episode)."""
        chain = self.question.chain
        for (_, evidence), (_, found) in zip(chain, self.searches):
            text = " ".join(p.contents for p in found).lower()
            if evidence.lower() not in text:
                return f"<answer>{UNKNOWN}</answer>"
        if len(self.searches) < len(chain):
            return f"<search>{chain[len(self.searches)][0]}</search>"
        return f"<answer>{self.question.answers[0]}</answer>"
