"""The supervised update on demonstrations, and the teacher–student gap they show.

Loss of a batch (token-mean cross-entropy on response tokens only):
    L = − Σ_t m_t · log π_θ(y_t | s, y_<t) / Σ_t m_t
with `m` the batch's loss mask (1 exactly on response tokens; never on prompt, skill or padding
tokens). With `unlikelihood` λ > 0, samples that carry `negatives` (response index k, token v: where a
wrong response from the same state would leave this one) add the unlikelihood term of Welleck et al.
(2019), token-level, as a mean over the batch's negatives N:
    L += λ · Σ_(k, v) −log(1 − π_θ(v | s, y_<k)) / |N|
which pushes down exactly the token that starts the mistake and vanishes where the model already
avoids it. A batch holds at most `batch_tokens` padded tokens and is forwarded in micro-batches of at most
`micro_batch_tokens`, whose gradients accumulate (each micro-batch's sum divided by the batch's token
count, so the step is the same whichever way it is cut; the smaller the micro-batch, the less memory the
activations take). Rows are left-padded by `sdar.train.batch.build_micro_batch` and scored by
`sdar.scoring.response_logits`, the code under the rollouts' scoring. One AdamW step per batch,
gradient-norm clip, the learning rate decaying linearly to 0 over the run (the usual SFT schedule: the
last batches of a short run should not move the weights at full rate). Each epoch visits the samples in
a fresh random order. This module knows nothing about environments or prompts.
"""

from __future__ import annotations

import dataclasses
import math
import random
import time
from collections.abc import Callable

import torch
from tqdm.auto import tqdm

from sdar.losses import logprobs_from_logits
from sdar.scoring import response_logits, response_logprobs, shared_prefix_logprobs
from sdar.skills import get_provider
from sdar.teacher import teacher_prompt_ids
from sdar.train.batch import build_micro_batch, check_loss_mask, plan_micro_batches

SORT_WINDOW = 64  # samples sorted by length together: less padding, order still random across windows


def masked_nll(logprobs: torch.Tensor, loss_mask: torch.Tensor) -> torch.Tensor:
    """−Σ m·logprobs / Σ m over (B, n) tensors (0 when nothing is masked in)."""
    return -(logprobs * loss_mask).sum() / loss_mask.sum().clamp(min=1)


def unlikelihood_sum(logits: torch.Tensor, negatives: list, lengths: list[int]) -> torch.Tensor:
    """Σ −log(1 − p) over every row's `negatives` ((response index, token id) pairs), with p the softmax
    of `logits` (B, n, V) at that token. Rows are left-padded: a response of length L fills the last L
    of the n columns, so its index k sits in column n − L + k."""
    n = logits.shape[1]
    picks = [(r, n - length + k, token) for r, (pairs, length) in enumerate(zip(negatives, lengths))
             for k, token in pairs]
    if not picks:
        return logits.new_zeros(())
    rows, cols, tokens = (torch.tensor(column, device=logits.device) for column in zip(*picks))
    logp = torch.log_softmax(logits[rows, cols], dim=-1).gather(-1, tokens[:, None])[:, 0]
    return -torch.log1p(-logp.exp().clamp(max=1 - 1e-6)).sum()


def shuffled_batches(samples, token_budget: int, rng: random.Random) -> list[list[int]]:
    """Sample indices in a fresh random order, packed into batches of at most `token_budget` padded
    tokens: shuffled, sorted by length only inside windows of SORT_WINDOW, and the batches shuffled again."""
    order = list(range(len(samples)))
    rng.shuffle(order)
    batches = []
    for start in range(0, len(order), SORT_WINDOW):
        window = order[start:start + SORT_WINDOW]
        packed = plan_micro_batches([samples[i] for i in window], token_budget)
        batches += [[window[j] for j in rows] for rows in packed]
    rng.shuffle(batches)
    return batches


