"""The evaluation protocol: metrics by hand, pessimistic ties, the split, and the protocol check
on the real MovieLens-100K (popularity and item-kNN figures from an independent implementation)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from recchat.data.catalog import Catalog, InteractionLog
from recchat.data.split import leave_one_out
from recchat.data.tables import LoadReport
from recchat.evaluation import evaluate, markdown_table, pessimistic_ranks, rank_metrics, write_report
from recchat.evaluation.baselines import ItemKNN, Popularity
from recchat.evaluation.protocol import _calibrated_mae
from recchat.types import Interaction, Item


@pytest.mark.fast
def test_rank_metrics_by_hand():
    m = rank_metrics(np.array([1, 3, 11, 25]))
    assert m["NDCG@10"] == pytest.approx((1 + 1 / math.log2(4)) / 4)
    assert m["HR@10"] == m["Recall@10"] == 0.5
    assert m["MRR@10"] == pytest.approx((1 + 1 / 3) / 4)
    assert m["Precision@10"] == pytest.approx(0.05)
    assert m["F1@10"] == pytest.approx(2 * 0.05 * 0.5 / 0.55)
    assert m["HR@20"] == 0.75
    assert m["NDCG@20"] == pytest.approx((1 + 0.5 + 1 / math.log2(12)) / 4)
    assert m["MRR@20"] == pytest.approx((1 + 1 / 3 + 1 / 11) / 4)


@pytest.mark.fast
def test_pessimistic_ties_and_masks():
    scores = np.array(
        [
            [0.5, 0.9, 0.5, 0.5, 0.1],  # target 0 tied with items 2 and 3
            [1.0, 1.0, 1.0, 1.0, 1.0],  # constant scores: last place
            [0.0, 0.9, 0.8, 0.7, 0.6],
        ]
    )  # target 4, items 1 and 2 masked
    ranks = pessimistic_ranks(scores, np.array([0, 2, 4]), [np.array([], int), np.array([0]), np.array([1, 2])])
    assert ranks.tolist() == [4, 4, 2]
    with pytest.raises(ValueError, match="NaN"):
        pessimistic_ranks(np.array([[np.nan, 1.0]]), np.array([1]), [np.array([], int)])


def tiny_log():
    items = Catalog([Item(str(i), f"item {i}", f"item {i}") for i in range(6)])
    events = [
        # user a: two events in the same second; file order decides (3 before 4)
        ("a", "0", 10),
        ("a", "1", 20),
        ("a", "3", 30),
        ("a", "4", 30),
        ("a", "2", 25),
        ("b", "5", 1),
        ("b", "0", 2),  # two events: train only
        ("c", "1", 5),
        ("c", "2", 6),
        ("c", "1", 7),  # a repeat as the test target
    ]
    log = InteractionLog([Interaction(u, i, 4.0, float(t)) for u, i, t in events], LoadReport(path=None))
    return items, log


@pytest.mark.fast
def test_leave_one_out_orders_by_time_then_file_order():
    catalog, log = tiny_log()
    split = leave_one_out(log, catalog)
    a, b, c = (split.users.index(u) for u in "abc")
    assert split.train[a].tolist() == [0, 1, 2] and split.valid[a] == 3 and split.test[a] == 4
    assert split.train[b].tolist() == [5, 0] and split.valid[b] == -1 and split.test[b] == -1
    assert split.history(a, "test").tolist() == [0, 1, 2, 3]
    assert set(split.evaluated_users("test")) == {a, c}
    for u in split.evaluated_users("test"):  # no leakage: the test target is not in training
        assert split.test[u] not in split.train[u] or split.users[u] == "c"


@pytest.mark.fast
def test_masking_keeps_a_repeated_target_rankable():
    catalog, log = tiny_log()
    split = leave_one_out(log, catalog)

    class Oracle:
        name = "oracle"

        def fit(self, split):
            pass

        def score_histories(self, histories):
            return np.tile(np.arange(6, dtype=float), (len(histories), 1))  # item 5 best

    res = evaluate(Oracle(), split, stages=("test",))
    # a: target 4, items 0..3 masked, only 5 beats it -> rank 2; c: target 1 (seen before,
    # never masked against itself), items 2..5 score higher, 2 is masked -> rank 4.
    assert res["test"]["HR@10"] == 1.0
    assert res["test"]["MRR@10"] == pytest.approx((1 / 2 + 1 / 4) / 2)


@pytest.mark.fast
def test_calibrated_mae_is_monotone_and_exact_on_a_clean_mapping():
    rng = np.random.default_rng(0)
    s = rng.normal(size=500)
    r = np.where(s > 0, 5.0, 1.0)
    assert _calibrated_mae(s, r, np.array([-2.0, 2.0]), np.array([1.0, 5.0])) == pytest.approx(0.0)


def test_protocol_check_on_movielens(movielens):
    """Popularity over training interactions must give NDCG@10 0.0432 / HR@10 0.0838, and item-kNN
    (cosine, last 20 items) 0.0687 / 0.1283, as an independent implementation measured."""
    split = leave_one_out(movielens.interactions, movielens.catalog)
    assert len(split.evaluated_users("test")) == 943
    pop = Popularity(movielens.catalog)
    pop.fit(split)
    res = evaluate(pop, split)["test"]
    assert (round(res["NDCG@10"], 4), round(res["HR@10"], 4)) == (0.0432, 0.0838)
    knn = ItemKNN(movielens.catalog)
    knn.fit(split)
    res = evaluate(knn, split)["test"]
    assert (round(res["NDCG@10"], 4), round(res["HR@10"], 4)) == (0.0687, 0.1283)
    assert 0 < res["Coverage@10"] <= 1 and res["MeanPop@10"] > 0 and 0 < res["MAE (calibrated)"] < 2


@pytest.mark.fast
def test_report_folder(tmp_path):
    results = [
        {
            "method": "a",
            "test": {"NDCG@10": 0.1, "HR@10": 0.2, "users": 3},
            "valid": {"NDCG@10": 0.1, "HR@10": 0.2, "users": 3},
        }
    ]
    folder = write_report(results, {"dataset": "tiny"}, tmp_path)
    assert folder.name.startswith("eval-") and folder.parent == tmp_path
    assert json.loads((folder / "results.json").read_text())["results"][0]["method"] == "a"
    assert "| a | 3 | 0.1000 | 0.2000 |" in (folder / "results.md").read_text()
    assert (folder / "chart.png").read_bytes()[:4] == b"\x89PNG"
    assert markdown_table(results).splitlines()[0] == "| method | users | NDCG@10 | HR@10 |"


def test_skipping_users_whose_target_is_not_a_candidate_changes_no_figure(movielens):
    """Users whose target is outside the candidates are a miss in any order: not sending them to
    the LLM gives exactly the same metrics for LLM-only and every blend, and they are counted."""
    from test_rerank import FakeBackend

    from recchat.data.catalog import InteractionLog
    from recchat.evaluation import degradation, degradation_line, rerank_metrics, rerank_records
    from recchat.rerank import Reranker

    log = InteractionLog([e for e in movielens.interactions if int(e.user) <= 150], None)
    split = leave_one_out(log, movielens.catalog)
    counts = split.train_counts().astype(float)

    class Popular:
        def score_histories(self, histories):
            return np.tile(counts, (len(histories), 1))

    reranker = Reranker(FakeBackend(favourite="199"), "listwise", kind="movie")
    full = rerank_records(split, Popular(), reranker, movielens.catalog, "test", progress=False)
    fast = rerank_records(split, Popular(), reranker, movielens.catalog, "test", progress=False, skip_misses=True)
    info = degradation(fast)
    assert 0 < info["skipped_users"] < len(fast) and info["reranked_users"] == len(fast) - info["skipped_users"]
    assert info["skipped_users"] == sum(r.target_position < 0 for r in full)
    for alpha in (0.0, 0.3, 1.0):
        for norm in ("zscore", "rank"):
            assert rerank_metrics(full, alpha, norm)["all"] == rerank_metrics(fast, alpha, norm)["all"]
    assert "not sent: their target is not a candidate" in degradation_line(info)
