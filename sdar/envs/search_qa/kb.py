"""The built-in knowledge base: invented people, places, companies and works, their passages, and
questions of four kinds generated from a seed.

The knowledge base is one fixed world (generated from `KB_SEED`, the same in every process), like the
Wikipedia dump of the real benchmark; a task seed only picks a question about it. Kinds mirror the
paper's datasets: `single_hop` (NQ/TriviaQA-like: the question itself retrieves the answer), `attribute`
(PopQA-like: a relation of a long-tail entity), `multi_hop` (HotpotQA/2Wiki/MuSiQue-like: a bridge entity
found by one search names the entity of the second) and `comparison` (two entities, two searches).
Every question carries its evidence chain: the searches an expert makes and the text each must surface.
Names are invented, so no model knows the answers without searching. Knows nothing about prompts or
rewards.
"""

from __future__ import annotations

import functools
import itertools
import random
import zlib
from dataclasses import dataclass, field

KINDS = ("single_hop", "attribute", "multi_hop", "comparison")
KB_SEED = 20_260_515
N_PEOPLE, N_CITIES, N_COUNTRIES, N_COMPANIES, N_WORKS = 600, 120, 24, 200, 360

_FIRST = ("Maren Ilsa Tovin Brecca Joran Selka Aldo Wenna Corvin Ysolde Harlan Petra Lisandro Oona Dario Fenna "
          "Ulric Carys Teodor Minna Ansel Rhea Bastian Liora Emrys Tamsin Oskar Nerys Caspian Adela Viggo Solenne "
          "Lucan Elowen Ivo Marisol Kasimir Brisa Leander Odile").split()
_LAST = ("Tolvik Ardane Brisko Calloway Dunmere Estrav Falkner Grisholm Haverly Ingvald Jessop Korrin Lindqvist "
         "Marchetti Norwood Ostrander Pellham Quillon Ravensworth Stroud Thornquist Ulvaeus Varga Whitlock Yarrow "
         "Zelenko Abernathy Bellweather Cordova Delacroix Everard Fairbanks Gallardo Holloway Ibarra Juneau "
         "Kessler Larkspur Montague Nakamura").split()
_CITY_A = "Var Quel Mor Dal Ost Bri Fen Kor Lun Sel Tam Vel Zan Hal Ner Pol Rus Tir Gal Wen".split()
_CITY_B = "holt mere ford wick stad burg haven moor dale port crest field".split()
_COUNTRY_A = "Vel Ard Sol Kar Mir Tor Esk Lum Dra Bel Cas Nor".split()
_COUNTRY_B = ("mora", "essia", "andor", "avia")
_RIVERS = "Ashwater Brenn Coldmere Dusk Elder Fallow Greywind Hollin Ivory Juniper Kestrel Larch".split()
_CURRENCIES = "dral crown mark florin sol lira talent penny".split()
_COMPANY_A = ("Zorvex Kelmar Dravon Ostrix Pylon Quantra Rellis Sarvo Tellur Umbra Vantor Wexley Aldris Borea "
              "Cymex Delphin Eskar Fulcra Gantry Helix").split()
_COMPANY_B = ("Industries", "Works", "Group", "Holdings", "Labs", "Systems", "Trading", "Foundry",
              "Partners", "Dynamics", "Logistics", "Ventures")
_INDUSTRIES = ("shipbuilding textiles aviation pharmaceuticals publishing mining software brewing railways "
               "telecommunications banking agriculture").split()
_OCCUPATIONS = ("botanist cartographer architect violinist chemist sculptor astronomer novelist engineer painter "
                "economist linguist surgeon photographer composer mathematician").split()
_ADJ = ("Glass Silent Crimson Hollow Winter Golden Broken Distant Quiet Burning Paper Iron Velvet Last Hidden "
        "Northern Amber Wandering Salt Midnight").split()
