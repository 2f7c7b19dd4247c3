"""User profiles: what a user's history says about their taste.

    store = ProfileStore(folder, catalog, interactions, backend=load_backend("transformers"))
    profile = store.get("196")          # cached; rebuilt only when the user's history changes
    print(profile.markdown())

A profile has rule-based facts (favourite values of the domain's primary facet against the
catalog-wide base rate, eras when the catalog has a year field, rating tendency, what they picked
lately, favourites) and a two-sentence summary written by the
LLM from those facts. Without an LLM, or when its answer is unusable, the summary is written
from the facts by a template and says so. Profiles are kept as JSON files, one per user, keyed
by a hash of the user's history and of what wrote the summary, with personal data masked
(recchat.privacy); ``recchat forget-user`` removes them.
"""

from __future__ import annotations

import hashlib
import json
import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from recchat.conversation.domain import Domain
from recchat.data.catalog import Catalog, events_by_user
from recchat.files import write_atomic
from recchat.privacy import acting_for, masked, user_file_name
from recchat.types import Interaction

if TYPE_CHECKING:
    from recchat.llm.base import LLMBackend


@dataclass
class Profile:
    user: str
    facts: list[str]
    top_values: list[str]  # favourite values of the primary facet, best first
    favourites: list[str]  # item ids, best rated and most recent first
    summary: str
    summary_source: str  # "llm" or "template"
    key: str  # history hash + summariser: the cache key
    notes: list[str] = field(default_factory=list)
    facet: str = ""  # the primary facet top_values come from ("genres")

    def prompt_text(self) -> str:
        """What prompts get: the summary and the favourite values, in one line."""
        top = f" Favourite {self.facet}: {', '.join(self.top_values)}." if self.top_values else ""
        return (self.summary + top).strip()

    def markdown(self, catalog: Catalog | None = None) -> str:
        lines = [
            f"**User {self.user}**: {self.summary}"
            + ("" if self.summary_source == "llm" else " *(summary from the facts; no LLM summary)*"),
            "",
        ]
        lines += [f"- {f}" for f in self.facts]
        if catalog is not None and self.favourites:
            lines.append("- Favourites: " + "; ".join(catalog[i].title for i in self.favourites if i in catalog))
        return "\n".join(lines)


def history_key(events: Sequence[Interaction], summariser: str) -> str:
    digest = hashlib.sha256(summariser.encode())
    for e in events:
        digest.update(f"{e.item}\x1f{e.rating}\x1f{e.timestamp}\x1e".encode())
    return digest.hexdigest()[:20]


def _share(counter: Counter, total: int) -> dict[str, float]:
    return {k: v / total for k, v in counter.items()} if total else {}


