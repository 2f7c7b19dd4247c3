"""A learned second opinion on titles made of dictionary words: is "night shift", "frozen", "up" a title here?

The rules of :mod:`recchat.conversation.link_rules` decide first. Then every link whose words are
all dictionary words (the ones a sentence could use as its own: "night shift", "gravity", "the
game") and that is not written as a title (capitalised, quoted), and every such candidate the
rules turned down, is scored by a logistic model over what
the sentence shows around it: the words just before and after, the punctuation, whether it is
capitalised, how well known the item is, how common its words are, and the rules' own verdicts
(cue word, list, credits, ...). A link the model doubts is dropped; a candidate it trusts is taken.

The model is trained by ``bench/link_judge.py`` on the hand-labelled sentences of
``bench/linking`` (never on the set kept aside to measure it) and shipped as
``link_judge.json`` beside this module: weights per feature name, the threshold, and what it was
trained on. No catalog is named in a feature; popularity is the item's place in its own catalog.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from recchat.conversation import link_rules as rules
from recchat.conversation.aliases import _key
from recchat.conversation.link_index import FUNCTION_WORDS, zipf
from recchat.conversation.link_message import Link, LinkContext, written_as_title
from recchat.conversation.link_series import same_series

if TYPE_CHECKING:
    from recchat.conversation.link_index import TitleIndex

WEIGHTS = Path(__file__).with_name("link_judge.json")
DICTIONARY_ZIPF = 2.5  # a word at least this common could be the sentence's own
# Word classes of the words around a candidate: the model's own vocabulary, fixed with its trained
# weights (the rules' lists differ a little; changing a class means retraining).
_CLASSES = {
    "cue": frozenset(
        "like liked likes love loved loves enjoyed enjoy adored adore watched watch saw seen rewatched read "
        "reread finished than as rewatch see called recommended".split()
    ),
    "det": rules._DETERMINERS,
    "prep": frozenset("in on at for with by from to into under over after before about of".split()),
    "end": frozenset("and or but was is were are with by again last also so because too tho though".split()),
    "verb": frozenset("want wants wanted need needs needed am im have has had get got feel feeling".split()),
}


def _gap(text: str) -> str:
    """The punctuation between two words, as a class."""
    for mark, name in (("?", "q"), ("!", "x"), (".", "p"), (",", "c"), (";", "c"), (":", "c")):
        if mark in text:
            return name
    if re.search(r"[\"'“”‘’«»]", text):
        return "quote"
    if re.search(r"[()]", text):
        return "paren"
    if re.search(r"[-–—/&+>]", text):
        return "dash"
    return "none"


def _bucket(value: float, edges: tuple[float, ...]) -> int:
    return sum(value >= e for e in edges)


def is_dictionary_title(c: LinkContext, link: Link) -> bool:
    """Whether every word of a link is one a sentence could use as its own. Not "her", "up"
    (grammar alone decides those, :func:`~recchat.conversation.link_rules.object_title`), nor a
    number alone ("42": the rules take one only in a list of titles)."""
    span = c.fixed[link.start : link.end]
    if len(span) == 1 and (span[0] in rules._OBJECT_WORDS or span[0].isdigit()):
        return False
    return all(w in FUNCTION_WORDS or w.isdigit() or zipf(w) >= DICTIONARY_ZIPF for w in span)


def features(
    index: TitleIndex, c: LinkContext, link: Link, others: list[Link], rule: bool, verdicts: dict[str, bool]
) -> list[str]:
    """The names of the features that hold for ``link`` (one of the message's candidates; ``others``
    are the message's other links, ``rule`` what the rules decided, ``verdicts`` their reasons)."""
    ws, start, end = c.ws, link.start, link.end
    size = end - start
    span = c.fixed[start:end]
    content = [w for w in span if w not in FUNCTION_WORDS] or span
    pop = index.popularity.get(link.item_id, 0)
    fame = (
        "famous"
        if pop >= index.famous and pop >= index.popular
        else "popular"
        if pop >= index.popular
        else "known"
        if pop >= index.known
        else "some"
        if pop > 0
        else "none"
    )
    out = [
        "bias",
        f"rule={int(rule)}",
        f"how={link.how}",
        f"kind={link.kind}",
        f"size={min(size, 4)}",
        f"rule={int(rule)}&size={min(size, 3)}",
        f"fame={fame}",
        f"rule={int(rule)}&fame={fame}",
        f"zmin={_bucket(min(zipf(w) for w in content), (3.5, 4.5, 5.5))}",
        f"zmax={_bucket(max(zipf(w) for w in content), (3.5, 4.5, 5.5))}",
        f"others={min(len(others), 2)}",
        f"gap_before={_gap(c.message[ws[start - 1].end : ws[start].start]) if start else 'start'}",
        f"gap_after={_gap(c.message[ws[end - 1].end : ws[end].start]) if end < len(ws) else 'end'}",
    ]
    out += [f"why={name}" for name, held in verdicts.items() if held]
    if written_as_title(c.message, ws, start, size, c.capitals):
        out.append("written_as_title")
    if c.message[ws[start].start].isupper() and c.capitals <= 0.6:
        out.append("capital")
    if span[0] in ("the", "a", "an"):
        out.append("article")
    if any(w in index.everyday or w.rstrip("s") in index.everyday for w in span):
        out.append("domain_word")
    if any(c.corrected[start:end]):
        out.append("corrected")
    for name, n in (("p1", start - 1), ("p2", start - 2), ("n1", end), ("n2", end + 1)):
        word = c.fixed[n] if 0 <= n < len(ws) else "<none>"
        out.append(f"{name}={word}")
        out += [f"{name}:{cls}" for cls, words in _CLASSES.items() if word in words]
    return out


@dataclass
class Judge:
    """The learned model: a weight per feature name, and the probability a link needs."""

    weights: dict[str, float]
    threshold: float = 0.5
    margin: float = 0.0  # how sure it must be to overrule the rules: drop below 0.5 - margin, add above 0.5 + margin
    about: dict[str, object] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path = WEIGHTS) -> Judge | None:
        """The shipped model, or None where there is none (the rules decide alone)."""
        if not path.is_file():
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(
            {str(k): float(v) for k, v in data["weights"].items()},
            float(data["threshold"]),
            float(data.get("margin", 0.0)),
            data.get("about", {}),
        )

    @staticmethod
    @lru_cache(maxsize=1)
    def shipped() -> Judge | None:
        """The model shipped beside this module, read once per process."""
        return Judge.load()

    def probability(self, names: list[str]) -> float:
        z = sum(self.weights.get(n, 0.0) for n in names)
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))

    def decide(self, link: Link, names: list[str], rule: bool) -> bool:
        """Whether ``link`` (its features ``names``; ``rule``: what the rules decided) is a title."""
        return self.probability(names) >= self.threshold + (-self.margin if rule else self.margin)


