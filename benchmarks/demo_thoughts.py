"""What `sdar sft --thinking` trains on: the thoughts of the trained demonstration turns, by kind and task type.

Builds the demonstrations exactly as `sdar sft` does with the same options (no model is loaded, only the
tokenizer; seconds on a CPU) and counts the trained turns whose thought is a search ("Looking for O, not
here."), a search that finishes a kind (`--kind-change`: "... That was the last cabinet; next: ..."), a
find ("... here it is."), a carry ("Carrying ..."), or the template that restates the goal (no rule
applied), and the trained turns right after a put (the prompt's observation starts "You put").
Prints a Markdown table; `--results NAME` also writes NAME.json and NAME.md (other flags are `sdar sft`'s).
    python benchmarks/demo_thoughts.py --thinking --repeat-share 0.5 --tempt 0.2
"""

from __future__ import annotations

import argparse
import os
import re
from collections import Counter
from pathlib import Path

from record import command, write_results  # the module next to this one

os.environ.setdefault("HF_HUB_OFFLINE", "1")
KINDS = ("not here", "kind done", "here it is", "carrying", "template")


def kind(response: str) -> str:
    thought = re.match(r"<think>(.*?)</think>", response, re.S)
    text = thought.group(1) if thought else ""
    if text.startswith("Carrying "):
        return "carrying"
    if text.startswith("Looking for "):
        if text.endswith("here it is."):
            return "here it is"
        return "kind done" if " That was the last " in text else "not here"
    return "template"


def after_put(user_message: str) -> bool:
    return "your current observation is: You put " in user_message


def counts(trained) -> dict:
    """{task type: {kind: turns, "after put": turns, "turns": turns}} plus an "all" row."""
    table: dict[str, Counter] = {}
    for d in trained:
        for row in (d.task.task_type, "all"):
            c = table.setdefault(row, Counter())
            c[kind(d.response_text)] += 1
            c["after put"] += after_put(d.user_message)
            c["turns"] += 1
    return {row: {k: c[k] for k in ("turns", *KINDS, "after put")} for row, c in sorted(table.items())}


def markdown(table: dict, command_line: str) -> str:
    head = ["task type", "turns", *KINDS, "after a put"]
    lines = [f"`{command_line}`", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join([row, *(str(v) for v in c.values())]) + " |" for row, c in table.items()]
    return "\n".join(lines)


def main() -> None:
    from sdar.models import load_tokenizer
    from sdar.sft.run import env_spec, parse_options, training_demos, validate

    ours = argparse.ArgumentParser(description=__doc__.splitlines()[0], add_help=False)
    ours.add_argument("--results", default=None, metavar="NAME", help="also write NAME.json and NAME.md")
    a, args = ours.parse_known_args()  # the other flags are sdar sft's
    o = parse_options(args)
    validate(o)
    tokenizer = load_tokenizer(o.model)
    _, trained = training_demos(o, env_spec(o), tokenizer)
    table = counts(trained)
    if a.results:
        results = Path(a.results)
        write_results(results.name, {"counts": table}, [markdown(table, command())], folder=results.parent)
    else:
        print(markdown(table, command()))


if __name__ == "__main__":
    main()
