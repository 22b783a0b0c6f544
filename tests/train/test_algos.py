"""Every `--algo` on the same loop: a short tiny run of each, and the loss-level equivalences between them."""

import dataclasses
import json
import math

import pytest
import torch

from sdar.algos import ALGOS, get_algo
from sdar.config import LossConfig, build_config
from sdar.train.batch import MicroBatch
from sdar.train.loop import step_scalars, train
from sdar.train.step import StepScalars, micro_batch_loss
from sdar.types import Task

OWN_METRICS = {
    "sdar": ["loss/policy", "distill/gate_mean", "distill/teacher_gap_mean"],
    "grpo": ["loss/policy"],
    "opsd": ["distill/gate_mean", "distill/loss"],
    "grpo_opsd": ["loss/policy", "distill/gate_mean"],
    "skill_grpo": ["loss/policy", "eval/with_skills/success_rate"],
    "skill_sd": ["loss/policy", "distill/k3_mean"],
    "rlsd": ["loss/policy", "distill/teacher_gap_mean"],
}


@pytest.mark.parametrize("name", list(ALGOS))
def test_each_algo_runs_on_tiny(tmp_path, name):
    cfg = build_config("tiny", {"loss.algo": name, "train.steps": "1", "train.out": str(tmp_path)})
    record = json.loads((train(cfg, progress=False) / "metrics.jsonl").read_text().splitlines()[0])
    for key in OWN_METRICS[name]:
        assert key in record and math.isfinite(record[key]), key
    assert ("loss/policy" in record) == get_algo(name).policy_gradient
    assert ("distill/teacher_gap_mean" in record) == get_algo(name).needs_teacher
    if name == "grpo_opsd":
        assert record["distill/gate_mean"] == pytest.approx(0.5) and record["distill/beta"] == 0.0


def test_skill_grpo_is_evaluated_with_the_skills_it_trained_with(tmp_path, monkeypatch):
    """The with-skills evaluation shows the student the `--teacher.context` it trained with, not a fixed one."""
    import sdar.train.loop as loop

    used = []
    real = loop.privileged_renderer

    def spy(tokenizer, provider, **kw):
        used.append(provider.__name__)
        return real(tokenizer, provider, **kw)
    monkeypatch.setattr(loop, "privileged_renderer", spy)
    cfg = build_config("tiny", {"loss.algo": "skill_grpo", "teacher.context": "skills_all", "train.steps": "1",
                                "train.out": str(tmp_path)})
    train(cfg, progress=False)
    assert len(used) == 2 and set(used) == {"skills_all"}  # training's student, then the evaluation


def fake_batch(seed=0, B=3, n=5):
    g = torch.Generator().manual_seed(seed)
    mask = (torch.rand(B, n, generator=g) > 0.3).float()
    mask[:, -1] = 1.0
    mb = MicroBatch(rows=list(range(B)), n=n, input_ids=torch.zeros(B, n, dtype=torch.long),
                    attention_mask=torch.ones(B, n, dtype=torch.long), loss_mask=mask)
    mb.advantages = torch.randn(B, generator=g)
    mb.extras = {"teacher_logprobs": -torch.rand(B, n, generator=g) * 3,
                 "ref_logprobs": -torch.rand(B, n, generator=g) * 3}
    logprobs = (-torch.rand(B, n, generator=g) * 3).requires_grad_()
    entropy = torch.rand(B, n, generator=g) * 2
    return mb, logprobs, entropy


def loss_and_grad(name, mb, logprobs, entropy, scalars, **loss_overrides):
    lp = logprobs.detach().clone().requires_grad_()
    total, stats, _ = micro_batch_loss(lp, entropy, mb, LossConfig(algo=name, **loss_overrides), get_algo(name),
                                       scalars)
    total.backward()
    return total.detach(), lp.grad


def test_grpo_opsd_is_sdar_with_beta_zero():
    """Each algo with the step scalars its own config gives: grpo_opsd is sdar at β = 0, not at sdar's β."""
    mb, lp, ent = fake_batch()
    scalars = {name: step_scalars(build_config("tiny", {"loss.algo": name}), 1) for name in ("grpo_opsd", "sdar")}
    assert scalars["grpo_opsd"].beta == 0.0 and scalars["sdar"].beta == 5.0
    naive = loss_and_grad("grpo_opsd", mb, lp, ent, scalars["grpo_opsd"])
    at_zero = loss_and_grad("sdar", mb, lp, ent, dataclasses.replace(scalars["sdar"], beta=0.0))
    torch.testing.assert_close(naive, at_zero)
    assert not torch.allclose(naive[1], loss_and_grad("sdar", mb, lp, ent, scalars["sdar"])[1])


