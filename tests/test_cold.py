"""Cold and tail items (recchat.evaluation.cold): the popularity buckets, the paired bootstrap, and
the cold-item split, which must never let a method train on a held-out item (asserted on the
tiny log of tests/fakes.py)."""

from __future__ import annotations

import numpy as np
import pytest

import recchat.scorer
from recchat.data.split import leave_one_out
from recchat.evaluation import (
    ItemKNN,
    Popularity,
    bucket_metrics,
    bucket_summary,
    cold_split,
    evaluate,
    paired_bootstrap,
    paired_interval,
    popularity_buckets,
)
from recchat.evaluation.cold import text_only_vectors
from recchat.evaluation.cold_run import cold_item_results, train_cold_scorer
from recchat.evaluation.report import bucket_line
from recchat.retrieve import item_text_vectors
from recchat.scorer import ScorerConfig

pytestmark = pytest.mark.fast

TINY = dict(dim=8, layers=1, heads=1, max_len=8, max_epochs=2, patience=2, batch_size=8, seed=0)


def test_popularity_buckets_by_share_of_training_interactions():
    counts = np.array([50, 30, 10, 5, 3, 2, 0])  # 100 interactions
    buckets = popularity_buckets(counts)
    # head: the most popular items holding the first 20% (item 0 alone holds 50%); tail: the least
    # popular holding the last 20% (0 + 2 + 3 + 5 + 10 = 20), and the never-seen item.
    assert buckets.tolist() == [0, 1, 2, 2, 2, 2, 2]
    summary = bucket_summary(counts, buckets)
    assert summary["head"] == {"items": 1, "interaction_share": 0.5, "min_count": 50, "max_count": 50}
    assert summary["tail"]["interaction_share"] == pytest.approx(0.2) and summary["tail"]["items"] == 5
    assert "head 1 items with 50-50 training interactions (50% of them)" in bucket_line(summary)
    # Ties never split across buckets: equally popular items share one.
    tied = popularity_buckets(np.array([10, 10, 10, 10, 1, 1]))
    assert len(set(tied[:4].tolist())) == 1 and tied[4] == tied[5] == 2
    assert popularity_buckets(np.zeros(3, dtype=int)).tolist() == [2, 2, 2]


def test_bucket_metrics_split_ndcg_by_the_target_bucket():
    buckets = np.array([0, 1, 2, 2])
    ranks = np.array([1, 3, 20, 1])
    targets = np.array([0, 1, 2, 3])
    m = bucket_metrics(ranks, targets, buckets)
    assert m["NDCG@10 head"] == 1.0 and m["users head"] == 1
    assert m["NDCG@10 torso"] == pytest.approx(0.5)
    assert m["NDCG@10 tail"] == pytest.approx(0.5) and m["users tail"] == 2
    assert np.isnan(bucket_metrics(ranks[:1], targets[:1], buckets)["NDCG@10 tail"])


def test_evaluate_reports_ndcg_per_popularity_bucket(tiny):
    split = leave_one_out(tiny.dataset.interactions, tiny.catalog)
    popularity = Popularity(tiny.catalog)
    popularity.fit(split)
    test = evaluate(popularity, split)["test"]
    assert sum(test[f"users {b}"] for b in ("head", "torso", "tail")) == test["users"]
    assert {"NDCG@10 head", "NDCG@10 torso", "NDCG@10 tail"} <= set(test)


def test_paired_bootstrap():
    a = np.array([0.5, 0.0, 1.0, 0.2])
    assert paired_bootstrap(a, a) == {"gain": 0.0, "low": 0.0, "high": 0.0}
    shifted = paired_bootstrap(a + 0.1, a)
    assert shifted["gain"] == pytest.approx(0.1) and shifted["low"] == pytest.approx(0.1)
    noisy = paired_bootstrap(np.array([1.0, 0.0, 1.0, 0.0]), np.array([0.0, 1.0, 0.0, 0.5]))
    assert noisy["low"] < noisy["gain"] < noisy["high"]
    assert paired_interval([], 0.5, "zscore") == {"gain": 0.0, "low": 0.0, "high": 0.0}


@pytest.fixture
def cold(tiny):
    split = leave_one_out(tiny.dataset.interactions, tiny.catalog)
    return split, cold_split(split, 0.25, seed=1)