def sft(model, tokenizer, samples, *, epochs: int, lr: float, batch_tokens: int, micro_batch_tokens: int,
        seed: int, progress: bool = True, weight_decay: float = 0.01, grad_clip: float = 1.0,
        amp_dtype=None, detach_prompt: bool = False, unlikelihood: float = 0.0, save_every: int = 0,
        save: Callable[[dict], None] | None = None, resume: dict | None = None) -> list[dict]:
    """Fine-tune `model` in place on `samples` (anything with `prompt_ids`, `response_ids`); one metrics
    dict per epoch: `loss/sft` (token-mean over the epoch, measured before each step), response tokens,
    tokens forwarded (prompt + response, no padding), time. `detach_prompt`: the gradient stops at the
    prompt (`sdar.scoring.response_logits`: the same loss, a cheaper backward). `unlikelihood` > 0 adds
    the term above for samples with `negatives`; the epoch record then has `loss/unlikelihood` (its
    mean per negative, before each step) and `sft/negatives`.
    Every `save_every` optimizer steps (but the last) `save(state)` gets the loop's state: `batches` done,
    `optimizer` and `schedule` state dicts, finished epochs' `metrics`, the current epoch's `sums`; given
    back as `resume` (with the model's weights restored by the caller), the loop goes on from there and
    ends as the uninterrupted run would (the batch order is a function of `seed`)."""
    device = next(model.parameters()).device
    rng = random.Random(seed)
    plans = [shuffled_batches(samples, batch_tokens, rng) for _ in range(epochs)]
    total = max(sum(len(p) for p in plans), 1)
    trainable = [p for p in model.parameters() if p.requires_grad]  # all weights, or a LoRA adapter's
    optimizer = torch.optim.AdamW(trainable, lr=lr, weight_decay=weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda k: 1.0 - k / total)
    done, metrics = 0, []
    if resume is not None:
        optimizer.load_state_dict(resume["optimizer"])
        schedule.load_state_dict(resume["schedule"])
        done, metrics = resume["batches"], list(resume["metrics"])

    def checkpoint(batches: int, sums: _Sums) -> None:
        if save is not None and save_every and batches % save_every == 0 and batches < total:
            save({"batches": batches, "optimizer": optimizer.state_dict(), "schedule": schedule.state_dict(),
                  "metrics": metrics, "sums": dataclasses.asdict(sums)})

    bar = tqdm(total=total, initial=done, desc="sdar sft", disable=not progress, unit="batch")
    model.train()
    end = 0  # batches counted over the run: the epoch's run from `start` to `end`
    for epoch, plan in enumerate(plans, 1):
        start, end = end, end + len(plan)
        if end <= done:  # finished before the resume: its record is in `metrics`
            continue
        sums = _Sums(**resume["sums"]) if resume is not None and start < done else _Sums()
        t0 = time.perf_counter() - sums.seconds
        for k in range(max(done - start, 0), len(plan)):
            loss = _step(model, tokenizer, samples, plan[k], optimizer, trainable, sums, grad_clip=grad_clip,
                         micro_batch_tokens=micro_batch_tokens, device=device, amp_dtype=amp_dtype,
                         detach_prompt=detach_prompt, unlikelihood=unlikelihood)
            schedule.step()
            bar.update(1)
            bar.set_postfix(epoch=epoch, loss=f"{loss:.3f}")
            if k + 1 < len(plan):  # an epoch's last step is saved with its record, below
                sums.seconds = time.perf_counter() - t0
                checkpoint(start + k + 1, sums)
        metrics.append(sums.record(epoch, len(plan), unlikelihood > 0, time.perf_counter() - t0))
        checkpoint(end, _Sums())
    bar.close()
    model.eval()
    return metrics