def test_opsd_has_no_policy_gradient_term():
    mb, lp, ent = fake_batch()
    s = StepScalars(beta=5.0, distill_coef=0.01, rlsd_lambda=0.0)
    before = loss_and_grad("opsd", mb, lp, ent, s)
    mb.advantages = mb.advantages * 100 + 3
    after = loss_and_grad("opsd", mb, lp, ent, s)
    torch.testing.assert_close(before, after)
    changed = loss_and_grad("sdar", mb, lp, ent, s)
    assert not torch.allclose(before[1], changed[1])


def test_rlsd_with_lambda_zero_equals_grpo():
    mb, lp, ent = fake_batch()
    s = StepScalars(beta=5.0, distill_coef=0.01, rlsd_lambda=0.0)
    torch.testing.assert_close(loss_and_grad("rlsd", mb, lp, ent, s), loss_and_grad("grpo", mb, lp, ent, s))
    s_on = StepScalars(beta=5.0, distill_coef=0.01, rlsd_lambda=0.5)
    assert not torch.allclose(loss_and_grad("rlsd", mb, lp, ent, s_on)[1], loss_and_grad("grpo", mb, lp, ent, s)[1])


def test_skill_sd_adds_a_term_to_grpo():
    mb, lp, ent = fake_batch()
    s = StepScalars(beta=5.0, distill_coef=0.01, rlsd_lambda=0.0)
    grpo = loss_and_grad("grpo", mb, lp, ent, s)
    skill = loss_and_grad("skill_sd", mb, lp, ent, s)
    zero = loss_and_grad("skill_sd", mb, lp, ent, s, skill_sd_coef=0.0)
    torch.testing.assert_close(zero, grpo)
    assert not torch.allclose(skill[1], grpo[1])


def test_schedules_ramp_beta_and_lambda():
    cfg = build_config("tiny", {"loss.beta_warmup_steps": "4", "loss.distill_warmup_steps": "2"})
    assert [step_scalars(cfg, k).beta for k in (1, 2, 4, 9)] == [1.25, 2.5, 5.0, 5.0]
    assert [step_scalars(cfg, k).distill_coef for k in (1, 2, 3)] == [0.005, 0.01, 0.01]
    rlsd = build_config("tiny", {"loss.algo": "rlsd", "loss.rlsd_decay_steps": "10"})
    assert [round(step_scalars(rlsd, k).rlsd_lambda, 6) for k in (1, 6, 11, 20)] == [0.5, 0.25, 0.0, 0.0]


@pytest.mark.parametrize("overrides, words", [
    ({"loss.algo": "grpo", "loss.gate": "entropy"}, ["--loss.gate", "grpo", "sdar"]),
    ({"loss.algo": "grpo_opsd", "loss.beta": "3"}, ["--loss.beta", "grpo_opsd"]),
    ({"loss.algo": "sdar", "loss.rlsd_lambda": "0.3"}, ["--loss.rlsd_lambda", "rlsd"]),
    ({"loss.algo": "grpo", "teacher.mode": "ema"}, ["--teacher.mode"]),
    ({"teacher.mode": "ema", "teacher.ema_decay": "1.5"}, ["--teacher.ema_decay"]),
])
def test_bad_combinations_are_refused(overrides, words):
    from sdar.config import ConfigError

    with pytest.raises(ConfigError) as err:
        build_config("tiny", overrides)
    for word in words:
        assert word in str(err.value)


@pytest.mark.parametrize("mode", ["ema", "frozen"])
def test_teacher_modes_run(tmp_path, mode):
    cfg = build_config("tiny", {"teacher.mode": mode, "train.steps": "1", "train.out": str(tmp_path),
                                "loss.kl_coef": "0"})
    record = json.loads((train(cfg, progress=False) / "metrics.jsonl").read_text().splitlines()[0])
    assert math.isfinite(record["distill/teacher_gap_mean"])


def test_drop_constant_groups_keeps_only_groups_with_a_reward_spread():
    from types import SimpleNamespace

    from sdar.train.loop import drop_constant_groups

    group_ids = torch.tensor([0, 0, 1, 1, 2])
    samples = [SimpleNamespace(group_id=int(g), k=k) for k, g in enumerate(group_ids)]
    kept, rewards, groups = drop_constant_groups(samples, torch.tensor([1.0, 1.0, 0.0, 1.0, 5.0]), group_ids)
    assert [s.k for s in kept] == [2, 3] and rewards.tolist() == [0.0, 1.0] and groups.tolist() == [1, 1]


