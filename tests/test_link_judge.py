"""The learned second opinion of title linking (recchat.conversation.link_judge): what it may change
(only links of dictionary words, only where the catalog says how well known items are), both
ways (a link dropped, a turned-down candidate taken), and the shipped model on MovieLens-100K."""

from __future__ import annotations

from collections import Counter

import pytest

from recchat.conversation.link import Linker
from recchat.conversation.link_judge import Judge, Recorder
from recchat.data.catalog import Catalog
from recchat.types import Item

FILMS = [
    ("1", "Heat (1995)"),
    ("2", "Zoolander (2001)"),
    ("3", "Home Alone (1990)"),
    ("4", "Psycho (1960)"),
    ("5", "Vertigo (1958)"),
    ("6", "Trainspotting (1996)"),
    ("7", "Shallow Grave (1994)"),
    ("8", "Nine Months (1995)"),
]
POPULARITY = {"1": 300, "2": 450, "3": 200, "4": 250, "5": 180, "6": 260, "7": 40, "8": 30}
MESSAGES = [
    "something like heat",
    "I loved zoolander",
    "home alone tonight, what should I watch",
    "loved psycho and vertigo, more hitchcock please",
    "my boss is a total psycho",
    "watched trainspotting last night, is shallow grave by the same guy any good?",
    "im nine months pregnant and cant sleep",
]


def _linker(judge: Judge | Recorder | None, popularity: dict[str, int] | None = POPULARITY) -> Linker:
    catalog = Catalog(Item(i, t, t, {}) for i, t in FILMS)
    return Linker(catalog, popularity=popularity, everyday={"movie", "movies"}, judge=judge)


def linked(linker: Linker, message: str) -> list[str]:
    return [link.item_id for link in linker.link(message)]


@pytest.mark.fast
def test_the_shipped_model_loads_and_was_not_trained_on_the_set_kept_to_measure_it():
    judge = Judge.shipped()
    assert judge is not None and judge.weights
    kept = set(judge.about["kept"])  # type: ignore[arg-type]
    assert kept and not kept & set(judge.about["splits"])  # type: ignore[arg-type]
    assert Linker(Catalog([Item("1", "Heat (1995)", "Heat (1995)", {})])).judge is judge


@pytest.mark.fast
def test_a_recorder_agrees_with_the_rules_and_is_shown_only_titles_of_dictionary_words():
    rules, recorder = _linker(None), Recorder()
    recording = _linker(recorder)
    for message in MESSAGES:
        assert linked(recording, message) == linked(rules, message), message
    shown = {recording.catalog[link.item_id].title for link, _, _ in recorder.seen}
    assert "Heat (1995)" in shown and "Psycho (1960)" in shown
    assert "Zoolander (2001)" not in shown and "Trainspotting (1996)" not in shown  # coined words
    names = next(n for link, n, rule in recorder.seen if link.item_id == "1" and rule)
    assert "rule=1" in names and "why=cue" in names and "p1=like" in names


@pytest.mark.fast
def test_a_doubting_judge_drops_links_of_dictionary_words_and_only_those():
    doubting = _linker(Judge({"bias": -30.0}))
    assert linked(_linker(None), "something like heat") == ["1"]
    assert linked(doubting, "something like heat") == []
    assert linked(doubting, "I loved zoolander") == ["2"]
    assert linked(doubting, "loved trainspotting and psycho") == ["6"]
    assert linked(doubting, "I loved Heat and Psycho") == ["1", "4"]  # written as titles: they stand


@pytest.mark.fast
def test_grammar_numbers_and_sequels_are_the_rules_alone():
    rows = [("u", "Up (2009)"), ("n", "42 (2013)"), ("s1", "Speed (1994)"), ("s2", "Speed 2: Cruise Control (1997)")]
    catalog = Catalog(Item(i, t, t, {}) for i, t in rows + FILMS)
    popularity = POPULARITY | {"u": 500, "n": 100, "s1": 300, "s2": 100}
    doubting, trusting = (Linker(catalog, popularity=popularity, judge=Judge({"bias": b})) for b in (-30.0, 30.0))
    assert linked(doubting, "up made me cry") == ["u"]  # "up", "her": grammar decides
    assert linked(doubting, "speed was fun, please do not suggest speed 2") == ["s2"]  # "speed 2" stands
    assert linked(trusting, "toy story made my husband cry. hes 42. what else") == []  # a number alone
    assert "u" not in linked(trusting, "cheer me up")


@pytest.mark.fast
def test_a_trusting_judge_takes_candidates_the_rules_turned_down():
    message = "home alone tonight, what should I watch"
    assert linked(_linker(None), message) == []
    assert linked(_linker(Judge({"bias": 30.0})), message) == ["3"]


@pytest.mark.fast
def test_the_margin_is_how_sure_the_judge_must_be_to_overrule_the_rules():
    unsure = Judge({"bias": 0.0}, margin=0.2)  # always 0.5: neither drops nor adds
    for message in MESSAGES:
        assert linked(_linker(unsure), message) == linked(_linker(None), message), message
    assert linked(_linker(Judge({"bias": 0.0})), "home alone tonight, what should I watch") == ["3"]


@pytest.mark.fast
def test_without_popularity_the_rules_decide_alone():
    doubting = _linker(Judge({"bias": -30.0}), popularity=None)
    assert linked(doubting, "something like heat") == linked(_linker(None, popularity=None), "something like heat")


def test_the_shipped_judge_on_movielens(movielens, movie_domain):
    popularity = Counter(e.item for e in movielens.interactions)
    judged = Linker.for_domain(movielens.catalog, movie_domain, popularity)
    rules = Linker.for_domain(movielens.catalog, movie_domain, popularity)
    rules.judge = None
    title = lambda linker, m: [movielens.catalog[i].title for i in linked(linker, m)]  # noqa: E731
    # taken where the rules turned it down
    message = "watched trainspotting last night, is shallow grave by the same guy any good?"
    assert title(rules, message) == ["Trainspotting"]
    assert title(judged, message) == ["Trainspotting", "Shallow Grave"]
    assert title(judged, "the birds freaked me out as a kid") == ["The Birds"]
    # dropped where the rules took everyday words for a title
    assert title(rules, "my boss is a total psycho, need a revenge comedy to feel better") == ["Psycho"]
    assert title(judged, "my boss is a total psycho, need a revenge comedy to feel better") == []
    assert title(judged, "im nine months pregnant and cant sleep, recommend something long and cozy") == []
    # kept where both agree
    assert title(judged, "loved psycho and vertigo, more hitchcock please") == ["Psycho", "Vertigo"]
    assert title(judged, "I loved Heat, something like it but older") == ["Heat"]
