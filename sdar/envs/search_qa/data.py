"""Question sets in the Search-R1 format, and the exact-match metric.

A row holds `question`, `golden_answers` (a list, or one string) and `data_source` (nq, triviaqa, popqa,
hotpotqa, 2wikimultihopqa, musique, bamboogle); Search-R1's processed files keep the answers under
`reward_model.ground_truth.target` and the question inside `prompt`, and both are read too. Files are
JSONL or parquet (parquet needs pyarrow, which sdar does not depend on). A question directory holds
`train.<ext>` and `test.<ext>` as Search-R1's `data/<name>_search/` does. Knows nothing about retrieval.
"""

from __future__ import annotations

import functools
import json
import re
import string
from dataclasses import dataclass
from pathlib import Path

EXTENSIONS = (".jsonl", ".parquet", ".json")
TRAIN_NAMES = ("train",)
EVAL_NAMES = ("test", "dev", "valid", "validation")
_PROMPT_QUESTION = re.compile(r"Question:\s*(.*?)\s*$", re.DOTALL)


class QuestionsError(ValueError):
    """A question file is missing or not in the Search-R1 layout."""


@dataclass(frozen=True)
class QAItem:
    question: str
    answers: tuple[str, ...]
    source: str


def normalize_answer(text: str) -> str:
    """Search-R1's (SQuAD's) normalisation: lower-case, no punctuation, no articles, single spaces."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def exact_match(prediction: str, answers) -> bool:
    """True iff the normalised prediction equals one normalised gold answer."""
    wanted = normalize_answer(prediction)
    return any(wanted == normalize_answer(a) for a in answers)


def _rows(path: Path) -> list[dict]:
    if path.suffix == ".parquet":
        try:
            import pyarrow.parquet as pq
        except ImportError:
            raise QuestionsError(
                f"reading {path} needs pyarrow (pip install pyarrow), or convert it to JSONL with one "
                f"{{\"question\", \"golden_answers\", \"data_source\"}} object a line") from None
        return pq.read_table(path).to_pylist()
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json" and text.lstrip().startswith("["):
        return json.loads(text)
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as err:
                raise QuestionsError(f"{path}:{number}: not JSON ({err.msg})") from None
    return rows


def _item(row: dict, default_source: str, where: str) -> QAItem:
    question = row.get("question")
    if not question and isinstance(row.get("prompt"), list) and row["prompt"]:
        found = _PROMPT_QUESTION.search(str(row["prompt"][-1].get("content", "")))
        question = found.group(1) if found else None
    answers = row.get("golden_answers")
    if answers is None:
        answers = ((row.get("reward_model") or {}).get("ground_truth") or {}).get("target")
    if isinstance(answers, str):
        answers = [answers]
    if not isinstance(question, str) or not question.strip() or not answers:
        raise QuestionsError(f"{where}: a row needs \"question\" and \"golden_answers\"")
    return QAItem(question.strip(), tuple(str(a) for a in answers), str(row.get("data_source") or default_source))


@functools.lru_cache(maxsize=8)
def load_questions(path: str) -> tuple[QAItem, ...]:
    """Every question of one file; QuestionsError naming the file and the problem."""
    file = Path(path)
    if not file.is_file():
        raise QuestionsError(f"question file not found: {file}")
    items = tuple(_item(row, file.stem, f"{file} row {i}") for i, row in enumerate(_rows(file), 1))
    if not items:
        raise QuestionsError(f"{file} holds no questions")
    return items


def _find(directory: Path, names: tuple[str, ...]) -> Path | None:
    for name in names:
        for ext in EXTENSIONS:
            if (directory / f"{name}{ext}").is_file():
                return directory / f"{name}{ext}"
    return None


def question_files(path: str) -> tuple[str, str]:
    """(train file, eval file): a directory gives its train.* and test.* (or dev/valid); a single file, or
    a directory with only test.*, serves both (for evaluation: `SearchQATasks` refuses to train on it,
    which would ask the evaluation questions). A directory with only train.* is refused: evaluating on
    it would score the training questions (pass the file itself to do that on purpose)."""
    where = Path(path)
    if where.is_file():
        return str(where), str(where)
    if not where.is_dir():
        raise QuestionsError(f"questions not found: {where} (a Search-R1 JSONL/parquet file, or a directory "
                             f"holding train.jsonl and test.jsonl)")
    train, test = _find(where, TRAIN_NAMES), _find(where, EVAL_NAMES)
    if train is None and test is None:
        raise QuestionsError(f"{where} holds neither train.{{jsonl,parquet}} nor test.{{jsonl,parquet}}")
    if test is None:
        raise QuestionsError(f"{where} holds {Path(train).name} but no test.{{jsonl,parquet}} (or dev/valid): the "
                             f"evaluation would score the training questions; add one, or give the file "
                             f"itself to evaluate on it")
    return str(train or test), str(test)
