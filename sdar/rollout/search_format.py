"""Prompt formats for environments with free-text actions: "shop" (WebShop) and "search" (Search-R1).

- "shop": the stock admissible-list prompt with the closing instruction of the reference's WebShop
  template (how to write a query); an action is one `<action>...</action>` block naming an admissible
  `click[...]`, or `search[<any query>]` when the list offers the search bar (`search[<your query>]`).
  The query is free text, which is why the stock "admissible" parser (exact match) cannot take it.
- "search": the Search-R1 prompt (question, past searches with their results, then the choice between
  `<search> query </search>` and `<answer> answer </answer>`); a response is valid when it holds exactly
  one such block (and, with thinking on, a `<think>` block before it); the parsed action is the
  canonical tagged string. Admissible actions are neither shown nor enforced.

Registered on import (`sdar.rollout` imports this module). Renders student messages only.
"""

from __future__ import annotations

import re

from sdar.rollout.prompts import (
    MAX_ACTION_CHARS,
    PromptFormat,
    parse_action,
    register_format,
    render_user_message,
)

SEARCH_SLOT = "search[<your query>]"
_ACTION_BLOCK = re.compile(r"<action>(.*?)</action>", re.DOTALL | re.IGNORECASE)
_SEARCH_ACTION = re.compile(r"search\s*\[(.*)\]", re.DOTALL | re.IGNORECASE)
_THINK_THEN = r"<think>.*?</think>.*<{tag}>"
_TAGGED = re.compile(r"<(search|answer)>(.*?)</\1>", re.DOTALL | re.IGNORECASE)

_SEARCH_INTRO = (
    "Answer the question below. You can call a search engine by writing <search> query </search>; its top "
    "results come back between <information> and </information>. Search as many times as you need. When you "
    "know the answer, write it between <answer> and </answer> as a short phrase without explanation, for "
    "example <answer> Beijing </answer>."
)
_SEARCH_THINK = (
    "Now it's your turn. First reason step-by-step inside <think> </think>. Then write exactly one action: "
    "<search> query </search> if some knowledge is missing, or <answer> answer </answer> if you can answer "
    "(give your best guess if unsure)."
)
_SEARCH_ACT = (
    "Now it's your turn. Write exactly one action: <search> query </search> if some knowledge is missing, or "
    "<answer> answer </answer> if you can answer (give your best guess if unsure)."
)


_SHOP_THINK = (
    "Now it's your turn to take an action. You should first reason step-by-step about the current situation, "
    "then think carefully which admissible action best advances the shopping goal. This reasoning process MUST "
    "be enclosed within <think> </think> tags. Once you've finished your reasoning, choose an admissible action "
    "for the current step and present it within <action> </action> tags; for search[<your query>] write your "
    "own query, for example <action>search[red running shoes]</action>."
)
_SHOP_ACT = (
    "Now it's your turn to take an action. Choose one admissible action for the current step and present it "
    "within <action> </action> tags; for search[<your query>] write your own query, for example "
    "<action>search[red running shoes]</action> or <action>click[buy now]</action>."
)


def render_shop(goal: str, step: int, history: list[tuple[str, str]], observation: str,
                admissible: tuple[str, ...], *, thinking: bool) -> str:
    """The stock admissible-list message with WebShop's closing instruction (how to write a query)."""
    body = render_user_message(goal, step, history, observation, admissible, thinking=thinking)
    return body.rsplit("\n\n", 1)[0] + "\n\n" + (_SHOP_THINK if thinking else _SHOP_ACT)


def parse_shop(text: str, admissible: tuple[str, ...], *, thinking: bool) -> str | None:
    """An admissible action as the stock parser finds it, or `search[query]` (whitespace collapsed) when
    the search bar is offered; None if invalid."""
    blocks = _ACTION_BLOCK.findall(text)
    if len(blocks) != 1 or len(blocks[0]) > MAX_ACTION_CHARS:
        return None
    if thinking and not re.search(_THINK_THEN.format(tag="action"), text, re.DOTALL | re.IGNORECASE):
        return None
    found = _SEARCH_ACTION.fullmatch(blocks[0].strip())
    if found and SEARCH_SLOT in admissible:
        query = " ".join(found.group(1).split())
        return f"search[{query}]" if query else None
    return parse_action(text, tuple(a for a in admissible if a != SEARCH_SLOT), thinking=thinking)


def render_search(goal: str, step: int, history: list[tuple[str, str]], observation: str,
                  admissible: tuple[str, ...], *, thinking: bool) -> str:
    """The student's message at turn `step`: the question, then each action of the window with what it
    returned (the next entry's observation, or the current one for the latest). With an empty window
    (`--env.history 0`, or a prompt cut to its budget) the latest result is still shown."""
    lines = [_SEARCH_INTRO, f"Question: {goal}"]
    if step > 0 and not history:
        lines.append(f"You have already taken {step} step(s). The last one returned:\n{observation}")
    if step > 0 and history:
        first = step - len(history) + 1
        lines.append(f"You have already taken {step} step(s). Your most recent {len(history)} action(s) and "
                     f"what came back:")
        results = [obs for obs, _ in history[1:]] + [observation]
        for i, ((_, action), result) in enumerate(zip(history, results)):
            lines.append(f"Step {first + i}: {action}\n{result}")
    lines.append("")
    lines.append(_SEARCH_THINK if thinking else _SEARCH_ACT)
    return "\n".join(lines)


def parse_search(text: str, admissible: tuple[str, ...], *, thinking: bool) -> str | None:
    """`<search>query</search>` or `<answer>text</answer>` (content whitespace-collapsed) when the response
    holds exactly one such block with non-empty content; None otherwise."""
    blocks = _TAGGED.findall(text)
    if len(blocks) != 1:
        return None
    tag, content = blocks[0][0].lower(), " ".join(blocks[0][1].split())
    if not content or len(content) > MAX_ACTION_CHARS:
        return None
    if thinking and not re.search(_THINK_THEN.format(tag=tag), text, re.DOTALL | re.IGNORECASE):
        return None
    return f"<{tag}>{content}</{tag}>"


register_format(PromptFormat("shop", render_shop, parse_shop, ("</action>",)))
register_format(PromptFormat("search", render_search, parse_search, ("</search>", "</answer>")))
