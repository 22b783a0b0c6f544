"""Scoring under left padding, and the teacher's prompt: privileged text inside the chat template, its
own budget, and the response windows of teacher and student lining up token for token."""

import pytest
import torch

from sdar.rollout.collect import encode_chat
from sdar.rollout.prompts import render_user_message, student_messages
from sdar.rollout.sampler import left_pad
from sdar.scoring import detached_prompt_logprobs, prefix_groups, response_logprobs, shared_prefix_logprobs
from sdar.teacher import AlignmentError, check_alignment, fit_to_budget, teacher_prompt_ids
from sdar.train.batch import Sample, build_micro_batch, plan_micro_batches
from sdar.train.step import score_teacher
from sdar.types import Task

TASK = Task("household", 7, "clean", "put a clean apple in fridge.")
MESSAGE = render_user_message(TASK.goal, 0, [], "You are in the middle of a room.", ("go to fridge 1", "look"),
                              thinking=False)
SKILLS = "- Clean then place: take the object, go to the sinkbasin, clean it, then put it in the target."


def naive_logprobs(model, seq: list[int], n: int) -> torch.Tensor:
    """Unpadded single-row reference: log p of the last n tokens."""
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([seq])).logits[0].float()
    logp = torch.log_softmax(logits, -1)
    return torch.stack([logp[t - 1, seq[t]] for t in range(len(seq) - n, len(seq))])


def test_response_logprobs_match_unpadded_rows(tiny):
    model, tok = tiny
    samples = [Sample(TASK, "m", tok("a prompt of some length")["input_ids"], tok(" take apple")["input_ids"],
                      0.0, 0, 0, 0, False),
               Sample(TASK, "m", tok("short")["input_ids"], tok(" go to fridge 1 now")["input_ids"], 0.0, 0, 0, 0, False)]
    mb = build_micro_batch(samples, [0, 1], tok.pad_token_id, "cpu")
    with torch.no_grad():
        lp, ent = response_logprobs(model, mb.input_ids, mb.attention_mask, mb.n, with_entropy=True)
    for r, s in enumerate(samples):
        k = len(s.response_ids)
        expected = naive_logprobs(model, s.prompt_ids + s.response_ids, k)
        torch.testing.assert_close(lp[r, -k:], expected, atol=1e-5, rtol=1e-5)
        assert mb.loss_mask[r].sum() == k and mb.loss_mask[r, -k:].all()
    assert (ent[mb.loss_mask.bool()] > 0).all()


def test_teacher_prompt_holds_skills_inside_the_user_turn(real_tokenizer):
    tok = real_tokenizer
    student = tok.decode(encode_chat(tok, student_messages(MESSAGE)))
    teacher = tok.decode(teacher_prompt_ids(tok, MESSAGE, SKILLS, budget=512))
    assert SKILLS not in student and "sinkbasin" not in student
    user_turn = teacher.split("<|im_start|>user\n", 1)[1].split("<|im_end|>", 1)[0]
    assert SKILLS in user_turn and user_turn.endswith(MESSAGE)
    assert teacher.endswith("<|im_start|>assistant\n") and student.endswith("<|im_start|>assistant\n")


def test_budget_cuts_only_the_privileged_block(real_tokenizer):
    tok = real_tokenizer
    long_skills = SKILLS * 50
    cut = fit_to_budget(tok, long_skills, 20)
    assert len(tok(cut, add_special_tokens=False)["input_ids"]) <= 21
    ids = teacher_prompt_ids(tok, MESSAGE, long_skills, budget=20)
    teacher = tok.decode(ids)
    assert MESSAGE in teacher  # the task, observation and actions are intact
    assert long_skills not in teacher and cut in teacher  # the block is cut to its budget, not dropped
    whole = teacher_prompt_ids(tok, MESSAGE, long_skills, budget=10_000)
    assert len(ids) <= len(teacher_prompt_ids(tok, MESSAGE, "", budget=20)) + 21 + 10 < len(whole)


