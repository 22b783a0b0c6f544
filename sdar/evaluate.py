"""Evaluation: play held-out tasks with an agent and report success overall and per task type.

Held-out tasks are the first N of the environment's eval seed range, so every evaluation of every run
sees the same tasks (`skip` K: the N after the first K, to extend an earlier evaluation or split one
across machines); `seed` only drives sampling and the random policy. The overall rate is over all
episodes, not the mean of the per-type rates. Skills reach the agent only when asked (`with_skills`).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable

from tqdm.auto import tqdm

from sdar.envs.base import EnvSpec
from sdar.rollout.collect import run_episodes
from sdar.types import Trajectory


def eval_tasks(spec: EnvSpec, episodes: int, skip: int = 0):
    return [spec.make_task(spec.task_seed("eval", i)) for i in range(skip, skip + episodes)]


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a success rate (95% for z = 1.96): with 30 episodes one win moves the
    rate by 0.033, and 3 wins in 30 is compatible with anything from about 3% to 26%."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def summarize(trajectories: list[Trajectory], task_types: tuple[str, ...]) -> dict:
    """success_rate with its 95% Wilson interval, per_type (None where a type had no episode),
    valid_action_rate, mean_turns, failed."""
    by_type: dict[str, list[bool]] = defaultdict(list)
    for traj in trajectories:
        by_type[traj.task.task_type].append(traj.won)
    turns = [t for traj in trajectories for t in traj.turns]
    wins, n = sum(traj.won for traj in trajectories), max(len(trajectories), 1)
    return {
        "episodes": len(trajectories),
        "success_rate": wins / n,
        "success_ci95": list(wilson_interval(wins, len(trajectories))),
        "per_type": {k: (sum(by_type[k]) / len(by_type[k]) if by_type[k] else None) for k in task_types},
        "valid_action_rate": sum(t.valid for t in turns) / max(len(turns), 1),
        "mean_turns": len(turns) / n,
        "failed_episodes": sum(traj.failed is not None for traj in trajectories),
    }


def env_metrics(env: str, trajectories: list[Trajectory], task_types: tuple[str, ...]) -> dict:
    """The paper's own metrics where an environment has them: shop Score/Acc, search_qa per-kind EM and mean."""
    if env == "shop":
        from sdar.envs.shop import shop_metrics

        return shop_metrics(trajectories)
    if env == "search_qa":
        from sdar.envs.search_qa import search_qa_metrics

        return search_qa_metrics(trajectories, task_types)
    return {}


def evaluate(agent, spec: EnvSpec, *, episodes: int, max_turns: int, history: int, thinking: bool,
             max_prompt_tokens: int = 1 << 30, batch_size: int = 32, skip: int = 0, progress: bool = False,
             on_batch: Callable[[int, list[Trajectory]], None] | None = None) -> tuple[dict, list[Trajectory]]:
    """Play `episodes` held-out tasks after the first `skip`, `batch_size` at a time; returns (summary,
    trajectories). Prompts over `max_prompt_tokens` lose their oldest history, as in training
    (`run_episodes`). `progress`: a bar of finished episodes, with the turn the current batch is on.
    `on_batch(first, trajectories)`, if given, gets each batch as it finishes, with the held-out index of
    its first episode (so a caller can save them before the next batch starts)."""
    tasks = eval_tasks(spec, episodes, skip)
    trajectories: list[Trajectory] = []
    with tqdm(total=len(tasks), desc="sdar eval", unit="episode", disable=not progress) as bar:
        for start in range(0, len(tasks), batch_size):
            chunk = tasks[start:start + batch_size]

            def on_turn(turn: int, playing: int, start=start, size=len(chunk)) -> None:
                bar.update(start + size - playing - bar.n)
                bar.set_postfix(turn=f"{turn + 1}/{max_turns}")  # the turn about to be played

            batch = run_episodes(agent, chunk, list(range(skip + start, skip + start + len(chunk))), spec,
                                 max_turns=max_turns, history=history, thinking=thinking,
                                 max_prompt_tokens=max_prompt_tokens, on_turn=on_turn)
            trajectories += batch
            bar.update(len(trajectories) - bar.n)
            if on_batch is not None:
                on_batch(skip + start, batch)
    summary = summarize(trajectories, spec.task_types)
    summary.update(env_metrics(spec.name, trajectories, spec.task_types))
    return summary, trajectories


def turn_records(trajectories: list[Trajectory], first: int = 0) -> list[dict]:
    """One JSON-ready record per turn (`sdar eval --trajectories`), with the keys of a run's samples.jsonl
    that an evaluation has: episode, task type, goal, outcome, the prompt's user message, the response,
    the parsed action (null: unparsable or not admissible), whether it was valid, and what the
    environment answered. Episodes are numbered from `first`."""
    return [{"trajectory": first + k, "task_type": traj.task.task_type, "goal": traj.task.goal, "won": traj.won,
             "turn": t.turn_index, "prompt": t.prompt, "response": t.response_text, "action": t.action,
             "valid": t.valid, "observation": t.observation}
            for k, traj in enumerate(trajectories) for t in traj.turns]


def format_table(summary: dict) -> str:
    """A one-row table in the paper's Table 1 style: per-type columns, then All; under it, the interval."""
    names = list(summary["per_type"])
    head = " | ".join(names + ["All", "valid"])
    cells = [("-" if summary["per_type"][k] is None else f"{100 * summary['per_type'][k]:.1f}") for k in names]
    cells += [f"{100 * summary['success_rate']:.1f}", f"{100 * summary['valid_action_rate']:.1f}"]
    lo, hi = summary["success_ci95"]
    return (f"{head}\n{' | '.join(cells)}\n"
            f"(All: 95% interval {100 * lo:.1f}-{100 * hi:.1f} over {summary['episodes']} episodes)")
