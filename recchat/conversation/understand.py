"""Understanding a chat message by rules: titles, facet values, years, ranges, series, references.

The rules always work (no LLM needed) and know no catalog in particular: what a message can ask
for comes from the :class:`~recchat.conversation.domain.Domain` (its facets with their synonyms and
avoid-words, the year field, the range fields and their units, the series). ``extract_with_llm``
asks the LLM for the same facts as JSON (schema-constrained on vLLM and vLLM servers, validated
here everywhere) and ``merge`` adds what the rules missed; the rules win on any conflict, and an
unusable LLM answer changes nothing. What the rules find:

- titles, linked to the catalog by :class:`recchat.conversation.link.Linker` (aliases derived once per
  catalog: articles moved, alternates, subtitles, numbers, typos, partial titles, and guards on
  everyday words); a title that was a guess is kept in ``Understanding.took`` for the reply;
- facet values from the catalog's own values plus the domain's synonyms ("sci fi", "scary");
  a value's word inside a title is not a wish ("Star Wars" asks for no war film); values of one
  facet joined by "or" are alternatives ("history or biography", "a comedy or a romance"),
  joined by "and" all required;
- negations, clause by clause: "no horror, something funny", "nothing scary", "not Scream",
  "isn't a drama", "anything but drama", "other than horror", "except westerns", and the
  facets' avoid-words ("less violent"); "nothing but comedies" asks for comedies;
- series by name: "nothing from Star Trek", "no more Die Hard movies" keep every member out;
  "I've seen all the Godfather movies", "I watched every X film" make every member liked;
- years: "80s", "the 1990s", "before 1970", "after 1990", "from 1996", "between 1990 and 1995",
  "recent" (counted back from the domain's reference year), and years relative to a named item:
  "older than Fargo", "after Fargo", "from the same year as Fargo";
- ranges, in the field's unit: "under 300 pages", "over 500 pages", "between 200 and 400 pages";
- critiques of the last list and references into it: "not that one", "something older",
  "newer", "I've seen it", "not the first one", "the third one looks good", "more like number 2",
  "the last one".
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

from recchat.conversation.aliases import _YEAR_PAREN, key_of, words
from recchat.conversation.domain import Domain, RangeField
from recchat.conversation.link import Linker

_ORDINALS = {
    "first": 1,
    "1st": 1,
    "second": 2,
    "2nd": 2,
    "third": 3,
    "3rd": 3,
    "fourth": 4,
    "4th": 4,
    "fifth": 5,
    "5th": 5,
    "sixth": 6,
    "6th": 6,
    "seventh": 7,
    "7th": 7,
    "eighth": 8,
    "8th": 8,
    "ninth": 9,
    "9th": 9,
    "tenth": 10,
    "10th": 10,
    "last": -1,
}
# Words (after normalisation: "don't" -> "don t") that turn the next few words down.
_NEGATION = {
    "no",
    "not",
    "without",
    "nothing",
    "never",
    "hate",
    "hated",
    "dislike",
    "disliked",
    "avoid",
    "except",
    "skip",
    "none",
    "nor",
    "exclude",
    "don",
    "didn",
    "doesn",
    "isn",
    "wasn",
    "aren",
    "weren",
}
_WINDOW = 5  # how far back a negation reaches, in words (never past its clause)
# Words that negate after a given word: "anything but drama", "something other than a comedy".
# "nothing but comedies" is no such pair: it asks for comedies only.
_NEGATING_PAIRS = {
    ("anything", "but"),
    ("everything", "but"),
    ("whatever", "but"),
    ("other", "than"),
    ("rather", "than"),
    ("instead", "of"),
    ("apart", "from"),
    ("aside", "from"),
}
# Words that make a named series mean all of it: "no more Die Hard movies", "none of the Die Hard sequels".
_SERIES_AFTER = {
    "series",
    "franchise",
    "saga",
    "sequel",
    "sequels",
    "trilogy",
    "ones",
    "entries",
    "installments",
    "instalments",
    "films",
    "movies",
    "books",
    "novels",
    "games",
    "shows",
    "episodes",
}  # any domain's plurals
_SERIES_BEFORE = {"from", "of", "any"}
# Words before a title that make it a reference point for years, not a like.
_RELATIVE = {
    ("same", "year", "as"): "same",
    ("older", "than"): "before",
    ("earlier", "than"): "before",
    ("before",): "before",
    ("prior", "to"): "before",
    ("newer", "than"): "after",
    ("later", "than"): "after",
    ("more", "recent", "than"): "after",
    ("after",): "after",
    ("since",): "since",
}
_SEEN = re.compile(
    r"\b(?:(?:i ve|i have|already|have) (?:seen|watched|read)"
    r"|(?:seen|watched|read) (?:it|that|this|them))\b"
)
_REJECT = re.compile(r"\b(?:not (?:that|this) one|don t like (?:that|this|it)|no thanks|something else|not for me)\b")
_ORDINAL = "|".join(sorted(_ORDINALS, key=len, reverse=True))
_YEAR = r"(1[0-9]\d\d|20\d\d)"


def normalize_title(text: str) -> str:
    """A title as titles are compared: normalised words, a leading article and a final "(year)"
    dropped ("The Godfather: Part II" -> "godfather 2"); see :mod:`recchat.conversation.link`."""
    return key_of(_YEAR_PAREN.sub("", text))


def _words(text: str) -> list[str]:
    """``text``'s words as titles are compared (:func:`recchat.conversation.link.words`), articles kept."""
    return [w.text for w in words(text)]


