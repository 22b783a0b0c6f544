"""Environments in worker processes: a hung or crashing environment costs its episode (with a pool,
the episodes its worker hosts), not the run.

`ProcessEnv(factory, task)` is an `Env` whose `factory(task)` lives in another process; every call has a
timeout, and a call that exceeds it, or a worker that dies, raises `EnvFault` after the worker is killed.
By default each ProcessEnv has its own worker; a `WorkerPool` instead hosts many environments in a fixed
number of workers (calls to envs of one worker take turns), which bounds memory and start-up cost; a
worker killed for one env's hang or crash fails every env it hosts (the pool starts a fresh worker).
`in_workers(spec)` wraps an EnvSpec so that its environments are ProcessEnvs.

Workers are fresh interpreters (`python -c`, like multiprocessing's "spawn" but without re-importing the
parent's `__main__`, which would pull torch in): they import only `sdar.envs.workers` and the modules
the pickled factory and task need, with the parent's `sys.path`. A ProcessEnv may be called from any
thread, one thread per env at a time. Workers ignore SIGINT (the parent decides) and exit when the
parent's end of their pipe closes. The factory must be picklable: a module-level class or function.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import os
import pickle
import signal
import subprocess
import sys
import threading
import traceback
import weakref
from multiprocessing.connection import Connection
from typing import Any, Callable

from sdar.envs.base import Env, EnvSpec
from sdar.types import Observation, Task

DEFAULT_TIMEOUT = 60.0  # seconds per call; an ALFWorld reset is ~1-3 s, a step ~0.1 s
DEFAULT_START_TIMEOUT = 120.0  # the first call also starts the interpreter and builds the env
_ids = itertools.count(1)


class EnvFault(RuntimeError):
    """An environment worker timed out or died; the worker has been killed."""


class _RemoteTraceback(Exception):
    def __str__(self) -> str:
        return self.args[0]


class _Worker:
    """One worker process hosting environments by id; one request at a time."""

    def __init__(self) -> None:
        from_parent, to_child = os.pipe()
        from_child, to_parent = os.pipe()
        path = [p for p in sys.path if isinstance(p, str)]
        code = (f"import sys; sys.path[:] = {path!r}; "
                f"from sdar.envs.workers import _serve; _serve({from_parent}, {to_parent})")
        self.proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.DEVNULL,
                                     pass_fds=(from_parent, to_parent))
        os.close(from_parent)
        os.close(to_parent)
        self.send = Connection(to_child, readable=False)
        self.recv = Connection(from_child, writable=False)
        self.lock = threading.Lock()
        self.fault: str | None = None  # why the worker was killed
        self.n_envs = 0
        self.pending_drops: list[int] = []  # envs garbage-collected without close(); dropped on next request
        self._finalizer = weakref.finalize(self, _kill, self.proc, self.send, self.recv)

    @property
    def alive(self) -> bool:
        return self.fault is None and self.proc.poll() is None

    def request(self, op: str, env_id: int, payload: Any, timeout: float, what: str) -> Any:
        """Send one request and wait for its answer; EnvFault (worker killed) on timeout or death."""
        with self.lock:
            if self.fault is not None:
                raise EnvFault(self.fault)
            drops, self.pending_drops = self.pending_drops, []
            body = payload if isinstance(payload, bytes) else pickle.dumps((op, env_id, payload))
            try:
                self.send.send_bytes(pickle.dumps((drops, body)))
                if not self.recv.poll(timeout):
                    self._die(f"did not answer {what} within {timeout:g} s")
                status, value, detail = pickle.loads(self.recv.recv_bytes())
            except (EOFError, OSError):
                self._die(f"died during {what} ({_exit_reason(self.proc)})")
        if status == "error":
            raise _rebuild(value, detail)
        return value

    def _die(self, why: str) -> None:
        self.fault = f"environment worker (pid {self.proc.pid}) {why}; it was killed"
        self.close(kill=True)
        raise EnvFault(self.fault)

    def close(self, kill: bool = False) -> None:
        if self.fault is None:
            self.fault = f"environment worker (pid {self.proc.pid}) was closed"
        if kill:
            self._finalizer()
            return
        self.send.close()  # the worker exits at EOF
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        self._finalizer()


def _kill(proc: subprocess.Popen, *conns: Connection) -> None:
    if proc.poll() is None:
        proc.kill()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass
    for conn in conns:
        conn.close()


def _exit_reason(proc: subprocess.Popen) -> str:
    try:
        code = proc.wait(timeout=2)
    except subprocess.TimeoutExpired:
        return "its pipe closed"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def _rebuild(pickled_error: bytes, remote_tb: str) -> BaseException:
    """The worker's exception, with its traceback as the cause (as concurrent.futures does)."""
    try:
        err = pickle.loads(pickled_error)
    except Exception:  # noqa: BLE001 - an exception type that cannot be rebuilt here
        err = RuntimeError(remote_tb.strip().splitlines()[-1])
    err.__cause__ = _RemoteTraceback(f"\n\nin the environment worker:\n{remote_tb}")
    return err


