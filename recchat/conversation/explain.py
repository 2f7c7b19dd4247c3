"""Explanations: one line per recommended item, grounded in what the user said, liked or picked before.

Two writers, one contract (a list of reasons, in the items' order), and one source of facts:

- :func:`card_facts`: per card, the true facts a reason may state, most informative first: the
  liked (or history) item it is closest to (MiniLM vectors from the Chroma index) and the facet
  values they share, an unusually high share of that item's fans who also liked it, the wanted
  values it has, the years and ranges asked for. A fact every card of the reply shares says
  little about any one card, so it ranks below one that sets the card apart.
- :func:`template_reasons`: always available and instant. Each card states its best fact (and
  its next, of another kind) in one of several sentence forms, chosen so that no two cards of a
  reply share a sentence pattern.
- :func:`llm_reasons`: the LLM rewrites each card's facts as one short clause addressed to the
  user, from ``prompts/explain.j2``. It yields reasons one by one, so a UI can show the list
  first and stream the reasons in; an answer :func:`check_reason` rejects (first person, praise
  with no fact, a mention of what the user excluded, a fact the catalog contradicts) or a
  failing LLM leaves that item's template reason, and says so.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from recchat.conversation.domain import Domain
from recchat.data.catalog import Catalog
from recchat.types import Candidate


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


# --------------------------------------------------------------------------- facts


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


def _and(words: Sequence[str]) -> str:
    words = list(words)
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _shared_clause(domain: Domain, shared: dict[str, list[str]], subject: str) -> str:
    """ "it is crime and thriller", "its authors include Ann Lee": values in words, for ``subject``."""
    primary = domain.primary.name if domain.primary else None
    owner = "its" if subject == "it" else subject + "'s"
    parts = [
        f"{subject} is {_and(domain.in_text(f, vs))}"
        if f == primary
        else f"{owner} {f} include {_and(domain.in_text(f, vs))}"
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
    catalog: Catalog, candidates: Sequence[Candidate], ctx: ExplainContext, vectors: Any = None, co_likes: Any = None
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
                            "values": _and(domain.in_text(facet, have)),
                            "clause": _shared_clause(domain, {facet: have}, "it"),
                        },
                        _WEIGHT["asked"],
                    )
                )
        year = c.item.fields.get(domain.year) if domain.year else None
        if year and (ctx.year_min is not None or ctx.year_max is not None):
            found.append(Fact("years", ("years", year), {"year": str(year)}, _WEIGHT["years"]))
        for name in ctx.ranges:
            value = c.item.fields.get(name)
            if value is not None:
                unit = domain.range(name).unit_word if domain.range(name) else name
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


# --------------------------------------------------------------------------- template sentences

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
            clause_it=_shared_clause(domain, shared, "it"),
            clause_this=_shared_clause(domain, shared, "this one"),
            clause_this_item=_shared_clause(domain, shared, f"this {domain.item}"),
        )
    return form.format(**slots)


def _own(c: Candidate, domain: Domain) -> Fact | None:
    """The card's own year and primary facet values, as a fact of kind own_yk, own_y or own_k."""
    primary = domain.primary.name if domain.primary else None
    year = c.item.fields.get(domain.year) if domain.year else None
    kinds = (
        _and(domain.in_text(primary, domain.values_of(c.item)[primary]))
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
    catalog: Catalog, candidates: Sequence[Candidate], ctx: ExplainContext, vectors: Any = None, co_likes: Any = None
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
        options = [((a,), [fa]) for a, fa in _forms(first)]
        if second is not None:
            options = [((a, b), [fa, fb]) for a, fa in _forms(first) for b, fb in _forms(second)] + options
        # The forms least used so far first: the reply reads varied, not one opening ten times.
        options.sort(key=lambda o: (len(o[0]) == 1, *(uses.get(f, 0) for f in o[0])))
        pattern, forms = next((o for o in options if o[0] not in used), options[0])
        used.add(pattern)
        for f in pattern:
            uses[f] = uses.get(f, 0) + 1
        text = _sentence([_fill(f, fact, domain) for f, fact in zip(forms, (first, second))])
        if text in reasons:  # every pattern spent and the same words: the card's title tells them apart
            text = text[:-1] + f" ({c.item.title})."
        reasons.append(text)
    return reasons


# --------------------------------------------------------------------------- checking an LLM's reason

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


def _contains(text: str, name: str) -> bool:
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

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReasonFacts:
        return cls(
            Known(**data["item"]),
            [Known(**k) for k in data.get("context", [])],
            list(data.get("excluded", [])),
            list(data.get("avoided", [])),
            list(data.get("asked", [])),
            tuple(data.get("years", (None, None))),
            data.get("verb", "tried"),
        )  # type: ignore[arg-type]


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
        or any(_contains(sentence, t) for t in own[1:])
        or any(_contains(rest, v) for v in values)  # "sci-fi", "war": values too short to stem
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
        _contains(sentence, f"you {w} {item.title}")
        for w in ("liked", "loved", "enjoyed", "saw", "asked for", facts.verb)
    ):
        return None, "says you already know it"
    if _FIRST_PERSON.search(rest):
        return None, "first person"
    if _PRAISE.search(rest):
        return None, "praise that fits any item"
    if _TELLS_OFF.search(rest):
        return None, "tells the user what they cannot do"
    for name in [*facts.excluded, *facts.avoided]:
        if _contains(sentence, name) and not any(
            _contains(t, name) for t in own if _contains(t, name) and _norm(t) != _norm(name)
        ):
            return None, f"names '{name}', which you excluded"
    named = [k for k in shown if _contains(sentence, k.title)]
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

    def known(it: Any) -> Known:
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


