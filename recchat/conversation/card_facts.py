"""The facts a reason may state about a recommended item, and what the reasons may draw on.

:class:`ExplainContext` is what the user said, liked and excluded; :func:`card_facts` gives, per
card, the true facts a reason may state, most informative first: the liked (or history) item it
is closest to (MiniLM vectors from the Chroma index) and the facet values they share, an unusually
high share of that item's fans who also liked it, the wanted values it has, the years and ranges
asked for. A fact every card of the reply shares says little about any one card, so it ranks below
one that sets the card apart. Both writers of reasons (:mod:`~recchat.conversation.template_reasons`,
:mod:`~recchat.conversation.llm_reasons`) state these facts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from recchat.conversation.domain import Domain
from recchat.data.catalog import Catalog
from recchat.types import Candidate

if TYPE_CHECKING:
    from recchat.conversation.protocols import CoLikes, Vectors


@dataclass
class ExplainContext:
    """What the reasons may draw on, and what they must never name."""

    liked: list[str] = field(default_factory=list)  # item ids liked in the chat
    history: list[str] = field(default_factory=list)  # item ids of the user's log, oldest first
    wanted: dict[str, list[str]] = field(default_factory=dict)  # facet -> values asked for
    year_min: int | None = None
    year_max: int | None = None
    ranges: dict[str, dict[str, float]] = field(default_factory=dict)  # range field -> bounds asked for
    query: str = ""  # the user's wishes, in their words
    profile: str = ""
    domain: Domain = field(default_factory=Domain)  # the facets, year, item noun and verb
    excluded: list[str] = field(default_factory=list)  # item ids the user rejected or kept out
    excluded_names: list[str] = field(default_factory=list)  # series (and other names) kept out: "Star Wars"
    avoided: dict[str, list[str]] = field(default_factory=dict)  # facet -> values kept out ("no horror")


@dataclass
class Fact:
    """One true, checkable statement about a card."""

    kind: str  # "anchor", "colike", "asked", "years", "range"
    key: tuple[Any, ...]  # equal keys on two cards: the same fact
    slots: dict[str, str]  # the words the sentence forms fill in
    weight: float = 1.0  # how much the fact says about the card by its kind
    shared: dict[str, list[str]] = field(default_factory=dict)  # an anchor's facet values the card shares

    @property
    def anchor(self) -> str | None:
        return self.key[1] if self.kind in ("anchor", "colike") else None


# How telling a fact is by its kind: a liked item the card resembles is personal; a share of that
# item's fans, a wanted value, then years and ranges the filter guarantees anyway.
_WEIGHT = {"anchor": 3.0, "colike": 2.5, "asked": 2.0, "years": 1.0, "range": 1.0}


_COMPARE = {"$lt": float.__lt__, "$lte": float.__le__, "$gt": float.__gt__, "$gte": float.__ge__}


def _within(value: float, bounds: dict[str, float]) -> bool:
    """Whether ``value`` meets a range's bounds ({"$lt": 120} and the like)."""
    return all(_COMPARE[op](float(value), float(b)) for op, b in bounds.items() if op in _COMPARE)


def join_and(words: Sequence[str]) -> str:
    words = list(words)
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def shared_clause(domain: Domain, shared: dict[str, list[str]], subject: str) -> str:
    """ "it is crime and thriller", "its authors include Ann Lee": values in words, for ``subject``."""
    primary = domain.primary.name if domain.primary else None
    owner = "its" if subject == "it" else subject + "'s"
    parts = [
        f"{subject} is {join_and(domain.in_text(f, vs))}"
        if f == primary
        else f"{owner} {f} include {join_and(domain.in_text(f, vs))}"
        for f, vs in shared.items()
        if vs
    ]
    return " and ".join(parts)


def _closest(anchors: list[str], sims: np.ndarray, several: bool) -> list[int]:
    """The anchor each card is closest to. When the user named several, never the same one on
    every card: the card nearest to a second anchor (smallest loss of similarity) takes it."""
    best = [int(np.argmax(row)) for row in sims]
    if several and len(best) > 1 and len(set(best)) == 1:
        only = best[0]
        masked = sims.copy()
        masked[:, only] = -np.inf
        second = masked.argmax(axis=1)
        loss = sims[np.arange(len(best)), only] - masked[np.arange(len(best)), second]
        card = int(np.argmin(loss))
        best[card] = int(second[card])
    return best


