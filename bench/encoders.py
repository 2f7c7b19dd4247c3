"""Cold and tail items, and the LLM as a content encoder (issue 22, parts 2-3), on MovieLens-100K.

For each text encoder (``minilm``, the baseline, first) the scorer is trained twice with the same
capped ScorerConfig, its item tower's text part fed by that encoder's vectors:

- warm: on the usual leave-one-out split; per-user test NDCG@10 on all test users, and on those
  whose target is a tail item (recchat.evaluation.cold: the least popular items holding 20% of
  training interactions);
- cold: on a cold split (``--cold-items`` of the items held out with all their interactions,
  seed ``--cold-seed``; recchat.evaluation.cold); per-user NDCG@10 on the users whose test target
  is held out, ranked over all items, held-out items scored from their text alone.

Each (encoder, phase) is written to ``bench/out/encoders/<encoder>.<phase>.json`` as soon as it
finishes, so a rerun skips what is done (a file for another catalog or config is redone). The
baselines (popularity, item-kNN, MiniLM text retrieval) are measured on the same users
(``baselines.json``). The report gives warm / tail / cold NDCG@10 per encoder with the mean gain
over the MiniLM scorer and its paired bootstrap 95% interval (same users, resampled together),
the verdict, and for cold items the ratio to popularity and the gain over text retrieval.

    .venv/bin/python bench/encoders.py                                  # every encoder, in order
    .venv/bin/python bench/encoders.py --encoders minilm,minilm+smollm2-mean
    .venv/bin/python bench/encoders.py --report                         # print from finished files
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parent / "out" / "encoders"
ORDER = [
    "minilm",
    "minilm+smollm2-mean",
    "minilm+gemma3-mean",
    "smollm2-mean",
    "gemma3-mean",
    "minilm+smollm2-prompt",
    "minilm+gemma3-prompt",
    "smollm2-prompt",
    "gemma3-prompt",
    "minilm+smollm2-last",
    "minilm+gemma3-last",
    "smollm2-last",
    "gemma3-last",
]
PHASES = ("cold", "warm")


class CachedMiniLM:
    """The index's MiniLM vectors from the embedder's vector cache (the texts the index holds),
    without opening Chroma: other processes may be writing to the store meanwhile."""

    def __init__(self, catalog):
        from recchat.index import MiniLMEmbeddingFunction

        self.catalog, self.embedder = catalog, MiniLMEmbeddingFunction()

    def embeddings(self, ids):
        return self.embedder.encode([self.catalog[i].text for i in ids], cache=True)


def ndcg10(ranks):
    ranks = np.asarray(ranks, dtype=np.float64)
    return np.where(ranks <= 10, 1.0 / np.log2(ranks + 1), 0.0)


def slug(encoder: str) -> str:
    return encoder.replace("+", "_plus_")


def load(path: Path, key: dict):
    if not path.is_file():
        return None
    data = json.loads(path.read_text())
    return data if data.get("key") == key else None


def save(path: Path, data: dict) -> None:
    from recchat.files import write_atomic

    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(data, default=float))


def run_phase(phase, encoder, split, cold, catalog, index, config, buckets):
    """Train the scorer for ``phase`` with ``encoder``'s vectors; per-user NDCG@10 and the record."""
    from recchat.evaluation import TextRetriever, run_stage
    from recchat.evaluation.cold_run import train_cold_scorer
    from recchat.retrieve import item_text_vectors
    from recchat.scorer import train

    started = time.perf_counter()
    vectors = item_text_vectors(catalog, index, encoder)
    encode_s = time.perf_counter() - started
    started = time.perf_counter()
    if phase == "warm":
        ranker = train(split, vectors, catalog, config, progress=False)
        history, target_split = ranker.history, split
    else:
        ranker = train_cold_scorer(cold, vectors, catalog, config, progress=False)
        history, target_split = ranker.history, cold.split
    train_s = time.perf_counter() - started
    users = target_split.evaluated_users("test")
    gains = ndcg10(run_stage(ranker, target_split, "test").ranks)
    retrieval = TextRetriever(catalog, vectors)  # the same vectors as a text-only ranker (no training)
    retrieval_gains = ndcg10(run_stage(retrieval, target_split, "test").ranks)
    best = max(history, key=lambda h: h["valid_ndcg10"])
    targets = target_split.test[users]
    return {
        "encoder": encoder,
        "phase": phase,
        "dim": int(vectors.shape[1]),
        "users": users.tolist(),
        "tail": (buckets[targets] == 2).tolist(),
        "ndcg10": gains.tolist(),
        "retrieval_ndcg10": retrieval_gains.tolist(),
        "epochs": len(history),
        "best_epoch": int(best["epoch"]),
        "valid_ndcg10": float(best["valid_ndcg10"]),
        "encode_seconds": encode_s,
        "train_seconds": train_s,
    }


