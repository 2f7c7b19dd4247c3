"""Chat sessions: state across turns, critiques, and grounded reasons.

    session = Recommender.from_config().chat()
    reply = session.send("I loved Heat, something like it but older")
    reply.message, [(i.item.title, i.reason) for i in reply.items]

A session remembers the known history (a MovieLens user, or none), the items liked and disliked
in the chat, the constraints (genres wanted and not, a year range, the user's wishes in their own
words), and what was shown and rejected. Items the user rejected or has seen never come back.
Each turn reads the message by rules (recchat.understand), updates the state, asks the
recommender for candidates under the constraints, and gives each item a reason grounded in what
the user said or liked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from recchat.types import Candidate, Ranking
from recchat.understand import TitleResolver, Understanding, understand


@dataclass
class ReplyItem:
    candidate: Candidate
    reason: str

    @property
    def item(self) -> Any:
        return self.candidate.item

    def to_dict(self) -> dict[str, Any]:
        return {**self.candidate.to_dict(), "reason": self.reason}


@dataclass
class Reply:
    message: str
    items: list[ReplyItem]
    ranking: Ranking
    understood: Understanding

    @property
    def degraded(self) -> bool:
        return self.ranking.degraded


@dataclass
class SessionState:
    history: list[str] = field(default_factory=list)
    ratings: list[float | None] = field(default_factory=list)
    liked: list[str] = field(default_factory=list)
    disliked: list[str] = field(default_factory=list)
    genres: list[str] = field(default_factory=list)
    avoid_genres: list[str] = field(default_factory=list)
    year_min: int | None = None
    year_max: int | None = None
    wishes: list[str] = field(default_factory=list)
    shown: list[str] = field(default_factory=list)
    rejected: set[str] = field(default_factory=set)   # rejected or already seen: never again
    last: list[str] = field(default_factory=list)

    def where(self) -> dict[str, Any] | None:
        clauses: list[dict[str, Any]] = []
        clauses += [{"genres": {"$contains": g}} for g in self.genres[-2:]]
        clauses += [{"genres": {"$not_contains": g}} for g in self.avoid_genres]
        if self.year_min is not None:
            clauses.append({"year": {"$gte": self.year_min}})
        if self.year_max is not None:
            clauses.append({"year": {"$lte": self.year_max}})
        if not clauses:
            return None
        return clauses[0] if len(clauses) == 1 else {"$and": clauses}


class ChatSession:
    """One conversation with a :class:`~recchat.recommender.Recommender`."""

    def __init__(self, recommender: Any, user_id: str | None = None, k: int = 10):
        self.rec, self.k = recommender, k
        self.state = SessionState()
        if user_id is not None:
            self.state.history, self.state.ratings = recommender.history_of(user_id)
        self.resolver = TitleResolver(recommender.catalog)
        self.genre_vocabulary = sorted({g for item in recommender.catalog for g in item.fields.get("genres", [])})
        self.turns: list[Reply] = []

    # -- state updates ------------------------------------------------------------------

    def _referred(self, u: Understanding) -> list[str]:
        """Items of the last list the message points at ("the second one"; by default the first)."""
        if not self.state.last:
            return []
        picks = u.refers_to or [1]
        return [self.state.last[p - 1 if p > 0 else p] for p in picks if -len(self.state.last) <= (p - 1 if p > 0 else p) < len(self.state.last)]

    def _update(self, u: Understanding) -> None:
        s = self.state
        s.liked += [i for i in u.liked if i not in s.liked]
        s.disliked += [i for i in u.disliked if i not in s.disliked]
        s.rejected |= set(u.disliked)
        for g in u.genres:
            if g in s.avoid_genres:
                s.avoid_genres.remove(g)
            if g not in s.genres:
                s.genres.append(g)
        for g in u.avoid_genres:
            if g in s.genres:
                s.genres.remove(g)
            if g not in s.avoid_genres:
                s.avoid_genres.append(g)
        if u.year_min is not None:
            s.year_min = u.year_min
        if u.year_max is not None:
            s.year_max = u.year_max
        referred = self._referred(u)
        if "reject" in u.critiques or "seen" in u.critiques:
            s.rejected |= set(referred)
        if "more_like" in u.critiques:
            s.liked += [i for i in referred if i not in s.liked]
        years = [self.rec.catalog[i].fields.get("year") for i in (referred or s.last or s.liked)]
        years = [y for y in years if y]
        if "older" in u.critiques and years and u.year_max is None:
            s.year_max = int(np.median(years)) - 1
            s.year_min = None if s.year_min is not None and s.year_min > s.year_max else s.year_min
        if "newer" in u.critiques and years and u.year_min is None:
            s.year_min = int(np.median(years)) + 1
            s.year_max = None if s.year_max is not None and s.year_max < s.year_min else s.year_max
        if u.wish and not (u.critiques and len(u.wish.split()) <= 5):
            s.wishes.append(u.wish)

    # -- a turn -------------------------------------------------------------------------

    def send(self, text: str) -> Reply:
        u = understand(text, self.resolver, self.genre_vocabulary)
        self._update(u)
        s = self.state
        history = [h for h in s.history if h not in s.disliked] + [i for i in s.liked if i not in s.history]
        query = " ".join(s.wishes[-3:]) or None
        exclude = sorted(s.rejected | set(s.liked) | set(s.history))
        ranking = self.rec.recommend(history, k=self.k, filters=s.where(), query=query, exclude=exclude) \
            if history or query or s.where() else self._popular_start()
        items = [ReplyItem(c, self._reason(c, u)) for c in ranking.candidates]
        s.last = [i.item.id for i in items]
        s.shown += [i for i in s.last if i not in s.shown]
        reply = Reply(self._message(u, items, ranking), items, ranking, u)
        self.turns.append(reply)
        return reply

    def _popular_start(self) -> Ranking:
        cands = self.rec.candidates([], query="popular acclaimed classic", exclude=sorted(self.state.rejected))
        return self.rec.rerank([], cands[: self.rec.pool])

    def _reason(self, c: Candidate, u: Understanding) -> str:
        """A one-line reason grounded in the session: a liked item it resembles, matched wishes."""
        s, item = self.state, c.item
        parts = []
        anchors = [i for i in s.liked + s.history[-20:] if self.rec.catalog[i].text]
        if anchors:
            vectors = self.rec.text_vector([*anchors, item.id]) if item.text else None
            if vectors is not None:
                sims = vectors[:-1] @ vectors[-1]
                best = anchors[int(np.argmax(sims))]
                parts.append(f"close to {self.rec.catalog[best].title}, which you "
                             f"{'liked' if best in s.liked else 'watched'}")
        wanted = [g for g in s.genres if g in item.fields.get("genres", [])]
        if wanted:
            parts.append(f"it is {' and '.join(wanted).lower()}")
        year = item.fields.get("year")
        if year and (s.year_min is not None or s.year_max is not None):
            parts.append(f"from {year}, in the years you asked for")
        if not parts:
            parts.append("a strong match for your history" if s.history or s.liked else "widely liked")
        text = "; ".join(parts)
        return text[0].upper() + text[1:] + "."

    def _message(self, u: Understanding, items: list[ReplyItem], ranking: Ranking) -> str:
        if not items:
            return "I found nothing that fits all of that. Try loosening a constraint (years or genres)."
        bits = []
        if u.liked:
            bits.append("noted that you like " + ", ".join(self.rec.catalog[i].title for i in u.liked))
        if u.disliked:
            bits.append("I will keep away from " + ", ".join(self.rec.catalog[i].title for i in u.disliked))
        if "reject" in u.critiques or "seen" in u.critiques:
            bits.append("I won't suggest that again")
        constraints = []
        if self.state.genres:
            constraints.append(" and ".join(self.state.genres))
        if self.state.avoid_genres:
            constraints.append("no " + ", ".join(self.state.avoid_genres).lower())
        if self.state.year_min or self.state.year_max:
            constraints.append(f"{self.state.year_min or '...'}-{self.state.year_max or '...'}")
        head = ("OK, " + "; ".join(bits) + ". ") if bits else ""
        body = f"Here are {len(items)} picks" + (f" ({', '.join(constraints)})" if constraints else "") + "."
        if ranking.degraded:
            body += " (The language model was unavailable, so these are ranked by the trained scorer alone.)"
        return head + body
