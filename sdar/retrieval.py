"""Passage retrieval for the search environments: a BM25 index over a Search-R1-format corpus, and a
client for a retrieval server speaking the Search-R1 API.

Corpus: JSONL, one passage a line, `{"id": str, "contents": "Title\\ntext"}` (Search-R1's wiki-18 quotes
the title, `"\\"Title\\"\\ntext"`; the quotes are dropped for display). Server API, as Search-R1's
`retrieval_server.py`: `POST /retrieve {"queries": [str], "topk": int, "return_scores": bool}` answers
`{"result": [[doc, ...], ...]}`, each doc `{"id", "contents"}`, or `{"document": doc, "score": float}` with
scores. Both retrievers answer `search(query, topk)` and `batch_search(queries, topk)` with `Passage`s.
This module knows nothing about environments, prompts or models; the HTTP server is `sdar.serve`.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

DEFAULT_TOPK = 3
DOCS_FILE = "docs.jsonl"  # the passages next to a saved bm25s index


class CorpusError(ValueError):
    """A corpus file is missing or not in the Search-R1 JSONL format."""


class RetrievalError(RuntimeError):
    """A retrieval server could not be reached or answered with an error."""


@dataclass(frozen=True)
class Passage:
    """One retrieved passage; `contents` is the corpus field, title on its first line."""

    id: str
    contents: str
    score: float = 0.0

    @property
    def title(self) -> str:
        return self.contents.split("\n", 1)[0].strip().strip('"')

    @property
    def text(self) -> str:
        parts = self.contents.split("\n", 1)
        return parts[1].strip() if len(parts) > 1 else ""

    def doc(self) -> dict:
        return {"id": self.id, "contents": self.contents}


def format_passages(passages: Sequence[Passage]) -> str:
    """Search-R1's rendering of results: `Doc 1(Title: T) text` one per line."""
    return "\n".join(f"Doc {i}(Title: {p.title}) {p.text}" for i, p in enumerate(passages, 1))


class Retriever(Protocol):
    def search(self, query: str, topk: int = DEFAULT_TOPK) -> list[Passage]: ...

    def batch_search(self, queries: Sequence[str], topk: int = DEFAULT_TOPK) -> list[list[Passage]]: ...


def read_corpus(path: str | Path) -> list[dict]:
    """The passages of a Search-R1 JSONL corpus; CorpusError naming the file and line on a bad row."""
    path = Path(path)
    if not path.is_file():
        raise CorpusError(f"corpus not found: {path} (a JSONL file of {{\"id\", \"contents\"}} rows)")
    docs = []
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise CorpusError(f"{path}:{number}: not JSON ({err.msg})") from None
            if not isinstance(row, dict) or not isinstance(row.get("contents"), str) or "id" not in row:
                raise CorpusError(f"{path}:{number}: a corpus row needs \"id\" and a string \"contents\"")
            docs.append({"id": str(row["id"]), "contents": row["contents"]})
    if not docs:
        raise CorpusError(f"corpus {path} holds no passages")
    return docs


def _tokenize(texts: list[str], return_ids: bool = True):
    import bm25s

    return bm25s.tokenize(texts, stopwords="en", show_progress=False, return_ids=return_ids)


def top_k(scores: np.ndarray, k: int) -> list[int]:
    """Indices of the k highest scores, ties to the lower index: the same order on every machine (a
    partial sort's order among equal scores depends on the CPU's sorting kernels, and golden
    transcripts changed with it)."""
    k = min(k, len(scores))
    if k <= 0:
        return []
    kth = np.partition(scores, len(scores) - k)[len(scores) - k]
    candidates = np.flatnonzero(scores >= kth)  # every tie at the cut, in index order
    return candidates[np.argsort(-scores[candidates], kind="stable")][:k].tolist()


