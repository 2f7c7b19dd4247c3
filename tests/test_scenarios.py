"""Multi-turn chat scenarios on three domains, MovieLens, the enriched MovieLens (director, cast,
runtime, language, country) and the generated books of tests/books.py, checked on the catalog
metadata of the items actually shown, never against expected titles.

Each ``tests/scenarios/<domain>.toml`` holds ``[[scenario]]`` tables: a ``name``, what it tests
(``why``), optionally ``xfail`` (why the system cannot do it yet), and ``[[scenario.turn]]``
tables with what the user ``say``s and the ``check``s on that turn's list. A check is a one-key
table (positions are 1-based, turns count from 1):

    { has = ["genres", "Comedy"] }       every shown item has the value in that list field
    { lacks = ["genres", "Horror"] }     no shown item has it
    { any_of = ["genres", "Comedy", "Romance"] }  every shown item has at least one of the values
    { not_all = ["genres", "Comedy"] }   some shown item lacks it (with any_of: a union, not both)
    { some = ["genres", "Animation"] }   at least one shown item has it
    { within = ["year", 1980, 1989] }    every shown item's number is in the bounds (inclusive)
    { below = ["pages", 300] }           every shown item's number is under it (above: over it)
    { year_vs = ["before", "Title"] }    every shown item is older ("after": newer, "same": the
                                         same year) than the named item
    { older_than = [1, 1] }              every shown item is older than the item at turn 1,
                                         position 1 (newer_than: newer)
    { no_series = "Name" }               no member of the series is shown
    { not_shown = "Title" }              the named item is not shown
    { dropped = [1, 1] }                 the item at turn 1, position 1 is not shown from here on
                                         (position -1: the last one)
    { liked = [1, 3] }                   that item is among the session's liked items (its history)
    { liked_title = "Title" }            the named item is among the liked items
    { not_liked = "Title" }              it is not (a point in time, say, is no like)
    { series_or_liked = "Title" }        another member of the item's series is shown, or the item
                                         is among the liked items

Every turn must also show something. Books turns name catalog items through placeholders picked
by metadata (see :func:`_picks`), so the scenarios outlive changes to the generator; the
MovieLens ones name real titles. Neither uses an item the rules' own tests or the modules'
docstrings use, so the suite measures how the rules generalise.
"""

from __future__ import annotations

import re
import tomllib
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from recchat.conversation.aliases import normalize_title
from recchat.rerank import NO_LLM

FOLDER = Path(__file__).parent / "scenarios"
DOMAINS = ("movielens", "books", "movielens-enriched", "movielens-enriched-held")
# Measured: movielens 36/37 (0.97; the one that fails is marked xfail, with why), books 27/27
# (1.00). The floors are issue 19's targets: MovieLens >= 0.95, books all. The enriched
# MovieLens (issue 22, part 0): see bench/RESULTS.md; its held-aside set (written without the rules,
# first look 19/25, 24/25 after four mends) is held to 0.95.
FLOOR = {"movielens": 0.95, "books": 1.0, "movielens-enriched": 0.95, "movielens-enriched-held": 0.95}
# The Recommender fixture each domain runs on.
RECS = {
    "movielens": "rec",
    "books": "books_rec",
    "movielens-enriched": "enriched_rec",
    "movielens-enriched-held": "enriched_rec",
}
# Items the rules' tests and the docstrings use; scenarios must not name them.
RULE_SOURCES = [
    "tests/test_understand.py",
    "tests/test_chat.py",
    "tests/test_logic.py",
    *(
        f"recchat/conversation/{name}.py"
        for name in (
            "understand clauses constraints references llm_extraction chat session_state reply domain "
            "card_facts template_reasons reason_check llm_reasons"
        ).split()
    ),
]


def _load(domain: str) -> list[dict[str, Any]]:
    return tomllib.loads((FOLDER / f"{domain}.toml").read_text())["scenario"]


