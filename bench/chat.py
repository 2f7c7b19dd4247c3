"""Benchmark chat turns: latency by stage, and what the list-first, batched-reasons design buys.

One run on MovieLens-100K with SmolLM2-135M (the asset) through transformers, the trained
scorer and the Chroma index from $RECCHAT_HOME. Scripted conversations (the same messages every
run; half as MovieLens users, half cold start), three turns each. For every turn:

- stages: understanding, retrieval, scoring, rerank (LLM listwise + blend), template reasons,
  LLM explanations (the top 3, batched);
- "list": message in -> ranked list with reasons ready (what the app shows first);
- "reply": the list plus the streamed LLM reasons (the whole reply).

Baselines, in the same run on the same turns: the naive explainer (all 10 reasons, one
generate call each) and LLM understanding forced on (free-form JSON on transformers, then the
rules). Prints p50/p95 per stage and the ratios. Targets: list p50 <= 3 s, reply p50 <= 8 s.

    bash .ci/env python bench/chat.py                 # 8 conversations x 3 turns
    bash .ci/env python bench/chat.py --conversations 4
    bash .ci/env python bench/chat.py --modes default --exclusions --show-reasons   # the reasons' measure

The reasons' measure (issue 20): accepted LLM reasons among the top three per turn (target >= 2
with SmolLM2-Instruct) and accepted reasons that name an item or series the user excluded
(target 0).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

SCRIPTS = [
    ["I loved Heat, something like it but older", "no horror, more crime", "not that one"],
    ["a funny animated movie for kids", "something from the 80s", "more like the second one"],
    ["I liked Casablanca and Vertigo", "something newer", "I've seen it"],
    ["sci-fi with great effects, no romance", "older please", "more like the first one"],
]
USERS = ["196", "1", "405", "655"]
# With --exclusions: conversations that name what to keep out, for the count of accepted reasons
# that name an excluded item (run after the SCRIPTS ones, cold start).
EXCLUDING = [
    ["I loved Alien and The Terminator, nothing from Star Wars", "something newer", "not the first one"],
    ["I liked Fargo and Pulp Fiction, no Die Hard movies", "a comedy this time", "not that one"],
    ["I loved Toy Story and Aladdin, not The Lion King", "something older", "I've seen the first one"],
]


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def _names_excluded(rec: Any, session: Any, reason: str) -> bool:
    """Whether ``reason`` names an item or series the user rejected or kept out in the session."""
    from recchat.conversation.reason_check import contains_words as _contains

    ctx = session._context()
    names = [rec.catalog[i].title for i in ctx.excluded if i in rec.catalog] + list(ctx.excluded_names)
    return any(_contains(reason, n) for n in names if n)


def run_turns(rec: Any, conversations: int, mode: str, exclusions: bool = False) -> list[dict[str, float]]:
    from recchat.conversation.chat import ChatSession

    rows = []
    plan = [(SCRIPTS[n % len(SCRIPTS)], USERS[n % len(USERS)] if n % 2 == 0 else None) for n in range(conversations)]
    plan += [(script, None) for script in (EXCLUDING if exclusions else [])]
    for script, user in plan:
        session = ChatSession(
            rec,
            user,
            understand_with_llm=(mode == "llm-understanding") or None,
            explain_top=10 if mode == "naive-explain" else 3,
        )
        for message in script:
            started = time.perf_counter()
            reply = session.send(message, explain=False)
            listed = time.perf_counter() - started
            if mode == "naive-explain":
                from recchat.conversation.llm_reasons import llm_reasons

                t = time.perf_counter()
                for item in reply.items:  # one generate call per reason: the naive way
                    list(llm_reasons(session.backend, rec.catalog, [item.candidate], session._context(), first=1))
                explain = time.perf_counter() - t
            else:
                t = time.perf_counter()
                for _ in session.explain(reply):
                    pass
                explain = time.perf_counter() - t
            shown = [i.reason for i in reply.items[:3] if i.reason_source == "llm"]
            rows.append(
                {
                    **reply.timings,
                    "explain": explain,
                    "list": listed,
                    "reply": listed + explain,
                    "llm_reasons": sum(i.reason_source == "llm" for i in reply.items[:3]),
                    "excluded_mentions": sum(_names_excluded(rec, session, r) for r in shown),
                    "reasons_shown": [(i.item.title, i.reason_source, i.reason) for i in reply.items[:3]],
                    "extraction": reply.understood.llm.split(":")[0],
                }
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conversations", type=int, default=8)
    parser.add_argument("--backend", default="transformers")
    parser.add_argument("--model", help="a model asset (gemma3-270m) or a tuned model folder [smollm2]")
    parser.add_argument(
        "--modes",
        default="default,naive-explain,llm-understanding",
        help="comma-separated; 'default' alone measures the reasons quickly",
    )
    parser.add_argument(
        "--exclusions",
        action="store_true",
        help=f"also run the {len(EXCLUDING)} conversations that name items to keep out (default mode)",
    )
    parser.add_argument("--show-reasons", action="store_true", help="print the top three reasons of every turn")
    parser.add_argument(
        "--scripts",
        type=Path,
        help='other conversations: a JSON file {"scripts": [[3 messages], ...], "excluding": [[...], ...]} '
        "(bench/chat_held.json: written apart from the prompt and the checks)",
    )
    args = parser.parse_args()
    if args.scripts:
        given = json.loads(args.scripts.read_text())
        SCRIPTS[:], EXCLUDING[:] = given["scripts"], given.get("excluding", [])
        args.conversations = max(args.conversations, len(SCRIPTS))

    import os

    import torch

    from recchat.recommender import Recommender

    rec = Recommender.from_config({"llm": {"backend": args.backend, "model": args.model}})
    print(
        f"machine: {os.cpu_count()} cores, torch {torch.__version__}, threads {torch.get_num_threads()}, "
        f"cuda {torch.cuda.is_available()}; backend {args.backend}; model {args.model or 'smollm2'}; scorer {'yes' if rec.scorer else 'no'}; "
        f"alpha {rec.blend.alpha}"
    )
    run_turns(rec, 1, "default")  # warm-up: first calls load kernels and caches
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    results = {mode: run_turns(rec, args.conversations, mode, args.exclusions and mode == "default") for mode in modes}
    stages = ["understand", "retrieve", "score", "rerank", "reasons", "explain", "list", "reply"]
    print(
        f"\n{args.conversations} conversations x 3 turns = {3 * args.conversations} turns per mode"
        + (f" (default: {len(results['default'])} with the exclusion conversations)" if args.exclusions else "")
    )
    print(f"{'mode':20s} " + " ".join(f"{s:>16s}" for s in stages) + "   (p50 / p95 seconds)")
    for mode, rows in results.items():
        cells = [
            f"{pct([r.get(s, 0.0) for r in rows], 50):7.2f}/{pct([r.get(s, 0.0) for r in rows], 95):<7.2f}"
            for s in stages
        ]
        print(f"{mode:20s} " + " ".join(f"{c:>16s}" for c in cells))
    d = results["default"]
    list_p50, reply_p50 = pct([r["list"] for r in d], 50), pct([r["reply"] for r in d], 50)
    print(
        f"\nlist p50 {list_p50:.2f} s (target <= 3 s): {'met' if list_p50 <= 3 else 'NOT met'}; "
        f"reply p50 {reply_p50:.2f} s (target <= 8 s): {'met' if reply_p50 <= 8 else 'NOT met'}"
    )
    for mode in [m for m in ("naive-explain", "llm-understanding") if m in results]:
        other = results[mode]
        print(
            f"{mode}: reply p50 {pct([r['reply'] for r in other], 50):.2f} s -> default is "
            f"{pct([r['reply'] for r in other], 50) / reply_p50:.2f}x faster for the whole reply, "
            f"{pct([r['list'] for r in other], 50) / list_p50:.2f}x for the list"
        )
    usable = statistics.mean(r["llm_reasons"] for r in d)
    print(
        f"LLM reasons that passed validation: {usable:.2f} of 3 per turn on average (target >= 2; the rest are "
        f"templates); turns with >= 2: {sum(r['llm_reasons'] >= 2 for r in d)} of {len(d)}"
    )
    print(
        f"accepted LLM reasons naming an item or series the user excluded: {sum(r['excluded_mentions'] for r in d)} "
        "(target 0)"
    )
    if args.show_reasons:
        for r in d:
            for title, source, reason in r["reasons_shown"]:
                print(f"  [{source:8s}] {title}: {reason}")
    if "llm-understanding" not in results:
        return
    outcomes = statistics.multimode(r["extraction"] for r in results["llm-understanding"])
    counts = {
        k: sum(r["extraction"] == k for r in results["llm-understanding"]) for k in ("used", "nothing new", "unusable")
    }
    print(f"LLM understanding forced on: {counts} of {len(results['llm-understanding'])} turns (most: {outcomes})")


if __name__ == "__main__":
    main()