def test_teacher_and_student_windows_align_on_real_tokenizer(real_tokenizer):
    tok = real_tokenizer
    response = tok("<action>go to fridge 1</action>", add_special_tokens=False)["input_ids"]
    s = Sample(TASK, MESSAGE, encode_chat(tok, student_messages(MESSAGE)), response, 0.0, 0, 0, 0, False,
               teacher_prompt_ids(tok, MESSAGE, SKILLS, budget=512))
    short = Sample(TASK, MESSAGE, s.prompt_ids, response[:3], 0.0, 0, 1, 0, False, s.teacher_prompt_ids)
    mb = build_micro_batch([s, short], [0, 1], tok.pad_token_id, "cpu")
    assert mb.teacher_input_ids.shape[1] > mb.input_ids.shape[1]
    check_alignment(mb.input_ids[:, -mb.n:], mb.teacher_input_ids[:, -mb.n:], mb.loss_mask)
    assert mb.input_ids[0, -mb.n:].tolist() == response


def test_alignment_check_fails_loudly():
    student = torch.tensor([[1, 2, 3]])
    with pytest.raises(AlignmentError):
        check_alignment(student, torch.tensor([[1, 2, 4]]), torch.ones(1, 3))
    check_alignment(student, torch.tensor([[9, 2, 3]]), torch.tensor([[0.0, 1.0, 1.0]]))  # off-mask differences are fine


def test_prefix_groups_share_what_rows_have_in_common_and_keep_each_rows_tail():
    header, block_a, block_b = [9] * 3, [1] * 6, [2] * 6  # a header all rows share, then one of two blocks
    rows = [header + block_a + [k] for k in range(3)] + [header + block_b + [k, k] for k in range(3)] + [[7, 7]]
    groups = prefix_groups(rows, [1] * 7, min_shared=2)
    assert sorted(i for _, g in groups for i in g) == list(range(7))  # every row exactly once
    assert sorted((p, sorted(g)) for p, g in groups) == [(0, [6]), (9, [0, 1, 2]), (9, [3, 4, 5])]  # not 3 for all
    assert prefix_groups(rows, [1] * 7, min_shared=20) == [(0, list(range(7)))]  # too little shared: one plain group
    keep = [1, 1, 4, 1, 1, 1, 1]  # row 2 must keep its last 4 ids: the A rows may share 6 only
    for p, g in prefix_groups(rows, keep, min_shared=2):
        assert all(len(rows[i]) - keep[i] >= p for i in g)
        assert all(rows[i][:p] == rows[g[0]][:p] for i in g)


class CountingModel(torch.nn.Module):
    """Forwards to a model and counts the input tokens it is given."""

    def __init__(self, model):
        super().__init__()
        self.model, self.tokens = model, 0

    def forward(self, input_ids, cache=None, logits_to_keep=0, **kw):
        self.tokens += input_ids.numel()
        return self.model(input_ids=input_ids, cache=cache, logits_to_keep=logits_to_keep, **kw)


def test_detached_prompt_logprobs_match_and_cut_the_gradient_at_the_prompt(tiny):
    """Same log-probs as the whole forward (left-padded rows of different prompt and response lengths);
    the gradient reaches a token's embedding only through the responses' positions: a token that occurs
    only in the prompts gets the output layer's share alone (the embedding is tied to it), a small part
    of what the whole forward gives it."""
    model, _ = tiny
    assert model.config.tie_word_embeddings
    g = torch.Generator().manual_seed(1)
    prompts = [torch.randint(100, 500, (k,), generator=g).tolist() for k in (40, 25, 33)]
    responses = [torch.randint(5, 100, (k,), generator=g).tolist() for k in (6, 2, 9)]
    ids, mask = left_pad([p + r for p, r in zip(prompts, responses)], 0)
    n = max(len(r) for r in responses)
    loss_mask = torch.zeros((3, n))
    for i, r in enumerate(responses):
        loss_mask[i, n - len(r):] = 1
    grads = []
    for score in (lambda: response_logprobs(model, ids, mask, n)[0],
                  lambda: detached_prompt_logprobs(model, ids, mask, n)):
        model.zero_grad(set_to_none=True)
        lp = score()
        for i, (p, r) in enumerate(zip(prompts, responses)):
            torch.testing.assert_close(lp[i, n - len(r):].detach(), naive_logprobs(model, p + r, len(r)),
                                       atol=1e-5, rtol=1e-5)
        (lp * loss_mask).sum().backward()
        grads.append(model.get_input_embeddings().weight.grad.clone())
    whole, detached = grads
    split = ids.shape[1] - (n + 1)  # the columns forwarded without autograd
    only_prompt = sorted(set(ids[:, :split][mask[:, :split] == 1].tolist()) - set(ids[:, split:].flatten().tolist()))
    assert len(only_prompt) > 50
    assert detached[only_prompt].norm() < 0.2 * whole[only_prompt].norm()
    response_tokens = sorted({t for r in responses for t in r})
    assert detached[response_tokens].norm() > 0.1 * whole[response_tokens].norm()
    model.zero_grad(set_to_none=True)


