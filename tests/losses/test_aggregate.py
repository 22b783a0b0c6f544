"""aggregate / masked_mean / masked_max against naive loops and hand-derived values."""

import pytest
import torch

from sdar.losses import AGG_MODES, aggregate, masked_max, masked_mean


def naive_aggregate(values, mask, mode):
    """Python-loop reference over rows and tokens."""
    rows = []
    total, count = 0.0, 0.0
    for row_v, row_m in zip(values.tolist(), mask.float().tolist()):
        row_sum = sum(v * m for v, m in zip(row_v, row_m) if m != 0)
        row_cnt = sum(row_m)
        total, count = total + row_sum, count + row_cnt
        rows.append((row_sum, row_cnt))
    if mode == "token-mean":
        return total / count if count else 0.0
    if mode == "seq-mean-token-sum":
        return sum(s for s, _ in rows) / len(rows)
    means = [s / c for s, c in rows if c > 0]
    return sum(means) / len(means) if means else 0.0


def random_case(seed, bool_mask):
    gen = torch.Generator().manual_seed(seed)
    values = torch.randn(4, 6, generator=gen, dtype=torch.float64)  # (B, T)
    mask = torch.rand(4, 6, generator=gen) > 0.4  # (B, T)
    mask[1] = False  # an all-masked row
    return values, (mask if bool_mask else mask.double())


@pytest.mark.parametrize("mode", AGG_MODES)
@pytest.mark.parametrize("bool_mask", [True, False])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_naive_loop(mode, bool_mask, seed):
    values, mask = random_case(seed, bool_mask)
    got = aggregate(values, mask, mode=mode)
    assert got.dim() == 0
    assert got.item() == pytest.approx(naive_aggregate(values, mask, mode), abs=1e-12)


def test_hand_values():
    values = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]])
    mask = torch.tensor([[1, 1, 0], [1, 0, 0], [0, 0, 0]], dtype=torch.bool)
    # token-mean: (1 + 2 + 4) / 3 = 7/3
    assert aggregate(values, mask, mode="token-mean").item() == pytest.approx(7 / 3)
    # seq-mean-token-mean: rows with tokens only: ((1 + 2)/2 + 4/1) / 2 = (1.5 + 4) / 2 = 2.75
    assert aggregate(values, mask, mode="seq-mean-token-mean").item() == pytest.approx(2.75)
    # seq-mean-token-sum: all 3 rows (as verl): (3 + 4 + 0) / 3 = 7/3
    assert aggregate(values, mask, mode="seq-mean-token-sum").item() == pytest.approx(7 / 3)


def test_float_mask_weights():
    values = torch.tensor([[2.0, 4.0]])
    mask = torch.tensor([[0.5, 1.0]])
    # Σ m·z / Σ m = (1 + 4) / 1.5
    assert aggregate(values, mask).item() == pytest.approx(5 / 1.5)


@pytest.mark.parametrize("mode", AGG_MODES)
def test_empty_mask_is_zero_with_graph(mode):
    values = torch.randn(3, 4, requires_grad=True)
    loss = aggregate(values, torch.zeros(3, 4, dtype=torch.bool), mode=mode)
    assert loss.item() == 0.0
    assert loss.requires_grad
    loss.backward()
    assert torch.equal(values.grad, torch.zeros(3, 4))


@pytest.mark.parametrize("mode", AGG_MODES)
def test_non_finite_padding_does_not_leak(mode):
    values = torch.tensor([[1.0, float("nan")], [float("-inf"), 3.0]], requires_grad=True)
    mask = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    loss = aggregate(values, mask, mode=mode)
    loss.backward()
    assert torch.isfinite(loss)
    assert torch.isfinite(values.grad).all()
    assert values.grad[0, 1] == 0 and values.grad[1, 0] == 0


def test_token_mean_gradient_is_mask_over_count():
    values = torch.randn(2, 3, requires_grad=True)
    mask = torch.tensor([[1, 0, 1], [0, 0, 1]], dtype=torch.bool)
    aggregate(values, mask).backward()
    assert torch.allclose(values.grad, mask.float() / 3)


def test_unknown_mode_lists_valid_modes():
    with pytest.raises(ValueError) as err:
        aggregate(torch.zeros(1, 1), torch.ones(1, 1), mode="sum")
    for mode in AGG_MODES:
        assert mode in str(err.value)


def test_shape_mismatch_raises():
    with pytest.raises(ValueError, match="differ"):
        aggregate(torch.zeros(2, 3), torch.ones(2, 4))


def test_masked_mean_and_max():
    values = torch.tensor([[1.0, 9.0, 3.0]])
    mask = torch.tensor([[True, False, True]])
    assert masked_mean(values, mask).item() == pytest.approx(2.0)  # (1 + 3) / 2
    assert masked_mean(values > 2, mask).item() == pytest.approx(0.5)  # bools count as 0/1
    assert masked_max(values, mask).item() == 3.0  # 9 is off the mask
    empty = torch.zeros(1, 3, dtype=torch.bool)
    assert masked_mean(values, empty).item() == 0.0
    assert masked_max(values, empty).item() == 0.0
