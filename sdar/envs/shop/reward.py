"""WebShop's purchase reward (`web_agent_site/engine/goal.py: get_reward`), without spaCy or fuzzywuzzy.

    reward = r_type · (n_attributes_matched + n_options_matched + [price ≤ price_upper])
                     / (n_goal_attributes + n_goal_options + 1)

- an attribute matches when a product attribute has fuzzy token-set ratio > 85 with it, or it occurs
  in the title, features or description (lower-cased);
- an option matches when a chosen option value has token-set ratio > 85 with it, both first reduced to
  the first colour of WebShop's `COLOR_SET` they contain (`normalize_color`: "navy blue" → "blue");
- r_type = 1 when the query, ≥ 2 levels of the category path, or > 20% of the goal title's nouns match;
  0.5 when none does; 0.1 below 10% of the nouns and 0 with none.
Deviations: `token_set_ratio` is fuzzywuzzy's algorithm on difflib (its pure-Python fallback); the
goal title's "nouns" are its content words (spaCy's tagger is not a dependency): words of ≥ 2
letters that are neither stopwords, nor numbers, nor attribute words of the catalogue.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

MATCH_THRESHOLD = 85
STOPWORDS = frozenset((
    "a an and are as at be by for from has have in is it its of on or that the this to with without your you "
    "men mens women womens woman man unisex kids boys girls pack set size color inch inches ounce oz count "
    "new premium best quality").split())
# web_agent_site/engine/normalize.py's COLOR_SET, in its order (the first one contained wins)
COLOR_SET = (
    "alabaster apricot aqua ash asphalt azure banana beige black blue blush bordeaux bronze brown burgundy camel "
    "camo caramel champagne charcoal cheetah chestnut chocolate christmas coffee cognac copper coral cranberry "
    "cream crystal dark denim eggplant elephant espresso fuchsia gold granite grape graphite grass gray green grey "
    "heather indigo ivory ivy khaki lavender lemon leopard light lilac lime magenta maroon mauve merlot midnight "
    "mint mocha multicolor mushroom mustard natural navy nude olive orange peach pewter pink plum purple rainbow "
    "red rose royal rust sand sapphire seashell silver skull slate steel stone stonewash sunflower tan taupe teal "
    "tiger turquoise violet walnut wheat white wine yellow").split()


def _process(text: str) -> str:
    """fuzzywuzzy's full_process: lower-case, non-alphanumerics to spaces, trimmed."""
    return " ".join(re.sub(r"[^0-9a-z]+", " ", text.lower()).split())


def ratio(a: str, b: str) -> int:
    """fuzzywuzzy's ratio: 100 · difflib similarity, rounded."""
    if not a or not b:
        return 0
    return round(100 * difflib.SequenceMatcher(None, a, b).ratio())


def token_set_ratio(a: str, b: str) -> int:
    """fuzzywuzzy's token_set_ratio: compares the shared tokens with each side's full token set, so one
    token set contained in the other scores 100."""
    ta, tb = set(_process(a).split()), set(_process(b).split())
    if not ta or not tb:
        return 0
    shared = " ".join(sorted(ta & tb))
    with_a = " ".join(filter(None, (shared, " ".join(sorted(ta - tb)))))
    with_b = " ".join(filter(None, (shared, " ".join(sorted(tb - ta)))))
    return max(ratio(shared, with_a), ratio(shared, with_b), ratio(with_a, with_b))


def fuzzy_match(a: str, b: str) -> bool:
    return token_set_ratio(a, b) > MATCH_THRESHOLD


def title_nouns(title: str, ignore: frozenset[str] = frozenset()) -> set[str]:
    """The content words of a title, standing in for spaCy's nouns."""
    return {w for w in re.findall(r"[a-z]+", title.lower())
            if len(w) >= 2 and w not in STOPWORDS and w not in ignore}


def type_reward(product, goal, ignore: frozenset[str] = frozenset()) -> float:
    query_match = product.query == goal.query
    path = {p.strip() for p in product.product_category.split("›")}
    goal_path = {p.strip() for p in goal.product_category.split("›")}
    category_match = len(path & goal_path) >= 2
    wanted = title_nouns(goal.name, ignore)
    title_score = len(title_nouns(product.title, ignore) & wanted) / len(wanted) if wanted else 0.2
    r_type = 1.0 if (query_match or category_match or title_score > 0.2) else 0.5
    if title_score < 0.1:
        r_type = 0.1
    if title_score == 0.0:
        r_type = 0.0
    return r_type


def attribute_matches(product, goal_attributes: Iterable[str]) -> int:
    text = " ".join((product.title, " ".join(product.features), product.description)).lower()
    return sum(any(fuzzy_match(p, g) for p in product.attributes) or g.lower() in text for g in goal_attributes)


def normalize_color(value: str) -> str:
    """WebShop's normalize_color: the first colour of `COLOR_SET` that `value` contains as a substring
    ("steelivy fuchsia" → "fuchsia", which the list has before "ivy" and "steel"), else `value` unchanged.
    WebShop applies it to every option value, sizes included, and so does the reward here."""
    return next((color for color in COLOR_SET if color in value), value)


def option_match(chosen: str, goal_option: str) -> bool:
    """Whether a chosen option value counts for a goal option in the reward."""
    return fuzzy_match(normalize_color(chosen), normalize_color(goal_option))


def option_matches(chosen: Iterable[str], goal_options: Iterable[str]) -> int:
    chosen = list(chosen)
    return sum(any(option_match(c, g) for c in chosen) for g in goal_options)


def webshop_reward(product, goal, chosen_options: dict[str, str], ignore: frozenset[str] = frozenset()) -> float:
    """The reward of buying `product` with `chosen_options` ({option name: value}) for `goal`, in [0, 1]."""
    r_type = type_reward(product, goal, ignore)
    n_attr = attribute_matches(product, goal.attributes)
    n_opt = option_matches(chosen_options.values(), goal.options)
    price_ok = product.price <= goal.price_upper
    total = (n_attr + n_opt + price_ok) / (len(goal.attributes) + len(goal.options) + 1)
    return total * r_type
