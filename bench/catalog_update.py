"""Catalog updates without retraining (issue 22, part 1), on MovieLens-100K, in one run.

5% of the items (random, seeded) play the new items: a scorer is trained on the catalog without
them and the log without their interactions ("old"), then loaded against the full catalog as
serving loads it (recchat.scorer_update: known items keep their vectors, new ones get the item
tower's text part). Against it, in the same run and under the standard protocol (leave-one-out
on the full log, full ranking over all 1,682 items, pessimistic ties; recchat/evaluation):

- full:   a scorer trained from scratch on the full catalog and log (the trained figure);
- served: the old scorer loaded against the full catalog, no retraining;
- warm:   ``recchat train --warm-start``: the served scorer trained on the full log, from there.

Printed: test NDCG@10 and HR@10 on all users, on those whose test item is new and on the others;
how often new items reach the top-10 lists; training time (to the best epoch, in all) with the
ratios warm / full; served - full.

    bash .ci/env python bench/catalog_update.py                 # checkpoints under $RECCHAT_HOME/bench
    bash .ci/env python bench/catalog_update.py --fresh         # retrain all three

Trained checkpoints (and their timings) are kept and reused on the next run (resumable).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from recchat.files import write_atomic


def trained(name: str, folder: Path, fresh: bool, fit):
    """A scorer trained by ``fit()`` (returns scorer, seconds), or the one saved by an earlier run."""
    from recchat.scorer import Scorer

    path, meta = folder / f"{name}.pt", folder / f"{name}.json"
    if not fresh and path.is_file() and meta.is_file():
        print(f"{name}: reusing {path}")
        return Scorer.load(path, device="cpu"), json.loads(meta.read_text())
    started, cpu = time.perf_counter(), time.process_time()
    scorer = fit()
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    best = max(scorer.history, key=lambda h: h["valid_ndcg10"])
    info = {
        "cpu_seconds": cpu,
        "load_average": os.getloadavg()[0],
        "seconds": seconds,
        "best_seconds": best["seconds"],
        "best_epoch": best["epoch"],
        "epochs": len(scorer.history),
    }
    scorer.save(path)
    write_atomic(meta, json.dumps(info, indent=1))
    print(f"{name}: {json.dumps(info)}")
    return scorer, info


def neighbour_ids(scorer, new: np.ndarray, k: int = 10) -> None:
    """Tried beside the text-only vectors: give each new item the mean id embedding of its ``k``
    nearest known items by text vector (cosine), in place."""
    import torch

    model = scorer.model
    with torch.no_grad():
        text = model.text[1:]
        unit = text / text.norm(dim=1, keepdim=True).clamp_min(1e-9)
        fresh, known = np.flatnonzero(new), np.flatnonzero(~new)
        nearest = (unit[fresh] @ unit[known].T).topk(k, dim=1).indices
        ids = model.id_embedding.weight[1:][known]
        model.id_embedding.weight[1 + torch.from_numpy(fresh)] = ids[nearest].mean(1)
    scorer._vectors = None


def measure(scorer, split, new: np.ndarray) -> dict[str, float]:
    from recchat.evaluation import rank_metrics, run_stage

    result = run_stage(scorer, split, "test")
    targets = split.test[split.evaluated_users("test")]
    cold = new[targets]
    top10 = result.top[:, :10]
    out = {f"all {k}": v for k, v in rank_metrics(result.ranks).items() if k in ("NDCG@10", "HR@10")}
    out |= {f"new-target {k}": v for k, v in rank_metrics(result.ranks[cold]).items() if k in ("NDCG@10", "HR@10")}
    out |= {f"known-target {k}": v for k, v in rank_metrics(result.ranks[~cold]).items() if k in ("NDCG@10", "HR@10")}
    out["new-target users"] = int(cold.sum())
    out["users with a new item in top-10"] = float(new[top10].any(axis=1).mean())
    out["top-10 slots held by new items"] = float(new[top10].mean())
    out["distinct new items in top-10 lists"] = int(len(np.unique(top10[new[top10]])))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--share", type=float, default=0.05, help="share of items that are new [0.05]")
    parser.add_argument("--seed", type=int, default=0, help="which items are new [0]")
    parser.add_argument("--max-epochs", type=int, help="override ScorerConfig.max_epochs (a quick look)")
    parser.add_argument("--out", type=Path, help="checkpoint folder [$RECCHAT_HOME/bench/catalog-update]")
    parser.add_argument("--fresh", action="store_true", help="train again even where a checkpoint is saved")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    import torch

    from recchat.assets import home
    from recchat.builder import Builder
    from recchat.cli.train import warm_config, warm_start_state
    from recchat.data.catalog import Catalog, InteractionLog
    from recchat.data.split import leave_one_out
    from recchat.retrieve import item_text_vectors
    from recchat.scorer import Scorer, ScorerConfig, train

    parts = Builder()  # MovieLens-100K, as the app and the CLI build it
    data = parts.dataset
    catalog, log = data.catalog, data.interactions
    index = parts.index(build="always", progress=False)
    vectors = item_text_vectors(catalog, index)
    rng = np.random.default_rng(args.seed)
    ids = [item.id for item in catalog]
    new_ids = set(rng.choice(ids, size=round(args.share * len(ids)), replace=False).tolist())
    old_catalog = Catalog([item for item in catalog if item.id not in new_ids])
    old_log = InteractionLog([i for i in log if i.item not in new_ids], log.report)
    split, old_split = leave_one_out(log, catalog), leave_one_out(old_log, old_catalog)
    new = np.array([i in new_ids for i in split.item_ids])
    config = ScorerConfig()
    if args.max_epochs:
        config.max_epochs = args.max_epochs
    folder = args.out or home() / "bench" / f"catalog-update-{args.share:g}-{args.seed}-{config.max_epochs}"
    folder.mkdir(parents=True, exist_ok=True)
    print(
        f"{len(new_ids)} of {len(ids)} items new ({args.share:.0%}, seed {args.seed}); their "
        f"{len(log) - len(old_log):,} of {len(log):,} interactions left out of the old log"
    )

    def text_of(items: Catalog, encoder: str) -> np.ndarray:
        return item_text_vectors(items, index, encoder)

    full, full_info = trained("full", folder, args.fresh, lambda: train(split, vectors, catalog, config))
    old_vectors = vectors[[i not in new_ids for i in ids]]
    trained("old", folder, args.fresh, lambda: train(old_split, old_vectors, old_catalog, config))
    served = Scorer.load(folder / "old.pt", catalog=catalog, text_vectors=text_of, device="cpu")
    assert served.update is not None and set(served.update.added) == new_ids
    print(f"served: {served.update.note()}")

    def warm_fit():
        _, state = warm_start_state(folder / "old.pt", catalog, text_of)
        return train(split, vectors, catalog, warm_config(served.config, {}), init=state)

    warm, warm_info = trained("warm", folder, args.fresh, warm_fit)
    rows = {"full retrain": measure(full, split, new), "served (no retraining)": measure(served, split, new)}
    rows["warm start"] = measure(warm, split, new)
    tried = Scorer.load(folder / "old.pt", catalog=catalog, text_vectors=text_of, device="cpu")
    neighbour_ids(tried, new)
    rows["tried: served, new items' id part from 10 text neighbours"] = measure(tried, split, new)

    print(
        f"\nmachine: {os.cpu_count()} cores, torch {torch.__version__}, "
        f"{'CUDA' if torch.cuda.is_available() else 'no GPU'}, {torch.get_num_threads()} threads"
    )
    keys = list(rows["full retrain"])
    print("\n| scorer | " + " | ".join(keys) + " |\n|---|" + "---|" * len(keys))
    for name, row in rows.items():
        print(
            f"| {name} | "
            + " | ".join(f"{row[k]:.4f}" if isinstance(row[k], float) else str(row[k]) for k in keys)
            + " |"
        )
    f, s, w = rows["full retrain"], rows["served (no retraining)"], rows["warm start"]
    print(
        f"\nserved - full: NDCG@10 {s['all NDCG@10'] - f['all NDCG@10']:+.4f} (all users), "
        f"{s['known-target NDCG@10'] - f['known-target NDCG@10']:+.4f} (known targets), "
        f"{s['new-target NDCG@10'] - f['new-target NDCG@10']:+.4f} (new targets)"
    )
    print(
        f"warm - full: NDCG@10 {w['all NDCG@10'] - f['all NDCG@10']:+.4f}; time to best "
        f"{warm_info['best_seconds']:.0f} s vs {full_info['best_seconds']:.0f} s "
        f"(ratio {warm_info['best_seconds'] / full_info['best_seconds']:.2f}), in all {warm_info['seconds']:.0f} s vs "
        f"{full_info['seconds']:.0f} s (ratio {warm_info['seconds'] / full_info['seconds']:.2f}); CPU time "
        f"{warm_info['cpu_seconds']:.0f} s vs {full_info['cpu_seconds']:.0f} s "
        f"(ratio {warm_info['cpu_seconds'] / full_info['cpu_seconds']:.2f}); epochs "
        f"{warm_info['epochs']} (best {warm_info['best_epoch']}) vs {full_info['epochs']} (best {full_info['best_epoch']})"
    )
    if args.json:
        write_atomic(
            args.json, json.dumps({"rows": rows, "full": full_info, "warm": warm_info}, indent=2, default=float)
        )


if __name__ == "__main__":
    main()
