"""A deterministic, realistic book catalog and reading log: recchat's second domain.

recchat's examples and most tests use MovieLens; this module generates a data set from another
domain (books) so that tests and the README can show the engine is not movie-only: other column
names (``book_id``, ``subjects``, ``authors``), list fields with a ``|`` separator, a numeric
range field (``pages``), series, co-authors and a taste-structured reading log.

It writes two CSV files (header row, quoted by the csv module):

- ``books.csv``: ``book_id`` ("b0001"), ``title``, ``authors`` (one or two names joined by
  "|"), ``subjects`` (1-3 of :data:`SUBJECTS` joined by "|"), ``year`` (1850-2023, skewed to
  recent), ``pages`` (60-1200, by subject) and ``description`` (one sentence). About 60 series of
  2-6 books share author(s) and subjects, have increasing years and are named the ways real
  catalogs name them ("Silent Ashes", "Silent Ashes 2"; "Iron Dust 4: Embers"; "Storm of Wings
  Part II"; "White Mercy: Book Two"; "Lighthouse of Roses, Vol. 2"), so they can be found from titles
  alone (:func:`find_series`). Titles are mostly unique; a few exact duplicates by different
  authors exist, as in real catalogs.
- ``reads.csv``: ``user_id`` ("u0001"), ``book_id``, ``rating`` (1-5), ``timestamp`` (unix
  seconds, increasing per user, never before the book's year). Users belong to taste clusters
  (2-4 preferred subjects, some favourite authors); most reads come from those subjects; popular
  books are read more (a long tail); series are read in order and often continued, more often
  after a good rating; in-taste books are rated higher. No (user, book) pair repeats and every
  user has at least 5 reads.

Same arguments, same bytes. Standard library and numpy only. As a script::

    python tests/books.py OUT_DIR [--items N] [--users N] [--seed S]
"""

from __future__ import annotations

import argparse
import calendar
import csv
import re
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

SUBJECTS: tuple[str, ...] = (
    "Fantasy",
    "Science Fiction",
    "Mystery",
    "Thriller",
    "Romance",
    "Horror",
    "Short Stories",
    "Graphic Novel",
    "Children",
    "Poetry",
    "History",
    "Biography",
    "Memoir",
    "Travel",
    "Cooking",
    "Philosophy",
    "Economics",
    "Psychology",
    "Self-Help",
    "Science",
)

# The catalog's fields as recchat's ``[catalog.fields]`` configuration table spells them.
FIELDS: dict[str, dict[str, str]] = {
    "authors": {"column": "authors", "type": "list", "sep": "|", "role": "facet"},
    "subjects": {"column": "subjects", "type": "list", "sep": "|", "role": "facet"},
    "year": {"column": "year", "type": "int", "role": "year"},
    "pages": {"column": "pages", "type": "int", "role": "range", "unit": "pages"},
    "description": {"column": "description", "type": "str"},
}
BOOK_COLUMNS = ("book_id", "title", "authors", "subjects", "year", "pages", "description")
READ_COLUMNS = ("user_id", "book_id", "rating", "timestamp")

# subject: (share of books, median pages, page spread (log sd), noun for descriptions, series-prone)
_SUBJECT_INFO: dict[str, tuple[float, int, float, str, bool]] = {
    "Fantasy": (10, 420, 0.35, "fantasy novel", True),
    "Science Fiction": (8, 360, 0.3, "science fiction novel", True),
    "Mystery": (9, 320, 0.25, "mystery", True),
    "Thriller": (8, 380, 0.25, "thriller", True),
    "Romance": (8, 330, 0.25, "romance", True),
    "Horror": (4, 340, 0.3, "horror novel", True),
    "Short Stories": (3, 260, 0.3, "story collection", False),
    "Graphic Novel": (3, 180, 0.3, "graphic novel", True),
    "Children": (5, 120, 0.5, "children's book", True),
    "Poetry": (3, 100, 0.3, "poetry collection", False),
    "History": (7, 460, 0.35, "history", False),
    "Biography": (5, 440, 0.3, "biography", False),
    "Memoir": (5, 290, 0.25, "memoir", False),
    "Travel": (3, 280, 0.25, "travel book", False),
    "Cooking": (3, 260, 0.3, "cookbook", False),
    "Philosophy": (3, 250, 0.35, "work of philosophy", False),
    "Economics": (3, 330, 0.3, "book on economics", False),
    "Psychology": (3, 310, 0.25, "psychology book", False),
    "Self-Help": (3, 230, 0.25, "self-help guide", False),
    "Science": (5, 320, 0.3, "popular science book", False),
}

