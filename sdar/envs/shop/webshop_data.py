"""WebShop's own data files as a `Catalogue`.

Reads the layout of WebShop's `data/` directory (what its `setup.sh` downloads):
- `items_shuffle*.json`: a JSON list of products (`asin`, `name`, `full_description`, `small_description`,
  `pricing`, `customization_options`, `product_category`, `category`, `query`, ...);
- `items_ins_v2*.json`: {asin: {"attributes", "instruction", "instruction_attributes"}} (synthetic goals);
- `items_human_ins.json` (optional): {asin: [{"instruction", "instruction_attributes",
  "instruction_options"}, ...]} (human goals; used when present, as the benchmark does).
Cleaning and goal construction follow WebShop's `engine/engine.py` and `engine/goal.py`: option values
lower-cased with '/' as ' | ', prices parsed from the '$' pricing string, a price cap from the next
price steps. Goals are shuffled with seed 233 as WebShop does; the first 500 (or half, for small
files) are the eval split. Deviation: a product's listed price is the low end of its range, where
WebShop samples one.
"""

from __future__ import annotations

import functools
import json
import random
import re
from pathlib import Path

from sdar.envs.shop.catalogue import Catalogue, Goal, Product, price_cap

EVAL_GOALS = 500
GOAL_SHUFFLE_SEED = 233
_FETCH_HINT = "WebShop's setup.sh (https://github.com/princeton-nlp/WebShop) downloads them into data/"


class WebShopDataError(FileNotFoundError):
    """WebShop's data files are missing or not in the expected layout."""


def _pick(data_dir: Path, pattern: str, preferred: str) -> Path | None:
    """`preferred` if present, else the first file matching `pattern` (sorted)."""
    if (data_dir / preferred).is_file():
        return data_dir / preferred
    found = sorted(data_dir.glob(pattern))
    return found[0] if found else None


def category_of(webshop_category: str, product_category: str, query: str) -> str:
    """WebShop's five categories (beauty, electronics, fashion, food, furniture) -> our seven types."""
    below_top = " ".join(level for level in product_category.split("›")[1:])  # not "Clothing, Shoes & Jewelry"
    text = f"{below_top} {query}".lower()
    if webshop_category == "fashion":
        if re.search(r"shoe|boot|sandal|sneaker|slipper|loafer|heel", text):
            return "footwear"
        if re.search(r"jewel|watch|wallet|handbag|bag|sunglass|belt|hat|cap|accessor|luggage|scar", text):
            return "accessories"
        return "apparel"
    return {"beauty": "beauty_health", "electronics": "electronics", "food": "grocery",
            "furniture": "home_decor"}.get(webshop_category, "home_decor")


def _price(pricing) -> float:
    if isinstance(pricing, (int, float)):
        return float(pricing)
    values = [float(re.sub(r"[^\d.]", "", p) or 0) for p in str(pricing or "").split("$")[1:]]
    values = [v for v in values if v > 0]
    return values[0] if values else 100.0


def _options(raw) -> tuple[tuple[str, tuple[str, ...]], ...]:
    options = []
    for name, contents in (raw or {}).items():
        if not contents:
            continue
        values = tuple(dict.fromkeys(str(c["value"]).strip().replace("/", " | ").lower() for c in contents))
        options.append((name.lower(), values))
    return tuple(options)


def _bullets(raw) -> tuple[str, ...]:
    lines = raw if isinstance(raw, list) else str(raw or "").split("\n")
    return tuple(b.strip() for b in lines if b and b.strip())


def _product(raw: dict, attributes: dict) -> Product | None:
    asin = str(raw.get("asin", ""))
    if not asin or asin == "nan" or len(asin) > 10:
        return None
    path, query = str(raw.get("product_category", "")), str(raw.get("query", "")).lower().strip()
    attrs = (attributes.get(asin) or {}).get("attributes") or ["DUMMY_ATTR"]
    return Product(asin, str(raw.get("name", "")), category_of(str(raw.get("category", "")), path, query), query,
                   path, str(raw.get("full_description", "") or ""), _bullets(raw.get("small_description")),
                   tuple(attrs), _options(raw.get("customization_options")), _price(raw.get("pricing")))


def _goal(p: Product, instruction: str, attributes, options, rng: random.Random) -> Goal:
    cap = price_cap(p.price, rng)
    text = instruction.strip().rstrip(".") + (f", and price lower than {cap:.2f} dollars" if cap < 1_000_000 else "")
    return Goal(p.asin, text, p.category, p.query, p.title, p.product_category, tuple(attributes), tuple(options), cap)


def _goals(products: list[Product], synthetic: dict, human: dict | None) -> list[Goal]:
    rng = random.Random(GOAL_SHUFFLE_SEED)
    goals = []
    for p in products:
        if human is not None:
            for ins in human.get(p.asin, []):
                if ins.get("instruction_attributes"):
                    goals.append(_goal(p, ins["instruction"], ins["instruction_attributes"],
                                       ins.get("instruction_options") or [], rng))
            continue
        info = synthetic.get(p.asin) or {}
        if not info.get("instruction") or not info.get("instruction_attributes"):
            continue
        names = [name for name, _ in p.options]
        value_lists = [values for _, values in p.options] or [()]
        for combo in _combinations(value_lists):
            option_text = ", and ".join(f"{n}: {v}" for n, v in zip(names, combo))
            text = info["instruction"] + (f" with {option_text}" if option_text else "")
            goals.append(_goal(p, text, info["instruction_attributes"], combo, rng))
    random.Random(GOAL_SHUFFLE_SEED).shuffle(goals)
    return goals


def _combinations(value_lists):
    import itertools

    return itertools.product(*value_lists) if all(value_lists) else [()]


@functools.lru_cache(maxsize=2)
def load_webshop(data_dir: str) -> Catalogue:
    """The catalogue and goals of a WebShop data directory; WebShopDataError naming what is missing."""
    root = Path(data_dir).expanduser()
    items = _pick(root, "items_shuffle*.json", "items_shuffle.json")
    ins = _pick(root, "items_ins_v2*.json", "items_ins_v2.json")
    if items is None or ins is None:
        missing = "items_shuffle*.json" if items is None else "items_ins_v2*.json"
        raise WebShopDataError(f"WebShop data not found: no {missing} in {root} ({_FETCH_HINT})")
    try:
        raw_items = json.loads(items.read_text(encoding="utf-8"))
        synthetic = json.loads(ins.read_text(encoding="utf-8"))
        human_file = root / "items_human_ins.json"
        human = json.loads(human_file.read_text(encoding="utf-8")) if human_file.is_file() else None
    except json.JSONDecodeError as err:
        raise WebShopDataError(f"WebShop data in {root} is not valid JSON: {err}") from None
    products, seen = [], set()
    for raw in raw_items:
        p = _product(raw, synthetic)
        if p is not None and p.asin not in seen:
            seen.add(p.asin)
            products.append(p)
    goals = _goals(products, synthetic, human)
    if not goals:
        raise WebShopDataError(f"no usable goals in {root} (instructions with attributes are needed)")
    n_eval = min(EVAL_GOALS, max(1, len(goals) // 2))
    attr_words = frozenset(w for p in products for a in p.attributes for w in re.findall(r"[a-z]+", a.lower()))
    return Catalogue(tuple(products), tuple(goals[n_eval:]) or tuple(goals), tuple(goals[:n_eval]), attr_words)