def _step(model, tokenizer, samples, rows: list[int], optimizer, trainable: list, sums: _Sums, *,
          grad_clip: float, micro_batch_tokens: int, unlikelihood: float, **forward) -> float:
    """One optimizer step on one batch, added to the epoch's `sums` (skipped, and counted, where the loss
    or the gradient is not finite); returns the batch's loss."""
    optimizer.zero_grad(set_to_none=True)
    sums.seen += sum(len(samples[i].prompt_ids) + len(samples[i].response_ids) for i in rows)
    loss, ul, num_tokens, num_negatives = _backward(model, tokenizer, samples, rows, micro_batch_tokens,
                                                    unlikelihood=unlikelihood, **forward)
    norm = float(torch.nn.utils.clip_grad_norm_(trainable, grad_clip))
    if math.isfinite(norm) and math.isfinite(loss) and math.isfinite(ul):
        optimizer.step()
        sums.add(loss, num_tokens, ul, num_negatives, norm)
    else:
        sums.skipped += 1
    return loss + unlikelihood * ul


@dataclasses.dataclass
class _Sums:
    """One epoch's running sums (kept in a checkpoint, so a resumed epoch reports as a whole one)."""
    loss: float = 0.0  # cross-entropy × response tokens, over the steps taken
    tokens: int = 0  # response tokens of the steps taken
    seen: int = 0  # tokens forwarded, prompt + response
    ul: float = 0.0  # unlikelihood term × negatives
    negatives: int = 0
    norms: list = dataclasses.field(default_factory=list)
    skipped: int = 0  # steps with a non-finite loss or gradient, not taken
    seconds: float = 0.0  # time spent before a resume

    def add(self, loss: float, tokens: int, ul: float, negatives: int, norm: float) -> None:
        self.loss += loss * tokens
        self.tokens += tokens
        self.ul += ul * negatives
        self.negatives += negatives
        self.norms.append(norm)

    def record(self, epoch: int, batches: int, with_ul: bool, seconds: float) -> dict:
        return {"epoch": epoch, "loss/sft": self.loss / max(self.tokens, 1), "sft/response_tokens": self.tokens,
                "sft/tokens": self.seen, "sft/batches": batches, "sft/skipped_steps": self.skipped,
                **({"loss/unlikelihood": self.ul / max(self.negatives, 1), "sft/negatives": self.negatives}
                   if with_ul else {}),
                "sft/grad_norm_mean": sum(self.norms) / max(len(self.norms), 1), "perf/epoch_seconds": seconds}


def _backward(model, tokenizer, samples, rows: list[int], micro_batch_tokens: int, *, device, amp_dtype,
              detach_prompt: bool, unlikelihood: float) -> tuple[float, float, int, int]:
    """Accumulate the gradient of one batch's loss over its micro-batches; returns (its cross-entropy, its
    unlikelihood term per negative before the weight λ, its response tokens, its negatives)."""
    num_tokens = sum(len(samples[i].response_ids) for i in rows)
    num_negatives = sum(len(getattr(samples[i], "negatives", ())) for i in rows) if unlikelihood > 0 else 0
    loss, ul = 0.0, 0.0
    for chunk in plan_micro_batches([samples[i] for i in rows], micro_batch_tokens):
        mb = build_micro_batch(samples, [rows[j] for j in chunk], tokenizer.pad_token_id, device)
        check_loss_mask(mb, samples)  # the loss sees exactly the response ids, nothing of the prompt
        logits = response_logits(model, mb.input_ids, mb.attention_mask, mb.n, amp_dtype=amp_dtype,
                                 detach_prompt=detach_prompt)
        logprobs = logprobs_from_logits(logits, mb.input_ids[:, -mb.n:])
        part = -(logprobs * mb.loss_mask).sum() / max(num_tokens, 1)  # the batch's token mean, in parts
        loss += part.item()
        if num_negatives:
            chosen = [samples[i] for i in mb.rows]
            ul_part = unlikelihood_sum(logits, [c.negatives for c in chosen],
                                       [len(c.response_ids) for c in chosen]) / num_negatives
            part = part + unlikelihood * ul_part
            ul += ul_part.item()
        part.backward()
    return loss, ul, num_tokens, num_negatives