@dataclass
class Understanding:
    """What one message says. Facet values are the catalog's own; years and ranges are bounds."""

    titles: list[str] = field(default_factory=list)  # item ids, in mention order
    liked: list[str] = field(default_factory=list)
    disliked: list[str] = field(default_factory=list)
    anchors: list[str] = field(default_factory=list)  # items named as a point in time ("older than X")
    wanted: dict[str, list[str]] = field(default_factory=dict)  # facet -> values asked for
    # facet -> groups of wanted values any one of which will do ("history or biography"); each
    # group's values are in ``wanted`` too; wanted values in no group are each required.
    alternatives: dict[str, list[list[str]]] = field(default_factory=dict)
    avoided: dict[str, list[str]] = field(default_factory=dict)  # facet -> values to keep out
    avoided_series: list[str] = field(default_factory=list)  # Series.name of series to keep out whole
    seen_series: list[str] = field(default_factory=list)  # Series.name seen whole ("I've seen all the X
    # movies"): every member is liked history
    year_min: int | None = None  # inclusive bounds on the domain's year field
    year_max: int | None = None
    ranges: dict[str, dict[str, float]] = field(default_factory=dict)  # field -> {"$lt": 300, ...}
    critiques: list[str] = field(default_factory=list)  # "older", "newer", "reject", "seen", "more_like", "like"
    liked_refs: list[int] = field(default_factory=list)  # 1-based positions in the last list; -1 = last
    rejected_refs: list[int] = field(default_factory=list)
    wish: str = ""
    took: list[tuple[str, str]] = field(default_factory=list)  # (as written, item id) where a title was a guess
    llm: str = "off"  # the LLM extraction: "off", "used", "nothing new" or "unusable: <why>"


# --------------------------------------------------------------------------- reading a message


