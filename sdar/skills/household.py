"""Skills for the household environment (and ALFWorld, which shares its commands), written by us:
general skills for every task plus one block per task type."""

GENERAL = (
    "Look before you act: the admissible actions list every command that can work right now; copy one "
    "exactly.",
    "Closed receptacles (fridge, microwave, drawer, cabinet, safe) hide their contents: go to one, then "
    "open it to see inside.",
    "Search systematically: visit likely receptacles one by one (countertops, tables, shelves, drawers, "
    "cabinets) and do not revisit places you have already checked.",
    "You can hold one object at a time; take the object you need, then go to where it must end up and "
    "put it in/on that receptacle.",
)

BY_TYPE = {
    "pick": (
        "Pick and place: find the object, take it, go to the target receptacle, open it if closed, and put "
        "the object in/on it.",
    ),
    "look": (
        "Examine in light: find the object and take it, then go to where the desklamp stands and use the "
        "desklamp while holding the object.",
    ),
    "clean": (
        "Clean then place: take the object, go to the sinkbasin, clean the object with the sinkbasin, then "
        "go to the target and put it in/on it.",
    ),
    "heat": (
        "Heat then place: take the object, go to the microwave, heat the object with the microwave, then "
        "go to the target and put it in/on it.",
    ),
    "cool": (
        "Cool then place: take the object, go to the fridge, cool the object with the fridge, then go to "
        "the target and put it in/on it.",
    ),
    "pick_two": (
        "Two objects: find the first object, take it and put it in/on the target; then find a second "
        "object of the same kind and put it in/on the same target.",
    ),
}