SCENARIOS = {domain: _load(domain) for domain in DOMAINS}


# --------------------------------------------------------------------------- the books domain


@pytest.fixture(scope="session")
def books_rec(tmp_path_factory):
    """A Recommender on the generated books: text retrieval and rules (no scorer, no LLM)."""
    from books import generate, recchat_config

    from recchat.recommender import Recommender

    folder = tmp_path_factory.mktemp("books")
    books_csv, reads_csv = generate(folder)
    return Recommender.from_config(recchat_config(books_csv, reads_csv, folder))


@pytest.fixture(scope="session")
def enriched_rec(embedder, tmp_path_factory):
    """A Recommender on the enriched MovieLens, built as ``rec`` is (a real index, a small
    trained scorer, the fake LLM of test_rerank)."""
    from conftest import small_recommender

    from recchat.assets import get
    from recchat.config import RecommenderConfig
    from recchat.conversation.domain import Domain

    if not get("movielens-100k-enriched").is_present():
        pytest.fail("asset movielens-100k-enriched is missing: run 'recchat assets fetch movielens-100k-enriched'")
    config = RecommenderConfig.load("movielens-100k-enriched")
    data = config.load_dataset()
    domain = Domain.from_config(config, data.catalog)
    return small_recommender(data, domain, embedder, tmp_path_factory.mktemp("enriched-index"), "enriched-items")


@pytest.fixture(scope="session")
def book_picks(books_rec):
    return _picks(books_rec)


def _picks(rec: Any, per_subject: int = 5) -> dict[str, str]:
    """Names for the books scenarios, chosen by metadata: ``{series:N}`` is the N-th series of
    three or more books (by name) and ``{series_first:N}`` its first book; ``{title:Subject:N}``
    the N-th most-read book outside any series with that subject whose title, said in a
    sentence, names it alone; ``{author:Subject:N}`` the N-th most frequent author of that
    subject."""
    from recchat.conversation.link import Linker

    resolver = Linker.for_domain(rec.catalog, rec.domain)
    # The docstrings' own examples are left to the rules' tests.
    series = [
        s
        for s in rec.domain.series
        if len(s.members) >= 3 and s.name not in ("salt road", "ember crown", "hollow stars", "tidewater")
    ]
    out = {}
    for n, s in enumerate(series, 1):
        out[f"series:{n}"], out[f"series_first:{n}"] = s.label, rec.catalog[s.members[0]].title
    reads = Counter(i for events in rec.user_histories.values() for i, _ in events)
    ranked = sorted(rec.catalog, key=lambda it: (-reads[it.id], it.id))
    for subject in rec.domain.facet("subjects").values:
        books = [
            it
            for it in ranked
            if subject in it.fields["subjects"]
            and rec.domain.series_of(it.id) is None
            and resolver.by_norm[normalize_title(it.title)] == [it.id]
        ]
        named = [
            it
            for it in books[: 4 * per_subject]
            if [link.item_id for link in resolver.link(f"I liked {it.title}")] == [it.id]
        ]
        out |= {f"title:{subject}:{n}": it.title for n, it in enumerate(named[:per_subject], 1)}
        authors = Counter(a for it in rec.catalog if subject in it.fields["subjects"] for a in it.fields["authors"])
        out |= {f"author:{subject}:{n}": a for n, (a, _) in enumerate(authors.most_common(), 1)}
    return out


def _fill(value: Any, picks: dict[str, str]) -> Any:
    """``value`` with every ``{placeholder}`` replaced; an unknown one is an error in the scenario."""
    if isinstance(value, list):
        return [_fill(v, picks) for v in value]
    if not isinstance(value, str):
        return value

    def pick(m: re.Match) -> str:
        if m.group(1) not in picks:
            raise KeyError(f"no catalog item for the placeholder {{{m.group(1)}}}")
        return picks[m.group(1)]

    return re.sub(r"\{([^{}]+)\}", pick, value)