# --------------------------------------------------------------------------- the LLM's reasons


def _without_excluded(query: str, names: Sequence[str]) -> str:
    """The user's words without the clauses that name what they excluded ("nothing from Star
    Wars"): a small model told a name tends to repeat it."""
    clauses = re.split(r"(?<=[,;.!?])\s+|\s+(?:but|and)\s+(?=(?:no|not|nothing|never|without)\b)", query)
    kept = [c for c in clauses if not any(_contains(c, n) for n in names)]
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
            f"is {_and(domain.in_text(f, vs))}" if f == primary else f"has {f} {_and(domain.in_text(f, vs))}"
            for f, vs in values.items()
            if vs
        )

    asked = {fact.key[1]: list(fact.key[2])} if fact.kind == "asked" else {}
    return _PROMPT_FORMS[kind].format(
        **fact.slots, title=title, shared=has(fact.shared), asked=has(asked), item=domain.item
    )


def llm_reasons(
    backend: Any,
    catalog: Catalog,
    candidates: Sequence[Candidate],
    ctx: ExplainContext,
    *,
    max_tokens: int = 40,
    first: int = 3,
    vectors: Any = None,
    co_likes: Any = None,
    reply: Sequence[Candidate] | None = None,
) -> Iterator[tuple[int, str | None, str | None]]:
    """(position, reason or None, problem or None) for each candidate: the top ``first`` in one
    batch, then the rest in another.

    Each prompt gives the card's facts (:func:`card_facts`, with ``vectors`` and ``co_likes``)
    and asks for one short clause to the user built on them; :func:`check_reason` judges the
    answer. ``reply``: the whole list the candidates belong to, which facts are ranked against.
    Batches let a local backend decode several reasons per step (on 2 CPU cores ten reasons in
    one batch cost about what four cost one by one) while the top of the list still fills in
    first. A failing backend stops the stream after reporting the problem; a rejected answer
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
        for j, answer in enumerate(answers):
            reason, why = check_reason(answer, checks[start + j], vocab, forbidden=forbidden)
            yield start + j, reason, None if reason else f"unusable answer: {why}"


def explain_prompts(
    catalog: Catalog,
    candidates: Sequence[Candidate],
    ctx: ExplainContext,
    vectors: Any = None,
    co_likes: Any = None,
    reply: Sequence[Candidate] | None = None,
) -> tuple[list[str], list[ReasonFacts], tuple[str]]:
    """The explain prompt of each card (its two best facts in it), what its answer is checked
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
        said = [_fact_text(f, domain, c.item.title) for f in found[:2]]
        # A fact that starts "You ..." first: SmolLM2-135M then answers with it, while one that
        # starts with a year or a count set it off on "You're an AI assistant..." (bench/RESULTS.md).
        said = sorted((s[0].upper() + s[1:] for s in said), key=lambda s: not s.startswith("You "))
        prompts.append(
            prefix
            + template.suffix(
                candidate={"text": c.item.text or c.item.title, "title": c.item.title}, facts=said or None, **words
            )
        )
        checks.append(reason_facts(catalog, c, ctx, [*shown, *(f.anchor for f in found[:2] if f.anchor)]))
    return prompts, checks, (instructions,)


def llm_reasons_default(backend: Any) -> tuple[bool, str]:
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
