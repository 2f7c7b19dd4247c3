"""The offline evaluation protocol: leave-one-out by time, full ranking, pessimistic ties.

Every ranking stage (baselines, the trained scorer, later the LLM reranker and the blend) is
measured here through one interface, :class:`Ranker`: given users' histories it scores every
item in the catalog. The protocol is fixed so that numbers from different runs mean the same:

- Each user's interactions are ordered by timestamp, equal timestamps kept in file order (a
  stable sort). The last is the test target, the one before it the validation target, the rest
  train. Users with fewer than three interactions are train-only.
- Ranking is over ALL catalog items. The user's earlier items are masked (train items for
  validation; train and validation items for test); there are no sampled negatives.
- A target's rank is 1 + the number of other unmasked items scoring greater than or equal to it
  (pessimistic), so a constant score earns nothing.
- NDCG@10 is also split by the target's training popularity (head, torso, tail: see
  :mod:`recchat.evaluation.cold`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from recchat.data.split import Split
from recchat.evaluation.cold import bucket_metrics, popularity_buckets

CUTOFFS = (10, 20)


@runtime_checkable
class Ranker(Protocol):
    """Anything that scores every catalog item for a batch of histories (item indices)."""

    name: str

    def fit(self, split: Split) -> None: ...

    def score_histories(self, histories: Sequence[np.ndarray]) -> np.ndarray: ...


def pessimistic_ranks(scores: np.ndarray, targets: np.ndarray, masks: Sequence[np.ndarray]) -> np.ndarray:
    """1 + the number of other unmasked items scoring >= the target, per row.

    ``masks[r]`` are item indices excluded for row ``r`` (the target itself never is).
    """
    scores = np.array(scores, dtype=np.float64, copy=True)
    if np.isnan(scores).any():
        raise ValueError("a ranker returned NaN scores")
    rows = np.arange(len(targets))
    target_scores = scores[rows, targets]
    for r, mask in enumerate(masks):
        if len(mask):
            scores[r, mask] = -np.inf
    scores[rows, targets] = -np.inf  # the target does not count against itself
    return 1 + (scores >= target_scores[:, None]).sum(axis=1)


def rank_metrics(ranks: np.ndarray, cutoffs: Sequence[int] = CUTOFFS) -> dict[str, float]:
    """NDCG, HR (= Recall with one target), MRR, Precision and F1 at each cutoff."""
    ranks = np.asarray(ranks, dtype=np.float64)
    out: dict[str, float] = {}
    for k in cutoffs:
        hit = ranks <= k
        hr = float(hit.mean()) if len(ranks) else 0.0
        precision = hr / k
        out[f"NDCG@{k}"] = float(np.where(hit, 1.0 / np.log2(ranks + 1), 0.0).mean()) if len(ranks) else 0.0
        out[f"HR@{k}"] = hr
        out[f"Recall@{k}"] = hr
        out[f"MRR@{k}"] = float(np.where(hit, 1.0 / ranks, 0.0).mean()) if len(ranks) else 0.0
        out[f"Precision@{k}"] = precision
        out[f"F1@{k}"] = 2 * precision * hr / (precision + hr) if hr > 0 else 0.0
    return out


def _top_k(scores: np.ndarray, masks: Sequence[np.ndarray], k: int) -> np.ndarray:
    scores = np.array(scores, dtype=np.float64, copy=True)
    for r, mask in enumerate(masks):
        if len(mask):
            scores[r, mask] = -np.inf
    k = min(k, scores.shape[1])
    top = (
        np.argpartition(-scores, k - 1, axis=1)[:, :k]
        if k < scores.shape[1]
        else np.tile(np.arange(k), (len(scores), 1))
    )
    order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1, kind="stable")
    return np.take_along_axis(top, order, axis=1)


def _calibrated_mae(
    valid_scores: np.ndarray,
    valid_ratings: np.ndarray,
    test_scores: np.ndarray,
    test_ratings: np.ndarray,
    bins: int = 10,
) -> float:
    """MAE of ratings predicted from scores by a mapping fitted on validation targets.

    The mapping is monotone by construction: scores are cut at validation quantiles and each bin
    predicts its mean validation rating (then made non-decreasing), so it needs no rating head.
    """
    ok_v, ok_t = ~np.isnan(valid_ratings), ~np.isnan(test_ratings)
    if ok_v.sum() < bins or not ok_t.any():
        return math.nan
    vs, vr = valid_scores[ok_v], valid_ratings[ok_v]
    edges = np.unique(np.quantile(vs, np.linspace(0, 1, bins + 1)[1:-1]))
    means = np.array(
        [
            vr[np.digitize(vs, edges) == b].mean() if (np.digitize(vs, edges) == b).any() else vr.mean()
            for b in range(len(edges) + 1)
        ]
    )
    means = np.maximum.accumulate(means)
    predicted = means[np.digitize(test_scores[ok_t], edges)]
    return float(np.abs(predicted - test_ratings[ok_t]).mean())


@dataclass
class StageResult:
    ranks: np.ndarray
    target_scores: np.ndarray
    top: np.ndarray  # top-max(cutoffs) list per user


def run_stage(ranker: Ranker, split: Split, stage: str, batch: int = 256, max_k: int = max(CUTOFFS)) -> StageResult:
    users = split.evaluated_users(stage)
    targets_all = split.valid if stage == "valid" else split.test
    ranks, target_scores, tops = [], [], []
    for start in range(0, len(users), batch):
        chunk = users[start : start + batch]
        histories = [split.history(u, stage) for u in chunk]
        targets = targets_all[chunk]
        masks = [h[h != t] for h, t in zip(histories, targets)]
        scores = np.asarray(ranker.score_histories(histories), dtype=np.float64)
        if scores.shape != (len(chunk), split.n_items):
            raise ValueError(
                f"{ranker.name} returned scores of shape {scores.shape}, expected {(len(chunk), split.n_items)}"
            )
        ranks.append(pessimistic_ranks(scores, targets, masks))
        target_scores.append(scores[np.arange(len(chunk)), targets])
        tops.append(_top_k(scores, masks, max_k))
    empty = np.zeros(0)
    return StageResult(
        np.concatenate(ranks) if ranks else empty,
        np.concatenate(target_scores) if target_scores else empty,
        np.concatenate(tops) if tops else np.zeros((0, max_k), dtype=np.int64),
    )


def evaluate(ranker: Ranker, split: Split, stages: Sequence[str] = ("valid", "test")) -> dict[str, Any]:
    """All metrics of ``ranker`` on ``split``: per stage, ranking metrics, coverage, popularity, MAE."""
    counts = split.train_counts()
    buckets = popularity_buckets(counts)
    out: dict[str, Any] = {"method": ranker.name}
    results = {stage: run_stage(ranker, split, stage) for stage in stages}
    for stage, res in results.items():
        metrics = rank_metrics(res.ranks)
        for k in CUTOFFS:
            recommended = res.top[:, :k]
            metrics[f"Coverage@{k}"] = float(len(np.unique(recommended)) / split.n_items)
            metrics[f"MeanPop@{k}"] = float(counts[recommended].mean()) if recommended.size else 0.0
        metrics["users"] = int(len(res.ranks))
        targets = (split.valid if stage == "valid" else split.test)[split.evaluated_users(stage)]
        metrics.update(bucket_metrics(res.ranks, targets, buckets))
        out[stage] = metrics
    if "valid" in results and "test" in results and split.valid_rating is not None and split.test_rating is not None:
        vu, tu = split.evaluated_users("valid"), split.evaluated_users("test")
        out["test"]["MAE (calibrated)"] = _calibrated_mae(
            results["valid"].target_scores, split.valid_rating[vu], results["test"].target_scores, split.test_rating[tu]
        )
    return out
