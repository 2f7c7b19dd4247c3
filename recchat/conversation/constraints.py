"""What one message asks for (:class:`Understanding`), and the rules that read its facet values,
years and ranges.

Facet values come from the catalog's own values plus the domain's synonyms; values of one facet
joined by "or" are alternatives, joined by "and" all required; a value negated in its clause is
avoided. Years: decades, comparisons ("before 1970"), exact years, spans and "recent". Ranges are
read in the field's unit ("under 300 pages").
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from recchat.conversation.clauses import Clauses, words_of
from recchat.conversation.domain import Domain, RangeField

_YEAR = r"(1[0-9]\d\d|20\d\d)"


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


def _facet_hits(msg: Clauses, domain: Domain, skip: set[int]) -> list[tuple[str, str, int, int]]:
    """(facet, value, start word, end word) for each facet phrase outside ``skip``, longest phrase
    first, in message order; a trailing "s" is allowed ("thrillers")."""
    phrases: dict[tuple[str, ...], tuple[str, str]] = {}
    for facet in reversed(domain.facets):  # an earlier facet wins a phrase two facets share
        phrases.update({tuple(words): (facet.name, v) for p, v in facet.phrases().items() if (words := words_of(p))})
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


def read_years(text: str, domain: Domain, out: Understanding) -> None:
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


def read_ranges(text: str, domain: Domain, out: Understanding) -> None:
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


def read_facets(msg: Clauses, text: str, domain: Domain, skip: set[int], out: Understanding) -> None:
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
    for spec in domain.facets:
        for word, values in spec.avoid.items():
            if re.search(rf"\b(less|not|no|nothing|without|too)\s+(so\s+)?{re.escape(word)}\b", text):
                bucket = out.avoided.setdefault(spec.name, [])
                bucket += [v for v in values if v in spec.values and v not in bucket]
    wanted = {f: [v for v in values if v not in out.avoided.get(f, [])] for f, values in out.wanted.items()}
    out.wanted = {f: values for f, values in wanted.items() if values}
    regrouped = {
        f: [kept for g in groups if len(kept := [v for v in g if v in out.wanted.get(f, [])]) >= 2]
        for f, groups in out.alternatives.items()
    }
    out.alternatives = {f: g for f, g in regrouped.items() if g}


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


def _alternatives(msg: Clauses, hits: list[tuple[str, str, int, int]], domain: Domain) -> list[tuple[str, list[str]]]:
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
