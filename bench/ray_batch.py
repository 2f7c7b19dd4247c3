"""Benchmark `recchat rerank --ray`: throughput with 1 and 2 actors on a local Ray cluster,
against the single-process script, on the same MovieLens requests, in one run.

Starts its own Ray head on 127.0.0.1 (token authentication on, always stopped), writes N
requests (history of 5 MovieLens items, 10 candidates with priors), and runs:

1. `recchat rerank` in one process (torch using every core),
2. `recchat rerank --ray ADDRESS --actors 1 --actor-cpus C`,
3. `recchat rerank --ray ADDRESS --actors 2 --actor-cpus C`.

Each is timed whole (start-up included) and from its first written line to its last (the
steady rate, start-up excluded); outputs are checked to hold every request once.

    bash .ci/env python bench/ray_batch.py                     # 48 requests, transformers, listwise
    bash .ci/env python bench/ray_batch.py --requests 96 --actor-cpus 1
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_requests(path: Path, n: int) -> None:
    from recchat.builder import Builder

    ids = [i.id for i in Builder(log=lambda m: None).catalog if i.text]
    with open(path, "w") as fh:
        for k in range(n):
            history = [ids[(k * 7 + j * 31) % len(ids)] for j in range(5)]
            candidates = [
                {"id": ids[(k * 13 + j * 17 + 500) % len(ids)], "score": round(1 - j * 0.05, 2)} for j in range(10)
            ]
            fh.write(json.dumps({"id": f"q{k}", "history": history, "candidates": candidates}) + "\n")


def timed(cmd: list[str], out: Path, env: dict) -> dict:
    """Run ``cmd``; the whole time, and the time from its first output line to its last."""
    start = time.perf_counter()
    first, before_first = None, 0
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while proc.poll() is None:
        if first is None and out.is_file() and out.stat().st_size:
            first = time.perf_counter()
            before_first = out.read_text().count("\n")  # already out: not part of the steady rate
        time.sleep(0.05)
    total = time.perf_counter() - start
    stdout, stderr = proc.communicate()
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{stderr[-3000:]}")
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    first = first or time.perf_counter()
    return {
        "total_s": total,
        "first_line_s": first - start,
        "lines": len(lines),
        "ids_unique": len({r["id"] for r in lines}) == len(lines),
        "summary": stdout.strip().splitlines()[-1],
        "steady_s": start + total - first,
        "steady_lines": len(lines) - before_first,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=48)
    parser.add_argument("--actor-cpus", type=float, default=1)
    parser.add_argument("--block-size", type=int, default=4)
    parser.add_argument("--backend", default="transformers")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    auth = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
    env = {**os.environ, "HF_HUB_OFFLINE": "1", **auth}
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        requests = folder / "in.jsonl"
        write_requests(requests, args.requests)
        common = [
            "--input",
            str(requests),
            "--backend",
            args.backend,
            "--mode",
            "listwise",
            "--scorer",
            str(folder / "none.pt"),
        ]
        runs = {}
        started = subprocess.run(
            [
                str(BIN / "ray"),
                "start",
                "--head",
                f"--port={port}",
                f"--num-cpus={os.cpu_count()}",
                "--include-dashboard=false",
                "--disable-usage-stats",
            ],
            env=env,
            capture_output=True,
            text=True,
        )
        if started.returncode:
            raise SystemExit(started.stderr[-3000:])
        try:
            for label, extra in (
                ("single process", []),
                ("Ray, 1 actor", ["--ray", f"127.0.0.1:{port}", "--actors", "1"]),
                ("Ray, 2 actors", ["--ray", f"127.0.0.1:{port}", "--actors", "2"]),
            ):
                out = folder / f"out-{len(runs)}.jsonl"
                if extra:
                    extra += ["--actor-cpus", str(args.actor_cpus), "--block-size", str(args.block_size)]
                print(f"running: {label}", flush=True)
                runs[label] = timed([str(BIN / "recchat"), "rerank", *common, "--output", str(out), *extra], out, env)
        finally:
            subprocess.run([str(BIN / "ray"), "stop", "--force"], env=env, capture_output=True)
    for r in runs.values():
        r["requests_per_min"] = 60 * r["lines"] / r["total_s"]
        r["steady_per_min"] = 60 * r["steady_lines"] / r["steady_s"]
    base = runs["single process"]["total_s"]
    one = runs["Ray, 1 actor"]["total_s"]
    print(
        f"\nmachine: {os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}; "
        f"{args.requests} requests x 10 candidates, {args.backend} listwise; actor CPUs {args.actor_cpus}, "
        f"block {args.block_size}\n"
    )
    steady_one = runs["Ray, 1 actor"]["steady_per_min"]
    print(
        "| run | total s | first line s | requests/min | steady requests/min | total vs single | total vs 1 actor "
        "| steady vs 1 actor | all ids once |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for label, r in runs.items():
        print(
            f"| {label} | {r['total_s']:.1f} | {r['first_line_s']:.1f} | {r['requests_per_min']:.1f} | "
            f"{r['steady_per_min']:.1f} | {base / r['total_s']:.2f}x | {one / r['total_s']:.2f}x | "
            f"{r['steady_per_min'] / steady_one:.2f}x | {r['ids_unique'] and r['lines'] == args.requests} |"
        )
    if args.json:
        args.json.write_text(json.dumps({"runs": runs, "args": vars(args) | {"json": str(args.json)}}, indent=2))


if __name__ == "__main__":
    main()
