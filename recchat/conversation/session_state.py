"""A chat session's state across turns, and how one message changes it.

:class:`SessionState` holds the items liked and disliked in the chat, the constraints (per facet
the values wanted and not, with groups of alternatives; a year range; bounds on range fields;
series kept out; the user's wishes in their own words) and what was shown and rejected.
:meth:`SessionState.fold` folds one message's :class:`~recchat.conversation.constraints.Understanding`
in, :meth:`SessionState.where` is the constraints as a Chroma filter, and
:meth:`SessionState.loosenings` drops them one at a time when together they leave nothing.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from recchat.conversation.constraints import Understanding
from recchat.conversation.domain import Domain
from recchat.data.catalog import Catalog

_UPPER = ("$lt", "$lte")
_SAY = {"$gt": "over", "$gte": "at least", "$lt": "under", "$lte": "up to"}


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

    def where(self, year: str | None) -> dict[str, object] | None:
        """The Chroma filter of the constraints; ``year`` is the domain's year field. A group of
        alternatives is an ``$or`` of ``$contains``."""
        clauses: list[dict[str, object]] = []
        for f, units in self.required().items():
            for unit in units:
                ors: list[dict[str, object]] = [{f: {"$contains": v}} for v in unit]
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

    def at(self, positions: list[int]) -> list[str]:
        """Items of the last list at 1-based ``positions`` (-1: the last one)."""
        last = self.last
        indices = [p - 1 if p > 0 else p for p in positions]
        return [last[n] for n in indices if -len(last) <= n < len(last)]

    def fold(self, u: Understanding, domain: Domain, catalog: Catalog) -> None:
        """Fold one message into the state. Liked positions ("the third one looks good") join
        ``u.liked`` here, so the reply names them and later turns use them as history."""
        s = self
        u.liked += [i for i in self.at(u.liked_refs) if i not in u.liked]
        for name in u.seen_series:  # seen whole: every member is liked history, never shown again
            series = domain.series_named(name)
            u.liked += [i for i in (series.members if series else []) if i not in u.liked]
        s.liked += [i for i in u.liked if i not in s.liked]
        s.disliked += [i for i in u.disliked if i not in s.disliked]
        s.rejected |= set(u.disliked) | set(self.at(u.rejected_refs))
        s.named |= set(u.anchors)
        for name in u.avoided_series:
            if name not in s.avoided_series:
                s.avoided_series.append(name)
                series = domain.series_named(name)
                s.rejected |= set(series.members if series else [])
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
        if ("older" in u.critiques or "newer" in u.critiques) and domain.year:
            self._shift_years(u, domain, catalog)
        if u.wish and not (u.critiques and len(u.wish.split()) <= 5):
            s.wishes.append(u.wish)

    def _shift_years(self, u: Understanding, domain: Domain, catalog: Catalog) -> None:
        """Move the year bounds older or newer than the items the message points at (by default
        the first shown), or than the liked ones; a year the message gives itself wins."""
        s = self
        pivot = self.at(u.liked_refs + u.rejected_refs or [1]) or s.liked
        values = [catalog[i].fields.get(domain.year) for i in pivot] if domain.year else []
        years = [y for y in values if y and isinstance(y, (int, float))]
        if "older" in u.critiques and years and u.year_max is None:
            s.year_max = int(np.median(years)) - 1
            s.year_min = None if s.year_min is not None and s.year_min > s.year_max else s.year_min
        if "newer" in u.critiques and years and u.year_min is None:
            s.year_min = int(np.median(years)) + 1
            s.year_max = None if s.year_max is not None and s.year_max < s.year_min else s.year_max

    def loosenings(self, domain: Domain) -> Iterator[tuple[str, SessionState]]:
        """Ever looser copies of the state, each with the constraint it dropped, in words. The
        order: bounds on range fields (oldest first), then the year bounds, then the wanted
        values the filter enforces, oldest first (facet by facet, in the order they were first
        asked for). Never dropped: what the user excluded (rejected items, series kept out,
        avoided values), nor the items named as points in time."""
        s, d = copy.deepcopy(self), domain
        s.wanted = {f: [v for unit in units for v in unit] for f, units in s.required().items()}
        for name in list(s.ranges):
            bounds = s.ranges.pop(name)
            yield bounds_text(bounds, d.unit_of(name)), s
        if d.year and (s.year_min is not None or s.year_max is not None):
            said = years_text(s.year_min, s.year_max)
            s.year_min = s.year_max = None
            yield said, s
        for facet, units in list(s.required().items()):
            for unit in units:
                s.wanted[facet] = [v for v in s.wanted[facet] if v not in unit]
                if not s.wanted[facet]:
                    del s.wanted[facet]
                yield " or ".join(d.in_text(facet, unit)), s


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


def _admits_some(bounds: dict[str, float]) -> bool:
    """Whether any value passes all of ``bounds``."""
    lows = [v for op, v in bounds.items() if op not in _UPPER]
    highs = [v for op, v in bounds.items() if op in _UPPER]
    if not lows or not highs:
        return True
    low, high = max(lows), min(highs)
    return low < high or (low == high and set(bounds) == {"$gte", "$lte"})


def years_text(low: int | None, high: int | None) -> str:
    """Year bounds as the user would say them: "1990-1999", "from 1996", "before 1960", "from 1990 on"."""
    if low is not None and high is not None:
        return f"from {low}" if low == high else f"{low}-{high}"
    return f"before {high + 1}" if high is not None else f"from {low} on"


def bounds_text(bounds: dict[str, float], unit: str) -> str:
    if set(bounds) == {"$gte", "$lte"}:
        return f"{bounds['$gte']}-{bounds['$lte']} {unit}"
    return " and ".join(f"{_SAY[op]} {value}" for op, value in bounds.items()) + f" {unit}"