def test_filter_groups_and_rloo_run(tmp_path, monkeypatch):
    """Both switches reach the loop: RLOO computes the advantages, on the groups the filter kept."""
    from sdar.train import loop

    seen = []
    real = loop.get_advantage_estimator

    def spy(name):
        estimator = real(name)
        return lambda rewards, group_ids: seen.append((name, rewards.clone(), group_ids.clone())) or estimator(
            rewards, group_ids)
    monkeypatch.setattr(loop, "get_advantage_estimator", spy)
    cfg = build_config("tiny", {"loss.filter_groups": "true", "loss.adv_estimator": "rloo", "train.steps": "2",
                                "train.out": str(tmp_path)})
    train(cfg, progress=False)
    assert seen and all(name == "rloo" for name, _, _ in seen)
    for _, rewards, group_ids in seen:  # every group left has a reward spread
        assert all(rewards[group_ids == g].unique().numel() > 1 for g in group_ids.unique())


def test_ema_teacher_moves_but_the_kl_reference_does_not(tmp_path, monkeypatch):
    from sdar.train import loop

    seen = {}
    real = loop.ema_update

    def spy(ema_model, model, *, decay):
        seen["ema"] = ema_model
        real(ema_model, model, decay=decay)

    monkeypatch.setattr(loop, "ema_update", spy)
    real_score = loop.score_reference
    monkeypatch.setattr(loop, "score_reference", lambda ref, mbs, **kw: (seen.setdefault("ref", ref),
                                                                         real_score(ref, mbs, **kw)))
    cfg = build_config("tiny", {"teacher.mode": "ema", "train.steps": "2", "train.out": str(tmp_path)})
    train(cfg, progress=False)
    assert seen["ema"] is not seen["ref"]
    from sdar.models import load_model

    initial = load_model("tiny")[0].state_dict()
    assert all(torch.equal(v, initial[k]) for k, v in seen["ref"].state_dict().items())
    assert any(not torch.equal(v, initial[k]) for k, v in seen["ema"].state_dict().items())


@pytest.mark.parametrize("agg", ["token-mean", "seq-mean-token-mean"])
def test_one_step_is_the_same_however_the_batch_is_cut(tiny, agg):
    """`update` over one micro-batch of all rows and over one row per micro-batch: the same step (weights by
    the global token or row count), for SDAR's whole loss (policy, KL, entropy, gated distillation)."""
    import copy

    from sdar.train.batch import Sample, build_micro_batch
    from sdar.train.step import update

    model, _ = tiny
    g = torch.Generator().manual_seed(0)
    task = Task("household", 0, "pick", "g")
    samples = [Sample(task, "", torch.randint(3, 200, (p,), generator=g).tolist(),
                      torch.randint(3, 200, (r,), generator=g).tolist(), 0.0, 0, 0, k, False)
               for k, (p, r) in enumerate([(7, 2), (4, 6), (9, 3), (5, 5)])]
    per_token = {k: {name: -torch.rand(len(s.response_ids), generator=g) * 3 for name in ("teacher", "ref")}
                 for k, s in enumerate(samples)}
    advantages = torch.randn(len(samples), generator=g)

    def batch(rows):
        mb = build_micro_batch(samples, rows, 0, "cpu")
        mb.advantages = advantages[rows]
        for name in ("teacher", "ref"):
            mb.extras[f"{name}_logprobs"] = torch.zeros_like(mb.loss_mask)
            for r, k in enumerate(rows):
                mb.extras[f"{name}_logprobs"][r, mb.n - len(samples[k].response_ids):] = per_token[k][name]
        return mb

    loss = LossConfig(algo="sdar", agg=agg)
    scalars = StepScalars(beta=5.0, distill_coef=0.01, rlsd_lambda=0.0)
    moved = []
    for cut in ([[0, 1, 2, 3]], [[0], [1], [2], [3]]):
        copy_ = copy.deepcopy(model)
        optimizer = torch.optim.SGD(copy_.parameters(), lr=1.0)
        metrics, _ = update(copy_, optimizer, [batch(rows) for rows in cut], loss, get_algo("sdar"), scalars,
                            grad_clip=0.0, amp_dtype=None)
        moved.append(torch.cat([(a - b).flatten() for a, b in zip(copy_.parameters(), model.parameters())]))
        assert metrics["perf/skipped_step"] == 0.0
    assert moved[0].abs().max() > 0
    torch.testing.assert_close(moved[0], moved[1], rtol=1e-4, atol=1e-7)
    empty = copy.deepcopy(model)
    metrics, _ = update(empty, torch.optim.SGD(empty.parameters(), lr=1.0), [], loss, get_algo("sdar"), scalars,
                        grad_clip=0.0, amp_dtype=None)  # every group filtered out: nothing to learn, no error
    assert metrics["perf/skipped_step"] == 0.0
