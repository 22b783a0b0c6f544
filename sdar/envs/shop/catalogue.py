"""Products, goals and the catalogue a shop runs on: the generated one, or WebShop's files (`webshop_data`).

The generated catalogue is one fixed store (from `CATALOGUE_SEED`, the same in every process): 42
product types over seven categories, 25 products each, with WebShop-style keyword titles, descriptions,
features, attributes, options and prices. A task seed picks a goal WebShop's way: a target product, some
of its attributes, one value per option, and a price cap drawn from the next price steps above its price.
Knows nothing about pages, actions or rewards.
"""

from __future__ import annotations

import functools
import itertools
import random
import re
from dataclasses import dataclass, field

from sdar.envs.shop.vocab import (
    BRAND_END,
    BRAND_START,
    CATEGORIES,
    DEPARTMENT,
    INSTRUCTIONS,
    TYPES,
)

CATALOGUE_SEED = 7_000
PRODUCTS_PER_TYPE = 25
BRANDS_PER_TYPE = 4
PRICE_STEPS = tuple(10.0 * i for i in range(1, 100))  # WebShop's PRICE_RANGE


@dataclass(frozen=True)
class Product:
    """One product; field meanings follow WebShop's item records."""

    asin: str
    title: str
    category: str
    """Our task type (one of `vocab.CATEGORIES`)."""
    query: str
    """WebShop's `query`: the product type the product was scraped for."""
    product_category: str
    """The breadcrumb path, levels joined by ' › '."""
    description: str
    features: tuple[str, ...]
    attributes: tuple[str, ...]
    options: tuple[tuple[str, tuple[str, ...]], ...]
    """(option name, values) pairs, in display order."""
    price: float


@dataclass(frozen=True)
class Goal:
    """What to buy; WebShop's goal record."""

    asin: str
    instruction: str
    category: str
    query: str
    name: str
    """The target product's title (WebShop compares title nouns against it)."""
    product_category: str
    attributes: tuple[str, ...]
    options: tuple[str, ...]
    price_upper: float


@dataclass(frozen=True)
class Catalogue:
    products: tuple[Product, ...]
    train_goals: tuple[Goal, ...] = ()
    """Fixed goals (WebShop's files); empty for the generated catalogue, whose goals come from seeds."""
    eval_goals: tuple[Goal, ...] = ()
    ignore_words: frozenset[str] = field(default=frozenset())
    """Title words that are not nouns (attribute words), for the type reward."""

    @functools.cached_property
    def by_asin(self) -> dict[str, Product]:
        return {p.asin: p for p in self.products}

    @functools.cached_property
    def index(self):
        """BM25 over title, description, features and options, as WebShop's search engine indexes."""
        from sdar.retrieval import BM25Index

        return BM25Index([{"id": p.asin, "contents": search_text(p)} for p in self.products])


def search_text(p: Product) -> str:
    options = ", and ".join(f"{name}: {', '.join(values)}" for name, values in p.options)
    return " ".join((p.title, p.description, " ".join(p.features), options)).lower()


def price_cap(price: float, rng: random.Random) -> float:
    """WebShop's cap: the larger of two draws among the next four price steps above the price."""
    steps = [p for p in PRICE_STEPS if p > price][:4]
    return sorted(rng.sample(steps, 2))[1] if len(steps) >= 2 else 1_000_000.0


def _asin(rng: random.Random) -> str:
    return "B0" + "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789") for _ in range(8))


def _title(brand: str, type_phrase: str, attrs: list[str]) -> str:
    words = " ".join(a.title() for a in attrs[:2])
    return f"{brand} {words} {type_phrase.title()}" + (f" - {attrs[2].title()}" if len(attrs) > 2 else "")


def _product(rng: random.Random, asin: str, brand: str, type_phrase: str) -> Product:
    category, pool, option_pools, (low, high) = TYPES[type_phrase]
    attrs = rng.sample(pool, rng.randint(3, 4))
    options = []
    for name, values in option_pools:  # a few values of each pool, in the pool's order
        kept = set(rng.sample(values, rng.randint(2, min(5, len(values)))))
        options.append((name, tuple(v for v in values if v in kept)))
    description = (f"The {brand} {type_phrase} made for everyday use: {', '.join(attrs[:-1])} and {attrs[-1]}. "
                   f"Ships from and sold by {brand}.")
    features = tuple(f"{a.capitalize()}: one of the reasons customers choose {brand}." for a in attrs)
    return Product(asin, _title(brand, type_phrase, attrs), category, type_phrase,
                   f"{DEPARTMENT[category]} › {type_phrase.title()}", description, features, tuple(attrs),
                   tuple(options),
                   float(round(rng.uniform(low, high))) - 0.01)


@functools.lru_cache(maxsize=1)
def generated_catalogue(seed: int = CATALOGUE_SEED) -> Catalogue:
    rng = random.Random(seed)
    brands = rng.sample([a + b for a, b in itertools.product(BRAND_START, BRAND_END)], BRANDS_PER_TYPE * len(TYPES))
    asins: set[str] = set()
    products = []
    for t, type_phrase in enumerate(TYPES):
        for _ in range(PRODUCTS_PER_TYPE):
            asin = _asin(rng)
            while asin in asins:
                asin = _asin(rng)
            asins.add(asin)
            brand = brands[t * BRANDS_PER_TYPE + rng.randrange(BRANDS_PER_TYPE)]
            products.append(_product(rng, asin, brand, type_phrase))
    ignore = frozenset(w for _, pool, _, _ in TYPES.values() for a in pool for w in re.findall(r"[a-z]+", a))
    return Catalogue(tuple(products), ignore_words=ignore)


def _join(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def generated_goal(catalogue: Catalogue, seed: int) -> Goal:
    """The goal of a task seed: categories rotate with the seed (any consecutive seeds are balanced)."""
    rng = random.Random(f"shop/{seed}")
    category = CATEGORIES[seed % len(CATEGORIES)]
    target = rng.choice([p for p in catalogue.products if p.category == category])
    attrs = rng.sample(target.attributes, rng.randint(1, min(3, len(target.attributes))))
    chosen = [(name, rng.choice(values)) for name, values in target.options]
    cap = price_cap(target.price, rng)
    text = rng.choice(INSTRUCTIONS).format(attrs=_join(attrs), type=target.query)
    if chosen:
        text += " with " + ", and ".join(f"{name}: {value}" for name, value in chosen)
    text += f", and price lower than {cap:.2f} dollars"
    return Goal(target.asin, text, target.category, target.query, target.title, target.product_category,
                tuple(attrs), tuple(v for _, v in chosen), cap)
