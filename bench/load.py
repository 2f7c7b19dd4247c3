"""Load on the real app: N simulated users chatting at once through its /chat API.

Starts `recchat ui` on 127.0.0.1 (a subprocess, as a user runs it, with the $RECCHAT_HOME set up
by `recchat ui` or the README's first command), then for each N in --users runs N users at once,
each a gradio_client Client (its own session) sending a scripted conversation of --turns
messages. Reports, per N: turns per minute, p50/p95 seconds to the ranked list and to the full
reply (with the LLM's reasons), and errors. Time to the list is the full reply's time less the
reply's own explanation time (the app's API returns the reply whole; the browser shows the list
that much earlier). The throughput ratio against one user, and p95 to the list against one
user's p50, are printed for each N (issue 12's targets at 8 users: >= 2x and <= 3x).

    bash .ci/env python bench/load.py                               # transformers in-process, 1 4 8 16 users
    bash .ci/env python bench/load.py --serve-vllm                  # starts `vllm serve` (SmolLM2) for the app
    bash .ci/env python bench/load.py --backend openai --base-url http://127.0.0.1:8000/v1
    bash .ci/env python bench/load.py --parallel 1 --users 1 8      # the baseline: one turn at a time

Each N is bounded: --deadline seconds for the whole round (users still talking are counted as
errors). --out writes the table as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np

LIKED = [
    "Heat",
    "Fargo",
    "Casablanca",
    "Toy Story",
    "Star Wars",
    "Alien",
    "Vertigo",
    "Psycho",
    "Jaws",
    "Titanic",
    "Braveheart",
    "Scream",
    "Contact",
    "Twister",
    "Evita",
    "Sabrina",
]
FOLLOW_UPS = ["something older", "no horror please", "not that one", "more like the first one", "something funnier"]


def script(user: int, turns: int) -> list[str]:
    first = f"I loved {LIKED[user % len(LIKED)]}, something like it"
    return [first] + [FOLLOW_UPS[(user + t) % len(FOLLOW_UPS)] for t in range(turns - 1)]


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app(args: argparse.Namespace, log: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    exe = Path(sys.executable).parent / "recchat"
    cmd = [
        str(exe),
        "ui",
        "--no-setup",
        "--port",
        str(port),
        "--parallel",
        str(args.parallel),
        "--backend",
        args.backend,
    ]
    if args.base_url:
        cmd += ["--base-url", args.base_url, "--concurrency", "16"]
    if args.mode:
        cmd += ["--mode", args.mode]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the app exited ({proc.returncode}); see {log}:\n{log.read_text()[-2000:]}")
        try:
            urllib.request.urlopen(url, timeout=2)
            return proc, url
        except OSError:
            time.sleep(1)
    proc.kill()
    raise SystemExit(f"the app did not answer at {url} within 600 s; see {log}")


def start_vllm(args: argparse.Namespace, log: Path) -> subprocess.Popen:
    """`vllm serve` on the LLM asset, float32 on a CPU; sets --backend openai and --base-url."""
    from recchat.assets import llm_path

    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--model",
        str(llm_path()),
        "--served-model-name",
        "smollm2",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--max-model-len",
        "4096",
    ]
    env = dict(os.environ)
    from recchat.llm import has_cuda

    if not has_cuda():
        cmd += ["--dtype", "float32", "--enforce-eager", "--gpu-memory-utilization", "0.3"]
        env.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
    started = time.monotonic()
    while time.monotonic() - started < 600:
        if proc.poll() is not None:
            raise SystemExit(f"vllm serve exited ({proc.returncode}); see {log}:\n{log.read_text()[-2000:]}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2)
            break
        except OSError:
            time.sleep(1)
    else:
        stop(proc)
        raise SystemExit(f"vllm serve did not answer within 600 s; see {log}")
    print(f"vllm serve up in {time.monotonic() - started:.0f} s on port {port}", flush=True)
    args.backend, args.base_url = "openai", f"http://127.0.0.1:{port}/v1"
    return proc


def stop(proc: subprocess.Popen | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def rss_mb(pid: int) -> float:
    total = 0.0
    for p in [pid, *children(pid)]:
        try:
            status = Path(f"/proc/{p}/status").read_text()
            total += int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS"))) / 1024
        except (OSError, StopIteration):
            pass
    return total


def children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    return [int(c) for c in out] + [g for c in out for g in children(int(c))]


def round_of(url: str, users: int, turns: int, deadline: float) -> dict:
    from gradio_client import Client

    turns_done: list[dict] = []
    errors: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(users + 1)
    stop_at = [time.monotonic() + deadline + 120]  # connecting is not counted; reset at the start

    def user(n: int) -> None:
        try:
            client = Client(url, verbose=False)
        except Exception as exc:  # noqa: BLE001 - counted
            with lock:
                errors.append(f"connect: {exc}")
            start.wait()
            return
        start.wait()
        for message in script(n, turns):
            if time.monotonic() > stop_at[0]:
                with lock:
                    errors.append("deadline")
                return
            began = time.perf_counter()
            try:
                reply = client.predict(message, api_name="/chat")
            except Exception as exc:  # noqa: BLE001 - counted
                with lock:
                    errors.append(f"{type(exc).__name__}: {exc}")
                continue
            total = time.perf_counter() - began
            if "error" in reply or not reply.get("items"):
                with lock:
                    errors.append(str(reply.get("error") or f"no items for '{message}': {reply.get('message')}")[:300])
                continue
            explain = reply.get("timings", {}).get("explain", 0.0)
            with lock:
                turns_done.append(
                    {
                        "user": n,
                        "list_s": max(0.0, total - explain),
                        "reply_s": total,
                        "degraded": reply.get("degraded", False),
                    }
                )

    threads = [threading.Thread(target=user, args=(n,), daemon=True) for n in range(users)]
    for t in threads:
        t.start()
    stop_at[0] = time.monotonic() + deadline + 60
    start.wait()
    began = time.perf_counter()
    stop_at[0] = time.monotonic() + deadline
    for t in threads:
        t.join(max(1.0, stop_at[0] - time.monotonic() + 120))
    wall = time.perf_counter() - began
    lists = [t["list_s"] for t in turns_done]
    full = [t["reply_s"] for t in turns_done]
    return {
        "users": users,
        "turns": len(turns_done),
        "wall_s": round(wall, 1),
        "turns_per_min": round(60 * len(turns_done) / wall, 2) if wall else 0.0,
        "list_p50": pct(lists, 50),
        "list_p95": pct(lists, 95),
        "reply_p50": pct(full, 50),
        "reply_p95": pct(full, 95),
        "errors": len(errors),
        "error_examples": errors[:3],
        "degraded": sum(t["degraded"] for t in turns_done),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1],
    )
    ap.add_argument("--users", type=int, nargs="+", default=[1, 4, 8, 16], help="simulated users at once, per round")
    ap.add_argument("--turns", type=int, default=3, help="messages per user [3]")
    ap.add_argument("--backend", default="transformers", help="the app's LLM backend [transformers]")
    ap.add_argument("--base-url", help="for --backend openai: the server (such as vllm serve)")
    ap.add_argument(
        "--serve-vllm",
        action="store_true",
        help="start `vllm serve` on the LLM asset (SmolLM2) and point the app at it (--backend openai)",
    )
    ap.add_argument("--mode", help="rerank mode [the configuration's]")
    ap.add_argument("--parallel", type=int, default=16, help="the app's turns at once (recchat ui --parallel) [16]")
    ap.add_argument("--deadline", type=float, default=900, help="seconds per round at most [900]")
    ap.add_argument("--out", type=Path, help="write the table as JSON")
    args = ap.parse_args(argv)

    log = Path(os.environ.get("TMPDIR", "/tmp")) / f"recchat-load-{os.getpid()}.log"
    server = start_vllm(args, log.with_suffix(".vllm.log")) if args.serve_vllm else None
    started = time.perf_counter()
    try:
        proc, url = start_app(args, log)
    except BaseException:
        stop(server)
        raise
    print(
        f"app up at {url} in {time.perf_counter() - started:.1f} s ({args.backend}, --parallel {args.parallel}); "
        f"resident memory {rss_mb(proc.pid):.0f} MB",
        flush=True,
    )
    rows, first_answer = [], float("nan")
    try:
        round_of(url, 1, 1, args.deadline)  # warm-up: first-call costs out of the measurement
        first_answer = time.perf_counter() - started
        print(
            f"first answer {first_answer:.1f} s after the app was started; resident memory {rss_mb(proc.pid):.0f} MB",
            flush=True,
        )
        for users in args.users:
            row = round_of(url, users, args.turns, args.deadline)
            row["rss_mb"] = round(rss_mb(proc.pid))
            rows.append(row)
            print(json.dumps(row), flush=True)
    finally:
        stop(proc)
        stop(server)
    one = next((r for r in rows if r["users"] == 1), None)
    print(
        "\n| users | turns | turns/min | list p50 / p95 s | reply p50 / p95 s | errors | RSS MB | throughput vs 1 | "
        "list p95 / 1-user p50 |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        ratio = r["turns_per_min"] / one["turns_per_min"] if one and one["turns_per_min"] else float("nan")
        tail = r["list_p95"] / one["list_p50"] if one and one["list_p50"] else float("nan")
        print(
            f"| {r['users']} | {r['turns']} | {r['turns_per_min']:.1f} | {r['list_p50']:.2f} / {r['list_p95']:.2f} | "
            f"{r['reply_p50']:.2f} / {r['reply_p95']:.2f} | {r['errors']} | {r['rss_mb']} | {ratio:.2f}x | {tail:.2f}x |"
        )
    if args.out:
        from recchat.files import write_atomic

        write_atomic(
            args.out,
            json.dumps(
                {"args": vars(args) | {"out": str(args.out)}, "first_answer_s": first_answer, "rows": rows}, indent=2
            ),
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
