"""Title linking: which catalog items a message names, as people write titles.

A :class:`Linker` is built once per catalog (the recommender makes one on first use and every
session shares it; nothing is recomputed per message) from the aliases of
:mod:`recchat.conversation.aliases`.

**Linking** (:meth:`Linker.link`): the message is cut into normalised words
(:func:`recchat.conversation.aliases.words`); words no title and no everyday English uses are corrected to the
closest title word (rapidfuzz: "shawshenk" -> "shawshank"); then every span that is an alias
links, longest first; misspelt titles of several words are compared whole ("forest gump"), and a
span that begins or ends an alias and holds an uncommon word links as a partial title
("shawshank", "holy grail"). Ambiguity (a remake, a stem several items share, two books of one
title) is settled by evidence: a year next to the title ("Titanic (1997)", "the 1954 one"), the
item's people written beside it ("grey heron by leo bell"), the alias's strength, then popularity
(the interaction log, or a catalog field where there is no log).

Guards: a title made of everyday words ("Heat", "Her", "Them!", "Up", "Home Alone"), one plain
word naming a little-known item ("Heist", "Vibes"), or a phrase led by a preposition ("In the
Mood") links only when written as a title (capitalised away from the sentence start, quoted,
with inner punctuation as in "E.T.") or backed by a year, or in lower case when the sentence
says it is one: a word that introduces a title before it ("loved", "like", "than"), the title's
own article ("the graduate"), another title beside it in a list ("heat, seven and the usual
suspects"), its people after it ("honey by caleb alvarez"), or, for a well-known item, the start
of the message ("fargo, but funnier"); and it must end where a title ends (the message, a
clause, "was", "with"...). Pronouns link only when written as titles. Words of the domain's
kinds (genres, "movie") count as everyday; a title inside a person's name ("sandra" in "sandra
bullock"), before "of" ("the wizard of oz") or before the item noun or a kind ("a heist movie",
"slow burn mysteries") is no title. A person's first or last name ("carrie", "hitchcock",
"sting") is read as the person unless the sentence backs the title, and is never corrected to
a title word ("connery" is not "cannery"). A title dated with a year its items lack ("parasite,
the korean one from 2019") names a namesake the catalog does not hold, so nothing. Two titles
run into each other ("mad max fury road") are one longer name. After a title, common
lower-case words that happen to be another ("slumdog millionaire, indian movie with the quiz
show") are the user talking about the first unless listed, compared, cued or dated.

A link that was corrected, partial, taken from a shared stem or chosen among several items says
so (:attr:`Link.guessed`), so the reply can say which item it took.

The module knows no catalog in particular; English word frequencies come from ``wordfreq``.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from recchat.conversation.aliases import (
    Alias,
    Word,
    _key,
    _split_title,
    aliases_of,
    key_of,
    normalize,
    read_aliases,
    words,
)
from recchat.data.catalog import Catalog

# Everyday English: a word at or above this Zipf frequency (wordfreq) is ordinary text. A title
# of one such word needs title-writing to link; a title of several needs every word above the
# higher bar ("Home Alone" does, "Star Wars" does not).
EVERYDAY_ONE = 4.0
EVERYDAY_ALL = 5.0
FUZZY_CUTOFF = 85  # rapidfuzz ratio for a word to be corrected to a title word
FUZZY_SPAN_CUTOFF = 90  # rapidfuzz ratio for several words to be taken as a misspelt title
ASIDE_ZIPF = 2.5  # words at least this common may be the user's own words after a title
MIN_PARTIAL_CHARS = 5  # a partial title ("shawshank") needs this many characters
POPULAR = 0.9  # items at or above this quantile of the log's counts are well known
FAMOUS = 0.8  # a one-word title of a real word links on its own from this quantile up
_PREPOSITIONS = frozenset("in on at for with by from to into under over after before about".split())
_PART_WORDS = frozenset("part book vol chapter episode".split())
_PRONOUNS = frozenset("it me you him her them us this that".split())
# Words after which lower-case everyday words are read as a title ("something like heat").
_CUES = frozenset(
    "like liked likes love loved loves enjoyed enjoy adored adore watched watch saw seen rewatched "
    "read reread finished than as rewatch".split()
)
_NEAR_CUES = frozenset("like liked love loved than".split())  # "is like a teen pulp fiction"
_CUE_PAIRS = {("fan", "of"), ("similar", "to"), ("same", "as"), ("thought", "of"), ("favorite", "is")}
# Words that may follow a title: a title ends before them ("speed was great", "ghost with ...").
_ENDS = frozenset(
    "and or but was is were are with by from in on at for again last yesterday recently twice too "
    "also so because when then to which that who i it has had made gets got please pls plz lol imo tho though".split()
)
_DATED = re.compile(
    r"\s*(?:\(\s*((?:19|20)\d\d)\s*\)|((?:19|20)\d\d)\b(?!\s*(?:on|onwards|and|or|-|to)\b)|"
    r",?\s*the\s+(?:[\w'-]+\s+){0,3}(?:one|version|film|movie)\s+(?:from|of)\s+((?:19|20)\d\d)\b)"
)
# Between two titles of a list, after a remark in parentheses about the first maybe: "psycho (the
# 1960 one) and rear window".
_LIST_GAP = re.compile(r"\s*(?:\([^()]{0,60}\)\s*)?(?:,|&|and|or|,\s*and|,\s*or|>|<|/|\+|vs\.?)\s*", re.IGNORECASE)
_FUNCTION = frozenset(
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


# --------------------------------------------------------------------------- linking


@dataclass
class Link:
    """One item named in a message: the words ``start``:``end`` (indices into :func:`words` of
    the message), what the user wrote, and how it was matched."""

    item_id: str
    start: int
    end: int
    text: str
    how: str = "exact"  # "exact", "corrected" (a typo fixed), "partial" (the start of a title)
    kind: str = "title"  # the alias's kind: title, alternate, subtitle, stem, file
    others: list[str] = field(default_factory=list)  # other items the words could name

    @property
    def guessed(self) -> bool:
        """Whether the reply should say which item it took: the match was not exact and whole,
        or several items fit."""
        return self.how != "exact" or self.kind == "stem" or bool(self.others)


@dataclass
class _Context:
    """One message as the linker reads it."""

    message: str
    ws: list[Word]
    fixed: list[str]  # the words, typos corrected to title words
    corrected: list[bool]
    years: dict[int, int]  # word index where a title may end -> the year written right after it
    capitals: float
    names: list[tuple[int, int]]  # word spans that are a person's name of the catalog
    text: str = ""  # the fixed words joined, as _choose looks for an item's facts in them

    def year_in(self, end: int, years: Mapping[str, int], aliases: list[Alias]) -> int | None:
        """A year later in the message that one of ``aliases``' items has ("sabrina, the audrey
        hepburn one from 1954"): used to choose between them, not as evidence of a title."""
        for w in self.ws[end : end + 10]:
            if re.fullmatch(r"(1[89]|20)\d\d", w.text) and any(years.get(a.item_id) == int(w.text) for a in aliases):
                return int(w.text)
        return None


