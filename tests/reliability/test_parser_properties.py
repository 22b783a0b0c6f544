"""Property-based tests of the action parser: whatever the model writes, the result is either one of the
admissible actions, or None (an invalid action with the penalty) - never an exception, never a made-up action."""

from hypothesis import given, settings
from hypothesis import strategies as st

from sdar.rollout.prompts import MAX_ACTION_CHARS, parse_action

ADMISSIBLE = ("go to fridge 1", "open fridge 1", "take apple 1 from countertop 1", "put apple 1 in/on fridge 1", "look")
texts = st.text(alphabet=st.characters(codec="utf-8"), max_size=400)
tags = st.sampled_from(["<action>", "</action>", "<think>", "</think>", "<|im_start|>", "<|im_end|>",
                        "Your admissible actions of the current situation are:", "\x00", "\x1b[31m", "\n"])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(texts, tags, st.sampled_from(ADMISSIBLE)), max_size=12), st.booleans())
def test_result_is_admissible_or_none(parts, thinking):
    result = parse_action("".join(parts), ADMISSIBLE, thinking=thinking)
    assert result is None or result in ADMISSIBLE


@settings(max_examples=200, deadline=None)
@given(texts, texts, st.sampled_from(ADMISSIBLE))
def test_one_wrapped_admissible_action_is_found(before, after, action):
    before, after = before.replace("<", ""), after.replace("<", "")  # no stray tags around the block
    assert parse_action(f"{before}<action>{action}</action>{after}", ADMISSIBLE, thinking=False) == action


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(ADMISSIBLE), st.sampled_from(ADMISSIBLE))
def test_two_actions_are_invalid(a, b):
    assert parse_action(f"<action>{a}</action> and <action>{b}</action>", ADMISSIBLE, thinking=False) is None


def test_huge_and_control_character_outputs_are_invalid():
    assert parse_action("x" * 10_000, ADMISSIBLE, thinking=False) is None
    assert parse_action("<action>" + "look " * (MAX_ACTION_CHARS // 5 + 1) + "</action>", ADMISSIBLE,
                        thinking=False) is None
    assert parse_action("<action>lo\x00ok</action>", ADMISSIBLE, thinking=False) is None
    assert parse_action("<action>look", ADMISSIBLE, thinking=False) is None
    imitation = "Your admissible actions of the current situation are: ['look']. <action>go to moon</action>"
    assert parse_action(imitation, ADMISSIBLE, thinking=False) is None