@torch.no_grad()
def response_nll(model, tokenizer, samples, *, micro_batch_tokens: int = 4096, amp_dtype=None) -> float:
    """Token-mean negative log-likelihood of the samples' response tokens (no update)."""
    device = next(model.parameters()).device
    total, tokens = 0.0, 0
    for rows in plan_micro_batches(samples, micro_batch_tokens):
        mb = build_micro_batch(samples, rows, tokenizer.pad_token_id, device)
        logprobs, _ = response_logprobs(model, mb.input_ids, mb.attention_mask, mb.n, amp_dtype=amp_dtype)
        total += float(masked_nll(logprobs, mb.loss_mask)) * mb.num_tokens
        tokens += mb.num_tokens
    return total / max(tokens, 1)


@torch.no_grad()
def gap_report(model, tokenizer, demos, *, context: str = "skills_by_type", context_tokens: int = 512,
               micro_batch_tokens: int = 4096, amp_dtype=None) -> dict:
    """The teacher–student gap on (held-out) demonstrations without skills in their prompt.

    Student: the demo's own prompt; teacher: the same user message under the `context` provider's block
    for the task, inside the user turn (`sdar.teacher.teacher_prompt_ids`, its own budget: the RL
    teacher's prompt), scoring the same response ids. Per
    response token Δ = lt − ls; `gap_mean` = token-mean Δ (> 0: the skills make the expert's tokens
    likelier, i.e. the teacher branch has something to offer), `teacher_better_ratio` = share with Δ > 0.
    `student_greedy_match` (and `teacher_greedy_match`): share of the demos whose whole response is the
    argmax at every token, i.e. the demonstrator's turn that greedy decoding would reproduce from its
    state: a per-turn accuracy, cheaper to measure than episodes, though on the demonstrator's states
    rather than the model's own; `student_greedy_match_by_verb` counts it per action verb ("3/7" of the
    "take" turns), since a search's many moves can hide that the rare decisive actions are missed.
    """
    provider = get_provider(context)
    rows = [d for d in demos if not d.with_skills]
    ns = [len(d.response_ids) for d in rows]

    def score(prompts: list[list[int]]) -> tuple[torch.Tensor, list[bool]]:  # an episode's rows share their start
        lps, greedy = shared_prefix_logprobs(model, [p + d.response_ids for p, d in zip(prompts, rows)], ns,
                                             token_budget=micro_batch_tokens, amp_dtype=amp_dtype, with_greedy=True)
        return (torch.cat(lps) if lps else torch.zeros(0)), [bool(g.all()) for g in greedy]

    student, student_hits = score([d.prompt_ids for d in rows])
    teacher, teacher_hits = score([teacher_prompt_ids(tokenizer, d.user_message, provider(d.task),
                                                      budget=context_tokens) for d in rows])
    by_verb: dict[str, list[bool]] = {}  # the action's first word: go, take, open, put, heat, ...
    for d, hit in zip(rows, student_hits):
        by_verb.setdefault(d.action.split(" ", 1)[0], []).append(hit)
    sums = {"gap": float((teacher - student).sum()), "student": float(student.sum()),
            "teacher": float(teacher.sum()), "better": float((teacher > student).sum())}
    tokens = sum(ns)
    n = max(tokens, 1)
    return {"gap_mean": sums["gap"] / n, "student_logprob_mean": sums["student"] / n,
            "teacher_logprob_mean": sums["teacher"] / n, "teacher_better_ratio": sums["better"] / n,
            "student_greedy_match": sum(student_hits) / max(len(rows), 1),
            "teacher_greedy_match": sum(teacher_hits) / max(len(rows), 1),
            "student_greedy_match_by_verb": {v: f"{sum(h)}/{len(h)}" for v, h in sorted(by_verb.items())},
            "demos": len(rows), "tokens": tokens}
