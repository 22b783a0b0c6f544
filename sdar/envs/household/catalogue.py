"""The household entity catalogue: which receptacles and objects exist and how they may be used.

Pure data plus tiny lookups. It knows what kinds of things a room may hold, where each object kind
plausibly lies, and which task types each kind can serve. It deliberately knows nothing about
seeds, a particular room, game state or commands.
"""

from __future__ import annotations

from sdar.envs.names import kind

# Receptacle kind -> (openable, most instances in one room). Openable ones start closed and hide
# their contents; the counts echo ALFWorld rooms but are capped so "go to" lists stay short.
RECEPTACLES: dict[str, tuple[bool, int]] = {
    "fridge": (True, 1),
    "microwave": (True, 1),
    "sinkbasin": (False, 1),
    "stoveburner": (False, 2),
    "countertop": (False, 2),
    "diningtable": (False, 1),
    "coffeetable": (False, 1),
    "sidetable": (False, 2),
    "desk": (False, 1),
    "drawer": (True, 4),
    "cabinet": (True, 4),
    "shelf": (False, 3),
    "dresser": (False, 1),
    "bed": (False, 1),
    "sofa": (False, 1),
    "armchair": (False, 1),
    "garbagecan": (False, 1),
    "safe": (True, 1),
    "toaster": (False, 1),
    "coffeemachine": (False, 1),
}

# Goal sentences say "in" for containers and "on" for surfaces, as ALFWorld's do.
IN_RECEPTACLES = frozenset(
    {"fridge", "microwave", "sinkbasin", "drawer", "cabinet", "garbagecan", "safe", "toaster"}
)

# Rooms are themed so that a world reads like a real room rather than a random furniture pile.
THEMES: dict[str, tuple[str, ...]] = {
    "kitchen": (
        "fridge", "microwave", "sinkbasin", "stoveburner", "countertop", "diningtable",
        "cabinet", "drawer", "shelf", "garbagecan", "toaster", "coffeemachine",
    ),
    "livingroom": (
        "sofa", "armchair", "coffeetable", "sidetable", "diningtable", "shelf", "drawer",
        "cabinet", "dresser", "garbagecan", "safe",
    ),
    "bedroom": (
        "bed", "desk", "sidetable", "dresser", "drawer", "shelf", "safe", "garbagecan", "armchair",
    ),
}

# The desklamp is a fixture standing on one of these surfaces; it is never taken.
LAMP = "desklamp 1"
LAMP_HOLDERS = ("desk", "dresser", "sidetable")

# Task type -> (command verb, the appliance that does it, adjective in goal and examine text).
TREATMENTS: dict[str, tuple[str, str, str]] = {
    "clean": ("clean", "sinkbasin", "clean"),
    "heat": ("heat", "microwave", "hot"),
    "cool": ("cool", "fridge", "cool"),
}

# Which themes each task type may be set in: appliances only exist in kitchens, lamps elsewhere.
TASK_THEMES: dict[str, tuple[str, ...]] = {
    "pick": ("kitchen", "livingroom", "bedroom"),
    "look": ("livingroom", "bedroom"),
    "clean": ("kitchen",),
    "heat": ("kitchen",),
    "cool": ("kitchen",),
    "pick_two": ("kitchen", "livingroom", "bedroom"),
}

_FOOD = ("fridge", "countertop", "diningtable", "microwave", "garbagecan", "sinkbasin")
_DISH = ("cabinet", "countertop", "diningtable", "fridge", "shelf", "sinkbasin", "microwave")
_COOKWARE = ("stoveburner", "countertop", "cabinet", "sinkbasin")
_CUTLERY = ("drawer", "countertop", "diningtable", "sinkbasin")
_DRINK = ("countertop", "fridge", "cabinet", "diningtable", "shelf", "garbagecan")
_SMALL = ("desk", "sidetable", "dresser", "drawer", "shelf", "coffeetable", "safe")
_DECOR = ("shelf", "sidetable", "coffeetable", "dresser", "diningtable", "desk")
_SOFT = ("bed", "sofa", "armchair")

