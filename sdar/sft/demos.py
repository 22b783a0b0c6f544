"""Expert demonstrations in exactly the rollout's format.

The environment's demonstrator (`Env.demo_action`: for household a searching agent that decides from
what the prompt shows; the omniscient expert walks straight to hidden objects, and a model cloned from it
guesses a location, lands where the expert never goes and loops: 40 such episodes gave 65% valid actions
and 0% success) is played through `sdar.rollout.collect.run_episodes`, the loop the RL rollout uses, by an
agent whose `encode` *is* `ModelAgent.encode` (inherited): prompts come from the same renderer, the same
history window (including what the history shows after a noisy action) and the same chat template.

- Response: the expert's action as `<action>{action}</action>` (as `ExpertAgent` writes it; an expert
  that writes its own tags is taken as is), with thinking on a short `<think>…</think>` first
  (`search_thoughts`, written once the episode is over since it looks ahead, where the actions speak
  ALFWorld's vocabulary; else a template); tokenized on its own, as a sampled response is appended to
  its prompt. No EOS follows: the rollout sampler stops at the prompt format's stop string
  ("</action>"), so a sampled response ends with the tokens that complete it and never holds an EOS; an
  EOS in the target would teach a token the rollout never samples.
- Noise (DART-style): with probability `noise` a turn plays a uniformly random *other* admissible action
  instead of the expert's, in the environment too, so the trajectory stays consistent and the expert
  re-plans from the state it lands in. Noisy turns are NOT trained on (`keep_noisy=False`): only the
  expert's corrective turns that follow them are, so the model sees how to recover from states its own
  mistakes lead to; training on the random labels themselves would only teach a little uniform mass.
  `keep_noisy=True` returns them, flagged.
- Skills: a `skills_share` of the episodes is rendered with the privileged block of a context provider
  (default `skills_by_type`) inside the user turn, cut to its own token budget, by
  `sdar.teacher.privileged_renderer`: exactly the prompt the RL teacher (and Skill-GRPO's student) will
  see, so the model learns to read the block; the other episodes never contain a privileged token.
This module never runs a model; it only needs a tokenizer.
"""

from __future__ import annotations

import random
import re
from collections import defaultdict
from dataclasses import dataclass

from sdar.envs.base import EnvSpec
from sdar.envs.names import kind
from sdar.rollout.collect import NOTHING_HAPPENS, ModelAgent, run_episodes
from sdar.rollout.prompts import student_messages
from sdar.sft.mistakes import (MOVE_PREFIX, SEARCH_VERBS, first_divergences, stray_moves, tempting_actions,
                               backtracks, wrong_moves)
from sdar.skills import get_provider
from sdar.teacher import privileged_renderer
from sdar.types import Task, Trajectory

# Task i of seed s has index (s * SEED_STRIDE + i) mod the eval offset (1,000,000) in its split, so seeds 0-9
# draw disjoint blocks where the split is that large (seed 10 repeats seed 0's tasks). A split with fewer
# tasks wraps at its size: ALFWorld's 360 train games start seed 1 at game 280 and seed 4 at game 40, inside
# seed 0's first 60.
SEED_STRIDE = 100_000


@dataclass
class Demo:
    """One expert turn as a training sample: `prompt_ids ⊕ response_ids` is what the rollout would hold."""

    task: Task
    turn_index: int
    user_message: str
    prompt_ids: list[int]
    response_ids: list[int]
    response_text: str
    action: str
    noisy: bool
    with_skills: bool
    won: bool
    teacher_prompt_ids: list[int] | None = None
    """Set only by `gap_report` on its scoring copies (the teacher's prompt for the same response)."""
    leaves_kind: bool = False
    """The action goes from number 1 of a kind to another kind (`_kind_change`; `sdar sft --kind-repeat`)."""
    negatives: tuple[tuple[int, int], ...] = ()
    """(response index, token id) where a wrong move from the same state first leaves `response_ids`: the
    token that starts it (`first_divergences`; `sdar sft --unlikelihood`)."""


def response_text(action: str, goal: str, *, thinking: bool, thought: str | None = None) -> str:
    """What the model should write for `action`: the rollout's tags, a one-line reasoning when thinking
    (`thought` if given, else a template that restates the goal and the action)."""
    tagged = action if action.lstrip().startswith("<") else f"<action>{action}</action>"
    if not thinking:
        return tagged
    if thought is None:
        thought = f"My task is to {goal.rstrip('.')}. The next step towards it is: {action}."
    return f"<think>{thought}</think>{tagged}"


