"""The whole pipeline on a dozen films, in seconds: the fakes of tests/fakes.py stand in for the
embedder (a word-hashing Chroma embedding function) and the LLM (scripted answers); the scorer is
a tiny model trained for two epochs on the CPU. The same stages run for real in the full tier."""

from __future__ import annotations

import json

import numpy as np
import pytest
from fakes import HashEmbedder, ScriptedBackend, tiny_index

from recchat.blend import BlendConfig, rerank_and_blend
from recchat.data.split import leave_one_out
from recchat.evaluation import rank_metrics, run_stage
from recchat.evaluation.baselines import ItemKNN, Popularity
from recchat.index import ItemIndex, ItemIndexError
from recchat.llm import LLMError, collect_invocations
from recchat.recommender import Recommender
from recchat.rerank import NO_LLM, Reranker
from recchat.retrieve import item_text_vectors
from recchat.scorer import Scorer, ScorerConfig, train

pytestmark = pytest.mark.fast

TINY = dict(dim=8, layers=1, heads=1, max_len=8, max_epochs=2, patience=2, batch_size=8, seed=0)


@pytest.fixture
def split(tiny):
    return leave_one_out(tiny.dataset.interactions, tiny.catalog)


@pytest.fixture
def scorer(tiny, tiny_index, split):
    return train(split, item_text_vectors(tiny.catalog, tiny_index), tiny.catalog, ScorerConfig(**TINY), progress=False)


def prefers(word: str):
    """label_logprobs that favour the candidate whose line mentions ``word``."""

    def answer(prefix, suffix, labels):
        if labels == ["Yes", "No"]:
            return {"Yes": -0.1 if word in suffix else -3.0, "No": -1.0}
        lines = {line.split(". ", 1)[0].strip(): line for line in prefix.splitlines() if ". " in line}
        best = next((label for label in labels if word in lines.get(label, "")), labels[0])
        return {label: (-0.1 if label == best else -5.0) for label in labels}

    return answer


# --------------------------------------------------------------------------- index


def test_index_builds_queries_filters_and_reopens_with_the_fake_embedder(tiny, tmp_path):
    index = tiny_index(tiny.catalog, tmp_path / "store")
    assert index.count() == 12 and index.complete()
    assert index.query("Crime Thriller", k=3)[0].item.title in {"Heat", "Touch of Evil"}
    old = index.query("crime", k=12, where="year<1960")
    assert {c.item.title for c in old} == {"Touch of Evil", "Casablanca"}
    assert index.build(tiny.catalog, progress=False).summary()  # a second build: nothing to do
    again = ItemIndex("tiny-items", path=tmp_path / "store", embedder=HashEmbedder())
    assert again.count() == 12
    assert index.embeddings(["1", "4"]).shape == (2, 32)
    with pytest.raises(ItemIndexError, match="built with embedder"):
        ItemIndex("tiny-items", path=tmp_path / "store", embedder=HashEmbedder(dim=16))


# --------------------------------------------------------------------------- data, scorer, retrievers


def test_split_and_a_tiny_scorer_trained_two_epochs(tiny, split, scorer, tmp_path):
    assert split.n_items == 12 and len(split.evaluated_users("test")) == 12
    assert [h["epoch"] for h in scorer.history] == [1, 2]
    assert all(np.isfinite(h["loss"]) for h in scorer.history)
    path = scorer.save(tmp_path / "scorer.pt")
    loaded = Scorer.load(path, catalog=tiny.catalog, device="cpu")
    histories = [split.history(0, "test")]
    assert np.allclose(loaded.score_histories(histories), scorer.score_histories(histories), atol=1e-5)
    metrics = rank_metrics(run_stage(scorer, split, "valid").ranks)
    assert 0.0 <= metrics["NDCG@10"] <= 1.0


def test_popularity_and_item_knn_rank_the_tiny_log(tiny, split):
    for ranker in (Popularity(tiny.catalog), ItemKNN(tiny.catalog)):
        ranker.fit(split)
        found = ranker.retrieve(["1", "2"], k=3, exclude=["1", "2"])
        assert len(found) == 3 and not {"1", "2"} & {c.item.id for c in found}


# --------------------------------------------------------------------------- recommender and chat