# Object kind -> (places it may lie initially, task types it can be the goal object of).
# "pick" and "pick_two" accept every kind; the tags restrict the others: clean needs washable
# things, heat food and crockery, cool food, drinks and crockery, look small portable things.
OBJECTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "apple": (_FOOD, ("clean", "heat", "cool")),
    "tomato": (_FOOD, ("clean", "heat", "cool")),
    "potato": (_FOOD, ("clean", "heat", "cool")),
    "lettuce": (_FOOD[:3] + _FOOD[4:], ("clean", "cool")),
    "egg": (_FOOD, ("clean", "heat", "cool")),
    "bread": (_FOOD[:4] + ("cabinet", "toaster"), ("heat", "cool")),
    "mug": (_DISH + ("coffeemachine", "desk"), ("clean", "heat", "cool", "look")),
    "cup": (_DISH + ("coffeemachine",), ("clean", "heat", "cool", "look")),
    "bowl": (_DISH + ("coffeetable",), ("clean", "cool", "look")),
    "plate": (_DISH, ("clean", "heat", "cool")),
    "pan": (_COOKWARE + ("fridge",), ("clean", "cool")),
    "pot": (_COOKWARE + ("fridge",), ("clean", "cool")),
    "kettle": (_COOKWARE + ("shelf",), ("clean",)),
    "knife": (_CUTLERY, ("clean",)),
    "spoon": (_CUTLERY, ("clean",)),
    "fork": (_CUTLERY, ("clean",)),
    "spatula": (_CUTLERY, ("clean",)),
    "sponge": (("countertop", "sinkbasin", "cabinet", "drawer", "shelf"), ("clean",)),
    "cloth": (("countertop", "cabinet", "drawer", "shelf", "sinkbasin", "dresser"), ("clean",)),
    "soapbar": (("countertop", "sinkbasin", "cabinet", "shelf", "garbagecan"), ("clean",)),
    "towel": (("shelf", "countertop", "cabinet", "dresser", "drawer"), ()),
    "bottle": (_DRINK, ("cool",)),
    "winebottle": (_DRINK, ("cool",)),
    "cellphone": (_SMALL + ("bed", "sofa", "armchair", "countertop"), ("look",)),
    "book": (_DECOR + ("bed", "sofa", "drawer"), ("look",)),
    "pen": (_SMALL + ("diningtable", "countertop"), ("look",)),
    "pencil": (_SMALL + ("diningtable", "countertop"), ("look",)),
    "keychain": (_SMALL + ("sofa", "armchair", "countertop"), ("look",)),
    "creditcard": (_SMALL + ("sofa", "armchair", "countertop", "diningtable"), ("look",)),
    "cd": (_SMALL + ("garbagecan",), ("look",)),
    "alarmclock": (("desk", "sidetable", "dresser", "shelf"), ("look",)),
    "remotecontrol": (_SOFT[1:] + ("coffeetable", "sidetable", "dresser", "drawer"), ("look",)),
    "watch": (_SMALL, ("look",)),
    "vase": (_DECOR + ("cabinet", "safe"), ("look",)),
    "statue": (_DECOR + ("safe",), ("look",)),
    "pillow": (_SOFT, ("look",)),
    "laptop": (("desk", "bed", "sofa", "coffeetable", "diningtable", "armchair"), ("look",)),
    "newspaper": (_SOFT[1:] + ("coffeetable", "sidetable", "diningtable", "garbagecan"), ("look",)),
}


def openable(receptacle: str) -> bool:
    return RECEPTACLES[kind(receptacle)][0]


def preposition(receptacle_kind: str) -> str:
    return "in" if receptacle_kind in IN_RECEPTACLES else "on"


def serves(object_kind: str, task_type: str) -> bool:
    """Whether an object kind can be the goal object of a task type."""
    return task_type in ("pick", "pick_two") or task_type in OBJECTS[object_kind][1]