# ALFWorld's vocabulary (household speaks it too): "take book 1 from drawer 1", "use desklamp 1"
_SOUGHT = re.compile(r"^(take|use) (\S+) (\d+)\b")
# where a held object goes next: "put book 1 in/on desk 1", "move mug 1 to shelf 2", "clean X 1 with sinkbasin 1"
_TARGET = re.compile(r"^(put|move|clean|heat|cool) \S+ \d+ (in/on|to|with) (\S+ \d+)$")
LOOK = "look"
# the object of ALFWorld's goal sentences: "put a clean cloth in countertop.", "find two apple and put them
# in garbagecan.", "examine the book with the desklamp.", "heat some egg and put it in garbagecan."
_GOAL_OBJECT = re.compile(r"^(?:put|find|look at|examine|clean|heat|cool) (?:a |an |some |two |the )?"
                          r"(?:clean |hot |cool |cold )?([a-z]+)\b")


def goal_object(goal: str) -> str | None:
    """The object an ALFWorld-style goal names ("cloth" for "put a clean cloth in countertop."), else None."""
    match = _GOAL_OBJECT.match(goal.strip().lower())
    return match.group(1) if match else None


def search_thoughts(actions: list[str | None], noisy: list[bool] | None = None,
                    goal: str | None = None, *, kind_change: bool = False, arrival: bool = False) -> list[str | None]:
    """Per turn, a thought naming what the agent is after, read off the episode's own expert actions
    (`None` entries, e.g. invalid turns, are skipped; so are `noisy` turns when looking ahead, and the
    demonstrator's turn that moves back what a noisy take or put moved, but what a noisy take picks up is
    carried). For a turn whose next non-search action (search: go, open, close, examine, look,
    inventory) takes or uses object `O N`:
        "Looking for O N, here it is."   on the take/use turn itself
        "Looking for O, not here."       on the search turns before it
    after a take, until it is placed ("put ..." / ALFWorld's "move ... to ...") or the next such search:
    "Carrying O N to cool it with R M." with the verb, preposition and receptacle of the next put, move,
    clean, heat or cool that takes it. A search turn that no later action explains (the episode ends
    before the object is found, or a noisy take finds it) says "Looking for O, not here." with the object
    the `goal` names (`goal_object`). `None` where no rule applies (other vocabularies), for the template.
    With `kind_change`, a search turn that goes from number 1 of a kind to another kind adds which kind is
    done and where the search goes next (`_kind_change`): with ALFWorld's searcher counting each kind
    down, that is the one move the prompt does not show (the warmed-up model, at number 1, stayed, went
    to number 0 or climbed back up the kind). With `arrival`, a carrying thought ends by saying whether the
    agent stands at that receptacle: "..., here it is." where its last move went there, "..., not here."
    on the way; the same thought on both turns let the model place the object where it took it ("move book
    1 to desk 1" at the bed) or go again where it stood (README).

    A thought without the destination let the model put the object back where it found it; one with the
    destination but not the verb ("Carrying pot 2 to fridge 1.") let it cool the pot at the fridge again
    and again after cooling it, and its bare "to" leaked into actions ("put tomato 1 to desk 1"). A
    pick-two rule ("Placed pot 2. Looking for another pot, not here." once the first is placed, against
    taking it back out) was tried and dropped: the warmed-up model wrote it in other tasks too (clean and
    heat: 8 of 10 held-out episodes) and won none of those (README).

    Why this wording: the decision (take it, or search on) falls on the token right after the object
    name, where a copy from the prompt decides it: a model that has just written "book" continues with
    " 1" when "book 1" is in the observation. The bundled SmolLM2-135M, untrained, separates take states
    from states with other objects in view by P(" " after "Looking for book") at AUC 0.999, while the
    take-vs-go logit separates them at 0.74, and at 0.72 after a warm start without thoughts
    (`python benchmarks/take_decision.py --episodes 20 --models ...`, 24 take and 64 go states).
    """
    noisy = noisy or [False] * len(actions)
    wanted = goal_object(goal) if goal else None
    thoughts: list[str | None] = []
    carrying = standing = None
    for t, action in enumerate(actions):
        sought, target = _next_step(actions[t:], noisy[t:])
        kind_done = _kind_change(standing, action) if kind_change else ""
        if sought:
            here = action == sought.string
            thoughts.append(f"Looking for {sought.group(2)} {sought.group(3)}, here it is." if here
                            else f"Looking for {sought.group(2)}, not here." + kind_done)
        elif carrying and target:
            there = (", here it is." if standing == target.group(3) else ", not here.") if arrival else "."
            thoughts.append(f"Carrying {carrying} to {target.group(1)} it {target.group(2)} {target.group(3)}{there}")
        elif carrying:
            thoughts.append(f"Carrying {carrying}.")
        elif wanted and action is not None and action.split(" ", 1)[0] in SEARCH_VERBS:
            thoughts.append(f"Looking for {wanted}, not here." + kind_done)
        else:
            thoughts.append(None)
        if action is not None and action.startswith("take "):
            carrying = _moved(action)
        elif action is not None and action.startswith(("put ", "move ")):  # household / ALFWorld's placing
            carrying = None
        if action is not None and action.startswith(MOVE_PREFIX):  # noisy moves too: the agent went there
            standing = action[len(MOVE_PREFIX):]
    return thoughts


