"""Skills for the shop environment (WebShop), written by us: general shopping skills plus one block per
product category. The category comes from the task type, which the environment sets to the target's
category; `category_for` finds it from the instruction's keywords instead, for instructions whose
category is unknown (it agrees with the task type on every generated goal)."""

from __future__ import annotations

import re

GENERAL = (
    "Search with the product type and the required attributes from the instruction, e.g. "
    "search[waterproof hiking boots]; leave out the price, colour and size, which the search does not filter.",
    "On the results page compare each title and price with the instruction: the price must be below the "
    "limit and the title should name the product type and the wanted attributes. Open the best match with "
    "click[<its id>].",
    "If no result fits, use click[next >] for more results or click[back to search] to search again with "
    "other words; on a product page, click[< prev] returns to the results.",
    "On the product page check the description and features for every required attribute, then click each "
    "required option value (colour, size, pack, flavour, ...) before click[buy now]; buying ends the task.",
)

BY_TYPE = {
    "apparel": (
        "Clothing: match the garment type exactly (hoodie, jeans, dress, jacket, leggings, shirt) and select "
        "both the colour and the size the instruction names before buying.",
    ),
    "footwear": (
        "Shoes: the size is a number; click the exact size and the colour on the product page. Check features "
        "such as non slip, memory foam or waterproof in the description.",
    ),
    "home_decor": (
        "Home decor: sizes are dimensions such as 18x18 inch or 5x7 feet; click the exact dimension listed "
        "in the instruction, and the colour.",
    ),
    "electronics": (
        "Electronics: technical features (noise cancelling, fast charging, 4k, wireless) decide the match; "
        "verify each one in the title or features, and pick the colour, length or pack asked for.",
    ),
    "accessories": (
        "Accessories: materials and protections (genuine leather, rfid blocking, polarized, water resistant) "
        "are the attributes to verify; select the colour (and belt size) before buying.",
    ),
    "beauty_health": (
        "Beauty and health: check claims such as sulfate free, cruelty free or fragrance free in the "
        "description; choose the scent and the size in fl oz (or the count) the instruction names.",
    ),
    "grocery": (
        "Grocery: dietary attributes (gluten free, organic, keto friendly, non gmo) must all hold; choose the "
        "flavour or roast and the pack or weight exactly as written.",
    ),
}

KEYWORDS = {  # word stems; a plural "s"/"es" may follow
    "footwear": "shoe|sneaker|boot|sandal|slipper|loafer|heel|footwear",
    "accessories": "wallet|backpack|sunglass|cap|hat|belt|watch|wristwatch|bag|handbag|jewelry|necklace|bracelet",
    "electronics": "earbud|headphone|speaker|charger|cable|mouse|keyboard|hdmi|tablet|phone case|television",
    "beauty_health": ("shampoo|serum|cream|lotion|body wash|vitamin|multivitamin|supplement|toothbrush|makeup|"
                      "lipstick|deodorant|perfume"),
    "grocery": "coffee|tea|granola|oil|chocolate|protein bar|snack|food|sauce|candy|cookie|spice",
    "home_decor": "pillow|wall art|curtain|rug|lamp|vase|decor|furniture|blanket|mirror|shelf|shelve",
    "apparel": "hoodie|jeans|dress|jacket|legging|shirt|sweater|pants|shorts|skirt|coat|top",
}


def category_for(instruction: str) -> str | None:
    """The first category (in `KEYWORDS` order) with a keyword among the instruction's words, or None."""
    text = instruction.lower()
    for category, pattern in KEYWORDS.items():
        if re.search(rf"\b(?:{pattern})(?:s|es)?\b", text):
            return category
    return None
