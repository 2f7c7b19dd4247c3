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
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from recchat.data.split import Split
from recchat.files import new_folder

CUTOFFS = (10, 20)


@runtime_checkable
class Ranker(Protocol):
    """Anything that scores every catalog item for a batch of histories (item indices)."""

    name: str

    def fit(self, split: Split) -> None: ...

    def score_histories(self, histories: Sequence[np.ndarray]) -> np.ndarray: ...


# --------------------------------------------------------------------------- metrics


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
    out: dict[str, Any] = {"method": ranker.name}
    results = {stage: run_stage(ranker, split, stage) for stage in stages}
    for stage, res in results.items():
        metrics = rank_metrics(res.ranks)
        for k in CUTOFFS:
            recommended = res.top[:, :k]
            metrics[f"Coverage@{k}"] = float(len(np.unique(recommended)) / split.n_items)
            metrics[f"MeanPop@{k}"] = float(counts[recommended].mean()) if recommended.size else 0.0
        metrics["users"] = int(len(res.ranks))
        out[stage] = metrics
    if "valid" in results and "test" in results and split.valid_rating is not None:
        vu, tu = split.evaluated_users("valid"), split.evaluated_users("test")
        out["test"]["MAE (calibrated)"] = _calibrated_mae(
            results["valid"].target_scores, split.valid_rating[vu], results["test"].target_scores, split.test_rating[tu]
        )
    return out


# --------------------------------------------------------------------------- reports

REPORT_METRICS = (
    "users",
    "NDCG@10",
    "HR@10",
    "MRR@10",
    "NDCG@20",
    "HR@20",
    "Precision@10",
    "F1@10",
    "Coverage@10",
    "MeanPop@10",
    "MAE (calibrated)",
    "NDCG@10 (target in candidates)",
    "HR@10 (target in candidates)",
    "NDCG@10 gain over scorer",
    "gain 95% CI",
)


def markdown_table(results: list[dict[str, Any]], stage: str = "test") -> str:
    cols = [m for m in REPORT_METRICS if any(m in r.get(stage, {}) for r in results)]
    lines = ["| method | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for r in results:
        if r.get(stage, {}).get("withheld"):
            lines.append(
                f"| {r['method']} | "
                + " | ".join(str(r[stage].get(m, "")) if m == "users" else "withheld" for m in cols)
                + " |"
            )
            continue
        cells = []
        for m in cols:
            v = r.get(stage, {}).get(m, math.nan)
            cells.append(
                "n/a"
                if isinstance(v, float) and math.isnan(v)
                else str(v)
                if m in ("users", "gain 95% CI")
                else f"{v:.1f}"
                if m.startswith("MeanPop")
                else f"{v:.4f}"
            )
        lines.append(f"| {r['method']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_report(results: list[dict[str, Any]], config: dict[str, Any], root: Path | str = "runs") -> Path:
    """Write results.json, results.md and chart.png under ``root/eval-<date>-<config hash>``; the
    folder appears complete or, if the run is killed while writing, not at all."""
    digest = hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:8]
    folder = Path(root) / f"eval-{time.strftime('%Y%m%d-%H%M%S')}-{digest}"
    md = [
        f"# Evaluation: {config.get('dataset', '')}",
        "",
        "Protocol: leave-one-out by timestamp (ties in file order), full ranking over all items, "
        "earlier items masked, pessimistic ties.",
        "",
        f"## Test ({results[0]['test']['users'] if results else 0} users)",
        "",
        *([f"**{config['rerank']['degradation_line']}**", ""] if config.get("rerank") else []),
        markdown_table(results, "test"),
        "",
        "## Validation",
        "",
        markdown_table(results, "valid"),
        "",
        "```json",
        json.dumps(config, indent=2, default=str),
        "```",
        "",
    ]
    with new_folder(folder) as tmp:
        (tmp / "results.json").write_text(json.dumps({"config": config, "results": results}, indent=2, default=str))
        (tmp / "results.md").write_text("\n".join(md))
        _chart(results, tmp / "chart.png")
    return folder


def _chart(results: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = ["NDCG@10", "HR@10", "MRR@10", "NDCG@20", "HR@20"]
    fig, ax = plt.subplots(figsize=(9, 4.5))
    width = 0.8 / max(1, len(results))
    for j, r in enumerate(results):
        values = [r["test"].get(m, 0.0) for m in metrics]
        xs = [i + j * width for i in range(len(metrics))]
        bars = ax.bar(xs, values, width, label=r["method"])
        ax.bar_label(bars, fmt="%.3f", fontsize=7, rotation=90, padding=2)
    ax.set_xticks([i + width * (len(results) - 1) / 2 for i in range(len(metrics))], metrics)
    ax.set_ylabel("test")
    ax.set_title("Leave-one-out, full ranking (test)")
    ax.legend(fontsize=8)
    ax.margins(y=0.15)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# --------------------------------------------------------------------------- reranking


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
    scorer: Any,
    reranker: Any,
    catalog: Any,
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
    what it would be with the LLM's scores, at a fraction of the cost (about 3 in 10 MovieLens
    test users have their target in the scorer's top 20).
    """
    from tqdm.auto import tqdm

    from recchat.types import Candidate

    users = list(split.evaluated_users(stage) if users is None else users)
    targets = split.valid if stage == "valid" else split.test
    records = []
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


def degradation(records: Sequence[RerankRecord]) -> dict[str, Any]:
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


def degradation_line(info: dict[str, Any]) -> str:
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
        final = blend_scores(r.llm, r.prior, alpha, norm)
        t = final[r.target_position]
        ranks.append(1 + int((np.delete(final, r.target_position) >= t).sum()))
    return np.asarray(ranks, dtype=np.float64)


def rerank_metrics(records: Sequence[RerankRecord], alpha: float, norm: str) -> dict[str, Any]:
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
    gain = _ndcg10(_blend_ranks(records, alpha, norm)) - _ndcg10(_blend_ranks(records, 0.0, norm))
    if not len(gain):
        return {"gain": 0.0, "low": 0.0, "high": 0.0}
    rng = np.random.default_rng(seed)
    means = gain[rng.integers(0, len(gain), (resamples, len(gain)))].mean(axis=1)
    tail = (1 - level) / 2
    return {
        "gain": float(gain.mean()),
        "low": float(np.quantile(means, tail)),
        "high": float(np.quantile(means, 1 - tail)),
    }


def tune_blend(
    records: Sequence[RerankRecord],
    alphas: Sequence[float] = tuple(np.round(np.linspace(0, 1, 11), 2)),
    norms: Sequence[str] = ("zscore", "softmax", "rank"),
    *,
    confidence: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
) -> tuple[float, str, list[dict[str, Any]], dict[str, float]]:
    """The (alpha, norm) with the best validation NDCG@10, kept only if its gain is real.

    The best blend must beat the scorer alone (alpha 0) in at least ``confidence`` of paired
    bootstrap resamples of the users; otherwise alpha 0 is chosen. A gain inside the noise is not
    a reason to pay for the LLM, and it does not survive to the test split.
    """
    grid = []
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
