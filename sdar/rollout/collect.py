"""The multi-turn rollout loop, written once for every agent: all episodes of a step advance together,
one batched `act` call per turn.

Each turn becomes a `Turn` sample (the reference's step-independent samples). A response that names no
admissible action is an invalid action: the environment does not advance ("Nothing happens.") and the
turn's reward carries the penalty. An environment that raises ends its episode as failed and the rest go
on; with environments in worker processes (`sdar.envs.workers`), a hung one times out the same way and
all of them step concurrently. Agents are the only part that knows about models; this loop knows about
neither models nor losses.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

from sdar.envs.base import EnvSpec
from sdar.envs.workers import ProcessEnv
from sdar.rollout.prompts import get_format, student_messages
from sdar.rollout.backend import GenerationBackend, HFBackend
from sdar.types import Observation, Task, Trajectory, Turn

NOTHING_HAPPENS = "Nothing happens."


class Agent(Protocol):
    def encode(self, user_message: str, task: Task) -> list[int]:
        """Prompt token ids for a student user message ([] for agents without a tokenizer)."""
        ...

    def act(self, prompts: list[list[int]], observations: list[Observation], envs: list) -> list[tuple[list[int], str]]:
        """One (response_ids, response_text) per active episode; an exception in place of the text ends
        that episode as failed (a scripted agent whose environment could not answer it)."""
        ...


class ModelAgent:
    """Samples from a causal LM through its chat template.

    `prompt_messages` renders a user message (and its task) into chat messages; the default is the
    student's. Evaluation with skills passes the teacher's renderer instead. Generation goes through a
    `GenerationBackend` (default: `HFBackend` on `model`).
    """

    def __init__(self, model, tokenizer, *, temperature: float, max_new_tokens: int, generator=None,
                 amp_dtype=None, stop_strings: tuple[str, ...] = ("</action>",), prompt_messages=None,
                 backend: GenerationBackend | None = None):
        self.tokenizer = tokenizer
        self.temperature, self.max_new_tokens, self.stop_strings = temperature, max_new_tokens, stop_strings
        self.backend = backend or HFBackend(model, tokenizer, generator=generator, amp_dtype=amp_dtype)
        self.prompt_messages = prompt_messages or (lambda message, task: student_messages(message))
        self.generate_seconds, self.generated_tokens = 0.0, 0  # running totals, for throughput reports

    @property
    def generator(self):
        return getattr(self.backend, "generator", None)

    def encode(self, user_message: str, task: Task) -> list[int]:
        return encode_chat(self.tokenizer, self.prompt_messages(user_message, task))

    def act(self, prompts, observations, envs):
        start = time.perf_counter()
        responses = self.backend.generate(prompts, max_new_tokens=self.max_new_tokens,
                                          temperature=self.temperature, stop_strings=self.stop_strings)
        self.generate_seconds += time.perf_counter() - start
        self.generated_tokens += sum(len(r) for r in responses)
        return [(ids, self.tokenizer.decode(ids, skip_special_tokens=True)) for ids in responses]


class ExpertAgent:
    """Plays the environment's own expert (`demo=True`: its warm-start demonstrator); for checking that
    tasks are solvable and what a warm start imitates."""

    def __init__(self, demo: bool = False, thinking: bool = False):
        self.demo, self.thinking = demo, thinking

    def encode(self, user_message: str, task: Task) -> list[int]:
        return []

    def act(self, prompts, observations, envs):
        return [([], self._reply(env)) for env in envs]

    def _reply(self, env) -> str | Exception:
        """The response for the expert's action, or the fault of an environment that cannot say it (a
        killed worker's game), which `run_episodes` ends as failed."""
        try:
            return _as_response(env.demo_action() if self.demo else env.expert_action(), self.thinking)
        except Exception as err:  # noqa: BLE001 - an environment fault ends its episode, not the run
            return err


class RandomAgent:
    """Picks a uniformly random admissible action."""

    def __init__(self, seed: int, thinking: bool = False):
        self.rng = random.Random(seed)
        self.thinking = thinking

    def encode(self, user_message: str, task: Task) -> list[int]:
        return []

    def act(self, prompts, observations, envs):
        return [([], _think_first(f"<action>{self.rng.choice(obs.admissible_actions)}</action>", self.thinking))
                for obs in observations]


def _as_response(action: str, thinking: bool = False) -> str:
    """The text a model would write for `action`: wrapped in <action> tags unless the environment's
    expert already writes its own tags (e.g. <search>...</search>), after an empty <think></think> when
    the prompt asks for thinking (which the parser requires)."""
    return _think_first(action if action.lstrip().startswith("<") else f"<action>{action}</action>", thinking)


def _think_first(tagged: str, thinking: bool) -> str:
    """`tagged` after the empty <think></think> a thinking prompt's parser requires, when thinking."""
    return f"<think></think>{tagged}" if thinking else tagged