class _Message:
    """A message as words with their clause numbers: a clause ends at punctuation and at "but",
    and no negation reaches past it ("no horror, something funny"). Some words negate only by
    the word before them: "anything but drama" (that "but" ends no clause), "other than",
    "rather than", "instead of", "apart from", "aside from"; ``negators`` holds their positions."""

    def __init__(self, text: str):
        self.words: list[str] = []
        self.clause: list[int] = []
        self.clauses: list[str] = []
        self.negators: set[int] = set()
        self.series_clauses: set[int] = set()  # clauses naming a series seen whole (set by _series_hits)
        # "E.T." is one word (as recchat.conversation.link reads it), so its dots end no clause.
        text = re.sub(r"\b(?:[A-Za-z]\.){2,}", lambda m: m.group(0).replace(".", ""), text)
        for part in re.split(r"[,.;:!?]+", text):
            current: list[str] = []
            for word in _words(part):
                after = (current[-1], word) if current else None
                if after in _NEGATING_PAIRS:
                    self.negators.add(len(self.words))
                elif word == "but" and current:
                    self.clauses.append(" ".join(current))
                    current = []
                self.words.append(word)
                self.clause.append(len(self.clauses))
                current.append(word)
            self.clauses.append(" ".join(current))

    def negated(self, start: int) -> bool:
        """Whether a negation in the same clause, a few words back, applies to the word at ``start``;
        an "and" or "but" in between ends it ("no horror and comedy" wants comedy)."""
        for j in range(start - 1, max(-1, start - _WINDOW - 1), -1):
            if self.clause[j] != self.clause[start]:
                return False
            if j in self.negators or self.words[j] in _NEGATION:
                return True
            if self.words[j] in ("and", "but"):
                return False
        return False

    def clause_negative(self, n: int) -> bool:
        """Whether clause ``n`` holds a negation anywhere."""
        return bool(set(self.clauses[n].split()) & _NEGATION) or any(self.clause[j] == n for j in self.negators)

    def before(self, start: int, n: int) -> tuple[str, ...]:
        """The ``n`` words before ``start``, skipping one article right before it."""
        end = start - 1 if start and self.words[start - 1] in ("the", "a", "an") else start
        return tuple(self.words[max(0, end - n) : end])


def _facet_hits(msg: _Message, domain: Domain, skip: set[int]) -> list[tuple[str, str, int, int]]:
    """(facet, value, start word, end word) for each facet phrase outside ``skip``, longest phrase
    first, in message order; a trailing "s" is allowed ("thrillers")."""
    phrases: dict[tuple[str, ...], tuple[str, str]] = {}
    for facet in reversed(domain.facets):  # an earlier facet wins a phrase two facets share
        phrases.update({tuple(words): (facet.name, v) for p, v in facet.phrases().items() if (words := _words(p))})
    longest = max((len(p) for p in phrases), default=0)
    hits, taken = [], set(skip)
    for size in range(longest, 0, -1):
        for start in range(len(msg.words) - size + 1):
            span = set(range(start, start + size))
            if span & taken:
                continue
            chunk = tuple(msg.words[start : start + size])
            singular = chunk[:-1] + (chunk[-1].removesuffix("s"),)
            found = phrases.get(chunk) or phrases.get(singular)
            if found:
                hits.append((*found, start, start + size))
                taken |= span
    return sorted(hits, key=lambda h: h[2])


def _series_hits(msg: _Message, domain: Domain, resolver: Linker) -> list[tuple[str, set[int]]]:
    """(series name, word positions) for series the message keeps out: a negated series name
    that is no member's own title ("nothing from Star Trek"), or that says it means them all
    ("no more Die Hard movies"); "not Alien" stays one title. Series seen whole ("I've seen all
    the Godfather movies") are :func:`_seen_series`'s."""
    longest = max((len(s.name.split()) for s in domain.series), default=0)
    out = []
    for size in range(longest, 0, -1):
        for start in range(len(msg.words) - size + 1):
            series = domain.series_named(" ".join(msg.words[start : start + size]))
            if series is None or not msg.negated(start) or any(series.name == s for s, _ in out):
                continue
            after = msg.words[start + size] if start + size < len(msg.words) else ""
            whole = (
                after in _SERIES_AFTER | {domain.item, domain.items}
                or set(msg.before(start, 1)) & _SERIES_BEFORE
                or not set(resolver.by_norm.get(series.name, ())) & set(series.members)
            )
            if whole:
                out.append((series.name, set(range(start, start + size))))
    return out


# "I've seen all the X movies", "I watched every X film", "read all of the X books": X seen whole.
_SEEN_VERBS = {"seen", "saw", "watched", "read", "finished", "loved", "liked", "enjoyed", "devoured"}
_ALL_OF = {("all",), ("every",), ("each",), ("all", "of"), ("each", "of"), ("every", "one", "of")}


