"""logprobs_from_logits / entropy_from_logits against naive log_softmax and per-token loops."""

import math

import pytest
import torch

from sdar.losses import entropy_from_logits, logprobs_from_logits


def naive_logprobs(logits, labels):
    return torch.log_softmax(logits.double(), -1).gather(-1, labels[..., None])[..., 0]


def naive_entropy(logits):
    """−Σ p log p, one token at a time, in float64 Python."""
    flat = logits.double().reshape(-1, logits.shape[-1])
    out = []
    for row in flat.tolist():
        top = max(row)
        z = sum(math.exp(v - top) for v in row)
        ps = [math.exp(v - top) / z for v in row]
        out.append(-sum(p * math.log(p) for p in ps if p > 0))
    return torch.tensor(out, dtype=torch.float64).reshape(logits.shape[:-1])


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_logprobs_match_naive(dtype):
    gen = torch.Generator().manual_seed(0)
    logits = (torch.randn(2, 5, 11, generator=gen) * 4).to(dtype)  # (B, T, V)
    labels = torch.randint(0, 11, (2, 5), generator=gen)  # (B, T)
    got = logprobs_from_logits(logits, labels)
    assert got.dtype == torch.float32 and got.shape == (2, 5)
    assert torch.allclose(got.double(), naive_logprobs(logits, labels), atol=1e-5)


def test_logprobs_gradient_and_2d_input():
    gen = torch.Generator().manual_seed(1)
    logits = torch.randn(3, 4, 7, generator=gen, requires_grad=True)
    labels = torch.randint(0, 7, (3, 4), generator=gen)
    (grad,) = torch.autograd.grad(logprobs_from_logits(logits, labels).sum(), logits)
    (expected,) = torch.autograd.grad(naive_logprobs(logits, labels).sum(), logits)
    assert torch.allclose(grad, expected.float(), atol=1e-6)
    assert torch.allclose(logprobs_from_logits(logits[0], labels[0]), logprobs_from_logits(logits, labels)[0])


def test_logprobs_stable_for_large_logits_and_shape_check():
    logits = torch.tensor([[[1e4, 1e4 - 1.0]]])  # both exact in float32
    # p = 1 / (1 + e^−1) = 0.73105858 -> log p = −log(1 + e^−1) = −0.31326169
    assert logprobs_from_logits(logits, torch.tensor([[0]])).item() == pytest.approx(-0.31326169, abs=1e-6)
    with pytest.raises(ValueError):
        logprobs_from_logits(logits, torch.tensor([[0, 1]]))


@pytest.mark.parametrize("shape", [(2, 3, 9), (4, 6), (2, 2, 3, 5)])
def test_entropy_matches_naive_loop(shape):
    gen = torch.Generator().manual_seed(2)
    logits = torch.randn(*shape, generator=gen) * 3
    got = entropy_from_logits(logits)
    assert got.shape == shape[:-1]
    assert torch.allclose(got.double(), naive_entropy(logits), atol=1e-5)


def test_entropy_hand_values_and_stability():
    # uniform over V = 8: H = log 8 = 2.07944154
    assert entropy_from_logits(torch.zeros(1, 1, 8)).item() == pytest.approx(math.log(8), abs=1e-6)
    # huge offset changes nothing (logsumexp form)
    assert entropy_from_logits(torch.full((1, 1, 8), 1e4)).item() == pytest.approx(math.log(8), abs=1e-6)
    # two live entries at p = 0.5 and −inf elsewhere: H = log 2 = 0.69314718, finite gradient
    logits = torch.tensor([[[0.0, 0.0, float("-inf"), float("-inf")]]], requires_grad=True)
    h = entropy_from_logits(logits)
    h.sum().backward()
    assert h.item() == pytest.approx(math.log(2), abs=1e-6)
    assert torch.isfinite(logits.grad).all()


def test_entropy_gradient_matches_naive():
    gen = torch.Generator().manual_seed(3)
    logits = torch.randn(2, 3, 6, generator=gen, dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(entropy_from_logits(logits).sum(), logits)
    p = torch.softmax(logits, -1)
    (expected,) = torch.autograd.grad(-(p * torch.log(p)).sum(), logits)
    assert torch.allclose(grad.double(), expected, atol=1e-5)


def test_bf16_entropy_is_float32():
    logits = torch.randn(2, 3, 7).to(torch.bfloat16)
    got = entropy_from_logits(logits)
    assert got.dtype == torch.float32
    assert torch.allclose(got.double(), naive_entropy(logits), atol=1e-5)
