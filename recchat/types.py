"""The plain values that flow between recchat's stages.

Every stage takes and returns these, so a stage can be swapped (another retriever, another LLM
backend) without the others noticing. They hold data only; the behaviour lives in the stages.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# A metadata value as Chroma stores it and as filters see it.
FieldValue = str | int | float | bool | list[str]


@dataclass(frozen=True)
class Item:
    """One catalog entry.

    ``text`` is what the embedder and the LLM prompts see, rendered from the item's fields by the
    catalog's text template. ``fields`` are typed (a year is an ``int``, genres a ``list[str]``)
    so that they can be stored as filterable metadata.
    """

    id: str
    title: str
    text: str
    fields: dict[str, FieldValue] = field(default_factory=dict)


@dataclass(frozen=True)
class Interaction:
    """One user-item event: a rating, a view, a purchase. ``rating`` and ``timestamp`` are optional."""

    user: str
    item: str
    rating: float | None = None
    timestamp: float | None = None


@dataclass
class Candidate:
    """An item proposed for ranking, with the score of the stage that proposed it.

    ``scores`` keeps each stage's score by name ("text", "scorer", "llm", ...), so that a later
    stage can blend them and an explanation can say where a candidate came from.
    """

    item: Item
    score: float
    source: str
    scores: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.item.id,
            "title": self.item.title,
            "score": self.score,
            "source": self.source,
            "scores": dict(self.scores),
            "fields": dict(self.item.fields),
        }
