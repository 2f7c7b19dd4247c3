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
    counts = c.warm.train_counts()
    weighted = TextOnlyColdItems(base.scorer, c, vectors, vectors="text+interaction-mean-id")
    assert np.allclose(weighted.vectors[c.held_out], text_part[c.held_out] + counts @ ids / counts.sum(), atol=1e-5)
    with pytest.raises(ValueError, match="vectors"):
        TextOnlyColdItems(base.scorer, c, vectors, vectors="ids")


def _linear_items(n: int = 120, d: int = 12, dim: int = 4, seed: int = 0):
    """Text vectors and id embeddings that are an exact affine function of them."""
    rng = np.random.default_rng(seed)
    text = rng.normal(size=(n, d))
    weights, bias = rng.normal(size=(d, dim)), rng.normal(size=dim)
    return text, text @ weights + bias


def test_the_mapped_id_part_reproduces_an_exact_linear_map_and_only_learns_from_known_items():
    from recchat.evaluation.cold_ids import guess_id_part

    text, ids = _linear_items()
    known, new = slice(0, 100), slice(100, None)
    guess = guess_id_part(text[known], ids[known], text[new], "mapped")
    assert np.allclose(guess.vectors, ids[new], atol=0.02)  # intercept included, not transposed
    assert guess.choice == min(guess.errors) and len(guess.errors) > 1  # the weakest penalty wins here
    # A new item never influences the fit: changing one leaves the others' guesses as they were.
    moved = text[new].copy()
    moved[0] += 5.0
    again = guess_id_part(text[known], ids[known], moved, "mapped")
    assert np.array_equal(again.vectors[1:], guess.vectors[1:]) and not np.allclose(again.vectors[0], guess.vectors[0])
    # Known items without text are left out of the fit.
    blank = text[known].copy()
    blank[:5] = 0.0
    skipped = guess_id_part(blank, np.where(np.arange(100)[:, None] < 5, 99.0, ids[known]), text[new], "mapped")
    assert np.allclose(skipped.vectors, ids[new], atol=0.02)
    with pytest.raises(ValueError, match="how must be one of"):
        guess_id_part(text[known], ids[known], text[new], "ridge")
    assert guess_id_part(text[known], ids[known], text[new], "none").vectors.tolist() == [[0.0] * 4] * 20


def test_the_knn_id_part_averages_the_nearest_known_items():
    from recchat.evaluation.cold_ids import guess_id_part

    rng = np.random.default_rng(1)
    centres, codes = rng.normal(size=(4, 16)) * 5, rng.normal(size=(4, 3))
    cluster = np.arange(80) % 4
    text = centres[cluster] + rng.normal(size=(80, 16)) * 0.1
    guess = guess_id_part(text[:60], codes[cluster[:60]], text[60:], "knn")
    # Ids constant within a text cluster: any k up to the cluster size gives exactly the cluster's id.
    assert guess.choice is not None and guess.choice <= 10
    assert np.allclose(guess.vectors, codes[cluster[60:]], atol=1e-6)


def test_held_out_items_get_an_id_part_guessed_from_the_warm_items_alone(tiny, tiny_index, cold):
    from recchat.evaluation.cold import TextOnlyColdItems
    from recchat.evaluation.cold_ids import guess_id_part

    _, c = cold
    vectors = item_text_vectors(tiny.catalog, tiny_index)
    base = train_cold_scorer(c, vectors, tiny.catalog, ScorerConfig(**TINY), progress=False)
    text_part = text_only_vectors(base.scorer, vectors)
    ids = base.scorer.model.id_embedding.weight.detach().numpy()[1:]  # the warm items' learned ids
    for mode, how in (("mapped-id", "mapped"), ("knn-id", "knn")):
        ranker = TextOnlyColdItems(base.scorer, c, vectors, vectors=mode)
        expected = text_part[c.held_out] + guess_id_part(vectors[c.warm_items], ids, vectors[c.held_out], how).vectors
        assert np.allclose(ranker.vectors[c.held_out], expected, atol=1e-5), mode
        assert np.allclose(ranker.vectors[c.warm_items], base.vectors[c.warm_items])
        assert ranker.guess is not None and ranker.guess.how == how
    # The held-out items' text is only read to place them: another held-out text moves only its own row.
    other = vectors.copy()
    other[c.held_out[0]] = vectors[c.warm_items[0]]
    moved = TextOnlyColdItems(base.scorer, c, other, vectors="mapped-id").vectors
    same = TextOnlyColdItems(base.scorer, c, vectors, vectors="mapped-id").vectors
    assert np.allclose(moved[c.held_out[1:]], same[c.held_out[1:]], atol=1e-6)
    assert np.allclose(moved[c.warm_items], same[c.warm_items])


def test_the_offset_raises_only_the_new_items_and_is_tuned_without_held_out_items(tiny, tiny_index, cold):
    from recchat.evaluation.cold import TextOnlyColdItems, offset_scores
    from recchat.evaluation.cold_run import tune_offset

    _, c = cold
    users, table = np.array([[1.0, 0.0], [0.0, 2.0]]), np.array([[1.0, 0.0], [0.0, 1.0], [3.0, 3.0], [-1.0, 1.0]])
    raised = offset_scores(users, table, np.array([2]), 0.5)
    plain = users @ table.T
    assert np.array_equal(raised[:, [0, 1, 3]], plain[:, [0, 1, 3]])
    assert np.allclose(raised[:, 2], plain[:, 2] + 0.5 * plain[:, [0, 1, 3]].std(axis=1))
    vectors = item_text_vectors(tiny.catalog, tiny_index)
    base = train_cold_scorer(c, vectors, tiny.catalog, ScorerConfig(**TINY), progress=False)
    curves = tune_offset(base.scorer, c, vectors, "mapped-id", offsets=(0.0, 1.0))
    assert set(curves) == {"all", "cold", "warm"} and all(set(v) == {0.0, 1.0} for v in curves.values())
    other = vectors.copy()
    other[c.held_out] = vectors[c.warm_items[: len(c.held_out)]]  # the held-out items' text: never read
    assert tune_offset(base.scorer, c, other, "mapped-id", offsets=(0.0, 1.0)) == curves
    boosted = TextOnlyColdItems(base.scorer, c, vectors, offset=1.0)
    histories = [c.split.history(int(u), "test") for u in c.split.evaluated_users("test")]
    gap = boosted.score_histories(histories) - TextOnlyColdItems(base.scorer, c, vectors).score_histories(histories)
    assert np.allclose(gap[:, c.warm_items], 0.0) and (gap[:, c.held_out] >= 0).all()
