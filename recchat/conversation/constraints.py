"""What one message asks for (:class:`Understanding`), and the rules that read its facet values,
years and ranges.

Facet values come from the catalog's own values plus the domain's synonyms; values of one facet
joined by "or" are alternatives, joined by "and" all required; a value negated in its clause is
avoided. People facets (names, not kinds) are also read by a clear last name ("by Tarantino"); a
name two facets share goes to the one whose cue precedes it ("with", "by"). Years: decades,
comparisons ("before 1970"), exact years, spans and "recent". Ranges are read in the field's unit
("under 300 pages"), larger units converted ("under two hours" = under 120 minutes).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
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
    first, in message order; a trailing "s" is allowed ("thrillers"). A phrase several facets
    share (a director who also acts) goes to the facet whose cue stands right before it ("with
    Tarantino": the cast), else to the earliest facet; a value or synonym wins over a last name."""
    phrases = _phrase_table(domain)
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
            if found and found[0][0] == 2 and not _cued_name(msg.words, start, start + size, domain):
                continue  # "a clown": a last name that is a word too names the person after a cue only
            if found:
                hits.append(
                    (*_by_cue(found, msg.words[:start], domain, msg.words[start + size :]), start, start + size)
                )
                taken |= span
    return sorted(hits, key=lambda h: h[2])


def _cued_name(words: list[str], start: int, end: int, domain: Domain) -> bool:
    """Whether a cue of some facet ends right before ``start`` ("with freeman"), or the item noun
    follows ``end`` ("a burton film", "burton's movies")."""
    after = words[end : end + 2]
    nouns = {domain.item, domain.items, "movie", "movies", "film", "films", "book", "books"}
    if after[:1] and (after[0] in nouns or (after[0] == "s" and after[1:] and after[1] in nouns)):
        return True
    cues = {tuple(words_of(c)) for f in domain.facets for c in f.cues}
    return any(cue and tuple(words[max(0, start - len(cue)) : start]) == cue for cue in cues)


def _phrase_table(domain: Domain) -> dict[tuple[str, ...], list[tuple[int, int, str, str]]]:
    """The words of every facet phrase -> (strength, facet position, facet, value), best first:
    strength 0 for a value or synonym, 1 for a person's last name, 2 for one that is a word too
    (read after a cue only). Made once per domain (a people facet holds thousands of names)."""
    key = tuple((f.name, len(f.values), len(f.synonyms), len(f.short), len(f.cued)) for f in domain.facets)
    table = domain.phrase_cache.get(key)
    if table is None:
        table = {}
        for n, facet in enumerate(domain.facets):
            entries = [(0, p, v) for p, v in facet.phrases().items()]
            entries += [(2 if p in facet.cued else 1, p, v) for p, v in facet.short.items()]
            for strength, phrase, value in entries:
                if words := tuple(words_of(phrase)):
                    table.setdefault(words, []).append((strength, n, facet.name, value))
        for found in table.values():
            found.sort()
        domain.phrase_cache.clear()
        domain.phrase_cache[key] = table
    return table


def _by_cue(
    found: list[tuple[int, int, str, str]],
    before: list[str],
    domain: Domain,
    after: Sequence[str] = (),
) -> tuple[str, str]:
    """(facet, value) of the best entries of a phrase: the one whose facet's cue ends ``before``,
    or whose facet's name follows it ("spanish-language dramas", "a crime genre pick")."""
    best = [e for e in found if e[0] == found[0][0]]
    for _, n, facet, value in best:
        for cue in domain.facets[n].cues:
            cue_words = words_of(cue)
            if cue_words and before[-len(cue_words) :] == cue_words:
                return facet, value
    for _, _, facet, value in best:
        if after[:1] and after[0] in (facet.lower(), facet.lower().removesuffix("s")):
            return facet, value
    return best[0][2], best[0][3]


_DECADE_WORDS = {
    w: 1900 + 10 * n
    for n, w in enumerate("twenties thirties forties fifties sixties seventies eighties nineties".split(), 2)
}


def read_years(text: str, domain: Domain, out: Understanding) -> None:
    """Year bounds from decades, comparisons, exact years and "recent"; ``text`` is lower case."""
    units = "|".join(re.escape(w) for r in domain.ranges for w in _unit_words(r))
    not_a_unit = rf"(?!\s*(?:{units})\b)" if units else ""
    decade = re.search(r"\b(?:the\s+)?(?:(1[0-9]|20)([0-9]0)|([2-9]0))'?s\b", text)
    spelt = re.search(r"\bthe\s+(" + "|".join(_DECADE_WORDS) + r")\b", text)  # not "in my thirties"
    if decade:
        century, tens, short = decade.groups()
        start = int(century + tens) if century else 1900 + int(short)  # "80s" are the 1980s
        out.year_min, out.year_max = start, start + 9
    elif spelt:
        out.year_min, out.year_max = _DECADE_WORDS[spelt.group(1)], _DECADE_WORDS[spelt.group(1)] + 9
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


