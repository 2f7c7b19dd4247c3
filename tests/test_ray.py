"""The batch rerank job on a real local Ray cluster (`ray start --head` on 127.0.0.1, two CPUs,
always stopped), with the real transformers LLM in each actor: the same output as the
single-process script, and a worker killed mid-job costs nothing."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import free_port

pytest.importorskip("ray")

RAY = Path(sys.executable).parent / "ray"
RECCHAT = Path(sys.executable).parent / "recchat"
# The test cluster asks for a token, as a cluster should; the job is given it the way a user would.
AUTH = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}


def requests(movielens) -> list[str]:
    """8 requests on MovieLens items (priors given, so no scorer is needed) and 2 bad lines."""
    ids = [i.id for i in movielens.catalog if i.text][:200]
    lines = []
    for k in range(8):
        history = [ids[k], {"id": ids[k + 20], "rating": 5}, ids[k + 40]]
        candidates = [{"id": ids[60 + k * 8 + j], "score": round(1.0 - j * 0.1, 2)} for j in range(6)]
        lines.append(
            json.dumps(
                {
                    "id": f"u{k}",
                    "history": history,
                    "candidates": candidates,
                    **({"query": "something older"} if k % 3 == 0 else {}),
                }
            )
        )
    lines.insert(3, '{"id": "broken", ')
    lines.insert(7, json.dumps({"id": "empty", "candidates": []}))
    return lines


def read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def rerank(home: Path, folder: Path, *extra: str, wait: bool = True) -> subprocess.Popen | subprocess.CompletedProcess:
    cmd = [
        str(RECCHAT),
        "rerank",
        "--input",
        str(folder / "in.jsonl"),
        "--output",
        str(folder / "out.jsonl"),
        "--backend",
        "transformers",
        "--mode",
        "listwise",
        "--scorer",
        str(folder / "none.pt"),
        *extra,
    ]
    env = {**os.environ, "RECCHAT_HOME": str(home), "HF_HUB_OFFLINE": "1", **AUTH}
    if wait:
        return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A Ray head on 127.0.0.1 with two CPUs (two one-CPU actors at once); stopped at the end."""
    port = free_port()
    log = tmp_path_factory.mktemp("ray") / "start.log"
    with open(log, "w") as fh:
        started = subprocess.run(
            [
                str(RAY),
                "start",
                "--head",
                "--node-ip-address=127.0.0.1",
                f"--port={port}",
                "--num-cpus=2",
                "--include-dashboard=false",
                "--disable-usage-stats",
            ],
            stdout=fh,
            stderr=subprocess.STDOUT,
            timeout=180,
            env={**os.environ, **AUTH},
        )
    try:
        assert started.returncode == 0, log.read_text()
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([str(RAY), "stop", "--force"], capture_output=True, timeout=120, env={**os.environ, **AUTH})


@pytest.fixture(scope="module")
def single(movielens, llm_dir, tmp_path_factory):
    """The single-process script's output on the input: the reference."""
    folder = tmp_path_factory.mktemp("single")
    (folder / "in.jsonl").write_text("\n".join(requests(movielens)) + "\n")
    home = llm_dir.parent.parent.parent
    done = rerank(home, folder)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "8 ranked (0 degraded to the scorer), 0 already done, 2 rejected" in done.stdout
    return folder


def same_as_single(folder: Path, single: Path) -> None:
    want, got = read(single / "out.jsonl"), read(folder / "out.jsonl")
    assert [r["id"] for r in got] == [r["id"] for r in want]  # every id once, in input order
    for a, b in zip(got, want):
        assert a["mode"] == b["mode"] and not a["degraded"]
        scores = {x["id"]: x["score"] for x in b["ranking"]}
        assert {x["id"] for x in a["ranking"]} == set(scores)
        assert all(abs(x["score"] - scores[x["id"]]) < 1e-3 for x in a["ranking"]), (a, b)
        # The same order, except where two scores are within the tolerance of each other.
        order = [x["id"] for x in a["ranking"]]
        assert all(
            order.index(p) < order.index(q)
            for p, q in zip([x["id"] for x in b["ranking"]], [x["id"] for x in b["ranking"]][1:])
            if scores[p] - scores[q] > 2e-3
        )
    assert (folder / "out.rejects.jsonl").read_text() == (single / "out.rejects.jsonl").read_text()


def ranker_processes() -> list[int]:
    """Ray actor processes of the job's pool, by their process title."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                title = (entry / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if title.startswith("ray::MapWorker(MapBatches(_Ranker))"):
                found.append(int(entry.name))
    return found


def test_a_ray_job_with_a_worker_killed_mid_job_gives_the_single_process_output(cluster, single, llm_dir, tmp_path):
    (tmp_path / "in.jsonl").write_text((single / "in.jsonl").read_text())
    out = tmp_path / "out.jsonl"
    job = rerank(
        llm_dir.parent.parent.parent, tmp_path, "--ray", cluster, "--actors", "2", "--block-size", "2", wait=False
    )
    killed = None
    try:
        deadline = time.monotonic() + 600
        # Once the first blocks are written (the actors are loaded and working), kill one actor.
        while killed is None and job.poll() is None and time.monotonic() < deadline:
            workers = ranker_processes()
            if out.is_file() and len(out.read_text().splitlines()) >= 2 and workers:
                os.kill(workers[0], signal.SIGKILL)
                killed = workers[0]
            time.sleep(0.2)
        output, _ = job.communicate(timeout=600)
    finally:
        if job.poll() is None:
            job.kill()
    assert killed is not None, f"the job ended before an actor could be killed:\n{output[-3000:]}"
    written = len(read(out))
    assert job.returncode == 0, output[-3000:]
    assert "8 ranked (0 degraded to the scorer), 0 already done, 2 rejected (Ray, 2 actors)" in output
    assert written == 8 and killed not in ranker_processes()
    same_as_single(tmp_path, single)  # nothing lost, nothing twice, the same rankings and rejects

    # Run again: everything is done, nothing is written twice.
    again = rerank(llm_dir.parent.parent.parent, tmp_path, "--ray", cluster)
    assert "0 ranked (0 degraded to the scorer), 8 already done, 2 rejected" in again.stdout, again.stderr[-2000:]
    same_as_single(tmp_path, single)


def test_no_cluster_is_a_clear_error(single, llm_dir, tmp_path):
    (tmp_path / "in.jsonl").write_text((single / "in.jsonl").read_text())
    done = rerank(llm_dir.parent.parent.parent, tmp_path, "--ray", f"127.0.0.1:{free_port()}")
    assert done.returncode == 2 and "answered" in done.stderr and "ray start --head" in done.stderr, done.stderr[-2000:]
    assert "Traceback" not in done.stderr and not (tmp_path / "out.jsonl").read_text()
