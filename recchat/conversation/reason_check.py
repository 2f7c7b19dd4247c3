"""Checking an LLM's reason before it is shown: :func:`check_reason` and what it checks against.

A reason must read as one whole sentence about the item (:func:`clean_reason`: the form), and say
only what is true (:func:`check_reason`: no first person, no praise that fits any item, no mention
of what the user excluded, nothing the catalog contradicts). :class:`ReasonFacts` (built by
:func:`reason_facts`) is what one card's reason may say and must not; :class:`Vocabulary` the
catalog's names a reason could state wrongly.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from recchat.conversation.card_facts import ExplainContext
from recchat.conversation.domain import Domain
from recchat.data.catalog import Catalog
from recchat.types import Candidate, Item

_BAD = re.compile(
    r"[<>{}|]|\b(as an ai|assistant|i cannot|i can't|candidate|json|the user|users?'s?|the pick|"
    r"request|recommend me|glad|the item|article|review|of mine|perspective)\b",
    re.IGNORECASE,
)
# The speaker talking about itself: a reason is said to the user, about the item.
_FIRST_PERSON = re.compile(r"\b(I|I'm|I'd|I've|I'll|me|my|mine|myself|we|we're|us|our|ours)\b")
# Praise that fits any item: sales talk, not a reason. Short on purpose: phrases that carry no fact
# by their nature (must-see, a masterpiece, this product), not every positive adjective.
_PRAISE = re.compile(
    r"\b(must[- ](?:see|watch|read|play|have|try)|masterpiece|this (?:product|item)|"
    r"anyone who|everyone|a gem|timeless|unforgettable|of all time|you won't regret)\b",
    re.IGNORECASE,
)
# A reason says what the item is; telling the user what they can't or should not do is a refusal.
_TELLS_OFF = re.compile(r"\byou (?:can't|cannot|can not|should not|shouldn't|must not)\b", re.IGNORECASE)
# "..., but you may not like it": a reason that takes itself back.
_HEDGE = re.compile(r"\b(?:may|might|would|will) not (?:like|enjoy|love)\b", re.IGNORECASE)
_YEAR = re.compile(r"(?<![\d$])(1[89]\d\d|20\d\d)(?:s\b)?(?!\d)")
_DECADE = re.compile(r"(?<![\d])'?([1-9]0)s\b")


def _stems(words: Sequence[str]) -> set[str]:
    return {w.lower()[:5] for text in words for w in re.findall(r"[A-Za-z]{4,}", text)}


def shingles(text: str, n: int = 5) -> set[tuple[str, ...]]:
    """Runs of ``n`` consecutive words, lower-cased: what "quoting" a text means here."""
    words = re.findall(r"[a-z']+", text.lower())
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def clean_reason(
    text: str, title: str = "", grounds: Sequence[str] = (), forbidden: Sequence[str] = (), titles: Sequence[str] = ()
) -> str | None:
    """The first sentence of an LLM answer, if it reads like a reason; otherwise None.

    A reason must be a whole sentence (not cut off by the token limit), say something beyond the
    title, avoid talk about the prompt itself (and never repeat five consecutive words of a
    ``forbidden`` text: the prompt's own instructions), and, when ``grounds`` are given (the
    item's facet values, liked titles, the user's words), mention at least one of them. A stop
    inside ``title`` or ``titles`` or after an abbreviation ("Dr.") ends no sentence. The form
    only: :func:`check_reason` checks what it says.
    """
    text = " ".join(text.split()).strip(" \"'*-")
    if not text or _BAD.search(text):
        return None
    if forbidden and shingles(text) & set().union(*(shingles(f) for f in forbidden)):
        return None  # it quotes the prompt: an injected instruction at work, or a parrot
    # A title's own stops ("Dr. Strangelove", "Mr. Smith Goes to Washington") end no sentence.
    held = [t for t in sorted({title, *titles}, key=len, reverse=True) if t and re.search(r"[.!?]", t)]
    for n, t in enumerate(held):
        text = re.sub(re.escape(t), f"\x00{n}\x00", text, flags=re.IGNORECASE)
    match = re.match(r"(.+?(?<!\b[A-Z][a-z])(?<!\b[A-Z][a-z]{2})(?<!\b[A-Z])[.!?])(\s|$)", text)
    if not match:
        return None  # cut off before the end of its first sentence
    sentence = match.group(1).strip()
    for n, t in enumerate(held):
        sentence = sentence.replace(f"\x00{n}\x00", t)
    rest = re.sub(re.escape(title), " ", sentence, flags=re.IGNORECASE) if title else sentence
    if not 15 <= len(sentence) <= 240 or len(re.findall(r"[A-Za-z]{2,}", rest)) < 5:
        return None  # too short, too long, or little beyond the title
    if grounds and not _stems([rest]) & _stems(grounds):
        return None  # says nothing about the item's facet values or what the user said or liked
    return sentence[0].upper() + sentence[1:]


def _norm(text: str) -> str:
    """Lower case, ASCII, punctuation as spaces, no leading article: how titles are compared."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    text = re.sub(r"\s*\(\d{4}\)\s*$", "", text)
    words = re.sub(r"[^a-z0-9]+", " ", text).split()
    if words and words[0] in ("the", "a", "an"):
        words = words[1:]
    return " ".join(words)