def profile_facts(
    events: Sequence[Interaction],
    catalog: Catalog,
    domain: Domain,
    base_shares: dict[str, float],
    base_rating: float | None,
) -> tuple[list[str], list[str], list[str], str]:
    """(facts, top values of the primary facet, favourite ids, a summary written from them) from
    one user's events, oldest first; ``base_shares`` are the primary facet's shares over the
    whole log. The summary is what a profile says when no LLM writes one."""
    items = [catalog[e.item] for e in events if e.item in catalog]
    facts: list[str] = []
    times = [e.timestamp for e in events if e.timestamp]
    span = ""
    if times:
        first, last = (datetime.fromtimestamp(t, UTC) for t in (min(times), max(times)))
        span = f" from {first:%b %Y} to {last:%b %Y}"
    facts.append(f"{len(events)} ratings{span}.")

    facet = domain.primary.name if domain.primary else None
    values = Counter(v for it in items for v in domain.primary_values(it))
    share = _share(values, len(items))
    lift = sorted(((share[v] - base_shares.get(v, 0.0), v) for v in share), reverse=True)
    top = [v for d, v in lift if d > 0.02 and share[v] >= 0.1][:3]
    if top:
        facts.append(
            f"Favourite {facet}: "
            + ", ".join(f"{v} ({share[v]:.0%} of their ratings vs {base_shares.get(v, 0):.0%} overall)" for v in top)
            + "."
        )
    rare = [v for d, v in sorted(lift) if base_shares.get(v, 0) >= 0.05 and share.get(v, 0) < base_shares[v] / 2][:2]
    if rare:
        facts.append("Rarely picks: " + ", ".join(rare) + ".")

    years = [y for it in items for y in [it.fields.get(domain.year) if domain.year else None] if isinstance(y, int)]
    era = tendency = ""
    if years:
        decades = Counter(y // 10 * 10 for y in years)
        decade, count = decades.most_common(1)[0]
        era = f"{decade}s releases ({count / len(years):.0%})"
        facts.append(f"Mostly {era}; median year {int(statistics.median(years))}.")

    ratings = [e.rating for e in events if e.rating is not None]
    if ratings and base_rating is not None:
        mean = statistics.fmean(ratings)
        high = sum(r >= 4 for r in ratings) / len(ratings)
        tendency = "Rates " + (
            "generously" if mean >= base_rating + 0.3 else "strictly" if mean <= base_rating - 0.3 else "about average"
        )
        facts.append(
            f"{tendency}: mean {mean:.1f} vs {base_rating:.1f} across all users; {high:.0%} of ratings are 4 or 5."
        )

    recent = items[-10:]
    recent_values = Counter(v for it in recent for v in domain.primary_values(it))
    if recent_values and len(items) > 10:
        facts.append("Lately (last 10): mostly " + " and ".join(v for v, _ in recent_values.most_common(2)) + ".")

    best = max(ratings, default=None)
    ranked = [e.item for e in reversed(events) if e.item in catalog and (best is None or e.rating == best)]
    likes = " and ".join(domain.in_text(facet, top[:2])) if top and facet else "a bit of everything"
    summary = f"Enjoys {likes}" + (f", mostly {era}" if era else "") + "." + (f" {tendency}." if tendency else "")
    return facts, top, ranked[:5], summary


def clean_summary(text: str) -> str | None:
    """Two sentences at most, plain text, of a sensible length; None when the answer is unusable."""
    text = " ".join(text.replace("\n", " ").split()).strip(" \"'")
    if "<" in text or ">" in text or "{" in text:
        return None
    sentences = [s.strip() for s in text.replace("!", ".").split(".") if s.strip()]
    if not sentences:
        return None
    text = ". ".join(sentences[:2]) + "."
    return text if 20 <= len(text) <= 400 and sum(ch.isalpha() for ch in text) > 15 else None


class ProfileStore:
    """Builds, caches and returns profiles for the users of one interaction log."""

    def __init__(
        self,
        folder: Path | str,
        catalog: Catalog,
        interactions: Iterable[Interaction],
        *,
        backend: LLMBackend | None = None,
        domain: Domain | None = None,
    ):
        self.folder, self.catalog, self.backend = Path(folder), catalog, backend
        self.domain = domain or Domain.infer(catalog)
        self.kind = self.domain.item
        interactions = list(interactions)
        self.events = events_by_user(interactions)
        counts: Counter = Counter()
        total, ratings = 0, []
        for e in interactions:
            if e.item in catalog:
                counts.update(self.domain.primary_values(catalog[e.item]))
                total += 1
            if e.rating is not None:
                ratings.append(e.rating)
        self.base_shares = _share(counts, total)
        self.base_rating = statistics.fmean(ratings) if ratings else None

    @property
    def summariser(self) -> str:
        if self.backend is None:
            return "template"
        return f"llm:{getattr(self.backend, 'name', 'llm')}:{getattr(self.backend, 'model_name', '')}"

    def users(self) -> list[str]:
        return list(self.events)

    def history(self, user: str) -> list[Interaction]:
        if user not in self.events:
            raise KeyError(f"user '{user}' is not in the interaction log")
        return self.events[user]

    def _path(self, user: str) -> Path:
        return self.folder / user_file_name(user)

    def get(self, user: str, *, refresh: bool = False) -> Profile:
        """The cached profile, or a new one when the history or the summariser changed."""
        events = self.history(user)
        key = history_key(events, self.summariser)
        path = self._path(user)
        if path.is_file() and not refresh:
            try:
                cached = Profile(**json.loads(path.read_text()))
                if cached.key == key:
                    return cached
            except (ValueError, TypeError):
                pass  # a damaged cache file is rebuilt, never trusted
        profile = self.build(user, events, key)
        self.folder.mkdir(parents=True, exist_ok=True)
        write_atomic(path, json.dumps(asdict(profile), indent=1))
        return profile

    def build(self, user: str, events: Sequence[Interaction], key: str) -> Profile:
        facts, top, favourites, summary = profile_facts(
            events, self.catalog, self.domain, self.base_shares, self.base_rating
        )
        source, notes = "template", []
        if self.backend is not None:
            from recchat.templates import load_template

            template = load_template("profile")
            prompt = (
                template.prefix(
                    facts=facts,
                    favourites=[{"text": self.catalog[i].text or self.catalog[i].title} for i in favourites],
                    kind=self.kind,
                )
                + template.suffix()
            )
            try:
                with acting_for(user):  # masked before it is cut into sentences (a cut e-mail is not found)
                    written = clean_summary(masked(self.backend.generate([prompt], max_tokens=64)[0]))
            except Exception as exc:  # the LLM is optional here: the facts stand on their own
                written, notes = None, [f"LLM summary failed ({type(exc).__name__}: {exc})"]
            if written:
                summary, source = written, "llm"
            elif not notes:
                notes = ["the LLM's summary was unusable; written from the facts instead"]
        facet = self.domain.primary.name if self.domain.primary else ""
        # Stored masked: the facts quote catalog values, the notes error messages.
        return Profile(
            user, [masked(f) for f in facts], top, favourites, summary, source, key, [masked(n) for n in notes], facet
        )
