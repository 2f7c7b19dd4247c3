"""Benchmark LLM reranking: naive scoring against prefix reuse and one-pass listwise, per backend.

One run, MovieLens-100K, SmolLM2-135M (the asset), requests of 20 candidates (the trained
scorer's top 20, or popular items without a checkpoint) for users with a 20-item history:

- naive: one full prompt per candidate, logits at every position (transformers);
- pointwise with prefix reuse: the history prefix computed once, 20 suffixes in one batch,
  last-position logits only (transformers), and the vLLM engine with prefix caching;
- listwise: one forward pass over all 20 labelled candidates (transformers and vLLM).

Prints candidates/s, p50/p95 seconds per request and the speed-up over naive, and the useful
GFLOP/s of the transformers runs (the forward FLOPs the method needs, over its time) against a
float32 matrix multiply measured in the same run.

    bash .ci/env python bench/rerank.py                  # transformers and vLLM
    bash .ci/env python bench/rerank.py --no-vllm --requests 5
    bash .ci/env python bench/rerank.py --base-url http://127.0.0.1:8000/v1   # also a vllm serve
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import time
from typing import Any

import numpy as np


def matmul_gflops(n: int = 2048, repeats: int = 5) -> float:
    import torch

    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    best = min(_timed(lambda: torch.mm(a, b)) for _ in range(repeats))
    return 2 * n**3 / best / 1e9


def _timed(fn: Any) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def forward_flops(config: Any, tokens: int, context: int, logits: int) -> float:
    """FLOPs of a decoder forward over ``tokens`` new tokens attending to ``context`` on average,
    with the vocabulary projection at ``logits`` positions."""
    d, layers, inter = config.hidden_size, config.num_hidden_layers, config.intermediate_size
    kv = d * config.num_key_value_heads // config.num_attention_heads
    per_token = layers * (2 * (d * d * 2 + d * kv * 2) + 2 * 3 * d * inter + 4 * d * context)
    return tokens * per_token + logits * 2 * d * config.vocab_size


@functools.lru_cache(maxsize=1)
def builder() -> Any:
    """MovieLens-100K's parts, as the app and the CLI build them: the rerankers timed here too."""
    from recchat.builder import Builder

    return Builder()


def requests(n: int) -> list[tuple[str, list[str]]]:
    """(prefix, suffixes) for pointwise, and the listwise prompt pieces, for ``n`` users."""
    from recchat.data.split import leave_one_out
    from recchat.types import Candidate

    parts = builder()
    data = parts.dataset
    split = leave_one_out(data.interactions, data.catalog)
    scorer = parts.scorer()
    counts = split.train_counts()
    out = []
    for u in range(n):
        history = split.history(u, "test")[-20:]
        if scorer is not None:
            scores = scorer.score_histories([history])[0]
        else:
            scores = counts.astype(float)
        scores[split.history(u, "test")] = -np.inf
        top = np.argsort(-scores)[:20]
        hist_items = [data.catalog[split.item_ids[i]] for i in history]
        cands = [Candidate(data.catalog[split.item_ids[i]], float(scores[i]), "scorer") for i in top]
        out.append((hist_items, cands))
    return out


def run_pointwise(backend: Any, reqs: list, method: str) -> list[float]:
    from recchat.templates import load_template

    t = load_template("pointwise")
    times = []
    for hist, cands in reqs:
        prefix = t.prefix(history=[{"text": h.text, "rating": None} for h in hist], kind=builder().config.domain.item)
        suffixes = [t.suffix(candidate={"text": c.item.text}) for c in cands]
        fn = backend.label_logprobs_naive if method == "naive" else backend.label_logprobs
        times.append(_timed(lambda: fn(prefix, suffixes, ["Yes", "No"])))
    return times


def run_listwise(backend: Any, reqs: list) -> list[float]:
    reranker = builder().reranker(backend, llm={"mode": "listwise"})
    return [_timed(lambda: reranker.scores(hist, cands)) for hist, cands in reqs]