def _seen_series(msg: _Message, domain: Domain, out: Understanding) -> set[int]:
    """Series the user has seen (or liked) whole: a series name right after "all (of) the",
    "every" or "each" in a clause with a verb of seeing or liking, not negated ("I haven't seen
    all the X movies" is no such thing). Their names go to ``out.seen_series``; returns their
    word positions (no title in them is a like of its own)."""
    longest = max((len(s.name.split()) for s in domain.series), default=0)
    spans: set[int] = set()
    for size in range(longest, 0, -1):
        for start in range(len(msg.words) - size + 1):
            if set(range(start, start + size)) & spans:
                continue
            series = domain.series_named(" ".join(msg.words[start : start + size]))
            if series is None or series.name in out.seen_series or series.name in out.avoided_series:
                continue
            if not any(msg.before(start, len(words)) == words for words in _ALL_OF):
                continue
            clause = msg.clause[start]
            verbs = [j for j in range(start) if msg.clause[j] == clause and msg.words[j] in _SEEN_VERBS]
            if (
                not verbs
                or msg.negated(verbs[-1])
                or msg.negated(start)
                or {"haven", "hasn", "never"} & set(msg.words[max(0, verbs[-1] - 3) : verbs[-1]])
            ):
                continue
            out.seen_series.append(series.name)
            spans |= set(range(start, start + size))
            msg.series_clauses.add(clause)
    return spans


def _years(text: str, domain: Domain, out: Understanding) -> None:
    """Year bounds from decades, comparisons, exact years and "recent"; ``text`` is lower case."""
    units = "|".join(re.escape(w) for r in domain.ranges for w in _unit_words(r))
    not_a_unit = rf"(?!\s*(?:{units})\b)" if units else ""
    decade = re.search(r"\b(?:the\s+)?(?:(1[0-9]|20)([0-9]0)|([2-9]0))'?s\b", text)
    if decade:
        century, tens, short = decade.groups()
        start = int(century + tens) if century else 1900 + int(short)  # "80s" are the 1980s
        out.year_min, out.year_max = start, start + 9
    m = re.search(rf"\b(?:from|in|of|released in|published in)\s+{_YEAR}\b{not_a_unit}(?!'?s\b)", text)
    if m:
        out.year_min = out.year_max = int(m.group(1))
    m = re.search(rf"\b(?:between|from)\s+{_YEAR}\s+(?:and|to|-)\s+{_YEAR}\b{not_a_unit}", text)
    if m:
        out.year_min, out.year_max = sorted((int(m.group(1)), int(m.group(2))))
    m = re.search(rf"\b(?:before|older than|earlier than|pre)[\s-]+{_YEAR}\b", text)
    if m:
        out.year_max = int(m.group(1)) - 1
    m = re.search(rf"\b(?:after|newer than|later than|since|post)[\s-]+{_YEAR}\b", text)
    if m:
        out.year_min = int(m.group(1)) + (0 if "since" in m.group(0) else 1)
    if domain.reference_year is not None and re.search(r"\b(recent|latest|new releases?)\b", text):
        out.year_min = domain.reference_year - 3


def _unit_words(r: RangeField) -> list[str]:
    """A range's unit, singular and plural: "page", "pages"."""
    unit = r.unit_word.lower()
    return [unit, unit[:-1]] if unit.endswith("s") else [unit, unit + "s"]


_BELOW = {
    "under": "$lt",
    "below": "$lt",
    "less than": "$lt",
    "fewer than": "$lt",
    "shorter than": "$lt",
    "at most": "$lte",
    "no more than": "$lte",
    "up to": "$lte",
    "max": "$lte",
    "maximum": "$lte",
}
_ABOVE = {
    "over": "$gt",
    "above": "$gt",
    "more than": "$gt",
    "longer than": "$gt",
    "at least": "$gte",
    "min": "$gte",
    "minimum": "$gte",
}


