"""Benchmark the trained scorer against the baselines, in one run, on MovieLens-100K.

Measures, under the leave-one-out full-ranking protocol (recchat/evaluation/protocol.py):
- training time to the best checkpoint (early stopping on validation NDCG@10) and in all;
- full-ranking throughput (users/s scoring every item) of the scorer and of each baseline,
  with the ratio to popularity (the cheapest possible ranker);
- the full metrics table for popularity, item-kNN, text retrieval and the scorer.

    bash .ci/env python bench/scorer.py                   # default ScorerConfig
    bash .ci/env python bench/scorer.py --max-epochs 5    # a quick look
    bash .ci/env python bench/scorer.py --config movielens-100k-enriched   # another catalog, same protocol
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from recchat.files import write_atomic


def throughput(ranker, split, repeats: int = 3) -> float:
    """Users per second for full ranking of every evaluated user (scores for all items)."""
    users = split.evaluated_users("test")
    histories = [split.history(u, "test") for u in users]
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        for start in range(0, len(histories), 256):
            # Materialise the matrix: popularity's broadcast view would otherwise cost nothing.
            np.ascontiguousarray(ranker.score_histories(histories[start : start + 256]))
        best = min(best, time.perf_counter() - t)
    return len(users) / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-epochs", type=int, help="override ScorerConfig.max_epochs")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--config", help="a configuration file or built-in name [movielens-100k]")
    parser.add_argument("--seed", type=int, help="override ScorerConfig.seed")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    import torch

    from recchat.builder import Builder
    from recchat.data.split import leave_one_out
    from recchat.evaluation import evaluate, markdown_table
    from recchat.evaluation.baselines import ItemKNN, Popularity, TextRetriever
    from recchat.retrieve import item_text_vectors
    from recchat.scorer import ScorerConfig, train

    parts = Builder(args.config)  # MovieLens-100K by default, as the app and the CLI build it
    data = parts.dataset
    split = leave_one_out(data.interactions, data.catalog)
    index = parts.index(build="always", progress=False)
    vectors = item_text_vectors(data.catalog, index)
    config = ScorerConfig()
    if args.max_epochs:
        config.max_epochs = args.max_epochs
    if args.seed is not None:
        config.seed = args.seed
    started = time.perf_counter()
    scorer = train(split, vectors, data.catalog, config)
    total_s = time.perf_counter() - started
    best = max(scorer.history, key=lambda h: h["valid_ndcg10"])

    rankers = [Popularity(data.catalog), ItemKNN(data.catalog), TextRetriever(data.catalog, vectors), scorer]
    results, speeds = [], {}
    for ranker in rankers:
        ranker.fit(split)
        results.append(evaluate(ranker, split))
        speeds[ranker.name] = throughput(ranker, split)

    print(
        f"\nmachine: {os.cpu_count()} cores, torch {torch.__version__}, "
        f"{'CUDA' if torch.cuda.is_available() else 'no GPU'}, {torch.get_num_threads()} threads"
    )
    print(
        f"training: best checkpoint at epoch {best['epoch']} after {best['seconds']:.0f} s "
        f"(validation NDCG@10 {best['valid_ndcg10']:.4f}); stopped after {len(scorer.history)} epochs, "
        f"{total_s:.0f} s in all"
    )
    print("\n| ranker | full-ranking users/s | ratio to popularity | ratio to item-kNN |\n|---|---|---|---|")
    for name, speed in speeds.items():
        print(f"| {name} | {speed:,.0f} | {speed / speeds['popularity']:.4f} | {speed / speeds['item-knn']:.3f} |")
    print("\nTest (943 users, leave-one-out, full ranking, pessimistic ties):\n")
    print(markdown_table(results, "test"))
    print("\nValidation:\n")
    print(markdown_table(results, "valid"))
    if args.json:
        write_atomic(
            args.json,
            json.dumps(
                {
                    "config": asdict(config),
                    "history": scorer.history,
                    "speeds": speeds,
                    "results": results,
                    "best_seconds": best["seconds"],
                    "total_seconds": total_s,
                },
                indent=2,
                default=float,
            ),
        )


if __name__ == "__main__":
    np.set_printoptions(precision=4)
    main()
