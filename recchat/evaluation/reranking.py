"""Evaluating the LLM reranker and the blend: the scorer's top candidates scored by the LLM once
per user (:func:`rerank_records`), then any blend measured on them, with how many users really
were reranked (:func:`degradation`), a paired bootstrap interval, and the blend tuned on validation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TypedDict

import numpy as np

from recchat.data.split import Split
from recchat.evaluation.cold import paired_bootstrap
from recchat.evaluation.protocol import rank_metrics

if TYPE_CHECKING:
    from recchat.data.catalog import Catalog
    from recchat.rerank import ItemReranker


class HistoryScorer(Protocol):
    """What reranking needs of the scorer: every catalog item's score for each history."""

    def score_histories(self, histories: Sequence[np.ndarray]) -> np.ndarray: ...


class Degradation(TypedDict):
    """How many users the LLM reranked, skipped and left to the scorer (:func:`degradation`)."""

    users: int
    reranked_users: int
    skipped_users: int
    degraded_users: int
    first_error: str | None
    llm_unreliable: bool


class RerankMetrics(TypedDict):
    """Blend metrics over all users and over users whose target is a candidate (:func:`rerank_metrics`)."""

    all: dict[str, float]
    in_candidates: dict[str, float]
    users: int
    users_in_candidates: int
    degraded_users: int
    reranked_users: int


# One point of the blend grid: alpha, norm and its validation NDCG@10 and HR@10.
BlendPoint = TypedDict("BlendPoint", {"alpha": float, "norm": str, "NDCG@10": float, "HR@10": float})


@dataclass
class RerankRecord:
    """One user's reranking inputs: candidate indices, their scorer and LLM scores, the target."""

    user: int
    candidates: np.ndarray
    prior: np.ndarray
    llm: np.ndarray
    target_position: int  # position of the target among the candidates, -1 when absent
    degraded: bool = False
    error: str | None = None  # why the LLM failed for this user, when degraded
    skipped: bool = False  # not sent to the LLM: the target is not a candidate (a miss in any order)


def rerank_records(
    split: Split,
    scorer: HistoryScorer,
    reranker: ItemReranker,
    catalog: Catalog,
    stage: str,
    users: Sequence[int] | None = None,
    k: int = 20,
    progress: bool = True,
    skip_misses: bool = False,
) -> list[RerankRecord]:
    """Score the scorer's top-``k`` with the LLM for each user (the expensive part, done once).

    A user for whom the LLM fails keeps the scorer's scores as LLM scores and is marked
    degraded with the error, so the metrics count the failure instead of hiding the user, and
    :func:`degradation` can say how many users were really reranked.

    ``skip_misses`` does not send users whose target is not among the candidates to the LLM: the
    target is a miss there in any order, so every metric of the rerank and of any blend is exactly
    what it would be with the LLM's scores, at a fraction of the cost (most users' targets are
    not among the candidates).
    """
    from tqdm.auto import tqdm

    from recchat.types import Candidate

    users = list(split.evaluated_users(stage) if users is None else users)
    targets = split.valid if stage == "valid" else split.test
    records: list[RerankRecord] = []
    for u in tqdm(users, desc=f"LLM reranking ({stage})", unit="user", disable=not progress):
        history = split.history(u, stage)
        scores = scorer.score_histories([history])[0].astype(np.float64)
        scores[history] = -np.inf
        top = np.argsort(-scores, kind="stable")[:k]
        items = [catalog[split.item_ids[i]] for i in top]
        cands = [Candidate(it, float(scores[i]), "scorer", {"scorer": float(scores[i])}) for it, i in zip(items, top)]
        ratings = [None if np.isnan(r) else float(r) for r in split.history_ratings(u, stage)]
        hist_items = [catalog[split.item_ids[i]] for i in history]
        error = None
        hits = np.flatnonzero(top == targets[u])
        skipped = skip_misses and not len(hits)
        if skipped:
            llm = list(scores[top])
        else:
            try:
                llm, _ = reranker.scores(hist_items, cands, ratings=ratings)
            except Exception as exc:  # counted and reported by degradation(), never hidden
                llm, error = list(scores[top]), f"{type(exc).__name__}: {exc}"
        records.append(
            RerankRecord(
                int(u),
                top,
                scores[top],
                np.asarray(llm, dtype=np.float64),
                int(hits[0]) if len(hits) else -1,
                error is not None,
                error,
                skipped,
            )
        )
    return records


def degradation(records: Sequence[RerankRecord]) -> Degradation:
    """How many users the LLM really reranked, how many fell back to the scorer, and why.

    ``llm_unreliable`` is true when most users fell back: LLM and blend figures from such a run
    describe the scorer, not the LLM, and are not to be reported as the LLM's.
    """
    degraded = [r for r in records if r.degraded]
    skipped = sum(r.skipped for r in records)
    sent = len(records) - skipped
    first = next((r.error for r in degraded if r.error), None)
    return {
        "users": len(records),
        "reranked_users": sent - len(degraded),
        "skipped_users": skipped,
        "degraded_users": len(degraded),
        "first_error": first,
        "llm_unreliable": bool(sent) and 2 * len(degraded) > sent,
    }


