"""Distillation terms from a privileged-context teacher: SDAR's gated term and Skill-SD's k3 term.

Inputs are per-token log-probs (B, T) of the tokens the student sampled: the student's (live, with
gradient), the teacher's (same model given privileged context, no gradient) and, for Skill-SD, the
rollout policy's. This module does not know what the privileged context is or how it was scored.
Off-mask positions are replaced by 0 before any arithmetic, so padding holding inf/NaN can reach
neither the loss nor its gradient.
"""

from __future__ import annotations

import torch

from sdar.losses.aggregate import aggregate, check_shapes, masked_mean, on_mask
from sdar.losses.gates import get_gate



def gated_distill_loss(
    student_logprobs: torch.Tensor,
    teacher_logprobs: torch.Tensor,
    loss_mask: torch.Tensor,
    *,
    beta: float = 5.0,
    gate: str = "gap",
    entropy: torch.Tensor | None = None,
    agg: str = "token-mean",
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """SDAR term (SDAR.md §2): loss = Agg[g·(lt − ls)], Δ = lt − sg(ls), g = sg(gate(Δ)).

    ls = student_logprobs (carries gradient), lt = teacher_logprobs (detached), so
    ∇loss = −Agg[g·∇ls]: a gate-weighted self-imitation of the sampled tokens. gate="gap" is σ(β·Δ);
    β = 0 gives 0.5 everywhere (naive GRPO+OPSD), the same as gate="constant". `entropy` (B, T) is
    needed by the "entropy" and "soft_or" gates.
    stats, detached: scalars (masked means) gate_mean, gate_active_ratio (share with g > 0.5),
    teacher_gap_mean (mean Δ), negative_gap_ratio (share with Δ < 0), loss; and per-token (B, T)
    gate_tokens, gap_tokens (0 off the mask) so the trainer can split them by turn or by success.
    """
    check_shapes("student_logprobs", student_logprobs, teacher_logprobs=teacher_logprobs, loss_mask=loss_mask,
                 **({} if entropy is None else {"entropy": entropy}))
    gate_fn = get_gate(gate)
    student = on_mask(student_logprobs, loss_mask)  # (B, T)
    teacher = on_mask(teacher_logprobs.detach(), loss_mask)  # (B, T)
    gap = teacher - student.detach()  # (B, T) Δ
    h = None if entropy is None else on_mask(entropy.detach(), loss_mask)
    g = gate_fn(gap, beta=beta, entropy=h).detach()  # (B, T)
    loss = aggregate(g * (teacher - student), loss_mask, mode=agg)
    with torch.no_grad():
        stats = {
            "gate_mean": masked_mean(g, loss_mask),
            "gate_active_ratio": masked_mean(g > 0.5, loss_mask),
            "teacher_gap_mean": masked_mean(gap, loss_mask),
            "negative_gap_ratio": masked_mean(gap < 0, loss_mask),
            "loss": loss.detach(),
            "gate_tokens": on_mask(g, loss_mask),
            "gap_tokens": gap,
        }
    return loss, stats


def skill_sd_loss(
    logprobs: torch.Tensor,
    teacher_logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    loss_mask: torch.Tensor,
    *,
    exp_cap: float = 20.0,
    ratio_log_cap: float = 10.0,
    agg: str = "token-mean",
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Skill-SD auxiliary (SDAR.md §6): importance-weighted k3 reverse KL to the teacher.

    ℓ = ls − sg(lt);  k3 = exp(min(−ℓ, exp_cap)) − 1 + ℓ;  ρ = exp(min(ls − sg(l_old), ratio_log_cap))
    loss = Agg[ρ·k3]. ρ is NOT detached: its gradient ρ·k3·∇ls adds to ρ·(1 − e^{−ℓ})·∇ls.
    stats, detached masked means: ratio_mean (ρ), k3_mean, loss.
    """
    check_shapes("logprobs", logprobs, teacher_logprobs=teacher_logprobs, old_logprobs=old_logprobs,
                 loss_mask=loss_mask)
    student = on_mask(logprobs, loss_mask)  # (B, T)
    teacher = on_mask(teacher_logprobs.detach(), loss_mask)  # (B, T)
    old = on_mask(old_logprobs.detach(), loss_mask)  # (B, T)
    log_gap = student - teacher  # (B, T) ℓ
    k3 = torch.exp((-log_gap).clamp(max=exp_cap)) - 1.0 + log_gap  # (B, T)
    ratio = torch.exp((student - old).clamp(max=ratio_log_cap))  # (B, T) ρ
    loss = aggregate(ratio * k3, loss_mask, mode=agg)
    with torch.no_grad():
        stats = {
            "ratio_mean": masked_mean(ratio, loss_mask),
            "k3_mean": masked_mean(k3, loss_mask),
            "loss": loss.detach(),
        }
    return loss, stats