def _ranges(text: str, domain: Domain, out: Understanding) -> None:
    """Bounds on range fields, named by their unit: "under 300 pages", "between 200 and 400 pages"."""
    number = r"(\d+(?:\.\d+)?)"
    ops = {**_BELOW, **_ABOVE}
    # Longest first, matched left to right: "no more than 250" is not also "more than 250".
    comparisons = "|".join(re.escape(w) for w in sorted(ops, key=len, reverse=True))
    for r in domain.ranges:
        unit = "(?:" + "|".join(re.escape(w) for w in _unit_words(r)) + r")\b"
        bounds = {
            ops[m.group(1)]: _number(m.group(2)) for m in re.finditer(rf"\b({comparisons})\s+{number}\s*{unit}", text)
        }
        m = re.search(rf"\bbetween\s+{number}\s+and\s+{number}\s*{unit}", text) or re.search(
            rf"\b{number}\s*(?:-|to)\s*{number}\s*{unit}", text
        )
        if m:
            low, high = sorted((_number(m.group(1)), _number(m.group(2))))
            bounds = {"$gte": low, "$lte": high}
        if bounds:
            out.ranges[r.name] = bounds


def _number(text: str) -> float:
    value = float(text)
    return int(value) if value.is_integer() else value


def _references(msg: _Message, domain: Domain, titled: set[int], out: Understanding) -> None:
    """Critiques and positions in the last list, clause by clause: a position in a clause with a
    negation or a "seen" is turned down, any other is liked; "not that one", "I've seen it" and
    "more like that" point at the first item when they name no position and no title."""
    nouns = "|".join(re.escape(w) for w in ("pick", "option", "suggestion", "title", domain.item))
    ordinal = re.compile(
        rf"\b(?:the )?({_ORDINAL}) (?:one|{nouns})\b"
        rf"|\bthe ({_ORDINAL})(?: (?:looks|sounds|seems|is|was)\b|$)|\bnumber (\d{{1,2}})\b"
    )

    def note(critique: str) -> None:
        if critique not in out.critiques:
            out.critiques.append(critique)

    for n, clause in enumerate(msg.clauses):
        positions = [_ORDINALS.get(m.group(1) or m.group(2)) or int(m.group(3)) for m in ordinal.finditer(clause)]
        seen, reject, more_like = bool(_SEEN.search(clause)), bool(_REJECT.search(clause)), "more like" in clause
        negative = seen or reject or msg.clause_negative(n)
        if not positions and (seen or reject or more_like) and n not in titled | msg.series_clauses:
            positions = [1]
        if seen and (positions or n not in msg.series_clauses):  # a series seen whole is liked, no critique
            note("seen")
        elif negative and positions:
            note("reject")
        elif more_like:
            note("more_like")
        elif positions:
            note("like")
        refs = out.rejected_refs if negative else out.liked_refs
        refs += [p for p in positions if p not in refs]


def _titles(
    msg: _Message,
    titles: list[tuple[str, int, int]],
    in_series: set[int],
    resolver: Linker,
    domain: Domain,
    out: Understanding,
) -> None:
    """Each named item is a point in time ("older than X": the year bounds come from its year),
    covered by a series kept out, disliked (a negation before it) or liked."""
    for item_id, start, end in titles:
        out.titles.append(item_id)
        relation = next((r for words, r in _RELATIVE.items() if msg.before(start, len(words)) == words), None)
        year = resolver.catalog[item_id].fields.get(domain.year) if domain.year else None
        if relation and isinstance(year, int):
            out.anchors.append(item_id)
            low, high = {
                "same": (year, year),
                "before": (None, year - 1),
                "after": (year + 1, None),
                "since": (year, None),
            }[relation]
            out.year_min = low if low is not None else out.year_min
            out.year_max = high if high is not None else out.year_max
        elif set(range(start, end)) & in_series:
            continue  # the whole series is out; the title needs no word of its own
        elif msg.negated(start):
            out.disliked.append(item_id)
        else:
            out.liked.append(item_id)


def _facets(msg: _Message, text: str, domain: Domain, skip: set[int], out: Understanding) -> None:
    """Facet values wanted or avoided, and the facets' avoid-words ("less violent"); a value
    both wanted and avoided is avoided."""
    hits = _facet_hits(msg, domain, skip)
    for facet, value, position, _ in hits:
        bucket = (out.avoided if msg.negated(position) else out.wanted).setdefault(facet, [])
        if value not in bucket:
            bucket.append(value)
    for facet, group in _alternatives(msg, hits, domain):
        groups = out.alternatives.setdefault(facet, [])
        groups.append([v for v in group if not any(v in g for g in groups)])
    for facet in domain.facets:
        for word, values in facet.avoid.items():
            if re.search(rf"\b(less|not|no|nothing|without|too)\s+(so\s+)?{re.escape(word)}\b", text):
                bucket = out.avoided.setdefault(facet.name, [])
                bucket += [v for v in values if v in facet.values and v not in bucket]
    wanted = {f: [v for v in values if v not in out.avoided.get(f, [])] for f, values in out.wanted.items()}
    out.wanted = {f: values for f, values in wanted.items() if values}
    groups = {
        f: [kept for g in groups if len(kept := [v for v in g if v in out.wanted.get(f, [])]) >= 2]
        for f, groups in out.alternatives.items()
    }
    out.alternatives = {f: g for f, g in groups.items() if g}


