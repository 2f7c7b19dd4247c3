"""A chat reply: the items with their reasons, and the message that goes with them.

:class:`Reply` is what :meth:`~recchat.conversation.chat.ChatSession.send` returns;
:func:`reply_message` writes its text from the session's state.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from recchat.conversation.constraints import Understanding
from recchat.conversation.domain import Domain
from recchat.conversation.session_state import SessionState, bounds_text
from recchat.data.catalog import Catalog
from recchat.types import Candidate, Item, Ranking


@dataclass
class ReplyItem:
    candidate: Candidate
    reason: str
    reason_source: str = "template"  # "template" or "llm"

    @property
    def item(self) -> Item:
        return self.candidate.item

    def to_dict(self) -> dict[str, object]:
        return {**self.candidate.to_dict(), "reason": self.reason, "reason_source": self.reason_source}


@dataclass
class Reply:
    message: str
    items: list[ReplyItem]
    ranking: Ranking
    understood: Understanding
    notes: list[str] = field(default_factory=list)  # what degraded, in words for the user
    timings: dict[str, float] = field(default_factory=dict)
    # The constraints dropped, in words, when all of them together left nothing ("before 1960"):
    # the items are the closest picks without them, and the message says so.
    relaxed: list[str] = field(default_factory=list)

    @property
    def degraded(self) -> bool:
        return self.ranking.degraded

    def to_dict(self) -> dict[str, object]:
        return {
            "message": self.message,
            "items": [i.to_dict() for i in self.items],
            "degraded": self.degraded,
            "notes": list(self.notes),
            "timings": dict(self.timings),
            "llm_understanding": self.understood.llm,
            "relaxed": list(self.relaxed),
        }


def count_noun(n: int, word: str, plural: str | None = None) -> str:
    """``n`` and the noun in its number: "1 pick", "3 picks"."""
    return f"{n} {word if n == 1 else plural or word + 's'}"


def reply_message(
    s: SessionState,
    d: Domain,
    catalog: Catalog,
    u: Understanding,
    items: list[ReplyItem],
    ranking: Ranking,
    relaxed: list[str] | None = None,
) -> str:
    """The reply's text: what was noted of the message (likes, items and series kept away), then
    the picks with the constraints they meet, or what was dropped to find any, or that nothing fits."""
    if not items:
        loosen = [*dict.fromkeys([*s.wanted, *s.avoided]), *s.ranges]
        loosen += ["years"] if (s.year_min, s.year_max) != (None, None) else []
        return "I found nothing that fits all of that. Try loosening a constraint" + (
            f" ({', '.join(loosen)})." if loosen else "."
        )
    bits = []
    named = [d.series_named(n) for n in u.seen_series]
    whole = [series for series in named if series is not None]
    in_whole = {m for series in whole for m in series.members}
    if whole:
        bits.append("noted that you have seen all the " + ", ".join(f"{x.label} {d.items}" for x in whole))
    liked = [i for i in u.liked if i not in in_whole]
    if liked:
        bits.append("noted that you like " + ", ".join(catalog[i].title for i in liked))
    away = [catalog[i].title for i in u.disliked]
    away += [f"the {x.label} {d.items}" for n in u.avoided_series if (x := d.series_named(n)) is not None]
    if away:
        bits.append("I will keep away from " + ", ".join(away))
    if "reject" in u.critiques or "seen" in u.critiques:
        bits.append("I won't suggest that again")
    constraints = [" and ".join(" or ".join(unit) for unit in units) for units in s.required().values()]
    constraints += ["no " + ", ".join(d.in_text(f, values)) for f, values in s.avoided.items()]
    lo, hi = s.year_min, s.year_max
    if lo is not None and hi is not None:
        constraints.append(f"{lo}-{hi}")
    elif hi is not None:
        constraints.append(f"up to {hi}")
    elif lo is not None:
        constraints.append(f"from {lo} on")
    constraints += [bounds_text(bounds, d.unit_of(name)) for name, bounds in s.ranges.items()]
    if relaxed:
        said = " and ".join(f"'{r}'" for r in relaxed)
        closest = "is the closest pick" if len(items) == 1 else f"are the {len(items)} closest picks"
        head = ("OK, " + "; ".join(bits) + ". ") if bits else ""
        body = f"Nothing fits all of that; I dropped {said}. Here {closest}."
        if ranking.degraded and ranking.notes:
            body += " " + ranking.notes[0]
        return head + body
    head = ("OK, " + "; ".join(bits) + ". ") if bits else ""
    body = (
        f"Here {'is' if len(items) == 1 else 'are'} {count_noun(len(items), 'pick')}"
        + (f" ({', '.join(constraints)})" if constraints else "")
        + "."
    )
    if ranking.degraded and ranking.notes:
        body += " " + ranking.notes[0]
    return head + body
