"""The domain: what the conversation knows about a catalog, read from the catalog itself.

A :class:`Domain` is built once per catalog from its configuration (field roles, the domain
words, a synonyms file) and from the items' own values:

- **facets**: list fields the user can ask for or exclude ("something funny", "no horror",
  "nothing by Le Carre"): each value the catalog holds, plus synonyms from a data file; in a
  facet of people, each clear last name ("tarantino"); the field's cues ("with", "by") say which
  facet a name two facets share means;
- **year**: the field with role ``year`` (eras, "older", "from 1996", "the same year as Fargo")
  and the reference year that "recent" counts back from;
- **ranges**: other numeric fields with bounds and a unit ("under 300 pages");
- **series**: items whose titles share a stem and carry a sequel marker ("Die Hard 2", "The
  Godfather: Part II", "Hollow Stars: Book Two", "Star Trek: First Contact"), or whose titles
  hold an earlier one's whole title where the facets agree ("The Crow: City of Angels"), so that "nothing
  from Star Trek" can remove all of them;
- **words**: what an item is called (movie, book), its plural, the people in the log, what they
  did with an item (watched, read), and the query that starts a conversation with no history.

Nothing here is specific to movies: MovieLens's genre synonyms live in
``configs/movielens-synonyms.toml`` like any other catalog's would.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recchat.data.catalog import Catalog
from recchat.types import FieldValue, Item

if TYPE_CHECKING:
    from recchat.config import RecommenderConfig

_ROMAN = {"ii": 2, "iii": 3, "iv": 4, "v": 5, "vi": 6, "vii": 7, "viii": 8, "ix": 9, "x": 10}
_WORDS = {
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "first": 1,
    "second": 2,
    "third": 3,
    "fourth": 4,
    "fifth": 5,
}
_MARKER = re.compile(
    r"^(?P<base>.+?)[\s:,.-]+(?:(?:part|book|vol|volume|chapter|episode|no)\.?\s+)?#?"
    r"(?P<n>\d{1,2}|(?!i(?=$|[\s:,.-]))[ivx]{1,4}|one|two|three|four|five|six|seven|eight|nine|ten)(?=$|[\s:,.-])(?P<rest>.*)$",
    re.IGNORECASE,
)


@dataclass
class Facet:
    """A list field the user can ask for or exclude, with its vocabulary and synonyms."""

    name: str
    values: list[str]
    synonyms: dict[str, str] = field(default_factory=dict)  # lower-case phrase -> value
    avoid: dict[str, list[str]] = field(default_factory=dict)  # "violent" -> values "less violent" drops
    cues: list[str] = field(default_factory=list)  # words before a value that point at this facet ("with")
    short: dict[str, str] = field(default_factory=dict)  # a person's last name -> the name ("tarantino")
    cued: set[str] = field(default_factory=set)  # last names that are words too ("freeman"): read after a cue only

    def phrases(self) -> dict[str, str]:
        """Every lower-case phrase that names a value: the values themselves, then synonyms."""
        out = {v.lower(): v for v in self.values}
        known = set(self.values)
        out.update({k.lower(): v for k, v in self.synonyms.items() if v in known})
        return out


@dataclass
class RangeField:
    """A numeric field with its bounds in the catalog and the unit words that name it."""

    name: str
    low: float
    high: float
    unit: str = ""

    @property
    def unit_word(self) -> str:
        """What its values count ("pages"); the field's name when it has no unit."""
        return self.unit or self.name


@dataclass
class Series:
    """Items that belong together by title: the stem users name them by, members in order."""

    name: str
    members: list[str]
    label: str = ""  # the name as the first member's title writes it ("Star Trek"), for messages

    def __post_init__(self) -> None:
        self.label = self.label or self.name.title()


