"""What a message points at: the items it names, the series it keeps out or has seen whole, and
positions in the last list.

A named item is liked, disliked (a negation before it), or a point in time ("older than X": the
year bounds come from its year). A negated series name keeps every member out ("nothing from Star
Trek"); "I've seen all the X movies" makes every member liked. Critiques and references to the last
list: "not that one", "I've seen it", "the third one looks good", "more like number 2".
"""

from __future__ import annotations

import re

from recchat.conversation.clauses import Clauses
from recchat.conversation.constraints import Understanding
from recchat.conversation.domain import Domain
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


def read_series(msg: Clauses, domain: Domain, resolver: Linker) -> list[tuple[str, set[int]]]:
    """(series name, word positions) for series the message keeps out: a negated series name
    that is no member's own title ("nothing from Star Trek"), or that says it means them all
    ("no more Die Hard movies"); "not Alien" stays one title. Series seen whole ("I've seen all
    the Godfather movies") are :func:`read_seen_series`'s."""
    longest = max((len(s.name.split()) for s in domain.series), default=0)
    out: list[tuple[str, set[int]]] = []
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


def read_seen_series(msg: Clauses, domain: Domain, out: Understanding) -> set[int]:
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


def read_references(msg: Clauses, domain: Domain, titled: set[int], out: Understanding) -> None:
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


def read_titles(
    msg: Clauses,
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
