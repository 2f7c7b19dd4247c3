"""What the chat app shows: the page's one escaping step (:func:`shown`), the item cards, the
reply and user panels, and its CSS. Plain functions from recchat objects to Markdown text, no
Gradio here (the events are wired in :mod:`recchat.ui.app`)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from recchat.conversation.domain import Domain
    from recchat.conversation.reply import Reply, ReplyItem
    from recchat.recommender import Recommender
    from recchat.types import Item

MAX_CARDS = 10
CSS = """
.card { border: 1px solid var(--border-color-primary); border-radius: 10px; padding: 6px 10px; }
.card .chip { display: inline-block; border-radius: 999px; padding: 0 8px; margin: 2px 4px 2px 0;
              font-size: 0.8em; background: var(--background-fill-secondary);
              border: 1px solid var(--border-color-primary); }
.card details { color: var(--body-text-color-subdued); font-size: 0.85em; }
.card summary { cursor: pointer; }
@media (max-width: 480px) { .card { padding: 4px 6px; } }
"""


_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!|~<>&])")


def shown(text: object, *, in_html: bool = False) -> str:
    """Catalog, LLM or user text as literal text on the page: the app's one escaping step. Every
    such text passes here exactly once, and nothing else escapes: an escaped text escaped again
    is what shows entities ("Cuckoo&#x27;s") on the page. In Markdown, its punctuation gets a
    backslash and ``<``/``>``/``&`` become entities (quotes need none outside attributes);
    ``in_html``: inside an HTML block (``<details>``), where Markdown is not read, entities only."""
    text = str(text)
    if in_html:
        return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    escaped = _MARKDOWN.sub(r"\\\1", text)
    return escaped.replace("\\&", "&amp;").replace("\\<", "&lt;").replace("\\>", "&gt;")


def _year(domain: Domain, item: Item) -> str:
    value = item.fields.get(domain.year) if domain.year else None
    return f" ({value})" if value is not None else ""


def _chip(text: object) -> str:
    return f"<span class='chip'>{shown(text)}</span>"


def card_markdown(n: int, entry: ReplyItem, domain: Domain) -> str:
    """One card: the title, then its year, facet values and ranges as small chips, the reason in
    body text, and the scores behind a "Why this" toggle."""
    item, scores = entry.item, entry.candidate.scores
    year = item.fields.get(domain.year) if domain.year else None
    chips = [str(year)] if year is not None else []
    # a facet's field is a list of values (recchat.conversation.domain)
    chips += [v for f in domain.facets for v in cast("list[str]", item.fields.get(f.name) or [])[:4]]
    chips += [
        f"{item.fields[r.name]:g} {r.unit or r.name}" for r in domain.ranges if item.fields.get(r.name) is not None
    ]
    parts = " · ".join(f"{k} {scores[k]:.2f}" for k in ("blend", "llm", "scorer", "text") if k in scores)
    source = "written by the LLM" if entry.reason_source == "llm" else "reason from a template"
    return (
        f"**{n}. {shown(item.title)}**  \n{''.join(_chip(c) for c in chips)}\n\n"
        f"{shown(entry.reason)}\n\n"
        f"<details><summary>Why this</summary>{shown(parts, in_html=True)} · {source}</details>"
    )


def reply_text(reply: Reply) -> str:
    lines = [shown(reply.message)]
    lines += [f"*{shown(note)}*" for note in reply.notes]
    return "\n\n".join(lines)


def said(text: str) -> dict[str, str]:
    """An assistant chat message of plain text (a failure, a note, the rate limit)."""
    return {"role": "assistant", "content": shown(text)}


def user_panel(rec: Recommender, user_id: str | None) -> str:
    """A logged user's recent history and profile, as Markdown."""
    if not user_id:
        return (
            f"**New {shown(rec.domain.user)}**: no history yet; tell me which {shown(rec.domain.items)} "
            "you liked and what you are in the mood for."
        )
    pairs = rec.user_histories.get(user_id, [])
    recent = [
        f"- {shown(rec.catalog[i].title)}{shown(_year(rec.domain, rec.catalog[i]))}"
        + (f" · {r:g}★" if r is not None else "")
        for i, r in pairs[-10:][::-1]
    ]
    profile = rec.profile(user_id)
    head = f"**{shown(rec.domain.user.capitalize())} {shown(user_id)}**"
    if profile:
        head += f": {shown(profile.summary)}" + (
            "" if profile.summary_source == "llm" else " *(summary from the facts; no LLM summary)*"
        )
        head += "".join(f"\n- {shown(f)}" for f in profile.facts)
        favourites = [rec.catalog[i].title for i in profile.favourites if i in rec.catalog]
        if favourites:
            head += "\n- Favourites: " + "; ".join(shown(t) for t in favourites)
    return f"{head}\n\n**Recently** ({len(pairs)} in all)\n" + "\n".join(recent)


def example_message(rec: Recommender) -> str:
    """A first message to show as the placeholder, about the catalog's most popular item."""
    counts: dict[str, int] = {}
    for pairs in rec.user_histories.values():
        for item_id, _ in pairs:
            counts[item_id] = counts.get(item_id, 0) + 1
    top = max(counts, key=counts.__getitem__) if counts else next(iter(rec.catalog)).id
    return f"I loved {rec.catalog[top].title}, something like it" + (" but older" if rec.domain.year else "")


def failure_message(exc: Exception) -> str:
    """A failure in words (plain text: :func:`said` or :func:`shown` escapes it for the page)."""
    return (
        f"Sorry, that failed: {type(exc).__name__}: {exc}. "
        "Try again, or set the backend to 'none' in Settings to rank with the trained scorer alone."
    )
