"""The index of title aliases a :class:`~recchat.conversation.link.Linker` links against.

Built once per catalog from the aliases of :mod:`recchat.conversation.aliases` (and an aliases
file's): alias key -> aliases, the words of every alias (for partial and misspelt titles), the
items' years, popularity thresholds (how well known an item is), the domain's everyday words and
people's names. Its lookups: whether a title could be everyday words (:meth:`TitleIndex.is_everyday`),
the title word a typo stands for, the aliases a partial title begins or ends, what a user may write
beside a title to say which item (:meth:`TitleIndex.facts_of`), and the alias to take among several
(:meth:`TitleIndex.choose`). English word frequencies come from ``wordfreq``.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Self

from recchat.conversation.aliases import Alias, _split_title, aliases_of, normalize, read_aliases
from recchat.data.catalog import Catalog

if TYPE_CHECKING:
    from recchat.conversation.domain import Domain


# Everyday English: a word at or above this Zipf frequency (wordfreq) is ordinary text. A title
# of one such word needs title-writing to link; a title of several needs every word above the
# higher bar ("Home Alone" does, "Star Wars" does not).
# Words people use about the items of any catalog: everyday words there ("is the sequel any good"
# is no "Airplane II: The Sequel").
_ITEM_TALK = frozenset("sequel sequels prequel prequels remake remakes reboot trilogy franchise series saga".split())
EVERYDAY_ONE = 4.0
EVERYDAY_ALL = 5.0
INITIALS_ZIPF = 2.5  # initials at least this common in English are a word, not a title ("omg", "idk", "eod")
# ... and with a number: below it "t2", "t3", "p2"; above it "mp3", "4k", "f1", "a1" (Zipf >= 3.5)
NUMBERED_INITIALS_ZIPF = 3.4
# ... and written in capitals ("MIB", "LOTR"), under the same bar as with a number ("OMG", "FYI" stay words)
CAPITAL_INITIALS_ZIPF = 3.4
FUZZY_CUTOFF = 85  # rapidfuzz ratio for a word to be corrected to a title word
MIN_PARTIAL_CHARS = 5  # a partial title ("shawshank") needs this many characters
POPULAR = 0.9  # items at or above this quantile of the log's counts are well known
FAMOUS = 0.8  # a one-word title of a real word links on its own from this quantile up
FUNCTION_WORDS = frozenset(
    "i me my we us our you your he him his she her they them their it its this that these those a an the and or "
    "but of to in on at by for with from as than so if then up down out over about into onto off go get got is "
    "was are were be been being do does did have has had no not nor any some all one more less very just too "
    "anything something nothing everything else what which who whom whose other another every each few many much "
    "such only even still yet ever never here there now".split()
)


@lru_cache(maxsize=1)
def _zipf() -> Mapping[str, float]:
    """Zipf frequency of English words (wordfreq's 'best' list), for the everyday-word guard."""
    from wordfreq import get_frequency_dict

    return {w: math.log10(f) + 9 for w, f in get_frequency_dict("en", "best").items() if f >= 1e-7}


def zipf(word: str) -> float:
    return _zipf().get(word, 0.0)


class TitleIndex:
    """The aliases of a catalog's titles and what is known of each item. Build once per catalog.

    ``popularity``: interactions per item id (settles ambiguity; optional). ``everyday``: extra
    words that count as everyday text (the domain's facet values and item nouns). ``year_field``:
    the catalog field holding an item's year, else years are read from titles. ``extra``: more
    aliases (an aliases file's, :func:`read_aliases`).
    """

    def __init__(
        self,
        catalog: Catalog,
        *,
        popularity: Mapping[str, int] | None = None,
        everyday: Iterable[str] = (),
        year_field: str | None = "year",
        extra: Iterable[Alias] = (),
        nouns: Iterable[str] = (),
        names: Iterable[str] = (),
    ):
        self.catalog = catalog
        nouns = set(nouns)
        self.popularity = dict(popularity or {})
        counts = sorted(self.popularity.values())
        self.popular = counts[int(POPULAR * (len(counts) - 1))] if counts else math.inf
        self.known = counts[int(0.6 * (len(counts) - 1))] if counts else math.inf
        self.famous = counts[int(FAMOUS * (len(counts) - 1))] if counts else math.inf
        self.years: dict[str, int] = {}
        self.by_key: dict[str, list[Alias]] = {}
        generic = {"movie", "film", "book", "novel", "series", "show", "saga", *nouns}
        for item in catalog:
            if not item.title:
                continue
            year = item.fields.get(year_field) if year_field else None
            if not isinstance(year, int):
                year = _split_title(item.title)[2]
            if isinstance(year, int):
                self.years[item.id] = year
            for alias in aliases_of(item.id, item.title):
                if alias.kind == "subtitle" and all(w in generic or w in FUNCTION_WORDS for w in alias.key.split()):
                    continue  # "Garfield: The Movie": "the movie" names no film
                self.by_key.setdefault(alias.key, []).append(alias)
        for alias in extra:
            self.by_key.setdefault(alias.key, []).append(alias)
        self._famous_keys: list[str] | None = None  # (famous_spelling)
        self.capital_initials: set[str] = set()  # initials that name a title only in capitals ("MIB")
        self._add_initials()
        self.max_words = max((k.count(" ") + 1 for k in self.by_key), default=1)
        # "Godfather 1": the first of a numbered series, where its sequels say "2".
        for key in [k for k in self.by_key if re.fullmatch(r".+ 2", k)]:
            first = [a for a in self.by_key.get(key[:-2], ()) if a.kind in ("title", "alternate")]
            for a in first:
                self.by_key.setdefault(key[:-1] + "1", []).append(Alias(a.item_id, key[:-1] + "1", 1.0, "title"))
        # The aliases each word occurs in (partial and misspelt titles), and every title word
        # (typo correction).
        self.containing: dict[str, list[str]] = {}
        for key in self.by_key:
            for w in dict.fromkeys(key.split()):
                self.containing.setdefault(w, []).append(key)
        self.stem_of: dict[str, str] = {}  # an item's series stem as written ("three colors", not "threecolors")
        for aliases in self.by_key.values():
            for a in aliases:
                if a.kind == "stem" and (a.item_id not in self.stem_of or " " not in self.stem_of[a.item_id]):
                    self.stem_of[a.item_id] = a.key
        self._by_length: dict[int, list[str]] = {}
        self._by_letters: dict[str, list[str]] = {}
        for w in self.containing:
            if len(w) >= 4 and not w.isdigit():
                self._by_length.setdefault(len(w), []).append(w)
                self._by_letters.setdefault("".join(sorted(w)), []).append(w)
        self.everyday = {w.lower() for phrase in everyday for w in normalize(phrase).split()} | _ITEM_TALK
        self.nouns = set(nouns) | {"movie", "film", "book", "novel", "show", "story", "one"}
        # People's names (authors, cast): a title inside one is part of the name ("sandra bullock").
        names = list(names)
        self.names = {k for k in (normalize(n) for n in names) if " " in k}
        longest: dict[str, int] = {}
        for item in catalog:
            for name, value in item.fields.items():
                if isinstance(value, (list, str)):
                    longest[name] = max(
                        longest.get(name, 0), *map(len, value if isinstance(value, list) else [value]), 0
                    )
        # Fields of people and other names (short values, a few items each), not kinds or text.
        self.name_fields = {n for n, size in longest.items() if size <= 80 and not is_kind(catalog, n)}
        self.name_words = max((k.count(" ") + 1 for k in self.names), default=0)
        # Words that are a person's first or last name, or a whole one-word name ("Sting"): a
        # real name, never a typo of a title word, and no title on its own say-so ("hitchcock",
        # "connery", "carrie" in "my wife carrie"). Only people of two items or more: a name seen
        # once ("Beetlejuice" credited as himself) is no reason to doubt a title.
        credits = Counter(v for item in catalog for n in self.name_fields for v in _as_list(item.fields.get(n)))
        self.name_parts = {
            w
            for n in names
            if credits.get(n, 2) >= 2
            for k in [normalize(n)]
            if k
            for w in ([k] if " " not in k else [k.split()[0], k.split()[-1]])
            if len(w) >= 3
        }
        _zipf()  # loaded now, not on the first message
        import rapidfuzz.process  # noqa: F401  (imported now for the same reason)

        self._corrections: dict[str, str | None] = {}
        self._fact_cache: dict[str, list[str]] = {}
        self.series_members: dict[str, dict[str, str]] = {}  # stem -> its members by their own words (link_series)
        self.series_names: dict[str, tuple[str, str | None]] = {}  # item -> (title key, series name) (link_series)

    def _add_initials(self) -> None:
        """Well-known titles by their initials, as people abbreviate them: "tdk" (The Dark Knight),
        "esb" (The Empire Strikes Back), "rotj". Only for the best-known tenth of the items, never
        an existing title ("jaws" stays Jaws) nor initials English text uses at all (below
        :data:`INITIALS_ZIPF`: not "wok", nor "lotr", which wordfreq knows as a token; "t2" for
        Terminator 2 is kept under the higher bar of initials with a number);
        several items of the same initials are settled like any other ambiguity. Initials English
        uses a little ("mib", "lotr", up to :data:`CAPITAL_INITIALS_ZIPF`) name the title only
        written in capitals (:attr:`capital_initials`)."""
        added: dict[str, list[Alias]] = {}
        for key, aliases in self.by_key.items():
            parts = key.split()
            if len(parts) < 2:
                continue
            initials = "".join(w if w.isdigit() else w[0] for w in parts)
            if len(initials) < (2 if any(w.isdigit() for w in parts) else 3) or initials in self.by_key:
                continue
            bar = NUMBERED_INITIALS_ZIPF if parts[-1].isdigit() and len(initials) == 2 else INITIALS_ZIPF
            if zipf(initials) >= max(bar, CAPITAL_INITIALS_ZIPF) or initials in FUNCTION_WORDS:
                continue
            if zipf(initials) >= bar:
                self.capital_initials.add(initials)
            for a in aliases:
                if (
                    a.kind in ("title", "alternate", "subtitle", "stem")
                    and self.popularity.get(a.item_id, 0) >= self.popular
                ):
                    added.setdefault(initials, []).append(Alias(a.item_id, initials, a.strength * 0.9, a.kind))
        self.capital_initials &= set(added)
        for initials, aliases in added.items():
            unique = {a.item_id: a for a in aliases}  # one per item (a title and its subtitle may both give "tdk")
            self.by_key[initials] = list(unique.values())

    @classmethod
    def for_domain(cls, catalog: Catalog, domain: Domain, popularity: Mapping[str, int] | None = None) -> Self:
        """The linker of a catalog with its :class:`~recchat.conversation.domain.Domain`: the domain's words
        (facet values and synonyms, what items and users are called) count as everyday words, its
        year field dates the items, and its aliases file (``[domain] aliases``) adds aliases."""
        # Kinds (genres, subjects: a few hundred values at most) are everyday words; names
        # (authors, cast: thousands) are not: "Moon" stays a title although an actor is called Moon.
        kinds = {f.name for f in domain.facets if is_kind(catalog, f.name)}
        everyday = {domain.item, domain.items, domain.user} | {
            p for f in domain.facets if f.name in kinds for p in f.phrases()
        }
        field_name = getattr(domain, "popularity", None)
        if not popularity and field_name:  # no log: how well known the catalog says each item is
            popularity = {
                it.id: int(v)
                for it in catalog
                for v in [it.fields.get(field_name)]
                if isinstance(v, (int, float)) and not isinstance(v, bool)
            }
        path = getattr(domain, "aliases", None)
        extra = read_aliases(path, catalog) if path else ()
        names = [v for f in domain.facets if f.name not in kinds for v in f.values]
        return cls(
            catalog,
            popularity=popularity,
            everyday=everyday,
            year_field=domain.year,
            extra=extra,
            nouns=(domain.item, domain.items),
            names=names,
        )

    @property
    def by_norm(self) -> dict[str, list[str]]:
        """Title key -> the items whose own title (not a subtitle or shared stem) it is."""
        if not hasattr(self, "_by_norm"):
            self._by_norm = {
                k: list(dict.fromkeys(a.item_id for a in v if a.kind in ("title", "alternate", "file")))
                for k, v in self.by_key.items()
            }
            self._by_norm = {k: v for k, v in self._by_norm.items() if v}
        return self._by_norm

    # -- words ------------------------------------------------------------------------

    def is_everyday(self, key: str) -> bool:
        """Whether a title could be ordinary words of a sentence: one word that is common (or
        a domain word), or several that are all very common."""
        parts = key.split()
        if len(parts) > 1 and parts[0] in ("the", "a", "an"):
            return self.is_everyday(" ".join(parts[1:]))  # "the piano" is as everyday as "piano"
        if len(parts) == 2 and parts[0].isdigit() and zipf(parts[1]) >= EVERYDAY_ALL:
            return True  # "3 times", "2 hours": a count
        if any(w.isdigit() for w in parts) and len(parts) > 1:
            return False  # "speed 2" is a title
        domain = [w in self.everyday or w.rstrip("s") in self.everyday or w in FUNCTION_WORDS for w in parts]
        if len(parts) == 1:
            w = parts[0]
            return (
                domain[0]
                or w in self.name_parts
                or len(w) <= 2
                or max(zipf(w), zipf(w[:-1]) if w.endswith("s") else 0) >= EVERYDAY_ONE
            )
        # Several words: all very common ("Home Alone"), or all the domain's own ("Crime Story").
        return all(w in FUNCTION_WORDS or zipf(w) >= EVERYDAY_ALL for w in parts) or all(domain)

    def correct(self, word: str) -> str | None:
        """The title word a typo stands for ("shawshenk" -> "shawshank"), or None."""
        if word in self._corrections:
            return self._corrections[word]
        from rapidfuzz import fuzz, process

        best = None
        if (
            len(word) >= 5
            and not word.isdigit()
            and zipf(word) < 3.0
            and word not in self.everyday
            and word not in self.name_parts
        ):
            from rapidfuzz.distance import OSA

            # Two letters swapped is the commonest typo, and the closest by ratio may be another
            # word: "hotle" is "hotel", not "hole"; "breif" is "brief".
            swapped = [w for w in self._by_letters.get("".join(sorted(word)), ()) if OSA.distance(word, w) == 1]
            pool = [w for n in range(len(word) - 1, len(word) + 2) for w in self._by_length.get(n, ())]
            hit = process.extractOne(word, pool, scorer=fuzz.ratio, score_cutoff=FUZZY_CUTOFF) if pool else None
            best = swapped[0] if len(swapped) == 1 else hit[0] if hit else None
            if best and zipf(word) >= 2.5 and zipf(best) <= zipf(word):
                best = None  # "sappy" is a word, and no rarer "slappy" misspelt
        if len(self._corrections) > 50_000:
            self._corrections.clear()
        self._corrections[word] = best
        return best

    def facts_of(self, item_id: str, loose: bool = False) -> list[str]:
        """What a user may write beside an item's title to say which one: its people (the values
        of fields with many distinct values: authors, director, cast) and its year. ``loose``
        adds every surname ("schwarzenegger"), to choose between items of one title: too loose
        to say that words are a title at all."""
        if loose:
            if ("~" + item_id) not in self._fact_cache:
                self._fact_cache["~" + item_id] = self.facts_of(item_id) + [
                    f.split()[-1] for f in self.facts_of(item_id) if " " in f and len(f.split()[-1]) >= 4
                ]
            return self._fact_cache["~" + item_id]
        if item_id in self._fact_cache:
            return self._fact_cache[item_id]
        item = self.catalog[item_id]
        out = [str(self.years[item_id])] if item_id in self.years else []
        for name, value in item.fields.items():
            if name not in self.name_fields:
                continue
            for v in value if isinstance(value, list) else [value]:
                text = normalize(str(v))
                if text and (len(text) >= 6 or text.isdigit()) and not all(w in FUNCTION_WORDS for w in text.split()):
                    out.append(text)
                    last = text.split()[-1]
                    if " " in text and len(last) >= 4 and zipf(last) < 3.0:
                        out.append(last)  # "pacino" for "Al Pacino"
        self._fact_cache[item_id] = out
        return out

    def partial_matches(self, key: str) -> list[Alias]:
        """Aliases that begin or end with ``key``'s words and say more: "shawshank" (a rare
        word) -> "shawshank redemption", "holy grail" -> "monty python and the holy grail"."""
        parts = key.split()
        rare = [w for w in parts if zipf(w) < (3.0 if len(parts) == 1 else 4.5) and len(w) >= 4]
        if not rare or len(key) < MIN_PARTIAL_CHARS or (len(parts) > 1 and len(key) < 8):
            return []
        out: list[Alias] = []
        for full in self.containing.get(min(rare, key=lambda w: len(self.containing.get(w, ()))), ()):
            coined = len(parts) == 1 and zipf(key) < 3.0 and len(key) >= 6  # "lebowski", "gump"
            if full != key and (
                full.startswith(key + " ") or ((len(parts) > 1 or coined) and full.endswith(" " + key))
            ):
                out += [a for a in self.by_key[full] if a.kind != "stem"]
        return out

    def meant(self, chosen: Alias, key: str, text: str, names: bool) -> tuple[Alias, str]:
        """The item an exact match of ``key`` means, and how it was matched: the chosen one, unless
        its people go unnamed and the message names another's, whose title begins with the words
        ("season of ashes by mateo thorne" is "Season of Ashes Part I" by Mateo Thorne, not "A
        Season of Ashes"; only where ``names``: the message writes a person), or the chosen one
        is little known and a famous title is spelt nearly so (:meth:`famous_spelling`)."""
        spaced = f" {text} "
        if any(told_in(v, spaced) for v in self.facts_of(chosen.item_id, loose=True)):
            return chosen, "exact"
        if names:
            longer = [a for a in self.partial_matches(key) if a.item_id != chosen.item_id and a.key.startswith(key)]
            told = [a for a in longer if any(told_in(v, spaced) for v in self.facts_of(a.item_id))]
            if told:
                return self.choose(told, None, text) or chosen, "partial"
        near = self.famous_spelling(key) if self.popularity.get(chosen.item_id, self.known) < self.known else None
        if near:  # "inglorious bastards": the famous film misspelt
            return self.choose(self.by_key[near], None, text) or chosen, "corrected"
        return chosen, "exact"

    def famous_spelling(self, key: str) -> str | None:
        """The title of a famous item spelt nearly as ``key`` (rapidfuzz ratio >= 90, the same
        numbers, ten letters at least): "inglorious bastards" is what people make of "Inglourious
        Basterds" far more often than they name the little-known "The Inglorious Bastards"."""
        if len(key) < 10 or not self.popularity:
            return None
        from rapidfuzz import fuzz, process

        if self._famous_keys is None:
            self._famous_keys = [
                k
                for k, aliases in self.by_key.items()
                if len(k) >= 10
                and any(
                    a.kind in ("title", "alternate") and self.popularity.get(a.item_id, 0) >= self.famous
                    for a in aliases
                )
            ]
        digits = re.findall(r"\d+", key)
        for near, _score, _ in process.extract(key, self._famous_keys, scorer=fuzz.ratio, score_cutoff=90, limit=3):
            if near != key and re.findall(r"\d+", near) == digits:
                return near
        return None

    def choose(self, aliases: list[Alias], year: int | None, message: str = "") -> Alias | None:
        """The alias to take: a year in the message next to the title (or the first of its name,
        for "the original") first, then its people written in the message, then the alias's
        strength, then popularity in the log, then catalog order."""
        best: dict[str, Alias] = {}
        for a in aliases:
            if a.item_id not in best or best[a.item_id].strength < a.strength:
                best[a.item_id] = a
        candidates = list(best.values())
        if year is not None:  # first: a written year is not negated, a name may be ("not spike lee's")
            dated = [a for a in candidates if abs(self.years.get(a.item_id, -99) - year) <= 1]
            exact = [a for a in dated if self.years.get(a.item_id) == year]
            candidates = exact or dated or candidates
        if len(candidates) > 1 and message:  # "grey heron by leo bell": the item whose facts are written
            text = " " + message + " "
            told = [a for a in candidates if any(told_in(v, text) for v in self.facts_of(a.item_id, loose=True))]
            candidates = told or candidates
        return max(candidates, key=lambda a: (a.strength, self.popularity.get(a.item_id, 0)), default=None)


def told_in(fact: str, text: str) -> bool:
    """Whether ``text`` (normalised words, spaced at both ends) writes ``fact`` and does not deny it
    ("not the spike lee remake")."""
    return (f" {fact} " in text or f" {fact}s " in text) and not re.search(
        rf"\bnot (?:\w+ ){{0,2}}{re.escape(fact)}s? ", text
    )


def _as_list(value: object) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else [value] if isinstance(value, str) else []


def is_kind(catalog: Catalog, name: str) -> bool:
    """Whether a field holds kinds (genres, subjects: each value shared by many items) rather
    than names (authors, cast, brands: a few items each)."""
    uses: Counter[str] = Counter()
    for item in catalog:
        value = item.fields.get(name)
        uses.update(value if isinstance(value, list) else [value] if isinstance(value, str) else [])
    return bool(uses) and sum(uses.values()) / len(uses) >= 10
