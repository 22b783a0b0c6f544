"""Where a model's invalid actions come from, read off `sdar eval --trajectories FILE`.

Splits the invalid turns into first ones and those right after an invalid turn of the same episode (whose
prompt says "Nothing happens.": a model that repeats itself there is stuck in a loop), counts the
action verbs of the first ones and the episodes that end in five invalid turns, gives the invalid turns
per task type, says why invalid "go to" turns were not admissible and where the "go to"s from number 1 of
a kind went (the change of kind), counts the "look"s (after an invalid turn, as `sdar sft
--look-after-invalid` teaches, and the invalid turns right after one), the valid take-backs (taking out
what one's own put just placed) and turns going back on the one before (put back, taken back, treated
again), the invalid turns by their thought's first word ("looking", "carrying")
and verb, and tells whether the episode's last change of state (a valid take,
put, treat or use), or the observation it led to, was still in the prompt's history window at each
invalid turn. Several files are pooled (an evaluation split with `sdar eval --skip`, or several seeds),
each file's episodes counted apart. Prints a Markdown summary; writes nothing.
    sdar eval --env household --model M --episodes 30 --thinking --trajectories turns.jsonl
    python benchmarks/invalid_turns.py turns.jsonl [more.jsonl ...]
"""

from __future__ import annotations

import argparse
import json
import re
from collections import Counter, defaultdict

from sdar.envs.alfworld.searcher import listed_receptacles
from sdar.envs.names import kind
from sdar.sft.mistakes import backtracks, stray_moves


def verb(response: str) -> str:
    found = re.search(r"<action>\s*(\S+)", response)
    return found.group(1) if found else "(no action)"


def take_backs(episode: list[dict]) -> int:
    """Valid turns that take out what the episode's own last valid put placed ("take pot 2 from fridge 1"
    after "put pot 2 in/on fridge 1", or ALFWorld's "move pot 2 to fridge 1"): a loop that no invalid turn
    shows."""
    placed, count = None, 0
    for r in episode:
        words = r["action"].split() if r["valid"] else []
        if words[:1] in (["put"], ["move"]) and len(words) >= 5:
            placed = (words[1:3], words[-2:])
        elif words[:1] == ["take"] and placed and (words[1:3], words[-2:]) == placed:
            count, placed = count + 1, None
    return count


def going_back(episode: list[dict]) -> Counter:
    """Valid turns that go back on the valid turn right before them (`sdar.sft.mistakes.backtracks`, what
    `sdar sft --backtrack` pushes down), by kind: "put back" where it was taken, "taken back" out of where
    it was just placed, "treated again"."""
    kinds = {"take": "taken back", "put": "put back", "move": "put back"}
    found = Counter()
    for prev, r in zip(episode, episode[1:]):
        if prev["valid"] and r["valid"] and backtracks(prev["action"], "", [r["action"]]):
            found[kinds.get(r["action"].split()[0], "treated again")] += 1
    return found


CHANGES = ("take", "put", "move", "heat", "cool", "clean", "slice", "use")  # verbs that change what is held or done
SIGHT = ("none yet", "in the window", "outcome only", "beyond it")


def by_episode(rows: list[dict]) -> dict[int, list[dict]]:
    """The turn records of each episode, in order."""
    episodes = defaultdict(list)
    for r in rows:
        episodes[r["trajectory"]].append(r)
    return dict(episodes)


def last_change_in_sight(episode: list[dict]) -> Counter:
    """Per invalid turn of `episode`, where its last valid take, put, treat or use lies (keys: SIGHT):
    "none yet"; "in the window" (the action is among the past turns the prompt shows, counted by its
    "[Observation " entries); "outcome only" (the action has just left the window, but the observation it
    led to is still shown, as the oldest entry or, with no history, as the current observation); "beyond
    it" (held, placed or treated, but the prompt no longer says so)."""
    where, last = Counter(), None
    for k, r in enumerate(episode):
        if r["valid"]:
            last = k if r["action"].split(" ", 1)[0] in CHANGES else last
            continue
        shown = r["prompt"].count("[Observation ")
        if last is None:
            where["none yet"] += 1
        elif k - last <= shown:
            where["in the window"] += 1
        elif k - last == shown + 1:
            where["outcome only"] += 1
        else:
            where["beyond it"] += 1
    return where


