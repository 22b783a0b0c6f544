"""GRPO / RLOO advantages and RLSD rewrite against naive loops and hand-derived values."""

import math

import pytest
import torch

from sdar.losses import (
    ADVANTAGE_ESTIMATORS,
    get_advantage_estimator,
    group_advantages,
    rloo_advantages,
    rlsd_advantages,
    rlsd_lambda,
)


def naive_grpo(rewards, group_ids, eps=1e-6):
    """Loop over samples; per group (R − mean) / (std_unbiased + eps); singletons and constants 0."""
    out = []
    for r, gid in zip(rewards.tolist(), group_ids.tolist()):
        members = [x for x, g in zip(rewards.tolist(), group_ids.tolist()) if g == gid]
        if len(members) < 2 or max(members) == min(members):
            out.append(0.0)
            continue
        mean = sum(members) / len(members)
        std = math.sqrt(sum((x - mean) ** 2 for x in members) / (len(members) - 1))
        out.append((r - mean) / (std + eps))
    return torch.tensor(out, dtype=torch.float64)


def naive_rloo(rewards, group_ids):
    out = []
    for i, (r, gid) in enumerate(zip(rewards.tolist(), group_ids.tolist())):
        others = [x for j, (x, g) in enumerate(zip(rewards.tolist(), group_ids.tolist())) if g == gid and j != i]
        out.append(r - sum(others) / len(others) if others else 0.0)
    return torch.tensor(out, dtype=torch.float64)


