"""PPO-clip + dual-clip surrogate against a naive loop and hand-derived clip regions."""

import math

import pytest
import torch

from sdar.losses import AGG_MODES, aggregate, ppo_clip_loss


def naive_ppo_token(lp, old, a, clip_low=0.2, clip_high=0.2, dual_clip=3.0):
    ratio = torch.exp(lp - old)
    pg1 = -a * ratio
    pg2 = -a * torch.clamp(ratio, 1 - clip_low, 1 + clip_high)
    clipped = torch.maximum(pg1, pg2)
    if dual_clip is not None and a < 0:
        return torch.minimum(clipped, -a * dual_clip)
    return clipped


def naive_ppo(lp, old, adv, mask, **kw):
    """Token-mean via a Python loop over masked tokens, differentiable w.r.t. lp."""
    terms = [
        naive_ppo_token(lp[b, t], old[b, t], adv[b, t], **kw)
        for b in range(lp.shape[0])
        for t in range(lp.shape[1])
        if mask[b, t]
    ]
    return torch.stack(terms).sum() / len(terms)


@pytest.mark.parametrize("dual_clip", [3.0, None])
@pytest.mark.parametrize("seed", [0, 1])
def test_matches_naive_loop_loss_and_grad(seed, dual_clip):
    gen = torch.Generator().manual_seed(seed)
    old = -torch.rand(3, 6, generator=gen, dtype=torch.float64) * 2  # (B, T)
    lp = (old + torch.randn(3, 6, generator=gen, dtype=torch.float64) * 0.8).requires_grad_()
    adv = torch.randn(3, 6, generator=gen, dtype=torch.float64) * 2
    mask = torch.rand(3, 6, generator=gen) > 0.3
    loss, _ = ppo_clip_loss(lp, old, adv, mask, clip_low=0.2, clip_high=0.28, dual_clip=dual_clip)
    (grad,) = torch.autograd.grad(loss, lp)
    lp_ref = lp.detach().clone().requires_grad_()
    expected = naive_ppo(lp_ref, old, adv, mask, clip_low=0.2, clip_high=0.28, dual_clip=dual_clip)
    expected.backward()
    assert loss.item() == pytest.approx(expected.item(), abs=1e-12)
    assert torch.allclose(grad, lp_ref.grad, atol=1e-12)


@pytest.mark.parametrize("agg", AGG_MODES)
def test_ratio_one_gives_minus_aggregated_advantage(agg):
    gen = torch.Generator().manual_seed(2)
    lp = torch.randn(3, 4, generator=gen)
    adv = torch.randn(3, 4, generator=gen)
    mask = torch.tensor([[1, 1, 0, 0], [0, 0, 0, 0], [1, 1, 1, 1]], dtype=torch.bool)
    loss, stats = ppo_clip_loss(lp, lp.clone(), adv, mask, agg=agg)
    assert loss.item() == pytest.approx(-aggregate(adv, mask, mode=agg).item(), abs=1e-6)
    assert stats["clip_frac"].item() == 0.0
    assert stats["ratio_mean"].item() == pytest.approx(1.0)