def card_facts(
    catalog: Catalog,
    candidates: Sequence[Candidate],
    ctx: ExplainContext,
    vectors: Vectors | None = None,
    co_likes: CoLikes | None = None,
) -> list[list[Fact]]:
    """Per card, the true facts a reason may state, most informative first (see the module doc).

    ``vectors(ids)`` returns unit text vectors (the Chroma index's) to find the liked or history
    item a card is closest to; ``co_likes(anchor, pick)`` -> (users who liked both, users who
    liked the anchor)."""
    domain = ctx.domain
    liked = [i for i in dict.fromkeys(ctx.liked) if i in catalog and catalog[i].text]
    anchors = [
        *liked,
        *(i for i in dict.fromkeys(ctx.history[-20:]) if i not in liked and i in catalog and catalog[i].text),
    ]
    closest: dict[str, str] = {}
    with_text = [c.item.id for c in candidates if c.item.text]
    if anchors and with_text and vectors is not None:
        matrix = np.asarray(vectors([*anchors, *with_text]))
        sims = matrix[len(anchors) :] @ matrix[: len(anchors)].T
        if liked:  # what the user liked in the chat speaks for them more than their log does
            sims[:, : len(liked)] += 0.05
        picks = _closest(anchors, sims, several=len(liked) >= 2 or (not liked and len(anchors) >= 2))
        closest = {item_id: anchors[a] for item_id, a in zip(with_text, picks)}
    facts: list[list[Fact]] = []
    shares: list[float] = []
    for c in candidates:
        found: list[Fact] = []
        values = domain.values_of(c.item)
        best = closest.get(c.item.id)
        if best:
            anchor = catalog[best]
            how = "liked" if best in ctx.liked else domain.verb
            theirs = domain.values_of(anchor)
            shared = {f: [v for v in vs if v in theirs[f]] for f, vs in values.items()}
            shared = {f: vs for f, vs in shared.items() if vs}
            found.append(
                Fact(
                    "anchor",
                    ("anchor", best),
                    {"anchor": anchor.title, "how": how},
                    _WEIGHT["anchor"] * (1.0 if shared else 0.6) * (1.0 if best in ctx.liked else 0.8),
                    shared,
                )
            )
            if co_likes is not None:
                both, fans = co_likes(best, c.item.id)
                if both and fans:
                    found.append(
                        Fact(
                            "colike",
                            ("colike", best),
                            {"anchor": anchor.title, "both": str(both), "fans": str(fans)},
                            _WEIGHT["colike"],
                        )
                    )
                    shares.append(both / fans)
        said = {v for f in found for vs in f.shared.values() for v in vs}
        for facet, asked in ctx.wanted.items():
            have = [v for v in asked if v in values.get(facet, [])]
            if have and not set(have) <= said:
                found.append(
                    Fact(
                        "asked",
                        ("asked", facet, tuple(have)),
                        {
                            "values": join_and(domain.in_text(facet, have)),
                            "clause": shared_clause(domain, {facet: have}, "it"),
                        },
                        _WEIGHT["asked"],
                    )
                )
        year = c.item.fields.get(domain.year) if domain.year else None
        # Only where the card is inside what was asked: a relaxed filter lets others through.
        if (
            isinstance(year, int)
            and (ctx.year_min is not None or ctx.year_max is not None)
            and (ctx.year_min is None or year >= ctx.year_min)
            and (ctx.year_max is None or year <= ctx.year_max)
        ):
            found.append(Fact("years", ("years", year), {"year": str(year)}, _WEIGHT["years"]))
        for name, bounds in ctx.ranges.items():
            value = c.item.fields.get(name)
            if isinstance(value, (int, float)) and _within(value, bounds):
                unit = domain.unit_of(name)
                found.append(
                    Fact("range", ("range", name, value), {"value": str(value), "unit": unit}, _WEIGHT["range"])
                )
        facts.append(found)
    # An unusually high share: well above the reply's usual one (the median), and not a handful.
    typical = float(np.median(shares)) if shares else 0.0
    for found in facts:
        found[:] = [
            f
            for f in found
            if f.kind != "colike"
            or (int(f.slots["both"]) >= 5 and int(f.slots["both"]) / int(f.slots["fans"]) >= 1.5 * typical > 0)
        ]
    counts: dict[tuple[Any, ...], int] = {}
    for found in facts:
        for f in found:
            counts[f.key] = counts.get(f.key, 0) + 1
    n = len(candidates)
    for found in facts:
        # A fact on every card tells the cards apart not at all; one on a single card most.
        found.sort(key=lambda f: -f.weight * (1.0 - 0.8 * (counts[f.key] - 1) / max(n - 1, 1)))
    return facts
