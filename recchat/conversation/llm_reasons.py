"""LLM reasons: the LLM rewrites each card's facts as one short clause addressed to the user.

Prompts come from ``prompts/explain.j2`` with the card's two best facts
(:func:`~recchat.conversation.card_facts.card_facts`). :func:`llm_reasons` yields reasons one by
one, so a UI can show the list first and stream the reasons in; an answer
:func:`~recchat.conversation.reason_check.check_reason` rejects (first person, praise with no fact,
a mention of what the user excluded, a fact the catalog contradicts) or a failing LLM leaves that
item's template reason, and says so.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from recchat.conversation.card_facts import ExplainContext, Fact, card_facts, join_and
from recchat.conversation.domain import Domain
from recchat.conversation.reason_check import ReasonFacts, check_reason, contains_words, reason_facts, vocabulary
from recchat.data.catalog import Catalog
from recchat.types import Candidate

if TYPE_CHECKING:
    from recchat.conversation.protocols import CoLikes, Vectors
    from recchat.llm.base import LLMBackend


def _without_excluded(query: str, names: Sequence[str]) -> str:
    """The user's words without the clauses that name what they excluded ("nothing from Star
    Wars"): a small model told a name tends to repeat it."""
    clauses = re.split(r"(?<=[,;.!?])\s+|\s+(?:but|and)\s+(?=(?:no|not|nothing|never|without)\b)", query)
    kept = [c for c in clauses if not any(contains_words(c, n) for n in names)]
    return " ".join(kept).strip(" ,;")


# The facts as the prompt gives them: second person, the card named, so that a small model's
# answer can be one of them said again. Every one starts with "you": a fact that starts with a
# count or a year sets SmolLM2-135M off on "You're an AI assistant..." (bench/RESULTS.md).
_PROMPT_FORMS = {
    "anchor": "you {how} {anchor}, and {title} {shared} too",
    "anchor_plain": "you {how} {anchor}, and {title} is the closest to it",
    "colike": "you may like {title}: {both} of the {fans} people who liked {anchor} also liked it",
    "asked": "you asked for {values}, and {title} {asked}",
    "years": "you asked for these years, and {title} is from {year}",
    "range": "you asked for this, and {title} has {value} {unit}",
}


def _fact_text(fact: Fact, domain: Domain, title: str) -> str:
    """A fact as the prompt states it: plain, second person, naming the card."""
    kind = "anchor_plain" if fact.kind == "anchor" and not fact.shared else fact.kind
    primary = domain.primary.name if domain.primary else None

    def has(values: dict[str, list[str]]) -> str:
        return " and ".join(
            f"is {join_and(domain.in_text(f, vs))}" if f == primary else f"has {f} {join_and(domain.in_text(f, vs))}"
            for f, vs in values.items()
            if vs
        )

    asked = {fact.key[1]: list(fact.key[2])} if fact.kind == "asked" else {}
    return _PROMPT_FORMS[kind].format(
        **fact.slots, title=title, shared=has(fact.shared), asked=has(asked), item=domain.item
    )


def llm_reasons(
    backend: LLMBackend,
    catalog: Catalog,
    candidates: Sequence[Candidate],
    ctx: ExplainContext,
    *,
    max_tokens: int = 40,
    first: int = 3,
    vectors: Vectors | None = None,
    co_likes: CoLikes | None = None,
    reply: Sequence[Candidate] | None = None,
    retry: bool = True,
) -> Iterator[tuple[int, str | None, str | None]]:
    """(position, reason or None, problem or None) for each candidate: the top ``first`` in one
    batch, then the rest in another. With ``retry``, the top answers the checks reject are asked
    again in one more batch, with the card's best fact alone (a small model given one fact wanders
    off less; figures: bench/RESULTS.md).

    Each prompt gives the card's facts (:func:`card_facts`, with ``vectors`` and ``co_likes``)
    and asks for one short clause to the user built on them; :func:`check_reason` judges the
    answer. ``reply``: the whole list the candidates belong to, which facts are ranked against.
    Batches let a local backend decode several reasons per step (figures: bench/RESULTS.md) while
    the top of the list still fills in first. A failing backend stops the stream after reporting the problem; a rejected answer
    comes with "unusable answer: " and why.
    """
    prompts, checks, forbidden = explain_prompts(catalog, candidates, ctx, vectors, co_likes, reply)
    vocab = vocabulary(catalog, ctx.domain)
    for start, stop in ((0, first), (first, len(candidates))):
        if start >= stop or start >= len(candidates):
            continue
        try:
            answers = backend.generate(prompts[start:stop], max_tokens=max_tokens)
        except Exception as exc:  # explanations are optional: the template reasons stay
            yield start, None, f"{type(exc).__name__}: {exc}"
            return
        rejected: dict[int, str] = {}
        for j, answer in enumerate(answers):
            reason, why = check_reason(answer, checks[start + j], vocab, forbidden=forbidden)
            if reason or not retry or start > 0:
                yield start + j, reason, None if reason else f"unusable answer: {why}"
            else:
                rejected[start + j] = why
        if not rejected:
            continue
        again, checks_again, _ = explain_prompts(
            catalog, [candidates[n] for n in rejected], ctx, vectors, co_likes, reply or candidates, facts=1
        )
        # A card with one fact would get the same prompt, and the same answer.
        asked = [k for k, n in enumerate(rejected) if again[k] != prompts[n]]
        retried: dict[int, str] = {}
        try:
            retried = dict(zip(asked, backend.generate([again[k] for k in asked], max_tokens=max_tokens)))
        except Exception:  # the first answers' problems stand
            pass
        for k, (n, why) in enumerate(rejected.items()):
            answer = retried.get(k, "")
            reason, _ = check_reason(answer, checks_again[k], vocab, forbidden=forbidden) if answer else (None, "")
            yield n, reason, None if reason else f"unusable answer: {why}"


