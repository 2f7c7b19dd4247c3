"""Benchmark the Chroma item index: build throughput, query latency, ANN recall against exact search.

Two workloads in one run:

1. MovieLens-100K with real MiniLM embeddings (the `movielens-100k` asset must be fetched):
   full build through ItemIndex (embed + upsert), an idempotent rebuild, text-query latency
   (embedding the query included) and vector-query latency.
2. Synthetic 384-d unit vectors (default 100,000, drawn around 1,000 cluster centres so that
   neighbourhoods exist, as in real embeddings): upsert throughput and vector-query latency.

For both, recall@50 of Chroma's HNSW against exact cosine search in numpy over the same vectors,
and the per-query latency ratio numpy-exact / Chroma (above 1: Chroma is faster).

    bash .ci/env python bench/index.py                 # both workloads, prints a Markdown table
    bash .ci/env python bench/index.py --synthetic 20000 --queries 100
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from recchat.files import write_atomic

K = 50


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def exact_topk(matrix: np.ndarray, query: np.ndarray, k: int) -> np.ndarray:
    scores = matrix @ query
    top = np.argpartition(-scores, k)[:k]
    return top[np.argsort(-scores[top])]


def ann_vs_exact(collection, ids: list[str], matrix: np.ndarray, queries: np.ndarray) -> dict:
    """Query latency of Chroma and of numpy exact search, and Chroma's recall@K."""
    position = {item_id: i for i, item_id in enumerate(ids)}
    chroma_ms, exact_ms, recalls = [], [], []
    for q in queries:
        t = time.perf_counter()
        res = collection.query(query_embeddings=q[None, :], n_results=K, include=[])
        chroma_ms.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        truth = exact_topk(matrix, q, K)
        exact_ms.append((time.perf_counter() - t) * 1000)
        got = {position[i] for i in res["ids"][0]}
        recalls.append(len(got & set(truth.tolist())) / K)
    return {
        "query_p50_ms": percentile(chroma_ms, 50),
        "query_p95_ms": percentile(chroma_ms, 95),
        "exact_p50_ms": percentile(exact_ms, 50),
        "exact_p95_ms": percentile(exact_ms, 95),
        "recall_at_50": statistics.fmean(recalls),
        "exact_over_chroma_p50": percentile(exact_ms, 50) / percentile(chroma_ms, 50),
    }


def bench_movielens(folder: Path, n_queries: int, rng: np.random.Generator) -> dict:
    from recchat.builder import Builder
    from recchat.index import ItemIndex

    data = Builder().dataset  # MovieLens-100K, as the app and the CLI build it
    index = ItemIndex("bench-movielens", path=folder)
    index.embedder.encode(["warm up"])  # model load is not build throughput
    t = time.perf_counter()
    report = index.build(data.catalog, progress=False)
    build_s = time.perf_counter() - t
    t = time.perf_counter()
    again = index.build(data.catalog, progress=False)
    rebuild_s = time.perf_counter() - t
    assert again.added == again.updated == 0, "rebuild of an unchanged catalog changed something"
    items = [i for i in data.catalog if i.text]
    ids = [i.id for i in items]
    t = time.perf_counter()
    matrix = index.embedder.encode([i.text for i in items])
    embed_s = time.perf_counter() - t
    texts = [items[i].title + " and films like it" for i in rng.choice(len(items), n_queries, replace=False)]
    text_ms = []
    for text in texts:
        t = time.perf_counter()
        index.query(text, k=K)
        text_ms.append((time.perf_counter() - t) * 1000)
    queries = index.embedder.encode(texts)
    result = {
        "workload": f"MovieLens-100K, {len(items)} items, real MiniLM vectors",
        "items": len(items),
        "build_items_per_s": report.added / build_s,
        "embed_only_items_per_s": len(items) / embed_s,
        "rebuild_s": rebuild_s,
        "text_query_p50_ms": percentile(text_ms, 50),
        "text_query_p95_ms": percentile(text_ms, 95),
    }
    result.update(ann_vs_exact(index.collection, ids, matrix, queries))
    return result