def test_shared_prefix_logprobs_match_whole_rows_with_fewer_tokens(tiny):
    model, _ = tiny
    g = torch.Generator().manual_seed(0)
    prefixes = [torch.randint(5, 500, (k,), generator=g).tolist() for k in (90, 70)]
    rows, ns = [], []
    for prefix in [prefixes[0]] * 5 + [prefixes[1]] * 3 + [[]] * 2:  # two shared blocks, two loners
        tail = torch.randint(5, 500, (int(torch.randint(10, 40, (1,), generator=g)),), generator=g).tolist()
        rows.append(prefix + tail)
        ns.append(int(torch.randint(1, 9, (1,), generator=g)))
    with torch.no_grad():  # row 0 ends on the model's own greedy pick, so some greedy flag is set
        rows[0][-1] = int(model(input_ids=torch.tensor([rows[0][:-1]])).logits[0, -1].argmax())
    counting = CountingModel(model)
    got, greedy = shared_prefix_logprobs(counting, rows, ns, token_budget=100, min_shared=16, with_greedy=True)
    for row, n, lp, hits in zip(rows, ns, got, greedy):
        torch.testing.assert_close(lp, naive_logprobs(model, row, n), atol=1e-5, rtol=1e-5)
        with torch.no_grad():
            argmax = model(input_ids=torch.tensor([row])).logits[0, -(n + 1):-1].argmax(-1)
        assert hits.tolist() == (argmax == torch.tensor(row[-n:])).tolist()
    assert greedy[0][-1]
    assert counting.tokens < sum(len(r) for r in rows) - 5 * 80  # each block was scored once, not per row


def test_score_teacher_shares_prefixes_and_gives_the_whole_rows_numbers(tiny):
    model, tok = tiny
    samples = []
    for k in range(6):  # two groups' turns: each group's rows share the block and the task line
        task = TASK if k < 4 else Task("household", 8, "heat", "put a hot egg in fridge.")
        message = render_user_message(task.goal, k, [], f"You are at step {k}.", ("go to fridge 1", "look"),
                                      thinking=False)
        response = tok(f"<action>go to fridge {k}</action>", add_special_tokens=False)["input_ids"][: 3 + k]
        samples.append(Sample(task, message, encode_chat(tok, student_messages(message)), response, 0.0, k // 4, k,
                              k // 4, False, teacher_prompt_ids(tok, message, SKILLS * 3, budget=512)))
    runs, forwarded = [], []
    for share in (False, True):
        mbs = [build_micro_batch(samples, rows, tok.pad_token_id, "cpu") for rows in plan_micro_batches(samples, 600)]
        counting = CountingModel(model)
        score_teacher(counting, mbs, amp_dtype=None, share_prefix=share, token_budget=300)
        runs.append(mbs)
        forwarded.append(counting.tokens)
    assert len(runs[0]) > 1  # rows of one prefix group sit in different micro-batches
    assert forwarded[1] < forwarded[0]  # the shared blocks were forwarded once
    for whole, shared in zip(*runs):
        assert whole.rows == shared.rows
        torch.testing.assert_close(shared.extras["teacher_logprobs"], whole.extras["teacher_logprobs"],
                                   atol=1e-5, rtol=1e-5)
        assert (shared.extras["teacher_logprobs"][shared.loss_mask == 0] == 0).all()
