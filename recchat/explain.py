"""Explanations: one line per recommended item, grounded in what the user said or watched.

Two writers, one contract (a list of reasons, in the items' order):

- :func:`template_reasons`: always available and instant. It names the liked or watched item a
  pick is closest to (MiniLM vectors from the Chroma index), the wanted genres it has, and the
  years asked for.
- :func:`llm_reasons`: the LLM writes each reason from ``prompts/explain.j2`` (liked items,
  recent history, the profile and the user's words in the prompt). It yields reasons one by one,
  so a UI can show the list first and stream the reasons in; an unusable answer or a failing
  LLM leaves that item's template reason, and says so.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from recchat.catalog import Catalog
from recchat.types import Candidate


@dataclass
class ExplainContext:
    """What the reasons may draw on."""

    liked: list[str] = field(default_factory=list)        # item ids liked in the chat
    history: list[str] = field(default_factory=list)      # item ids watched, oldest first
    genres: list[str] = field(default_factory=list)       # genres asked for
    year_min: int | None = None
    year_max: int | None = None
    query: str = ""                                       # the user's wishes, in their words
    profile: str = ""
    kind: str = "item"


def template_reasons(catalog: Catalog, candidates: Sequence[Candidate], ctx: ExplainContext,
                     vectors: Any = None) -> list[str]:
    """A reason per candidate; ``vectors(ids)`` returns unit text vectors (the Chroma index's)."""
    anchors = [i for i in dict.fromkeys(ctx.liked + ctx.history[-20:]) if i in catalog and catalog[i].text]
    closest: dict[str, str] = {}
    with_text = [c.item.id for c in candidates if c.item.text]
    if anchors and with_text and vectors is not None:
        matrix = np.asarray(vectors([*anchors, *with_text]))
        sims = matrix[len(anchors):] @ matrix[:len(anchors)].T
        closest = {item_id: anchors[int(np.argmax(row))] for item_id, row in zip(with_text, sims)}
    reasons = []
    for c in candidates:
        parts = []
        best = closest.get(c.item.id)
        if best:
            parts.append(f"close to {catalog[best].title}, which you {'liked' if best in ctx.liked else 'watched'}")
        wanted = [g for g in ctx.genres if g in c.item.fields.get("genres", [])]
        if wanted:
            parts.append(f"it is {' and '.join(wanted).lower()}")
        year = c.item.fields.get("year")
        if year and (ctx.year_min is not None or ctx.year_max is not None):
            parts.append(f"from {year}, in the years you asked for")
        if not parts:
            parts.append("a strong match for your history" if ctx.history or ctx.liked else "widely liked")
        text = "; ".join(parts)
        reasons.append(text[0].upper() + text[1:] + ".")
    return reasons


_BAD = re.compile(r"[<>{}|]|\b(as an ai|i cannot|i can't|candidate|json)\b", re.IGNORECASE)


def clean_reason(text: str) -> str | None:
    """The first sentence of an LLM answer, if it reads like a reason; otherwise None."""
    text = " ".join(text.split()).strip(" \"'*-")
    if not text or _BAD.search(text):
        return None
    match = re.match(r"(.+?[.!?])(\s|$)", text)
    sentence = (match.group(1) if match else text).strip()
    if not 15 <= len(sentence) <= 240 or sum(ch.isalpha() for ch in sentence) < 10:
        return None
    if sentence[-1] not in ".!?":
        sentence += "."
    return sentence[0].upper() + sentence[1:]


def llm_reasons(backend: Any, catalog: Catalog, candidates: Sequence[Candidate], ctx: ExplainContext, *,
                max_tokens: int = 40) -> Iterator[tuple[int, str | None, str | None]]:
    """(position, reason or None, problem or None) for each candidate, as each is written.

    A failing backend stops the stream after reporting the problem on the item it failed on.
    """
    from recchat.templates import load_template

    template = load_template("explain")
    texts = lambda ids: [{"text": catalog[i].text or catalog[i].title} for i in ids if i in catalog]  # noqa: E731
    prefix = template.prefix(liked=texts(ctx.liked[-5:]), history=texts(ctx.history[-5:]), query=ctx.query or None,
                             profile=ctx.profile or None, kind=ctx.kind)
    for n, c in enumerate(candidates):
        prompt = prefix + template.suffix(candidate={"text": c.item.text or c.item.title})
        try:
            answer = backend.generate([prompt], max_tokens=max_tokens)[0]
        except Exception as exc:  # explanations are optional: the template reasons stay
            yield n, None, f"{type(exc).__name__}: {exc}"
            return
        reason = clean_reason(answer)
        yield n, reason, None if reason else "unusable answer"
