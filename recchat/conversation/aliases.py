"""Item aliases: the names a title goes by, derived from the catalog as it writes the title.

:func:`aliases_of` gives, for one catalog title:

- the title with its article moved either way, in the common languages ("Matrix, The" is also
  "The Matrix" and "Matrix"; "Fabuleux destin d'Amélie Poulain, Le"; "Blaue Engel, Der"); the
  form with the article is kept too, since a user who writes it ("the graduate") means the title;
- each parenthesised alternate and each "a.k.a." name ("Seven (a.k.a. Se7en)" is also "Se7en");
- subtitle parts after ":" or " - " ("Star Wars: Episode V - The Empire Strikes Back" is also
  "The Empire Strikes Back" and "Star Wars 5"), the series stem ("Star Wars") kept as a separate,
  weaker alias that every member shares;
- spelling: accents, "&"/"and", roman numerals and number words as digits ("Part II" = "2",
  "Twelve Monkeys" = "12 Monkeys"), "Vol. 1" = "Vol 1", punctuation inside names ("E.T." = "ET",
  "WALL·E" = "WALL-E" = "Wall E" = "WallE"), a year in parentheses dropped (the linker uses it
  as evidence).

:func:`read_aliases` reads the optional aliases file (``[domain] aliases``: CSV of item id,
alias) for what no rule derives ("T2", "A New Hope"). :func:`words` is the one normalisation
both aliases and messages go through, so "the empire strikes back" meets "Empire Strikes Back,
The"; it keeps each word's place in the text (the rules of :mod:`recchat.conversation.understand` read the
same words).
"""

from __future__ import annotations

import csv
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from recchat.data.catalog import Catalog

_ROMAN = {"ii": "2", "iii": "3", "iv": "4", "v": "5", "vi": "6", "vii": "7", "viii": "8", "ix": "9", "x": "10"}
# Articles, as titles move them to the end ("Matrix, The"; "Blaue Engel, Der"; "Avventura, L'").
ARTICLES = (
    "the",
    "a",
    "an",
    "le",
    "la",
    "les",
    "l",
    "il",
    "lo",
    "gli",
    "el",
    "los",
    "las",
    "der",
    "die",
    "das",
    "un",
    "une",
    "uno",
    "una",
    "ein",
    "eine",
    "den",
    "det",
    "de",
    "het",
)
# Articles that lead an alias key away: "The Matrix" and "Matrix" are one key. Only articles that
# are no everyday word elsewhere ("die", "de", "den" are), so "Die Hard" keeps its first word.
_LEADING = frozenset(ARTICLES) - {"die", "de", "den"}
_NUMBERS = (
    "two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty"
).split()
_ORDINAL_WORDS = "first second third fourth fifth sixth seventh eighth ninth tenth".split()
_ORDINAL_DIGITS = ["1st", "2nd", "3rd"] + [f"{n}th" for n in range(4, 11)]
_NUMBER_SWAP = {
    **{w: str(n) for n, w in enumerate(_NUMBERS, start=2)},
    **{str(n): w for n, w in enumerate(_NUMBERS, start=2)},
    **dict(zip(_ORDINAL_WORDS, _ORDINAL_DIGITS)),
    **dict(zip(_ORDINAL_DIGITS, _ORDINAL_WORDS)),
}
_PART_NUMBERS = {"one": "1", **{w: str(n) for n, w in enumerate(_NUMBERS, start=2)}}
_TRAILING_ARTICLE = re.compile(r"^(?P<body>.+?),\s*(?P<art>" + "|".join(ARTICLES) + r"|l')\s*$", re.IGNORECASE)
_YEAR_PAREN = re.compile(r"\s*\((1[89]\d\d|20\d\d)(?:[-–]\d{0,4})?\)\s*$")
_PAREN = re.compile(r"\(([^()]*)\)")
_AKA = re.compile(r"^\s*(?:a\.?\s?k\.?\s?a\.?|also known as|aka)\s+", re.IGNORECASE)
_PART_MARK = re.compile(
    r"^(part|pt|episode|ep|vol|volume|chapter|book|no)\.?\s*(\d+|[ivx]+|one|two|three|four|five|"
    r"six|seven|eight|nine|ten)$",
    re.IGNORECASE,
)
# A person's name owning the title: "Monty Python's Life of Brian", "Wes Craven's New Nightmare"
# (two or three capitalised words, so "Schindler's List" and "It's a Wonderful Life" are not).
_OWNER = re.compile(r"^(?:[A-Z][\w.\-]*\s+){1,2}[A-Z][\w.\-]*['’]s\s+(?P<rest>\S.*)$")
STEM_STRENGTH = 0.4  # a series stem shared by its members ("Star Wars")
SUBTITLE_STRENGTH = 0.8


# --------------------------------------------------------------------------- normalisation


@dataclass(frozen=True)
class Word:
    """A normalised word of a text and where it came from (``start``:``end`` in the text)."""

    text: str
    start: int
    end: int


