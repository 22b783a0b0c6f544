"""`sdar sft --unlikelihood`: each demonstrated turn carries where the invalid moves from its state would
leave its response ("go to" turns: `stray_moves`; others: "go to" where it stands), and the loss pushes
those tokens down."""

import copy
import re
from collections import Counter

import pytest
import torch

from sdar.config import ConfigError, build_config
from sdar.sft import response_nll, response_text, sft
from sdar.sft.mistakes import backtracks, first_divergences, stray_moves
from sdar.sft.fit import unlikelihood_sum
from sdar.sft.run import SFTOptions, parse_options, training_demos, validate
from sdar.scoring import response_logits
from sdar.train.batch import build_micro_batch
from tests.test_sft import SPEC, demos_of


def test_first_divergences_mark_where_each_other_response_leaves():
    ids = [5, 6, 7, 8]
    assert first_divergences(ids, [[5, 6, 9, 8], [5, 1], [5, 6, 9], [5, 6, 7]]) == ((2, 9), (1, 1))
    assert first_divergences(ids, []) == ()


def _admissible(user_message: str) -> list[str]:
    listed = user_message.split("admissible actions of the current situation are: [")[1].split("]")[0]
    return re.findall(r"'([^']*)'", listed)


def test_negatives_are_the_stray_moves_of_a_move_and_where_it_stands_otherwise(real_tokenizer):
    tok = real_tokenizer
    demos = demos_of(tok, episodes=8, noise=0.3, keep_noisy=True, negatives=True)
    standing, marked, kinds = {}, 0, Counter()  # naively: where each episode's last valid move went
    for d in demos:
        here, offered = standing.get(d.task.seed), _admissible(d.user_message)
        if d.action.startswith("go to "):
            wrong = stray_moves(here, offered)
        else:
            wrong = [f"go to {here}"] if here is not None and f"go to {here}" not in offered else []
            kinds[d.action.split()[0]] += bool(wrong)
        written = [tok(response_text(m, d.task.goal, thinking=False), add_special_tokens=False)["input_ids"]
                   for m in wrong]
        assert d.negatives == first_divergences(d.response_ids, written)
        for k, token in d.negatives:  # the token that starts one of the wrong moves, after the shared start
            assert token != d.response_ids[k]
            assert any(tok.decode(d.response_ids[:k] + [token]) == tok.decode(w[:k + 1]) for w in written)
        marked += bool(d.negatives)
        if d.action.startswith("go to "):
            standing[d.task.seed] = d.action[len("go to "):]
    assert marked > 10 and all(not d.negatives for d in demos_of(tok, episodes=8, noise=0.3))  # off by default
    assert kinds["take"] and kinds["put"]  # the turns that act where the agent stands carry one too


def test_thinking_negatives_share_the_thought_and_differ_in_the_action(real_tokenizer):
    tok = real_tokenizer
    demos = [d for d in demos_of(tok, episodes=6, thinking=True, negatives=True) if d.negatives]
    assert {d.action.startswith("go to ") for d in demos} == {True, False}
    for d in demos:
        for k, token in d.negatives:
            shared = tok.decode(d.response_ids[:k])  # the thought is shared, and on a move "go to"
            if d.action.startswith("go to "):
                assert shared.startswith("<think>") and re.search(r"</think><action>go to[a-z ]*$", shared)
            else:  # it leaves at the verb: "go" where the demonstrator takes, puts, opens, ...
                assert shared.startswith("<think>") and shared.endswith("</think><action>")
                assert tok.decode([token]).strip() == "go"


def test_backtracks_put_back_what_was_taken_take_out_what_was_placed_and_treat_again():
    at_bed = ("go to desk 1", "move book 1 to bed 1", "move book 1 to bed 2", "examine book 1")
    assert backtracks("take book 1 from bed 1", "go to desk 1", at_bed) == ["move book 1 to bed 1"]
    assert backtracks("take apple 1 from fridge 1", "go to sinkbasin 1",
                      ("put apple 1 in/on fridge 1", "go to sinkbasin 1")) == ["put apple 1 in/on fridge 1"]
    at_desk = ("take book 1 from desk 1", "go to bed 1")
    assert backtracks("move book 1 to desk 1", "go to bed 1", at_desk) == ["take book 1 from desk 1"]
    assert backtracks("move book 1 to desk 1", "take book 1 from desk 1", at_desk) == []  # recovering from a noisy put
    at_microwave = ("heat plate 4 with microwave 1", "go to diningtable 1")
    assert backtracks("heat plate 4 with microwave 1", "go to diningtable 1", at_microwave) == [
        "heat plate 4 with microwave 1"]
    assert backtracks("go to desk 1", "take book 1 from desk 1", at_desk) == []  # nothing to go back on
    assert backtracks("take book 1 from bed 1", "go to desk 1", ("go to desk 1",)) == []  # not offered
    assert backtracks(None, "go to desk 1", at_desk) == []