def encode_chat(tokenizer, messages: list[dict[str, str]]) -> list[int]:
    # Qwen3's template thinks natively unless told not to; the paper runs it with thinking off (the
    # <think> of --rollout.thinking is the prompt's own format). Templates without the switch ignore it.
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True, enable_thinking=False)
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def run_episodes(agent: Agent, tasks: list[Task], group_ids: list[int], spec: EnvSpec, *, max_turns: int,
                 history: int, thinking: bool, max_prompt_tokens: int = 1 << 30,
                 on_turn: Callable[[int, int], None] | None = None) -> list[Trajectory]:
    """Play one episode per task, all in lock-step; returns the trajectories in task order.
    `on_turn(turn, playing)`, if given, is called before each turn with the number of episodes still on."""
    fmt = get_format(spec.prompt_format)
    envs = [spec.make_env(task) for task in tasks]
    trajs = [Trajectory(task=task, group_id=g) for task, g in zip(tasks, group_ids)]
    # Environments in worker processes are stepped concurrently, so one slow game does not serialise a turn.
    threads = ThreadPoolExecutor(len(envs)) if envs and isinstance(envs[0], ProcessEnv) else None
    call = threads.map if threads else map
    try:
        obs = list(call(lambda k: _safe(trajs[k], envs[k].reset), range(len(envs))))
        past: list[list[tuple[str, str]]] = [[] for _ in tasks]
        for turn in range(max_turns):
            active = [i for i, o in enumerate(obs) if o is not None and not o.done]
            if on_turn is not None:
                on_turn(turn, len(active))
            if not active:
                break
            rendered = [_fit_prompt(agent, fmt, trajs[i].task, turn, past[i], obs[i], history, thinking,
                                    max_prompt_tokens) for i in active]
            replies = agent.act([ids for _, ids in rendered], [obs[i] for i in active], [envs[i] for i in active])
            for i, (_, text) in zip(active, replies):
                if isinstance(text, Exception):  # a scripted agent could not ask its environment (`_safe`)
                    trajs[i].failed, obs[i] = f"{type(text).__name__}: {text}", None
            kept = [k for k, (_, text) in enumerate(replies) if not isinstance(text, Exception)]
            active, rendered, replies = ([xs[k] for k in kept] for xs in (active, rendered, replies))
            actions = [fmt.parse(text, obs[i].admissible_actions, thinking=thinking)
                       for i, (_, text) in zip(active, replies)]
            stepped = list(call(lambda k: _step(trajs[active[k]], envs[active[k]], actions[k], obs[active[k]]),
                                range(len(active))))
            for i, (message, prompt_ids), (response_ids, text), action, new in zip(
                    active, rendered, replies, actions, stepped):
                shown = NOTHING_HAPPENS if action is None else (new.text if new else "")
                trajs[i].turns.append(Turn(turn, message, prompt_ids, response_ids, text, action,
                                           action is not None, shown))
                past[i].append((obs[i].text, action or _written_action(text)))
                obs[i] = new
    finally:
        if threads:
            threads.shutdown()
        _close(envs)
    _score(trajs, obs, spec)
    return trajs


def _close(envs: list) -> None:
    for env in envs:
        close = getattr(env, "close", None)
        if callable(close):
            close()


def _score(trajs: list[Trajectory], last: list[Observation | None], spec: EnvSpec) -> None:
    """Outcome from each episode's last observation (None: it failed); each turn's reward is the episode's
    return less the invalid-action penalty on an invalid turn."""
    for traj, o in zip(trajs, last):
        traj.won = bool(o is not None and o.won)
        traj.episode_return = spec.success_reward if traj.won else 0.0
        for t in traj.turns:
            t.reward = traj.episode_return - (0.0 if t.valid else spec.invalid_penalty)


def _step(traj: Trajectory, env, action: str | None, obs: Observation) -> Observation | None:
    """An invalid action leaves the environment where it was; a valid one steps it (faults end the episode)."""
    if action is None:
        return Observation(NOTHING_HAPPENS, obs.admissible_actions)
    return _safe(traj, lambda: env.step(action))


def _fit_prompt(agent, fmt, task, turn, past, obs, history, thinking, budget) -> tuple[str, list[int]]:
    """Render with the history window, dropping the oldest entries while over the token budget."""
    window = past[-history:] if history > 0 else []
    while True:
        message = fmt.render(task.goal, turn, window, obs.text, obs.admissible_actions, thinking=thinking)
        ids = agent.encode(message, task)
        if len(ids) <= budget or not window:
            return message, ids
        window = window[1:]


def _written_action(text: str) -> str:
    """What the model wrote as its action, for the history line of an invalid turn."""
    found = re.search(r"<(?:action|search|answer)>(.*?)</(?:action|search|answer)>", text, re.DOTALL | re.IGNORECASE)
    return " ".join((found.group(1) if found else text).split())[:80]


def _safe(traj: Trajectory, call) -> Observation | None:
    """Run an environment call; an exception ends the episode as failed instead of the run."""
    try:
        return call()
    except Exception as err:  # noqa: BLE001 - any environment fault must not kill the run
        traj.failed = f"{type(err).__name__}: {err}"
        return None