# Words that may stand between "or" and the values it joins: "a comedy or maybe a romance".
_OR_FILLER = {
    "a",
    "an",
    "the",
    "some",
    "maybe",
    "perhaps",
    "possibly",
    "even",
    "else",
    "one",
    "ones",
    "kind",
    "of",
    "just",
    "either",
    "and",
}


def _alternatives(msg: _Message, hits: list[tuple[str, str, int, int]], domain: Domain) -> list[tuple[str, list[str]]]:
    """(facet, values) for wanted values of one facet joined by "or": "history or biography", "a
    comedy or a romance", "comedy, romance or drama" (a comma list ending in "or"). "and" keeps
    them all required; values of different facets are never alternatives."""
    filler = _OR_FILLER | {domain.item, domain.items}
    runs: list[tuple[str, list[tuple[str, str]]]] = []  # facet, [(value, how it joins the one before)]
    previous = None
    for facet, value, start, end in hits:
        if msg.negated(start):
            previous = None
            continue
        link = None
        if previous is not None and previous[0] == facet:
            between = msg.words[previous[3] : start]
            same_clause = msg.clause[previous[3] - 1] == msg.clause[start]
            if same_clause and between.count("or") == 1 and set(between) - {"or"} <= filler:
                link = "or"
            elif not between and msg.clause[start] == msg.clause[previous[3] - 1] + 1:
                link = "list"  # "comedy, romance or drama"
        if link:
            runs[-1][1].append((value, link))
        else:
            runs.append((facet, [(value, "")]))
        previous = (facet, value, start, end)
    return [
        (facet, list(dict.fromkeys(v for v, _ in run))) for facet, run in runs if any(link == "or" for _, link in run)
    ]


def understand(message: str, resolver: Linker, domain: Domain) -> Understanding:
    """Rule-based reading of one message against the catalog's ``domain``."""
    out = Understanding(wish=message.strip())
    # "#2" and "no. 2" are list positions; as words they would be lost ("2") or read as a "no".
    message = re.sub(r"(?:#|\bno\.)\s*(\d)", r"number \1", message, flags=re.IGNORECASE)
    text = " " + message.lower() + " "
    msg = _Message(message)

    if domain.year:
        _years(text, domain, out)
        if re.search(r"\b(older|earlier|classic|less recent)\b(?!\s+than)", text):
            out.critiques.append("older")
        if re.search(r"\b(newer|more recent|modern)\b(?!\s+than)", text):
            out.critiques.append("newer")
    _ranges(text, domain, out)
    links = resolver.link(message)
    titles = [(link.item_id, link.start, link.end) for link in links]
    out.took = [(link.text, link.item_id) for link in links if link.guessed]
    series = _series_hits(msg, domain, resolver)
    out.avoided_series = [name for name, _ in series]
    in_series = set().union(*(span for _, span in series), _seen_series(msg, domain, out))
    _titles(msg, titles, in_series, resolver, domain, out)  # after _years: a named item's year is more specific
    # Facet words inside a title are not wishes: "Star Wars" asks for no war film.
    in_titles = {n for _, start, end in titles for n in range(start, end)}
    _facets(msg, text, domain, in_titles | in_series, out)
    _references(msg, domain, {msg.clause[start] for _, start, _ in titles}, out)
    if not _says_more(msg.words, in_titles | in_series, domain):
        out.wish = ""  # "I loved X and Y, something like them": the named items say it all
    return out


