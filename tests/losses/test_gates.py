"""Gate registry: hand-derived sigmoids, β = 0, detachment, errors."""

import math

import pytest
import torch

from sdar.losses import GATES, get_gate


def sigmoid(x):
    return 1.0 / (1.0 + math.exp(-x))


def test_gap_gate_hand_values():
    gap = torch.tensor([[-0.3, 0.2, 0.0]])
    # β = 5: σ(−1.5) = 0.18242552, σ(1.0) = 0.73105858, σ(0) = 0.5
    assert get_gate("gap")(gap, beta=5.0).tolist()[0] == pytest.approx([0.18242552, 0.73105858, 0.5])


def test_entropy_and_soft_or_hand_values():
    gap = torch.tensor([[-0.3]])
    entropy = torch.tensor([[0.1]])
    # entropy gate: σ(5·0.1) = σ(0.5) = 0.62245933
    assert get_gate("entropy")(gap, beta=5.0, entropy=entropy).item() == pytest.approx(0.62245933)
    # soft-OR: 1 − (1 − 0.18242552)(1 − 0.62245933) = 1 − 0.81757448·0.37754067 = 1 − 0.30866761 = 0.69133239
    assert get_gate("soft_or")(gap, beta=5.0, entropy=entropy).item() == pytest.approx(0.69133239)


@pytest.mark.parametrize("name", ["gap", "entropy", "soft_or"])
def test_matches_naive_loop(name):
    gen = torch.Generator().manual_seed(0)
    gap = torch.randn(3, 4, generator=gen, dtype=torch.float64)
    entropy = torch.rand(3, 4, generator=gen, dtype=torch.float64) * 2
    beta = 2.5
    formula = {
        "gap": lambda d, h: sigmoid(beta * d),
        "entropy": lambda d, h: sigmoid(beta * h),
        "soft_or": lambda d, h: 1 - (1 - sigmoid(beta * d)) * (1 - sigmoid(beta * h)),
    }[name]
    expected = [[formula(d, h) for d, h in zip(rd, rh)] for rd, rh in zip(gap.tolist(), entropy.tolist())]
    got = get_gate(name)(gap, beta=beta, entropy=entropy)
    assert torch.allclose(got, torch.tensor(expected, dtype=torch.float64), atol=1e-12)


def test_beta_zero_is_constant_half():
    gap = torch.randn(4, 5) * 10
    assert torch.equal(get_gate("gap")(gap, beta=0.0), torch.full((4, 5), 0.5))
    assert torch.equal(get_gate("constant")(gap, beta=5.0), get_gate("gap")(gap, beta=0.0))


@pytest.mark.parametrize("name", list(GATES))
def test_outputs_are_detached(name):
    gap = torch.randn(2, 3, requires_grad=True)
    entropy = torch.rand(2, 3, requires_grad=True)
    assert not GATES[name](gap, beta=5.0, entropy=entropy).requires_grad


@pytest.mark.parametrize("name", ["entropy", "soft_or"])
def test_entropy_gates_require_entropy(name):
    with pytest.raises(ValueError, match="entropy"):
        get_gate(name)(torch.zeros(1, 1), beta=5.0)


def test_registry_miss_lists_gates():
    with pytest.raises(ValueError) as err:
        get_gate("hard")
    for name in ("gap", "entropy", "soft_or", "constant"):
        assert name in str(err.value)
