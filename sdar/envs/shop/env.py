"""The shop environment bound to one task: WebShop's page flow and actions, the expert, task creation.

Pages and their actions, as WebShop's text environment:
- search:  `search[<query>]` (the admissible list shows `search[<your query>]`: the query is free text);
- results: `click[back to search]`, `click[< prev]`, `click[next >]`, `click[<asin>]` (10 a page, at most 50
  results, BM25 over title, description, features and options);
- item:    `click[back to search]`, `click[< prev]` (back to the results), `click[<option value>]`,
  `click[buy now]`; the page shows the options, the price, the description and the features.
Buying ends the episode with WebShop's reward (`reward.py`); the done page prints it as WebShop's does
("Your score (min 0.0, max 1.0): 0.6667"), which is how the score leaves the environment (`score_of`);
it is also kept in `last_score`. Knows nothing about prompts, models or training rewards.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from sdar.envs.shop.catalogue import (
    Catalogue,
    Goal,
    Product,
    generated_catalogue,
    generated_goal,
)
from sdar.envs.shop.reward import option_match, webshop_reward
from sdar.types import Observation, Task

ENV_NAME = "shop"
EVAL_SEED_OFFSET = 1_000_000
SEARCH_SLOT = "search[<your query>]"
BACK, PREV, NEXT, BUY = "back to search", "< prev", "next >", "buy now"
PAGE_SIZE, RESULTS_LIMIT = 10, 50
PLAN_LIMIT = 15
_SCORE = re.compile(r"Your score \(min 0\.0, max 1\.0\): ([0-9.]+)")
_SEARCH = re.compile(r"search\[(.*)\]", re.DOTALL | re.IGNORECASE)
_CLICK = re.compile(r"click\[(.*)\]", re.DOTALL | re.IGNORECASE)


def score_of(text: str) -> float | None:
    """The reward printed on a done page, or None for any other page."""
    found = _SCORE.search(text)
    return float(found.group(1)) if found else None


@functools.lru_cache(maxsize=4)
def get_catalogue(data_dir: str | None) -> Catalogue:
    if data_dir is None:
        return generated_catalogue()
    from sdar.envs.shop.webshop_data import load_webshop

    return load_webshop(data_dir)


def goal_for(data_dir: str | None, seed: int, eval_seed_offset: int = EVAL_SEED_OFFSET) -> Goal:
    """A seed's goal: generated from the seed, or WebShop's goals (train seeds index the train goals,
    seeds from the offset the eval goals, modulo their number)."""
    if seed < 0:
        raise ValueError(f"task seeds are >= 0, got {seed}")
    catalogue = get_catalogue(data_dir)
    if data_dir is None:
        return generated_goal(catalogue, seed)
    is_eval = seed >= eval_seed_offset
    goals = catalogue.eval_goals if is_eval else catalogue.train_goals
    return goals[(seed - eval_seed_offset if is_eval else seed) % len(goals)]


def best_options(product: Product, goal: Goal) -> dict[str, str]:
    """For each option of the product, the value matching a goal option (if one does)."""
    chosen = {}
    for name, values in product.options:
        match = next((v for v in values if any(option_match(v, g) for g in goal.options)), None)
        if match is not None:
            chosen[name] = match
    return chosen


class ShopEnv:
    """One shopping task. Call `reset()` before `step()`."""

    def __init__(self, task: Task, data_dir: str | None = None) -> None:
        if task.env != ENV_NAME:
            raise ValueError(f"ShopEnv got a task for env {task.env!r}")
        self.task = task
        self.catalogue = get_catalogue(data_dir)
        self.goal = goal_for(data_dir, task.seed)
        self.last_score: float | None = None
        self.reset()

    # ----- the Env protocol -------------------------------------------------------------------------
    def reset(self) -> Observation:
        self.page, self.results, self.page_no = "search", [], 1
        self.item: Product | None = None
        self.selected: dict[str, str] = {}
        self.searches, self.last_score = 0, None
        return self._observe()

    def step(self, action: str) -> Observation:
        """Apply an action; one that the current page does not offer leaves the page as it is."""
        if self.page == "done":
            raise RuntimeError("the episode is over; call reset()")
        action = " ".join(action.split())
        found = _SEARCH.fullmatch(action)
        if found and self.page == "search" and found.group(1).strip():
            self._search(found.group(1).strip().lower())
        elif (found := _CLICK.fullmatch(action)) and f"click[{found.group(1).lower()}]" in self._clickables():
            self._click(found.group(1).lower())
        return self._observe()

    def demo_action(self) -> str:
        """The expert: it acts on the pages it sees."""
        return self.expert_action()

    def expert_action(self) -> str:
        """Search with the instruction's type and attributes; open the first listed product whose reward
        can be 1 (or the target), paging on; fall back to searching the target's title; choose the
        matching options; buy."""
        if self.page == "search":
            query = f"{' '.join(self.goal.attributes)} {self.goal.query}" if self.searches == 0 else self.goal.name
            return f"search[{query.lower()}]"
        if self.page == "results":
            for asin in self._page_items():
                if self._acceptable(self.catalogue.by_asin[asin]):
                    return f"click[{asin.lower()}]"
            last_page = (len(self.results) - 1) // PAGE_SIZE + 1
            return f"click[{NEXT}]" if self.page_no < last_page else f"click[{BACK}]"
        if not self._acceptable(self.item):
            return f"click[{PREV}]"
        for name, value in best_options(self.item, self.goal).items():
            if self.selected.get(name) != value:
                return f"click[{value}]"
        return f"click[{BUY}]"

    # ----- pages ------------------------------------------------------------------------------------
    def _search(self, query: str) -> None:
        self.searches += 1
        self.results = [p.id for p in self.catalogue.index.search(query, RESULTS_LIMIT)]
        self.page, self.page_no = "results", 1

    def _click(self, what: str) -> None:
        if what == BACK:
            self.page, self.item, self.selected = "search", None, {}
        elif what == NEXT:
            self.page_no += 1
        elif what == PREV and self.page == "results":
            self.page_no -= 1
        elif what == PREV:
            self.page, self.item, self.selected = "results", None, {}
        elif what == BUY:
            self.last_score = webshop_reward(self.item, self.goal, self.selected, self.catalogue.ignore_words)
            self.page = "done"
        elif self.page == "results":
            self.item = self.catalogue.by_asin[next(a for a in self._page_items() if a.lower() == what)]
            self.page, self.selected = "item", {}
        else:
            self.selected[next(n for n, values in self.item.options if what in values)] = what

    def _page_items(self) -> list[str]:
        return self.results[(self.page_no - 1) * PAGE_SIZE:self.page_no * PAGE_SIZE]

    def _clickables(self) -> list[str]:
        if self.page == "results":
            nav = [BACK] + ([PREV] if self.page_no > 1 else []) + (
                [NEXT] if self.page_no * PAGE_SIZE < len(self.results) else [])
            return [f"click[{c}]" for c in nav + [a.lower() for a in self._page_items()]]
        if self.page == "item":
            values = list(dict.fromkeys(v for _, vs in self.item.options for v in vs))
            return [f"click[{c}]" for c in [BACK, PREV] + values + [BUY]]
        return []

    def _observe(self) -> Observation:
        if self.page == "done":
            won = self.last_score == 1.0
            return Observation(self._done_text(), (), done=True, won=won)
        admissible = (SEARCH_SLOT,) if self.page == "search" else tuple(self._clickables())
        return Observation(self._text(), admissible)

    def _text(self) -> str:
        if self.page == "search":
            return "WebShop [SEP] Search"
        if self.page == "results":
            parts = ["Back to Search", f"Page {self.page_no} (Total results: {len(self.results)})"]
            parts += (["< Prev"] if self.page_no > 1 else []) + (
                ["Next >"] if self.page_no * PAGE_SIZE < len(self.results) else [])
            for asin in self._page_items():
                p = self.catalogue.by_asin[asin]
                parts += [asin, p.title, f"${p.price:.2f}"]
            return " [SEP] ".join(parts)
        p = self.item
        parts = ["Back to Search", "< Prev"]
        for name, values in p.options:
            parts += [name] + [f"{v} (selected)" if self.selected.get(name) == v else v for v in values]
        parts += [p.title, f"Price: ${p.price:.2f}", f"Description: {p.description}",
                  "Features: " + "; ".join(p.features), "Buy Now"]
        return " [SEP] ".join(parts)

    def _done_text(self) -> str:
        chosen = ", ".join(f"{n}: {v}" for n, v in self.selected.items()) or "none"
        return (f"Thank you for shopping with us! [SEP] Purchased: {self.item.title} [SEP] Options: {chosen} "
                f"[SEP] Your score (min 0.0, max 1.0): {self.last_score:.4f}")

    def _acceptable(self, product: Product) -> bool:
        if product.asin == self.goal.asin:
            return True
        reward = webshop_reward(product, self.goal, best_options(product, self.goal), self.catalogue.ignore_words)
        return reward == 1.0


def expert_plan(task: Task, data_dir: str | None = None) -> list[str]:
    """The expert's actions from the initial page to the purchase."""
    env, plan = ShopEnv(task, data_dir), []
    while env.page != "done" and len(plan) < PLAN_LIMIT:
        plan.append(env.expert_action())
        env.step(plan[-1])
    return plan


@dataclass(frozen=True)
class ShopTasks:
    """`make_task` for the generated catalogue (`data_dir` None) or a WebShop data directory."""

    data_dir: str | None = None

    def __call__(self, seed: int) -> Task:
        goal = goal_for(self.data_dir, seed)
        bare = Task(ENV_NAME, seed, goal.category, goal.instruction)
        return Task(ENV_NAME, seed, goal.category, goal.instruction,
                    privileged={"expert_plan": expert_plan(bare, self.data_dir), "target": goal.asin})


@dataclass(frozen=True)
class ShopEnvMaker:
    """`make_env`: picklable, so environments can live in worker processes."""

    data_dir: str | None = None

    def __call__(self, task: Task) -> ShopEnv:
        return ShopEnv(task, self.data_dir)