# Words that ask for nothing by themselves: what is left of "I loved X, something like them".
_FILLER = frozenset(
    "i me my we you it its them they those these that this the a an and or but so some something anything "
    "like liked love loved loves enjoyed adored really just also too very more please same similar kind sort "
    "stuff ones one other others again ve have has seen watched read all every each of to for with as "
    "recommend suggest give show want need would could can m s d ll t".split()
)


def _says_more(words: list[str], named: set[int], domain: Domain) -> bool:
    """Whether the message asks for something beyond the items and series it names."""
    nouns = {domain.item, domain.items, "movie", "movies", "film", "films", "book", "books"}
    return any(w not in _FILLER and w not in nouns for n, w in enumerate(words) if n not in named)


# --------------------------------------------------------------------------- the LLM's reading


def extract_schema(domain: Domain) -> dict[str, Any]:
    """The JSON the LLM answers with: "liked" and "disliked" titles; per facet the values wanted
    ("<facet>") and avoided ("avoid_<facet>"); "<field>_min"/"<field>_max" for the year and
    each range field. MovieLens's is liked, disliked, genres, avoid_genres, year_min, year_max."""
    titles = {"type": "array", "items": {"type": "string"}, "maxItems": 5}
    values = {"type": "array", "items": {"type": "string"}, "maxItems": 4}
    properties: dict[str, Any] = {"liked": titles, "disliked": titles}
    for facet in domain.facets:
        properties[facet.name], properties[f"avoid_{facet.name}"] = values, values
    for name, kind in _bounded(domain).items():
        properties[f"{name}_min"] = properties[f"{name}_max"] = {"type": [kind, "null"]}
    return {"type": "object", "properties": properties, "required": list(properties), "additionalProperties": False}


def _bounded(domain: Domain) -> dict[str, str]:
    """The numeric fields the LLM may bound, with their JSON type: the year, then the ranges."""
    return {**({domain.year: "integer"} if domain.year else {}), **{r.name: "number" for r in domain.ranges}}


class ExtractionError(ValueError):
    """The LLM's answer is not the JSON the schema asks for."""


def parse_extraction(text: str, resolver: Linker, domain: Domain) -> Understanding:
    """Validate an LLM answer against :func:`extract_schema` and map it onto the catalog.

    Titles that resolve to no catalog item and values outside a facet's vocabulary are dropped;
    a non-object, an unknown key, a wrong type, an impossible year or a negative bound raises
    :class:`ExtractionError`.
    """
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end < start:
        raise ExtractionError("no JSON object in the answer")
    try:
        data = json.loads(text[start : end + 1])
    except json.JSONDecodeError as exc:
        raise ExtractionError(f"not valid JSON ({exc.msg})") from None
    if not isinstance(data, dict):
        raise ExtractionError("the JSON is not an object")
    unknown = set(data) - set(extract_schema(domain)["properties"])
    if unknown:
        raise ExtractionError(f"unexpected key(s): {', '.join(sorted(unknown))}")
    out = Understanding(llm="used")
    lists = [("liked", out.liked, resolver.resolve), ("disliked", out.disliked, resolver.resolve)]
    for facet in domain.facets:
        lookup = partial(_facet_value, facet.phrases())
        lists += [
            (facet.name, out.wanted.setdefault(facet.name, []), lookup),
            (f"avoid_{facet.name}", out.avoided.setdefault(facet.name, []), lookup),
        ]
    for key, bucket, lookup in lists:
        values = data.get(key) or []
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise ExtractionError(f"'{key}' is not a list of strings")
        bucket += [found for found in dict.fromkeys(map(lookup, values)) if found and found not in bucket]
    out.wanted = {f: v for f, v in out.wanted.items() if v}
    out.avoided = {f: v for f, v in out.avoided.items() if v}
    for name in _bounded(domain):
        for side, op in (("min", "$gte"), ("max", "$lte")):
            value = data.get(f"{name}_{side}")
            if value is None:
                continue
            if name == domain.year:
                if isinstance(value, bool) or not isinstance(value, int) or not 1000 <= value <= 2100:
                    raise ExtractionError(f"'{name}_{side}' is not a plausible year: {value!r}")
                setattr(out, f"year_{side}", value)
            elif isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ExtractionError(f"'{name}_{side}' is not a non-negative number: {value!r}")
            else:
                out.ranges.setdefault(name, {})[op] = value
    return out