def degradation_line(info: Degradation) -> str:
    """One sentence for a table or a terminal: reranked and degraded users, and the first error."""
    line = f"LLM reranked {info['reranked_users']} of {info['users']} users"
    if info.get("skipped_users"):
        line += (
            f" ({info['skipped_users']} not sent: their target is not a candidate, a miss in any order, "
            "so their figures are exact without the LLM)"
        )
    line += f"; {info['degraded_users']} degraded"
    if info["degraded_users"]:
        line += f" to the scorer (first error: {info['first_error']})"
    if info["llm_unreliable"]:
        line += ". Most users degraded: the LLM and blend rows are not the LLM's and are not reported"
    return line + "."


def _blend_ranks(records: Sequence[RerankRecord], alpha: float, norm: str) -> np.ndarray:
    from recchat.blend import blend_scores

    ranks = []
    for r in records:
        if r.target_position < 0:
            ranks.append(np.inf)
            continue
        final = blend_scores(r.llm.tolist(), r.prior.tolist(), alpha, norm)
        t = final[r.target_position]
        ranks.append(1 + int((np.delete(final, r.target_position) >= t).sum()))
    return np.asarray(ranks, dtype=np.float64)


def rerank_metrics(records: Sequence[RerankRecord], alpha: float, norm: str) -> RerankMetrics:
    """Metrics of blended scores over the candidates: all users, and users whose target is a candidate.

    A target outside the candidates counts as a miss. Ties count against the target.
    """
    ranks_arr = _blend_ranks(records, alpha, norm)
    inside = np.isfinite(ranks_arr)
    info = degradation(records)
    return {
        "all": rank_metrics(ranks_arr),
        "in_candidates": rank_metrics(ranks_arr[inside]),
        "users": int(len(records)),
        "users_in_candidates": int(inside.sum()),
        "degraded_users": info["degraded_users"],
        "reranked_users": info["reranked_users"],
    }


def _ndcg10(ranks: np.ndarray) -> np.ndarray:
    return np.where(ranks <= 10, 1.0 / np.log2(ranks + 1), 0.0)


def paired_interval(
    records: Sequence[RerankRecord],
    alpha: float,
    norm: str,
    *,
    resamples: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, float]:
    """Mean per-user NDCG@10 gain of the blend over the scorer alone, with a paired bootstrap
    interval (users resampled with replacement; the same resample for both)."""
    return paired_bootstrap(
        _ndcg10(_blend_ranks(records, alpha, norm)),
        _ndcg10(_blend_ranks(records, 0.0, norm)),
        resamples=resamples,
        seed=seed,
        level=level,
    )


def tune_blend(
    records: Sequence[RerankRecord],
    alphas: Sequence[float] = tuple(np.round(np.linspace(0, 1, 11), 2)),
    norms: Sequence[str] = ("zscore", "softmax", "rank"),
    *,
    confidence: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
) -> tuple[float, str, list[BlendPoint], dict[str, float]]:
    """The (alpha, norm) with the best validation NDCG@10, kept only if its gain is real.

    The best blend must beat the scorer alone (alpha 0) in at least ``confidence`` of paired
    bootstrap resamples of the users; otherwise alpha 0 is chosen. A gain inside the noise is not
    a reason to pay for the LLM, and it does not survive to the test split.
    """
    grid: list[BlendPoint] = []
    for norm in norms:
        for alpha in alphas:
            m = rerank_metrics(records, float(alpha), norm)
            grid.append(
                {"alpha": float(alpha), "norm": norm, "NDCG@10": m["all"]["NDCG@10"], "HR@10": m["all"]["HR@10"]}
            )
    best = max(grid, key=lambda g: (round(g["NDCG@10"], 12), -g["alpha"]))
    gain = _ndcg10(_blend_ranks(records, best["alpha"], best["norm"])) - _ndcg10(
        _blend_ranks(records, 0.0, best["norm"])
    )
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(gain), (resamples, len(gain))) if len(gain) else np.zeros((0, 0), dtype=int)
    share = float((gain[picks].mean(axis=1) > 0).mean()) if len(gain) else 0.0
    evidence = {
        "best_alpha": best["alpha"],
        "best_norm_gain": float(gain.mean()) if len(gain) else 0.0,
        "bootstrap_share_better": share,
    }
    if best["alpha"] > 0 and share < confidence:
        return 0.0, best["norm"], grid, evidence
    return best["alpha"], best["norm"], grid, evidence