# Subjects that share books (a book's second and third subjects come from here).
_RELATED: dict[str, tuple[str, ...]] = {
    "Fantasy": ("Science Fiction", "Romance", "Children", "Graphic Novel", "Horror"),
    "Science Fiction": ("Fantasy", "Thriller", "Graphic Novel", "Science", "Short Stories"),
    "Mystery": ("Thriller", "Horror", "Romance", "History", "Short Stories"),
    "Thriller": ("Mystery", "Science Fiction", "Horror", "History"),
    "Romance": ("Fantasy", "Mystery", "History", "Short Stories"),
    "Horror": ("Fantasy", "Thriller", "Mystery", "Short Stories", "Graphic Novel"),
    "Short Stories": ("Science Fiction", "Fantasy", "Horror", "Poetry", "Romance"),
    "Graphic Novel": ("Fantasy", "Science Fiction", "Memoir", "Children", "Horror"),
    "Children": ("Fantasy", "Poetry", "Science", "Graphic Novel"),
    "Poetry": ("Short Stories", "Memoir", "Philosophy", "Children"),
    "History": ("Biography", "Economics", "Travel", "Science", "Philosophy"),
    "Biography": ("History", "Memoir", "Science", "Economics"),
    "Memoir": ("Biography", "Travel", "Cooking", "Psychology", "Poetry"),
    "Travel": ("Memoir", "History", "Cooking"),
    "Cooking": ("Travel", "Memoir", "History"),
    "Philosophy": ("Psychology", "Science", "History", "Self-Help"),
    "Economics": ("History", "Psychology", "Science", "Biography"),
    "Psychology": ("Self-Help", "Science", "Philosophy", "Economics"),
    "Self-Help": ("Psychology", "Philosophy", "Memoir", "Economics"),
    "Science": ("History", "Philosophy", "Psychology", "Biography"),
}

# Taste clusters: preferred subjects with weights. Users are spread over these unevenly.
_CLUSTERS: tuple[dict[str, float], ...] = (
    {"Fantasy": 5, "Science Fiction": 3, "Graphic Novel": 1},
    {"Science Fiction": 5, "Science": 2, "Thriller": 1.5},
    {"Mystery": 5, "Thriller": 4},
    {"Thriller": 4, "Horror": 3, "Mystery": 2},
    {"Romance": 5, "Fantasy": 2, "Short Stories": 1},
    {"Romance": 4, "Mystery": 3, "History": 1},
    {"History": 5, "Biography": 4, "Economics": 1.5},
    {"Memoir": 4, "Biography": 3, "Travel": 2},
    {"Cooking": 4, "Travel": 3, "Memoir": 2},
    {"Philosophy": 4, "Psychology": 3, "Science": 2, "Poetry": 1},
    {"Self-Help": 5, "Psychology": 4, "Economics": 1.5},
    {"Science": 5, "History": 2, "Economics": 2},
    {"Children": 5, "Fantasy": 3},
    {"Horror": 5, "Fantasy": 2, "Short Stories": 2},
    {"Poetry": 4, "Short Stories": 4, "Memoir": 2},
    {"Graphic Novel": 5, "Science Fiction": 3, "Fantasy": 2},
)

_FIRST = (
    "Ada Alan Alice Amara Anders Anna Arthur Beatrix Ben Bianca Caleb Camille Carmen Celia Chen "
    "Clara Colin Dara David Diego Edith Elena Eli Elias Emil Esther Ewan Farah Felix Fiona Frances "
    "Gabriel Grace Hannah Harriet Hugo Ines Irene Isaac Ivy Jakob James Jane Joan Jonah Julia Kai "
    "Karim Kate Kenji Lena Leo Lila Lionel Lucia Maeve Malik Margaret Marta Mateo Maya Miriam Nadia "
    "Naomi Nell Nora Oliver Omar Oscar Paul Priya Rafael Rachel Rosa Ruth Sam Sara Silas Simone "
    "Sofia Stella Theo Thomas Tomas Vera Victor Walter Yara Yusuf Zadie Zora"
).split()
_LAST = (
    "Abbott Achebe Alvarez Ashford Baines Barrow Bell Blackwood Brandt Calloway Carver Castellan "
    "Chandra Cho Crane Dalton Delacroix Drummond Ellery Esposito Falk Fairweather Finch Fontaine "
    "Garrow Greaves Hale Halloran Hartley Hayashi Holm Ibarra Iyer Jansen Kader Kaur Keene Kowalski "
    "Lachance Lindqvist Lowell Madsen Marlowe Mercer Morrow Nakamura Navarro Novak Okafor Orsini "
    "Pryce Quint Ramos Reyes Rowan Sandoval Sato Shaw Sinclair Soto Strand Sullivan Tanaka Thorne "
    "Torres Underhill Vance Varga Voss Wakefield Whitlock Winslow Wren Yilmaz Zeller"
).split()