class BM25Index:
    """BM25 (bm25s, English stopwords, no stemming) over passages; results with score 0 (no query term
    matched) are left out, so a search may return fewer than `topk` passages."""

    def __init__(self, docs: Sequence[dict], *, _retriever=None) -> None:
        import bm25s

        if not docs:
            raise CorpusError("cannot index an empty corpus")
        self.docs = list(docs)
        if _retriever is None:
            _retriever = bm25s.BM25()
            _retriever.index(_tokenize([d["contents"] for d in self.docs]), show_progress=False)
        self._bm25 = _retriever
        self._lock = threading.Lock()  # bm25s makes no thread-safety promise; queries are milliseconds

    def __len__(self) -> int:
        return len(self.docs)

    @classmethod
    def from_jsonl(cls, path: str | Path) -> BM25Index:
        return cls(read_corpus(path))

    def save(self, directory: str | Path) -> None:
        """The bm25s index plus the passages, so `load` skips indexing (useful for large corpora)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self._bm25.save(str(directory), show_progress=False)
        with (directory / DOCS_FILE).open("w", encoding="utf-8") as f:
            for doc in self.docs:
                f.write(json.dumps(doc) + "\n")

    @classmethod
    def load(cls, directory: str | Path) -> BM25Index:
        import bm25s

        directory = Path(directory)
        if not (directory / DOCS_FILE).is_file():
            raise CorpusError(f"{directory} holds no saved index ({DOCS_FILE} missing)")
        return cls(read_corpus(directory / DOCS_FILE), _retriever=bm25s.BM25.load(str(directory), show_progress=False))

    def search(self, query: str, topk: int = DEFAULT_TOPK) -> list[Passage]:
        return self.batch_search([query], topk)[0]

    def batch_search(self, queries: Sequence[str], topk: int = DEFAULT_TOPK) -> list[list[Passage]]:
        if not queries:
            return []
        k = max(1, min(int(topk), len(self.docs)))
        results = []
        for tokens in _tokenize(list(queries), return_ids=False):
            with self._lock:
                scores = self._bm25.get_scores(tokens) if tokens else np.zeros(len(self.docs))
            results.append([Passage(self.docs[i]["id"], self.docs[i]["contents"], float(scores[i]))
                            for i in top_k(scores, k) if scores[i] > 0])
        return results


class RetrievalClient:
    """A client of a Search-R1 retrieval server (`url` is the server's base or its /retrieve address)."""

    def __init__(self, url: str, *, timeout: float = 30.0) -> None:
        base = url.rstrip("/")
        self.url = base if base.endswith("/retrieve") else base + "/retrieve"
        self.timeout = timeout

    def search(self, query: str, topk: int = DEFAULT_TOPK) -> list[Passage]:
        return self.batch_search([query], topk)[0]

    def batch_search(self, queries: Sequence[str], topk: int = DEFAULT_TOPK) -> list[list[Passage]]:
        body = json.dumps({"queries": list(queries), "topk": int(topk), "return_scores": True}).encode()
        request = urllib.request.Request(self.url, data=body, method="POST",
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                payload = json.loads(response.read())
        except urllib.error.HTTPError as err:
            raise RetrievalError(f"retrieval server {self.url} answered {err.code}: {_error_text(err)}") from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as err:
            reason = getattr(err, "reason", err)
            raise RetrievalError(f"cannot reach retrieval server {self.url}: {reason}") from None
        except json.JSONDecodeError:
            raise RetrievalError(f"retrieval server {self.url} answered with something other than JSON") from None
        return parse_results(payload, len(queries))


def _error_text(err: urllib.error.HTTPError) -> str:
    try:
        return json.loads(err.read()).get("error", err.reason)
    except (ValueError, AttributeError, OSError):
        return str(err.reason)


def parse_results(payload, n_queries: int) -> list[list[Passage]]:
    """The passages of a `/retrieve` answer, with or without scores; RetrievalError if malformed."""
    result = payload.get("result") if isinstance(payload, dict) else None
    if not isinstance(result, list) or len(result) != n_queries:
        raise RetrievalError(f"malformed /retrieve answer: expected {n_queries} result lists")
    try:
        return [[_passage(item) for item in row] for row in result]
    except (KeyError, TypeError, AttributeError):
        raise RetrievalError("malformed /retrieve answer: a result lacks id/contents") from None


def _passage(item: dict) -> Passage:
    if "document" in item:
        doc = item["document"]
        return Passage(str(doc.get("id", "")), doc["contents"], float(item.get("score", 0.0)))
    return Passage(str(item.get("id", "")), item["contents"])


def results_payload(results: Iterable[list[Passage]], *, return_scores: bool) -> dict:
    """A `/retrieve` answer for `results` (one list per query), as the Search-R1 server writes it."""
    if return_scores:
        return {"result": [[{"document": p.doc(), "score": p.score} for p in row] for row in results]}
    return {"result": [[p.doc() for p in row] for row in results]}