# --------------------------------------------------------------------------- running scenarios


class Conversation:
    """One scenario's session and what it showed, with the checks' vocabulary."""

    def __init__(self, rec: Any, session: Any):
        self.rec, self.session, self.shown = rec, session, []
        self.dropped: set[str] = set()

    def item(self, ref: Any) -> str:
        """An item id from a title or a [turn, position] pair."""
        if isinstance(ref, list):
            turn, position = ref
            return self.shown[turn - 1][position - 1 if position > 0 else position]
        found = self.session.resolver.resolve(ref)
        if found is None or normalize_title(self.rec.catalog[found].title) != normalize_title(ref):
            raise KeyError(f"'{ref}' is no title of the catalog")
        return found

    def value(self, item_id: str, field: str) -> Any:
        return self.rec.catalog[item_id].fields.get(field)

    def failures(self, kind: str, arg: Any) -> list[str]:
        """What breaks one check on the last turn's list (empty when it holds)."""
        ids, title = self.shown[-1], lambda i: self.rec.catalog[i].title
        year = self.rec.domain.year
        if kind in ("has", "lacks", "some"):
            field, v = arg
            having = [i for i in ids if v in (self.value(i, field) or [])]
            if kind == "some":
                return [] if having else [f"no shown item has {field} {v}"]
            bad = having if kind == "lacks" else [i for i in ids if i not in having]
            return [f"{title(i)} {'has' if kind == 'lacks' else 'lacks'} {field} {v}" for i in bad]
        if kind == "not_all":
            field, v = arg
            lacking = [i for i in ids if v not in (self.value(i, field) or [])]
            return [] if lacking else [f"every shown item has {field} {v}"]
        if kind == "any_of":
            field, *values = arg
            return [
                f"{title(i)} has none of {field} {values}"
                for i in ids
                if not set(values) & set(self.value(i, field) or [])
            ]
        if kind in ("within", "below", "above"):
            field, *bounds = arg
            ok = {
                "within": lambda x: bounds[0] <= x <= bounds[1],
                "below": lambda x: x < bounds[0],
                "above": lambda x: x > bounds[0],
            }[kind]
            return [
                f"{title(i)}: {field} {self.value(i, field)} not {kind} {bounds}"
                for i in ids
                if not isinstance(self.value(i, field), (int, float)) or not ok(self.value(i, field))
            ]
        if kind in ("year_vs", "older_than", "newer_than"):
            relation, ref = arg if kind == "year_vs" else ("before" if kind == "older_than" else "after", arg)
            pivot = self.value(self.item(ref), year)
            ok = {"before": lambda x: x < pivot, "after": lambda x: x > pivot, "same": lambda x: x == pivot}[relation]
            return [
                f"{title(i)} ({self.value(i, year)}) is not {relation} {pivot}"
                for i in ids
                if not isinstance(self.value(i, year), int) or not ok(self.value(i, year))
            ]
        if kind == "no_series":
            series = self.rec.domain.series_named(arg)
            if series is None:
                raise KeyError(f"'{arg}' is no series of the catalog")
            return [f"{title(i)} is of the series {arg}" for i in ids if i in series.members]
        if kind == "not_shown":
            return [f"{arg} is shown"] if self.item(arg) in ids else []
        if kind == "dropped":
            self.dropped.add(self.item(arg))
            return []  # checked on this turn and every later one, below
        if kind in ("liked", "liked_title", "not_liked"):
            target, liked = self.item(arg), self.session.state.liked
            if kind == "not_liked":
                return [f"{title(target)} is liked"] if target in liked else []
            return [] if target in liked else [f"{title(target)} is not among the liked items"]
        if kind == "series_or_liked":
            target = self.item(arg)
            series = self.rec.domain.series_of(target)
            others = set(series.members) - {target} if series else set()
            return (
                []
                if others & set(ids) or target in self.session.state.liked
                else [f"neither another {title(target)} nor {title(target)} itself is kept"]
            )
        raise KeyError(f"unknown check '{kind}'")