_NOUN = ("Orchard Harbor Lantern Garden Mirror Kingdom River Tower Letter Season Voyage Station Island Compass "
         "Meadow Archive Bridge Chorus Feather Ember").split()
_WORK_KINDS = {"novel": "written by", "film": "directed by"}
_CREATOR = {"novel": "author", "film": "director"}


@dataclass(frozen=True)
class Person:
    name: str
    birth_year: int
    birthplace: str
    occupation: str


@dataclass(frozen=True)
class City:
    name: str
    country: str
    river: str
    founded: int


@dataclass(frozen=True)
class Country:
    name: str
    capital: str
    currency: str


@dataclass(frozen=True)
class Company:
    name: str
    founded: int
    founder: str
    headquarters: str
    industry: str
    branch: str


@dataclass(frozen=True)
class Work:
    title: str
    kind: str
    year: int
    creator: str


@dataclass(frozen=True)
class Question:
    """A question, its gold answers, its kind, the expert's evidence chain: (query, text the search must
    surface) per search, and the facts it rests on, one per search: (subject, relation, value), the same
    triple whichever question asks it ("Who founded X?" and "the founder of X" both rest on (X, founder, P))."""

    question: str
    answers: tuple[str, ...]
    kind: str
    chain: tuple[tuple[str, str], ...] = field(default=())
    facts: tuple[tuple[str, str, str], ...] = field(default=())


@dataclass(frozen=True)
class KnowledgeBase:
    people: tuple[Person, ...]
    cities: tuple[City, ...]
    countries: tuple[Country, ...]
    companies: tuple[Company, ...]
    works: tuple[Work, ...]

    @functools.cached_property
    def by_name(self) -> dict[str, object]:
        entities = self.people + self.cities + self.countries + self.companies
        return {e.name: e for e in entities} | {w.title: w for w in self.works}


def _names(rng: random.Random, parts: tuple, count: int, joiner: str = "") -> list[str]:
    combos = [joiner.join(c) for c in itertools.product(*parts)]
    return rng.sample(combos, count)


@functools.lru_cache(maxsize=1)
def knowledge_base(seed: int = KB_SEED) -> KnowledgeBase:
    """The fixed world; every name is unique across entity types."""
    rng = random.Random(seed)
    country_names = _names(rng, (_COUNTRY_A, _COUNTRY_B), N_COUNTRIES)
    city_names = _names(rng, (_CITY_A, _CITY_B), N_CITIES)
    cities = tuple(City(c, country_names[i % N_COUNTRIES], rng.choice(_RIVERS), rng.randrange(900, 1800))
                   for i, c in enumerate(city_names))
    countries = tuple(Country(n, city_names[i], rng.choice(_CURRENCIES)) for i, n in enumerate(country_names))
    people = tuple(Person(n, rng.randrange(1820, 1995), rng.choice(city_names), rng.choice(_OCCUPATIONS))
                   for n in _names(rng, (_FIRST, _LAST), N_PEOPLE, " "))
    names = [p.name for p in people]
    companies = tuple(Company(n, rng.randrange(1850, 2015), rng.choice(names), rng.choice(city_names),
                              rng.choice(_INDUSTRIES), rng.choice(city_names))
                      for n in _names(rng, (_COMPANY_A, _COMPANY_B), N_COMPANIES, " "))
    works = tuple(Work(f"The {t}", rng.choice(tuple(_WORK_KINDS)), rng.randrange(1850, 2020), rng.choice(names))
                  for t in _names(rng, (_ADJ, _NOUN), N_WORKS, " "))
    kb = KnowledgeBase(people, cities, countries, companies, works)
    assert len(kb.by_name) == N_PEOPLE + N_CITIES + N_COUNTRIES + N_COMPANIES + N_WORKS
    return kb


