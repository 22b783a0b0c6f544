"""The batched KV-cache sampler on the tiny model: left padding must not change what a row samples."""

import torch

from sdar.rollout.sampler import left_pad, position_ids_from_mask, sample


def test_left_pad_and_positions():
    ids, mask = left_pad([[5, 6, 7], [8]], pad_id=0)
    assert ids.tolist() == [[5, 6, 7], [0, 0, 8]]
    assert mask.tolist() == [[1, 1, 1], [0, 0, 1]]
    assert position_ids_from_mask(mask).tolist() == [[0, 1, 2], [0, 0, 0]]


def test_batched_greedy_equals_one_by_one(tiny):
    model, tok = tiny
    prompts = [tok("<|im_start|>user\ngo to fridge 1")["input_ids"], tok("look")["input_ids"],
               tok("You arrive at the countertop 1. On the countertop 1, you see a apple 1.")["input_ids"]]
    batched = sample(model, tok, prompts, max_new_tokens=6, temperature=0)
    single = [sample(model, tok, [p], max_new_tokens=6, temperature=0)[0] for p in prompts]
    assert batched == single
    assert all(len(r) >= 1 for r in batched)


def test_rows_stop_at_eos_and_nothing_follows(tiny):
    model, tok = tiny
    eos = tok.eos_token_id
    bias = torch.zeros(model.config.vocab_size)
    bias[eos] = 1e4  # the model now always predicts EOS
    hook = model.lm_head.register_forward_hook(lambda module, inputs, output: output + bias)
    try:
        out = sample(model, tok, [tok("look")["input_ids"]] * 2, max_new_tokens=5, temperature=1.0,
                     generator=torch.Generator().manual_seed(0))
    finally:
        hook.remove()
    assert out == [[eos], [eos]]


def test_sampling_is_seeded(tiny):
    model, tok = tiny
    prompt = [tok("look")["input_ids"]] * 3
    a = sample(model, tok, prompt, max_new_tokens=5, temperature=1.0, generator=torch.Generator().manual_seed(1))
    b = sample(model, tok, prompt, max_new_tokens=5, temperature=1.0, generator=torch.Generator().manual_seed(1))
    c = sample(model, tok, prompt, max_new_tokens=5, temperature=1.0, generator=torch.Generator().manual_seed(2))
    assert a == b and c != a  # the seed decides, and it does sample: not greedy
    assert len({tuple(row) for row in a + c}) > 1  # the same prompt gives different rows