class Recorder:
    """A judge that agrees with the rules and keeps every candidate it was shown (training)."""

    def __init__(self) -> None:
        self.seen: list[tuple[Link, list[str], bool]] = []

    def decide(self, link: Link, names: list[str], rule: bool) -> bool:
        self.seen.append((link, names, rule))
        return rule


def reasons(index: TitleIndex, c: LinkContext, link: Link, others: list[Link], stage: str) -> dict[str, bool]:
    """What the rules see in the sentence around a candidate, as the model's features."""
    start, end = link.start, link.end
    prev = c.fixed[start - 1] if start else ""
    year = c.years.get(end)
    key = " ".join(w for w in c.fixed[start:end] if w != "s")
    earlier = [f for f in others if f.start < start]
    return {
        f"stage_{stage}": True,
        "evidence": rules.evidence(index, c, link, others),
        "aside": bool(earlier) and rules.aside(index, c, link, sorted([*earlier, link], key=lambda f: f.start)),
        "listed": rules.listed(c, link, others),
        "own_facts": rules.own_facts_follow(index, c, link),
        "qualified": rules.qualified(c, link),
        "offered_alone": rules.offered_alone(index, c, link),
        "asked": prev == "is" and rules.asked(c, end),
        "cue": prev in rules._CUES or (start >= 2 and (c.fixed[start - 2], prev) in rules._CUE_PAIRS),
        "series": any(same_series(index, f.item_id, link.item_id) for f in others),
        "determined": rules.determined(index, c, link, key),
        "dated": year is not None and abs(index.years.get(link.item_id, -99) - year) <= 1,
        "whole": start == 0 and end == len(c.ws),
        "everyday": index.is_everyday(key),
        "name_part": any(w in index.name_parts for w in c.fixed[start:end]),
    }


def review(
    index: TitleIndex,
    judge: Judge | Recorder,
    c: LinkContext,
    found: list[Link],
    turned_down: list[Link],
    taken: list[bool],
) -> list[Link]:
    """The rules' links with the judge's second opinion on those of dictionary words: kept or
    dropped, and candidates the rules turned down (``turned_down``) taken where it trusts them.
    ``taken`` (which words are a title's) follows the changes."""
    kept: list[Link] = []
    for link in found:
        # a title written as one (capitalised, quoted) stands: that is the rules' surest evidence
        written = written_as_title(c.message, c.ws, link.start, link.end - link.start, c.capitals)
        span = c.fixed[link.start : link.end]
        sequel = len(span) > 1 and span[-1].isdigit() and _key(span[:-1]) in index.by_norm  # "speed 2"
        if is_dictionary_title(c, link) and not written and not sequel:
            others = [f for f in found if f is not link]
            stage = (
                "sure"
                if link.how != "exact" or not index.is_everyday(" ".join(c.fixed[link.start : link.end]))
                else "weak"
            )
            names = features(index, c, link, others, True, reasons(index, c, link, others, stage))
            if not judge.decide(link, names, True):
                taken[link.start : link.end] = [False] * (link.end - link.start)
                continue
        kept.append(link)
    seen: set[tuple[int, int, str]] = set()
    for link in sorted(turned_down, key=lambda f: (f.start - f.end, f.start)):
        if (link.start, link.end, link.item_id) in seen or any(
            f.item_id == link.item_id or (f.start < link.end and link.start < f.end) for f in [*found, *kept]
        ):
            continue
        seen.add((link.start, link.end, link.item_id))
        if not is_dictionary_title(c, link):
            continue
        if judge.decide(
            link, features(index, c, link, kept, False, reasons(index, c, link, kept, "turned_down")), False
        ):
            kept.append(link)
            taken[link.start : link.end] = [True] * (link.end - link.start)
    return sorted(kept, key=lambda f: f.start)