def passages(kb: KnowledgeBase) -> list[dict]:
    """The corpus in the Search-R1 format: {"id", "contents": "Title\\ntext"}; companies have two passages."""
    docs = []
    for p in kb.people:
        docs.append((p.name, f"{p.name} was born in {p.birthplace} in {p.birth_year}. By occupation "
                             f"{p.name.split()[-1]} is a {p.occupation}."))
    for c in kb.cities:
        docs.append((c.name, f"{c.name} is a city in {c.country}, on the {c.river} river. "
                             f"It was founded in {c.founded}."))
    for c in kb.countries:
        docs.append((c.name, f"{c.name} is a country whose capital is {c.capital}. Its currency is the {c.currency}."))
    for c in kb.companies:
        article = "an" if c.industry[0] in "aeiou" else "a"
        docs.append((c.name, f"{c.name} is {article} {c.industry} company founded in {c.founded} by {c.founder}. "
                             f"Its headquarters are in {c.headquarters}."))
        docs.append((c.name, f"{c.name} opened a regional office in {c.branch} and later expanded abroad."))
    for w in kb.works:
        docs.append((w.title, f"{w.title} is a {w.year} {w.kind} {_WORK_KINDS[w.kind]} {w.creator}."))
    return [{"id": str(i), "contents": f"{title}\n{text}"} for i, (title, text) in enumerate(docs)]


@functools.lru_cache(maxsize=1)
def builtin_index():
    """The BM25 index of the built-in corpus (built once per process, well under a second)."""
    from sdar.retrieval import BM25Index

    return BM25Index(passages(knowledge_base()))


# ----- questions ----------------------------------------------------------------------------------
def _single_hop(kb: KnowledgeBase, rng: random.Random) -> Question:
    which = rng.randrange(3)
    if which == 0:
        w = rng.choice(kb.works)
        verb = "wrote the novel" if w.kind == "novel" else "directed the film"
        q = f"Who {verb} {w.title}?"
        return Question(q, (w.creator,), "single_hop", ((q, w.creator),), ((w.title, "creator", w.creator),))
    if which == 1:
        c = rng.choice(kb.companies)
        q = f"Who founded {c.name}?"
        return Question(q, (c.founder,), "single_hop", ((q, c.founder),), ((c.name, "founder", c.founder),))
    c = rng.choice(kb.countries)
    q = f"What is the capital of {c.name}?"
    return Question(q, (c.capital,), "single_hop", ((q, c.capital),), ((c.name, "capital", c.capital),))


def _attribute(kb: KnowledgeBase, rng: random.Random) -> Question:
    which = rng.randrange(4)
    if which == 0:
        p = rng.choice(kb.people)
        return Question(f"What is {p.name}'s occupation?", (p.occupation,), "attribute",
                        ((f"{p.name} occupation", p.occupation),), ((p.name, "occupation", p.occupation),))
    if which == 1:
        p = rng.choice(kb.people)
        year = str(p.birth_year)
        return Question(f"In what year was {p.name} born?", (year,), "attribute", ((f"{p.name} born", year),),
                        ((p.name, "birth_year", year),))
    if which == 2:
        c = rng.choice(kb.cities)
        return Question(f"In what country is {c.name}?", (c.country,), "attribute", ((f"{c.name} city", c.country),),
                        ((c.name, "country", c.country),))
    c = rng.choice(kb.companies)
    return Question(f"What industry is {c.name} in?", (c.industry,), "attribute",
                    ((f"{c.name} company", c.industry),), ((c.name, "industry", c.industry),))


