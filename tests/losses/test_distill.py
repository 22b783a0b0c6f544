"""SDAR gated distillation and Skill-SD k3 terms: naive loops, hand values, gradients, edge cases."""

import math

import pytest
import torch

from sdar.losses import AGG_MODES, GATES, aggregate, gated_distill_loss, skill_sd_loss

SCALAR_STATS = ("gate_mean", "gate_active_ratio", "teacher_gap_mean", "negative_gap_ratio", "loss")


def sigmoid(x):
    return 1.0 / (1.0 + math.exp(-x))


def random_case(seed, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    student = -torch.rand(3, 5, generator=gen, dtype=dtype) * 3  # (B, T)
    teacher = student + torch.randn(3, 5, generator=gen, dtype=dtype) * 0.5  # (B, T)
    old = student + torch.randn(3, 5, generator=gen, dtype=dtype) * 0.2  # (B, T)
    mask = torch.rand(3, 5, generator=gen) > 0.3  # (B, T)
    mask[2] = False  # an all-masked row
    return student, teacher, old, mask


# ---------------------------------------------------------------- SDAR gated distillation


def naive_gated(student, teacher, mask, beta):
    """Python loop: token-mean of σ(β(lt − ls))·(lt − ls) over masked tokens."""
    terms = [
        sigmoid(beta * (lt - ls)) * (lt - ls)
        for rs, rt, rm in zip(student.tolist(), teacher.tolist(), mask.tolist())
        for ls, lt, m in zip(rs, rt, rm)
        if m
    ]
    return sum(terms) / len(terms)


@pytest.mark.parametrize("beta", [0.0, 1.0, 5.0])
@pytest.mark.parametrize("seed", [0, 1])
def test_gated_matches_naive_loop(seed, beta):
    student, teacher, _, mask = random_case(seed)
    loss, stats = gated_distill_loss(student, teacher, mask, beta=beta)
    assert loss.item() == pytest.approx(naive_gated(student, teacher, mask, beta), abs=1e-12)
    gates = [sigmoid(beta * (t - s)) for s, t, m in zip(student.flatten(), teacher.flatten(), mask.flatten()) if m]
    assert stats["gate_mean"].item() == pytest.approx(sum(gates) / len(gates), abs=1e-12)
    assert stats["gate_active_ratio"].item() == pytest.approx(sum(g > 0.5 for g in gates) / len(gates))


def test_gated_hand_values():
    student = torch.tensor([[-1.0, -2.0, -7.0]], requires_grad=True)
    teacher = torch.tensor([[-1.3, -1.8, 0.0]])
    mask = torch.tensor([[1.0, 1.0, 0.0]])
    loss, stats = gated_distill_loss(student, teacher, mask, beta=5.0)
    # Δ = [−0.3, 0.2]; g = [σ(−1.5), σ(1.0)] = [0.18242552, 0.73105858]
    # loss = (0.18242552·(−0.3) + 0.73105858·0.2) / 2 = (−0.05472766 + 0.14621172) / 2 = 0.04574203
    assert loss.item() == pytest.approx(0.04574203, abs=1e-7)
    assert stats["gate_mean"].item() == pytest.approx(0.45674205, abs=1e-7)  # (0.18242552 + 0.73105858) / 2
    assert stats["gate_active_ratio"].item() == pytest.approx(0.5)
    assert stats["teacher_gap_mean"].item() == pytest.approx(-0.05, abs=1e-7)  # (−0.3 + 0.2) / 2
    assert stats["negative_gap_ratio"].item() == pytest.approx(0.5)
    loss.backward()
    # ∇ = −g / N on masked tokens: [−0.18242552/2, −0.73105858/2, 0] = [−0.09121276, −0.36552929, 0]
    assert student.grad[0].tolist() == pytest.approx([-0.09121276, -0.36552929, 0.0], abs=1e-7)


@pytest.mark.parametrize("agg", AGG_MODES)
def test_gate_carries_no_gradient(agg):
    student, teacher, _, mask = random_case(3)
    student.requires_grad_()
    teacher.requires_grad_()
    loss, stats = gated_distill_loss(student, teacher, mask, beta=5.0, agg=agg)
    loss.backward()
    # g is a constant: ∇_ls Agg[g·(lt − ls)] = −∇_ls Agg[g·ls] (= −g/N on masked tokens for token-mean)
    ls = student.detach().clone().requires_grad_()
    aggregate(-stats["gate_tokens"] * ls, mask, mode=agg).backward()
    assert torch.allclose(student.grad, ls.grad, atol=1e-12)
    assert teacher.grad is None
    if agg == "token-mean":
        assert torch.allclose(student.grad, -stats["gate_tokens"] * mask / mask.sum(), atol=1e-12)
    # a gradient through g would add g(1−g)·β·(lt − ls)·(−1)/N terms: check they are absent
    through_gate = -(torch.sigmoid(5.0 * (teacher.detach() - ls)) * (teacher.detach() - ls))
    ls.grad = None
    aggregate(-through_gate, mask, mode=agg).backward()
    assert not torch.allclose(student.grad, ls.grad, atol=1e-6)


def test_beta_zero_equals_constant_gate():
    student, teacher, _, mask = random_case(4)
    s1 = student.clone().requires_grad_()
    s2 = student.clone().requires_grad_()
    loss_gap, stats_gap = gated_distill_loss(s1, teacher, mask, beta=0.0, gate="gap")
    loss_const, _ = gated_distill_loss(s2, teacher, mask, beta=5.0, gate="constant")
    loss_gap.backward()
    loss_const.backward()
    assert torch.equal(loss_gap, loss_const)
    assert torch.equal(s1.grad, s2.grad)
    assert torch.equal(stats_gap["gate_tokens"], 0.5 * mask.double())  # 0.5 on the mask, 0 off it
    assert stats_gap["gate_mean"].item() == 0.5
    assert stats_gap["gate_active_ratio"].item() == 0.0  # g > 0.5 is strict


def test_entropy_gates():
    student, teacher, _, mask = random_case(5)
    entropy = torch.rand(3, 5, dtype=torch.float64)
    loss, stats = gated_distill_loss(student, teacher, mask, gate="soft_or", beta=2.0, entropy=entropy)
    g = 1 - (1 - torch.sigmoid(2.0 * (teacher - student))) * (1 - torch.sigmoid(2.0 * entropy))
    assert loss.item() == pytest.approx(aggregate(g * (teacher - student), mask).item(), abs=1e-12)
    with pytest.raises(ValueError, match="entropy"):
        gated_distill_loss(student, teacher, mask, gate="entropy")


def test_gated_empty_mask_and_garbage_padding():
    student = torch.tensor([[-1.0, -2.0], [-0.5, -0.1]], requires_grad=True)
    teacher = torch.tensor([[float("-inf"), float("nan")], [-0.4, float("inf")]])
    mask = torch.tensor([[False, False], [True, False]])  # row 0 all-masked, garbage off the mask
    loss, stats = gated_distill_loss(student, teacher, mask)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(student.grad).all()
    assert student.grad[0].tolist() == [0.0, 0.0]
    assert all(torch.isfinite(v).all() for v in stats.values())
    empty_loss, empty_stats = gated_distill_loss(student, teacher, torch.zeros(2, 2, dtype=torch.bool))
    assert empty_loss.item() == 0.0 and empty_loss.requires_grad
    assert all(empty_stats[k].item() == 0.0 for k in SCALAR_STATS)


def test_gated_stats_shapes_and_registry_error():
    student, teacher, _, mask = random_case(6)
    _, stats = gated_distill_loss(student.requires_grad_(), teacher, mask)
    assert all(stats[k].dim() == 0 and not stats[k].requires_grad for k in SCALAR_STATS)
    for key in ("gate_tokens", "gap_tokens"):
        assert stats[key].shape == (3, 5) and not stats[key].requires_grad
        assert (stats[key][~mask] == 0).all()
    assert torch.allclose(stats["gap_tokens"][mask], (teacher - student.detach())[mask])
    with pytest.raises(ValueError) as err:
        gated_distill_loss(student, teacher, mask, gate="hard")
    assert all(name in str(err.value) for name in GATES)


# ---------------------------------------------------------------- Skill-SD


def naive_skill_sd(student, teacher, old, mask, detach_ratio=False):
    """Token loop with torch scalars so autograd gives the naive gradient."""
    terms = []
    for b in range(student.shape[0]):
        for t in range(student.shape[1]):
            if not mask[b, t]:
                continue
            ell = student[b, t] - teacher[b, t]
            k3 = torch.exp(torch.clamp(-ell, max=20.0)) - 1 + ell
            rho = torch.exp(torch.clamp(student[b, t] - old[b, t], max=10.0))
            terms.append((rho.detach() if detach_ratio else rho) * k3)
    return torch.stack(terms).sum() / len(terms)


@pytest.mark.parametrize("seed", [0, 1])
def test_skill_sd_matches_naive_and_ratio_carries_gradient(seed):
    student, teacher, old, mask = random_case(seed)
    s1 = student.clone().requires_grad_()
    loss, stats = skill_sd_loss(s1, teacher, old, mask)
    loss.backward()
    s2 = student.clone().requires_grad_()
    expected = naive_skill_sd(s2, teacher, old, mask)
    expected.backward()
    assert loss.item() == pytest.approx(expected.item(), abs=1e-12)
    assert torch.allclose(s1.grad, s2.grad, atol=1e-12)
    # the detached-ρ version differs by ρ·k3/N on every masked token
    s3 = student.clone().requires_grad_()
    naive_skill_sd(s3, teacher, old, mask, detach_ratio=True).backward()
    assert not torch.allclose(s1.grad, s3.grad, atol=1e-6)
    ell = student - teacher
    rho_k3 = torch.exp(student - old) * (torch.exp(-ell) - 1 + ell)
    assert torch.allclose(s1.grad - s3.grad, rho_k3 * mask / mask.sum(), atol=1e-12)
    assert stats["k3_mean"].item() >= 0


def test_skill_sd_hand_values():
    student = torch.tensor([[-1.0]], requires_grad=True)
    teacher = torch.tensor([[-1.5]])
    old = torch.tensor([[-1.2]])
    loss, stats = skill_sd_loss(student, teacher, old, torch.ones(1, 1))
    # ℓ = 0.5: k3 = e^−0.5 − 1 + 0.5 = 0.60653066 − 0.5 = 0.10653066; ρ = e^0.2 = 1.22140276
    # loss = ρ·k3 = 0.13011684
    assert loss.item() == pytest.approx(0.13011684, abs=1e-6)
    assert stats["k3_mean"].item() == pytest.approx(0.10653066, abs=1e-7)
    assert stats["ratio_mean"].item() == pytest.approx(1.22140276, abs=1e-6)
    loss.backward()
    # d/dls = ρ·k3 + ρ·(1 − e^−ℓ) = 0.13011684 + 1.22140276·0.39346934 = 0.13011684 + 0.48058454 = 0.61070138
    assert student.grad.item() == pytest.approx(0.61070138, abs=1e-6)


def test_skill_sd_caps():
    student = torch.tensor([[-31.0, 5.0]], dtype=torch.float64)
    teacher = torch.tensor([[-1.0, 5.0]], dtype=torch.float64)
    old = torch.tensor([[-31.0, -10.0]], dtype=torch.float64)
    _, stats = skill_sd_loss(student, teacher, old, torch.tensor([[1.0, 0.0]]))
    # ℓ = −30: exponent 30 capped at 20 -> k3 = e^20 − 1 − 30 = 485165164.41
    assert stats["k3_mean"].item() == pytest.approx(math.exp(20) - 31)
    _, stats = skill_sd_loss(student, teacher, old, torch.tensor([[0.0, 1.0]]))
    # ls − old = 15 capped at 10 -> ρ = e^10 = 22026.4658; ℓ = 0 -> k3 = 0
    assert stats["ratio_mean"].item() == pytest.approx(math.exp(10))
    assert stats["k3_mean"].item() == 0.0


def test_skill_sd_zero_when_teacher_agrees_and_empty_mask():
    student, _, old, mask = random_case(7)
    loss, _ = skill_sd_loss(student, student.clone(), old, mask)
    assert loss.item() == 0.0  # k3 = e^0 − 1 + 0 = 0 on every token
    student.requires_grad_()
    bad = torch.full_like(student, float("nan"))
    loss, stats = skill_sd_loss(student, bad, bad, torch.zeros(3, 5))
    loss.backward()
    assert loss.item() == 0.0 and torch.equal(student.grad, torch.zeros(3, 5, dtype=torch.float64))
    assert all(torch.isfinite(v) for v in stats.values())


def test_misshaped_or_missing_inputs_are_refused_not_broadcast():
    """A (T,) teacher row against (B, T) student log-probs would broadcast to the wrong tokens."""
    from sdar.losses import kl_penalty, ppo_clip_loss, skill_sd_loss

    ls, mask = torch.zeros(2, 3), torch.ones(2, 3)
    with pytest.raises(ValueError, match=r"teacher_logprobs \(3,\) must have the shape of student_logprobs \(2, 3\)"):
        gated_distill_loss(ls, torch.zeros(3), mask)
    with pytest.raises(ValueError, match="teacher_logprobs is missing"):
        gated_distill_loss(ls, None, mask)
    with pytest.raises(ValueError, match="entropy"):
        gated_distill_loss(ls, ls, mask, gate="entropy", entropy=torch.zeros(2, 4))
    with pytest.raises(ValueError, match="old_logprobs"):
        skill_sd_loss(ls, ls, torch.zeros(1, 3), mask)
    with pytest.raises(ValueError, match="old_logprobs"):
        ppo_clip_loss(ls, torch.zeros(3), torch.zeros(2), mask)
    with pytest.raises(ValueError, match="advantages"):
        ppo_clip_loss(ls, ls, torch.zeros(3), mask)
    with pytest.raises(ValueError, match="ref_logprobs"):
        kl_penalty(ls, torch.zeros(2, 1))
    ppo_clip_loss(ls, ls, torch.zeros(2), mask)  # (B,) advantages still broadcast over the tokens
