"""The generated catalogue's vocabulary: seven WebShop-style categories, their product types, attribute
pools and option pools. Pure data.

Constraints the tests check, so that the WebShop reward (fuzzy token-set matching at > 85) is exact on
generated products: no two values of one pool match each other, no attribute occurs in a type phrase,
and no two type phrases share a word (a wrong type then gets type reward 0, as a product whose title
shares no noun with the goal's gets in WebShop).
"""

from __future__ import annotations

CATEGORIES = ("apparel", "footwear", "home_decor", "electronics", "accessories", "beauty_health", "grocery")

DEPARTMENT = {
    "apparel": "Clothing, Shoes & Jewelry › Clothing",
    "footwear": "Clothing, Shoes & Jewelry › Shoes",
    "home_decor": "Home & Kitchen › Home Décor",
    "electronics": "Electronics › Accessories",
    "accessories": "Clothing, Shoes & Jewelry › Accessories",
    "beauty_health": "Beauty & Personal Care",
    "grocery": "Grocery & Gourmet Food",
}

COLORS = ("black", "white", "navy", "grey", "red", "beige", "green", "brown", "pink", "burgundy", "olive", "teal",
          "ivory", "charcoal", "mustard")
CLOTHING_SIZES = ("xs", "small", "medium", "large", "xl", "xxl")
SHOE_SIZES = ("6", "7", "8", "9", "10", "11", "12")
PACKS = ("1 pack", "2 pack", "3 pack", "4 pack", "6 pack")
FLUID = ("3.4 fl oz", "8 fl oz", "16 fl oz", "32 fl oz")
SCENTS = ("lavender", "unscented", "citrus", "rose", "eucalyptus", "vanilla", "coconut", "sandalwood")
FLAVORS = ("original", "vanilla", "hazelnut", "caramel", "mint", "honey", "cinnamon", "berry")
ROASTS = ("light roast", "medium roast", "dark roast", "espresso roast")
WEIGHTS = ("half pound", "one pound", "two pound", "five pound")
PILLOW_SIZES = ("16x16 inch", "18x18 inch", "20x20 inch", "24x24 inch")
ART_SIZES = ("12x16 inch", "20x30 inch", "24x36 inch")
CURTAIN_SIZES = ("52x63 inch", "52x84 inch", "52x95 inch")
RUG_SIZES = ("3x5 feet", "4x6 feet", "5x7 feet", "8x10 feet")
CABLE_LENGTHS = ("3 feet", "6 feet", "10 feet", "25 feet")
BELT_SIZES = ("30", "32", "34", "36", "38", "40")
COUNTS = ("30", "60", "90", "120")  # tablets; with a unit word the values would fuzzy-match

# (option name, value pool) pairs, shared by several types
_COLORS_CLOTHING_SIZES = (("color", COLORS), ("size", CLOTHING_SIZES))
_COLORS_SHOE_SIZES = (("color", COLORS), ("size", SHOE_SIZES))
_COLORS_PILLOW_SIZES = (("color", COLORS), ("size", PILLOW_SIZES))
_COLORS_ART_SIZES = (("color", COLORS), ("size", ART_SIZES))
_COLORS_CURTAIN_SIZES = (("color", COLORS), ("size", CURTAIN_SIZES))
_COLORS_RUG_SIZES = (("color", COLORS), ("size", RUG_SIZES))
_COLORS = (("color", COLORS),)
_COLORS_PACKS = (("color", COLORS), ("pack", PACKS))
_COLORS_CABLE_LENGTHS = (("color", COLORS), ("length", CABLE_LENGTHS))
_COLORS_BELT_SIZES = (("color", COLORS), ("size", BELT_SIZES))
_SCENTS_FLUID = (("scent", SCENTS), ("size", FLUID))
_FLUID = (("size", FLUID),)
_COUNTS = (("count", COUNTS),)
_ROASTS_WEIGHTS = (("roast", ROASTS), ("weight", WEIGHTS))
_FLAVORS_PACKS = (("flavor", FLAVORS), ("pack", PACKS))

