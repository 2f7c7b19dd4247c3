"""Chat sessions: state across turns, critiques, and grounded reasons.

    session = Recommender.from_config().chat()
    reply = session.send("I loved Heat, something like it but older")
    reply.message, [(i.item.title, i.reason) for i in reply.items]
    reply = session.feedback(reply.items[2].item.id, liked=False)   # replaced in place

A session remembers the known history (a user of the log, or none) and that user's profile, the
items liked and disliked in the chat, the constraints (per facet of the catalog's
:class:`~recchat.conversation.domain.Domain` the values wanted and not, a year range, bounds on range fields,
series kept out, the user's wishes in their own words), and what was shown and rejected. Items
the user rejected, has seen, or kept out with their series never come back; positions in the
last list ("not the first one", "the third one looks good") are resolved against it.

A turn: understand the message (rules, merged with the LLM's structured extraction when it is
usable), update the state, retrieve under the constraints (Chroma text query from the wishes and
the profile, scorer candidates from the history and the liked items), rerank with the LLM (the
conversation, history and profile in the prompt) and blend, then explain: template reasons at
once, LLM reasons after (``send(explain=True)`` waits for them; a UI calls ``send(...,
explain=False)`` and streams ``explain(reply)``). ``Reply.timings`` has seconds per stage.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from recchat.conversation.explain import ExplainContext, llm_reasons, template_reasons
from recchat.conversation.link import Linker
from recchat.conversation.understand import Understanding, extract_with_llm, merge, understand
from recchat.privacy import acting_for, mask_pii, steps_acting_for
from recchat.types import Candidate, Ranking

# A message is read up to here: a 1 MB paste is cut (and the reply says so), not processed for minutes.
MAX_MESSAGE_CHARS = 2000


@dataclass
class ReplyItem:
    candidate: Candidate
    reason: str
    reason_source: str = "template"  # "template" or "llm"

    @property
    def item(self) -> Any:
        return self.candidate.item

    def to_dict(self) -> dict[str, Any]:
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

    def to_dict(self) -> dict[str, Any]:
        return {
            "message": self.message,
            "items": [i.to_dict() for i in self.items],
            "degraded": self.degraded,
            "notes": list(self.notes),
            "timings": dict(self.timings),
            "llm_understanding": self.understood.llm,
            "relaxed": list(self.relaxed),
        }


@dataclass
class SessionState:
    history: list[str] = field(default_factory=list)
    ratings: list[float | None] = field(default_factory=list)
    liked: list[str] = field(default_factory=list)
    disliked: list[str] = field(default_factory=list)
    wanted: dict[str, list[str]] = field(default_factory=dict)  # facet -> values asked for, oldest first
    # facet -> groups of wanted values any one of which will do ("history or biography"); a value
    # is in one group at most, and a wanted value in no group is required on its own.
    alternatives: dict[str, list[list[str]]] = field(default_factory=dict)
    avoided: dict[str, list[str]] = field(default_factory=dict)  # facet -> values kept out
    year_min: int | None = None  # on the domain's year field
    year_max: int | None = None
    ranges: dict[str, dict[str, float]] = field(default_factory=dict)  # range field -> {"$lt": 300, ...}
    avoided_series: list[str] = field(default_factory=list)  # Series.name; members are in rejected
    wishes: list[str] = field(default_factory=list)
    shown: list[str] = field(default_factory=list)
    rejected: set[str] = field(default_factory=set)  # rejected, already seen, or of a series kept out: never again
    named: set[str] = field(default_factory=set)  # named as a point in time ("older than X"): never suggested
    last: list[str] = field(default_factory=list)

    def wishes_of(self, facet: str) -> list[list[str]]:
        """What ``facet`` must satisfy, oldest first: each entry is one value, or a group of
        alternatives (placed where its latest value was asked for)."""
        groups = self.alternatives.get(facet, [])
        units: list[list[str]] = []
        for value in self.wanted.get(facet, []):
            group = next((g for g in groups if value in g), None)
            if group is None:
                units.append([value])
            elif value == [v for v in self.wanted[facet] if v in group][-1]:
                units.append(list(group))
        return units

    def required(self) -> dict[str, list[list[str]]]:
        """Per facet, the wishes the filter enforces: the two latest (requiring every value ever
        asked for empties the list)."""
        return {f: units[-2:] for f in self.wanted if (units := self.wishes_of(f))}

    def where(self, year: str | None) -> dict[str, Any] | None:
        """The Chroma filter of the constraints; ``year`` is the domain's year field. A group of
        alternatives is an ``$or`` of ``$contains``."""
        clauses: list[dict[str, Any]] = []
        for f, units in self.required().items():
            for unit in units:
                ors = [{f: {"$contains": v}} for v in unit]
                clauses.append(ors[0] if len(ors) == 1 else {"$or": ors})
        clauses += [{f: {"$not_contains": v}} for f, values in self.avoided.items() for v in values]
        if year and self.year_min is not None:
            clauses.append({year: {"$gte": self.year_min}})
        if year and self.year_max is not None:
            clauses.append({year: {"$lte": self.year_max}})
        clauses += [{name: {op: value}} for name, bounds in self.ranges.items() for op, value in bounds.items()]
        if not clauses:
            return None
        return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def _move(values: list[str], into: dict[str, list[str]], out_of: dict[str, list[str]], facet: str) -> None:
    """Values the user now wants (or avoids) leave the opposite list."""
    for v in values:
        if v in out_of.get(facet, []):
            out_of[facet].remove(v)
        if v not in into.setdefault(facet, []):
            into[facet].append(v)
    for side in (into, out_of):
        if not side.get(facet):
            side.pop(facet, None)


def _regroup(s: SessionState, facet: str, values: list[str], groups: list[list[str]]) -> None:
    """A message's alternatives join the state's (a new group takes its values out of older
    ones). A value said alone that was an alternative before is the user's choice among them
    ("history or biography", then "history"): the other alternatives are no longer wanted."""
    said_in_groups = {v for g in groups for v in g}
    kept = []
    for group in s.alternatives.get(facet, []):
        if any(v in group and v not in said_in_groups for v in values):
            s.wanted[facet] = [v for v in s.wanted.get(facet, []) if v in values or v not in group]
        else:
            kept.append([v for v in group if v not in said_in_groups])
    s.alternatives[facet] = kept + [list(g) for g in groups]


_UPPER = ("$lt", "$lte")
_SAY = {"$gt": "over", "$gte": "at least", "$lt": "under", "$lte": "up to"}


def _admits_some(bounds: dict[str, float]) -> bool:
    """Whether any value passes all of ``bounds``."""
    lows = [v for op, v in bounds.items() if op not in _UPPER]
    highs = [v for op, v in bounds.items() if op in _UPPER]
    if not lows or not highs:
        return True
    low, high = max(lows), min(highs)
    return low < high or (low == high and set(bounds) == {"$gte", "$lte"})


def _years_text(low: int | None, high: int | None) -> str:
    """Year bounds as the user would say them: "1990-1999", "from 1996", "before 1960", "from 1990 on"."""
    if low is not None and high is not None:
        return f"from {low}" if low == high else f"{low}-{high}"
    return f"before {high + 1}" if high is not None else f"from {low} on"


def _count(n: int, word: str, plural: str | None = None) -> str:
    """``n`` and the noun in its number: "1 pick", "3 picks"."""
    return f"{n} {word if n == 1 else plural or word + 's'}"


def _bounds_text(bounds: dict[str, float], unit: str) -> str:
    if set(bounds) == {"$gte", "$lte"}:
        return f"{bounds['$gte']}-{bounds['$lte']} {unit}"
    return " and ".join(f"{_SAY[op]} {value}" for op, value in bounds.items()) + f" {unit}"


class ChatSession:
    """One conversation with a :class:`~recchat.recommender.Recommender`.

    ``reranker`` and ``blend`` override the recommender's for this session (``reranker=NO_LLM``
    from recchat.rerank: the scorer alone). ``understand_with_llm`` and ``explain_with_llm`` switch the LLM's part in
    reading messages and writing reasons; both fall back to rules and templates on failure. By
    default (None) the LLM reads messages only where its decoding is schema-constrained (vLLM, a
    vLLM server): SmolLM2 on transformers wrote no usable JSON in our runs and cost 1-3 s a turn.
    The LLM writes the reasons of the top ``explain_top`` items (3; on 2 CPU cores ten cost about
    8 s with SmolLM2); the others keep their template reasons.
    """

    def __init__(
        self,
        recommender: Any,
        user_id: str | None = None,
        k: int = 10,
        *,
        reranker: Any = None,
        blend: Any = None,
        understand_with_llm: bool | None = None,
        explain_with_llm: bool = True,
        explain_top: int = 3,
    ):
        self.rec, self.k = recommender, k
        self.reranker = reranker or recommender.reranker
        self.blend = blend
        self.understand_with_llm, self.explain_with_llm = understand_with_llm, explain_with_llm
        self.explain_top = explain_top
        self.state = SessionState()
        self.user_id = user_id
        self.profile = None
        if user_id is not None:
            self.state.history, self.state.ratings = recommender.history_of(user_id)
            self.profile = recommender.profile(user_id)
        self.domain = recommender.domain
        linker = getattr(recommender, "linker", None)
        self.resolver = linker if linker is not None else Linker(recommender.catalog, year_field=self.domain.year)
        self.turns: list[Reply] = []
        self.transcript: list[dict[str, str]] = []  # {"role": "user" | "assistant", "text"}; user text masked
        self.stats = {"turns": 0, "llm_understanding_unusable": 0, "llm_reasons": 0, "template_reasons": 0}

    @property
    def backend(self) -> Any:
        return getattr(self.reranker, "backend", None)

    # -- state updates ------------------------------------------------------------------

    def _at(self, positions: list[int]) -> list[str]:
        """Items of the last list at 1-based ``positions`` (-1: the last one)."""
        last = self.state.last
        indices = [p - 1 if p > 0 else p for p in positions]
        return [last[n] for n in indices if -len(last) <= n < len(last)]

    def _update(self, u: Understanding) -> None:
        """Fold one message into the state. Liked positions ("the third one looks good") join
        ``u.liked`` here, so the reply names them and later turns use them as history."""
        s = self.state
        u.liked += [i for i in self._at(u.liked_refs) if i not in u.liked]
        for name in u.seen_series:  # seen whole: every member is liked history, never shown again
            series = self.domain.series_named(name)
            u.liked += [i for i in (series.members if series else []) if i not in u.liked]
        s.liked += [i for i in u.liked if i not in s.liked]
        s.disliked += [i for i in u.disliked if i not in s.disliked]
        s.rejected |= set(u.disliked) | set(self._at(u.rejected_refs))
        s.named |= set(u.anchors)
        for name in u.avoided_series:
            if name not in s.avoided_series:
                s.avoided_series.append(name)
                s.rejected |= set(self.domain.series_named(name).members)
        for facet, values in u.wanted.items():
            _regroup(s, facet, values, u.alternatives.get(facet, []))
            _move(values, s.wanted, s.avoided, facet)
        for facet, values in u.avoided.items():
            _move(values, s.avoided, s.wanted, facet)
        groups = {
            f: [kept for g in gs if len(kept := [v for v in g if v in s.wanted.get(f, [])]) >= 2]
            for f, gs in s.alternatives.items()
        }
        s.alternatives = {f: gs for f, gs in groups.items() if gs}
        if u.year_min is not None:
            s.year_min = u.year_min
        if u.year_max is not None:
            s.year_max = u.year_max
        if s.year_min is not None and s.year_max is not None and s.year_min > s.year_max:
            # "From 1996", later "older than X": the new bound wins over the one it contradicts.
            s.year_min, s.year_max = u.year_min, u.year_max
        for name, bounds in u.ranges.items():
            # A new bound replaces the old one on its side: "under 300 pages", then "over 100" keeps both;
            # "over 500" after "under 300" would admit nothing, so it replaces both.
            sides = {op in _UPPER for op in bounds}
            merged = {**{op: v for op, v in s.ranges.get(name, {}).items() if (op in _UPPER) not in sides}, **bounds}
            s.ranges[name] = merged if _admits_some(merged) else dict(bounds)
        if ("older" in u.critiques or "newer" in u.critiques) and self.domain.year:
            self._shift_years(u)
        if u.wish and not (u.critiques and len(u.wish.split()) <= 5):
            s.wishes.append(u.wish)

    def _shift_years(self, u: Understanding) -> None:
        """Move the year bounds older or newer than the items the message points at (by default
        the first shown), or than the liked ones; a year the message gives itself wins."""
        s = self.state
        pivot = self._at(u.liked_refs + u.rejected_refs or [1]) or s.liked
        years = [self.rec.catalog[i].fields.get(self.domain.year) for i in pivot]
        years = [y for y in years if y]
        if "older" in u.critiques and years and u.year_max is None:
            s.year_max = int(np.median(years)) - 1
            s.year_min = None if s.year_min is not None and s.year_min > s.year_max else s.year_min
        if "newer" in u.critiques and years and u.year_min is None:
            s.year_min = int(np.median(years)) + 1
            s.year_max = None if s.year_max is not None and s.year_max < s.year_min else s.year_max

    # -- a turn -------------------------------------------------------------------------

    def understand(self, text: str) -> Understanding:
        """Rules, plus the LLM's structured extraction when it is on and usable."""
        rules = understand(text, self.resolver, self.domain)
        wanted = self.understand_with_llm
        if wanted is None:
            wanted = bool(getattr(self.backend, "structured_outputs", False))
        if not (wanted and self.backend is not None):
            return rules
        try:
            extracted = extract_with_llm(self.backend, text, self.resolver, self.domain)
        except Exception as exc:  # an unusable answer or a failing LLM: the rules stand alone
            self.stats["llm_understanding_unusable"] += 1
            rules.llm = f"unusable: {type(exc).__name__}: {exc}"
            return rules
        return merge(rules, extracted, text)

    def send(self, text: str, *, explain: bool = True) -> Reply:
        """One turn. With ``explain=False`` the reasons are the template ones; stream the LLM's
        with :meth:`explain`. The message is cut at ``MAX_MESSAGE_CHARS`` (the reply notes it)
        and its personal data masked (recchat.privacy) before anything reads or keeps it: the
        wishes, the transcript and every prompt see only the masked text."""
        started = time.perf_counter()
        length = len(text)
        text = mask_pii(text, MAX_MESSAGE_CHARS).text
        with acting_for(self.user_id):
            u = self.understand(text)
            understood = time.perf_counter()
            self._update(u)
            ranking, relaxed = self._rank_or_relax()
        reply = self._reply(u, ranking, relaxed)
        if length > MAX_MESSAGE_CHARS:
            reply.notes.insert(0, f"Your message was {length:,} characters; I read the first {MAX_MESSAGE_CHARS:,}.")
        reply.timings = {
            "understand": understood - started,
            **ranking.timings,
            "reasons": time.perf_counter() - understood - sum(ranking.timings.values()),
        }
        self.turns.append(reply)
        self.transcript += [{"role": "user", "text": text}, {"role": "assistant", "text": reply.message}]
        self.stats["turns"] += 1
        if explain:
            for _ in self.explain(reply):
                pass
        return reply

    def _history(self) -> list[str]:
        s = self.state
        return [h for h in s.history if h not in s.disliked] + [i for i in s.liked if i not in s.history]

    def _rank(
        self, extra_exclude: list[str] | None = None, k: int | None = None, state: SessionState | None = None
    ) -> Ranking:
        """The ranking under ``state``'s constraints (the session's own by default)."""
        s = state or self.state
        history = self._history()
        query = " ".join(s.wishes[-3:]) or None
        exclude = sorted(s.rejected | s.named | set(s.liked) | set(s.history) | set(extra_exclude or []))
        where = s.where(self.domain.year)
        if not (history or query or where):
            return self._popular_start(exclude)
        return self.rec.recommend(
            history,
            k=k or self.k,
            filters=where,
            query=query,
            exclude=exclude,
            profile=self.profile,
            reranker=self.reranker,
            blend=self.blend,
        )

    def _rank_or_relax(self) -> tuple[Ranking, list[str]]:
        """The ranking, and when the constraints leave nothing, the closest picks: constraints
        are dropped one at a time (cumulatively) until something is found, in the order of
        :meth:`_loosenings`; returns the ranking and the dropped constraints in words. The
        session keeps its constraints: the next message is read against them all again."""
        ranking = self._rank()
        if ranking.candidates:
            return ranking, []
        dropped: list[str] = []
        for said, looser in self._loosenings():
            dropped.append(said)
            relaxed = self._rank(state=looser)
            if relaxed.candidates:
                relaxed.timings = {
                    key: ranking.timings.get(key, 0.0) + relaxed.timings.get(key, 0.0)
                    for key in {*ranking.timings, *relaxed.timings}
                }
                return relaxed, dropped
        return ranking, []

    def _loosenings(self) -> Iterator[tuple[str, SessionState]]:
        """Ever looser copies of the state, each with the constraint it dropped, in words. The
        order: bounds on range fields (oldest first), then the year bounds, then the wanted
        values the filter enforces, oldest first (facet by facet, in the order they were first
        asked for). Never dropped: what the user excluded (rejected items, series kept out,
        avoided values), nor the items named as points in time."""
        s, d = copy.deepcopy(self.state), self.domain
        s.wanted = {f: [v for unit in units for v in unit] for f, units in s.required().items()}
        for name in list(s.ranges):
            bounds = s.ranges.pop(name)
            yield _bounds_text(bounds, d.range(name).unit_word if d.range(name) else name), s
        if d.year and (s.year_min is not None or s.year_max is not None):
            said = _years_text(s.year_min, s.year_max)
            s.year_min = s.year_max = None
            yield said, s
        for facet, units in list(s.required().items()):
            for unit in units:
                s.wanted[facet] = [v for v in s.wanted[facet] if v not in unit]
                if not s.wanted[facet]:
                    del s.wanted[facet]
                yield " or ".join(d.in_text(facet, unit)), s

    def _popular_start(self, exclude: list[str]) -> Ranking:
        started = time.perf_counter()
        cands = self.rec.candidates([], query=self.domain.cold_start_query, exclude=exclude)
        ranking = self.rec.rerank([], cands[: self.rec.pool], reranker=self.reranker, blend=self.blend)
        ranking.candidates = ranking.candidates[: self.k]
        ranking.timings = {"retrieve": time.perf_counter() - started}
        return ranking

    def _context(self) -> ExplainContext:
        s = self.state
        # What the user turned away (rejected, seen, a series kept out) a reason must never name;
        # a whole series they said they had seen is liked, not excluded.
        excluded = sorted(i for i in s.rejected | set(s.disliked) if i not in s.liked)
        series = [self.domain.series_named(n) for n in s.avoided_series]
        return ExplainContext(
            liked=list(s.liked),
            history=list(s.history),
            wanted=s.wanted,
            year_min=s.year_min,
            year_max=s.year_max,
            ranges=s.ranges,
            query=" ".join(s.wishes[-3:]),
            profile=self.profile.prompt_text() if self.profile else "",
            domain=self.domain,
            excluded=excluded,
            excluded_names=[x.label for x in series if x is not None],
            avoided={f: list(vs) for f, vs in s.avoided.items()},
        )

    def _reply(self, u: Understanding, ranking: Ranking, relaxed: list[str] | None = None) -> Reply:
        reasons = template_reasons(
            self.rec.catalog,
            ranking.candidates,
            self._context(),
            self.rec.text_vector,
            getattr(self.rec, "co_likes", None),
        )
        items = [ReplyItem(c, r) for c, r in zip(ranking.candidates, reasons)]
        self.state.last = [i.item.id for i in items]
        self.state.shown += [i for i in self.state.last if i not in self.state.shown]
        notes = []
        if u.llm.startswith("unusable"):
            notes.append("The language model's reading of your message was unusable; I went by the rules alone.")
        relaxed = list(relaxed or [])
        took = "".join(f"I took '{text}' as {self.rec.catalog[item_id].title}. " for text, item_id in u.took)
        return Reply(took + self._message(u, items, ranking, relaxed), items, ranking, u, notes, relaxed=relaxed)

    def explain(self, reply: Reply, only: list[int] | None = None) -> Iterator[int]:
        """Replace template reasons by the LLM's, yielding each position as it changes."""
        if not (self.explain_with_llm and self.backend is not None and reply.items):
            return
        started = time.perf_counter()
        positions = only if only is not None else list(range(min(len(reply.items), self.explain_top)))
        cands = [reply.items[n].candidate for n in positions]
        failed = 0
        stream = llm_reasons(
            self.backend,
            self.rec.catalog,
            cands,
            self._context(),
            vectors=self.rec.text_vector,
            co_likes=getattr(self.rec, "co_likes", None),
            reply=[i.candidate for i in reply.items],
        )
        for j, reason, problem in steps_acting_for(self.user_id, stream):
            n = positions[j]
            if reason:
                reply.items[n].reason, reply.items[n].reason_source = reason, "llm"
                self.stats["llm_reasons"] += 1
                yield n
            else:
                self.stats["template_reasons"] += 1
                failed += 1
                if problem and not problem.startswith("unusable answer"):
                    reply.notes.append(f"Explanations fell back to templates: the LLM failed ({problem}).")
        if failed:
            reply.notes.append(
                f"{failed} of {_count(len(cands), 'reason')} {'is' if failed == 1 else 'are'} from "
                "templates (the LLM's answer was unusable or it failed)."
            )
        reply.timings["explain"] = reply.timings.get("explain", 0.0) + time.perf_counter() - started

    def feedback(self, item_id: str, liked: bool, *, explain: bool = True) -> Reply:
        """A like or dislike on a shown item. A liked item joins the liked list (later turns use
        it); a disliked one is rejected for good and replaced in place by the next best item."""
        if item_id not in self.rec.catalog:
            raise KeyError(f"item '{item_id}' is not in the catalog")
        s, last = self.state, self.turns[-1] if self.turns else None
        title = self.rec.catalog[item_id].title
        u = Understanding(liked=[item_id] if liked else [], disliked=[] if liked else [item_id], wish="")
        self._update(u)
        if last is None:
            return self.send(f"I {'liked' if liked else 'did not like'} {title}", explain=explain)
        items = list(last.items)
        if liked:
            reply = Reply(
                f"Noted: you like {title}. I will use it from your next message on.",
                items,
                last.ranking,
                u,
                list(last.notes),
                {},
            )
        else:
            started = time.perf_counter()
            keep = [i for i in items if i.item.id != item_id]
            with acting_for(self.user_id):
                ranking = self._rank(extra_exclude=[i.item.id for i in keep], k=1)
            fresh = self._reply(u, ranking).items[:1] if ranking.candidates else []
            position = next((n for n, i in enumerate(items) if i.item.id == item_id), len(keep))
            items = keep[:position] + fresh + keep[position:]
            message = f"Noted: not {title}. " + (
                f"In its place: {fresh[0].item.title}." if fresh else "Nothing else fits the constraints."
            )
            if ranking.degraded and ranking.notes:
                message += " " + ranking.notes[0]
            reply = Reply(message, items, ranking, u, [], {"replace": time.perf_counter() - started})
            s.last = [i.item.id for i in items]
            if fresh and explain:
                for _ in self.explain(reply, only=[position]):
                    pass
        self.turns.append(reply)
        self.transcript += [
            {"role": "user", "text": f"{'Like' if liked else 'Not for me'}: {title}"},
            {"role": "assistant", "text": reply.message},
        ]
        return reply

    def _message(
        self, u: Understanding, items: list[ReplyItem], ranking: Ranking, relaxed: list[str] | None = None
    ) -> str:
        s, d = self.state, self.domain
        if not items:
            loosen = [*dict.fromkeys([*s.wanted, *s.avoided]), *s.ranges]
            loosen += ["years"] if (s.year_min, s.year_max) != (None, None) else []
            return "I found nothing that fits all of that. Try loosening a constraint" + (
                f" ({', '.join(loosen)})." if loosen else "."
            )
        bits = []
        whole = [d.series_named(n) for n in u.seen_series]
        whole = [series for series in whole if series is not None]
        in_whole = {m for series in whole for m in series.members}
        if whole:
            bits.append("noted that you have seen all the " + ", ".join(f"{x.label} {d.items}" for x in whole))
        liked = [i for i in u.liked if i not in in_whole]
        if liked:
            bits.append("noted that you like " + ", ".join(self.rec.catalog[i].title for i in liked))
        away = [self.rec.catalog[i].title for i in u.disliked]
        away += [f"the {d.series_named(n).label} {d.items}" for n in u.avoided_series]
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
        constraints += [_bounds_text(bounds, d.range(name).unit_word) for name, bounds in s.ranges.items()]
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
            f"Here {'is' if len(items) == 1 else 'are'} {_count(len(items), 'pick')}"
            + (f" ({', '.join(constraints)})" if constraints else "")
            + "."
        )
        if ranking.degraded and ranking.notes:
            body += " " + ranking.notes[0]
        return head + body