def contains_words(text: str, name: str) -> bool:
    """Whether normalised ``text`` holds normalised ``name`` as whole words."""
    name = _norm(name)
    return bool(name) and f" {name} " in f" {_norm(text)} "


@dataclass
class Known:
    """An item a reason may name: its title, year and facet values."""

    title: str
    year: int | None = None
    values: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class ReasonFacts:
    """What a reason about one card may say and must not: the inputs of :func:`check_reason`."""

    item: Known  # the card
    context: list[Known] = field(default_factory=list)  # items the prompt showed (liked, history, the closest)
    excluded: list[str] = field(default_factory=list)  # titles and names the user rejected or kept out
    avoided: list[str] = field(default_factory=list)  # facet values kept out ("horror")
    asked: list[str] = field(default_factory=list)  # what the user asked for: wanted values, their words
    years: tuple[int | None, int | None] = (None, None)  # the year bounds asked for
    verb: str = "tried"  # the domain's verb: "watched", "read"

    def to_dict(self) -> dict[str, object]:
        from dataclasses import asdict

        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ReasonFacts:
        """The facts :meth:`to_dict` wrote (JSON values: read as they come)."""
        return cls(
            Known(**data["item"]),
            [Known(**k) for k in data.get("context", [])],
            list(data.get("excluded", [])),
            list(data.get("avoided", [])),
            list(data.get("asked", [])),
            tuple(data.get("years", (None, None))),
            data.get("verb", "tried"),
        )


@dataclass
class Vocabulary:
    """A catalog's names a reason could state wrongly: every title, and every facet phrase."""

    titles: set[str]  # normalised titles of the catalog
    phrases: dict[str, str]  # lower-case phrase (value or synonym) -> facet value

    @classmethod
    def of(cls, catalog: Catalog, domain: Domain) -> Vocabulary:
        titles = {n for it in catalog if it.title for n in [_norm(it.title)] if len(n) >= 3}
        phrases = {p: v for f in domain.facets for p, v in f.phrases().items() if len(p) >= 3}
        return cls(titles, phrases)


_VOCABULARIES: dict[int, tuple[Catalog, Vocabulary]] = {}


def vocabulary(catalog: Catalog, domain: Domain) -> Vocabulary:
    """The catalog's :class:`Vocabulary`, built once per catalog."""
    kept = _VOCABULARIES.get(id(catalog))
    if kept is None or kept[0] is not catalog:
        kept = (catalog, Vocabulary.of(catalog, domain))
        _VOCABULARIES[id(catalog)] = kept
    return kept[1]


def _named_phrases(text: str) -> list[str]:
    """Title-like spans: quoted text, and runs of capitalised words (with the small words titles
    hold between them: "Return of the Jedi"), the sentence's first word left out when alone."""
    spans = re.findall(r"[\"“‘]([^\"”’]{2,80})[\"”’]", text)
    run = (
        r"(?:[A-Z][\w'’.-]*)(?:(?:\s+(?:of|the|a|an|and|in|on|to|for|at|with|&|de|la|le|vs\.?))*\s+[A-Z0-9][\w'’.-]*)*"
    )
    for match in re.finditer(run, text):
        span = match.group(0)
        if match.start() == 0 and " " not in span:
            continue
        spans.append(span)
        if match.start() == 0:
            spans.append(span.split(" ", 1)[1])  # "Toy Story ..." at the start: the rest as well
    return spans


