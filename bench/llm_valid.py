"""Which LLM (and mode) ranks best before any tuning? LLM-alone validation NDCG@10, in one run.

MovieLens-100K, the trained scorer. The users are `recchat tune-llm`'s fixed validation sample
(validation users whose target is among the scorer's top ``--candidates``, sampled with
``--seed``), so the figures compare directly with a tuning run's zero-shot point and curve. The
scorer's own order on the same users is the baseline row.

    bash .ci/env python bench/llm_valid.py --models smollm2-135m-instruct,gemma3-270m --modes pointwise,listwise
"""

from __future__ import annotations

import argparse
import time


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--models",
        default="smollm2-135m-instruct,gemma3-270m",
        help="comma-separated model assets or tuned model folders",
    )
    parser.add_argument("--modes", default="pointwise,listwise", help="comma-separated rerank modes")
    parser.add_argument("--users", type=int, default=50, help="validation users [50, as tune-llm --val-users]")
    parser.add_argument("--candidates", type=int, default=20, help="the scorer's top N reranked [20]")
    parser.add_argument("--history", type=int, default=10, help="history items in the prompt [10]")
    parser.add_argument("--seed", type=int, default=0, help="sampling seed [0, as tune-llm]")
    args = parser.parse_args()

    from recchat.builder import Builder
    from recchat.data.split import leave_one_out
    from recchat.llm import load_backend
    from recchat.rerank import NO_LLM
    from recchat.tune import validation_ndcg, validation_users

    parts = Builder()  # MovieLens-100K, as the app and the CLI build it
    data = parts.dataset
    split = leave_one_out(data.interactions, data.catalog)
    scorer = parts.scorer(required=True)
    users = validation_users(split, scorer, args.users, args.candidates, args.seed)
    print(
        f"{len(users)} validation users whose target is among the scorer's top {args.candidates} (seed {args.seed})\n"
    )
    print("| model | mode | NDCG@10 | s per user |\n|---|---|---|---|")
    base = validation_ndcg(NO_LLM, split, scorer, data.catalog, users, args.candidates)
    print(f"| the scorer's own order | | {base:.4f} | |", flush=True)
    for model in args.models.split(","):
        backend = load_backend("transformers", model.strip())
        for mode in args.modes.split(","):
            reranker = parts.reranker(backend, llm={"mode": mode.strip(), "history": args.history})
            started = time.perf_counter()
            ndcg = validation_ndcg(reranker, split, scorer, data.catalog, users, args.candidates)
            print(
                f"| {model.strip()} | {mode.strip()} | {ndcg:.4f} | "
                f"{(time.perf_counter() - started) / len(users):.2f} |",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