_ADJ = (
    "Amber Ashen Bitter Black Blue Broken Burning Crimson Crooked Dark Deep Distant Drowned Empty "
    "Fallen Forgotten Frozen Gilded Glass Golden Green Grey Hidden Hollow Iron Last Little Long "
    "Lost Midnight Narrow Northern Paper Quiet Red Restless Salt Scarlet Secret Silent Silver "
    "Small Stolen Sunken Tender Thin Velvet White Wild Winter Wooden"
).split()
_NOUN = (
    "Orchard River Crown Garden House Lantern Harbor Mirror Tower Forest Island Road Shore Bridge "
    "Mountain Sea Station Kingdom Machine Letter Clock Daughter Widow Sister Stranger Hunter Thief "
    "Witness Keeper Queen King Map Door Window Key Feather Bone Ember Storm Tide Moon Star Field "
    "Valley Lighthouse Library Cathedral Circus Fortune Promise Memory Silence Shadow Song Season "
    "Summer Night Fire Rain Snow Dust Ash Wolf Fox Raven Sparrow Heron Garden Hour Country City"
).split()
_NOUN = list(dict.fromkeys(_NOUN))
_WHO = (
    "Daughter",
    "Widow",
    "Sister",
    "Stranger",
    "Hunter",
    "Thief",
    "Witness",
    "Keeper",
    "Queen",
    "King",
    "Wolf",
    "Fox",
    "Raven",
    "Sparrow",
    "Heron",
)
_WHERE = (
    "Road",
    "River",
    "Shore",
    "Bridge",
    "Valley",
    "Field",
    "Forest",
    "Island",
    "Sea",
    "Harbor",
    "Station",
    "World",
    "Line",
    "Garden",
    "Night",
    "Summer",
)
_ABSTRACT = (
    "Salt Ashes Light Bones Smoke Glass Iron Thorns Stars Rain Dust Honey Wolves Ghosts Kings "
    "Winter Summer Shadows Wings Secrets Lies Mercy Tides Embers Storms Roses Silver Gold"
).split()
_PLACE = (
    "Avalon Babylon Carthage Cordoba Florence Kyoto Lisbon Marrakesh Odessa Samarkand Trieste "
    "Venice Zanzibar Antioch Alexandria Bengal Patagonia Siberia Anatolia Andalusia Byzantium "
    "Tangier Manchuria Mesopotamia Flanders Bohemia Persia Ceylon Madeira Sicily"
).split()
_CONCEPT = (
    "Attention Belief Chance Desire Doubt Freedom Habit Happiness Justice Luck Memory Money "
    "Nothing Progress Reason Risk Solitude Time Trust Value Wonder Work Kindness Courage Grief "
    "Scarcity Power Order Chaos Numbers Light Matter Energy"
).split()
_FOOD = (
    "Figs Lemons Olives Bread Butter Saffron Honey Chilies Rice Tomatoes Pears Garlic Salt Smoke "
    "Herbs Beans Noodles Plums Apricots Cheese Fire Spice"
).split()
_FIELDS_OF = (
    "Medicine",
    "Physics",
    "Chemistry",
    "Astronomy",
    "Mathematics",
    "Biology",
    "Geology",
    "Flight",
    "Music",
    "Photography",
    "Cartography",
    "Engineering",
)
_TONES = (
    "quiet",
    "sweeping",
    "sharp",
    "tender",
    "unsettling",
    "witty",
    "lyrical",
    "brisk",
    "haunting",
    "warm",
    "clear-eyed",
    "funny",
    "moving",
    "ambitious",
    "gripping",
    "gentle",
)
_SUBTITLE = (
    "Ashes",
    "Embers",
    "Reckoning",
    "Return",
    "Exile",
    "Tides",
    "Thorns",
    "Winter",
    "Crowns",
    "Legacy",
    "Ruin",
    "Dawn",
    "Shadows",
    "Homecoming",
    "Storm",
    "Harvest",
)
_WORDS = ("One", "Two", "Three", "Four", "Five", "Six")
_ROMAN = ("I", "II", "III", "IV", "V", "VI")