_TOKEN = re.compile(r"[^\W_](?:[\w'’·.\-&]*[^\W_])?|&", re.UNICODE)


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def words(text: str) -> list[Word]:
    """``text`` as normalised words: lower case, accents gone, "&" as "and", "E.T." as "et",
    "WALL·E" as "wall e", French elision split ("d'Amélie" -> "d amelie"), roman numerals as
    digits, "part"/"pt" before a number dropped ("Part II" -> "2"), "Vol."/"volume" as "vol"."""
    out: list[Word] = []
    for m in _TOKEN.finditer(text):
        token = m.group(0)
        if token == "&":
            out.append(Word("and", m.start(), m.end()))
            continue
        t = _ascii(token.replace("·", "-").replace("’", "'").replace("½", " 1/2")).lower()  # "8½" = "8 1/2"
        t = re.sub(r"^([ldjmnst]|qu)'(?=[a-z])", r"\1 ", t)  # l'avventura, d'amelie
        if re.fullmatch(r"(?:[a-z]\.)+[a-z]\.?", t):  # e.t., l.a.
            t = t.replace(".", "")
        t = t.replace("'", " ").replace(".", " ")  # "don't" -> "don t", as the rules read negations
        for part in re.split(r"[^a-z0-9]+", t):
            if part:
                out.append(Word(_ROMAN.get(part, part), m.start(), m.end()))
    keep: list[Word] = []
    for n, w in enumerate(out):
        nxt = out[n + 1].text if n + 1 < len(out) else ""
        if w.text in ("part", "pt") and (nxt.isdigit() or nxt == "i" or nxt in _PART_NUMBERS):
            continue
        if w.text == "i" and n and out[n - 1].text in ("part", "pt", "book", "vol", "volume", "chapter", "episode"):
            w = Word("1", w.start, w.end)  # "Part I": "i" is a numeral after a part word
        if w.text in _PART_NUMBERS and n and out[n - 1].text in ("part", "pt"):
            w = Word(_PART_NUMBERS[w.text], w.start, w.end)  # "part one" is "Part I": "1"
        if w.text == "bk" and (nxt.isdigit() or nxt in _PART_NUMBERS):
            w = Word("book", w.start, w.end)  # "bk 2"
        keep.append(Word("vol", w.start, w.end) if w.text == "volume" and nxt.isdigit() else w)
    return keep


def normalize(text: str) -> str:
    """``text``'s normalised words joined by spaces (see :func:`words`)."""
    return " ".join(w.text for w in words(text))


def key_of(text: str) -> str:
    """The lookup key of a title or a span: normalised, one leading article dropped."""
    return _key(normalize(text).split())


def normalize_title(text: str) -> str:
    """A title as titles are compared: normalised words, a leading article and a final "(year)"
    dropped ("The Godfather: Part II" -> "godfather 2"); see :mod:`recchat.conversation.link`."""
    return key_of(_YEAR_PAREN.sub("", text))


def _key(parts: list[str]) -> str:
    """Normalised words as a key: a possessive's "s" dropped ("Schindler's" = "Schindlers" =
    "Schindler"), then one leading article."""
    parts = [p for p in parts if p != "s"] or parts
    if len(parts) > 1 and parts[0] in _LEADING:
        parts = parts[1:]
    return " ".join(parts)


# --------------------------------------------------------------------------- aliases


@dataclass(frozen=True)
class Alias:
    item_id: str
    key: str  # normalised, leading article dropped
    strength: float  # 1 for the title itself; lower for subtitles and shared stems
    kind: str  # "title", "alternate", "subtitle", "stem", "file", "short" (written with its dots)


def _move_article(title: str) -> str:
    """ "Matrix, The" -> "The Matrix"; "Godfather: Part II, The" -> "The Godfather: Part II"."""
    m = _TRAILING_ARTICLE.match(title)
    if not m:
        return title
    art = m["art"]
    return f"{art}{m['body']}" if art.endswith("'") else f"{art} {m['body']}"


def _split_title(title: str) -> tuple[str, list[str], int | None]:
    """(main title, parenthesised alternates, year) of a catalog title."""
    year = None
    m = _YEAR_PAREN.search(title)
    if m:
        year, title = int(m.group(1)), title[: m.start()]
    alternates = []
    for p in _PAREN.findall(title):
        p = _AKA.sub("", p).strip()
        if p and not re.fullmatch(r"\d{4}|[\d\s\-–]+", p):
            alternates.append(_move_article(p))
    main = _PAREN.sub(" ", title).strip()
    main = re.sub(r"\s+", " ", main)
    return _move_article(main) or title, alternates, year