def _kind_change(standing: str | None, action: str | None) -> str:
    """The sentence a search thought ends with where the search goes from number 1 of a kind to another
    kind (ALFWorld's searcher counts each kind down to 1, so number 1 is the last of it): " That was the
    last cabinet; next: coffeemachine 1." standing at "cabinet 1" for "go to coffeemachine 1"; else ""."""
    if standing is None or not standing.endswith(" 1") or action is None or not action.startswith(MOVE_PREFIX):
        return ""
    destination = action[len(MOVE_PREFIX):]
    return "" if kind(destination) == kind(standing) else f" That was the last {kind(standing)}; next: {destination}."


def _next_step(actions: list[str | None], noisy: list[bool]) -> tuple[re.Match | None, re.Match | None]:
    """(take/use match, put/move/treat match) of the first of `actions` that is not a search, skipping
    `None`, `noisy` turns and the moves that undo what a noisy take or put moved."""
    undone = set()  # objects a noisy take / put moved that the demonstrator has not moved back yet
    for later, skip in zip(actions, noisy):
        moved = _moved(later)
        if later is None:
            continue
        if skip:
            undone ^= {moved} - {None}
            continue
        if moved in undone:  # the repair of a noise is not the plan either
            undone.discard(moved)
            continue
        sought, target = _SOUGHT.match(later), _TARGET.match(later)
        if sought or target or later.split(" ", 1)[0] not in SEARCH_VERBS:
            return sought, target
    return None, None


def _moved(action: str | None) -> str | None:
    """The object a take, put or move acts on ("book 1"), else None."""
    if action is None or not action.startswith(("take ", "put ", "move ")):
        return None
    return " ".join(action.split()[1:3])