def check_reason(
    text: str, facts: ReasonFacts, vocab: Vocabulary | None = None, forbidden: Sequence[str] = ()
) -> tuple[str | None, str]:
    """(the reason to show, "") or (None, why it was rejected), for an LLM's answer about one card.

    On top of :func:`clean_reason`'s form: no first person ("I would enjoy"); no sales praise
    ("a must-watch", "this product"); no mention of an item, series or value the user excluded or
    rejected; and nothing the catalog contradicts: a year that is neither the card's (+-1) nor a
    shown item's, a decade that holds neither, a catalog title that is not the card's or a shown
    item's, a facet value the card (and the shown item it names) does not have.
    """
    item, shown = facts.item, facts.context
    # A fact it could state: a value of the card (or a word naming one), a shown item, its year.
    # The user's own words are no fact ("something", "movie"): a reason must add to them.
    values = {v for vs in item.values.values() for v in vs}
    grounds = [
        *values,
        *(k.title for k in shown),
        *(p for p, v in (vocab.phrases if vocab else {}).items() if v in values),
    ]
    own = [item.title, *(k.title for k in shown)]
    sentence = clean_reason(text, item.title, forbidden=forbidden, titles=own)
    if sentence is None:
        return None, "cut off, off-task, too short, or little beyond the title"
    rest = sentence
    for title in sorted(own, key=len, reverse=True):  # the titles' own words are no claims
        rest = re.sub(re.escape(title), " ", rest, flags=re.IGNORECASE)
    if not (
        _stems([rest]) & _stems([g for g in grounds if g])
        or any(contains_words(sentence, t) for t in own[1:])
        or any(contains_words(rest, v) for v in values)  # "sci-fi", "war": values too short to stem
        or item.year
        and str(item.year) in rest
    ):
        return None, "states no fact about the item (its values, its year, an item shown)"
    words = re.findall(r"[a-z'-]+", rest.lower())  # "sci-fi" one word
    # Four words said twice is a loop; three may be a list of values said for both items
    # ("you asked for animation and children's, and X is animation and children's").
    runs = [tuple(words[i : i + 4]) for i in range(len(words) - 3)]
    if len(set(runs)) < len(runs):
        return None, "repeats itself"  # a small model in a loop: "you asked for it in the years you asked for"
    # The card is never one the user already liked, used or named (those are never suggested).
    if any(
        contains_words(sentence, f"you {w} {item.title}")
        for w in ("liked", "loved", "enjoyed", "saw", "asked for", facts.verb)
    ) or re.search(  # "You watched a movie called X" of the card X
        rf"\byou (?:liked|loved|enjoyed|saw|watched|read|played|tried|{re.escape(facts.verb)})\b[^.;]*\bcalled\b",
        sentence,
        re.IGNORECASE,
    ):
        return None, "says you already know it"
    if _HEDGE.search(rest):
        return None, "takes the recommendation back"
    if _FIRST_PERSON.search(rest):
        return None, "first person"
    if _PRAISE.search(rest):
        return None, "praise that fits any item"
    if _TELLS_OFF.search(rest):
        return None, "tells the user what they cannot do"
    for name in [*facts.excluded, *facts.avoided]:
        if contains_words(sentence, name) and not any(
            contains_words(t, name) for t in own if contains_words(t, name) and _norm(t) != _norm(name)
        ):
            return None, f"names '{name}', which you excluded"
    named = [k for k in shown if contains_words(sentence, k.title)]
    years = (
        {y for k in [item, *named] if k.year for y in (k.year - 1, k.year, k.year + 1)}
        if item.year
        else {k.year for k in named if k.year}
    )
    for match in _YEAR.finditer(rest):
        year = int(match.group(1))
        if match.group(0).endswith("s"):
            if not any(year <= y < year + 10 for y in years):
                return None, f"the {year}s do not hold it"
        elif year not in years:
            return None, f"{year} is not its year"
    for match in _DECADE.finditer(rest):
        decade = int(match.group(1))
        if not any(y % 100 // 10 * 10 == decade for y in years):
            return None, f"the {decade}s do not hold it"
    if vocab is not None:
        # A name the reason was not given (a title not shown, a director, a studio) is a claim
        # nothing here can check: small models make them up ("directed by Robert Rodriguez").
        allowed = {_norm(t) for t in own}
        phrases = {_norm(p) for p in vocab.phrases}
        for span in _named_phrases(rest):
            n = _norm(span)
            if not n or n in ("you", "your") or n in phrases or any(f" {n} " in f" {a} " for a in allowed):
                continue
            if n in vocab.titles:
                return None, f"names '{span}', which is not among the items shown"
            return None, f"names '{span}', which it was not given"
        values = {v for vs in item.values.values() for v in vs} | {
            v for k in named for vs in k.values.values() for v in vs
        }
        low = f" {re.sub(r'[^a-z0-9]+', ' ', rest.lower())} "
        for phrase, value in vocab.phrases.items():
            phrase = re.sub(r"[^a-z0-9]+", " ", phrase).strip()  # "film-noir" is "film noir"
            forms = {phrase, phrase + "s", phrase[:-1] + "ies" if phrase.endswith("y") else phrase}
            if value not in values and any(f" {f} " in low for f in forms):
                return None, f"says '{phrase}', which it is not"
    return sentence, ""


def reason_facts(catalog: Catalog, candidate: Candidate, ctx: ExplainContext, shown: Sequence[str] = ()) -> ReasonFacts:
    """The :class:`ReasonFacts` of a card: the items the prompt showed (``shown`` ids), what the
    user excluded and asked for."""
    domain = ctx.domain

    def known(it: Item) -> Known:
        year = it.fields.get(domain.year) if domain.year else None
        return Known(
            it.title, year if isinstance(year, int) else None, {k: v for k, v in domain.values_of(it).items() if v}
        )

    excluded = [catalog[i].title for i in ctx.excluded if i in catalog and catalog[i].title] + list(ctx.excluded_names)
    asked = [*(v for vs in ctx.wanted.values() for v in vs), ctx.query]
    return ReasonFacts(
        known(candidate.item),
        [known(catalog[i]) for i in dict.fromkeys(shown) if i in catalog],
        excluded,
        [v for vs in ctx.avoided.values() for v in vs],
        [a for a in asked if a],
        (ctx.year_min, ctx.year_max),
        domain.verb,
    )