def test_backtrack_negatives_leave_the_response_in_the_thought_that_leads_back(real_tokenizer):
    """--backtrack: right after a take, a put or a treat, the action going back on it, written with its own
    thought, is a negative too; it leaves the demonstrated response inside the thought ("Carrying apple 1
    to put it in/on" + the receptacle it came from)."""
    tok = real_tokenizer
    kw = dict(episodes=8, thinking=True, negatives=True)
    plain, demos = demos_of(tok, **kw), demos_of(tok, **kw, backtrack=True)
    assert [d.response_ids for d in plain] == [d.response_ids for d in demos]
    added, verbs = 0, Counter()
    for before, (d, p) in zip([None] + demos, zip(demos, plain)):
        last = before.action if before is not None and before.task is d.task else None
        back = backtracks(last, d.action, _admissible(d.user_message))
        extra = [n for n in d.negatives if n not in p.negatives]
        assert set(p.negatives) <= set(d.negatives) and (not extra or back)
        for k, token in extra:  # off the demonstrated thought, onto the one that leads back
            verb, obj, prep, where = re.fullmatch(r"(\w+) (\S+ \d+) (from|in/on|to|with) (\S+ \d+)", back[0]).groups()
            leading = (f"<think>Looking for {obj}, here it is." if verb == "take" else
                       f"<think>Carrying {obj} to {verb} it {prep} {where}.")
            assert leading.startswith(tok.decode(d.response_ids[:k] + [token]))
            verbs[verb] += 1
        added += len(extra)
    assert added > 3 and verbs["put"] and verbs["heat"] + verbs["cool"] + verbs["clean"]


def test_unlikelihood_sum_is_the_naive_sum():
    torch.manual_seed(0)
    logits = torch.randn(2, 5, 11)
    negatives, lengths = [((0, 3), (2, 4)), ((1, 10),)], [3, 5]
    naive = 0.0
    for r, (pairs, length) in enumerate(zip(negatives, lengths)):
        for k, token in pairs:
            p = torch.softmax(logits[r, 5 - length + k], -1)[token]
            naive += -torch.log(1 - p)
    assert float(unlikelihood_sum(logits, negatives, lengths)) == pytest.approx(float(naive), rel=1e-5)
    assert float(unlikelihood_sum(logits, [(), ()], lengths)) == 0.0


@torch.no_grad()
def _negative_prob(model, tok, demos) -> float:
    """Mean probability of the demos' negative tokens under `model`."""
    mb = build_micro_batch(demos, list(range(len(demos))), tok.pad_token_id, "cpu")
    probs = torch.softmax(response_logits(model, mb.input_ids, mb.attention_mask, mb.n), -1)
    picked = [probs[r, mb.n - len(d.response_ids) + k, token] for r, d in enumerate(demos) for k, token in d.negatives]
    return float(torch.stack(picked).mean())


def test_unlikelihood_pushes_the_wrong_moves_down_and_still_learns_the_demos(tiny):
    model, tok = tiny
    demos = demos_of(tok, episodes=3, negatives=True)
    marked = [d for d in demos if d.negatives]
    assert len(marked) >= 5
    before = response_nll(model, tok, demos)
    trained, metrics = {}, {}
    for weight in (0.0, 50.0):
        trained[weight] = copy.deepcopy(model)
        metrics[weight] = sft(trained[weight], tok, demos, epochs=3, lr=3e-3, batch_tokens=2048,
                              micro_batch_tokens=2048, seed=0, progress=False, unlikelihood=weight)
    assert "loss/unlikelihood" not in metrics[0.0][0]  # recorded only when on
    assert metrics[50.0][0]["sft/negatives"] == sum(len(d.negatives) for d in demos)
    plain, pushed = (_negative_prob(trained[w], tok, marked) for w in (0.0, 50.0))
    print(plain, pushed, [m["loss/unlikelihood"] for m in metrics[50.0]])
    assert pushed < 0.5 * plain
    assert response_nll(trained[50.0], tok, demos) < 0.8 * before


def test_training_demos_carry_negatives_only_with_the_option(real_tokenizer):
    options = dict(episodes=4, gap_episodes=0, max_turns=30, history=2)
    _, plain = training_demos(SFTOptions(**options), SPEC, real_tokenizer)
    _, marked = training_demos(SFTOptions(**options, unlikelihood=1.0), SPEC, real_tokenizer)
    assert not any(d.negatives for d in plain) and any(d.negatives for d in marked)
    assert [(d.task.seed, d.turn_index, d.response_ids) for d in plain] == [
        (d.task.seed, d.turn_index, d.response_ids) for d in marked]  # the same demos, only marked


def test_a_negative_weight_is_one_clear_line():
    with pytest.raises(ConfigError, match="--unlikelihood: must be >= 0"):
        validate(parse_options(["--unlikelihood", "-1"]))
    with pytest.raises(ConfigError, match="--warmstart.unlikelihood"):
        build_config(None, {"warmstart.episodes": "4", "warmstart.unlikelihood": "-1"})