@dataclass
class Domain:
    item: str = "item"
    items: str = "items"
    user: str = "user"
    facets: list[Facet] = field(default_factory=list)
    year: str | None = None  # the field with role "year"
    reference_year: int | None = None
    ranges: list[RangeField] = field(default_factory=list)
    series: list[Series] = field(default_factory=list)
    cold_start_query: str = "popular and widely liked"
    aliases: Path | None = None  # a CSV of item_id,alias for the title linker (recchat.conversation.link)
    popularity: str | None = None  # a numeric field: how well known an item is (when no log says)
    verb: str = "tried"  # what a user did with an item, past tense: "watched", "read"
    # Words of each facet phrase -> (strength, facet position, facet, value), made once (see
    # recchat.conversation.constraints); keyed by the facets' sizes so a changed facet remakes it.
    phrase_cache: dict[tuple[object, ...], dict[tuple[str, ...], list[tuple[int, int, str, str]]]] = field(
        default_factory=dict, repr=False, compare=False
    )

    @classmethod
    def from_config(cls, config: RecommenderConfig, catalog: Catalog) -> Domain:
        """From a :class:`~recchat.config.RecommenderConfig`'s roles and words, and the catalog."""
        synonyms: dict[str, Any] = {}
        path = config.resolve(config.domain.synonyms)
        if path is not None:
            synonyms = read_synonyms(path)
        cat = config.catalog
        facets = [_facet(name, catalog, synonyms, cat.fields[name].cues) for name in cat.with_role("facet")]
        years = cat.with_role("year")
        ranges = [r for r in (_range(n, catalog, cat.fields[n].unit) for n in cat.with_role("range")) if r]
        year = years[0] if years else None
        words = config.domain
        return cls(
            words.item,
            words.plural,
            words.user,
            facets,
            year,
            words.reference_year or _latest(catalog, year),
            ranges,
            find_series(catalog, year, [f.name for f in facets]),
            words.cold_start_query,
            config.resolve(words.aliases),
            words.popularity or None,
            words.verb,
        )

    @classmethod
    def infer(cls, catalog: Catalog, item: str = "item") -> Domain:
        """For a catalog without a configuration: list fields are facets, an int field named
        ``year`` is the year, other numeric fields are ranges."""
        kinds: dict[str, set[type]] = {}
        for it in catalog:
            for name, value in it.fields.items():
                kinds.setdefault(name, set()).add(type(value))
        facets = [_facet(n, catalog, {}) for n, k in kinds.items() if k == {list}]
        year = "year" if kinds.get("year") == {int} else None
        ranges = [
            r for n, k in kinds.items() if n != year and k and k <= {int, float} for r in [_range(n, catalog, "")] if r
        ]
        return cls(
            item,
            item + "s",
            "user",
            facets,
            year,
            _latest(catalog, year),
            ranges,
            find_series(catalog, year, [f.name for f in facets]),
        )

    # -- lookups ------------------------------------------------------------------------

    def facet(self, name: str) -> Facet | None:
        return next((f for f in self.facets if f.name == name), None)

    def range(self, name: str) -> RangeField | None:
        return next((r for r in self.ranges if r.name == name), None)

    def unit_of(self, name: str) -> str:
        """The unit a range field is counted in ("pages"), or the field's name when it is no range."""
        spec = self.range(name)
        return spec.unit_word if spec else name

    def values_of(self, item: Item) -> dict[str, list[str]]:
        """The item's values of each facet (an empty list where it has none)."""
        return {f.name: field_values(item.fields.get(f.name)) for f in self.facets}

    def primary_values(self, item: Item) -> list[str]:
        """The item's values of the primary facet (none without one)."""
        return self.values_of(item).get(self.primary.name, []) if self.primary else []

    @property
    def primary(self) -> Facet | None:
        """The first facet: the one a conversation leans on (genres, subjects)."""
        return self.facets[0] if self.facets else None

    def in_text(self, facet: str, values: list[str]) -> list[str]:
        """Values as a sentence writes them: the primary facet names kinds ("comedy", "science
        fiction") in lower case; other facets hold names ("Chen Fontaine"), kept as they are."""
        return [v.lower() for v in values] if self.primary and facet == self.primary.name else list(values)

    def series_of(self, item_id: str) -> Series | None:
        return self._by_item().get(item_id)

    def series_named(self, name: str) -> Series | None:
        """The series a user names: "Star Trek", "the Salt Road" (case, articles and punctuation
        do not matter); None when no series has that stem."""
        if not hasattr(self, "_series_names"):
            self._series_names = {s.name: s for s in self.series}
        return self._series_names.get(_norm(name))

    def _by_item(self) -> dict[str, Series]:
        if not hasattr(self, "_series_index"):
            self._series_index = {m: s for s in self.series for m in s.members}
        return self._series_index

    def describe(self) -> dict[str, object]:
        """A short summary, for ``recchat init`` and the app."""
        return {
            "item": self.item,
            "facets": {f.name: len(f.values) for f in self.facets},
            "year": self.year,
            "ranges": {r.name: (r.low, r.high) for r in self.ranges},
            "series": len(self.series),
        }