def explain_prompts(
    catalog: Catalog,
    candidates: Sequence[Candidate],
    ctx: ExplainContext,
    vectors: Vectors | None = None,
    co_likes: CoLikes | None = None,
    reply: Sequence[Candidate] | None = None,
    facts: int = 2,
) -> tuple[list[str], list[ReasonFacts], tuple[str]]:
    """The explain prompt of each card (its ``facts`` best facts in it), what its answer is checked
    against, and the prompt's own instructions (an answer must not quote them)."""
    from recchat.templates import load_template

    domain = ctx.domain
    template = load_template("explain")
    texts = lambda ids: [{"text": catalog[i].text or catalog[i].title} for i in ids if i in catalog]  # noqa: E731
    excluded = [catalog[i].title for i in ctx.excluded if i in catalog] + list(ctx.excluded_names)
    words = dict(kind=domain.item)
    given = dict(
        liked=texts(ctx.liked[-5:]),
        history=texts(ctx.history[-5:]),
        profile=ctx.profile or None,
        query=_without_excluded(ctx.query, excluded) or None,
        verb=domain.verb,
    )
    prefix = template.prefix(**{k: v for k, v in given.items() if k in template.optional | template.requires}, **words)
    instructions = template.prefix(**words) + template.suffix(candidate={"text": "", "title": ""}, **words)
    whole = list(reply or candidates)
    by_id = dict(zip((c.item.id for c in whole), card_facts(catalog, whole, ctx, vectors, co_likes)))
    shown = [*ctx.liked[-5:], *ctx.history[-5:]]
    prompts, checks = [], []
    for c in candidates:
        found = by_id.get(c.item.id) or []
        said = [_fact_text(f, domain, c.item.title) for f in found[:facts]]
        # A fact that starts "You ..." first: SmolLM2-135M then answers with it, while one that
        # starts with a year or a count set it off on "You're an AI assistant..." (bench/RESULTS.md).
        said = sorted((s[0].upper() + s[1:] for s in said), key=lambda s: not s.startswith("You "))
        prompts.append(
            prefix
            + template.suffix(
                candidate={"text": c.item.text or c.item.title, "title": c.item.title}, facts=said or None, **words
            )
        )
        checks.append(reason_facts(catalog, c, ctx, [*shown, *(f.anchor for f in found[:facts] if f.anchor)]))
    return prompts, checks, (instructions,)


def llm_reasons_default(backend: LLMBackend | None) -> tuple[bool, str]:
    """Whether LLM reasons should be on by default with ``backend``, and the sentence saying so
    for the app's Settings. A base model with no chat template (Gemma 3 270M) continues a
    document rather than answering: on the labelled set none of its 48 reasons passed the checks
    (tests/data/reasons), so templates it is."""
    if backend is None:
        return False, "Reasons come from templates: no language model is configured."
    from recchat.llm.base import PlainFormat

    if isinstance(getattr(backend, "chat", None), PlainFormat):
        return False, (
            "LLM reasons are off by default: this model is a base model without a chat template, "
            "so the reasons come from templates. Turn them on to try its own."
        )
    return True, (
        "The language model writes the reasons of the top picks; templates fill in where its answer fails the checks."
    )