def go_to_misses(episode: list[dict]) -> Counter:
    """The invalid "go to X" turns of `episode` by why X was not admissible: "where it stands" (the
    episode's last valid "go to" went to X, and one cannot go where one is), "one past where it stands" (no
    list offers it, and it is the next number of where the agent stands: "drawer 4" at the last of three
    drawers, counting past a kind's last), "number 0" ("drawer 0": counting down past a kind's last, which
    is always number 1), "not in the room" (no admissible list of the episode offers "go to X": another
    receptacle the model made up), "offered at other turns" (ALFWorld's list leaves out the receptacles
    that share the agent's spot: at cabinet 13 it offers "examine cabinet 14" but no "go to cabinet 14"),
    or "offered this turn" (the action was, the response's format was not: no thought, two actions)."""
    lists = [re.search(r"admissible actions of the current situation are: \[(.*)\]", r["prompt"]) for r in episode]
    goes = [set(re.findall(r"'go to ([^']*)'", found.group(1))) if found else set() for found in lists]
    offered = set().union(*goes)
    misses, here = Counter(), None
    for r, now in zip(episode, goes):
        if r["valid"]:
            here = r["action"][len("go to "):] if r["action"].startswith("go to ") else here
            continue
        found = re.search(r"<action>\s*go to (.*?)\s*</action>", r["response"], re.IGNORECASE)
        if found:
            target = " ".join(found.group(1).lower().split())
            misses["where it stands" if target == here else "offered this turn" if target in now
                   else "offered at other turns" if target in offered
                   else "number 0" if target.endswith(" 0")
                   else "one past where it stands" if f"go to {target}" in stray_moves(here, ())  # others: above
                   else "not in the room"] += 1
    return misses


def leaving_number_1(episode: list[dict]) -> Counter:
    """The "go to" turns of `episode` written standing at number 1 of a kind (where ALFWorld's searcher,
    counting each kind down, finishes the kind), by where they went: "next kind" (the kind the room's
    first observation lists after this one, where the demonstrator goes), "other kind", "same kind" (back
    up the kind it finished), or "invalid" (to where it stands, to number 0, ...)."""
    first = re.search(r"your current observation is: (.*)", episode[0]["prompt"])
    kinds = list(dict.fromkeys(map(kind, listed_receptacles(first.group(1) if first else ""))))
    counts, here = Counter(), None
    for r in episode:
        standing = here
        if r["valid"] and r["action"].startswith("go to "):
            here = r["action"][len("go to "):]
        if standing is None or not standing.endswith(" 1") or not re.search(r"<action>\s*go to ", r["response"]):
            continue
        done = kind(standing)
        following = kinds[kinds.index(done) + 1:][:1] if done in kinds else []
        went = kind(here) if r["valid"] else None
        counts["invalid" if went is None else "same kind" if went == done
               else "next kind" if [went] == following else "other kind"] += 1
    return counts


def by_thought(rows: list[dict]) -> Counter:
    """Invalid turns by the thought their response opened with and the action's verb: "looking + go" (a
    search thought, "Looking for mug, not here.", then an invalid "go to"), "carrying + go" (a carrying
    thought, "Carrying mug 1 to cool it with fridge 1.": mostly a "go to" where the agent already stands,
    instead of placing or treating there), "carrying + move", ...; "no thought" without <think>."""
    counts = Counter()
    for r in rows:
        if r["valid"]:
            continue
        found = re.search(r"<think>\s*(\w+)", r["response"])
        opening = found.group(1).lower() if found else "no thought"
        counts[f"{opening} + {verb(r['response'])}"] += 1
    return counts