_FICTION_PATTERNS = (
    "The {adj} {noun}",
    "The {adj} {noun}",
    "A {noun} of {abstract}",
    "The {noun} of {abstract}",
    "{adj} {noun}",
    "The {noun}'s {noun2}",
    "{abstract} and {abstract2}",
    "The Last {noun}",
    "A {season} of {abstract}",
    "Under the {adj} {noun}",
    "The {noun} at the End of the {where}",
    "{adj} {abstract}",
    "The {who} Who Came Back",
    "What the {who} Knew",
    "The {place} {noun}",
)
_PATTERNS: dict[str, tuple[str, ...]] = {
    "History": (
        "The {noun} of {place}: A History",
        "The Fall of {place}",
        "Empire of {abstract}",
        "{place}: {abstract} and {abstract2}",
        "The Road to {place}",
        "A Short History of {concept}",
        "The {adj} Century",
    ),
    "Biography": ("{person}: A Life", "The {adj} Life of {person}", "{person} and the {noun}", "Becoming {person}"),
    "Memoir": (
        "The {adj} Years",
        "What the {noun} Remembers",
        "A {noun} of My Own",
        "Notes from a {adj} {noun}",
        "Leaving {place}",
        "My Father's {noun}",
    ),
    "Travel": (
        "Walking to {place}",
        "Notes from {place}",
        "The Slow Road to {place}",
        "A Summer in {place}",
        "Beyond {place}",
    ),
    "Cooking": (
        "The {adj} Kitchen",
        "{food} and {food2}",
        "Cooking with {food}",
        "A Table in {place}",
        "The Book of {food}",
    ),
    "Poetry": ("{abstract}", "Poems for the {noun}", "The {adj} Hours", "Elegy for a {noun}", "{noun} Songs"),
    "Philosophy": (
        "On {concept}",
        "The Problem of {concept}",
        "{concept} and {concept2}",
        "Against {concept}",
        "The Uses of {concept}",
    ),
    "Economics": (
        "The Price of {concept}",
        "{concept} and {concept2}",
        "The {adj} Economy",
        "Why {concept} Matters",
        "The Wealth of {place}",
    ),
    "Psychology": (
        "The {adj} Mind",
        "The Science of {concept}",
        "Thinking About {concept}",
        "The Hidden Life of {concept}",
    ),
    "Self-Help": (
        "The Art of {concept}",
        "Small Steps to {concept}",
        "The {concept} Habit",
        "Make Room for {concept}",
        "A Field Guide to {concept}",
    ),
    "Science": (
        "The {noun} Problem",
        "A Brief History of {field}",
        "The Secret Life of {abstract}",
        "How {field} Works",
        "The Age of {field}",
        "{concept} and {concept2}",
    ),
    "Children": (
        "The Little {noun}",
        "{name} and the {adj} {noun}",
        "Where the {noun} Sleeps",
        "The {who} Who Wanted More",
        "Goodnight, {adj} {noun}",
    ),
}

_SERIES_RE = (
    re.compile(r"^(?P<stem>.+?), Vol\. (?P<num>[1-9])$"),  # Stem, Vol. 2
    re.compile(r"^(?P<stem>.+?) Part (?P<roman>[IVX]+)$"),  # Stem Part II
    re.compile(r"^(?P<stem>.+?): Book (?P<word>One|Two|Three|Four|Five|Six)$"),  # Stem: Book Two
    re.compile(r"^(?P<stem>[^:]+?) (?P<num>[2-9])(?:: .+)?$"),  # Stem 2, Stem 3: Sub
)


def recchat_config(books_csv: Path, reads_csv: Path, folder: Path) -> dict[str, Any]:
    """The recchat configuration the tests and benchmarks use for these files: rules and text
    retrieval only (no scorer file, no LLM), everything written under ``folder``."""
    fields = {k: dict(FIELDS[k]) for k in ("subjects", "authors", "year", "pages")}  # subjects first: the primary facet
    return {
        "name": "books",
        "catalog": {"path": str(books_csv), "id": "book_id", "title": "title", "fields": fields},
        "interactions": {"path": str(reads_csv), "item": "book_id"},
        "index": {"path": str(folder / "index")},
        "scorer": {"checkpoint": str(folder / "no-scorer.pt")},
        "profiles": str(folder / "profiles"),
        "llm": {"backend": "none"},
        "domain": {"item": "book", "verb": "read"},
    }


def series_number(title: str) -> tuple[str, int] | None:
    """``(stem, number)`` for a numbered series title ("Ember Crown Part II" -> ("Ember Crown", 2))."""
    for pattern in _SERIES_RE:
        match = pattern.match(title)
        if match:
            groups = match.groupdict()
            if groups.get("roman"):
                if groups["roman"] not in _ROMAN:
                    return None
                number = _ROMAN.index(groups["roman"]) + 1
            elif groups.get("word"):
                number = _WORDS.index(groups["word"]) + 1
            else:
                number = int(groups["num"])
            return match["stem"], number
    return None