def test_recommender_with_a_scripted_llm_reranks_blends_and_degrades(tiny, tiny_index, scorer):
    backend = ScriptedBackend(prefers("Godfather"))
    rec = Recommender(
        tiny.catalog,
        tiny_index,
        scorer,
        Reranker(backend, "listwise", kind="movie"),
        BlendConfig(alpha=0.0),
        interactions=tiny.dataset.interactions,
        domain=tiny.domain,
        pool=6,
    )
    with collect_invocations() as calls:
        ranking = rec.recommend(["1", "2"], k=5)
    assert calls and len(ranking.candidates) == 5 and not ranking.degraded
    assert not {"1", "2"} & set(ranking.ids())
    assert ranking.candidates[0].scores.keys() >= {"llm", "scorer", "blend"}
    user = rec.recommend("u1", k=4, filters="year>=1990")
    assert all(c.item.fields["year"] >= 1990 for c in user.candidates)
    with pytest.raises(KeyError, match="not in the interaction log"):
        rec.recommend("nobody")
    broken = Recommender(tiny.catalog, tiny_index, scorer, Reranker(ScriptedBackend(fail=True), "listwise"))
    ranking = broken.recommend(["1"], k=4)
    assert ranking.degraded and len(ranking.candidates) == 4 and "trained scorer" in ranking.notes[0]


def test_a_chat_turn_understands_filters_and_explains(tiny, tiny_index, scorer):
    backend = ScriptedBackend(texts="You liked Heat, and it is a crime film too.")
    rec = Recommender(
        tiny.catalog,
        tiny_index,
        scorer,
        Reranker(backend, "listwise", kind="movie"),
        interactions=tiny.dataset.interactions,
        domain=tiny.domain,
    )
    session = rec.chat(k=4, explain_with_llm=False)
    reply = session.send("I loved Heat, something like it but no horror")
    titles = [i.item.title for i in reply.items]
    assert reply.items and "Heat" not in titles
    assert all("Horror" not in i.item.fields["genres"] for i in reply.items)
    assert all(i.reason.endswith(".") for i in reply.items)
    assert "1" in session.state.liked
    older = session.send("something older than 1980")
    assert older.items and all(i.item.fields["year"] < 1980 for i in older.items)


def test_builder_assembles_the_parts_without_an_llm(tiny):
    assert len(tiny.catalog) == 12 and len(tiny.dataset.interactions) == len(tiny.dataset.interactions.interactions)
    assert tiny.domain.item == "movie" and tiny.domain.facets[0].name == "genres"
    assert tiny.scorer() is None and tiny.backend() is None
    assert tiny.reranker() is NO_LLM or tiny.reranker().backend is None
    assert tiny.blend().alpha == 0.5
    parts = tiny.llm_parts()
    assert parts.backend is None


# --------------------------------------------------------------------------- rerank with the fake LLM


def test_pointwise_and_listwise_parse_the_scripted_logprobs(tiny, tiny_index):
    cands = tiny_index.query("film", k=6)
    for c in cands:
        c.scores["scorer"] = c.score
    for mode in ("pointwise", "listwise"):
        reranker = Reranker(ScriptedBackend(prefers("Aladdin")), mode, kind="movie")
        out = reranker.rerank([tiny.catalog["4"]], cands)
        if any(c.item.title == "Aladdin" for c in cands):
            assert out.candidates[0].item.title == "Aladdin", mode
        assert not out.degraded
    failing = rerank_and_blend(Reranker(ScriptedBackend(fail=True), "listwise", kind="movie"), [], cands)
    assert failing.degraded and "trained scorer only" in failing.notes[0]
    assert sorted(failing.ids()) == sorted(c.item.id for c in cands)
    with pytest.raises(LLMError):
        ScriptedBackend(fail=True).generate(["x"], max_tokens=4)


def test_scripted_backend_answers_in_order_and_records_calls():
    backend = ScriptedBackend([{"A": -1.0, "B": -2.0}, {"A": -3.0, "B": -0.5}], texts=["one", "two"])
    first = backend.label_logprobs("p", ["s1", "s2", "s3"], ["A", "B"])
    assert [max(d, key=d.get) for d in first] == ["A", "B", "B"]
    assert backend.generate(["a", "b", "c"], max_tokens=5) == ["one", "two", "two"]
    assert [kind for kind, _ in backend.calls] == ["label_logprobs", "generate"] and len(backend.invocations) == 2
    assert json.dumps(HashEmbedder().get_config()) == '{"dim": 32}'
    vectors = HashEmbedder().encode(["crime drama", "crime drama", ""])
    assert np.allclose(vectors[0], vectors[1]) and np.allclose(np.linalg.norm(vectors, axis=1), 1.0)


def test_the_fast_tier_refuses_models_processes_and_the_network(tiny):
    """tests/conftest.py keeps the fast tier's promise: these fail the test instead of running."""
    import socket
    import subprocess

    from recchat.index import MiniLMEmbeddingFunction

    refused = pytest.fail.Exception
    with pytest.raises(refused, match="may not start processes"):
        subprocess.run(["true"])
    with pytest.raises(refused, match="may not load models"):
        MiniLMEmbeddingFunction().encode(["a text"])
    with pytest.raises(refused, match="may not load models"):
        tiny.index()  # the builder's index embeds with the real MiniLM
    with pytest.raises(refused, match="may not open network connections"):
        socket.create_connection(("192.0.2.1", 80), timeout=0.1)