# type phrase -> (category, options, (min price, max price), attribute pool as 'a|b|c')
_TYPE_ROWS = {
    # apparel
    "hoodie": ("apparel", _COLORS_CLOTHING_SIZES, (18, 70),
        "machine washable|fleece lined|relaxed fit|long sleeve|drawstring hood|moisture wicking|organic cotton"),
    "jeans": ("apparel", _COLORS_CLOTHING_SIZES, (20, 90),
        "slim fit|stretch denim|high waist|machine washable|button closure|straight leg|distressed"),
    "maxi dress": ("apparel", _COLORS_CLOTHING_SIZES, (22, 80),
        "short sleeve|floral print|v neck|machine washable|side pockets|flowy|polyester spandex"),
    "rain jacket": ("apparel", _COLORS_CLOTHING_SIZES, (30, 140),
        "waterproof|packable|hooded|windproof|zip pockets|breathable|lightweight"),
    "yoga leggings": ("apparel", _COLORS_CLOTHING_SIZES, (15, 60),
        "high waist|tummy control|squat proof|four way stretch|moisture wicking|side pockets|quick drying"),
    "polo shirt": ("apparel", _COLORS_CLOTHING_SIZES, (14, 55),
        "short sleeve|regular fit|moisture wicking|machine washable|pique cotton|button placket|wrinkle free"),
    # footwear
    "running shoes": ("footwear", _COLORS_SHOE_SIZES, (35, 150),
        "lightweight|breathable mesh|memory foam|non slip|arch support|rubber outsole|shock absorbing"),
    "hiking boots": ("footwear", _COLORS_SHOE_SIZES, (50, 200),
        "waterproof|ankle support|lace up|slip resistant|rubber outsole|insulated|steel shank"),
    "slide sandals": ("footwear", _COLORS_SHOE_SIZES, (12, 60),
        "open toe|quick drying|cushioned footbed|non slip|arch support|adjustable strap|lightweight"),
    "house slippers": ("footwear", _COLORS_SHOE_SIZES, (10, 45),
        "memory foam|faux fur|machine washable|anti skid|plush lining|closed toe|indoor outdoor"),
    "canvas sneakers": ("footwear", _COLORS_SHOE_SIZES, (20, 80),
        "low top|lace up|rubber outsole|cushioned insole|classic|breathable mesh|slip on"),
    # home decor
    "throw pillow covers": ("home_decor", _COLORS_PILLOW_SIZES, (9, 40),
        "machine washable|hidden zipper|farmhouse|linen blend|double sided|velvet|boho"),
    "wall art": ("home_decor", _COLORS_ART_SIZES, (20, 120),
        "ready to hang|framed|abstract|botanical|waterproof ink|gallery wrapped|modern"),
    "blackout curtains": ("home_decor", _COLORS_CURTAIN_SIZES, (18, 70),
        "thermal insulated|noise reducing|grommet top|machine washable|energy saving|room darkening|rod pocket"),
    "area rug": ("home_decor", _COLORS_RUG_SIZES, (30, 250),
        "non shedding|low pile|stain resistant|machine washable|shag|geometric|vintage"),
    "table lamp": ("home_decor", _COLORS, (20, 110),
        "dimmable|usb port|touch control|fabric shade|bedside|brass finish|energy efficient"),
    "ceramic vase": ("home_decor", _COLORS, (12, 65),
        "handmade|matte finish|minimalist|glazed|decorative|wide mouth|rustic"),
    # electronics
    "wireless earbuds": ("electronics", _COLORS, (20, 180),
        "noise cancelling|long battery life|water resistant|touch control|fast charging|built in microphone|deep bass"),
    "bluetooth speaker": ("electronics", _COLORS, (25, 160),
        "waterproof|long battery life|stereo sound|portable|deep bass|hands free calling|shockproof"),
    "usb c charger": ("electronics", _COLORS_PACKS, (10, 60),
        "fast charging|foldable plug|dual port|compact|overheat protection|gallium nitride|universal"),
    "hdmi cable": ("electronics", _COLORS_CABLE_LENGTHS, (6, 35),
        "4k|high speed|braided|gold plated|ethernet|8k|flexible"),
    "computer mouse": ("electronics", _COLORS, (9, 70),
        "ergonomic|silent click|rechargeable|adjustable dpi|plug and play|ambidextrous|bluetooth"),
    "mechanical keyboard": ("electronics", _COLORS, (35, 180),
        "rgb backlit|hot swappable|tenkeyless|wireless|anti ghosting|detachable cable|tactile switches"),
    # accessories
    "wallet": ("accessories", _COLORS, (12, 80),
        "rfid blocking|genuine leather|slim|bifold|coin pocket|gift box|minimalist"),
    "backpack": ("accessories", _COLORS, (20, 120),
        "water resistant|laptop compartment|usb charging port|anti theft|padded straps|lightweight|large capacity"),
    "sunglasses": ("accessories", _COLORS, (10, 150),
        "polarized|uv protection|metal frame|oversized|retro|scratch resistant|lightweight"),
    "baseball cap": ("accessories", _COLORS, (8, 35),
        "adjustable|washed cotton|embroidered|breathable|unstructured|curved brim|moisture wicking"),
    "belt": ("accessories", _COLORS_BELT_SIZES, (12, 60),
        "genuine leather|ratchet buckle|reversible|adjustable|casual|automatic buckle|gift box"),
    "wristwatch": ("accessories", _COLORS, (25, 250),
        "water resistant|stainless steel|quartz movement|analog|luminous hands|leather strap|date display"),
    # beauty health
    "shampoo": ("beauty_health", _SCENTS_FLUID, (7, 40),
        "sulfate free|paraben free|color safe|natural ingredients|volumizing|cruelty free|dry scalp"),
    "face serum": ("beauty_health", _FLUID, (10, 70),
        "hyaluronic acid|vitamin c|anti aging|fragrance free|sensitive skin|cruelty free|oil free"),
    "hand cream": ("beauty_health", _SCENTS_FLUID, (5, 30),
        "shea butter|fast absorbing|non greasy|dry skin|paraben free|travel size|natural ingredients"),
    "body wash": ("beauty_health", _SCENTS_FLUID, (6, 30),
        "moisturizing|sulfate free|plant based|sensitive skin|cruelty free|exfoliating|dermatologist tested"),
    "multivitamin": ("beauty_health", _COUNTS, (9, 50),
        "gluten free|non gmo|vegan|easy to swallow|third party tested|once daily|sugar free"),
    "electric toothbrush": ("beauty_health", _COLORS, (20, 150),
        "rechargeable|smart timer|travel case|pressure sensor|waterproof|long battery life|whitening"),
    # grocery
    "coffee beans": ("grocery", _ROASTS_WEIGHTS, (9, 45),
        "whole bean|organic|fair trade|single origin|low acid|kosher|small batch"),
    "green tea": ("grocery", _FLAVORS_PACKS, (5, 30),
        "organic|caffeine free|individually wrapped|non gmo|kosher|loose leaf|antioxidant rich"),
    "granola": ("grocery", _FLAVORS_PACKS, (5, 35),
        "gluten free|high protein|low sugar|whole grain|non gmo|vegan|keto friendly"),
    "olive oil": ("grocery", _FLUID, (8, 50),
        "extra virgin|cold pressed|organic|first harvest|kosher|non gmo|glass bottle"),
    "dark chocolate": ("grocery", _FLAVORS_PACKS, (4, 35),
        "sugar free|fair trade|organic|keto friendly|vegan|gluten free|individually wrapped"),
    "protein bars": ("grocery", _FLAVORS_PACKS, (10, 45),
        "high protein|low sugar|gluten free|keto friendly|non gmo|plant based|individually wrapped"),
}
TYPES: dict[str, tuple[str, tuple[str, ...], tuple[tuple[str, tuple[str, ...]], ...], tuple[float, float]]] = {
    name: (category, tuple(attributes.split("|")), options, price)
    for name, (category, options, price, attributes) in _TYPE_ROWS.items()
}
"""type phrase -> (category, attribute pool, ((option name, value pool), ...), (min price, max price))"""

BRAND_START = ("Nor Zen Vel Kal Bri Tor Lum Fen Ost Mar Qui Sol Dra Hal Rex Pel Cor Ivo Jun Wex").split()
BRAND_END = ("vik tra mora dex lix ano ova ium ent ora ace ura ine oss").split()

INSTRUCTIONS = (
    "i am looking for {attrs} {type}",
    "i need {attrs} {type}",
    "find me {attrs} {type}",
    "i want to buy {type} that is {attrs}",
    "i'm looking for {type}, {attrs}",
)