class WorkerPool:
    """A fixed number of worker processes shared by many ProcessEnvs (each env goes to the least busy)."""

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"a worker pool needs size >= 1, got {size}")
        self._workers: list[_Worker | None] = [None] * size
        self._lock = threading.Lock()

    def take(self) -> _Worker:
        """The live worker hosting the fewest envs (dead ones are replaced); the caller counts itself in."""
        with self._lock:
            for i, w in enumerate(self._workers):
                if w is None or not w.alive:
                    self._workers[i] = _Worker()
            worker = min(self._workers, key=lambda w: w.n_envs)
            worker.n_envs += 1
            return worker

    def close(self) -> None:
        """Stop every worker; their environments fail with EnvFault from now on."""
        with self._lock:
            for w in self._workers:
                if w is not None:
                    w.close()
            self._workers = [None] * len(self._workers)

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class ProcessEnv:
    """`factory(task)` run in a worker process, behind the `Env` protocol, with a per-call timeout."""

    def __init__(self, factory: Callable[[Task], Env], task: Task, *, timeout: float = DEFAULT_TIMEOUT,
                 start_timeout: float = DEFAULT_START_TIMEOUT, pool: WorkerPool | None = None) -> None:
        self.task = task
        self.timeout, self.start_timeout = timeout, start_timeout
        self._id = next(_ids)
        try:
            self._make = pickle.dumps(("make", self._id, (factory, task)))
        except Exception as err:
            raise TypeError(f"ProcessEnv needs a picklable factory and task (a module-level class or function, "
                            f"not a lambda or a local function): {err}") from err
        self._shared = pool is not None
        self._worker = pool.take() if pool is not None else _Worker()
        self._started = False
        self._closed = threading.Event()
        self._finalizer = weakref.finalize(self, _forget, self._worker, self._id, self._shared)

    def reset(self) -> Observation:
        return self.call("reset")

    def step(self, action: str) -> Observation:
        return self.call("step", action)

    def expert_action(self) -> str:
        return self.call("expert_action")

    def demo_action(self) -> str:
        return self.call("demo_action")

    def call(self, method: str, *args: Any) -> Any:
        """Call a public method of the environment in the worker; its exceptions are re-raised here."""
        if self._closed.is_set():
            raise RuntimeError(f"{self._describe(method, args)} on a closed ProcessEnv")
        if not self._started:
            self._worker.request("make", self._id, self._make, self.start_timeout,
                                 f"building {self._describe('env', ())}")
            self._started = True
        return self._worker.request("call", self._id, (method, args), self.timeout,
                                    self._describe(method, args))

    def close(self) -> None:
        """Release the environment: a private worker exits; a pool's worker drops it."""
        if not self._closed.is_set():
            self._closed.set()
            self._finalizer.detach()
            if self._shared:
                self._worker.n_envs -= 1
                if self._started and self._worker.alive:
                    try:
                        self._worker.request("drop", self._id, None, self.timeout, "close")
                    except EnvFault:
                        pass
            else:
                self._worker.close()

    def _describe(self, method: str, args: tuple) -> str:
        shown = ", ".join(repr(a)[:80] for a in args)
        return f"{method}({shown}) of {self.task.env} task seed {self.task.seed}"


def _forget(worker: _Worker, env_id: int, shared: bool) -> None:
    """Finalizer of a ProcessEnv that was never closed; must not take the worker's lock."""
    if shared:
        worker.n_envs -= 1
        worker.pending_drops.append(env_id)
    else:
        _kill(worker.proc, worker.send, worker.recv)


def in_workers(spec: EnvSpec, *, timeout: float = DEFAULT_TIMEOUT, pool: WorkerPool | None = None) -> EnvSpec:
    """The same spec with every environment in a worker process (one each, or `pool`'s)."""
    return dataclasses.replace(spec, make_env=functools.partial(ProcessEnv, spec.make_env, timeout=timeout,
                                                                pool=pool))


# ----- the worker side ----------------------------------------------------------------------------------
def _serve(read_fd: int, write_fd: int) -> None:
    """The worker's loop: hosts envs by id and answers one request at a time until its pipe closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    inbox, outbox = Connection(read_fd, writable=False), Connection(write_fd, readable=False)
    envs: dict[int, Any] = {}
    while True:
        try:
            raw = inbox.recv_bytes()
        except (EOFError, OSError):
            return
        drops, body = pickle.loads(raw)
        for env_id in drops:
            _close(envs.pop(env_id, None))
        outbox.send_bytes(_answer(envs, body))


def _answer(envs: dict[int, Any], body: bytes) -> bytes:
    """Run one request; unpickling happens here too, so a factory that cannot be imported is an error
    returned to the caller, not a dead worker."""
    try:
        op, env_id, payload = pickle.loads(body)
        if op == "make":
            factory, task = payload
            envs[env_id] = factory(task)
            value = None
        elif op == "call":
            method, args = payload
            if method.startswith("_"):
                raise AttributeError(f"ProcessEnv calls only public methods, not {method!r}")
            value = getattr(envs[env_id], method)(*args)
        elif op == "drop":
            value = _close(envs.pop(env_id, None))
        else:
            raise ValueError(f"unknown worker request {op!r}")
        return pickle.dumps(("ok", value, None))
    except Exception as err:  # noqa: BLE001 - every env error goes back to the caller
        tb = traceback.format_exc()
        try:
            return pickle.dumps(("error", pickle.dumps(err), tb))
        except Exception:  # noqa: BLE001 - an unpicklable exception
            return pickle.dumps(("error", b"", tb))


def _close(env: Any) -> None:
    close = getattr(env, "close", None)
    if callable(close):
        close()
