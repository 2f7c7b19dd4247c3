"""The cold-item evaluation run (``recchat eval --cold-items``, ``bench/encoders.py``): every method
fitted on a :func:`~recchat.evaluation.cold.cold_split`, the scorer trained on the warm items only,
all evaluated on the users whose test target is a held-out item (protocol in
:mod:`recchat.evaluation.cold`)."""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from recchat.data.catalog import Catalog
from recchat.data.split import Split
from recchat.evaluation.baselines import ItemKNN, Popularity, TextRetriever
from recchat.evaluation.cold import (
    OFFSETS,
    ColdSplit,
    HistoryEncoder,
    TextOnlyColdItems,
    cold_item_table,
    cold_split,
    offset_scores,
    text_only_vectors,
)
from recchat.evaluation.protocol import evaluate, pessimistic_ranks, rank_metrics

if TYPE_CHECKING:
    from recchat.index import ItemIndex
    from recchat.scorer import ScorerConfig


def train_cold_scorer(
    cold: ColdSplit,
    text_vectors: np.ndarray,
    catalog: Catalog,
    config: ScorerConfig | None = None,
    *,
    progress: bool = True,
    device: str | None = None,
) -> TextOnlyColdItems:
    """Train the scorer on the warm items only (their text vectors, renumbered) and wrap it to rank
    all items, held-out ones from their text alone."""
    from recchat.scorer import train

    scorer = train(cold.warm, text_vectors[cold.warm_items], catalog, config, progress=progress, device=device)
    return TextOnlyColdItems(scorer, cold, text_vectors)


def tune_offset(
    scorer: HistoryEncoder,
    cold: ColdSplit,
    text_vectors: np.ndarray,
    vectors: str = "text",
    *,
    offsets: Sequence[float] = OFFSETS,
    seed: int = 0,
) -> dict[str, dict[float, float]]:
    """Validation NDCG@10 of each ``offsets`` for held-out items scored the way ``vectors``, on the
    warm split alone: a random :attr:`ColdSplit.fraction` of the warm items is made pseudo-cold
    (their vectors rebuilt by :func:`cold_item_table` from the other warm items, dropped from
    every history), and all validation users are ranked over the warm items. By offset, for
    ``all`` validation users, those whose target is pseudo-cold (``cold``: the test's cold users'
    counterpart) and the rest (``warm``: who pay for any boost). No test user and no held-out
    item is looked at."""
    warm = cold.warm
    n = warm.n_items
    rng = np.random.default_rng(seed)
    pseudo = np.sort(rng.choice(n, size=max(1, round(cold.fraction * n)), replace=False))
    keep = np.ones(n, dtype=bool)
    keep[pseudo] = False
    text = text_vectors[cold.warm_items]
    table, _ = cold_item_table(
        scorer.item_vectors()[keep],
        text_only_vectors(scorer, text),
        text,
        np.flatnonzero(keep),
        pseudo,
        vectors,
        warm.train_counts()[keep],
    )
    users = warm.evaluated_users("valid")
    targets = warm.valid[users]
    histories = [warm.history(int(u), "valid") for u in users]
    vectors_of_users = scorer.user_vectors([h[keep[h]] for h in histories])
    masks = [h[h != t] for h, t in zip(histories, targets)]  # as the protocol's run_stage
    on_pseudo = ~keep[targets]
    out: dict[str, dict[float, float]] = {"all": {}, "cold": {}, "warm": {}}
    for offset in offsets:
        ranks = pessimistic_ranks(offset_scores(vectors_of_users, table, pseudo, offset), targets, masks)
        for group, who in (("all", np.ones_like(on_pseudo)), ("cold", on_pseudo), ("warm", ~on_pseudo)):
            out[group][float(offset)] = float(rank_metrics(ranks[who])["NDCG@10"])
    return out


def cold_item_results(
    split: Split,
    catalog: Catalog,
    index: ItemIndex | None,
    methods: Sequence[str],
    *,
    fraction: float,
    seed: int = 0,
    scorer_config: ScorerConfig | None = None,
    progress: bool = True,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Each method's test metrics on the cold users, and what was held out."""
    from recchat.retrieve import item_text_vectors
    from recchat.scorer import ScorerConfig

    cold = cold_split(split, fraction, seed)
    users = cold.split.evaluated_users("test")
    info: dict[str, Any] = {
        "fraction": fraction,
        "seed": seed,
        "held_out_items": int(len(cold.held_out)),
        "cold_users": int(len(users)),
        "held_out_training_interactions": int(split.train_counts()[cold.held_out].sum()),
    }
    results: list[dict[str, Any]] = []
    for method in methods:
        started = time.perf_counter()
        ranker: Any
        if method == "popularity":
            ranker = Popularity(catalog)
        elif method == "item-knn":
            ranker = ItemKNN(catalog)
        elif method == "text":
            ranker = TextRetriever(catalog, item_text_vectors(catalog, index, progress=progress))
        elif method == "scorer":
            config = scorer_config or ScorerConfig()
            vectors = item_text_vectors(catalog, index, config.text_encoder, progress=progress)
            ranker = train_cold_scorer(cold, vectors, catalog, config, progress=progress)
            info["scorer"] = {"text_encoder": config.text_encoder, "epochs": len(ranker.history)}
        else:
            raise ValueError(f"unknown method '{method}'")
        ranker.fit(cold.split)
        results.append(evaluate(ranker, cold.split, stages=("test",)))
        results[-1]["seconds"] = time.perf_counter() - started
        print(
            f"{ranker.name} (cold items): test NDCG@10 {results[-1]['test']['NDCG@10']:.4f} "
            f"({results[-1]['seconds']:.1f} s)",
            file=sys.stderr,
        )
    return results, info


def cold_eval_report(
    split: Split,
    catalog: Catalog,
    index: ItemIndex | None,
    methods: Sequence[str],
    fraction: float,
    seed: int,
    scorer_options: Mapping[str, object],
    run: Mapping[str, object],
    out: Path,
) -> int:
    """``recchat eval --cold-items``: the table printed and a run folder written; exit status 0."""
    from recchat.evaluation.report import markdown_table, write_report
    from recchat.scorer import ScorerConfig

    config = ScorerConfig(**{k: v for k, v in scorer_options.items() if v is not None})  # type: ignore[arg-type]
    results, info = cold_item_results(
        split, catalog, index, methods, fraction=fraction, seed=seed, scorer_config=config
    )
    record = {
        **run,
        "protocol": "cold items: held out of all training; evaluated on the users whose test target is one",
        "users": len(split.users),
        "items": split.n_items,
        "methods": list(methods),
        "cold_items": info,
    }
    folder = write_report(results, record, out)
    print(
        f"cold items: {info['held_out_items']} of {split.n_items} items held out (seed {seed}), "
        f"{info['cold_users']} test users whose target is one of them"
    )
    print(markdown_table(results, "test"))
    print(f"\nrun folder: {folder} (results.json, results.md, chart.png)")
    return 0