class Linker:
    """Links the titles a message names to catalog items. Build once per catalog.

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
                if alias.kind == "subtitle" and all(w in generic or w in _FUNCTION for w in alias.key.split()):
                    continue  # "Garfield: The Movie": "the movie" names no film
                self.by_key.setdefault(alias.key, []).append(alias)
        for alias in extra:
            self.by_key.setdefault(alias.key, []).append(alias)
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
        self.stem_of = {a.item_id: a.key for aliases in self.by_key.values() for a in aliases if a.kind == "stem"}
        counts = sorted(self.popularity.values())
        self.popular = counts[int(POPULAR * (len(counts) - 1))] if counts else math.inf
        self.known = counts[int(0.6 * (len(counts) - 1))] if counts else math.inf
        self.famous = counts[int(FAMOUS * (len(counts) - 1))] if counts else math.inf
        self._by_length: dict[int, list[str]] = {}
        for w in self.containing:
            if len(w) >= 4 and not w.isdigit():
                self._by_length.setdefault(len(w), []).append(w)
        self.everyday = {w.lower() for phrase in everyday for w in normalize(phrase).split()}
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

    @classmethod
    def for_domain(cls, catalog: Catalog, domain: Any, popularity: Mapping[str, int] | None = None) -> Linker:
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
        domain = [w in self.everyday or w.rstrip("s") in self.everyday or w in _FUNCTION for w in parts]
        if len(parts) == 1:
            w = parts[0]
            return (
                domain[0]
                or w in self.name_parts
                or len(w) <= 2
                or max(zipf(w), zipf(w[:-1]) if w.endswith("s") else 0) >= EVERYDAY_ONE
            )
        # Several words: all very common ("Home Alone"), or all the domain's own ("Crime Story").
        return all(w in _FUNCTION or zipf(w) >= EVERYDAY_ALL for w in parts) or all(domain)

    def _correct(self, word: str) -> str | None:
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
            pool = [w for n in range(len(word) - 1, len(word) + 2) for w in self._by_length.get(n, ())]
            hit = process.extractOne(word, pool, scorer=fuzz.ratio, score_cutoff=FUZZY_CUTOFF) if pool else None
            best = hit[0] if hit else None
        if len(self._corrections) > 50_000:
            self._corrections.clear()
        self._corrections[word] = best
        return best

    # -- linking ----------------------------------------------------------------------

    def link(self, message: str) -> list[Link]:
        """The items ``message`` names, in the order it names them."""
        ws = words(message)
        fixed = [w.text for w in ws]
        corrected = [False] * len(ws)
        for n, w in enumerate(fixed):
            if w not in self.containing and w not in _FUNCTION:
                c = self._correct(w)
                if c:
                    fixed[n], corrected[n] = c, True
        context = _Context(
            message,
            ws,
            fixed,
            corrected,
            self._years_near(message, ws),
            self._capital_share(message, ws),
            self._in_names(fixed),
            " ".join(fixed),
        )
        found: list[Link] = []
        weak: list[Link] = []  # everyday words that may be a title: decided once the sure links are known
        partial: list[Link] = []
        taken = [False] * len(ws)
        for size in range(min(self.max_words + 1, len(ws)), 0, -1):
            for start in range(len(ws) - size + 1):
                if any(taken[start : start + size]):
                    continue
                link, sure = self._match(context, start, size)
                if link is not None and sure and link.how == "partial" and size == 1:
                    partial.append(link)  # after the misspelt whole titles: "elegy for an hour"
                elif link is not None and sure:
                    found.append(link)
                    taken[start : start + size] = [True] * size
                elif link is not None:
                    weak.append(link)
        found += self._fuzzy(context, taken)
        for link in partial:
            if not any(taken[link.start : link.end]):
                found.append(link)
                taken[link.start : link.end] = [True] * (link.end - link.start)
        changed = True
        while changed:  # "speed and the rock": a title next to a title is one too
            changed = False
            for link in weak:
                if not any(taken[link.start : link.end]) and self._evidence(context, link, found):
                    found.append(link)
                    taken[link.start : link.end] = [True] * (link.end - link.start)
                    changed = True
        found = self._drop_run_ins(context, found)
        found = self._drop_asides(context, found)
        found += self._numbered_after(context, found, taken)
        # A shared stem ("Star Trek") names no one member when a member is named beside it.
        named = {self.stem_of.get(f.item_id) for f in found if f.kind != "stem"}
        found = [f for f in found if not (f.kind == "stem" and self.stem_of.get(f.item_id) in named)]
        return sorted(found, key=lambda f: f.start)

    def _match(self, c: _Context, start: int, size: int) -> tuple[Link | None, bool]:
        """The link of the words ``start``:``start + size``, and whether it is sure (else it
        is made of everyday words and needs the evidence :meth:`_evidence` weighs)."""
        span = c.fixed[start : start + size]
        if span[0] == "s" or span[-1] == "s":
            return None, False  # a possessive's "s" belongs to the word before it
        if any(a <= start and start + size <= b and b - a > size for a, b in c.names):
            return None, False  # "sandra" in "sandra bullock"
        full = " ".join(w for w in span if w != "s")
        if size > 1 and span[0] in ("the", "a", "an") and full not in self.by_key:
            return None, False  # "a kid", "the colors": the article is the sentence's, not a title's
        key = full if full in self.by_key else _key(span)
        if key not in self.by_key and size == 2 and span[0] + span[1] in self.by_key:
            key = span[0] + span[1]  # "brave heart" = "Braveheart", "spider man" = "Spider-Man"
        if key not in self.by_key and size > 1 and span[-1] == "1" and _key(span[:-1]) in self.by_norm:
            key = _key(span[:-1])  # "back to the future 1": the first, where the catalog numbers no sequel
        if key not in self.by_key and size > 1 and any(w.endswith("s") and len(w) >= 4 for w in span[:-1]):
            bare = _key([w[:-1] if w.endswith("s") and len(w) >= 4 else w for w in span[:-1]] + span[-1:])
            key = bare if bare in self.by_key else key  # "pans labyrinth": a possessive without its apostrophe
        how = "corrected" if any(c.corrected[start : start + size]) else "exact"
        aliases = self.by_key.get(key)
        after_by = start > 0 and c.fixed[start - 1] in ("by", "starring")  # a person's name, not a title
        if (
            not aliases
            and span[-1] not in _FUNCTION
            and span[0] not in _FUNCTION
            and key
            and not after_by
            and key not in self.name_parts
        ):  # "fellini's": the director, not "Fellini's Casanova"
            aliases = self._partial(key)
            if len({a.item_id for a in aliases}) > 2:
                aliases = []  # "harry potter": the start of too many titles to pick one
            how = "partial" if aliases else how
        if not aliases:
            return None, False
        dated = self._dated(c.message, c.ws[start + size - 1].end)
        if (
            dated is not None
            and self.years
            and not any(abs(self.years.get(a.item_id, -99) - dated) <= 1 for a in aliases)
        ):
            return None, False  # "parasite, the korean one from 2019": a namesake the catalog lacks
        year = c.years.get(start + size)
        if year is not None and not any(abs(self.years.get(a.item_id, -99) - year) <= 1 for a in aliases):
            year = None  # a year that fits none of them is about something else ("Heat, from 1960 on")
        chosen = self._choose(
            aliases, year if year is not None else c.year_in(start + size, self.years, aliases), c.text
        )
        if chosen is None:
            return None, False
        if chosen.kind == "short" and not re.search(
            r"[a-zA-Z]\.[a-zA-Z]", c.message[c.ws[start].start : c.ws[start + size - 1].end]
        ):
            return None, False  # "E.T." written with its dots; "LA", "et" are words
        if chosen.kind == "stem" and start + size < len(c.ws) and c.fixed[start + size].isdigit():
            return None, False  # "star trek 2": a numbered member the catalog does not number
        # Other items count when their alias is about as strong: a stem shared with sequels is
        # no rival for the title itself.
        others = sorted({a.item_id for a in aliases if a.strength >= chosen.strength - 0.15} - {chosen.item_id})
        link = Link(
            chosen.item_id,
            start,
            start + size,
            c.message[c.ws[start].start : c.ws[start + size - 1].end],
            how,
            chosen.kind,
            others,
        )
        nxt = c.fixed[start + size] if start + size < len(c.ws) else ""
        if start and c.fixed[start - 1] in ("a", "an") and nxt in self.nouns:
            return None, False  # "a heist movie", "a road trip film": a kind of item, not a title
        words_ = key.split()
        if all(w.isdigit() for w in words_):  # "2012", "1969": a year or a count, unless quoted
            return (
                (link, True)
                if self._written_as_title(c.message, c.ws, start, size, 0.0)
                and re.search(r"[\"'“”]", c.message[max(0, c.ws[start].start - 1) : c.ws[start + size - 1].end + 1])
                else (None, False)
            )
        # One real English word ("heist", "vibes", "sob") names a little-known item only with
        # evidence; a coined word ("shawshank") or a well-known item ("titanic") needs none.
        titled = self._written_as_title(c.message, c.ws, start, size, c.capitals)
        famous = not self.popularity or self.popularity.get(chosen.item_id, 0) >= self.famous
        plain = all(zipf(w) >= 3.0 or w in _FUNCTION for w in words_)
        # One plain word, or a phrase led by a preposition ("in the mood"), of an item few know.
        obscure = plain and not famous and (len(words_) == 1 or words_[0] in _PREPOSITIONS)
        if nxt == "of" and not famous and not titled:
            return None, False  # "the wizard of oz": the name goes on past this title
        kind_after = (
            nxt in self.nouns or nxt in self.everyday or re.sub(r"ies$", "y", nxt) in self.everyday
        ) and not c.message[
            c.ws[start + size - 1].end : c.ws[start + size].start
        ].strip()  # "heist movies", not "heist, thrillers"
        if (
            kind_after
            and plain
            and not famous
            and not titled
            and not (start and c.fixed[start - 1] in _CUES and not nxt.endswith("s"))
        ):
            return None, False  # "more true crime movies", "submarine movies": a kind, not a title
        if how == "partial" and len(words_) > 1 and all(zipf(w) >= EVERYDAY_ONE for w in words_) and not titled:
            return link, False  # "two sisters" of "A Tale of Two Sisters": common words, evidence needed
        # "anchorman", "lebowski": a rare word names a well-known film by half its title;
        # "venice", "cartography" name no little-known book.
        one_word_stem = (
            chosen.kind == "stem"
            and " " not in key
            and not (zipf(key) < 3.0 and key not in self.name_parts and famous and self.popularity)
        )
        if (
            how == "partial"
            and " " not in key
            and not famous
            and not any(a.key.startswith(key + " ") for a in aliases if a.item_id == chosen.item_id)
        ):
            return None, False  # "cartography" ends "The Age of Cartography", a book few know
        if not self.is_everyday(key) and not obscure and not one_word_stem:
            return link, True  # (a one-word stem, "Venice" of "Venice: Secrets and Rain", is no title alone)
        bang = (
            c.message[c.ws[start + size - 1].end : c.ws[start + size - 1].end + 1] == "!"
            and "!" in self.catalog[chosen.item_id].title
        )
        if (
            year is not None
            and all(w in _FUNCTION for w in words_)
            and c.fixed[start + size : start + size + 1] != [str(year)]
        ):
            year = None  # "the first one from 2000": only a year right after it makes "one" a title
        if year is not None or bang or titled:
            return link, True  # (bang: "Them!" written with its own "!")
        content = [w for w in words_ if w not in _FUNCTION]
        if self._own_facts_follow(c, link) and not (
            content and all(w in self.everyday or w.rstrip("s") in self.everyday for w in content)
        ):
            return link, True  # "her by spike jonze", "go from 1999 with katie holmes"
        if (
            how == "partial"
            or one_word_stem
            or all(w in _FUNCTION or w in self.everyday or w.rstrip("s") in self.everyday for w in key.split())
        ):
            return None, False  # "them", "up", "drama": never on their own say-so
        return link, False

    def _drop_run_ins(self, c: _Context, found: list[Link]) -> list[Link]:
        """Two titles written into each other, with no comma or "and" between them and more name
        after ("mad max fury road": "Mad Max" and "Fury"), are one longer name the catalog does
        not hold; a series name before its member ("lord of the rings fellowship of the ring")
        is the member's."""
        found = sorted(found, key=lambda f: f.start)
        drop: set[int] = set()
        for n in range(len(found) - 1):
            a, b = found[n], found[n + 1]
            if (
                b.start != a.end
                or a.item_id == b.item_id
                or c.message[c.ws[a.end - 1].end : c.ws[b.start].start].strip()
            ):
                continue
            if key_of(self.catalog[b.item_id].title).startswith(" ".join(c.fixed[a.start : a.end])):
                drop.add(n)  # the series' name, then the member's subtitle
                continue
            after = (
                b.end < len(c.ws)
                and c.fixed[b.end] not in _ENDS
                and c.fixed[b.end] not in _FUNCTION
                and not re.search(r"[,;:.!?()\"]", c.message[c.ws[b.end - 1].end : c.ws[b.end].start])
                and not any(f.start == b.end for f in found)
            )
            if b.end - b.start == 1 and after:
                drop.update((n, n + 1))
        return [f for n, f in enumerate(found) if n not in drop]

    def _in_names(self, fixed: list[str]) -> list[tuple[int, int]]:
        out = []
        for size in range(min(self.name_words, len(fixed)), 1, -1):
            for start in range(len(fixed) - size + 1):
                if " ".join(fixed[start : start + size]) in self.names:
                    out.append((start, start + size))
        return out

    def _numbered_after(self, c: _Context, found: list[Link], taken: list[bool]) -> list[Link]:
        """ "godfather 1 and 2", "terminator 2 or 3": a number after a numbered title names the
        title with that number."""
        out = []
        for link in found:
            key = " ".join(c.fixed[link.start : link.end])
            if not re.search(r" \d+$", key):
                continue
            n = link.end
            while n < len(c.ws):
                j = n + 1 if c.fixed[n] in ("and", "or", "&") else n  # "1 and 2", "1 2 and 3", "1, 2, 3"
                if j == n and not re.fullmatch(r"\s*,?\s*", c.message[c.ws[n - 1].end : c.ws[n].start]):
                    break
                if j + 1 < len(c.ws) and c.fixed[j] in _PART_WORDS and key.split()[-2:-1] == [c.fixed[j]]:
                    j += 1  # "book 1 and book 2"
                if j >= len(c.ws) or not c.fixed[j].isdigit() or taken[j]:
                    break
                other = _key(key.split()[:-1] + [c.fixed[j]])
                chosen = self._choose(self.by_key.get(other, []), None)
                if chosen is None:
                    break
                out.append(Link(chosen.item_id, j, j + 1, c.message[c.ws[j].start : c.ws[j].end], "exact", chosen.kind))
                taken[j] = True
                n = j + 1
        return out

    def _evidence(self, c: _Context, link: Link, found: list[Link]) -> bool:
        """Whether everyday words in lower case are meant as a title: they end where a title
        would (the message, a clause, "was", "with"...) and begin after a word that introduces
        one ("loved", "like", "than"), with the title's own article ("the graduate"), beside
        another title ("heat, seven and the usual suspects"), or, for a well-known item of
        several words, after a pause ("die hard is a christmas movie")."""
        ws, start, end = c.ws, link.start, link.end
        if c.fixed[end - 1] in _PRONOUNS:
            return False  # "watch it", "stand by me": only written as a title
        if self._own_facts_follow(c, link):
            return True  # "honey by caleb alvarez", "light (amara nakamura, 2022)"
        size = len(_key(c.fixed[start:end]).split())
        if size >= 5:
            return True  # "the field at the end of the field": a long title is no accident
        nxt = ws[end].text if end < len(ws) else ""
        gap_after = c.message[ws[end - 1].end : ws[end].start] if end < len(ws) else ""
        if end < len(ws) and not (
            nxt in _ENDS or re.search(r"[,;:.!?()\"]", gap_after) or re.fullmatch(r"(1[89]|20)\d\d", nxt)
        ):
            return False
        prev = ws[start - 1].text if start else ""
        gap_before = c.message[ws[start - 1].end : ws[start].start] if start else ""
        paused = not start or bool(re.search(r"[,;:.!?()\"]", gap_before))
        if prev in _CUES or (start >= 2 and (ws[start - 2].text, prev) in _CUE_PAIRS):
            return True
        known = self.popularity.get(link.item_id, 0)
        own = [a for a in self.by_key.get(" ".join(c.fixed[start:end]), ()) if a.item_id == link.item_id]
        if (
            c.fixed[start] in ("the", "a", "an")
            and any(a.kind in ("title", "alternate", "stem") for a in own)
            and known >= self.known
        ):
            return True  # the title's own article, written: "the graduate", "the game"
        if self._listed(c, link, found):
            return True
        if size >= 4:
            return True  # "i know what you did last summer was cheesy"
        if start == 0 and end == len(ws) and (known >= self.known or not self.popularity):
            return True  # the whole message is the title: "titanic"
        ends_here = not nxt or nxt in ("with", "by", "was", "is") or bool(re.search(r"[,;:.!?(]", gap_after))
        # "fargo, but funnier", "michael with john travolta": a title opening the message
        if start == 0 and ends_here and known >= self.known:
            return True
        return size > 1 and paused and known >= self.popular

    @staticmethod
    def _listed(c: _Context, link: Link, found: list[Link]) -> bool:
        """Whether the link is one of a list of titles: "heat, seven and the usual suspects",
        "up > finding nemo > ratatouille"."""
        ws, start, end = c.ws, link.start, link.end
        nxt = ws[end].text if end < len(ws) else ""
        gap_after = c.message[ws[end - 1].end : ws[end].start] if end < len(ws) else ""
        in_list = not nxt or nxt in ("and", "or") or bool(re.search(r"[,;:.!?&>/+\-–]", gap_after))
        for other in found:
            between = (
                c.message[ws[other.end - 1].end : ws[start].start]
                if other.end <= start
                else c.message[ws[end - 1].end : ws[other.start].start]
                if other.start >= end
                else None
            )
            if between is None or not _LIST_GAP.fullmatch(between):
                continue
            # inside the list its items are followed by a comma or "and"; its last after "and"
            if in_list or (other.end <= start and re.search(r"\b(?:and|or|vs)\b|[&>/+]", between)):
                return True
        return False

    def _drop_asides(self, c: _Context, found: list[Link]) -> list[Link]:
        """After a title, common lower-case words that happen to be a title are the user talking
        about it ("slumdog millionaire, indian movie with the quiz show", "cast away, wilson!!",
        "das boot, submarine movies please"). A later title of common words stays only with a
        sign that it is one: written as a title, dated, its people or a cue word beside it, or a
        list of titles."""
        found = sorted(found, key=lambda f: f.start)
        return [f for n, f in enumerate(found) if n == 0 or not self._aside(c, f, found)]

    def _aside(self, c: _Context, link: Link, found: list[Link]) -> bool:
        start, end = link.start, link.end
        span = c.fixed[start:end]
        if not all(zipf(w) >= ASIDE_ZIPF or w in _FUNCTION or w.isdigit() for w in span) or end - start >= 4:
            return False  # a coined word ("zoolander"), or a long title: no accident
        year = c.years.get(end)
        if year is not None and abs(self.years.get(link.item_id, -99) - year) <= 1:
            return False
        prev = c.fixed[start - 1] if start else ""
        if (
            (prev in _CUES and prev != "as")
            or set(c.fixed[max(0, start - 3) : start]) & _NEAR_CUES
            or prev in ("but", "not", "nor", "or", "except", "then")
            or (start >= 2 and (c.fixed[start - 2], prev) in _CUE_PAIRS)
        ):
            return False
        if self._written_as_title(c.message, c.ws, start, end - start, c.capitals) or self._own_facts_follow(c, link):
            return False
        gap_before = c.message[c.ws[start - 1].end : c.ws[start].start] if start else ","
        gap_after = c.message[c.ws[end - 1].end : c.ws[end].start] if end < len(c.ws) else ","
        nxt = c.fixed[end] if end < len(c.ws) else ""
        if "," in gap_before and ("," in gap_after or nxt in ("and", "or")):
            return False  # between commas, as a list's items are: "star wars obviously, blade runner, 2001"
        return not self._listed(c, link, found)

    def _own_facts_follow(self, c: _Context, link: Link) -> bool:
        """Whether a value of the item's own fields (an author, a director, its year) is written
        within a few words after it."""
        after = " " + " ".join(c.fixed[link.end : link.end + 8]) + " "
        return any(f" {v} " in after for v in self._facts(link.item_id))

    def _facts(self, item_id: str, loose: bool = False) -> list[str]:
        """What a user may write beside an item's title to say which one: its people (the values
        of fields with many distinct values: authors, director, cast) and its year. ``loose``
        adds every surname ("schwarzenegger"), to choose between items of one title: too loose
        to say that words are a title at all."""
        if loose:
            if ("~" + item_id) not in self._fact_cache:
                self._fact_cache["~" + item_id] = self._facts(item_id) + [
                    f.split()[-1] for f in self._facts(item_id) if " " in f and len(f.split()[-1]) >= 4
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
                if text and (len(text) >= 6 or text.isdigit()) and not all(w in _FUNCTION for w in text.split()):
                    out.append(text)
                    last = text.split()[-1]
                    if " " in text and len(last) >= 4 and zipf(last) < 3.0:
                        out.append(last)  # "pacino" for "Al Pacino"
        self._fact_cache[item_id] = out
        return out

    def _partial(self, key: str) -> list[Alias]:
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

    def _fuzzy(self, c: _Context, taken: list[bool]) -> list[Link]:
        """Titles misspelt across words ("forest gump", "singing in the rain"): spans of free
        words compared (rapidfuzz) with the titles that share their rarest word."""
        from rapidfuzz import fuzz

        out: list[Link] = []
        n = len(c.ws)
        for size in range(min(6, n), 1, -1):
            for start in range(n - size + 1):
                if any(taken[start : start + size]):
                    continue
                span = c.fixed[start : start + size]
                if (
                    span[-1] in _FUNCTION
                    or (span[0] in _FUNCTION and size < 3)
                    or " ".join(span) in self.by_key
                    or (start and c.fixed[start - 1] in ("by", "starring"))
                ):
                    continue
                digits = [w for w in span if w.isdigit()]
                text = " ".join(span)
                rare = [w for w in span if w in self.containing and len(self.containing[w]) <= 300 and len(w) >= 4]
                if len(text) < 8 or not rare:
                    continue
                best, score = None, 0.0
                pool = dict.fromkeys(
                    k for w in sorted(rare, key=lambda w: len(self.containing[w]))[:2] for k in self.containing[w][:300]
                )  # a typo may hit the rarest word
                for full in pool:
                    if abs(full.count(" ") + 1 - size) <= 1 and [w for w in full.split() if w.isdigit()] == digits:
                        r = fuzz.ratio(text, full)
                        if r > score:
                            best, score = full, r
                if (
                    best is None
                    or score < FUZZY_SPAN_CUTOFF
                    or self.is_everyday(best)
                    or (score < 95 and not any(zipf(w) < 4.0 for w in best.split()))
                ):
                    continue
                chosen = self._choose(self.by_key[best], None)
                if chosen is None or chosen.kind == "stem":
                    continue
                out.append(
                    Link(
                        chosen.item_id,
                        start,
                        start + size,
                        c.message[c.ws[start].start : c.ws[start + size - 1].end],
                        "corrected",
                        chosen.kind,
                    )
                )
                taken[start : start + size] = [True] * size
        return out

    def _choose(self, aliases: list[Alias], year: int | None, message: str = "") -> Alias | None:
        """The alias to take: a year in the message next to the title first, then the alias's
        strength, then popularity in the log, then catalog order."""
        best: dict[str, Alias] = {}
        for a in aliases:
            if a.item_id not in best or best[a.item_id].strength < a.strength:
                best[a.item_id] = a
        candidates = list(best.values())
        if len(candidates) > 1 and message:  # "grey heron by leo bell": the item whose facts are written
            text = " " + message + " "
            told = [
                a
                for a in candidates
                if any(f" {v} " in text or f" {v}s " in text for v in self._facts(a.item_id, loose=True))
            ]
            candidates = told or candidates
        if year is not None:
            dated = [a for a in candidates if abs(self.years.get(a.item_id, -99) - year) <= 1]
            exact = [a for a in dated if self.years.get(a.item_id) == year]
            candidates = exact or dated or candidates
        return max(candidates, key=lambda a: (a.strength, self.popularity.get(a.item_id, 0)), default=None)

    @staticmethod
    def _dated(message: str, end: int) -> int | None:
        """The year a user dates a title with, written right after it: "(2019)", "2019", ", the
        korean one from 2019"."""
        m = _DATED.match(message[end:])
        return int(next(g for g in m.groups() if g)) if m else None

    @staticmethod
    def _years_near(message: str, ws: list[Word]) -> dict[int, int]:
        """Word index where a title may end -> the year written right after it: "Titanic
        (1997)", "titanic 1997", "titanic, the 1997 one", "titanic from 1997"."""
        out: dict[int, int] = {}
        for n, w in enumerate(ws):
            if re.fullmatch(r"(1[89]\d\d|20\d\d)", w.text):
                out.setdefault(n, int(w.text))
                if n >= 1 and ws[n - 1].text in ("the", "from", "in", "of"):
                    out.setdefault(n - 1, int(w.text))
        return out

    @staticmethod
    def _capital_share(message: str, ws: list[Word]) -> float:
        """The share of capitalised words that start no sentence and are not "I": near 1 in a
        message Written Like This or in capitals, where capitals say nothing about titles."""
        alpha = [
            message[w.start]
            for n, w in enumerate(ws)
            if message[w.start].isalpha() and w.text != "i" and n > 0 and message[: w.start].rstrip()[-1:] not in ".!?"
        ]
        return sum(c.isupper() for c in alpha) / len(alpha) if len(alpha) >= 4 else 0.0

    @staticmethod
    def _written_as_title(message: str, ws: list[Word], start: int, size: int, capitals: float) -> bool:
        """Quoted, capitalised away from the start of a sentence (in a message that is not
        capitalised throughout), or written with a title's inner punctuation ("E.T.")."""
        begin, end = ws[start].start, ws[start + size - 1].end
        span = message[begin:end]
        before, after = message[:begin].rstrip(), message[end : end + 1]
        if (
            before[-1:]
            and before[-1:] in "\"'“‘«"
            and after in ('"', "'", "”", "’", "»")
            and not re.search(r"\w$", message[:begin])
        ):
            return True  # "Her", 'Them!' quoted: a quote on each side
        if re.search(r"[a-zA-Z]\.[a-zA-Z]|[a-zA-Z]·[a-zA-Z]", span):
            return True
        if capitals > 0.6:
            return False
        sentence_start = not before or before[-1] in ".!?:;\n(" or re.search(r"(^|[.!?]\s*)[\"']?$", before)
        capitalised = [message[w.start].isupper() for w in ws[start : start + size] if message[w.start].isalpha()]
        if not capitalised:
            return False
        return any(capitalised[1:] if sentence_start else capitalised)

    def resolve(self, text: str) -> str | None:
        """The item whose title best matches ``text`` on its own (an LLM's extracted title), or None."""
        text = _split_title(text)[0] or text  # "Matrix, The (1999)" as a catalog writes it
        ws = words(text)
        if not ws:
            return None
        key = key_of(text)
        aliases = self.by_key.get(key)
        if not aliases:
            key = _key([self._correct(w.text) or w.text if w.text not in self.containing else w.text for w in ws])
            aliases = self.by_key.get(key) or (self._partial(key) if len(key) >= MIN_PARTIAL_CHARS else None)
        if not aliases:  # a longer name around a title: "Star Wars: A New Hope" -> Star Wars
            inside = self.link(text)
            return max(inside, key=lambda n: n.end - n.start).item_id if inside else None
        years = self._years_near(text, ws)
        chosen = self._choose(aliases, next(iter(years.values()), None))
        return chosen.item_id if chosen else None


def _as_list(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else [value] if isinstance(value, str) else []


def is_kind(catalog: Catalog, name: str) -> bool:
    """Whether a field holds kinds (genres, subjects: each value shared by many items) rather
    than names (authors, cast, brands: a few items each)."""
    uses: Counter[str] = Counter()
    for item in catalog:
        value = item.fields.get(name)
        uses.update(value if isinstance(value, list) else [value] if isinstance(value, str) else [])
    return bool(uses) and sum(uses.values()) / len(uses) >= 10
