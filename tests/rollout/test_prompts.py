"""Student prompt rendering and action parsing."""

from sdar.rollout.prompts import parse_action, render_user_message

ADMISSIBLE = ("go to fridge 1", "open fridge 1", "take apple 1 from countertop 1", "look")


def test_first_turn_message_has_task_observation_and_actions_but_no_history():
    msg = render_user_message("put a clean apple in fridge.", 0, [], "You are in the middle of a room.",
                              ADMISSIBLE, thinking=False)
    assert msg.startswith("Your task is to: put a clean apple in fridge.")
    assert "Prior to this step" not in msg
    assert "You are now at step 1 and your current observation is: You are in the middle of a room." in msg
    assert "['go to fridge 1', 'open fridge 1', 'take apple 1 from countertop 1', 'look']" in msg
    assert "<action>" in msg and "<think>" not in msg


def test_history_window_is_numbered_by_absolute_step():
    history = [("obs b", "go to fridge 1"), ("obs c", "open fridge 1")]
    msg = render_user_message("g.", 5, history, "obs d", ADMISSIBLE, thinking=True)
    assert "already taken 5 step(s)" in msg and "most recent 2 observations" in msg
    assert "[Observation 4: 'obs b', Action 4: 'go to fridge 1']" in msg
    assert "[Observation 5: 'obs c', Action 5: 'open fridge 1']" in msg
    assert "You are now at step 6" in msg
    assert "<think> </think>" in msg


def test_parse_valid_actions_case_and_spacing_insensitive():
    assert parse_action("<action>go to fridge 1</action>", ADMISSIBLE, thinking=False) == "go to fridge 1"
    assert parse_action("ok <action>  Go To  Fridge 1 </action>", ADMISSIBLE, thinking=False) == "go to fridge 1"
    assert parse_action("<think>x</think><action>look</action>", ADMISSIBLE, thinking=True) == "look"


def test_parse_rejects_invalid_outputs():
    cases = [
        "go to fridge 1",  # no tags
        "<action>go to fridge 1</action><action>look</action>",  # two actions
        "<action>go to fridge 1",  # unclosed
        "<action>go to fridge 2</action>",  # not admissible
        "<action>" + "x" * 10_000 + "</action>",  # huge
    ]
    for text in cases:
        assert parse_action(text, ADMISSIBLE, thinking=False) is None, text
    assert parse_action("<action>look</action>", ADMISSIBLE, thinking=True) is None  # thinking required


def test_chat_templates_with_native_thinking_get_it_off(tiny):
    """Qwen3-style templates open a thinking block unless `enable_thinking=False` (the paper's setting)."""
    import copy

    from sdar.rollout.collect import encode_chat

    tokenizer = copy.deepcopy(tiny[1])
    tokenizer.chat_template = ("{% for m in messages %}{{ m['content'] }}\n{% endfor %}"
                               "{% if enable_thinking is defined and enable_thinking is false %}THINKING OFF"
                               "{% else %}THINKING ON{% endif %}")
    text = tokenizer.decode(encode_chat(tokenizer, [{"role": "user", "content": "hi"}]))
    assert "THINKING OFF" in text and "THINKING ON" not in text
