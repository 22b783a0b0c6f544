"""The shop environment: WebShop's task, page flow, actions and reward, on a generated catalogue or on
WebShop's own files.

Seven task types, the product categories (apparel, footwear, home_decor, electronics, accessories,
beauty_health, grocery). Training reward: `success_reward` (10) when WebShop's reward is 1.0, else 0;
0.1 per invalid action. Metrics: Score (mean WebShop reward × 100) and Acc (share of episodes with
reward 1.0), read from the done page (`score_of`). Uses the "shop" prompt format: the stock admissible
list plus free-text `search[...]`. This package knows nothing about models, prompts or training.
"""

from __future__ import annotations

from pathlib import Path

from sdar.envs.base import EnvSpec
from sdar.envs.shop.catalogue import (
    Catalogue,
    Goal,
    Product,
    generated_catalogue,
    generated_goal,
)
from sdar.envs.shop.env import (
    EVAL_SEED_OFFSET,
    ShopEnv,
    ShopEnvMaker,
    ShopTasks,
    expert_plan,
    score_of,
)
from sdar.envs.shop.vocab import CATEGORIES
from sdar.envs.shop.webshop_data import WebShopDataError, load_webshop
from sdar.types import Trajectory


def shop_spec(data_dir: str | None = None) -> EnvSpec:
    """The shop spec: the generated catalogue, or WebShop's files in `data_dir` (checked here, so a bad
    path fails at start-up with WebShopDataError, a FileNotFoundError)."""
    if data_dir is not None:
        data_dir = str(Path(data_dir).expanduser())
        load_webshop(data_dir)
    return EnvSpec(
        name="shop",
        task_types=CATEGORIES,
        make_task=ShopTasks(data_dir),
        make_env=ShopEnvMaker(data_dir),
        max_turns=15,
        history=2,
        success_reward=10.0,
        invalid_penalty=0.1,
        eval_seed_offset=EVAL_SEED_OFFSET,
        prompt_format="shop",
    )


def episode_score(traj: Trajectory) -> float:
    """WebShop's reward of an episode: the score on its done page, 0 if it never bought anything."""
    if not traj.turns:
        return 0.0
    score = score_of(traj.turns[-1].observation)
    return 0.0 if score is None else score


def shop_metrics(trajectories: list[Trajectory]) -> dict:
    """The paper's WebShop metrics: `score` = mean reward × 100, `acc` = share of episodes with reward 1
    (a fraction, like success_rate), and the score per category."""
    n = max(len(trajectories), 1)
    scores = [episode_score(t) for t in trajectories]
    by_type: dict[str, list[float]] = {}
    for traj, score in zip(trajectories, scores):
        by_type.setdefault(traj.task.task_type, []).append(score)
    return {"score": 100 * sum(scores) / n, "acc": sum(s == 1.0 for s in scores) / n,
            "score_per_type": {k: 100 * sum(v) / len(v) for k, v in sorted(by_type.items())}}


__all__ = [
    "CATEGORIES", "Catalogue", "Goal", "Product", "ShopEnv", "ShopEnvMaker", "ShopTasks", "WebShopDataError",
    "episode_score", "expert_plan", "generated_catalogue", "generated_goal", "load_webshop", "score_of",
    "shop_metrics", "shop_spec",
]
