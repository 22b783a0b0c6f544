"""`sdar serve-retriever`: a BM25 index behind the Search-R1 retrieval API, so several training processes
share one index.

`POST /retrieve {"queries": [str], "topk": int, "return_scores": bool}` answers `{"result": [...]}` exactly
as Search-R1's server; `GET /health` answers `{"status": "ok", "passages": N}`. A malformed request gets a
4xx status with `{"error": "<what is wrong>"}` and the server goes on serving. Binds 127.0.0.1 unless told
otherwise: there is no authentication. Standard library only (http.server), one thread per request.
"""

from __future__ import annotations

import argparse
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from sdar.retrieval import DEFAULT_TOPK, Retriever, results_payload

MAX_BODY_BYTES = 1 << 20
MAX_QUERIES = 1024
MAX_TOPK = 100
MAX_QUERY_CHARS = 2000


class RequestError(ValueError):
    """A malformed request: its HTTP status and a one-line message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def parse_request(body: bytes, *, default_topk: int = DEFAULT_TOPK) -> tuple[list[str], int, bool]:
    """(queries, topk, return_scores) of a /retrieve body; RequestError(400) naming the bad field."""
    try:
        request = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise RequestError(400, f"body is not JSON: {err}") from None
    if not isinstance(request, dict):
        raise RequestError(400, "body must be a JSON object with \"queries\"")
    queries = request.get("queries")
    if not isinstance(queries, list) or not all(isinstance(q, str) for q in queries):
        raise RequestError(400, "\"queries\" must be a list of strings")
    if len(queries) > MAX_QUERIES or any(len(q) > MAX_QUERY_CHARS for q in queries):
        raise RequestError(400, f"at most {MAX_QUERIES} queries of at most {MAX_QUERY_CHARS} characters")
    topk = request.get("topk")
    topk = default_topk if topk is None else topk
    if isinstance(topk, bool) or not isinstance(topk, int) or not 1 <= topk <= MAX_TOPK:
        raise RequestError(400, f"\"topk\" must be an integer in 1..{MAX_TOPK}, got {topk!r}")
    return_scores = request.get("return_scores", False)
    if not isinstance(return_scores, bool):
        raise RequestError(400, f"\"return_scores\" must be true or false, got {return_scores!r}")
    return queries, topk, return_scores


class RetrieveHandler(BaseHTTPRequestHandler):
    """POST /retrieve (Search-R1's request and response), GET /health. `make_server` subclasses it with the
    index and its settings."""

    index: Retriever
    default_topk: int = DEFAULT_TOPK
    quiet: bool = True

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        if self.path.split("?", 1)[0] != "/retrieve":
            return self._send(404, {"error": f"no such endpoint {self.path}; use POST /retrieve"})
        try:
            body = self._body()
            queries, topk, return_scores = parse_request(body, default_topk=self.default_topk)
        except RequestError as err:
            return self._send(err.status, {"error": str(err)})
        try:
            results = self.index.batch_search(queries, topk)
        except Exception as err:  # noqa: BLE001 - one failed search must not stop the server
            return self._send(500, {"error": f"search failed: {type(err).__name__}: {err}"})
        self._send(200, results_payload(results, return_scores=return_scores))

    def do_GET(self) -> None:  # noqa: N802
        path = self.path.split("?", 1)[0]
        if path in ("/", "/health"):
            size = len(self.index) if hasattr(self.index, "__len__") else None
            return self._send(200, {"status": "ok", "passages": size})
        if path == "/retrieve":
            return self._send(405, {"error": "use POST /retrieve with a JSON body"}, allow="POST")
        self._send(404, {"error": f"no such endpoint {path}; use POST /retrieve"})

    def _body(self) -> bytes:
        raw = self.headers.get("Content-Length")
        if raw is None:
            raise RequestError(411, "Content-Length is required")
        try:
            length = int(raw)
        except ValueError:
            raise RequestError(400, f"bad Content-Length {raw!r}") from None
        if length < 0 or length > MAX_BODY_BYTES:
            self.close_connection = True  # the unread body would otherwise be parsed as a request
            raise RequestError(413, f"body must be at most {MAX_BODY_BYTES} bytes")
        return self.rfile.read(length)

    def _send(self, status: int, payload: dict, allow: str | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if allow:
            self.send_header("Allow", allow)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - http.server's signature
        if not self.quiet:
            super().log_message(format, *args)


def make_server(index: Retriever, host: str = "127.0.0.1", port: int = 8000, *,
                default_topk: int = DEFAULT_TOPK, quiet: bool = True) -> ThreadingHTTPServer:
    """A server bound to (host, port) (port 0: any free port, see `server.server_address`); call
    `serve_forever()` to run it and `shutdown()` from another thread to stop it."""
    handler = type("Handler", (RetrieveHandler,), {"index": index, "default_topk": default_topk, "quiet": quiet})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server


def serve_retriever(index: Retriever, host: str = "127.0.0.1", port: int = 8000, *,
                    default_topk: int = DEFAULT_TOPK, quiet: bool = False) -> None:
    """Serve `index` until interrupted (Ctrl-C)."""
    server = make_server(index, host, port, default_topk=default_topk, quiet=quiet)
    bound_host, bound_port = server.server_address[:2]
    print(f"serving {len(index) if hasattr(index, '__len__') else '?'} passages at "
          f"http://{bound_host}:{bound_port}/retrieve", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def build_index(corpus: str | None, index_dir: str | None):
    """The index to serve: a saved one in `index_dir` if there is one, else built from `corpus` (and saved
    to `index_dir` if given); no corpus means the built-in search_qa knowledge base."""
    from pathlib import Path

    from sdar.retrieval import DOCS_FILE, BM25Index

    if index_dir and (Path(index_dir) / DOCS_FILE).is_file():
        if corpus:  # the saved index wins; say so, since the corpus may have changed since it was built
            print(f"sdar serve-retriever: serving the index saved in {index_dir}; --corpus {corpus} is not read "
                  "(delete that directory to rebuild from it)", file=sys.stderr)
        return BM25Index.load(index_dir)
    if corpus:
        index = BM25Index.from_jsonl(corpus)
    else:
        from sdar.envs.search_qa.kb import builtin_index

        index = builtin_index()
    if index_dir:
        index.save(index_dir)
    return index


def main(argv: list[str]) -> int:
    """The `sdar serve-retriever` command; 2 with one line on stderr for bad input."""
    parser = argparse.ArgumentParser(prog="sdar serve-retriever",
                                     description="Serve a BM25 index with the Search-R1 retrieval API.")
    parser.add_argument("--corpus", default=None, help="Search-R1 JSONL corpus (default: the built-in knowledge base)")
    parser.add_argument("--index-dir", default=None, help="load a saved index from here, or save the built one here")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--topk", type=int, default=DEFAULT_TOPK, help="passages per query when a request gives none")
    parser.add_argument("--quiet", action="store_true", help="do not log each request")
    a = parser.parse_args(argv)
    from sdar.retrieval import CorpusError

    try:
        index = build_index(a.corpus, a.index_dir)
        serve_retriever(index, a.host, a.port, default_topk=a.topk, quiet=a.quiet)
    except (CorpusError, OSError) as err:
        print(f"sdar serve-retriever: {err}", file=sys.stderr)
        return 2
    return 0
