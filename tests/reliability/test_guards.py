"""Numerical guards, mask integrity and environment faults: each fails loudly or is contained."""

import pytest
import torch

from sdar.config import build_config
from sdar.envs.base import EnvSpec
from sdar.rollout.collect import ExpertAgent, RandomAgent, run_episodes
from sdar.train import step as step_module
from sdar.train.batch import MaskError, Sample, build_micro_batch, check_loss_mask
from sdar.train.loop import TrainingDiverged, train
from sdar.types import Observation, Task


def test_non_finite_steps_are_skipped_then_the_run_stops(tmp_path, monkeypatch):
    real = step_module.micro_batch_loss

    def poisoned(*args, **kwargs):
        total, stats, tokens = real(*args, **kwargs)
        return total * float("nan"), stats, tokens

    monkeypatch.setattr(step_module, "micro_batch_loss", poisoned)
    cfg = build_config("tiny", {"train.out": str(tmp_path), "train.steps": "5", "train.max_bad_steps": "2"})
    steps = []
    real_step = torch.optim.AdamW.step
    monkeypatch.setattr(torch.optim.AdamW, "step", lambda self, *a, **k: (steps.append(1), real_step(self, *a, **k)))
    with pytest.raises(TrainingDiverged, match="2 steps in a row"):
        train(cfg, progress=False)
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 2 and all('"perf/skipped_step": 1.0' in line for line in lines)
    assert steps == []  # the optimizer never stepped on a non-finite gradient
    assert not (tmp_path / "final").exists()


def test_an_overflowing_diagnostic_does_not_skip_the_step(tmp_path, monkeypatch):
    """exp(gap) of a teacher far above the student overflows a logged KL estimate, not the loss."""
    real = step_module.micro_batch_loss

    def overflowing(*args, **kwargs):
        total, stats, tokens = real(*args, **kwargs)
        return total, {**stats, "distill/student_teacher_kl": torch.tensor(float("inf"))}, tokens

    monkeypatch.setattr(step_module, "micro_batch_loss", overflowing)
    cfg = build_config("tiny", {"train.out": str(tmp_path), "train.steps": "2", "train.max_bad_steps": "1"})
    train(cfg, progress=False)
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 2 and all('"perf/skipped_step": 0.0' in line for line in lines)


def test_mask_check_catches_a_mask_over_the_prompt():
    task = Task("household", 0, "pick", "g")
    samples = [Sample(task, "m", [5, 6, 7], [8, 9], 0.0, 0, 0, 0, False),
               Sample(task, "m", [5], [8, 9, 10], 0.0, 0, 0, 0, False)]
    mb = build_micro_batch(samples, [0, 1], 0, "cpu")
    check_loss_mask(mb, samples)
    mb.loss_mask[0, 0] = 1.0  # now covers a prompt token of row 0
    with pytest.raises(MaskError):
        check_loss_mask(mb, samples)
    mb = build_micro_batch(samples, [0, 1], 0, "cpu")
    mb.input_ids[1, -1] = 99  # the response ids changed under the mask
    with pytest.raises(MaskError):
        check_loss_mask(mb, samples)


class FlakyEnv:
    """Raises on its second step."""

    def __init__(self, task):
        self.task, self.steps = task, 0

    def reset(self):
        return Observation("start", ("look", "wait"))

    def step(self, action):
        self.steps += 1
        if self.steps == 2 and self.task.seed == 1:
            raise RuntimeError("engine crashed")
        return Observation("ok", ("look", "wait"), done=self.steps >= 3, won=self.steps >= 3)

    def expert_action(self):
        return "look"


def test_an_env_that_raises_ends_only_its_episode():
    spec = EnvSpec("flaky", ("t",), lambda s: Task("flaky", s, "t", "g"), FlakyEnv, max_turns=5, history=2)
    tasks = [spec.make_task(0), spec.make_task(1)]
    trajs = run_episodes(RandomAgent(0), tasks, [0, 1], spec, max_turns=5, history=2, thinking=False)
    assert trajs[0].won and trajs[0].failed is None
    assert not trajs[1].won and "engine crashed" in trajs[1].failed and len(trajs[1].turns) == 2


class MuteExpertEnv(FlakyEnv):
    """Its expert cannot answer from the second turn on (as a killed worker's game between steps)."""

    def expert_action(self):
        if self.steps >= 1 and self.task.seed == 1:
            raise RuntimeError("worker gone")
        return "look"


def test_an_env_whose_expert_raises_ends_only_its_episode():
    spec = EnvSpec("flaky", ("t",), lambda s: Task("flaky", s, "t", "g"), MuteExpertEnv, max_turns=5, history=2)
    trajs = run_episodes(ExpertAgent(), [spec.make_task(0), spec.make_task(1), spec.make_task(2)], [0, 1, 2], spec,
                         max_turns=5, history=2, thinking=False)
    assert trajs[0].won and trajs[2].won and trajs[0].failed is None and len(trajs[2].turns) == 3
    assert not trajs[1].won and "worker gone" in trajs[1].failed and len(trajs[1].turns) == 1


def test_a_failed_episode_gives_no_training_sample():
    """Its zero return is the environment's doing, not the policy's: it must not enter the group's advantages."""
    from sdar.train.batch import samples_from
    from sdar.types import Trajectory, Turn

    def episode(failed):
        turn = Turn(0, "p", [1, 2], [3, 4], "<action>look</action>", "look", True, "ok")
        return Trajectory(Task("flaky", 0, "t", "g"), 0, [turn, turn], failed=failed)
    samples = samples_from([episode(None), episode("RuntimeError: engine crashed"), episode(None)])
    assert [s.traj_index for s in samples] == [0, 0, 2, 2]


class HangingEnv(FlakyEnv):
    """Hangs forever on the second step of task seed 1."""

    def step(self, action):
        if self.steps == 1 and self.task.seed == 1:
            import time

            time.sleep(3600)
        return super().step(action)


def make_hanging_task(seed):
    return Task("hang", seed, "t", "g")


def test_a_hung_env_in_a_worker_times_out_and_the_rest_go_on():
    from sdar.envs.workers import WorkerPool, in_workers

    spec = EnvSpec("hang", ("t",), make_hanging_task, HangingEnv, max_turns=5, history=2)
    with WorkerPool(2) as pool:
        wrapped = in_workers(spec, timeout=2.0, pool=pool)
        trajs = run_episodes(RandomAgent(0), [spec.make_task(0), spec.make_task(1), spec.make_task(2)],
                             [0, 1, 2], wrapped, max_turns=5, history=2, thinking=False)
    assert trajs[0].won and trajs[2].won
    assert not trajs[1].won and "within 2" in trajs[1].failed