def find_series(books: Iterable[tuple[str, str, str]]) -> dict[str, list[str]]:
    """Series found from titles alone: ``{stem: [book_id of number 1, 2, ...]}``.

    ``books`` yields ``(book_id, title, authors)``. A numbered title names its stem; an
    unnumbered title equal to a stem (with the same authors) is that series' first book.
    """
    rows = list(books)
    numbered: dict[tuple[str, str], dict[int, str]] = {}
    for book_id, title, authors in rows:
        parsed = series_number(title)
        if parsed:
            numbered.setdefault((parsed[0], authors), {})[parsed[1]] = book_id
    for book_id, title, authors in rows:
        if (title, authors) in numbered and 1 not in numbered[(title, authors)]:
            numbered[(title, authors)][1] = book_id
    series: dict[str, list[str]] = {}
    for (stem, _), by_number in numbered.items():
        ordered = [by_number[n] for n in sorted(by_number)]
        if len(ordered) >= 2 and sorted(by_number) == list(range(1, len(ordered) + 1)):
            series[stem] = ordered
    return series


# --------------------------------------------------------------------------- catalog


def _pick(rng: np.random.Generator, seq: list[str] | tuple[str, ...]) -> str:
    return seq[int(rng.integers(len(seq)))]


def _two(rng: np.random.Generator, words: list[str]) -> tuple[str, str]:
    """Two different words."""
    i = int(rng.integers(len(words)))
    return words[i], words[(i + 1 + int(rng.integers(len(words) - 1))) % len(words)]


def _title(rng: np.random.Generator, subject: str) -> str:
    patterns = _PATTERNS.get(subject, _FICTION_PATTERNS)
    if subject in _PATTERNS and rng.random() < 0.2:
        patterns = _FICTION_PATTERNS
    nouns, abstracts, concepts, foods = (_two(rng, words) for words in (_NOUN, _ABSTRACT, _CONCEPT, _FOOD))
    title = _pick(rng, patterns).format(
        adj=_pick(rng, _ADJ),
        noun=nouns[0],
        noun2=nouns[1],
        abstract=abstracts[0],
        abstract2=abstracts[1],
        concept=concepts[0],
        concept2=concepts[1],
        food=foods[0],
        food2=foods[1],
        place=_pick(rng, _PLACE),
        who=_pick(rng, _WHO),
        where=_pick(rng, _WHERE),
        season=_pick(rng, ("Winter", "Summer", "Season", "Year", "Spring")),
        person=f"{_pick(rng, _FIRST)} {_pick(rng, _LAST)}",
        name=_pick(rng, _FIRST),
        field=_pick(rng, _FIELDS_OF),
    )
    return re.sub(r"\b([Aa]) (?=[AEIOU])", r"\1n ", title)


def _stem(rng: np.random.Generator) -> str:
    return _pick(
        rng,
        (
            f"The {_pick(rng, _ADJ)} {_pick(rng, _NOUN)}",
            f"{_pick(rng, _ADJ)} {_pick(rng, _NOUN)}",
            f"{_pick(rng, _NOUN)} of {_pick(rng, _ABSTRACT)}",
            f"The {_pick(rng, _NOUN)} Chronicles",
            f"{_pick(rng, _ADJ)} {_pick(rng, _ABSTRACT)}",
            f"The {_pick(rng, _PLACE)} Saga",
        ),
    )


def _series_titles(rng: np.random.Generator, stem: str, length: int) -> list[str]:
    style = int(rng.integers(4))
    bare_first = rng.random() < 0.6
    subtitles = [_SUBTITLE[int(i)] for i in rng.choice(len(_SUBTITLE), length, replace=False)]
    titles = []
    for n in range(1, length + 1):
        if n == 1 and bare_first:
            titles.append(stem)
        elif style == 0:
            sub = f": {subtitles[n - 1]}" if n >= 3 and rng.random() < 0.5 else ""
            titles.append(stem if n == 1 else f"{stem} {n}{sub}")
        elif style == 1:
            titles.append(f"{stem} Part {_ROMAN[n - 1]}")
        elif style == 2:
            titles.append(f"{stem}: Book {_WORDS[n - 1]}")
        else:
            titles.append(f"{stem}, Vol. {n}")
    return titles


_UNCOUNTABLE = {"Dust", "Ash", "Rain", "Snow", "Fire", "Silence", "Fortune"}
_TOPIC_WORDS = (
    {w: "noun" for w in _NOUN}
    | {w: "mass" for w in _ABSTRACT + _FOOD + _CONCEPT}
    | {w: "name" for w in _PLACE}
    | {w: "mass" for w in _FIELDS_OF}
)


def _plural(noun: str) -> str:
    if noun in _UNCOUNTABLE:
        return noun.lower()
    if noun.endswith(("f", "fe")) and noun not in ("Chief",):
        return noun.lower().removesuffix("fe").removesuffix("f") + "ves"
    if noun.endswith("y") and noun[-2] not in "aeiou":
        return noun.lower()[:-1] + "ies"
    if noun.endswith(("s", "x", "ch", "sh")):
        return noun.lower() + "es"
    return noun.lower() + "s"