def random_groups(seed):
    gen = torch.Generator().manual_seed(seed)
    group_ids = torch.tensor([7, 7, 7, -2, -2, 3, 11, 11, 11, 11, 7, 42])  # non-contiguous, a singleton
    rewards = torch.randn(group_ids.numel(), generator=gen, dtype=torch.float64)
    rewards[group_ids == 11] = 0.25  # a zero-variance group
    return rewards, group_ids


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_grpo_matches_naive_loop(seed):
    rewards, group_ids = random_groups(seed)
    assert torch.allclose(group_advantages(rewards, group_ids), naive_grpo(rewards, group_ids), atol=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_rloo_matches_naive_loop(seed):
    rewards, group_ids = random_groups(seed)
    assert torch.allclose(rloo_advantages(rewards, group_ids), naive_rloo(rewards, group_ids), atol=1e-12)


def test_grpo_hand_values():
    rewards = torch.tensor([1.0, 2.0, 3.0, 0.0, 10.0])
    group_ids = torch.tensor([0, 0, 0, 1, 1])
    adv = group_advantages(rewards, group_ids)
    # group 0: mean 2, unbiased std = sqrt((1 + 0 + 1) / 2) = 1 -> ±1 / (1 + 1e-6)
    assert adv[:3].tolist() == pytest.approx([-1 / (1 + 1e-6), 0.0, 1 / (1 + 1e-6)], abs=1e-7)
    # group 1: mean 5, std = sqrt((25 + 25) / 1) = 7.0710678 -> ±5 / 7.0710688 = ±0.70710668
    assert adv[3:].tolist() == pytest.approx([-0.70710668, 0.70710668], abs=1e-7)


def test_rloo_hand_values():
    adv = rloo_advantages(torch.tensor([1.0, 2.0, 3.0]), torch.tensor([5, 5, 5]))
    # 1 − (2+3)/2 = −1.5; 2 − (1+3)/2 = 0; 3 − (1+2)/2 = 1.5
    assert adv.tolist() == pytest.approx([-1.5, 0.0, 1.5])


@pytest.mark.parametrize("estimator", [group_advantages, rloo_advantages])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_zero_variance_and_singletons_are_exactly_zero(estimator, dtype):
    # 0.1 is not representable: a naive float32 mean leaves rounding noise that / (std + eps) would blow up.
    rewards = torch.tensor([0.1] * 8 + [10.0, 3.3], dtype=dtype)
    group_ids = torch.tensor([0] * 8 + [1, 2])
    adv = estimator(rewards, group_ids)
    assert torch.equal(adv, torch.zeros_like(adv))
    assert adv.dtype == dtype


def test_outputs_are_detached_and_float():
    rewards = torch.tensor([0.0, 1.0], requires_grad=True)
    assert not group_advantages(rewards, torch.tensor([0, 0])).requires_grad
    assert group_advantages(torch.tensor([0, 1]), torch.tensor([0, 0])).is_floating_point()


def test_shape_errors_and_empty():
    with pytest.raises(ValueError):
        group_advantages(torch.zeros(3), torch.zeros(2, dtype=torch.long))
    assert group_advantages(torch.zeros(0), torch.zeros(0, dtype=torch.long)).numel() == 0


def test_registry():
    assert get_advantage_estimator("grpo") is group_advantages
    assert get_advantage_estimator("rloo") is rloo_advantages
    with pytest.raises(ValueError) as err:
        get_advantage_estimator("gae")
    assert "gae" in str(err.value)
    for name in ADVANTAGE_ESTIMATORS:
        assert name in str(err.value)


def naive_rlsd(adv, gap, lam):
    out = []
    for a, row in zip(adv.tolist(), gap.tolist()):
        sign = (a > 0) - (a < 0)
        out.append([a * ((1 - lam) + lam * min(max(math.exp(sign * d), 0.8), 1.2)) for d in row])
    return torch.tensor(out, dtype=torch.float64)


def test_rlsd_hand_values():
    adv = torch.tensor([2.0, -1.0, 2.0, -1.0, 0.0])  # (B,)
    gap = torch.tensor([[0.1], [0.1], [1.0], [1.0], [3.0]])  # (B, T=1)
    got = rlsd_advantages(adv, gap, lam=0.5)[:, 0]
    # 2·(0.5 + 0.5·e^0.1) = 2·(0.5 + 0.55258546) = 2.10517092
    # −1·(0.5 + 0.5·e^−0.1) = −(0.5 + 0.45241871) = −0.95241871
    # 2·(0.5 + 0.5·clip(e^1 = 2.718, 1.2)) = 2·1.1 = 2.2
    # −1·(0.5 + 0.5·clip(e^−1 = 0.368, 0.8)) = −0.9
    # A = 0 stays 0
    assert got.tolist() == pytest.approx([2.10517092, -0.95241871, 2.2, -0.9, 0.0], abs=1e-6)


@pytest.mark.parametrize("lam", [0.0, 0.3, 1.0])
def test_rlsd_matches_naive_loop(lam):
    gen = torch.Generator().manual_seed(3)
    adv = torch.randn(4, generator=gen, dtype=torch.float64)
    gap = torch.randn(4, 5, generator=gen, dtype=torch.float64) * 0.5
    got = rlsd_advantages(adv, gap, lam=lam)
    assert got.shape == (4, 5)
    assert torch.allclose(got, naive_rlsd(adv, gap, lam), atol=1e-12)
    per_token = rlsd_advantages(adv[:, None].expand(4, 5), gap, lam=lam)  # (B, T) advantages
    assert torch.allclose(per_token, got)


def test_rlsd_lambda_zero_is_identity_and_detached():
    adv = torch.randn(3, 4, requires_grad=True)
    gap = torch.randn(3, 4) * 10  # huge gaps must not matter when λ = 0
    got = rlsd_advantages(adv, gap, lam=0.0)
    assert torch.equal(got, adv.detach())
    assert not got.requires_grad
    with pytest.raises(ValueError):
        rlsd_advantages(adv, gap, lam=1.5)


def test_rlsd_lambda_schedule():
    # 0.5 · (1 − step / 100), floored at 0
    assert rlsd_lambda(0) == 0.5
    assert rlsd_lambda(50) == pytest.approx(0.25)
    assert rlsd_lambda(100) == 0.0
    assert rlsd_lambda(150) == 0.0
    assert rlsd_lambda(10, start=1.0, decay_steps=20) == pytest.approx(0.5)
    assert rlsd_lambda(0, decay_steps=0) == 0.0