def _facet_value(phrases: dict[str, str], text: str) -> str | None:
    """The facet value an LLM's word names ("comedies", "Horror "), or None."""
    text = text.strip().lower()
    return phrases.get(text) or phrases.get(text.rstrip("s"))


def _add(mine: list[str], values: list[str], blocked: list[str]) -> bool:
    """Append the values not already there and not blocked; whether any was added."""
    new = [v for v in values if v not in mine and v not in blocked]
    mine += new
    return bool(new)


# A message that can set a year or a range bound: it has a number or speaks of time. Without
# one, an LLM's bound is invented (a small model read "I loved Casablanca, something like it" as
# year <= 1942 and left nothing to recommend: bench/load.py).
_TIME_WORDS = re.compile(
    r"\d|\b(old|new|recent|latest|decade|centur|era|age|classic|modern|vintage|"
    r"twenties|thirties|forties|fifties|sixties|seventies|eighties|nineties|before|after|"
    r"since|until|between|under|over|less|more|short|long)",
    re.IGNORECASE,
)


def merge(rules: Understanding, llm: Understanding, message: str | None = None) -> Understanding:
    """The rules' reading plus what only the LLM found; on any conflict the rules win. Given the
    ``message``, the LLM's year and range bounds count only when it has a number or a word of
    time or size to ground them."""
    out = replace(
        rules,
        titles=list(rules.titles),
        liked=list(rules.liked),
        disliked=list(rules.disliked),
        wanted={f: list(v) for f, v in rules.wanted.items()},
        avoided={f: list(v) for f, v in rules.avoided.items()},
        ranges={f: dict(b) for f, b in rules.ranges.items()},
    )
    added = False
    for key, opposite in (("liked", "disliked"), ("disliked", "liked")):
        added |= _add(getattr(out, key), getattr(llm, key), getattr(out, opposite) + getattr(rules, opposite))
    for key, opposite in (("wanted", "avoided"), ("avoided", "wanted")):
        for facet, values in getattr(llm, key).items():
            blocked = getattr(out, opposite).get(facet, []) + getattr(rules, opposite).get(facet, [])
            mine = getattr(out, key).setdefault(facet, [])
            added |= _add(mine, values, blocked)
            if not mine:
                del getattr(out, key)[facet]
    out.titles += [t for t in out.liked + out.disliked if t not in out.titles]
    grounded = message is None or bool(_TIME_WORDS.search(message))
    for key in ("year_min", "year_max"):
        if grounded and getattr(out, key) is None and getattr(llm, key) is not None:
            setattr(out, key, getattr(llm, key))
            added = True
    if out.year_min is not None and out.year_max is not None and out.year_min > out.year_max:
        out.year_min, out.year_max = rules.year_min, rules.year_max  # an LLM year that contradicts the rules
    for name, bounds in llm.ranges.items():
        if grounded and name not in out.ranges:
            out.ranges[name] = dict(bounds)
            added = True
    out.llm = "used" if added else "nothing new"
    return out


def extract_with_llm(
    backend: Any, message: str, resolver: Linker, domain: Domain, *, max_tokens: int | None = None
) -> Understanding:
    """The LLM's structured reading of ``message``; raises ExtractionError (or LLMError).
    ``max_tokens`` defaults to 16 per schema key."""
    from recchat.templates import load_template

    schema = extract_schema(domain)
    template = load_template("extract")
    # A long vocabulary (authors, say) would crowd the prompt: the schema names the facet anyway.
    facets = [{"name": f.name, "vocabulary": sorted(f.values) if len(f.values) <= 40 else []} for f in domain.facets]
    ranges = [{"name": r.name, "unit": r.unit or r.name} for r in domain.ranges]
    prompt = template.prefix(kind=domain.item, facets=facets, year=domain.year, ranges=ranges) + template.suffix(
        message=message
    )
    text = backend.generate([prompt], max_tokens=max_tokens or 16 * len(schema["properties"]), json_schema=schema)[0]
    return parse_extraction(text, resolver, domain)
