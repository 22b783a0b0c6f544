"""KL estimators against per-element formulas and hand-derived values."""

import math

import pytest
import torch

from sdar.losses import KL_ESTIMATORS, kl_penalty


def naive_kl(lp, ref, estimator):
    r = ref - lp
    return {"k1": lp - ref, "k2": 0.5 * (lp - ref) ** 2, "k3": math.exp(r) - r - 1, "none": 0.0}[estimator]


@pytest.mark.parametrize("estimator", ["k1", "k2", "k3", "none"])
def test_matches_naive_loop(estimator):
    gen = torch.Generator().manual_seed(0)
    lp = -torch.rand(3, 5, generator=gen, dtype=torch.float64) * 3  # (B, T)
    ref = -torch.rand(3, 5, generator=gen, dtype=torch.float64) * 3  # (B, T)
    expected = torch.tensor(
        [[naive_kl(a, b, estimator) for a, b in zip(ra, rb)] for ra, rb in zip(lp.tolist(), ref.tolist())],
        dtype=torch.float64,
    )
    assert torch.allclose(kl_penalty(lp, ref, estimator=estimator), expected, atol=1e-12)


def test_hand_values():
    lp = torch.tensor([[-1.0, -2.0]])
    ref = torch.tensor([[-2.0, -1.0]])
    # r = ref − lp = [−1, 1]
    assert kl_penalty(lp, ref, estimator="k1").tolist()[0] == pytest.approx([1.0, -1.0])
    assert kl_penalty(lp, ref, estimator="k2").tolist()[0] == pytest.approx([0.5, 0.5])
    # k3: e^−1 + 1 − 1 = 0.36787944; e^1 − 1 − 1 = 0.71828183
    assert kl_penalty(lp, ref, estimator="k3").tolist()[0] == pytest.approx([0.36787944, 0.71828183])
    assert torch.equal(kl_penalty(lp, ref, estimator="low_var_kl"), kl_penalty(lp, ref, estimator="k3"))


def test_k3_nonnegative_and_zero_at_equality():
    gen = torch.Generator().manual_seed(1)
    lp = torch.randn(4, 7, generator=gen) * 3
    ref = torch.randn(4, 7, generator=gen) * 3
    assert (kl_penalty(lp, ref) >= 0).all()
    assert torch.equal(kl_penalty(lp, lp.clone()), torch.zeros_like(lp))


def test_clamp_applies_to_all_estimators():
    lp = torch.tensor([[0.0]])
    ref = torch.tensor([[-30.0]])
    # k1 = 30 -> 10; k2 = 450 -> 10; k3 = e^−20 + 20 − 1 ≈ 19 -> 10 (inner log-ratio clamp ±20 as verl)
    for estimator in ("k1", "k2", "k3"):
        assert kl_penalty(lp, ref, estimator=estimator).item() == pytest.approx(10.0)
    assert kl_penalty(lp, ref, estimator="k1", clamp=None).item() == pytest.approx(30.0)
    # k1 can be negative: lp − ref = −30 -> −10
    assert kl_penalty(ref, lp, estimator="k1").item() == pytest.approx(-10.0)


def test_gradient_flows_to_logprobs_only_and_stays_finite():
    lp = torch.tensor([[-1.0, -200.0, 0.0]], requires_grad=True)
    ref = torch.tensor([[-1.5, 0.0, -200.0]], requires_grad=True)
    kl_penalty(lp, ref, estimator="k3").sum().backward()
    assert ref.grad is None
    assert torch.isfinite(lp.grad).all()
    # d/dlp [e^r − r − 1] with r = ref − lp: −e^r + 1 = 1 − e^−0.5 = 0.39346934 (unclamped token)
    assert lp.grad[0, 0].item() == pytest.approx(1 - math.exp(-0.5))
    assert lp.grad[0, 1].item() == 0.0 and lp.grad[0, 2].item() == 0.0  # clamped tokens


def test_none_and_registry():
    lp = torch.randn(2, 3)
    assert torch.equal(kl_penalty(lp, lp + 1, estimator="none"), torch.zeros(2, 3))
    with pytest.raises(ValueError) as err:
        kl_penalty(lp, lp, estimator="k4")
    for name in KL_ESTIMATORS:
        assert name in str(err.value)
