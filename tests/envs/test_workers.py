"""ProcessEnv and WorkerPool: same results as in-process, faults become EnvFault, thread-pool stepping.

The fake environments below live at module level so that the worker process can unpickle them (it gets
this process's sys.path, which holds this directory).
"""

from __future__ import annotations

import os
import signal
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from sdar.envs.household import HouseholdEnv, household_spec
from sdar.envs.workers import EnvFault, ProcessEnv, WorkerPool, in_workers
from sdar.types import Observation, Task

SEEDS = (0, 1, 2, 3, 4, 5, 6, 7)  # all six task types
TASK = Task("fake", 0, "pick", "do nothing.")
START = Observation("start", ("look",))


class HangingEnv:
    def __init__(self, task: Task) -> None:
        self.task = task

    def reset(self) -> Observation:
        return START

    def step(self, action: str) -> Observation:
        time.sleep(3600)
        raise AssertionError("unreachable")

    def expert_action(self) -> str:
        return "look"


class CrashingEnv(HangingEnv):
    def step(self, action: str) -> Observation:
        if action == "segfault":
            os.kill(os.getpid(), signal.SIGKILL)
        os._exit(3)


class RaisingEnv(HangingEnv):
    def step(self, action: str) -> Observation:
        raise ValueError(f"cannot {action}")

    def loaded_modules(self) -> list[str]:
        return sorted(sys.modules)

    def pid(self) -> int:
        return os.getpid()


def _expert_episode(env, limit: int = 30) -> list[Observation]:
    observations = [env.reset()]
    while not observations[-1].done and len(observations) <= limit:
        observations.append(env.step(env.expert_action()))
    return observations


def _in_process(seed: int) -> list[Observation]:
    spec = household_spec()
    return _expert_episode(spec.make_env(spec.make_task(seed)))


def test_results_are_identical_to_the_in_process_env() -> None:
    spec = household_spec()
    env = ProcessEnv(HouseholdEnv, spec.make_task(5))
    try:
        assert _expert_episode(env) == _in_process(5)
        assert env.reset() == _in_process(5)[0]  # reset is repeatable across the process boundary
    finally:
        env.close()


def test_env_errors_come_back_with_their_type_and_the_worker_survives() -> None:
    env = ProcessEnv(RaisingEnv, TASK)
    try:
        assert env.reset() == START
        with pytest.raises(ValueError, match="cannot jump") as info:
            env.step("jump")
        assert "in the environment worker" in str(info.value.__cause__)
        assert env.expert_action() == "look"
        with pytest.raises(AttributeError):
            env.call("_private")
    finally:
        env.close()


def test_worker_imports_no_torch() -> None:
    env = ProcessEnv(RaisingEnv, TASK)
    try:
        modules = env.call("loaded_modules")
        assert "sdar.envs.workers" in modules
        assert not [m for m in modules if m == "torch" or m.startswith("torch.")]
    finally:
        env.close()


def test_hanging_step_raises_envfault_within_the_timeout_and_kills_the_worker() -> None:
    env = ProcessEnv(HangingEnv, TASK, timeout=1.0)
    env.reset()
    proc = env._worker.proc
    start = time.monotonic()
    with pytest.raises(EnvFault, match=r"did not answer step\('look'\).* within 1 s; it was killed"):
        env.step("look")
    assert time.monotonic() - start < 5.0
    assert proc.poll() is not None
    with pytest.raises(EnvFault):  # the env stays failed
        env.reset()
    env.close()


@pytest.mark.parametrize("action, reason", [("exit", "exit code 3"), ("segfault", "killed by SIGKILL")])
def test_dying_worker_raises_envfault(action: str, reason: str) -> None:
    env = ProcessEnv(CrashingEnv, TASK)
    env.reset()
    with pytest.raises(EnvFault, match=f"died during step.*{reason}"):
        env.step(action)
    env.close()


def test_unpicklable_factory_is_refused_at_construction() -> None:
    with pytest.raises(TypeError, match="picklable"):
        ProcessEnv(lambda task: HouseholdEnv(task), TASK)


def test_closed_env_refuses_calls_and_its_worker_exits() -> None:
    env = ProcessEnv(RaisingEnv, TASK)
    env.reset()
    env.close()
    assert env._worker.proc.wait(timeout=5) is not None
    with pytest.raises(RuntimeError, match="closed"):
        env.reset()


@pytest.mark.parametrize("pool_size", [None, 2])
def test_eight_envs_stepped_from_a_thread_pool(pool_size: int | None) -> None:
    spec = household_spec()
    pool = WorkerPool(pool_size) if pool_size else None
    envs = [ProcessEnv(HouseholdEnv, spec.make_task(seed), pool=pool) for seed in SEEDS]
    try:
        with ThreadPoolExecutor(len(envs)) as threads:
            results = list(threads.map(_expert_episode, envs))
        assert results == [_in_process(seed) for seed in SEEDS]
        assert all(r[-1].won for r in results)
        if pool:
            assert len({e._worker.proc.pid for e in envs}) == pool_size
    finally:
        for env in envs:
            env.close()
        if pool:
            pool.close()


def test_a_fault_in_a_pool_worker_fails_its_envs_and_the_pool_replaces_it() -> None:
    pool = WorkerPool(1)
    try:
        healthy = ProcessEnv(RaisingEnv, TASK, pool=pool)
        crashing = ProcessEnv(CrashingEnv, TASK, pool=pool)
        first_pid = healthy.call("pid")
        crashing.reset()
        with pytest.raises(EnvFault):
            crashing.step("exit")
        with pytest.raises(EnvFault):
            healthy.reset()
        fresh = ProcessEnv(RaisingEnv, TASK, pool=pool)
        assert fresh.call("pid") != first_pid
        for env in (healthy, crashing, fresh):
            env.close()
    finally:
        pool.close()


def test_in_workers_spec_plays_episodes_in_the_rollout_loop() -> None:
    from sdar.rollout.collect import ExpertAgent, run_episodes

    spec = household_spec()
    tasks = [spec.make_task(seed) for seed in SEEDS[:4]]
    pool = WorkerPool(2)
    try:
        trajs = run_episodes(ExpertAgent(), tasks, [0, 0, 1, 1], in_workers(spec, timeout=30, pool=pool),
                             max_turns=spec.max_turns, history=spec.history, thinking=False)
    finally:
        pool.close()
    assert [t.failed for t in trajs] == [None] * 4
    assert all(t.won for t in trajs)