def test_the_cold_split_never_trains_on_held_out_items(tiny, cold):
    split, c = cold
    held = set(c.held_out.tolist())
    assert len(held) == 3 and c.fraction == 0.25
    # No held-out item in any training sequence or validation target, so in no history either.
    for seq in c.split.train:
        assert not held & set(seq.tolist())
    assert not held & set(c.split.valid[c.split.valid >= 0].tolist())
    for u in c.split.evaluated_users("test"):
        assert not held & set(c.split.history(int(u), "test").tolist())
    # Evaluated: exactly the users whose test target is held out, with that target.
    cold_users = [u for u, t in enumerate(split.test) if t in held]
    assert cold_users and c.split.evaluated_users("test").tolist() == cold_users
    assert (c.split.test[cold_users] == split.test[cold_users]).all()
    # The warm split (what the scorer trains on) has no row for a held-out item at all.
    assert set(c.warm.item_ids) == {i for k, i in enumerate(split.item_ids) if k not in held}
    assert c.warm.n_items == split.n_items - 3
    for warm_seq, seq in zip(c.warm.train, c.split.train):
        assert [c.warm.item_ids[i] for i in warm_seq] == [split.item_ids[i] for i in seq]
    # Every other interaction is kept.
    kept = sum(len(s) for s in c.split.train)
    assert kept == sum(len(s) for s in split.train) - int(split.train_counts()[c.held_out].sum())
    # Popularity and item-kNN fitted on it know nothing of a held-out item.
    popularity, knn = Popularity(tiny.catalog), ItemKNN(tiny.catalog)
    popularity.fit(c.split)
    knn.fit(c.split)
    assert (popularity.counts[c.held_out] == 0).all()
    assert (knn.similarity[c.held_out] == 0).all() and (knn.similarity[:, c.held_out] == 0).all()
    # Seeded: the same seed holds out the same items.
    assert cold_split(split, 0.25, seed=1).held_out.tolist() == c.held_out.tolist()
    with pytest.raises(ValueError, match="fraction"):
        cold_split(split, 1.5)


def test_the_cold_scorer_sees_no_held_out_item_and_scores_them_from_text(tiny, tiny_index, cold, monkeypatch):
    split, c = cold
    vectors = item_text_vectors(tiny.catalog, tiny_index)
    seen = {}
    real_train = recchat.scorer.train

    def spy(train_split, text_vectors, *args, **kwargs):
        seen["split"], seen["text"] = train_split, text_vectors
        return real_train(train_split, text_vectors, *args, **kwargs)

    monkeypatch.setattr(recchat.scorer, "train", spy)
    ranker = train_cold_scorer(c, vectors, tiny.catalog, ScorerConfig(**TINY), progress=False)
    held_ids = {split.item_ids[i] for i in c.held_out}
    assert not held_ids & set(seen["split"].item_ids)
    assert np.array_equal(seen["text"], vectors[c.warm_items])
    assert ranker.scorer.model.id_embedding.weight.shape[0] == c.warm.n_items + 1  # no id row for them
    # Held-out items: the item tower's text part alone; warm items: the trained vectors.
    assert np.allclose(ranker.vectors[c.held_out], text_only_vectors(ranker.scorer, vectors[c.held_out]))
    assert np.allclose(ranker.vectors[c.warm_items], ranker.scorer.item_vectors())
    scores = ranker.score_histories([c.split.history(int(u), "test") for u in c.split.evaluated_users("test")])
    assert scores.shape == (len(c.split.evaluated_users("test")), split.n_items) and np.isfinite(scores).all()


def test_cold_item_results_for_every_method(tiny, tiny_index, cold):
    split, _ = cold
    results, info = cold_item_results(
        split,
        tiny.catalog,
        tiny_index,
        ["popularity", "item-knn", "text", "scorer"],
        fraction=0.25,
        seed=1,
        scorer_config=ScorerConfig(**TINY),
        progress=False,
    )
    assert info["held_out_items"] == 3 and info["cold_users"] == results[0]["test"]["users"] > 0
    assert [r["method"] for r in results] == ["popularity", "item-knn", "text", "scorer"]
    assert all(0.0 <= r["test"]["NDCG@10"] <= 1.0 for r in results)
    assert info["scorer"]["text_encoder"] == "minilm" and info["scorer"]["epochs"] >= 1


def test_eval_cold_items_from_the_command_line(tmp_path, capsys):
    from fakes import tiny_config

    from recchat.cli import build_parser

    argv = ["eval", "--cold-items", "0.25", "--cold-seed", "1", "--methods", "popularity,item-knn"]
    args = build_parser().parse_args([*argv, "--out", str(tmp_path / "runs")])
    args.config = tiny_config(tmp_path / "tiny")  # the options' Builder takes a configuration table too
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "cold items: 3 of 12 items held out (seed 1)" in out and "| popularity |" in out
    folder = next((tmp_path / "runs").iterdir())
    assert '"held_out_items": 3' in (folder / "results.json").read_text()
    train = build_parser().parse_args(["train", "--text-encoder", "minilm+smollm2-mean"])
    assert train.text_encoder == "minilm+smollm2-mean"


def test_the_ways_of_scoring_held_out_items(tiny, tiny_index, cold):
    from recchat.evaluation.cold import TextOnlyColdItems

    _, c = cold
    vectors = item_text_vectors(tiny.catalog, tiny_index)
    base = train_cold_scorer(c, vectors, tiny.catalog, ScorerConfig(**TINY), progress=False)
    text_part = text_only_vectors(base.scorer, vectors)
    mean_id = TextOnlyColdItems(base.scorer, c, vectors, vectors="text+mean-id")
    ids = base.scorer.item_vectors() - text_part[c.warm_items]
    assert np.allclose(mean_id.vectors[c.held_out], text_part[c.held_out] + ids.mean(axis=0), atol=1e-6)
    assert np.allclose(mean_id.vectors[c.warm_items], base.vectors[c.warm_items])
    assert np.allclose(TextOnlyColdItems(base.scorer, c, vectors, vectors="text-all").vectors, text_part)
    with pytest.raises(ValueError, match="vectors"):
        TextOnlyColdItems(base.scorer, c, vectors, vectors="ids")