def summary(name: str, times: list[float], naive_p50: float | None, n_cands: int = 20) -> dict[str, Any]:
    p50 = statistics.median(times)
    return {
        "method": name,
        "requests": len(times),
        "cand_per_s": n_cands * len(times) / sum(times),
        "p50": p50,
        "p95": float(np.percentile(times, 95)),
        "speedup": (naive_p50 / p50) if naive_p50 else float("nan"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=10, help="requests per fast method [10]")
    parser.add_argument("--naive-requests", type=int, default=3, help="requests for the naive baseline [3]")
    parser.add_argument("--no-vllm", action="store_true", help="skip the in-process vLLM engine")
    parser.add_argument("--base-url", help="also time an OpenAI-compatible server (e.g. vllm serve)")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

    import torch

    from recchat.llm import load_backend

    gflops_matmul = matmul_gflops()
    reqs = requests(max(args.requests, args.naive_requests))
    hf = load_backend("transformers")
    run_pointwise(hf, reqs[:1], "reuse")  # warm-up
    naive = run_pointwise(hf, reqs[: args.naive_requests], "naive")
    naive_p50 = statistics.median(naive)
    rows = [summary("transformers naive (full prompt per candidate, all logits)", naive, naive_p50)]
    n_invocations = len(hf.invocations)
    reuse = run_pointwise(hf, reqs[: args.requests], "reuse")
    reuse_calls = hf.invocations[n_invocations:]
    rows.append(summary("transformers pointwise, shared prefix KV, last logits", reuse, naive_p50))
    n_invocations = len(hf.invocations)
    listwise = run_listwise(hf, reqs[: args.requests])
    list_calls = hf.invocations[n_invocations:]
    rows.append(summary("transformers listwise (one pass)", listwise, naive_p50))

    # Useful FLOPs: the prefix once (attending on average to half of itself), the suffix tokens
    # (attending to the prefix and half their own length), one vocabulary row per candidate.
    config = hf.model.config

    def reuse_call_flops(c: Any) -> float:
        head = c.cached_tokens // max(c.prompts - 1, 1)
        tails = c.prompt_tokens - head * c.prompts
        return forward_flops(config, head, head // 2, 0) + forward_flops(
            config, tails, head + tails // (2 * c.prompts), c.prompts
        )

    reuse_flops = sum(reuse_call_flops(c) for c in reuse_calls)
    list_flops = sum(forward_flops(config, c.prompt_tokens, c.prompt_tokens // 2, 1) for c in list_calls)
    gflops = {"pointwise": reuse_flops / sum(reuse) / 1e9, "listwise": list_flops / sum(listwise) / 1e9}
    del hf

    if not args.no_vllm:
        vllm = load_backend("vllm")
        run_pointwise(vllm, reqs[:1], "reuse")
        rows.append(
            summary(
                "vLLM pointwise (engine, prefix caching)",
                run_pointwise(vllm, reqs[: args.requests], "reuse"),
                naive_p50,
            )
        )
        rows.append(summary("vLLM listwise (engine, one pass)", run_listwise(vllm, reqs[: args.requests]), naive_p50))
        cached = sum(c.cached_tokens for c in vllm.invocations)
        prompt = sum(c.prompt_tokens for c in vllm.invocations)
        print(f"vLLM prefix cache: {cached} of {prompt} prompt tokens served from cache")
    if args.base_url:
        server = load_backend("openai", base_url=args.base_url)
        rows.append(
            summary(
                "vllm serve pointwise (openai backend)",
                run_pointwise(server, reqs[: args.requests], "reuse"),
                naive_p50,
            )
        )
        rows.append(
            summary("vllm serve listwise (openai backend)", run_listwise(server, reqs[: args.requests]), naive_p50)
        )

    print(
        f"\nmachine: {os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads), "
        f"{'CUDA' if torch.cuda.is_available() else 'no GPU'}; SmolLM2-135M float32; 20 candidates, "
        f"20-item history; prefix ~{reuse_calls[0].cached_tokens // max(reuse_calls[0].prompts - 1, 1)} tokens"
    )
    print("\n| method | requests | candidates/s | p50 s | p95 s | speed-up vs naive (p50) |\n|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['method']} | {r['requests']} | {r['cand_per_s']:.1f} | {r['p50']:.2f} | {r['p95']:.2f} | {r['speedup']:.1f}x |"
        )
    print(f"\nmatmul float32 (2048^3): {gflops_matmul:.0f} GFLOP/s")
    for name, value in gflops.items():
        print(f"transformers {name}: {value:.0f} useful GFLOP/s = {100 * value / gflops_matmul:.0f}% of matmul")


if __name__ == "__main__":
    main()
