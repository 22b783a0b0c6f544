"""Skills for search-QA, written by us: general search skills plus one block per question kind (the
paper's direct retrieval, entity lookup, multi-hop and compare). Real question sets are typed by their
data source; `KIND_OF_SOURCE` maps each Search-R1 source to a kind, and `BY_TYPE` holds the sources too,
so the default by-type provider finds the right block either way."""

from __future__ import annotations

GENERAL = (
    "Search before answering: write <search> query </search> with the names and key words of the question; "
    "the top passages come back inside <information>.",
    "Read the returned passages for the exact fact asked; answer with the shortest phrase that states it "
    "(a name, a year, a place), inside <answer> </answer>, without explanation.",
    "If the passages do not contain the fact, search again with different words (the entity's full name plus "
    "the relation, e.g. 'Ada Lovelace born') rather than guessing.",
)

_KINDS = {
    "single_hop": (
        "Direct retrieval: the question itself is a good query; the passage about the work, company or country "
        "it names states the answer.",
    ),
    "attribute": (
        "Entity lookup: search the entity's full name with the attribute asked (born, occupation, city, "
        "company), then copy the value from that entity's own passage.",
    ),
    "multi_hop": (
        "Multi-hop: first search the entity the question names to find the bridge entity (its author, founder "
        "or headquarters city), then search the bridge entity's name with the final attribute.",
    ),
    "comparison": (
        "Compare: search each of the two entities separately, note the date of each, then answer with the "
        "name of the one the question asks for (earlier, first, or more recent), written as in the question.",
    ),
}

KIND_OF_SOURCE = {
    "nq": "single_hop", "triviaqa": "single_hop", "popqa": "attribute", "hotpotqa": "multi_hop",
    "2wikimultihopqa": "multi_hop", "musique": "multi_hop", "bamboogle": "multi_hop",
}

BY_TYPE = {**_KINDS, **{source: _KINDS[kind] for source, kind in KIND_OF_SOURCE.items()}}