def _multi_hop(kb: KnowledgeBase, rng: random.Random) -> Question:
    which = rng.randrange(4)
    if which == 0:
        w = rng.choice(kb.works)
        p = kb.by_name[w.creator]
        return Question(f"In which city was the {_CREATOR[w.kind]} of {w.title} born?", (p.birthplace,), "multi_hop",
                        ((f"{w.title} {w.kind}", p.name), (f"{p.name} born", p.birthplace)),
                        ((w.title, "creator", p.name), (p.name, "birthplace", p.birthplace)))
    if which == 1:
        w = rng.choice(kb.works)
        p = kb.by_name[w.creator]
        return Question(f"What is the occupation of the {_CREATOR[w.kind]} of {w.title}?", (p.occupation,),
                        "multi_hop", ((f"{w.title} {w.kind}", p.name), (f"{p.name} occupation", p.occupation)),
                        ((w.title, "creator", p.name), (p.name, "occupation", p.occupation)))
    c = rng.choice(kb.companies)
    if which == 2:
        city = kb.by_name[c.headquarters]
        return Question(f"In which country are the headquarters of {c.name}?", (city.country,), "multi_hop",
                        ((f"{c.name} headquarters", city.name), (f"{city.name} city", city.country)),
                        ((c.name, "headquarters", city.name), (city.name, "country", city.country)))
    p = kb.by_name[c.founder]
    return Question(f"In what year was the founder of {c.name} born?", (str(p.birth_year),), "multi_hop",
                    ((f"{c.name} founded", p.name), (f"{p.name} born", str(p.birth_year))),
                    ((c.name, "founder", p.name), (p.name, "birth_year", str(p.birth_year))))


def _comparison(kb: KnowledgeBase, rng: random.Random) -> Question:
    which = rng.randrange(3)
    pool, year, word = (
        (kb.people, "birth_year", "Who was born first"),
        (kb.companies, "founded", "Which company was founded earlier"),
        (kb.works, "year", "Which work was released more recently"),
    )[which]
    while True:
        a, b = rng.sample(pool, 2)
        if getattr(a, year) != getattr(b, year):
            break
    name = (lambda e: e.title) if which == 2 else (lambda e: e.name)
    later_wins = which == 2
    first = a if (getattr(a, year) < getattr(b, year)) != later_wins else b
    kind_word = {0: "born", 1: "founded", 2: ""}[which]
    chain = tuple((f"{name(e)} {kind_word or e.kind}".strip(), str(getattr(e, year))) for e in (a, b))
    relation = ("birth_year", "founded", "year")[which]
    facts = tuple((name(e), relation, str(getattr(e, year))) for e in (a, b))
    return Question(f"{word}, {name(a)} or {name(b)}?", (name(first),), "comparison", chain, facts)


_MAKERS = {"single_hop": _single_hop, "attribute": _attribute, "multi_hop": _multi_hop, "comparison": _comparison}


HELD_OUT = 5  # one fact in five, by a stable hash of the fact, is kept for evaluation


def held_out_fact(fact: tuple[str, str, str]) -> bool:
    """Whether a (subject, relation, value) fact is kept for evaluation questions."""
    return zlib.crc32(repr(fact).encode()) % HELD_OUT == 0


def split_of(question: Question) -> str | None:
    """"eval" when a fact its answer rests on is held out (the last search's; a comparison's, either),
    "train" when none of its facts is, else None (only an earlier hop held out: in neither split). So no
    training question rests on a fact an evaluation question is answered from, whichever question asks it:
    the world is small and invented, and a policy could otherwise recall evaluation answers unsearched."""
    answered_from = question.facts if question.kind == "comparison" else question.facts[-1:]
    if any(map(held_out_fact, answered_from)):
        return "eval"
    return None if any(map(held_out_fact, question.facts)) else "train"


def make_question(seed: int, *, held_out: bool = False) -> Question:
    """The question of a task seed: kinds rotate with the seed, so any run of consecutive seeds is balanced.
    Training seeds draw only "train" questions and evaluation seeds (`held_out`) only "eval" ones
    (`split_of`), redrawing until one falls on its side."""
    kb = knowledge_base()
    kind = KINDS[seed % len(KINDS)]
    wanted = "eval" if held_out else "train"
    for attempt in itertools.count():
        question = _MAKERS[kind](kb, random.Random(f"search_qa/{seed}" + (f"/{attempt}" if attempt else "")))
        if split_of(question) == wanted:
            return question