def test_clip_regions_hand_derived():
    ratios = [1.5, 0.5, 0.5, 5.0, 2.0]
    adv = torch.tensor([[1.0, 1.0, -1.0, -1.0, -1.0]])
    old = torch.zeros(1, 5)
    lp = torch.tensor([[math.log(r) for r in ratios]], requires_grad=True)
    mask = torch.ones(1, 5)
    loss, stats = ppo_clip_loss(lp, old, adv, mask)
    # A=1, r=1.5: pg1=−1.5, pg2=−1.2 -> max −1.2 (clipped, no grad)
    # A=1, r=0.5: pg1=−0.5, pg2=−0.8 -> −0.5 (unclipped, d/dlp = −A·r = −0.5)
    # A=−1, r=0.5: pg1=0.5, pg2=0.8 -> 0.8 (clipped, no grad)
    # A=−1, r=5: pg1=5, pg2=1.2 -> 5, dual bound −A·3 = 3 -> 3 (dual-clipped, no grad)
    # A=−1, r=2: pg1=2, pg2=1.2 -> 2 < 3 -> 2 (unclipped, d/dlp = −A·r = 2)
    # mean = (−1.2 − 0.5 + 0.8 + 3 + 2) / 5 = 4.1 / 5 = 0.82
    assert loss.item() == pytest.approx(0.82, abs=1e-6)
    loss.backward()
    assert lp.grad[0].tolist() == pytest.approx([0.0, -0.5 / 5, 0.0, 0.0, 2.0 / 5], abs=1e-6)
    assert stats["clip_frac"].item() == pytest.approx(2 / 5)  # pg2 > pg1 on tokens 1 and 3
    assert stats["dual_clip_frac"].item() == pytest.approx(1 / 5)
    assert stats["ratio_mean"].item() == pytest.approx(9.5 / 5, abs=1e-6)
    assert stats["ratio_max"].item() == pytest.approx(5.0, abs=1e-5)
    # without dual clip the r=5 token keeps pg1 = 5: (−1.2 − 0.5 + 0.8 + 5 + 2) / 5 = 1.22
    no_dual, no_dual_stats = ppo_clip_loss(lp.detach(), old, adv, mask, dual_clip=None)
    assert no_dual.item() == pytest.approx(1.22, abs=1e-6)
    assert no_dual_stats["dual_clip_frac"].item() == 0.0


def test_asymmetric_clip_high():
    lp = torch.tensor([[math.log(1.25)]])
    # A=1, r=1.25: clip_high 0.2 -> pg2 = −1.2 > −1.25 -> −1.2; clip_high 0.28 -> −min(1.25, 1.28) = −1.25
    loss_a, _ = ppo_clip_loss(lp, torch.zeros(1, 1), torch.ones(1, 1), torch.ones(1, 1))
    loss_b, _ = ppo_clip_loss(lp, torch.zeros(1, 1), torch.ones(1, 1), torch.ones(1, 1), clip_high=0.28)
    assert loss_a.item() == pytest.approx(-1.2) and loss_b.item() == pytest.approx(-1.25)


def test_sequence_advantages_broadcast():
    gen = torch.Generator().manual_seed(4)
    lp, old = torch.randn(2, 3, generator=gen), torch.randn(2, 3, generator=gen)
    adv = torch.tensor([0.7, -1.3])  # (B,)
    mask = torch.ones(2, 3)
    loss_seq, _ = ppo_clip_loss(lp, old, adv, mask)
    loss_tok, _ = ppo_clip_loss(lp, old, adv[:, None].expand(2, 3), mask)
    assert torch.equal(loss_seq, loss_tok)


def test_empty_mask_and_garbage_padding():
    lp = torch.tensor([[-1.0, -2.0]], requires_grad=True)
    old = torch.tensor([[float("-inf"), float("nan")]])
    adv = torch.tensor([[float("nan"), 1.0]])
    loss, stats = ppo_clip_loss(lp, old, adv, torch.zeros(1, 2, dtype=torch.bool))
    loss.backward()
    assert loss.item() == 0.0
    assert torch.equal(lp.grad, torch.zeros(1, 2))
    assert all(torch.isfinite(v) for v in stats.values())


def test_stats_are_detached_scalars_and_bad_args_raise():
    lp = torch.randn(2, 3, requires_grad=True)
    _, stats = ppo_clip_loss(lp, lp.detach() + 0.1, torch.ones(2, 3), torch.ones(2, 3))
    assert set(stats) >= {"clip_frac", "ratio_mean", "ratio_max", "dual_clip_frac"}
    assert all(v.dim() == 0 and not v.requires_grad for v in stats.values())
    with pytest.raises(ValueError, match="dual_clip"):
        ppo_clip_loss(lp, lp, torch.ones(2, 3), torch.ones(2, 3), dual_clip=0.5)
    with pytest.raises(ValueError, match="token-mean"):
        ppo_clip_loss(lp, lp, torch.ones(2, 3), torch.ones(2, 3), agg="mean")