def run_scenario(rec: Any, scenario: dict[str, Any], picks: dict[str, str]) -> list[str]:
    """Every failed check of one scenario (empty: it passes)."""
    session = rec.chat(reranker=NO_LLM, understand_with_llm=False, explain_with_llm=False)
    talk = Conversation(rec, session)
    failed = []
    for n, turn in enumerate(scenario["turn"], 1):
        reply = session.send(_fill(turn["say"], picks), explain=False)
        talk.shown.append([i.item.id for i in reply.items])
        problems = [] if reply.items else ["nothing shown"]
        for check in turn.get("check", []):
            ((kind, arg),) = check.items()
            problems += talk.failures(kind, _fill(arg, picks))
        problems += [f"{rec.catalog[i].title} is shown again" for i in talk.dropped & set(talk.shown[-1])]
        failed += [f"turn {n} ({turn['say']!r}): {p}" for p in problems]
    return failed


@pytest.fixture(scope="session")
def outcomes(request):
    """Each domain's scenarios, run once: name -> failures."""
    cache: dict[str, dict[str, list[str]]] = {}

    def get(domain: str) -> dict[str, list[str]]:
        if domain not in cache:
            rec = request.getfixturevalue(RECS[domain])
            picks = request.getfixturevalue("book_picks") if domain == "books" else {}
            cache[domain] = {s["name"]: run_scenario(rec, s, picks) for s in SCENARIOS[domain]}
        return cache[domain]

    return get


def _cases() -> list[Any]:
    return [
        pytest.param(
            domain,
            s["name"],
            id=f"{domain}:{s['name']}",
            marks=[pytest.mark.xfail(reason=s["xfail"], strict=True)] if "xfail" in s else [],
        )
        for domain in DOMAINS
        for s in SCENARIOS[domain]
    ]


@pytest.mark.parametrize("domain,name", _cases())
def test_scenario(outcomes, domain, name):
    failures = outcomes(domain)[name]
    assert not failures, "\n".join(failures)


def test_pass_rate_per_domain(outcomes, capsys):
    """The share of scenarios whose every check holds, per domain, printed and held to a floor."""
    rates = {}
    for domain in DOMAINS:
        results = outcomes(domain)
        rates[domain] = sum(not f for f in results.values()) / len(results)
        with capsys.disabled():
            print(
                f"\nscenarios {domain}: {sum(not f for f in results.values())}/{len(results)} pass "
                f"({rates[domain]:.0%}); failing: {', '.join(n for n, f in results.items() if f) or 'none'}"
            )
    assert all(len(SCENARIOS[d]) >= 15 for d in DOMAINS) and sum(map(len, SCENARIOS.values())) >= 40
    assert all(rates[d] >= FLOOR[d] for d in DOMAINS), rates


def test_scenarios_do_not_name_the_rules_examples(rec, books_rec, enriched_rec, book_picks):
    """The suite measures generalisation: no title it names appears in the rules' tests or docs."""
    root = Path(__file__).parent.parent
    lines = [line for p in RULE_SOURCES for line in (root / p).read_text().splitlines()]
    corpus = " " + " ".join(map(normalize_title, lines)) + " "
    for domain, r in (("movielens", rec), ("books", books_rec), ("movielens-enriched", enriched_rec)):
        picks = book_picks if domain == "books" else {}
        session = r.chat(reranker=NO_LLM)
        for s in SCENARIOS[domain]:
            for turn in s["turn"]:
                for item_id in [link.item_id for link in session.resolver.link(_fill(turn["say"], picks))]:
                    name = normalize_title(r.catalog[item_id].title)
                    assert f" {name} " not in corpus, f"{domain}:{s['name']} names {r.catalog[item_id].title}"