class DemoAgent(ModelAgent):
    """An `Agent` that encodes like `ModelAgent` (its `encode` is inherited) and answers with the expert.

    Episodes whose task id is in `skills_tasks` are rendered with the `privileged` renderer (message, task)
    -> messages. `noisy` records, per task id, one flag per turn in turn order. A noisy turn plays a
    random other admissible action, or, with probability `repeat_share` where the previous action is no
    longer admissible, that action again: invalid, so the environment is not stepped and the next prompt
    shows "Nothing happens.". Apart from that noise, a turn where a `tempting_actions` one is admissible
    (and not the expert's) plays it with probability `tempt`, and a turn whose expert action is a "go to"
    plays one of the `stray_moves` from where the agent stands with probability `stray` (invalid too);
    both are flagged noisy. With `look_after_invalid`, the turn after an invalid one plays "look" where it is
    offered (ALFWorld and household answer "You are facing the cabinet 2. ..."): a model that loops pushes
    where it stands out of the history window, and "look" brings it back without any memory. `wrong`
    records, per task id and turn, the `wrong_moves` from where the agent stands: the invalid moves a
    model writes instead; `back`, the admissible actions that go back on the one played before (`backtracks`).
    """

    def __init__(self, tokenizer, *, thinking: bool, noise: float, rng: random.Random,
                 skills_tasks: set[int] = frozenset(), privileged=None, repeat_share: float = 0.0,
                 tempt: float = 0.0, stray: float = 0.0, look_after_invalid: bool = False):
        super().__init__(None, tokenizer, temperature=0.0, max_new_tokens=0, prompt_messages=self._messages)
        self.thinking, self.noise, self.rng, self.repeat_share = thinking, noise, rng, repeat_share
        self.tempt, self.stray, self.look_after_invalid = tempt, stray, look_after_invalid
        self.skills_tasks, self.privileged = skills_tasks, privileged
        self.noisy: dict[int, list[bool]] = defaultdict(list)
        self.last: dict[int, str] = {}  # per task id, the action played last
        self.here: dict[int, str] = {}  # per task id, where the last valid "go to" went
        self.wrong: dict[int, list[list[str]]] = defaultdict(list)
        self.back: dict[int, list[list[str]]] = defaultdict(list)

    def _messages(self, user_message: str, task: Task) -> list[dict[str, str]]:
        if id(task) in self.skills_tasks:
            return self.privileged(user_message, task)
        return student_messages(user_message)

    def act(self, prompts, observations, envs):
        replies = []
        for obs, env in zip(observations, envs):
            action = env.demo_action()
            if self.look_after_invalid and obs.text == NOTHING_HAPPENS and LOOK in obs.admissible_actions:
                action = LOOK
            others = [a for a in obs.admissible_actions if a != action]
            tempting = tempting_actions(others, env.task.goal) if self.tempt > 0 else []
            tempted = bool(tempting) and self.rng.random() < self.tempt
            strays = (stray_moves(self.here.get(id(env.task)), obs.admissible_actions)
                      if self.stray > 0 and not tempted and action.startswith(MOVE_PREFIX) else [])
            strayed = bool(strays) and self.rng.random() < self.stray
            noisy = tempted or strayed or (bool(others) and self.rng.random() < self.noise)
            if tempted:
                action = self.rng.choice(tempting)
            elif strayed:
                action = self.rng.choice(strays)
            elif noisy:
                last = self.last.get(id(env.task))
                repeat = (self.repeat_share > 0 and last is not None and last not in obs.admissible_actions
                          and self.rng.random() < self.repeat_share)
                action = last if repeat else self.rng.choice(others)
            self.noisy[id(env.task)].append(noisy)
            self.wrong[id(env.task)].append(wrong_moves(self.here.get(id(env.task)), action, obs.admissible_actions))
            self.back[id(env.task)].append(backtracks(self.last.get(id(env.task)), action, obs.admissible_actions))
            self.last[id(env.task)] = action
            if action.startswith(MOVE_PREFIX) and action in obs.admissible_actions:
                self.here[id(env.task)] = action[len(MOVE_PREFIX):]
            text = response_text(action, env.task.goal, thinking=self.thinking)
            replies.append((self.tokenizer(text, add_special_tokens=False)["input_ids"], text))
        return replies


def expert_demonstrations(spec: EnvSpec, tokenizer, *, episodes: int, seed: int, max_turns: int, history: int,
                          thinking: bool, noise: float = 0.0, skills_share: float = 0.0, split: str = "train",
                          context: str = "skills_by_type", context_tokens: int = 512,
                          max_prompt_tokens: int = 2048, keep_noisy: bool = False,
                          repeat_share: float = 0.0, tempt: float = 0.0, stray: float = 0.0,
                          look_after_invalid: bool = False, kind_change: bool = False, arrival: bool = False,
                          negatives: bool = False, backtrack: bool = False) -> list[Demo]:
    """One `Demo` per expert turn of `episodes` tasks of `split` (task i: index seed·SEED_STRIDE + i).

    `skills_share` of the episodes (rounded, picked at random) carry the `context` provider's block in
    the prompt (`context_tokens` budget); each turn plays a random other admissible action instead of the
    expert's with probability `noise`; `repeat_share` of those repeat the previous action instead where
    it is no longer admissible (an invalid turn, as a model stuck in a loop writes: "go to fridge 1" at
    fridge 1), so the next expert turn shows how to recover from "Nothing happens."; with probability
    `tempt` a turn plays a `tempting_actions` one where there is one (also noisy), and with probability
    `stray` a search turn plays one of the `stray_moves` (invalid, noisy); `look_after_invalid`: the turn
    after an invalid one looks (`DemoAgent`); `kind_change`: thinking demos' search thoughts say where a
    kind is done and `arrival` their carrying thoughts whether it stands at the receptacle
    (`search_thoughts`); `negatives`: each turn's `Demo.negatives` marks where the
    `wrong_moves` from its state, written with the same thought, leave its response, and with `backtrack`
    the `backtracks` from the one before, each with the thought that would lead to it. `max_prompt_tokens`
    is the rollout's student prompt budget (history dropped oldest first above it). Noisy turns are left
    out unless `keep_noisy`, and so are turns the prompt format rejects. Deterministic in `seed`.
    """
    indices = [(seed * SEED_STRIDE + i) % spec.eval_seed_offset for i in range(episodes)]
    tasks = [spec.make_task(spec.task_seed(split, k)) for k in indices]
    rng = random.Random(f"sdar-sft/{seed}")
    skills_tasks = {id(t) for t in rng.sample(tasks, round(skills_share * episodes))}
    privileged = privileged_renderer(tokenizer, get_provider(context), budget=context_tokens)
    agent = DemoAgent(tokenizer, thinking=thinking, noise=noise, rng=rng, skills_tasks=skills_tasks,
                      privileged=privileged, repeat_share=repeat_share, tempt=tempt, stray=stray,
                      look_after_invalid=look_after_invalid)
    trajectories = run_episodes(agent, tasks, list(range(episodes)), spec, max_turns=max_turns, history=history,
                                thinking=thinking, max_prompt_tokens=max_prompt_tokens)
    return [demo for traj in trajectories
            for demo in _trajectory_demos(traj, agent.noisy[id(traj.task)], agent.wrong[id(traj.task)],
                                          agent.back[id(traj.task)] if backtrack else None, tokenizer,
                                          with_skills=id(traj.task) in skills_tasks, thinking=thinking,
                                          keep_noisy=keep_noisy, kind_change=kind_change, arrival=arrival,
                                          negatives=negatives)]