def baselines(split, cold, catalog, index, buckets):
    from recchat.evaluation import ItemKNN, Popularity, TextRetriever, run_stage
    from recchat.retrieve import item_text_vectors

    out = {}
    minilm = item_text_vectors(catalog, index)
    for phase, target_split in (("warm", split), ("cold", cold.split)):
        for ranker in (Popularity(catalog), ItemKNN(catalog), TextRetriever(catalog, minilm)):
            ranker.fit(target_split)
            users = target_split.evaluated_users("test")
            out[f"{ranker.name}.{phase}"] = {
                "users": users.tolist(),
                "tail": (buckets[target_split.test[users]] == 2).tolist(),
                "ndcg10": ndcg10(run_stage(ranker, target_split, "test").ranks).tolist(),
            }
    return out


def verdict(intervals):
    wins = any(ci["low"] > 0 for ci in intervals)
    loses = any(ci["high"] < 0 for ci in intervals)
    return "mixed" if wins and loses else "wins" if wins else "loses" if loses else "no difference"


def report(results, base, fraction):
    from recchat.evaluation import paired_bootstrap

    def views(record):
        g = np.array(record["ndcg10"])
        if record.get("phase", "warm") == "warm" and "tail" in record:
            return {"warm": g, "tail": g[np.array(record["tail"], dtype=bool)]}
        return {"cold": g}

    ref = {}
    for phase in PHASES:
        if ("minilm", phase) in results:
            ref.update(views(results[("minilm", phase)]))
    lines = [
        "| text encoder | dim | warm NDCG@10 | gain vs MiniLM [95% CI] | tail NDCG@10 | gain [95% CI] | "
        f"cold NDCG@10 ({fraction:.0%} held out) | gain [95% CI] | verdict |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    encoders = [e for e in ORDER if any((e, p) in results for p in PHASES)]
    encoders += sorted({e for e, _ in results} - set(encoders))
    for encoder in encoders:
        cells, intervals, dim = [], [], ""
        for phase in PHASES[::-1]:
            record = results.get((encoder, phase))
            names = ("warm", "tail") if phase == "warm" else ("cold",)
            if record is None:
                cells += ["not run", ""] * len(names)
                continue
            dim = record["dim"]
            for name, values in views(record).items():
                cell = f"{values.mean():.4f}"
                if encoder == "minilm" or name not in ref:
                    cells += [cell, "(baseline)" if encoder == "minilm" else ""]
                    continue
                ci = paired_bootstrap(values, ref[name])
                intervals.append(ci)
                cells += [cell, f"{ci['gain']:+.4f} [{ci['low']:+.4f}, {ci['high']:+.4f}]"]
        v = "baseline" if encoder == "minilm" else verdict(intervals) if intervals else ""
        lines.append(f"| {encoder} | {dim} | " + " | ".join(cells) + f" | {v} |")
    print("\n".join(lines))
    if base:
        print("\nBaselines on the same users (NDCG@10): ", end="")
        parts = []
        for key, record in sorted(base.items()):
            g = np.array(record["ndcg10"])
            parts.append(f"{key} {g.mean():.4f}")
            if key.endswith(".warm"):
                parts.append(f"{key.replace('.warm', '.tail')} {g[np.array(record['tail'], dtype=bool)].mean():.4f}")
        print(", ".join(parts))
        pop = np.array(base["popularity.cold"]["ndcg10"])
        text = np.array(base["text.cold"]["ndcg10"])
        print("\nCold items: each scorer against popularity (ratio) and MiniLM text retrieval (paired gain):")
        for encoder in encoders:
            record = results.get((encoder, "cold"))
            if record is None:
                continue
            g = np.array(record["ndcg10"])
            ci = paired_bootstrap(g, text)
            ratio = f"{g.mean() / pop.mean():.1f}x" if pop.mean() > 0 else "popularity 0"
            print(
                f"  {encoder}: {g.mean():.4f}; {ratio}; vs text {ci['gain']:+.4f} "
                f"[{ci['low']:+.4f}, {ci['high']:+.4f}]; the same vectors as text-only retrieval "
                f"{np.mean(record['retrieval_ndcg10']):.4f}"
            )
    for (encoder, phase), record in sorted(results.items()):
        print(
            f"  {encoder} {phase}: {record['epochs']} epochs (best {record['best_epoch']}, validation "
            f"{record['valid_ndcg10']:.4f}), {record['train_seconds']:.0f} s training, "
            f"{record['encode_seconds']:.0f} s vectors; text-only retrieval with these vectors "
            f"{np.mean(record['retrieval_ndcg10']):.4f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--encoders", default=",".join(ORDER), help="comma-separated, in order [all]")
    parser.add_argument("--cold-items", type=float, default=0.1, help="fraction of items held out [0.1]")
    parser.add_argument("--cold-seed", type=int, default=0)
    parser.add_argument("--max-epochs", type=int, default=30, help="epoch cap, the same for every encoder [30]")
    parser.add_argument("--phases", default="cold,warm")
    parser.add_argument("--report", action="store_true", help="only print the finished results")
    parser.add_argument("--seed", type=int, default=0, help="the scorer's seed; other than 0 writes under seed<N>/ [0]")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

    import torch

    from recchat.builder import Builder
    from recchat.data.split import leave_one_out
    from recchat.evaluation import cold_split, popularity_buckets
    from recchat.scorer import ScorerConfig

    parts = Builder()  # MovieLens-100K as the CLI builds it
    catalog = parts.dataset.catalog
    split = leave_one_out(parts.dataset.interactions, catalog)
    cold = cold_split(split, args.cold_items, args.cold_seed)
    buckets = popularity_buckets(split.train_counts())
    index = CachedMiniLM(catalog)
    config = ScorerConfig(max_epochs=args.max_epochs, seed=args.seed)
    out = OUT / f"seed{args.seed}" if args.seed else OUT
    common = {
        "catalog": catalog.fingerprint(),
        "config": {k: v for k, v in asdict(config).items() if k != "text_encoder"},
        "cold_items": args.cold_items,
        "cold_seed": args.cold_seed,
    }
    print(
        f"machine: {os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads; "
        f"{len(cold.held_out)} items held out, {len(cold.split.evaluated_users('test'))} cold users; "
        f"epoch cap {args.max_epochs}",
        flush=True,
    )
    base_key = {**common, "what": "baselines"}
    base = load(OUT / "baselines.json", base_key)
    if base is None and not args.report:
        base = {"key": base_key, "results": baselines(split, cold, catalog, index, buckets)}
        save(OUT / "baselines.json", base)
    results = {}
    for encoder in [e.strip() for e in args.encoders.split(",") if e.strip()]:
        for phase in [p.strip() for p in args.phases.split(",") if p.strip()]:
            key = {**common, "encoder": encoder, "phase": phase}
            path = out / f"{slug(encoder)}.{phase}.json"
            found = load(path, key)
            if found is None and not args.report:
                print(f"{time.strftime('%H:%M:%S')} {encoder} {phase}: training", flush=True)
                found = {"key": key, **run_phase(phase, encoder, split, cold, catalog, index, config, buckets)}
                save(path, found)
                print(
                    f"{time.strftime('%H:%M:%S')} {encoder} {phase}: NDCG@10 {np.mean(found['ndcg10']):.4f} "
                    f"({found['epochs']} epochs, {found['train_seconds']:.0f} s)",
                    flush=True,
                )
            if found is not None:
                results[(encoder, phase)] = found
    report(results, base["results"] if base else {}, args.cold_items)


if __name__ == "__main__":
    sys.exit(main())