def _topics(title: str) -> list[str]:
    """The title's nouns as a description mentions them: "orchards", "salt", "Lisbon"."""
    out: list[str] = []
    for word in re.findall(r"[A-Za-z]+", title):
        kind = _TOPIC_WORDS.get(word)
        phrase = (
            _plural(word) if kind == "noun" else word if kind == "name" else word.lower() if kind == "mass" else None
        )
        if phrase and phrase not in out:
            out.append(phrase)
    return out


def _description(rng: np.random.Generator, title: str, subjects: list[str]) -> str:
    kind = _SUBJECT_INFO[subjects[0]][3]
    tone = _pick(rng, _TONES)
    article = "An" if tone[0] in "aeiou" else "A"
    words = _topics(title)[:2] or [_plural(_pick(rng, _NOUN))]
    text = f"{article} {tone} {kind} about {' and '.join(words)}"
    if len(subjects) > 1:
        text += ", with touches of " + " and ".join(s.lower() for s in subjects[1:])
    return text + "."


def _year(rng: np.random.Generator, latest: int = 2023) -> int:
    if rng.random() < 0.06:  # classics: anywhere from 1850
        return int(rng.integers(1850, latest + 1))
    return int(max(1850, latest - int(rng.exponential(14))))


def _pages(rng: np.random.Generator, subject: str) -> int:
    _, median, spread, _, _ = _SUBJECT_INFO[subject]
    return int(np.clip(round(median * np.exp(rng.normal(0, spread))), 60, 1200))


def _subjects(rng: np.random.Generator, primary: str) -> list[str]:
    count = int(rng.choice(3, p=(0.45, 0.4, 0.15))) + 1
    related = _RELATED[primary]
    extra = rng.choice(len(related), min(count - 1, len(related)), replace=False)
    return [primary] + [related[int(i)] for i in extra]


def _catalog(rng: np.random.Generator, items: int) -> tuple[list[dict], list[list[int]], list[str]]:
    """Books (as dicts, in id order), series (lists of book indices in order) and author names."""
    shares = np.array([_SUBJECT_INFO[s][0] for s in SUBJECTS], float)
    shares /= shares.sum()

    # Authors, each with a home subject (sometimes two) and a productivity.
    n_authors = max(20, int(items / 2.6))
    names = list(dict.fromkeys(f"{f} {l}" for f in _FIRST for l in _LAST))
    chosen = rng.choice(len(names), min(n_authors, len(names)), replace=False)
    authors = [names[int(i)] for i in chosen]
    home = rng.choice(len(SUBJECTS), len(authors), p=shares)
    second = np.where(rng.random(len(authors)) < 0.3, rng.choice(len(SUBJECTS), len(authors), p=shares), home)
    productivity = rng.pareto(1.3, len(authors)) + 1.0
    pool: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for s in range(len(SUBJECTS)):
        members = np.flatnonzero((home == s) | (second == s))
        if len(members) == 0:
            members = np.array([int(rng.integers(len(authors)))])
        weights = productivity[members] / productivity[members].sum()
        pool[s] = (members, weights)

    def author_for(s: int, exclude: int = -1) -> int:
        members, weights = pool[s]
        for _ in range(8):
            a = int(members[int(np.searchsorted(np.cumsum(weights), rng.random() * weights.sum()))])
            if a != exclude:
                return a
        return int(rng.integers(len(authors)))

    def names_of(primary: int) -> list[str]:
        first = author_for(primary)
        if rng.random() < 0.08:
            return [authors[first], authors[author_for(primary, exclude=first)]]
        return [authors[first]]

    used: set[str] = set()

    # Series first, so their stems are reserved before standalone titles are drawn.
    n_series = max(1, round(60 * items / 2400)) if items >= 40 else 0
    series_subjects = [i for i, s in enumerate(SUBJECTS) if _SUBJECT_INFO[s][4]]
    series_shares = shares[series_subjects] / shares[series_subjects].sum()
    planned: list[list[dict]] = []
    budget = int(items * 0.15)
    for _ in range(n_series):
        length = int(rng.choice([2, 3, 4, 5, 6], p=(0.3, 0.33, 0.17, 0.1, 0.1)))
        if budget - length < 0:
            break
        budget -= length
        primary = series_subjects[int(rng.choice(len(series_subjects), p=series_shares))]
        stem = _stem(rng)
        while stem in used:
            stem = _stem(rng)
        titles = _series_titles(rng, stem, length)
        used.update([stem, *titles])
        subjects = _subjects(rng, SUBJECTS[primary])
        years = np.cumsum([_year(rng, 2023 - length), *rng.integers(1, 4, length - 1)])
        years = [int(y) for y in years - max(0, int(years[-1]) - 2023)]  # strictly increasing
        pages0 = _pages(rng, SUBJECTS[primary])
        pages = [
            int(np.clip(round(pages0 * (1 + 0.08 * k) * np.exp(rng.normal(0, 0.1))), 60, 1200)) for k in range(length)
        ]
        book_authors = names_of(primary)
        planned.append(
            [
                {
                    "title": title,
                    "authors": book_authors,
                    "subjects": subjects,
                    "year": years[k],
                    "pages": pages[k],
                    "series": stem,
                }
                for k, title in enumerate(titles)
            ]
        )

    # Standalone books fill the rest; series books are spread through the id range.
    n_series_books = sum(map(len, planned))
    standalone_titles: list[str] = []
    title_authors: dict[str, set[str]] = {}
    entries: list[dict] = []
    for _ in range(items - n_series_books):
        primary = int(rng.choice(len(SUBJECTS), p=shares))
        book_authors = names_of(primary)
        title = None
        if standalone_titles and rng.random() < 0.004:  # a real-catalog exact duplicate
            earlier = standalone_titles[int(rng.integers(len(standalone_titles)))]
            if not title_authors[earlier] & set(book_authors):
                title = earlier
        while title is None:
            candidate = _title(rng, SUBJECTS[primary])
            if candidate not in used and not series_number(candidate):
                title = candidate
        used.add(title)
        standalone_titles.append(title)
        title_authors.setdefault(title, set()).update(book_authors)
        subjects = _subjects(rng, SUBJECTS[primary])
        entries.append(
            {
                "title": title,
                "authors": book_authors,
                "subjects": subjects,
                "year": _year(rng),
                "pages": _pages(rng, SUBJECTS[primary]),
                "series": None,
            }
        )
    slots = sorted(rng.choice(len(entries) + 1, len(planned), replace=True).tolist())
    books: list[dict] = []
    cursor = 0
    for run, slot in zip(planned, slots):
        books.extend(entries[cursor:slot])
        cursor = slot
        books.extend(run)
    books.extend(entries[cursor:])

    members: dict[str, list[int]] = {}
    for index, book in enumerate(books):
        book["description"] = _description(rng, book["title"], book["subjects"])
        if book["series"]:
            members.setdefault(book["series"], []).append(index)
    return books, list(members.values()), authors


