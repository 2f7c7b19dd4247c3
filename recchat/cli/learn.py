"""Sub-commands that learn and measure: train, eval, tune-llm, tune-blend."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recchat.cli.options import add_blend, add_config, add_llm, add_scorer, add_store, builder, limit_users
from recchat.cli.train import cmd_train

if TYPE_CHECKING:
    from recchat.builder import Builder
    from recchat.cli.options import Subcommands
    from recchat.data.split import Split
    from recchat.rerank import ItemReranker


def cmd_eval(args: argparse.Namespace) -> int:
    """Evaluate baselines and the scorer under the leave-one-out protocol; write a run folder."""
    from recchat.data.split import leave_one_out
    from recchat.evaluation import bucket_summary, evaluate, markdown_table, popularity_buckets, write_report
    from recchat.evaluation.baselines import ItemKNN, Popularity, TextRetriever

    parts = builder(args)
    data = parts.dataset
    log = limit_users(data.interactions, args.max_users)
    split = leave_one_out(log, data.catalog)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = set(methods) - {"popularity", "item-knn", "text", "scorer"}
    if unknown:
        raise ValueError(
            f"unknown method(s) {', '.join(sorted(unknown))}; choose from popularity, item-knn, text, scorer"
        )
    if args.cold_items is not None:
        from recchat.evaluation.cold_run import cold_eval_report

        index = parts.index(build="always", progress=False) if {"text", "scorer"} & set(methods) else None
        options = {"text_encoder": args.text_encoder, "max_epochs": args.max_epochs, "seed": args.seed}
        run = {"dataset": parts.name, "interactions": len(log), "max_users": args.max_users}
        return cold_eval_report(
            split, data.catalog, index, methods, args.cold_items, args.cold_seed, options, run, args.out
        )
    rankers: list[Any] = []
    for method in methods:
        if method == "popularity":
            rankers.append(Popularity(data.catalog))
        elif method == "item-knn":
            rankers.append(ItemKNN(data.catalog))
        elif method == "text":
            rankers.append(TextRetriever.from_index(data.catalog, parts.index(build="always", progress=False)))
        else:
            rankers.append(parts.scorer(required=True))
    results = []
    for ranker in rankers:
        started = time.perf_counter()
        ranker.fit(split)
        results.append(evaluate(ranker, split))
        results[-1]["seconds"] = time.perf_counter() - started
        print(
            f"{ranker.name}: test NDCG@10 {results[-1]['test']['NDCG@10']:.4f} ({results[-1]['seconds']:.1f} s)",
            file=sys.stderr,
        )
    config = {
        "dataset": parts.name,
        "users": len(split.users),
        "items": split.n_items,
        "interactions": len(log),
        "methods": methods,
        "scorer": str(parts.config.checkpoint()) if "scorer" in methods else None,
        "max_users": args.max_users,
        "popularity_buckets": bucket_summary(split.train_counts(), popularity_buckets(split.train_counts())),
    }
    if args.rerank:
        results.extend(_rerank_results(args, parts, split, config))
    folder = write_report(results, config, args.out)
    print(markdown_table(results, "test"))
    if config.get("rerank"):
        print(config["rerank"]["degradation_line"])
    print(f"\nrun folder: {folder} (results.json, results.md, chart.png)")
    return 0


def _llm_record(parts: Builder, reranker: ItemReranker) -> dict[str, object]:
    llm = parts.config.llm
    return {
        "mode": llm.mode,
        "passes": llm.passes,
        "backend": llm.backend,
        "history": reranker.history_limit,
        "model": llm.model or "smollm2-135m-instruct",
    }


def _rerank_results(
    args: argparse.Namespace, parts: Builder, split: Split, config: dict[str, Any]
) -> list[dict[str, Any]]:
    """LLM-only, scorer-only and blend over the scorer's top candidates, on test users.

    The rows say how many users the LLM really reranked; when most users fell back to the scorer
    the LLM and blend rows are withheld (kept in results.json, flagged), never shown as the LLM's.
    """
    from recchat.evaluation import degradation, degradation_line, paired_interval, rerank_metrics, rerank_records

    scorer, blend, reranker = parts.ranking_scorer(), parts.blend(), parts.reranker()
    if reranker.backend is None:
        raise ValueError("--rerank needs an LLM; the configuration or --backend says none")
    users = [int(u) for u in split.evaluated_users("test")[: args.rerank_users]] if args.rerank_users else None
    records = rerank_records(
        split, scorer, reranker, parts.catalog, "test", users=users, k=args.candidates, skip_misses=not args.rerank_all
    )
    info = degradation(records)
    config["rerank"] = {
        **_llm_record(parts, reranker),
        "candidates": args.candidates,
        "alpha": blend.alpha,
        "norm": blend.norm,
        "alpha_tuned_on": blend.tuned_on,
        **info,
        "degradation_line": degradation_line(info),
    }
    print(config["rerank"]["degradation_line"], file=sys.stderr)
    mode = parts.config.llm.mode
    out = []
    rows = [
        (f"scorer top-{args.candidates}", 0.0),
        (f"LLM only ({mode})", 1.0),
        (f"blend a={blend.alpha:.2f} {blend.norm}", blend.alpha),
    ]
    rejected = (blend.tuned_on or {}).get("best_grid_alpha")
    if args.alpha is None and rejected not in (None, blend.alpha):
        # tune-blend kept the scorer because the best grid point's gain was within noise; its test
        # figure is still worth seeing, under a label that says it was not chosen.
        rows.append(
            (f"blend a={rejected:.2f} {blend.norm} (best on validation, not chosen: within noise)", float(rejected))
        )
    for label, alpha in rows:
        m = rerank_metrics(records, alpha, blend.norm)
        inside: dict[str, float | str] = {
            f"{k} (target in candidates)": v for k, v in m["in_candidates"].items() if k in ("NDCG@10", "HR@10")
        }
        withheld = info["llm_unreliable"] and alpha > 0
        if withheld:
            label += f" [withheld: {info['degraded_users']} of {info['users']} users degraded]"
        if alpha > 0:
            ci = paired_interval(records, alpha, blend.norm)
            inside["NDCG@10 gain over scorer"] = ci["gain"]
            inside["gain 95% CI"] = f"[{ci['low']:+.4f}, {ci['high']:+.4f}]"
        out.append(
            {
                "method": label,
                "test": {
                    **m["all"],
                    **inside,
                    "users": m["users"],
                    "users_in_candidates": m["users_in_candidates"],
                    "degraded_users": m["degraded_users"],
                    "reranked_users": m["reranked_users"],
                    "withheld": withheld,
                },
            }
        )
    return out


def cmd_tune_blend(args: argparse.Namespace) -> int:
    """Pick alpha and the normalisation on the validation split; save them beside the scorer."""
    from recchat.blend import BlendConfig
    from recchat.data.split import leave_one_out
    from recchat.evaluation import degradation, degradation_line, rerank_records, tune_blend

    parts = builder(args)
    data = parts.dataset
    split = leave_one_out(limit_users(data.interactions, args.max_users), data.catalog)
    scorer, reranker = parts.ranking_scorer(), parts.reranker()
    if reranker.backend is None:
        raise ValueError("tune-blend needs an LLM; the configuration or --backend says none")
    records = rerank_records(
        split, scorer, reranker, data.catalog, "valid", k=args.candidates, skip_misses=not args.rerank_all
    )
    info = degradation(records)
    print(degradation_line(info))
    if info["llm_unreliable"]:
        raise ValueError(
            f"not tuning: the LLM failed for {info['degraded_users']} of {info['users']} validation "
            f"users (first error: {info['first_error']}); a blend weight learned from the scorer's "
            "own scores would mean nothing. Fix the LLM (try: recchat doctor) and run again."
        )
    alpha, norm, grid, evidence = tune_blend(records)
    best = next(g for g in grid if g["alpha"] == evidence["best_alpha"] and g["norm"] == norm)
    chosen = next(g for g in grid if g["alpha"] == alpha and g["norm"] == norm)
    scorer_only = next(g for g in grid if g["alpha"] == 0.0 and g["norm"] == norm)
    config = BlendConfig(
        alpha,
        norm,
        {
            "split": "valid",
            "users": len(records),
            "candidates": args.candidates,
            **_llm_record(parts, reranker),
            "NDCG@10": chosen["NDCG@10"],
            "scorer_only_NDCG@10": scorer_only["NDCG@10"],
            "best_grid_alpha": best["alpha"],
            "best_grid_NDCG@10": best["NDCG@10"],
            "bootstrap_share_better": evidence["bootstrap_share_better"],
            "degraded_users": info["degraded_users"],
            "reranked_users": info["reranked_users"],
            "first_error": info["first_error"],
            "grid": grid,
        },
    )
    path = config.save(BlendConfig.path_for(parts.config.checkpoint(), parts.config.llm.model))
    print(
        f"best on the grid: alpha {best['alpha']:.2f}, {norm}: validation NDCG@10 {best['NDCG@10']:.4f} "
        f"against the scorer alone {scorer_only['NDCG@10']:.4f} on {len(records)} users; better in "
        f"{100 * evidence['bootstrap_share_better']:.0f}% of bootstrap resamples"
    )
    if alpha != best["alpha"]:
        print("the gain is within the noise (needs 95%): alpha 0, the scorer alone, is kept")
    print(f"chosen: alpha {alpha:.2f}, {norm}")
    print(f"saved {path}")
    return 0


def cmd_tune_llm(args: argparse.Namespace) -> int:
    """Fine-tune the reranking LLM with LoRA on the training interactions; write the adapter, a merged
    model folder and tune.json."""
    from recchat.data.split import leave_one_out
    from recchat.tune import TuneConfig, TuneError, train_miner, tune

    config = TuneConfig(
        **{k: v for k, v in vars(args).items() if k in TuneConfig.__dataclass_fields__ and v is not None}
    )
    config.base_model = args.base_model
    config.check()
    parts = builder(args)
    data = parts.dataset
    split = leave_one_out(limit_users(data.interactions, args.max_users), data.catalog)
    try:
        scorer = parts.ranking_scorer()
    except Exception as exc:
        raise TuneError(f"{exc} (the scorer picks the validation candidates)") from None
    models = parts.config.checkpoint().parent
    out = args.out or models / f"{parts.name}-llm-{config.objective}"
    miner = None
    if config.negatives != "random":
        from recchat.retrieve import item_text_vectors

        index = parts.index(build="always", progress=False)
        miner = train_miner(
            split,
            data.catalog,
            item_text_vectors(data.catalog, index),
            config.positions,
            models / f"{parts.name}-miner-p{config.positions}.pt",
            quick=args.quick_miner,
        )
    result = tune(
        split, data.catalog, scorer, config, out, miner=miner, kind=parts.config.domain.item, resume=args.resume
    )
    print(
        f"validation NDCG@10 (LLM alone, users whose target is a candidate): zero-shot "
        f"{result.zero_shot_ndcg:.4f}, best {result.best_ndcg:.4f} after {result.best_examples} examples "
        f"({result.seconds_to_best / 60:.1f} min; {result.seconds_per_example:.2f} s per example)"
    )
    print(
        f"adapter: {result.folder / 'adapter'}\nmerged model: {result.folder / 'model'} "
        f"(use: --model {result.folder / 'model'})"
    )
    return 0


def register(sub: Subcommands) -> None:
    p = sub.add_parser(
        "train",
        help="build the index and train the two-tower scorer on the interactions",
        description=(cmd_train.__doc__ or "") + " Leave-one-out split; early stopping on "
        "validation NDCG@10. Defaults: MovieLens-100K, checkpoint in $RECCHAT_HOME/models.",
    )
    add_config(p)
    add_store(p)
    g = p.add_argument_group("training (defaults in brackets come from ScorerConfig)")
    g.add_argument("--out", type=Path, help="checkpoint path [$RECCHAT_HOME/models/<name>-scorer.pt]")
    g.add_argument("--behaviour-collection", help="Chroma collection for the item vectors [<name>-behaviour]")
    g.add_argument(
        "--warm-start",
        nargs="?",
        const="",
        metavar="CHECKPOINT",
        help="continue from a checkpoint (default: the one --out or the configuration names) on the current "
        "catalog and log: new items' id embeddings start at zero, the rest is kept; not --dim, --layers, "
        "--heads or --max-len",
    )
    g.add_argument("--dim", type=int, help="vector size [64]")
    g.add_argument("--layers", type=int, help="Transformer layers [2]")
    g.add_argument("--heads", type=int, help="attention heads [2]")
    g.add_argument("--max-len", type=int, help="history length the model reads [100]")
    g.add_argument("--dropout", type=float, help="dropout [0.2]")
    g.add_argument("--id-dropout", type=float, help="share of item ids hidden per step, so text carries weight [0.1]")
    g.add_argument(
        "--text-encoder",
        help="item text vectors: minilm, an LLM's (smollm2-mean, -last, -prompt; gemma3-...), or joined by + "
        "(minilm+smollm2-mean) [minilm]",
    )
    g.add_argument("--lr", type=float, help="learning rate [0.002]")
    g.add_argument("--batch-size", type=int, help="users per step [64]")
    g.add_argument("--max-epochs", type=int, help="epoch limit [200]")
    g.add_argument("--patience", type=int, help="epochs without validation gain before stopping [8]")
    g.add_argument("--seed", type=int, help="random seed [0]")
    g.add_argument("--max-users", type=int, help="train on the first N users only (quick runs)")
    g.add_argument("--device", help="cpu or cuda [cuda when available]")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser(
        "eval",
        help="evaluate baselines and the scorer (leave-one-out, full ranking)",
        description=(cmd_eval.__doc__ or "") + " Each user's last interaction is the test target, "
        "the one before it validation; ties in time keep file order; all items are "
        "ranked with the user's earlier items masked; ties in score count against the target.",
    )
    add_config(p)
    add_store(p)
    add_scorer(p)
    p.add_argument(
        "--methods",
        default="popularity,item-knn,text,scorer",
        help="comma-separated: popularity, item-knn, text, scorer [all four]",
    )
    p.add_argument("--out", type=Path, default=Path("runs"), help="where run folders go [./runs]")
    p.add_argument("--max-users", type=int, help="evaluate the first N users only")
    p.add_argument(
        "--rerank",
        action="store_true",
        help="also rerank the scorer's top candidates with the "
        "LLM: LLM-only, scorer-only and blend, on all users and on those whose target is a candidate",
    )
    p.add_argument("--rerank-users", type=int, help="rerank only the first N test users (the LLM is slow on CPU)")
    p.add_argument(
        "--rerank-all",
        action="store_true",
        help="send every user to the LLM, also those whose "
        "target is not a candidate (their metrics are the same in any order; skipped by default)",
    )
    p.add_argument("--candidates", type=int, default=20, help="scorer top-N the LLM reranks [20]")
    g = p.add_argument_group("cold items (see recchat.evaluation.cold)")
    g.add_argument(
        "--cold-items",
        type=float,
        metavar="FRACTION",
        help="hold out this fraction of the items (random, --cold-seed) with all their interactions from "
        "every method's training, train a scorer without them, and evaluate the users whose test target is one",
    )
    g.add_argument("--cold-seed", type=int, default=0, help="seed of the held-out items [0]")
    g.add_argument("--text-encoder", help="text vectors of the scorer trained for --cold-items [minilm]")
    g.add_argument("--max-epochs", type=int, help="epoch limit of the scorer trained for --cold-items [200]")
    g.add_argument("--seed", type=int, help="seed of the scorer trained for --cold-items [0]")
    add_blend(p)
    add_llm(p)
    p.set_defaults(func=cmd_eval)

    from recchat.tune import TuneConfig

    tune_defaults = TuneConfig()  # one table of defaults: the dataclass
    p = sub.add_parser(
        "tune-llm",
        help="fine-tune the reranking LLM (LoRA) on the training interactions",
        description=(cmd_tune_llm.__doc__ or "") + " Examples come from the training part of the "
        "leave-one-out split only; early stopping on validation NDCG@10 of the rerank. "
        "Checkpoints after every evaluation; --resume continues. See recchat.tune.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add_config(p)
    add_store(p)
    add_scorer(p)
    g = p.add_argument_group("tuning")
    g.add_argument(
        "--model",
        dest="base_model",
        default=tune_defaults.base_model,
        help="base model: a model asset (smollm2-135m-instruct, gemma3-270m) or a model folder",
    )
    g.add_argument("--out", type=Path, help="run folder [$RECCHAT_HOME/models/<name>-llm-<objective>]")
    g.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    g.add_argument(
        "--objective",
        default=tune_defaults.objective,
        choices=("listwise", "pointwise"),
        help="listwise: the target's letter among labelled candidates; pointwise: the target's "
        "Yes log-odds against the others'",
    )
    g.add_argument(
        "--label-loss",
        default=tune_defaults.label_loss,
        choices=("candidates", "vocab"),
        help="listwise softmax over the candidates' label tokens, or over the whole vocabulary",
    )
    g.add_argument(
        "--negatives",
        default=tune_defaults.negatives,
        choices=("random", "hard", "mixed"),
        help="random items, a miner scorer's best other items, or half each",
    )
    g.add_argument("--quick-miner", action="store_true", help="train the negative miner briefly (tests)")
    g.add_argument(
        "--positions", type=int, default=tune_defaults.positions, help="training positions per user (the last N)"
    )
    g.add_argument(
        "--candidates", type=int, default=tune_defaults.candidates, help="candidates per example, the target included"
    )
    g.add_argument("--history", type=int, default=tune_defaults.history, help="history items in the prompt")
    g.add_argument("--lora-r", type=int, default=tune_defaults.lora_r, help="LoRA rank")
    g.add_argument("--lora-alpha", type=int, default=tune_defaults.lora_alpha, help="LoRA alpha")
    g.add_argument("--lora-dropout", type=float, default=tune_defaults.lora_dropout, help="LoRA dropout")
    g.add_argument(
        "--targets", default=tune_defaults.targets, choices=("qv", "qkvo", "all"), help="projections that get LoRA"
    )
    g.add_argument(
        "--top-layers", type=int, default=tune_defaults.top_layers, help="LoRA on the top N layers only (0: all)"
    )
    g.add_argument("--lr", type=float, default=tune_defaults.lr, help="learning rate")
    g.add_argument("--accumulate", type=int, default=tune_defaults.accumulate, help="examples per optimizer step")
    g.add_argument("--max-examples", type=int, default=tune_defaults.max_examples, help="training examples at most")
    g.add_argument(
        "--eval-every", type=int, default=tune_defaults.eval_every, help="examples between validation evaluations"
    )
    g.add_argument(
        "--val-users", type=int, default=tune_defaults.val_users, help="validation users in the early-stopping sample"
    )
    g.add_argument(
        "--val-candidates",
        type=int,
        default=tune_defaults.val_candidates,
        help="the scorer's top N that validation reranks",
    )
    g.add_argument(
        "--patience", type=int, default=tune_defaults.patience, help="evaluations without gain before stopping"
    )
    g.add_argument("--seed", type=int, default=tune_defaults.seed, help="random seed")
    g.add_argument("--threads", type=int, help="torch threads [torch's default]")
    g.add_argument("--max-users", type=int, help="use the first N users only (quick runs)")
    p.set_defaults(func=cmd_tune_llm)

    p = sub.add_parser(
        "tune-blend",
        help="learn the LLM/scorer blend weight on the validation split",
        description=cmd_tune_blend.__doc__,
    )
    add_config(p)
    add_llm(p)
    add_scorer(p)
    p.add_argument("--candidates", type=int, default=20, help="scorer top-N the LLM reranks [20]")
    p.add_argument("--max-users", type=int, help="the first N users only")
    p.add_argument(
        "--rerank-all",
        action="store_true",
        help="send every user to the LLM, also those whose "
        "target is not a candidate (a miss in any order; skipped by default)",
    )
    p.set_defaults(func=cmd_tune_blend)
