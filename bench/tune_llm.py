"""Benchmark LLM tuning cost and the rerank latency of a tuned model against its base, in one run.

MovieLens-100K, the trained scorer, a tuned run folder from `recchat tune-llm` (its tune.json
names the base model and the settings):

1. training cost: ``--steps`` optimizer steps of the run's own objective and settings on fresh
   LoRA adapters over the base model (examples built as tune-llm builds them): seconds per
   example and examples/s; the run's recorded time to its best checkpoint and in all;
2. rerank latency: the scorer's top 20 for ``--requests`` test users reranked by the base model
   and by the merged tuned model through the same transformers path, alternating request by
   request so both see the same machine load; p50/p95 per request and the ratio.

    bash .ci/env python bench/tune_llm.py --run $RECCHAT_HOME/models/movielens-100k-llm-listwise
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, required=True, help="a tune-llm run folder (tune.json, model/)")
    parser.add_argument("--steps", type=int, default=5, help="optimizer steps to time [5]")
    parser.add_argument("--requests", type=int, default=30, help="rerank requests per model [30]")
    args = parser.parse_args()

    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import numpy as np
    import torch

    from recchat.assets import resolve_model
    from recchat.builder import Builder
    from recchat.data.split import leave_one_out
    from recchat.llm.transformers_backend import TransformersBackend
    from recchat.tune import ExampleScorer, TuneConfig, build_examples
    from recchat.tune.training import _lora_model
    from recchat.types import Candidate

    record = json.loads((args.run / "tune.json").read_text())
    config = TuneConfig(**record["config"])
    parts = Builder()  # MovieLens-100K, as the app and the CLI build it
    data = parts.dataset
    split = leave_one_out(data.interactions, data.catalog)
    scorer = parts.scorer(required=True)
    base = resolve_model(config.base_model)

    # 1. training cost, on random negatives (mining costs nothing per step once done)
    backend = TransformersBackend(base)
    backend.model = _lora_model(backend.model, config)
    examples = build_examples(split, TuneConfig(**{**record["config"], "negatives": "random"}))
    loss_of = ExampleScorer(backend, data.catalog, split.item_ids, config, parts.config.domain.item)
    optimizer = torch.optim.AdamW([p for p in backend.model.parameters() if p.requires_grad], lr=config.lr)
    backend.model.train()
    n = 0
    started = time.perf_counter()
    for step in range(args.steps):
        optimizer.zero_grad()
        for ex in examples[step * config.accumulate : (step + 1) * config.accumulate]:
            (loss_of.loss(ex) / config.accumulate).backward()
            n += 1
        optimizer.step()
    train_s = time.perf_counter() - started
    per_example = train_s / n
    print(
        f"training ({config.objective}, {config.candidates} candidates, history {config.history}, "
        f"LoRA r={config.lora_r} on {config.targets}{f' of the top {config.top_layers} layers' if config.top_layers else ''}): "
        f"{per_example:.2f} s per example, {1 / per_example:.2f} examples/s ({n} examples)"
    )
    best = record.get("best") or record["curve"][0]
    print(
        f"the run: {record['examples']} examples available, stopped after {record['curve'][-1]['examples']}; "
        f"best after {best['examples']} examples at {best['seconds'] / 60:.1f} min; "
        f"{record['seconds'] / 60:.1f} min in all"
    )
    del backend, optimizer

    # 2. rerank latency, base against tuned, alternating
    models = {"base": TransformersBackend(base), "tuned": TransformersBackend(args.run / "model")}
    mode = config.objective
    rerankers = {k: parts.reranker(b, llm={"mode": mode, "history": config.history}) for k, b in models.items()}
    users = split.evaluated_users("test")[: args.requests]
    times: dict[str, list[float]] = {k: [] for k in models}
    for u in users:
        history = split.history(u, "test")
        scores = scorer.score_histories([history])[0].astype(np.float64)
        scores[history] = -np.inf
        top = np.argsort(-scores, kind="stable")[:20]
        cands = [Candidate(data.catalog[split.item_ids[i]], float(scores[i]), "scorer") for i in top]
        hist = [data.catalog[split.item_ids[i]] for i in history]
        for name, reranker in rerankers.items():
            t = time.perf_counter()
            reranker.scores(hist, cands)
            times[name].append(time.perf_counter() - t)
    p50 = {k: statistics.median(v) for k, v in times.items()}
    p95 = {k: float(np.percentile(v, 95)) for k, v in times.items()}
    for k in models:
        print(f"rerank {mode}, 20 candidates, {k}: p50 {p50[k]:.3f} s, p95 {p95[k]:.3f} s ({len(times[k])} requests)")
    print(f"tuned / base p50: {p50['tuned'] / p50['base']:.3f} (target: at most 1.10)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
