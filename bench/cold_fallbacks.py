"""How a scorer trained without the held-out items should score them (issue 22, part 2).

Trains ONE scorer on the cold split's warm items (MiniLM text vectors, the same capped config as
bench/encoders.py), then ranks all items for the cold users three ways
(recchat.evaluation.cold.TextOnlyColdItems): ``text`` (held-out items from the text part alone),
``text+mean-id`` (plus the warm items' mean id embedding) and ``text-all`` (every item from its
text part alone). Each against MiniLM text retrieval and popularity with a paired bootstrap 95%
interval. Writes bench/out/encoders/fallbacks-<encoder>.json.

    .venv/bin/python bench/cold_fallbacks.py [--encoder minilm] [--max-epochs 30] [--id-dropout 0.1]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from encoders import OUT, CachedMiniLM, ndcg10, save, slug  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--encoder", default="minilm")
    parser.add_argument("--cold-items", type=float, default=0.1)
    parser.add_argument("--cold-seed", type=int, default=0)
    parser.add_argument("--max-epochs", type=int, default=30)
    parser.add_argument("--id-dropout", type=float, default=0.1)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    from recchat.builder import Builder
    from recchat.data.split import leave_one_out
    from recchat.evaluation import Popularity, TextRetriever, cold_split, paired_bootstrap, run_stage
    from recchat.evaluation.cold import COLD_VECTORS, TextOnlyColdItems
    from recchat.retrieve import item_text_vectors
    from recchat.scorer import ScorerConfig, train

    parts = Builder()
    catalog = parts.dataset.catalog
    split = leave_one_out(parts.dataset.interactions, catalog)
    cold = cold_split(split, args.cold_items, args.cold_seed)
    index = CachedMiniLM(catalog)
    vectors = item_text_vectors(catalog, index, args.encoder)
    config = ScorerConfig(max_epochs=args.max_epochs, id_dropout=args.id_dropout)
    started = time.perf_counter()
    scorer = train(cold.warm, vectors[cold.warm_items], catalog, config, progress=False)
    seconds = time.perf_counter() - started
    target = cold.split
    text = ndcg10(run_stage(TextRetriever(catalog, item_text_vectors(catalog, index)), target, "test").ranks)
    pop_ranker = Popularity(catalog)
    pop_ranker.fit(target)
    pop = ndcg10(run_stage(pop_ranker, target, "test").ranks)
    out = {"encoder": args.encoder, "id_dropout": args.id_dropout, "epochs": len(scorer.history), "seconds": seconds}
    print(
        f"{len(target.evaluated_users('test'))} cold users; text retrieval {text.mean():.4f}, popularity "
        f"{pop.mean():.4f}; scorer ({args.encoder}, id dropout {args.id_dropout}): {len(scorer.history)} "
        f"epochs, {seconds:.0f} s"
    )
    for mode in COLD_VECTORS:
        ranker = TextOnlyColdItems(scorer, cold, vectors, vectors=mode)
        gains = ndcg10(run_stage(ranker, target, "test").ranks)
        ranks = run_stage(ranker, target, "test").ranks
        ci = paired_bootstrap(gains, text)
        out[mode] = {"ndcg10": gains.tolist(), "vs_text": ci, "median_rank": float(np.median(ranks))}
        print(
            f"  {mode}: NDCG@10 {gains.mean():.4f} (median target rank {np.median(ranks):.0f}); vs text "
            f"{ci['gain']:+.4f} [{ci['low']:+.4f}, {ci['high']:+.4f}]"
        )
    path = OUT / f"fallbacks-{slug(args.encoder)}-d{args.id_dropout:g}.json"
    save(path, out)
    print(json.dumps({k: v for k, v in out.items() if not isinstance(v, dict)}))


if __name__ == "__main__":
    main()
