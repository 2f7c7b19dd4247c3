"""Explanations: one line per recommended item, grounded in what the user said, liked or picked before.

Two writers, one contract (a list of reasons, in the items' order):

- :func:`template_reasons`: always available and instant. It names the liked or history item a
  pick is closest to (MiniLM vectors from the Chroma index) and the facet values they share (the
  domain's facets: genres, subjects, authors), how many people who liked that item also liked
  the pick, the wanted values it has, and the years and ranges asked for; no two cards carry the
  same sentence.
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
from recchat.domain import Domain
from recchat.types import Candidate


@dataclass
class ExplainContext:
    """What the reasons may draw on."""

    liked: list[str] = field(default_factory=list)        # item ids liked in the chat
    history: list[str] = field(default_factory=list)      # item ids of the user's log, oldest first
    wanted: dict[str, list[str]] = field(default_factory=dict)    # facet -> values asked for
    year_min: int | None = None
    year_max: int | None = None
    ranges: dict[str, dict[str, float]] = field(default_factory=dict)  # range field -> bounds asked for
    query: str = ""                                       # the user's wishes, in their words
    profile: str = ""
    domain: Domain = field(default_factory=Domain)        # the facets, year and item noun


def _facet_phrase(domain: Domain, facet: str, values: Sequence[str]) -> str:
    """Values in words: "it is crime and thriller" for the primary facet, "its authors include X"
    for the others."""
    words = _and(domain.in_text(facet, list(values)))
    return f"it is {words}" if domain.primary and facet == domain.primary.name else f"its {facet} include {words}"


def template_reasons(catalog: Catalog, candidates: Sequence[Candidate], ctx: ExplainContext,
                     vectors: Any = None, co_likes: Any = None) -> list[str]:
    """A reason per candidate, each one checkable and no two alike.

    ``vectors(ids)`` returns unit text vectors (the Chroma index's) to find the liked or history
    item a pick is closest to; the reason names the facet values the two share and, with
    ``co_likes(anchor, pick)`` -> (users who liked both, users who liked the anchor), how many
    people who liked that item also liked this one. A sentence that would repeat an earlier
    card's gets the pick's own year and primary facet values, so every card reads differently.
    """
    domain = ctx.domain
    primary = domain.primary.name if domain.primary else None
    anchors = [i for i in dict.fromkeys(ctx.liked + ctx.history[-20:]) if i in catalog and catalog[i].text]
    closest: dict[str, str] = {}
    with_text = [c.item.id for c in candidates if c.item.text]
    if anchors and with_text and vectors is not None:
        matrix = np.asarray(vectors([*anchors, *with_text]))
        sims = matrix[len(anchors):] @ matrix[:len(anchors)].T
        closest = {item_id: anchors[int(np.argmax(row))] for item_id, row in zip(with_text, sims)}
    reasons: list[str] = []
    for c in candidates:
        parts, said = [], set()
        best = closest.get(c.item.id)
        values = domain.values_of(c.item)
        if best:
            anchor = catalog[best]
            source = "which you liked" if best in ctx.liked else "from your history"
            theirs = domain.values_of(anchor)
            shared = {f: [v for v in vs if v in theirs[f]] for f, vs in values.items()}
            phrases = [_facet_phrase(domain, f, vs) for f, vs in shared.items() if vs]
            if phrases:
                parts.append(f"like {anchor.title}, {source}, " + "; ".join(phrases))
                said.update(v for vs in shared.values() for v in vs)
            else:
                parts.append(f"closest to {anchor.title}, {source}")
            if co_likes is not None:
                both, fans = co_likes(best, c.item.id)
                if both and fans:
                    parts.append(f"{both} of the {fans} people who liked {anchor.title} also liked it")
        for facet, asked in ctx.wanted.items():
            wanted = [v for v in asked if v in values.get(facet, [])]
            if wanted and not set(wanted) <= said:
                parts.append(_facet_phrase(domain, facet, wanted))
        year = c.item.fields.get(domain.year) if domain.year else None
        if year and (ctx.year_min is not None or ctx.year_max is not None):
            parts.append(f"from {year}, in the years you asked for")
        parts += [f"{c.item.fields[name]} {domain.range(name).unit_word}, as you asked" for name in ctx.ranges
                  if c.item.fields.get(name) is not None]
        if not parts:
            parts.append("a strong match for your history" if ctx.history or ctx.liked else "widely liked")
        text = "; ".join(parts)
        text = text[0].upper() + text[1:] + "."
        if text in reasons:  # never the same sentence on two cards
            kinds = _and(domain.in_text(primary, values[primary])) if primary and values[primary] else ""
            own = ", ".join(str(x) for x in (year, kinds) if x)
            text = text[:-1] + (f" ({own})." if own else f" ({c.item.title}).")
            if text in reasons:
                text = text[:-1] + f" ({c.item.title})."
        reasons.append(text)
    return reasons


def _and(words: Sequence[str]) -> str:
    words = list(words)
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


_BAD = re.compile(r"[<>{}|]|\b(as an ai|assistant|i cannot|i can't|candidate|json|the user|users?'s?|the pick|"
                  r"request|recommend me|glad|the item|article|review|of mine|perspective)\b", re.IGNORECASE)


def _stems(words: Sequence[str]) -> set[str]:
    return {w.lower()[:5] for text in words for w in re.findall(r"[A-Za-z]{4,}", text)}


def shingles(text: str, n: int = 5) -> set[tuple[str, ...]]:
    """Runs of ``n`` consecutive words, lower-cased: what "quoting" a text means here."""
    words = re.findall(r"[a-z']+", text.lower())
    return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}


def clean_reason(text: str, title: str = "", grounds: Sequence[str] = (), forbidden: Sequence[str] = ()) -> str | None:
    """The first sentence of an LLM answer, if it reads like a reason; otherwise None.

    A reason must be a whole sentence (not cut off by the token limit), say something beyond the
    title, avoid talk about the prompt itself (and never repeat five consecutive words of a
    ``forbidden`` text: the prompt's own instructions), and, when ``grounds`` are given (the
    item's facet values, liked titles, the user's words), mention at least one of them.
    """
    text = " ".join(text.split()).strip(" \"'*-")
    if not text or _BAD.search(text):
        return None
    if forbidden and shingles(text) & set().union(*(shingles(f) for f in forbidden)):
        return None  # it quotes the prompt: an injected instruction at work, or a parrot
    match = re.match(r"(.+?[.!?])(\s|$)", text)
    if not match:
        return None  # cut off before the end of its first sentence
    sentence = match.group(1).strip()
    rest = re.sub(re.escape(title), " ", sentence, flags=re.IGNORECASE) if title else sentence
    if not 15 <= len(sentence) <= 240 or len(re.findall(r"[A-Za-z]{2,}", rest)) < 5:
        return None  # too short, too long, or little beyond the title
    if grounds and not _stems([rest]) & _stems(grounds):
        return None  # says nothing about the item's facet values or what the user said or liked
    return sentence[0].upper() + sentence[1:]


def llm_reasons(backend: Any, catalog: Catalog, candidates: Sequence[Candidate], ctx: ExplainContext, *,
                max_tokens: int = 40, first: int = 3) -> Iterator[tuple[int, str | None, str | None]]:
    """(position, reason or None, problem or None) for each candidate: the top ``first`` in one
    batch, then the rest in another.

    Batches let a local backend decode several reasons per step (on 2 CPU cores ten reasons in
    one batch cost about what four cost one by one) while the top of the list still fills in
    first. A failing backend stops the stream after reporting the problem.
    """
    from recchat.templates import load_template

    template = load_template("explain")
    texts = lambda ids: [{"text": catalog[i].text or catalog[i].title} for i in ids if i in catalog]  # noqa: E731
    prefix = template.prefix(liked=texts(ctx.liked[-5:]), history=texts(ctx.history[-5:]), query=ctx.query or None,
                             profile=ctx.profile or None, kind=ctx.domain.item)
    liked_titles = [catalog[i].title for i in ctx.liked + ctx.history[-5:] if i in catalog]
    instructions = template.prefix(kind=ctx.domain.item) + template.suffix(candidate={"text": "", "title": ""})
    for start, stop in ((0, first), (first, len(candidates))):
        chunk = candidates[start:stop]
        if not chunk:
            continue
        prompts = [prefix + template.suffix(candidate={"text": c.item.text or c.item.title, "title": c.item.title})
                   for c in chunk]
        try:
            answers = backend.generate(prompts, max_tokens=max_tokens)
        except Exception as exc:  # explanations are optional: the template reasons stay
            yield start, None, f"{type(exc).__name__}: {exc}"
            return
        for j, (c, answer) in enumerate(zip(chunk, answers)):
            grounds = [*(v for vs in ctx.domain.values_of(c.item).values() for v in vs), *liked_titles, ctx.query]
            reason = clean_reason(answer, c.item.title, [g for g in grounds if g], forbidden=(instructions,))
            yield start + j, reason, None if reason else "unusable answer"