def looks(episode: list[dict]) -> Counter:
    """Valid "look" turns of `episode` ("look"), those right after an invalid turn ("after invalid"), and the
    invalid turns right after a look ("invalid next"): looking and then going where one stands is a loop of
    two turns that "right after an invalid turn" does not count."""
    counts = Counter()
    for prev, r in zip([None] + episode[:-1], episode):
        if r["valid"] and r["action"] == "look":
            counts["look"] += 1
            counts["after invalid"] += prev is not None and not prev["valid"]
        elif not r["valid"] and prev is not None and prev["valid"] and prev["action"] == "look":
            counts["invalid next"] += 1
    return counts


def sight_counts(rows: list[dict]) -> Counter:
    """`last_change_in_sight` summed over the episodes of `rows`."""
    return sum(map(last_change_in_sight, by_episode(rows).values()), Counter())


def summary(rows: list[dict]) -> str:
    episodes = by_episode(rows)
    invalid = [r for r in rows if not r["valid"]]
    after = [r for t in episodes.values() for prev, r in zip(t, t[1:]) if not prev["valid"]]
    stuck = [r for r in after if not r["valid"]]
    looping = {id(r) for r in stuck}
    first = Counter(verb(r["response"]) for r in invalid if id(r) not in looping)
    by_type = Counter(r["task_type"] for r in invalid)
    turns_by_type = Counter(r["task_type"] for r in rows)
    sight = sight_counts(rows)
    go_tos = sum(map(go_to_misses, episodes.values()), Counter())
    looked = sum(map(looks, episodes.values()), Counter())
    leaving = sum(map(leaving_number_1, episodes.values()), Counter())
    back = {i: going_back(t) for i, t in episodes.items()}
    lines = [
        f"{len(episodes)} episodes, {sum(t[0]['won'] for t in episodes.values())} won; {len(rows)} turns, "
        f"{len(invalid)} invalid ({len(invalid) / max(len(rows), 1):.3f})",
        f"- right after an invalid turn: {len(stuck)} (of {len(after)} turns after one, "
        f"{len(after) - len(stuck)} of them valid)",
        f"- first invalid turns: {len(invalid) - len(stuck)}, by verb: "
        + ", ".join(f"{v} {n}" for v, n in first.most_common()),
        f"- episodes ending in 5 invalid turns: {sum(all(not r['valid'] for r in t[-5:]) for t in episodes.values())}",
        "- invalid turns by task type: " + ", ".join(f"{k} {by_type[k]}/{turns_by_type[k]}" for k in turns_by_type),
        f"- take-backs (valid turns taking out what the episode's last put placed): "
        f"{sum(map(take_backs, episodes.values()))} in {sum(take_backs(t) > 0 for t in episodes.values())} episodes",
        "- going back on the turn before (valid): " + ", ".join(
            f"{k} {sum(b[k] for b in back.values())}" for k in ("put back", "taken back", "treated again"))
        + f", in {sum(bool(b) for b in back.values())} episodes",
        f"- looks: {looked['look']}, {looked['after invalid']} of them right after an invalid turn; "
        f"invalid turns right after a look: {looked['invalid next']}",
        "- invalid \"go to\" turns, by where they went: " + ", ".join(f"{k} {n}" for k, n in go_tos.most_common()),
        "- \"go to\" turns standing at number 1 of a kind: "
        + ", ".join(f"{k} {leaving[k]}" for k in ("next kind", "other kind", "same kind", "invalid")),
        "- invalid turns by the thought's first word and the verb: "
        + ", ".join(f"{k} {n}" for k, n in by_thought(rows).most_common()),
        "- invalid turns by where the episode's last take, put, treat or use was: "
        + ", ".join(f"{k} {sight[k]}" for k in SIGHT),
    ]
    return "\n".join(lines)


def read_turns(paths: list[str]) -> list[dict]:
    """The turn records of every file, each episode keyed by (file, episode) so files never merge episodes."""
    rows = []
    for k, path in enumerate(paths):
        with open(path, encoding="utf-8") as f:
            records = [json.loads(line) for line in f if line.strip()]
        rows += [{**r, "trajectory": (k, r["trajectory"])} for r in records]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("turns", nargs="+", help="files written by sdar eval --trajectories")
    print(summary(read_turns(parser.parse_args().turns)))


if __name__ == "__main__":
    main()
