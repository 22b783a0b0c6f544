"""BM25 retrieval over a Search-R1 corpus, the retrieval server (Search-R1 API) and its client."""

from __future__ import annotations

import http.client
import json
import threading
from pathlib import Path

import pytest

from sdar.retrieval import (
    BM25Index,
    CorpusError,
    Passage,
    RetrievalClient,
    RetrievalError,
    format_passages,
    parse_results,
    read_corpus,
)
from sdar.serve import MAX_BODY_BYTES, RequestError, make_server, parse_request

CORPUS = Path(__file__).parent / "data" / "search_r1" / "corpus.jsonl"


@pytest.fixture(scope="module")
def index() -> BM25Index:
    return BM25Index.from_jsonl(CORPUS)


@pytest.fixture(scope="module")
def server(index):
    """The fixture corpus served on a free port of 127.0.0.1 for the module's tests."""
    srv = make_server(index, "127.0.0.1", 0)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(timeout=5)


def _url(srv) -> str:
    host, port = srv.server_address[:2]
    return f"http://{host}:{port}"


def _raw(srv, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
    """(status, decoded JSON) of one raw HTTP request."""
    conn = http.client.HTTPConnection(*srv.server_address[:2], timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


# ----- the index ----------------------------------------------------------------------------------
def test_bm25_finds_the_passage_and_drops_non_matches(index) -> None:
    assert len(index) == 10
    hits = index.search("who designed the analytical engine", 3)
    assert hits[0].title == "Analytical Engine" and hits[0].score > 0
    assert [p.score for p in hits] == sorted((p.score for p in hits), reverse=True)
    assert index.search("zzzz qqqq", 3) == []  # no query term in the corpus: no results, not arbitrary ones
    assert len(index.search("the", 5)) == 0  # stopwords only
    assert len(index.search("london paris france england", 50)) <= 10  # topk beyond the corpus is clamped
    assert index.batch_search([]) == []
    assert [r[0].id for r in index.batch_search(["Marie Curie", "Mount Everest"], 1)] == ["9", "8"]


def test_passages_read_search_r1_contents() -> None:
    p = Passage("3", '"London"\nLondon is the capital.', 1.5)
    assert (p.title, p.text, p.doc()) == ("London", "London is the capital.", {"id": "3", "contents": p.contents})
    assert format_passages([p, Passage("4", "Paris\nCapital of France.")]) == (
        "Doc 1(Title: London) London is the capital.\nDoc 2(Title: Paris) Capital of France.")
    assert Passage("5", "Only a title").text == ""


def test_bad_corpora_fail_with_file_and_line(tmp_path) -> None:
    bad = tmp_path / "c.jsonl"
    bad.write_text('{"id": 1, "contents": "A\\ntext"}\nnot json\n')
    with pytest.raises(CorpusError, match=r"c.jsonl:2: not JSON"):
        read_corpus(bad)
    bad.write_text('{"id": 1, "text": "no contents"}\n')
    with pytest.raises(CorpusError, match="contents"):
        read_corpus(bad)
    with pytest.raises(CorpusError, match="not found"):
        read_corpus(tmp_path / "missing.jsonl")


def test_saved_index_loads_without_reindexing(index, tmp_path) -> None:
    index.save(tmp_path / "idx")
    loaded = BM25Index.load(tmp_path / "idx")
    assert loaded.docs == index.docs
    query = "where was gustave eiffel born"
    assert loaded.search(query, 3) == index.search(query, 3)
    with pytest.raises(CorpusError, match="no saved index"):
        BM25Index.load(tmp_path)


# ----- the server and its client ---------------------------------------------------------------------
def test_client_gets_what_the_index_finds(server, index) -> None:
    client = RetrievalClient(_url(server))
    queries = ["charles babbage born", "eiffel tower designer"]
    assert client.batch_search(queries, 2) == index.batch_search(queries, 2)
    assert RetrievalClient(_url(server) + "/retrieve/").search("Marie Curie", 1)[0].title == "Marie Curie"


def test_server_speaks_the_search_r1_api(server) -> None:
    body = json.dumps({"queries": ["Paris"], "topk": 2, "return_scores": False}).encode()
    status, payload = _raw(server, "POST", "/retrieve", body, {"Content-Type": "application/json"})
    assert status == 200 and set(payload) == {"result"} and len(payload["result"]) == 1
    assert set(payload["result"][0][0]) == {"id", "contents"}
    body = json.dumps({"queries": ["Paris", "London"], "return_scores": True}).encode()
    status, payload = _raw(server, "POST", "/retrieve", body)
    assert status == 200 and len(payload["result"]) == 2 and len(payload["result"][0]) <= 3  # default topk
    assert set(payload["result"][0][0]) == {"document", "score"}
    assert _raw(server, "GET", "/health") == (200, {"status": "ok", "passages": 10})


@pytest.mark.parametrize("body, status, words", [
    (b"{not json", 400, "not JSON"),
    (b"[1, 2]", 400, "JSON object"),
    (json.dumps({"queries": "Paris"}).encode(), 400, "list of strings"),
    (json.dumps({"queries": [1]}).encode(), 400, "list of strings"),
    (json.dumps({"queries": ["a"], "topk": 0}).encode(), 400, "topk"),
    (json.dumps({"queries": ["a"], "topk": True}).encode(), 400, "topk"),
    (json.dumps({"queries": ["a"], "return_scores": "yes"}).encode(), 400, "return_scores"),
])
def test_malformed_requests_get_a_4xx_and_the_server_keeps_serving(server, body, status, words) -> None:
    got, payload = _raw(server, "POST", "/retrieve", body)
    assert got == status and words in payload["error"]
    assert RetrievalClient(_url(server)).search("Paris", 1)[0].title == "Paris"


def test_wrong_paths_methods_and_sizes(server) -> None:
    assert _raw(server, "POST", "/search", b"{}")[0] == 404
    assert _raw(server, "GET", "/retrieve")[0] == 405
    assert _raw(server, "POST", "/retrieve", b"", {"Content-Length": str(MAX_BODY_BYTES + 1)})[0] == 413
    conn = http.client.HTTPConnection(*server.server_address[:2], timeout=10)
    conn.putrequest("POST", "/retrieve")
    conn.endheaders()  # no Content-Length
    assert conn.getresponse().status == 411
    conn.close()
    assert RetrievalClient(_url(server)).search("London", 1)[0].title == "London"


def test_client_reports_server_errors_and_unreachable_servers(server) -> None:
    with pytest.raises(RetrievalError, match="400.*topk"):
        RetrievalClient(_url(server)).batch_search(["a"], topk=10_000)
    with pytest.raises(RetrievalError, match="cannot reach"):
        RetrievalClient("http://127.0.0.1:9", timeout=2).search("a")
    with pytest.raises(RetrievalError, match="malformed"):
        parse_results({"result": [[{"no": "contents"}]]}, 1)
    with pytest.raises(RetrievalError, match="expected 2"):
        parse_results({"result": [[]]}, 2)


def test_parse_request_defaults() -> None:
    assert parse_request(b'{"queries": ["a", "b"]}') == (["a", "b"], 3, False)
    assert parse_request(b'{"queries": [], "topk": null}', default_topk=5) == ([], 5, False)
    with pytest.raises(RequestError) as err:
        parse_request(b'{"queries": ["a"], "topk": 101}')
    assert err.value.status == 400


def test_search_qa_runs_on_a_served_index() -> None:
    """Several processes can share one index: the env's retriever may be the server's URL."""
    import sdar.rollout.search_format  # noqa: F401 - registers the "search" format
    from sdar.envs.search_qa import search_qa_metrics, search_qa_spec
    from sdar.envs.search_qa.kb import builtin_index
    from sdar.rollout.collect import ExpertAgent, run_episodes

    srv = make_server(builtin_index(), "127.0.0.1", 0)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        spec = search_qa_spec(corpus=_url(srv))
        tasks = [spec.make_task(spec.task_seed("eval", i)) for i in range(8)]
        trajs = run_episodes(ExpertAgent(), tasks, list(range(8)), spec, max_turns=4, history=4, thinking=False)
    finally:
        srv.shutdown()
        srv.server_close()
    assert search_qa_metrics(trajs, spec.task_types)["em_mean"] == 1.0


def test_serve_command_rejects_a_bad_corpus(capsys, tmp_path) -> None:
    from sdar.serve import main

    assert main(["--corpus", str(tmp_path / "none.jsonl")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("sdar serve-retriever: corpus not found") and "\n" not in err


def test_top_k_breaks_ties_by_index_like_a_naive_sort():
    """Against sorted() by (-score, index): ties at and above the cut go to the lower index, whatever order
    the CPU's partial sort leaves them in."""
    import numpy as np

    from sdar.retrieval import top_k

    rng = np.random.default_rng(0)
    for _ in range(50):
        scores = rng.integers(0, 4, size=int(rng.integers(1, 30))).astype(float)  # many ties
        k = int(rng.integers(0, len(scores) + 2))
        naive = sorted(range(len(scores)), key=lambda i: (-scores[i], i))[:k]
        assert top_k(scores, k) == naive


def test_a_saved_index_is_served_and_a_corpus_beside_it_is_named_as_unread(tmp_path, capsys) -> None:
    from sdar.serve import build_index

    first = build_index(str(CORPUS), str(tmp_path / "index"))
    assert capsys.readouterr().err == ""
    again = build_index(str(CORPUS), str(tmp_path / "index"))
    assert len(again) == len(first) and "is not read" in capsys.readouterr().err
