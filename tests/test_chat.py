"""Recommender and chat sessions on MovieLens with a real index and a small trained scorer; the LLM
is a fake here (the real one is covered in test_rerank/test_vllm)."""

from __future__ import annotations

import pytest

from recchat.evaluate import leave_one_out
from recchat.index import ItemIndex, matches, parse_where
from recchat.recommender import Recommender, RecommenderConfig
from recchat.rerank import Reranker
from recchat.retrieve import item_text_vectors
from recchat.scorer import ScorerConfig, train
from recchat.types import Item

from test_rerank import FakeBackend


@pytest.fixture(scope="module")
def rec(movielens, embedder, tmp_path_factory):
    index = ItemIndex("chat-items", path=tmp_path_factory.mktemp("chat-index"), embedder=embedder)
    index.build(movielens.catalog, progress=False)
    split = leave_one_out(movielens.interactions, movielens.catalog)
    scorer = train(split, item_text_vectors(movielens.catalog, index), movielens.catalog,
                   ScorerConfig(dim=32, layers=1, max_len=50, max_epochs=2, patience=2), progress=False)
    return Recommender(movielens.catalog, index, scorer, Reranker(FakeBackend(favourite="1994"), "listwise", kind="movie"),
                       interactions=movielens.interactions)


def test_local_filter_matches_chroma_semantics():
    item = Item("1", "Heat", "Heat (1995)", {"year": 1995, "genres": ["Crime", "Thriller"]})
    assert matches(parse_where("year<2000 and genres contains Crime"), item)
    assert not matches({"genres": {"$not_contains": "Crime"}}, item)
    assert not matches({"director": "Mann"}, item)  # a missing field fails
    assert matches({"$or": [{"year": 1990}, {"title": "Heat"}]}, item)


def test_recommend_for_a_user_and_for_a_history_with_filters(rec):
    ranking = rec.recommend("196", k=10)
    history = {i for i, _ in rec.user_histories["196"]}
    assert len(ranking.candidates) == 10 and not history & set(ranking.ids())
    assert not ranking.degraded and ranking.candidates[0].scores.keys() >= {"llm", "scorer", "blend"}
    old = rec.recommend(["1", "95", "71"], k=8, filters="year<1980")
    assert len(old.candidates) == 8 and all(c.item.fields["year"] < 1980 for c in old.candidates)
    with pytest.raises(KeyError, match="not in the interaction log"):
        rec.recommend("no-such-user")


def test_failing_llm_degrades_the_recommendation(rec):
    broken = Recommender(rec.catalog, rec.index, rec.scorer, Reranker(FakeBackend(fail=True), "listwise"))
    ranking = broken.recommend(["1", "95"], k=5)
    assert ranking.degraded and len(ranking.candidates) == 5 and "trained scorer" in ranking.notes[0]


def test_a_conversation_with_critiques(rec):
    session = rec.chat()
    first = session.send("I loved Heat and the godfather, something like it but no horror")
    titles = [i.item.title for i in first.items]
    assert len(first.items) == 10 and "Heat" not in titles and "The Godfather" not in titles
    assert all("Horror" not in i.item.fields.get("genres", []) for i in first.items)
    assert "noted that you like Heat, The Godfather" in first.message
    assert all(i.reason.endswith(".") and len(i.reason) > 10 for i in first.items)
    rejected = first.items[0].item.id
    second = session.send("not that one, something older")
    assert rejected not in [i.item.id for i in second.items]
    assert session.state.year_max is not None
    assert all(i.item.fields.get("year", 0) <= session.state.year_max for i in second.items)
    seen = second.items[1].item.id
    third = session.send("I've seen the second one")
    assert seen not in [i.item.id for i in third.items]
    # Rejected and seen items never come back, in any later turn.
    later = session.send("more comedy please")
    assert not {rejected, seen} & {i.item.id for i in later.items}


def test_cold_start_from_the_conversation_alone(rec):
    reply = rec.chat().send("a funny animated movie for kids from the 90s")
    assert reply.items and all(1990 <= i.item.fields["year"] <= 1999 for i in reply.items)
    assert any("Animation" in i.item.fields["genres"] for i in reply.items)


def test_known_user_session_and_config_validation(rec):
    session = rec.chat(user_id="1")
    assert len(session.state.history) == len(rec.user_histories["1"])
    reply = session.send("something newer")
    assert reply.items and not set(session.state.history) & {i.item.id for i in reply.items}
    with pytest.raises(ValueError, match="unknown recommender setting"):
        RecommenderConfig.coerce({"alpha": 0.5, "colour": "blue"})
