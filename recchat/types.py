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


@dataclass
class Invocation:
    """One LLM call, kept so that cost and failures can be inspected after the fact."""

    backend: str
    kind: str  # "label_logprobs" or "generate"
    prompts: int  # how many sequences the call scored or generated
    prompt_tokens: int
    cached_tokens: int  # prompt tokens served from a prefix cache
    latency_s: float
    output: str = ""  # raw text, or a short rendering of the label logprobs
    error: str | None = None
    gathered: int = 1  # requests that shared the backend call (recchat.llm.gather)


@dataclass
class Ranking:
    """The answer of a ranking stage: candidates in their final order, and how it was reached.

    ``degraded`` is true when a stage failed and a fallback produced the order; ``notes`` says
    which and why, in words that can be shown to a user.
    """

    candidates: list[Candidate]
    mode: str = ""
    degraded: bool = False
    notes: list[str] = field(default_factory=list)
    invocations: list[Invocation] = field(default_factory=list)
    malformed: int = 0  # generated outputs that needed repair (permutation mode)
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage, when measured

    def ids(self) -> list[str]:
        return [c.item.id for c in self.candidates]

    def to_dict(self) -> dict[str, Any]:
        return {
            "ranking": [c.to_dict() for c in self.candidates],
            "mode": self.mode,
            "degraded": self.degraded,
            "notes": list(self.notes),
            "malformed": self.malformed,
            "timings": dict(self.timings),
            "invocations": [vars(i).copy() for i in self.invocations],
        }
