"""The tensor work of one training step: no-grad scoring passes, the loss of a micro-batch, the update.

Loss of a micro-batch (SDAR.md §2, §6), every term aggregated by `agg` over its response tokens:
    L = [pg] PPO-clip(A or RLSD's A_t) + kl_coef·KL(π_θ ‖ π_ref) − entropy_coef·H
        + [gated] λ·Agg[g·(lt − ls)]   or   + [skill_sd] c·Agg[ρ·k3(ls − lt)]
Which bracketed terms are on is the algorithm's business (`sdar.algos`). Micro-batch losses are weighted
by their share of the step's tokens (token-mean) or rows (seq-mean), so gradient accumulation gives the
gradient of one pass over the whole batch. Kernels come from `sdar.losses`; this module wires tensors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from sdar.algos import Algo
from sdar.config import LossConfig
from sdar.losses import (aggregate, gated_distill_loss, kl_penalty, masked_mean, ppo_clip_loss, rlsd_advantages,
                         skill_sd_loss)
from sdar.scoring import response_logprobs, shared_prefix_logprobs
from sdar.teacher import check_alignment
from sdar.train.batch import MicroBatch
from sdar.train.distributed import Dist, full_tensor


@dataclass(frozen=True)
class StepScalars:
    """The scheduled scalars of this step."""

    beta: float
    distill_coef: float
    rlsd_lambda: float


@torch.no_grad()
def score_teacher(teacher_model, mbs: list[MicroBatch], *, amp_dtype, check: bool = True,
                  share_prefix: bool = False, token_budget: int = 2048) -> None:
    """Teacher log-probs of the student's tokens with privileged context in the prompt (no grad), zero
    outside the loss mask. With `share_prefix`, rows that start alike (the privileged block and the task:
    every turn of a group) are scored across micro-batches with each shared prefix computed once."""
    if check:
        for mb in mbs:
            check_alignment(mb.input_ids[:, -mb.n:], mb.teacher_input_ids[:, -mb.n:], mb.loss_mask)
    if not share_prefix:
        for mb in mbs:
            lp, _ = response_logprobs(teacher_model, mb.teacher_input_ids, mb.teacher_attention_mask, mb.n,
                                      amp_dtype=amp_dtype)
            mb.extras["teacher_logprobs"] = lp * mb.loss_mask
        return
    places = [(mb, r) for mb in mbs for r in range(len(mb.rows))]
    rows = [mb.teacher_input_ids[r][mb.teacher_attention_mask[r].bool()].tolist() for mb, r in places]
    ns = [int(mb.loss_mask[r].sum()) for mb, r in places]
    scored = shared_prefix_logprobs(teacher_model, rows, ns, token_budget=token_budget, amp_dtype=amp_dtype)
    for mb in mbs:
        mb.extras["teacher_logprobs"] = torch.zeros_like(mb.loss_mask)
    for (mb, r), n, lp in zip(places, ns, scored):
        mb.extras["teacher_logprobs"][r, mb.n - n:] = lp


@torch.no_grad()
def score_reference(ref_model, mbs: list[MicroBatch], *, amp_dtype) -> None:
    """Log-probs under the frozen initial model, for the KL penalty."""
    for mb in mbs:
        lp, _ = response_logprobs(ref_model, mb.input_ids, mb.attention_mask, mb.n, amp_dtype=amp_dtype)
        mb.extras["ref_logprobs"] = lp


def micro_batch_loss(logprobs: torch.Tensor, entropy: torch.Tensor, mb: MicroBatch, loss: LossConfig,
                     algo: Algo, scalars: StepScalars):
    """(total loss, scalar stats, per-token stats) for one micro-batch."""
    mask = mb.loss_mask  # (B, n)
    # One PPO epoch and one optimizer step per training step: the rollout policy θ_old *is* the current
    # policy, so old log-probs equal the live ones detached and no extra forward pass is needed.
    old = logprobs.detach()  # (B, n)
    teacher = mb.extras.get("teacher_logprobs")  # (B, n) or None
    total = torch.zeros((), device=logprobs.device)
    out: dict[str, torch.Tensor] = {}
    tokens: dict[str, torch.Tensor] = {}
    if teacher is not None:
        tokens["gap"] = torch.where(mask.bool(), teacher - old, 0.0)  # Δ against θ_old
    if algo.policy_gradient:
        advantages = mb.advantages
        if algo.rlsd:
            advantages = rlsd_advantages(mb.advantages, tokens["gap"], lam=scalars.rlsd_lambda)  # (B, n)
        pg, stats = ppo_clip_loss(logprobs, old, advantages, mask, clip_low=loss.clip_low,
                                  clip_high=loss.clip_high, dual_clip=loss.dual_clip or None, agg=loss.agg)
        total = total + pg
        out.update({"loss/policy": pg.detach(), "loss/clip_frac": stats["clip_frac"],
                    "loss/ratio_max": stats["ratio_max"]})
    if loss.kl_coef > 0 and loss.kl_estimator != "none":
        kl = aggregate(kl_penalty(logprobs, mb.extras["ref_logprobs"], estimator=loss.kl_estimator), mask,
                       mode=loss.agg)
        total = total + loss.kl_coef * kl
        out["loss/kl"] = kl.detach()
    ent = aggregate(entropy, mask, mode=loss.agg)
    total = total - loss.entropy_coef * ent
    out["loss/entropy"] = ent.detach()
    if algo.distill == "gated":
        distill, d = gated_distill_loss(logprobs, teacher, mask, beta=scalars.beta, gate=loss.gate,
                                        entropy=entropy.detach(), agg=loss.agg)
        total = total + scalars.distill_coef * distill
        out.update({"distill/loss": distill.detach(), "distill/gate_mean": d["gate_mean"],
                    "distill/gate_active_ratio": d["gate_active_ratio"]})
        tokens["gate"] = d["gate_tokens"]
    elif algo.distill == "skill_sd":
        distill, d = skill_sd_loss(logprobs, teacher, old, mask, agg=loss.agg)
        total = total + loss.skill_sd_coef * distill
        out.update({"distill/loss": distill.detach(), "distill/k3_mean": d["k3_mean"]})
    if teacher is not None:
        gap = tokens["gap"]
        out.update({"distill/teacher_gap_mean": masked_mean(gap, mask),
                    "distill/negative_gap_ratio": masked_mean(gap < 0, mask),
                    "distill/student_teacher_kl": masked_mean(torch.expm1(gap) - gap, mask)})
    out["loss/total"] = total.detach()
    return total, out, tokens


def update(model, optimizer, mbs: list[MicroBatch], loss: LossConfig, algo: Algo, scalars: StepScalars, *,
           grad_clip: float, amp_dtype, dist: Dist = Dist()):
    """One optimizer step over all micro-batches (of every rank). Returns (scalar metrics, per-row token stats).

    Weights are shares of the global token (or row) count, and gradients are summed across ranks (by FSDP
    during backward under `--train.shard fsdp`, else by `Dist.sum_gradients`), so the step equals one pass
    over the whole batch. A non-finite loss or gradient skips the optimizer step (`perf/skipped_step`); a
    non-finite diagnostic metric does not."""
    optimizer.zero_grad(set_to_none=True)
    seq_mode = loss.agg != "token-mean"
    total_units = dist.sum(sum(mb.loss_mask.shape[0] if seq_mode else mb.num_tokens for mb in mbs))
    sums: dict[str, float] = {}
    per_row: dict[int, dict[str, torch.Tensor]] = {}
    # Under FSDP every rank runs as many forward/backward passes as the busiest one (gathers are collectives).
    for _ in range(max(dist.gather(len(mbs))) - len(mbs) if dist.fsdp else 0):
        idle_pass(model, amp_dtype=amp_dtype)
    for mb in mbs:
        weight = (mb.loss_mask.shape[0] if seq_mode else mb.num_tokens) / max(total_units, 1)
        logprobs, entropy = response_logprobs(model, mb.input_ids, mb.attention_mask, mb.n,
                                              with_entropy=True, amp_dtype=amp_dtype)
        total, stats, tokens = micro_batch_loss(logprobs, entropy, mb, loss, algo, scalars)
        (total * weight).backward()
        for key, value in stats.items():
            v = float(value)
            sums[key] = max(sums.get(key, v), v) if key.endswith("_max") else sums.get(key, 0.0) + weight * v
        for r, row in enumerate(mb.rows):
            per_row[row] = {k: t[r][mb.loss_mask[r].bool()].cpu() for k, t in tokens.items()}
    trainable = [p for p in model.parameters() if p.requires_grad]
    dist.sum_gradients(trainable)
    sums = combine_ranks(dist.gather(sums))
    grad_norm = full_tensor(torch.nn.utils.clip_grad_norm_(trainable, grad_clip if grad_clip > 0 else math.inf))
    # the loss and the gradient decide; a diagnostic that overflows (exp of a huge teacher gap) only logs inf
    finite = bool(torch.isfinite(grad_norm)) and math.isfinite(sums.get("loss/total", 0.0))  # none: empty batch
    if finite:
        optimizer.step()
    else:
        optimizer.zero_grad(set_to_none=True)
    sums["perf/grad_norm"] = float(grad_norm)
    sums["perf/skipped_step"] = 0.0 if finite else 1.0
    return sums, per_row


def idle_pass(model, *, amp_dtype) -> None:
    """A forward and backward through every weight that adds exactly zero to every gradient: under FSDP, a
    rank with fewer micro-batches than another runs it so that it joins each block's gather and reduction."""
    ids = torch.zeros((1, 2), dtype=torch.long, device=model.device)  # (1, 2): any token id will do
    logprobs, _ = response_logprobs(model, ids, torch.ones_like(ids), 1, amp_dtype=amp_dtype)
    (logprobs.sum() * 0.0).backward()


def combine_ranks(per_rank: list[dict[str, float]]) -> dict[str, float]:
    """Each rank's metrics are already weighted by its share of the global batch: add them (max for *_max)."""
    out: dict[str, float] = {}
    for sums in per_rank:
        for key, v in sums.items():
            out[key] = max(out.get(key, v), v) if key.endswith("_max") else out.get(key, 0.0) + v
    return out
