"""Expert demonstrations in exactly the rollout's format.

The environment's demonstrator (`Env.demo_action`: for household a searching agent that decides from
what the prompt shows; the omniscient expert walks straight to hidden objects, and a model cloned from it
guesses a location, lands where the expert never goes and loops: 40 such episodes gave 65% valid actions
and 0% success) is played through `sdar.rollout.collect.run_episodes`, the loop the RL rollout uses, by an
agent whose `encode` *is* `ModelAgent.encode` (inherited): prompts come from the same renderer, the same
history window (including what the history shows after a noisy action) and the same chat template.

- Response: the expert's action as `<action>{action}</action>` (as `ExpertAgent` writes it; an expert
  that writes its own tags is taken as is), with thinking on a short templated `<think>…</think>`
  first; tokenized on its own, as a sampled response is appended to its prompt. No EOS follows: the
  rollout sampler stops at the prompt format's stop string ("</action>"), so a sampled response ends
  with the tokens that complete it and never holds an EOS; an EOS in the target would teach a token
  the rollout never samples.
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
from collections import defaultdict
from dataclasses import dataclass

from sdar.envs.base import EnvSpec
from sdar.rollout.collect import ModelAgent, run_episodes
from sdar.rollout.prompts import student_messages
from sdar.skills import get_provider
from sdar.teacher import privileged_renderer
from sdar.types import Task

# Task i of seed s has index s * SEED_STRIDE + i in its split: different seeds draw disjoint task blocks.
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


def response_text(action: str, goal: str, *, thinking: bool) -> str:
    """What the model should write for `action`: the rollout's tags, a one-line reasoning when thinking."""
    tagged = action if action.lstrip().startswith("<") else f"<action>{action}</action>"
    if not thinking:
        return tagged
    return f"<think>My task is to {goal.rstrip('.')}. The next step towards it is: {action}.</think>{tagged}"


class DemoAgent(ModelAgent):
    """An `Agent` that encodes like `ModelAgent` (its `encode` is inherited) and answers with the expert.

    Episodes whose task id is in `skills_tasks` are rendered with the `privileged` renderer (message, task)
    -> messages. `noisy` records, per task id, one flag per turn in turn order.
    """

    def __init__(self, tokenizer, *, thinking: bool, noise: float, rng: random.Random,
                 skills_tasks: set[int] = frozenset(), privileged=None):
        super().__init__(None, tokenizer, temperature=0.0, max_new_tokens=0, prompt_messages=self._messages)
        self.thinking, self.noise, self.rng = thinking, noise, rng
        self.skills_tasks, self.privileged = skills_tasks, privileged
        self.noisy: dict[int, list[bool]] = defaultdict(list)

    def _messages(self, user_message: str, task: Task) -> list[dict[str, str]]:
        if id(task) in self.skills_tasks:
            return self.privileged(user_message, task)
        return student_messages(user_message)

    def act(self, prompts, observations, envs):
        replies = []
        for obs, env in zip(observations, envs):
            action = env.demo_action()
            others = [a for a in obs.admissible_actions if a != action]
            noisy = bool(others) and self.rng.random() < self.noise
            if noisy:
                action = self.rng.choice(others)
            self.noisy[id(env.task)].append(noisy)
            text = response_text(action, env.task.goal, thinking=self.thinking)
            replies.append((self.tokenizer(text, add_special_tokens=False)["input_ids"], text))
        return replies


def expert_demonstrations(spec: EnvSpec, tokenizer, *, episodes: int, seed: int, max_turns: int, history: int,
                          thinking: bool, noise: float = 0.0, skills_share: float = 0.0, split: str = "train",
                          context: str = "skills_by_type", context_tokens: int = 512,
                          max_prompt_tokens: int = 2048, keep_noisy: bool = False) -> list[Demo]:
    """One `Demo` per expert turn of `episodes` tasks of `split` (task i: index seed·SEED_STRIDE + i).

    `skills_share` of the episodes (rounded, picked at random) carry the `context` provider's block in
    the prompt (`context_tokens` budget); each turn plays a random other admissible action instead of the
    expert's with probability `noise`. `max_prompt_tokens` is the rollout's student prompt budget (history
    dropped oldest first above it). Noisy turns are left out unless `keep_noisy`, and so are turns the
    prompt format rejects. Deterministic in `seed`.
    """
    indices = [(seed * SEED_STRIDE + i) % spec.eval_seed_offset for i in range(episodes)]
    tasks = [spec.make_task(spec.task_seed(split, k)) for k in indices]
    rng = random.Random(f"sdar-sft/{seed}")
    skills_tasks = {id(t) for t in rng.sample(tasks, round(skills_share * episodes))}
    privileged = privileged_renderer(tokenizer, get_provider(context), budget=context_tokens)
    agent = DemoAgent(tokenizer, thinking=thinking, noise=noise, rng=rng, skills_tasks=skills_tasks,
                      privileged=privileged)
    trajectories = run_episodes(agent, tasks, list(range(episodes)), spec, max_turns=max_turns, history=history,
                                thinking=thinking, max_prompt_tokens=max_prompt_tokens)
    demos = []
    for traj in trajectories:
        for turn, noisy in zip(traj.turns, agent.noisy[id(traj.task)]):
            if not turn.valid or (noisy and not keep_noisy):  # invalid: it would teach an invalid answer
                continue
            demos.append(Demo(traj.task, turn.turn_index, turn.prompt, turn.prompt_ids, turn.response_ids,
                              turn.response_text, turn.action or "", noisy, id(traj.task) in skills_tasks,
                              traj.won))
    return demos


MOVE_PREFIX = "go to "


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
    """Counts for the run record: episodes, won episodes, turns, noisy turns, turns with skills, tokens."""
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