def aliases_of(item_id: str, title: str) -> list[Alias]:
    """Every alias of one catalog title (see the module docstring)."""
    main, alternates, _ = _split_title(title)
    found: dict[str, Alias] = {}

    def add(text: str, strength: float, kind: str) -> None:
        full = normalize(text)
        # "L.A. Story": an abbreviation that reads as an article ("la") is none
        key = full if re.match(r"\s*(?:[A-Za-z]\.){2,}", text) else key_of(text)
        keys = [key]
        if full != key and full.split()[0] in _LEADING:
            keys.append(" ".join(w for w in full.split() if w != "s"))  # "the graduate": its article is evidence
        spelt = set(keys)  # as written, with or without its article
        for k in list(keys):
            swapped = " ".join(_NUMBER_SWAP.get(w, w) for w in k.split())
            if swapped != k:
                keys.append(swapped)  # "twelve monkeys" = "12 monkeys"
        for k in keys:
            # "heat" is Heat before it is The Heat: a key that lost the title's article is a shade
            # weaker; so is a number spelt otherwise ("ocean's eleven" is Ocean's Eleven, not Ocean's 11)
            lost = k == key and " ".join(w for w in full.split() if w != "s") != key and len(keys) > 1
            s_ = strength * 0.97 if lost or k not in spelt else strength
            if k and (k not in found or found[k].strength < s_):
                found[k] = Alias(item_id, k, s_, kind)
        if len(key.split()) == 2 and len(key) >= 9 and key.replace(" ", "") not in found:
            found[key.replace(" ", "")] = Alias(item_id, key.replace(" ", ""), strength * 0.9, kind)  # "bladerunner"
        # "WALL·E" / "Spider-Man 2" are typed as one word too: "walle", "spiderman 2".
        if re.search(r"\w[-·/]\w", text) and len(key.split()) <= 3:  # (and "Face/Off": "faceoff")
            compact = key_of(re.sub(r"(?<=\w)[-·/](?=\w)", "", text))
            if compact != key and len(compact) >= 4 and compact not in found:
                found[compact] = Alias(item_id, compact, strength * 0.95, kind)

    add(main, 1.0, "title")
    number = key_of(main)
    if number in _NUMBER_SWAP and len(_NUMBER_SWAP[number]) == 1 and len(number) >= 4:  # "Seven" is also "Se7en"
        digit = _NUMBER_SWAP[number]
        for n in range(1, len(number) - 1):
            styled = number[:n] + digit + number[n + 1 :]
            found.setdefault(styled, Alias(item_id, styled, 0.9, "title"))
    for alt in alternates:
        add(alt, 1.0, "alternate")
    parts = [p.strip() for p in re.split(r"\s*:\s+|\s+[-–—]\s+|:\s*", main) if p.strip()]
    if len(parts) > 1:
        stem = parts[0]
        for n, part in enumerate(parts[1:], start=1):
            mark = _PART_MARK.match(part)
            if mark:  # "Episode V", "Part II", "Book Two": the stem with its number ("star wars 5")
                word, number = mark.group(1).lower(), mark.group(2).lower()
                number = "1" if number in ("i", "one") else _NUMBER_SWAP.get(number, number)
                add(f"{stem} {number}", 0.9, "subtitle")
                add(f"{stem} {word} {number}", 0.9, "subtitle")  # "madeira saga book 2"
            elif len(key_of(part).split()) >= 1 and len(key_of(part)) >= 4:
                add(part, SUBTITLE_STRENGTH, "subtitle")
                if n == len(parts) - 1 and n > 1:
                    add(f"{stem} {part}", 0.9, "subtitle")
        if re.search(r"\s(\d+|[IVX]+)$", stem):
            add(stem, 0.95, "title")  # "Speed 2: Cruise Control" is "Speed 2"
        elif not _PART_MARK.match(stem) and len(key_of(stem)) >= 3:
            add(stem, STEM_STRENGTH, "stem")
    owner = _OWNER.match(main)
    if owner and len(key_of(owner["rest"]).split()) >= 2:
        add(owner["rest"], SUBTITLE_STRENGTH, "subtitle")  # "Monty Python's Life of Brian" is "Life of Brian"
    lead = re.match(r"\((\d+)\)\s+(\S.*)", _YEAR_PAREN.sub("", title))
    if lead:  # "(500) Days of Summer" is "500 Days of Summer"
        add(f"{lead.group(1)} {lead.group(2)}", 1.0, "title")
    abbreviation = re.match(r"((?:[A-Za-z]\.){2,})\s", main)
    if abbreviation:
        add(abbreviation.group(1), 0.9, "short")  # "E.T. the Extra-Terrestrial" is "E.T." (written so)
    return list(found.values())


def read_aliases(path: Path | str, catalog: Catalog) -> list[Alias]:
    """An aliases file: CSV rows of ``item_id,alias`` (a header row is allowed). An unknown item
    id raises a ValueError naming the file and line."""
    path = Path(path)
    out: list[Alias] = []
    with open(path, encoding="utf-8", newline="") as fh:
        for line, row in enumerate(csv.reader(fh), start=1):
            if not row or not "".join(row).strip() or row[0].strip().startswith("#"):
                continue
            if len(row) < 2:
                raise ValueError(f"{path}:{line}: expected 'item_id,alias', got {','.join(row)!r}")
            item_id, alias = row[0].strip(), ",".join(row[1:]).strip()
            if item_id not in catalog:
                if line == 1:
                    continue  # a header row
                raise ValueError(f"{path}:{line}: item id '{item_id}' is not in the catalog")
            # the same spellings a title gets ("A New Hope" is "new hope" and "a new hope")
            out += [Alias(a.item_id, a.key, 1.0, "file") for a in aliases_of(item_id, alias) if a.kind != "stem"]
    return out