# --------------------------------------------------------------------------- reads


def _reads(
    rng: np.random.Generator, books: list[dict], series: list[list[int]], authors: list[str], users: int
) -> list[tuple[int, int, int, int]]:
    """(user, book, rating, timestamp) rows, grouped by user, oldest first."""
    n = len(books)
    subject_index = {s: i for i, s in enumerate(SUBJECTS)}
    author_index = {a: i for i, a in enumerate(authors)}
    has = np.zeros((n, len(SUBJECTS)))
    for b, book in enumerate(books):
        for s in book["subjects"]:
            has[b, subject_index[s]] = 1.0 if s == book["subjects"][0] else 0.6
    book_authors = [[author_index[a] for a in book["authors"]] for book in books]
    published = np.array([calendar.timegm((book["year"], 1, 1, 0, 0, 0)) for book in books])

    # Popularity: a long tail, with first books of series and recent books a little ahead.
    popularity = rng.lognormal(0.0, 1.1, n)
    quality = rng.normal(0.0, 0.45, n)
    position = np.full(n, -1)
    series_of = np.full(n, -1)
    for k, members in enumerate(series):
        bump = rng.lognormal(0.5, 0.5)
        for p, b in enumerate(members):
            position[b], series_of[b] = p, k
            popularity[b] *= bump
            quality[b] = quality[members[0]] + rng.normal(0, 0.2)
    popularity *= 1 + 0.5 * (np.array([b["year"] for b in books]) >= 2000)

    clusters = []
    for preferences in _CLUSTERS:
        weights = np.zeros(len(SUBJECTS))
        for s, w in preferences.items():
            weights[subject_index[s]] = w
        near = np.flatnonzero(has[:, weights > 0].max(axis=1) > 0)
        fans = {a for b in rng.choice(near, min(12, len(near)), replace=False) for a in book_authors[int(b)]}
        fan_books = np.array([any(a in fans for a in ba) for ba in book_authors])
        clusters.append((weights / weights.sum(), fan_books))
    sizes = rng.dirichlet(np.full(len(clusters), 3.0))

    start_lo = calendar.timegm((2012, 1, 1, 0, 0, 0))
    end = calendar.timegm((2024, 12, 31, 0, 0, 0))
    rows: list[tuple[int, int, int, int]] = []
    for u in range(users):
        c = int(rng.choice(len(clusters), p=sizes))
        weights, fan_books = clusters[c]
        own = weights * rng.gamma(4.0, 0.25, len(weights))  # a user's own tilt
        own /= own.sum()
        taste = has @ own  # 0 .. ~0.5 per book
        in_taste = taste > 0
        affinity = np.where(in_taste, 0.15 + taste * 12, 0.06)
        affinity = affinity * np.where(fan_books, 2.5, 1.0)
        weight = affinity * popularity**0.9
        cdf = np.cumsum(weight)
        cdf /= cdf[-1]
        bias = rng.normal(0.0, 0.35)
        fit = (taste / max(taste.max(), 1e-9) * 1.2 - 1.0 * ~in_taste + 0.3 * fan_books + quality).tolist()

        wanted = int(min(5 + rng.lognormal(2.9, 0.75), n // 3, 400))
        gap = float(rng.lognormal(np.log(4 * 86400), 0.5))  # this user's pace
        gap = min(gap, (end - start_lo) / (1.5 * wanted))
        now = int(rng.integers(start_lo, int(end - 1.5 * wanted * gap)))
        read: set[int] = set()
        progress: dict[int, int] = {}  # series -> next position
        pending: list[int] = []  # series being continued
        attempts = 0
        draws = iter(())
        while len(read) < wanted and attempts < wanted * 60:
            attempts += 1
            if pending and rng.random() < 0.55:
                k = pending[0]
                b = series[k][progress[k]]
            else:
                try:
                    b = next(draws)
                except StopIteration:
                    draws = iter(np.searchsorted(cdf, rng.random(64)).tolist())
                    b = next(draws)
                if series_of[b] >= 0:  # start, or go on, in order
                    k = int(series_of[b])
                    if progress.get(k, 0) >= len(series[k]):
                        continue
                    b = series[k][progress.get(k, 0)]
            if b in read:
                continue
            # Not out yet: wait for it; a user stuck for long jumps ahead to its year instead.
            if published[b] > now and attempts <= wanted * 40:
                if pending and series[pending[0]][progress[pending[0]]] == b:
                    pending.append(pending.pop(0))  # the next one is not out yet
                continue
            read.add(b)
            score = 3.1 + bias + fit[b] + rng.normal(0, 0.85)
            if series_of[b] >= 0 and position[b] > 0:
                score += 0.3  # who continues, likes it
            rating = min(5, max(1, round(score)))
            now = max(now, int(published[b])) + max(60, int(rng.exponential(gap)))
            rows.append((u, b, rating, now))
            if series_of[b] >= 0:
                k = int(series_of[b])
                progress[k] = int(position[b]) + 1
                if k in pending:
                    pending.remove(k)
                go_on = 0.85 if rating >= 4 else 0.45 if rating == 3 else 0.15
                if progress[k] < len(series[k]) and rng.random() < go_on:
                    pending.insert(0, k)
        if len(read) < 5:
            raise RuntimeError(f"user {u} got only {len(read)} reads; the generator needs a fix")
    return rows


# --------------------------------------------------------------------------- files


def generate(folder: Path | str, *, items: int = 2400, users: int = 1200, seed: int = 0) -> tuple[Path, Path]:
    """Write ``folder/books.csv`` and ``folder/reads.csv``; the same arguments give the same bytes."""
    if items < 20 or users < 1:
        raise ValueError("at least 20 items and 1 user are needed")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    books, series, authors = _catalog(rng, items)
    rows = _reads(rng, books, series, authors, users)

    books_path, reads_path = folder / "books.csv", folder / "reads.csv"
    width = max(4, len(str(items)))
    uwidth = max(4, len(str(users)))
    with open(books_path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
        writer.writerow(BOOK_COLUMNS)
        for i, book in enumerate(books):
            writer.writerow(
                (
                    f"b{i + 1:0{width}d}",
                    book["title"],
                    "|".join(book["authors"]),
                    "|".join(book["subjects"]),
                    book["year"],
                    book["pages"],
                    book["description"],
                )
            )
    with open(reads_path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
        writer.writerow(READ_COLUMNS)
        for u, b, rating, stamp in rows:
            writer.writerow((f"u{u + 1:0{uwidth}d}", f"b{b + 1:0{width}d}", rating, stamp))
    return books_path, reads_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write a synthetic book catalog and reading log.")
    parser.add_argument("out", type=Path, help="folder for books.csv and reads.csv")
    parser.add_argument("--items", type=int, default=2400)
    parser.add_argument("--users", type=int, default=1200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    paths = generate(args.out, items=args.items, users=args.users, seed=args.seed)
    for path in paths:
        with open(path, encoding="utf-8", newline="") as fh:
            count = sum(1 for _ in csv.reader(fh)) - 1
        print(f"{path}: {count} rows")
    print(f"({time.perf_counter() - started:.2f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
