"""Per-turn rewards: every turn of an episode gets its return, less the penalty on the invalid turns only."""

from sdar.envs.base import EnvSpec
from sdar.rollout.collect import run_episodes
from sdar.types import Observation, Task


class CounterEnv:
    """Won at the third "look" for seeds 0 and 1; seed 2 never wins."""

    def __init__(self, task):
        self.task, self.looks = task, 0

    def reset(self):
        return Observation("start", ("look", "wait"))

    def step(self, action):
        self.looks += action == "look"
        won = self.looks >= 3 and self.task.seed != 2
        return Observation("ok", ("look", "wait"), done=won, won=won)


class ScriptedAgent:
    """Writes an inadmissible action on the turns listed for its task's seed, else "look"."""

    def __init__(self, invalid_turns: dict[int, set[int]]):
        self.invalid_turns, self.turn = invalid_turns, {}

    def encode(self, user_message, task):
        return []

    def act(self, prompts, observations, envs):
        replies = []
        for env in envs:
            k = self.turn[env.task.seed] = self.turn.get(env.task.seed, -1) + 1
            bad = k in self.invalid_turns.get(env.task.seed, set())
            replies.append(([], "<action>fly away</action>" if bad else "<action>look</action>"))
        return replies


def test_each_turn_gets_the_return_less_its_own_invalid_penalty():
    spec = EnvSpec("counter", ("t",), lambda s: Task("counter", s, "t", "g"), CounterEnv, max_turns=6, history=2,
                   success_reward=10.0, invalid_penalty=0.25)
    tasks = [spec.make_task(s) for s in range(3)]
    won, clean, lost = run_episodes(ScriptedAgent({0: {1}, 2: {0, 4}}), tasks, [0, 0, 0], spec, max_turns=6,
                                    history=2, thinking=False)
    assert won.won and [t.valid for t in won.turns] == [True, False, True, True]
    assert [t.reward for t in won.turns] == [10.0, 9.75, 10.0, 10.0] and won.episode_return == 10.0
    assert clean.won and [t.reward for t in clean.turns] == [10.0, 10.0, 10.0]
    assert not lost.won and lost.episode_return == 0.0
    assert [t.reward for t in lost.turns] == [-0.25, 0.0, 0.0, 0.0, -0.25, 0.0]
