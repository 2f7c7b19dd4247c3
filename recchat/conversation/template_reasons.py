"""Template reasons: one line per recommended item from its facts, always available and instant.

Each card states its best fact (:func:`~recchat.conversation.card_facts.card_facts`) and its next,
of another kind, in one of several sentence forms, chosen so that no two cards of a reply share a
sentence pattern.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from recchat.conversation.card_facts import ExplainContext, Fact, card_facts, join_and, shared_clause
from recchat.conversation.domain import Domain
from recchat.data.catalog import Catalog
from recchat.types import Candidate

if TYPE_CHECKING:
    from recchat.conversation.protocols import CoLikes, Vectors


# Several forms per kind of fact: a reply never uses one pattern (the pair of forms) twice.
_FORMS: dict[str, list[str]] = {
    "anchor": [
        "like {anchor}, which you {how}, {clause_it}",
        "you {how} {anchor}, and {clause_this}",
        "for anyone who {how} {anchor}: {clause_this_item} too",
        "close to {anchor} (you {how} it): {clause_it} as well",
    ],
    "anchor_plain": [
        "closest to {anchor}, which you {how}",
        "of what you {how}, {anchor} is nearest to it",
        "near {anchor} in what it is about, and you {how} that one",
    ],
    "colike": [
        "{both} of the {fans} people who liked {anchor} also liked it",
        "liked by {both} of the {fans} people who liked {anchor}",
        "among the {fans} people who liked {anchor}, {both} liked this one too",
    ],
    "asked": ["{clause}, as you asked", "as you asked, {clause}", "you wanted {values}, and {clause}"],
    "years": [
        "from {year}, in the years you asked for",
        "a {item} of {year}, within your years",
        "{year} fits the years you gave",
    ],
    "range": [
        "{value} {unit}, as you asked",
        "at {value} {unit}, within your bounds",
        "{value} {unit} fits what you gave",
    ],
    # The card's own year and kinds: true of it alone, said where nothing else sets two cards apart.
    "own_yk": ["a {kinds} {item} from {year}", "from {year}, {kinds}", "{kinds}, from {year}"],
    "own_y": ["from {year}", "a {item} of {year}", "dated {year}"],
    "own_k": ["it is {kinds}", "a {kinds} {item}", "{kinds} at heart"],
    "widely": ["widely liked", "liked by many", "a popular pick"],
    "history": ["a strong match for your history", "close to your history as a whole", "in line with your history"],
}


def _fill(form: str, fact: Fact, domain: Domain) -> str:
    slots = dict(fact.slots, item=domain.item)
    if fact.kind == "anchor":
        shared = fact.shared
        slots.update(
            clause_it=shared_clause(domain, shared, "it"),
            clause_this=shared_clause(domain, shared, "this one"),
            clause_this_item=shared_clause(domain, shared, f"this {domain.item}"),
        )
    return form.format(**slots)


def _own(c: Candidate, domain: Domain) -> Fact | None:
    """The card's own year and primary facet values, as a fact of kind own_yk, own_y or own_k."""
    primary = domain.primary.name if domain.primary else None
    year = c.item.fields.get(domain.year) if domain.year else None
    kinds = (
        join_and(domain.in_text(primary, domain.values_of(c.item)[primary]))
        if primary and domain.values_of(c.item)[primary]
        else ""
    )
    kind = "own_" + ("y" if year else "") + ("k" if kinds else "")
    return Fact(kind, (kind, c.item.id), {"year": str(year or ""), "kinds": kinds}, 0.1) if kind != "own_" else None


def _forms(fact: Fact) -> list[tuple[str, str]]:
    kind = "anchor_plain" if fact.kind == "anchor" and not fact.shared else fact.kind
    return [(f"{kind}/{n}", form) for n, form in enumerate(_FORMS[kind])]


def _sentence(parts: Sequence[str]) -> str:
    text = "; ".join(parts)
    return text[0].upper() + text[1:] + "."


def template_reasons(
    catalog: Catalog,
    candidates: Sequence[Candidate],
    ctx: ExplainContext,
    vectors: Vectors | None = None,
    co_likes: CoLikes | None = None,
) -> list[str]:
    """A reason per candidate, each one checkable and no two of one pattern.

    Each card states its most informative fact (:func:`card_facts`) and the next one of another
    kind (or its own year and kinds), in a pair of sentence forms no earlier card used, the least
    used forms first; a card with no fact is "widely liked" (or close to the history).
    """
    domain = ctx.domain
    used: set[tuple[str, ...]] = set()
    uses: dict[str, int] = {}
    reasons: list[str] = []
    for c, found in zip(candidates, card_facts(catalog, candidates, ctx, vectors, co_likes)):
        own = _own(c, domain)
        if not found:
            plain = "history" if ctx.history or ctx.liked else "widely"
            found = [Fact(plain, (plain,), {}, 0.0)]
        first = found[0]
        later = [f for f in found[1:] if f.kind != first.kind]
        second = later[0] if later else own
        if second is not None and second is not own and own is not None:
            # No two cards of one pattern: with the forms of the two best facts spent, the card's own.
            pairs = {(a, b) for a, _ in _forms(first) for b, _ in _forms(second)}
            if pairs <= used:
                second = own
        options: list[tuple[tuple[str, ...], list[str]]] = [((a,), [fa]) for a, fa in _forms(first)]
        if second is not None:
            options = [((a, b), [fa, fb]) for a, fa in _forms(first) for b, fb in _forms(second)] + options
        # The forms least used so far first: the reply reads varied, not one opening ten times.
        options.sort(key=lambda o: (len(o[0]) == 1, *(uses.get(f, 0) for f in o[0])))
        pattern, forms = next((o for o in options if o[0] not in used), options[0])
        used.add(pattern)
        for f in pattern:
            uses[f] = uses.get(f, 0) + 1
        facts = [first] if second is None else [first, second]
        text = _sentence([_fill(f, fact, domain) for f, fact in zip(forms, facts)])
        if text in reasons:  # every pattern spent and the same words: the card's title tells them apart
            text = text[:-1] + f" ({c.item.title})."
        reasons.append(text)
    return reasons