def synthetic_vectors(n: int, dim: int, rng: np.random.Generator) -> np.ndarray:
    centres = rng.standard_normal((1000, dim)).astype(np.float32)
    vectors = centres[rng.integers(0, len(centres), n)] + 0.6 * rng.standard_normal((n, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def parse_hnsw(text: str) -> dict[str, int]:
    """ "M,EF_CONSTRUCTION,EF_SEARCH" -> Chroma's HNSW configuration keys."""
    try:
        m, efc, efs = (int(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--hnsw takes M,EF_CONSTRUCTION,EF_SEARCH such as 16,100,100 (got '{text}')"
        ) from None
    return {"max_neighbors": m, "ef_construction": efc, "ef_search": efs}


def folder_mb(folder: Path) -> float:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 2**20


def rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS"))) / 1024


def chroma_server(folder: Path):
    """A `chroma run` on ``folder`` (its own process, so its memory is the index's), as a context."""
    import contextlib
    import socket
    import subprocess
    import sys
    import urllib.request

    @contextlib.contextmanager
    def running():
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        exe = Path(sys.executable).parent / "chroma"
        folder.mkdir(parents=True, exist_ok=True)
        log = open(folder.parent / f"{folder.name}.log", "wb")
        proc = subprocess.Popen(
            [str(exe), "run", "--path", str(folder), "--host", "127.0.0.1", "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            for _ in range(240):
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=2)
                    break
                except OSError:
                    time.sleep(0.5)
            yield proc, f"http://127.0.0.1:{port}"
        finally:
            proc.terminate()
            proc.wait(60)
            log.close()

    return running()


def bench_synthetic(
    folder: Path, n: int, n_queries: int, rng: np.random.Generator, settings: list[dict[str, int]], server: bool
) -> list[dict]:
    """One collection per HNSW setting (they are fixed at creation). With ``server`` each lives
    in its own `chroma run` process, whose resident memory and folder size are reported."""
    from tqdm import tqdm

    from recchat.index import connect

    t = time.perf_counter()
    matrix = synthetic_vectors(n, 384, rng)
    ids = [f"s{i}" for i in range(n)]
    # Queries near stored points, as a "more like this item" query would be.
    picks = rng.choice(n, n_queries, replace=False)
    queries = matrix[picks] + 0.3 * rng.standard_normal((n_queries, 384)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    print(f"{n:,} synthetic vectors in {time.perf_counter() - t:.0f} s", flush=True)
    results = []
    for hnsw in settings:
        label = "M {max_neighbors}, ef_construction {ef_construction}, ef_search {ef_search}".format(**hnsw)
        store = folder / "m{max_neighbors}-efc{ef_construction}-efs{ef_search}".format(**hnsw)
        import contextlib

        context = chroma_server(store) if server else contextlib.nullcontext((None, None))
        with context as (proc, url):
            client = connect(url=url) if server else connect(path=store)
            collection = client.create_collection(
                "bench-synthetic", embedding_function=None, configuration={"hnsw": {"space": "cosine", **hnsw}}
            )
            batch = min(client.get_max_batch_size(), 5000)
            t = time.perf_counter()
            for start in tqdm(range(0, n, batch), desc=f"upserting {n:,} vectors ({label})", unit="batch"):
                stop = min(n, start + batch)
                collection.upsert(
                    ids=ids[start:stop],
                    embeddings=matrix[start:stop],
                    metadatas=[{"year": 1900 + (i % 120)} for i in range(start, stop)],
                )
            build_s = time.perf_counter() - t
            result = {
                "workload": f"synthetic, {n:,} items, 384-d clustered unit vectors, {label}"
                + (" (Chroma server)" if server else " (embedded)"),
                "items": n,
                "hnsw": hnsw,
                "build_s": build_s,
                "build_items_per_s": n / build_s,
            }
            result.update(ann_vs_exact(collection, ids, matrix, queries))
            if server:
                result["server_rss_mb"] = rss_mb(proc.pid)
        result["disk_mb"] = folder_mb(store)
        results.append(result)
        print(json.dumps(result), flush=True)
    return results


def bench_crossover(folder: Path, sizes: list[int], n_queries: int, rng: np.random.Generator) -> list[dict]:
    """Where exact search stops paying: for each size, one embedded collection searched through
    ItemIndex both ways (exact in memory, and Chroma's HNSW at its defaults), same queries."""
    from recchat.index import ItemIndex
    from recchat.types import Item

    rows = []
    for n in sizes:
        matrix = synthetic_vectors(n, 384, rng)
        items = [Item(f"s{i}", f"item {i}", f"item {i}", {"year": 1900 + i % 120}) for i in range(n)]
        name = f"crossover-{n}"
        ItemIndex(name, path=folder, vectors="bench").upsert_vectors(items, matrix, progress=False)
        exact = ItemIndex(name, path=folder, vectors="bench", exact_below=n)
        hnsw = ItemIndex(name, path=folder, vectors="bench", exact_below=0)
        queries = matrix[rng.choice(n, n_queries, replace=n_queries > n)]
        queries = queries + 0.3 * rng.standard_normal(queries.shape).astype(np.float32)
        t = time.perf_counter()
        exact.query_vector(queries[0], k=K)  # reads every vector into memory once
        load_s = time.perf_counter() - t
        times: dict[str, list[float]] = {"exact": [], "hnsw": []}
        recalls = []
        for q in queries:
            answers = {}
            for label, index in (("exact", exact), ("hnsw", hnsw)):
                t = time.perf_counter()
                answers[label] = {c.item.id for c in index.query_vector(q, k=K)}
                times[label].append((time.perf_counter() - t) * 1000)
            recalls.append(len(answers["exact"] & answers["hnsw"]) / K)
        row = {
            "items": n,
            "snapshot_load_s": load_s,
            "hnsw_recall_at_50": statistics.fmean(recalls),
            "snapshot_mb": matrix.nbytes / 2**20,
        }
        for label in times:
            row[f"{label}_p50_ms"] = percentile(times[label], 50)
            row[f"{label}_p95_ms"] = percentile(times[label], 95)
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def machine() -> str:
    gpu = "no GPU"
    if shutil.which("nvidia-smi"):
        gpu = "GPU present"
    return f"{os.cpu_count()} cores, {platform.machine()}, {gpu}, Python {platform.python_version()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--synthetic", type=int, default=100_000, help="synthetic items (0 skips)")
    parser.add_argument("--queries", type=int, default=200, help="queries per workload")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--hnsw",
        type=parse_hnsw,
        action="append",
        metavar="M,EFC,EFS",
        help="an HNSW setting for the synthetic workload: max_neighbors (M), ef_construction, "
        "ef_search; repeat for several [Chroma's default 16,100,100 and 16,100,400]",
    )
    parser.add_argument(
        "--server",
        action="store_true",
        help="hold each synthetic collection in its own `chroma run` server (memory and disk reported)",
    )
    parser.add_argument("--no-movielens", action="store_true", help="skip the MovieLens workload")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--crossover",
        metavar="N,N,...",
        help="only this: exact in-memory search against HNSW through ItemIndex at these "
        "collection sizes (embedded), to place recchat.index.EXACT_BELOW",
    )
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    rng = np.random.default_rng(args.seed)
    if args.crossover:
        with tempfile.TemporaryDirectory() as tmp:
            rows = bench_crossover(Path(tmp), [int(n) for n in args.crossover.split(",")], args.queries, rng)
        print(f"\nmachine: {machine()}; {args.queries} queries per size; k={K}; through ItemIndex.query_vector\n")
        print(
            "| items | exact p50 / p95 ms | HNSW p50 / p95 ms | HNSW/exact p50 | HNSW recall@50 | first exact query (load) s | vectors MB |"
        )
        print("|---|---|---|---|---|---|---|")
        for r in rows:
            print(
                f"| {r['items']:,} | {r['exact_p50_ms']:.2f} / {r['exact_p95_ms']:.2f} | {r['hnsw_p50_ms']:.2f} / "
                f"{r['hnsw_p95_ms']:.2f} | {r['hnsw_p50_ms'] / r['exact_p50_ms']:.2f}x | {r['hnsw_recall_at_50']:.3f} | "
                f"{r['snapshot_load_s']:.2f} | {r['snapshot_mb']:.0f} |"
            )
        if args.json:
            write_atomic(args.json, json.dumps({"machine": machine(), "crossover": rows}, indent=2))
        return
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        if not args.no_movielens:
            results.append(bench_movielens(Path(tmp) / "ml", args.queries, rng))
        if args.synthetic:
            settings = args.hnsw or [parse_hnsw("16,100,100"), parse_hnsw("16,100,400")]
            results.extend(bench_synthetic(Path(tmp) / "syn", args.synthetic, args.queries, rng, settings, args.server))
    print(f"\nmachine: {machine()}; {args.queries} queries per workload; k={K}\n")
    print(
        "| workload | build items/s | query p50 / p95 ms | exact numpy p50 ms | exact/Chroma | recall@50 "
        "| disk MB | server RSS MB |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['workload']} | {r['build_items_per_s']:,.0f} | {r['query_p50_ms']:.2f} / "
            f"{r['query_p95_ms']:.2f} | {r['exact_p50_ms']:.2f} | {r['exact_over_chroma_p50']:.2f}x | "
            f"{r['recall_at_50']:.3f} | {r.get('disk_mb', float('nan')):,.0f} | {r.get('server_rss_mb', float('nan')):,.0f} |"
        )
    if not args.no_movielens:
        ml = results[0]
        print(
            f"\nMovieLens extra: embedding alone {ml['embed_only_items_per_s']:,.0f} items/s; unchanged rebuild "
            f"{ml['rebuild_s']:.2f} s; text query (embed + search) p50 {ml['text_query_p50_ms']:.1f} ms, "
            f"p95 {ml['text_query_p95_ms']:.1f} ms"
        )
    if args.json:
        write_atomic(args.json, json.dumps({"machine": machine(), "results": results}, indent=2))


if __name__ == "__main__":
    main()
