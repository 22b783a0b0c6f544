"""Skills for the real ALFWorld games, written by us: general skills for every task plus one block per task
type. They describe ALFWorld's TextWorld engine as it really behaves (numbered receptacles, "move X to Y"
to place, appliances used while holding the object, objects scattered over many receptacles)."""

GENERAL = (
    "Copy one action exactly from the admissible actions. Placing is written 'move <object> to "
    "<receptacle>' (for example 'move mug 1 to shelf 2'); taking is 'take <object> from <receptacle>'.",
    "Every receptacle is numbered (countertop 1, countertop 2, cabinet 1 ... cabinet 12) and each number is "
    "a separate place; the first observation lists them all, so plan the search from that list.",
    "Any object of the asked kind will do (any 'mug N' for 'a mug') and any receptacle of the named kind "
    "counts as the target (any countertop for 'on countertop'); take the first suitable one you find.",
    "Objects are scattered over many receptacles and are often not where you would first guess. Check the "
    "open surfaces first (countertops, tables, desk, dresser, sidetables, shelves), then drawers and "
    "cabinets; remember which places you have checked and never revisit one.",
    "Closed receptacles (drawers, cabinets, fridge, microwave, safe) show nothing until opened: go to one, "
    "open it and read what it holds. A closed target must be opened before you can move anything into it.",
    "You can carry one object at a time and only take from the receptacle you are at. If an action answers "
    "'Nothing happens.', it had no effect: choose a different action rather than repeating it.",
)

BY_TYPE = {
    "pick": (
        "Pick and place: find the object, take it, go to a receptacle of the target kind, open it if it is "
        "closed, and move the object to it; nothing else needs to be done to the object.",
    ),
    "look": (
        "Examine in light: find the object and take it, then find the lamp the goal names: a desklamp stands "
        "on a desk, sidetable, dresser or shelf; a floorlamp is listed among the room's places. Go to the lamp "
        "and 'use desklamp N' (or 'use floorlamp N') while holding the object; the lamp stays where it is.",
        "The task is done when you stand at the lamp, the lamp is on and you hold the object, in any order: if "
        "lamp and object share a receptacle, turn the lamp on and take the object there.",
    ),
    "clean": (
        "Clean then place: take the object, go to the sinkbasin and 'clean <object> with sinkbasin N' while "
        "holding it (do not put it in the sink), then go to the target, open it if closed, and move it there.",
    ),
    "heat": (
        "Heat then place: take the object, go to the microwave and 'heat <object> with microwave N' while "
        "holding it (no need to open the microwave or put the object in), then move it to the target.",
        "Food (apple, potato, tomato, bread, egg) is usually on countertops, the diningtable, in the fridge or "
        "the garbagecan; mugs and cups in cabinets, the coffeemachine or the sinkbasin.",
    ),
    "cool": (
        "Cool then place: take the object, go to the fridge and 'cool <object> with fridge N' while holding it "
        "(no need to open the fridge or put the object in), then go to the target and move it there.",
        "The fridge often holds the food you are asked to cool: open it and look inside first.",
    ),
    "pick_two": (
        "Two objects: both must end up in the very same receptacle (same name and number) and you carry only "
        "one, so it takes two trips: find the first, take it, move it to the target; then find a second one "
        "(a different number) and move it to that same receptacle.",
        "While searching for the first object, remember every place where you saw another of its kind, and "
        "never take an already placed object back out of the target.",
    ),
}