def field_values(value: FieldValue | None) -> list[str]:
    """A facet field's values as a list (a copy); none for an empty or missing value. Exactly
    ``list(value or [])``: a number raises TypeError, as it is no facet field."""
    if isinstance(value, list):
        return list(value)
    if isinstance(value, str):
        return list(value)
    if not value:
        return []
    raise TypeError(f"'{type(value).__name__}' object is not iterable")


def read_synonyms(path: Path) -> dict[str, Any]:
    """A synonyms file: ``[synonyms.<facet>]`` phrase = value, ``[avoid.<facet>]`` word = [values]."""
    from recchat.config import ConfigError

    try:
        data = tomllib.loads(Path(path).read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(path, "file", f"cannot read the synonyms ({exc})", "fix the TOML") from None
    unknown = set(data) - {"synonyms", "avoid"}
    if unknown:
        raise ConfigError(path, sorted(unknown)[0], "unknown table", "use [synonyms.<facet>] and [avoid.<facet>]")
    return data


def _facet(name: str, catalog: Catalog, synonyms: dict[str, Any], cues: list[str] | None = None) -> Facet:
    counts = Counter(v for it in catalog for v in field_values(it.fields.get(name)))
    values = [v for v, _ in counts.most_common()]
    return Facet(
        name,
        values,
        dict(synonyms.get("synonyms", {}).get(name, {})),
        {k: list(v) for k, v in synonyms.get("avoid", {}).get(name, {}).items()},
        [c.lower() for c in cues or ()],
        *short_names(counts),
    )


# A last name alone names a person only where it is no everyday word: "tarantino", "hanks", not
# "stone" or "short" (the Zipf bar of the title linker's everyday words); one that is a word of
# some use ("freeman", "clown") only after a cue ("with Freeman") or before the item noun.
_EVERYDAY_ZIPF = 4.0
_RARE_ZIPF = 3.5
_PARTICLES = frozenset("de da di del della der van von la le du st".split())
_SUFFIXES = frozenset("jr jr. sr sr. ii iii".split())


def short_names(counts: Counter[str]) -> tuple[dict[str, str], set[str]]:
    """A facet of people's names (directors, cast, authors: a few items each, not kinds shared by
    many): each person's last name ("De Niro" with its particle) -> the name, for people of two
    items or more whose last name is no everyday word and who hold it clearly (the only one, or
    twice the items of the next); and the last names that are words of some use, read only after
    a cue. "Quentin Tarantino" is "tarantino"; "Sharon Stone" keeps her whole name. Nothing for a
    facet of kinds (genres: ten items or more per value on average)."""
    if not counts or sum(counts.values()) / len(counts) >= 10:
        return {}, set()
    from wordfreq import zipf_frequency

    holders: dict[str, list[tuple[int, str]]] = {}
    for name, n in counts.items():
        words = name.replace(",", " ").split()
        while words and words[-1].lower() in _SUFFIXES:
            words.pop()
        if len(words) < 2:
            continue
        last = words[-1:] if words[-2].lower() not in _PARTICLES else words[-2:]
        key = " ".join(last).lower()
        holders.setdefault(key, []).append((n, name))
    out, cued = {}, set()
    for key, people in holders.items():
        people.sort(reverse=True)
        n, name = people[0]
        clear = len(people) == 1 or n >= 2 * people[1][0]
        plain = unicodedata.normalize("NFKD", key).encode("ascii", "ignore").decode()
        if n >= 2 and clear and len(plain) >= 4 and (zipf := zipf_frequency(plain, "en")) < _EVERYDAY_ZIPF:
            out[key] = name
            if zipf >= _RARE_ZIPF:
                cued.add(key)
    return out, cued


def _range(name: str, catalog: Catalog, unit: str) -> RangeField | None:
    values = [
        v for it in catalog for v in [it.fields.get(name)] if isinstance(v, (int, float)) and not isinstance(v, bool)
    ]
    return RangeField(name, min(values), max(values), unit) if values else None


def _latest(catalog: Catalog, year: str | None) -> int | None:
    if year is None:
        return None
    values = [v for it in catalog for v in [it.fields.get(year)] if isinstance(v, int)]
    return max(values) if values else None


# --------------------------------------------------------------------------- series


def series_stem(title: str) -> tuple[str, int | None]:
    """(normalised stem, sequel number or None) of a title: "The Godfather: Part II" ->
    ("godfather", 2); "Star Trek: First Contact" -> ("star trek", None); "Heat" -> ("heat", None)."""
    text = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    text = re.sub(r"\s*\(\d{4}\)\s*$", "", text).strip()
    match = _MARKER.match(text)
    number = None
    if match and _plausible_base(match["base"]):
        word = match["n"].lower()
        number = int(word) if word.isdigit() else _ROMAN.get(word) or _WORDS.get(word)
        text = match["base"]
    elif ":" in text:
        text = text.split(":", 1)[0]
    return _norm(text), number


def _plausible_base(base: str) -> bool:
    # "Apollo 13", "Se7en": a number ends the title but there is no other word before it than
    # the base; the group check in find_series decides. A base must hold a real word.
    return bool(re.search(r"[A-Za-z]{3,}", base))


def _norm(text: str) -> str:
    words = re.sub(r"[^a-z0-9 ]+", " ", text.lower()).split()
    if words and words[0] in ("the", "a", "an"):
        words = words[1:]
    return " ".join(words)


def find_series(catalog: Catalog, year: str | None = "year", facets: list[str] | None = None) -> list[Series]:
    """Groups of two or more items sharing a title stem, at least one with a sequel number or a
    subtitle; each group's members ordered by ``year`` (when the catalog has one), then sequel
    number, then id. Given the catalog's ``facets`` (and a year), also titles that hold an
    earlier item's whole title where the facets agree (:func:`_contained_series`)."""
    groups: dict[str, list[tuple[float, int, str, bool]]] = {}
    for it in catalog:
        if not it.title:
            continue
        stem, number = series_stem(it.title)
        marked = number is not None or ":" in it.title
        if len(stem) < 3:
            continue
        value = it.fields.get(year) if year else None
        when = value if isinstance(value, (int, float)) else 0
        groups.setdefault(stem, []).append((when, number or (1 if not marked else 99), it.id, marked))
    out = []
    for stem, members in groups.items():
        if len(members) < 2 or not any(m[3] for m in members):
            continue
        numbered = any(m[1] not in (1, 99) for m in members)
        if not numbered and (sum(m[3] for m in members) < 2 or " " not in stem):
            # One plain title and one subtitle ("Heat" and "Heat: a memoir") is no series, and
            # neither are subtitled books about one place ("Lisbon: ..."): without a number, a
            # series needs a stem of two words or more ("Three Colors: Blue", "Ace Ventura: ...").
            continue
        members.sort(key=lambda m: m[:3])
        out.append(Series(stem, [m[2] for m in members], _label(stem, catalog[members[0][2]].title)))
    if facets and year:
        out = _contained_series(catalog, year, facets, out)
    return sorted(out, key=lambda s: s.name)


def _contained_series(catalog: Catalog, year: str, facets: list[str], found: list[Series]) -> list[Series]:
    """Series without a shared stem, from titles that hold an earlier item's whole title: "Aladdin
    and the King of Thieves" after "Aladdin", "The Crow: City of Angels" after "The Crow", "Live
    Free or Die Hard" after "Die Hard". Conservative: the later item must agree
    with the earlier one on every facet both have values in (a shared author for books, a
    shared genre...) and share two values or more in all; a title already in another series
    stays there; a one-word title counts only where the later title starts with it ("Poems for
    the Summer" is no sequel of "Summer"). A later item joins the earlier item's series, or the
    two start one named by the earlier title. Measured (tests/test_logic.py): 7 new series on
    MovieLens-100K (The Crow, Mortal Kombat...), none wrong; none on the
    generated books."""
    by_item = {m: s for s in found for m in s.members}
    items = [it for it in catalog if it.title and isinstance(it.fields.get(year), (int, float))]
    norms = {
        it.id: _norm(
            re.sub(r"\s*\(\d{4}\)\s*$", "", unicodedata.normalize("NFKD", it.title).encode("ascii", "ignore").decode())
        )
        for it in items
    }
    bases: dict[str, list[Any]] = {}
    for it in items:
        if len(norms[it.id]) >= 3:
            bases.setdefault(norms[it.id], []).append(it)
    joined: dict[str, list[str]] = {}  # earlier item id -> later item ids
    for later in items:
        words = norms[later.id].split()
        spans = {" ".join(words[i:j]) for i in range(len(words)) for j in range(i + 1, len(words) + 1)}
        for base_norm in spans - {norms[later.id]}:
            if " " not in base_norm and words[0] != base_norm:
                continue  # a one-word title only where the later title starts with it
            for base in bases.get(base_norm, ()):
                if (
                    base.fields[year] < later.fields[year]
                    and _agree(base, later, facets)
                    and (later.id not in by_item or by_item[later.id] is by_item.get(base.id))
                ):
                    joined.setdefault(base.id, []).append(later.id)
    out = list(found)
    for base_id, laters in joined.items():
        laters = [i for i in dict.fromkeys(laters) if i not in by_item]
        if not laters:
            continue
        series = by_item.get(base_id)
        if series is None:
            series = Series(norms[base_id], [base_id], _label(norms[base_id], catalog[base_id].title))
            if any(s.name == series.name for s in out):
                continue  # the stem names another series already
            out.append(series)
            by_item[base_id] = series
        series.members += laters
        by_item.update({i: series for i in laters})
        series.members.sort(key=lambda m: (catalog[m].fields.get(year) or 0, m))
    return out


def _agree(a: Item, b: Item, facets: list[str]) -> bool:
    """Whether ``a`` and ``b`` share a value of every facet both have values in, two or more in all."""
    shared = 0
    for name in facets:
        va, vb = set(field_values(a.fields.get(name))), set(field_values(b.fields.get(name)))
        if va and vb:
            if not va & vb:
                return False
            shared += len(va & vb)
    return shared >= 2


def _label(stem: str, title: str) -> str:
    """The stem's words as ``title`` spells them ("star trek" in "Star Trek: The Motion Picture")."""
    text = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    match = re.search(r"[^A-Za-z0-9]+".join(re.escape(w) for w in stem.split()), text, re.IGNORECASE)
    return match.group(0) if match else stem.title()