def _trajectory_demos(traj: Trajectory, flags: list[bool], wrong: list[list[str]], back: list[list[str]] | None,
                      tokenizer, *, with_skills: bool, thinking: bool, keep_noisy: bool, kind_change: bool,
                      arrival: bool, negatives: bool) -> list[Demo]:
    """`expert_demonstrations`' demos of one played episode: `flags` marks its noisy turns, `wrong` lists
    each turn's `wrong_moves`, `back` (None: left out) its `backtracks`."""
    actions = [t.action if t.valid else None for t in traj.turns]
    thoughts = search_thoughts(actions, flags, traj.task.goal, kind_change=kind_change, arrival=arrival)
    demos = []
    standing = None  # where the last valid move went (noisy ones move the agent too)
    for t, (turn, noisy, thought) in enumerate(zip(traj.turns, flags, thoughts)):
        if not turn.valid:  # it would teach an invalid answer
            continue
        leaves_kind = bool(_kind_change(standing, turn.action))
        if turn.action.startswith(MOVE_PREFIX):
            standing = turn.action[len(MOVE_PREFIX):]
        if noisy and not keep_noisy:
            continue
        text, ids = turn.response_text, turn.response_ids
        if thinking and thought is not None and not noisy:  # the history shows actions only: prompts stay as run
            text = response_text(turn.action, traj.task.goal, thinking=True, thought=thought)
            ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        written = [(m, thought) for m in wrong[t]] + [  # a backtrack with the thought that leads to it
            (u, search_thoughts(actions[:t] + [u], flags[:t] + [False], traj.task.goal, kind_change=kind_change,
                                arrival=arrival)[-1]) for u in (back[t] if back else [])] if negatives else []
        written_ids = [tokenizer(response_text(m, traj.task.goal, thinking=thinking, thought=why),
                                 add_special_tokens=False)["input_ids"] for m, why in written]
        demos.append(Demo(traj.task, turn.turn_index, turn.prompt, turn.prompt_ids, ids, text,
                          turn.action or "", noisy, with_skills, traj.won,
                          leaves_kind=leaves_kind, negatives=first_divergences(ids, written_ids)))
    return demos


def is_move(demo: Demo) -> bool:
    return demo.action.startswith(MOVE_PREFIX)


def thin_moves(demos: list[Demo], share: float, seed: int) -> list[Demo]:
    """The demos with only a random `share` of the moves (actions starting "go to ") kept, in order.

    Most turns of a search are moves (household: about 65%), while a task turns on a few rarer actions
    (take, open, heat, put) that a short run otherwise sees a handful of times; the dropped moves still
    shape the later prompts, they are just not imitated. Deterministic in `seed`."""
    rng = random.Random(f"sdar-sft-moves/{seed}")
    return [d for d in demos if not is_move(d) or rng.random() < share]


def demo_stats(demos: list[Demo]) -> dict:
    """Counts for the run record: episodes, won episodes, turns (the valid turns played: invalid ones, such
    as --stray's and --repeat-share's, are never kept), noisy turns among them, turns with skills, tokens."""
    episodes = {id(d.task): d.won for d in demos}
    return {
        "episodes": len(episodes),
        "episodes_won": sum(episodes.values()),
        "turns": len(demos),
        "noisy_turns": sum(d.noisy for d in demos),
        "skills_turns": sum(d.with_skills for d in demos),
        "prompt_tokens": sum(len(d.prompt_ids) for d in demos),
        "response_tokens": sum(len(d.response_ids) for d in demos),
    }
