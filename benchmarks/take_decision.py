"""Where a household search turns: can the model tell "the goal object is here" from "something else is"?

On the demonstrator's turns of household train tasks the benchmark keeps two kinds of state: the turns
where the demonstrator takes the goal object (take states), and the "go to" turns whose observation
shows a receptacle holding other objects (go states). Two scores separate them, each reported as the
AUC over take × go pairs (0.5: no separation, 1: a threshold separates them all):

- verb: logit("take") − logit("go") for the first word of the action, right after "<action>", the
  choice a model trained without thoughts makes.
- copy: log P(" " | "<think>Looking for O"), O the goal object's name: whether the model continues the
  name with a number ("book" → " 1"), which it does where "book 1" is in the prompt. This is the decision
  `sdar sft --thinking` puts first (`sdar.sft.demos.search_thoughts`).

Each model is scored on the same demonstrations (train-split tasks of seed 7, not those `sdar sft`
trains on by default, without noise or skills), under bf16 autocast where the CPU has it.

Writes benchmarks/results/take_decision.json and take_decision.md.
    python benchmarks/take_decision.py --episodes 20 --models bundled
"""

from __future__ import annotations

import argparse
import os

import torch
from record import command, write_results  # the module next to this one

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from sdar.models import autocast_dtype, load_model, load_tokenizer  # noqa: E402
from sdar.rollout.sampler import autocast  # noqa: E402
from sdar.sft.demos import expert_demonstrations, search_thoughts  # noqa: E402
from sdar.sft.run import SFTOptions, env_spec  # noqa: E402


def auc(positive: list[float], negative: list[float]) -> float:
    """P(score of a random positive > score of a random negative), ties counting one half."""
    pairs = [(p > n) + 0.5 * (p == n) for p in positive for n in negative]
    return sum(pairs) / max(len(pairs), 1)


def decision_states(demos) -> list[tuple[object, str, bool]]:
    """(demo, goal object name, is a take state) for the take turns and the go turns with objects in view."""
    states, episodes = [], {}
    for d in demos:
        episodes.setdefault(id(d.task), []).append(d)
    for turns in episodes.values():
        for d, thought in zip(turns, search_thoughts([d.action for d in turns])):
            if thought is None or not thought.startswith("Looking for") or d.action.startswith("use "):
                continue
            name = thought[len("Looking for "):].split(",")[0].split(" ")[0]
            observation = d.user_message.split("your current observation is:")[1].split("\n")[0]
            if d.action.startswith("take "):
                states.append((d, name, True))
            elif d.action.startswith("go to ") and ("On the" in observation or "In it," in observation) \
                    and "you see a" in observation:  # a receptacle's contents, not the room's overview
                states.append((d, name, False))
    return states


@torch.no_grad()
def score(model_name: str, states) -> dict:
    model, tokenizer = load_model(model_name, "cpu")
    model.eval()
    amp = autocast_dtype("auto", torch.device("cpu"), training=True)
    first = {w: tokenizer.encode(w, add_special_tokens=False)[0] for w in ("take", "go", " ")}
    action = tokenizer.encode("<action>", add_special_tokens=False)
    verb, copy = {True: [], False: []}, {True: [], False: []}
    for d, name, take in states:
        with autocast(torch.device("cpu"), amp):
            logits = model(torch.tensor([d.prompt_ids + action])).logits[0, -1].float()
            verb[take].append(float(logits[first["take"]] - logits[first["go"]]))
            ids = d.prompt_ids + tokenizer.encode(f"<think>Looking for {name}", add_special_tokens=False)
            logprobs = torch.log_softmax(model(torch.tensor([ids])).logits[0, -1].float(), -1)
            copy[take].append(float(logprobs[first[" "]]))
    mean = lambda xs: sum(xs) / max(len(xs), 1)  # noqa: E731
    return {"model": model_name, "take_states": len(verb[True]), "go_states": len(verb[False]),
            "verb_auc": auc(verb[True], verb[False]), "copy_auc": auc(copy[True], copy[False]),
            "take_beats_go_on_take_states": mean([v > 0 for v in verb[True]]),  # not a vocabulary argmax
            "verb_gap_mean": {"take": mean(verb[True]), "go": mean(verb[False])},
            "copy_logprob_mean": {"take": mean(copy[True]), "go": mean(copy[False])}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--models", nargs="+", default=["bundled"], help="'bundled' or model directories")
    args = parser.parse_args()
    probe = load_tokenizer(args.models[0])
    demos = expert_demonstrations(env_spec(SFTOptions()), probe, episodes=args.episodes, seed=7, max_turns=30,
                                  history=2, thinking=False)
    states = decision_states(demos)
    rows = [score(m, states) for m in args.models]
    lines = [f"`{command()}`: "
             f"{rows[0]['take_states']} take states, {rows[0]['go_states']} go states with other objects in view.",
             "", "| model | verb AUC (take − go logit) | copy AUC (P(\" \") after \"Looking for O\") | take logit "
             "> go logit on take states |", "|---|---|---|---|"]
    lines += [f"| {r['model']} | {r['verb_auc']:.3f} | {r['copy_auc']:.3f} | "
              f"{r['take_beats_go_on_take_states']:.2f} |" for r in rows]
    write_results("take_decision", {"episodes": args.episodes, "rows": rows}, lines)


if __name__ == "__main__":
    main()
