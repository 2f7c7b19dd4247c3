"""A message as the title linker reads it, and what the linker finds in it.

:class:`Link` is one item a message names; :class:`LinkContext` holds the message's words (typos
corrected to title words), the years written after them and how capitalised it is. The readers
here look at the text alone: a year dating a title (:func:`year_dated`, :func:`years_near`), how much
of a message is capitalised (:func:`capital_share`) and whether words are written as a title
(:func:`written_as_title`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from recchat.conversation.aliases import Alias, Word

_DATED = re.compile(
    r"\s*(?:\(\s*((?:19|20)\d\d)\s*\)|((?:19|20)\d\d)\b(?!\s*(?:on|onwards|and|or|-|to)\b)|"
    r",?\s*the\s+(?:[\w'-]+\s+){0,3}(?:one|version|film|movie)\s+(?:from|of)\s+((?:19|20)\d\d)\b|"
    r"\s*from\s+(?:19)?'?([2-9]\d)\b(?!\s*(?:%|minutes|mins|min|hours|years|year|pages|on|onwards)\b))"
)
# "the 98 one", "from '78": a year of the 1920s-1990s written with two digits
_SHORT_YEAR = re.compile(r"'?([2-9]\d)")


def _year(text: str) -> int:
    return 1900 + int(text) if len(text) == 2 else int(text)


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
class LinkContext:
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


def year_dated(message: str, end: int) -> int | None:
    """The year a user dates a title with, written right after it: "(2019)", "2019", ", the
    korean one from 2019"."""
    m = _DATED.match(message[end:])
    return _year(next(g for g in m.groups() if g)) if m else None


_ORIGINAL = re.compile(r"\b(?:original|the old one|the older one|not the remake)\b")


def says_original(text: str) -> bool:
    """Whether ``text`` asks for the first of a title's name ("the original", "the old one", "not
    the remake"), and not against it ("not the old one")."""
    return any(not re.search(r"\bnot (?:the )?$", text[: m.start()]) for m in _ORIGINAL.finditer(text))


def years_near(message: str, ws: list[Word]) -> dict[int, int]:
    """Word index where a title may end -> the year written right after it: "Titanic
    (1997)", "titanic 1997", "titanic, the 1997 one", "titanic from 1997"."""
    out: dict[int, int] = {}
    for n, w in enumerate(ws):
        if re.fullmatch(r"(1[89]\d\d|20\d\d)", w.text):
            out.setdefault(n, int(w.text))
            if n >= 1 and ws[n - 1].text in ("the", "from", "in", "of"):
                out.setdefault(n - 1, int(w.text))
        # two digits only where nothing else reads them: "from 78", "the 98 one"
        elif _SHORT_YEAR.fullmatch(w.text) and n >= 1 and ws[n - 1].text in ("the", "from"):
            nxt = ws[n + 1].text if n + 1 < len(ws) else ""
            if ws[n - 1].text == "from" and nxt not in _NOT_YEAR or nxt in ("one", "version"):
                out.setdefault(n - 1, _year(w.text))
    return out


_NOT_YEAR = frozenset("minutes mins min hours years year pages percent times on onwards".split())


def capital_share(message: str, ws: list[Word]) -> float:
    """The share of capitalised words that start no sentence and are not "I": near 1 in a
    message Written Like This or in capitals, where capitals say nothing about titles."""
    alpha = [
        message[w.start]
        for n, w in enumerate(ws)
        if message[w.start].isalpha() and w.text != "i" and n > 0 and message[: w.start].rstrip()[-1:] not in ".!?"
    ]
    return sum(c.isupper() for c in alpha) / len(alpha) if len(alpha) >= 4 else 0.0


def written_as_title(message: str, ws: list[Word], start: int, size: int, capitals: float) -> bool:
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