# Larger units a range's unit is counted in, by the unit's singular: "under two hours" on a field
# counted in minutes is "under 120 minutes".
_LARGER = {
    "minute": {"hour": 60, "hr": 60},
    "second": {"minute": 60, "min": 60, "hour": 3600},
    "day": {"week": 7},
    "month": {"year": 12},
}
_NUMBER_WORDS = dict(
    zip("a an one two three four five six seven eight nine ten".split(), (1, 1, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10))
)


def in_unit(text: str, unit: str) -> str:
    """``text`` with amounts of a larger unit written in ``unit`` ("minutes"): "two hours" ->
    "120 minutes", "an hour and a half" and "1.5 hours" -> "90 minutes", "half an hour" -> "30
    minutes". Other text is left as it is."""
    singular = unit.lower().removesuffix("s")
    larger = _LARGER.get(singular)
    if not larger:
        return text
    words = "|".join(_NUMBER_WORDS)
    names = "|".join(sorted(larger, key=len, reverse=True))

    def write(amount: float) -> str:
        return f"{_number(str(round(amount, 2)))} {singular}s"

    def amount(m: re.Match[str]) -> str:
        return write((_value(m.group(1)) + (0.5 if m.group(2) or m.group(4) else 0)) * larger[m.group(3)])

    number = rf"(\d+(?:\.\d+)?|{words})"
    text = re.sub(
        rf"\b{number}\s+(and|to|-)\s+{number}\s*({names})s?\b",  # "between one and two hours"
        lambda m: (
            f"{write(_value(m.group(1)) * larger[m.group(4)]).split()[0]} {m.group(2)} "
            f"{write(_value(m.group(3)) * larger[m.group(4)])}"
        ),
        text,
    )
    text = re.sub(rf"\bhalf an? ({names})\b", lambda m: write(0.5 * larger[m.group(1)]), text)
    return re.sub(rf"\b{number}(\s+and\s+a\s+half)?\s*({names})s?\b(\s+and\s+a\s+half)?", amount, text)


def _value(n: str) -> float:
    return float(n) if n[0].isdigit() else _NUMBER_WORDS[n]


_FLIP = {"$lt": "$gte", "$lte": "$gt", "$gt": "$lte", "$gte": "$lt"}


def read_ranges(text: str, domain: Domain, out: Understanding) -> None:
    """Bounds on range fields, named by their unit: "under 300 pages", "between 200 and 400 pages";
    a larger unit is converted ("under two hours" on a field in minutes: under 120)."""
    number = r"(\d+(?:\.\d+)?)"
    ops = {**_BELOW, **_ABOVE}
    # Longest first, matched left to right: "no more than 250" is not also "more than 250".
    comparisons = "|".join(re.escape(w) for w in sorted(ops, key=len, reverse=True))
    original = text
    for r in domain.ranges:
        text = in_unit(original, r.unit_word)
        unit = "(?:" + "|".join(re.escape(w) for w in _unit_words(r)) + r")\b"
        # "nothing over two hours" is "at most 120 minutes".
        bounds = {
            (_FLIP[ops[m.group(2)]] if m.group(1) else ops[m.group(2)]): _number(m.group(3))
            for m in re.finditer(rf"\b(?:(nothing|not|no|never)\s+)?({comparisons})\s+{number}\s*{unit}", text)
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


_NEW_WISH = frozenset("with by starring featuring from".split())


def read_facets(msg: Clauses, text: str, domain: Domain, skip: set[int], out: Understanding) -> None:
    """Facet values wanted or avoided, and the facets' avoid-words ("less violent"); a value
    both wanted and avoided is avoided."""
    hits = _facet_hits(msg, domain, skip)
    last_negated = -1  # the end of the last negated value
    for facet, value, position, end in hits:
        negated = msg.negated(position)
        if negated and last_negated >= 0 and msg.clause[last_negated - 1] == msg.clause[position]:
            # "not in english with depardieu": a value after another one's cue starts a new wish
            negated = not set(msg.words[last_negated:position]) & _NEW_WISH
        last_negated = end if negated else last_negated
        bucket = (out.avoided if negated else out.wanted).setdefault(facet, [])
        if value not in bucket:
            bucket.append(value)
    for facet, group in [*_alternatives(msg, hits, domain), *_families(msg, domain, out)]:
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


def _families(msg: Clauses, domain: Domain, out: Understanding) -> list[tuple[str, list[str]]]:
    """ "the coen brothers", "the marx brothers": the people of a facet who share that family name,
    any one of them (wanted, or avoided after a negation)."""
    found = []
    for n, word in enumerate(msg.words[:-1]):
        if msg.words[n + 1] not in ("brothers", "sisters") or n == 0 or msg.words[n - 1] != "the":
            continue
        for spec in domain.facets:
            family = [v for v in spec.values if " " in v and v.lower().split()[-1] == word]
            if len(family) < 2:
                continue
            bucket = (out.avoided if msg.negated(n) else out.wanted).setdefault(spec.name, [])
            bucket += [v for v in family if v not in bucket]
            if not msg.negated(n):
                found.append((spec.name, family))
    return found


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
