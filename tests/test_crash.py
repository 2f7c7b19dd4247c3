"""Crash safety: the real `recchat` process killed with SIGKILL at several points, then run again.

Each test starts the installed console script, watches its progress (tqdm lines on stderr, output
lines, files appearing), kills it with ``kill -9`` at the chosen moments, checks that what was
saved before is intact and that nothing half-written replaced it, reruns the same command and
checks the end state: every item or request exactly once, nothing lost. A kill -9 gives the
process no chance to clean up, so it also stands for a crash. (A power cut is covered by the
fsync in recchat.files, which no test here can pull the plug on.)

Cheap but real settings keep this inside its time budget: the catalog is 300 MovieLens items
whose vectors are already in the embedder's cache (no model load, only real Chroma writes),
`recchat rerank --backend none` (the real batch writer with the scorer-order fallback), and a
one-epoch scorer whose three trainings run in a background thread beside the other tests, and
`recchat tune-blend` against an OpenAI-compatible server that answers in milliseconds (a real
LLM pass per run would not fit four runs here); its save (BlendConfig.save) is also killed in a
loop by test_saves_survive_kill_mid_write.
"""

from __future__ import annotations

import csv
import io
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from recchat.blend import BlendConfig
from recchat.files import replacing_folder, settle_folder, write_atomic

RECCHAT = str(Path(sys.executable).parent / "recchat")
ITEMS = 300  # catalog size
CHANGED = 60  # items whose text the second catalog changes


# --------------------------------------------------------------------------- helpers


class Films:
    """One deployment of the test catalog under ``root``: ``NAME.csv`` and ``NAME.toml``, sharing
    ratings.csv and a RECCHAT_HOME; it runs and kills `recchat` commands on its configuration."""

    def __init__(self, root: Path, name: str, items: list[tuple[str, str]], spare: list[str], vectors: dict):
        self.root, self.name, self.home, self.config = root, name, root / "home", root / f"{name}.toml"
        self.items, self.spare, self.vectors = items, spare, vectors  # (id, text); texts; text: vector
        self.write_catalog(items)
        # The title column carries the MovieLens text, so an item's text is exactly a cached one.
        self.config.write_text(
            f'name = "films"\n\n[catalog]\npath = "{name}.csv"\nid = "item_id"\ntitle = "title"\n\n'
            '[interactions]\npath = "ratings.csv"\nuser = "user_id"\nitem = "item_id"\n'
            'rating = "rating"\ntimestamp = "timestamp"\n\n[llm]\nbackend = "none"\n\n'
            '[domain]\nitem = "film"\n'
        )

    def write_catalog(self, items: list[tuple[str, str]]) -> None:
        with open(self.root / f"{self.name}.csv", "w", newline="") as fh:
            out = csv.writer(fh)
            out.writerow(["item_id", "title"])
            out.writerows(items)

    def start(self, args: list[str], stdout: Path | None = None) -> tuple[subprocess.Popen, Path]:
        """`recchat ARGS --config CONFIG` started; its stderr goes to the returned file."""
        err = self.root / f"stderr-{time.monotonic_ns()}.txt"
        with open(err, "wb") as fh, open(stdout or os.devnull, "wb") as out:
            proc = subprocess.Popen(
                [RECCHAT, *args, "--config", str(self.config)],
                stdout=out,
                stderr=fh,
                env={**os.environ, "RECCHAT_HOME": str(self.home)},
            )
        return proc, err

    def run(self, *args: str) -> str:
        """Run `recchat ARGS` to the end; its stdout."""
        out = self.root / f"stdout-{time.monotonic_ns()}.txt"
        proc, err = self.start(list(args), out)
        return finished(proc, err, out, args)

    def kill_when(
        self, args: list[str], ready: Callable[[Path], bool], *, poll: float = 0.01, timeout: float = 300
    ) -> None:
        """Start `recchat ARGS` and SIGKILL it the moment ``ready(stderr_file)`` holds; the test
        fails if the process ends first (the kill point was never reached)."""
        proc, err = self.start(args)
        deadline = time.monotonic() + timeout
        try:
            while proc.poll() is None and time.monotonic() < deadline:
                if ready(err):
                    os.kill(proc.pid, signal.SIGKILL)
                    proc.wait()
                    return
                if poll:
                    time.sleep(poll)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        pytest.fail(
            f"recchat {' '.join(args)} ended (exit {proc.returncode}) before the kill point:\n"
            f"{err.read_text(errors='replace')[-2000:]}"
        )


def finished(proc: subprocess.Popen, err: Path, out: Path, args: Sequence[str], timeout: float = 300) -> str:
    """Wait for a `recchat` process; its stdout, or a failure with its stderr."""
    try:
        proc.wait(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, f"recchat {' '.join(args)} exited {proc.returncode}:\n{err.read_text()[-3000:]}"
    return out.read_text()


def progress_shown(err: Path, bar: str) -> bool:
    return f"{bar}:" in err.read_text(errors="replace")


def progress(err: Path, bar: str) -> int:
    """The last count the tqdm bar named ``bar`` printed to ``err`` (0 before the first)."""
    counts = re.findall(rf"{re.escape(bar)}:\s+\d+%\|[^|]*\|\s*(\d+)/\d+", err.read_text(errors="replace"))
    return int(counts[-1]) if counts else 0


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.is_file() else []


TRAIN = ["train", "--max-epochs", "1", "--dim", "8", "--max-len", "10"]


@pytest.fixture(scope="module")
def films(movielens, embedder, tmp_path_factory):
    """300 MovieLens items (60 spare texts for the changed catalog), their users' ratings, and a
    RECCHAT_HOME whose vector cache already holds every one of those texts.

    The train test's scenario (three trainings, one killed) is the slowest; it starts here, in a
    background thread and its own deployment ("train": the index test rewrites films.csv), so that
    it runs beside the other tests (this file's time budget is tight): ``films.training``."""
    from recchat.index import VectorCache

    root = tmp_path_factory.mktemp("films")
    catalog = [item for item in movielens.catalog if item.text.strip()][: ITEMS + CHANGED]
    texts = [item.text for item in catalog]
    vectors = dict(zip(texts, embedder.encode(texts, cache=True)))  # from the shared cache (computed if missing)
    shared = VectorCache.default(embedder.identity()).path
    VectorCache(root / "home" / "vectors" / shared.name).put(vectors)
    kept = {item.id for item in catalog[:ITEMS]}
    with open(root / "ratings.csv", "w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["user_id", "item_id", "rating", "timestamp"])
        out.writerows(
            [e.user, e.item, int(e.rating), int(e.timestamp)]
            for e in movielens.interactions
            if e.item in kept and int(e.user) <= 150
        )
    items = [(item.id, item.text) for item in catalog[:ITEMS]]
    films = Films(root, "films", items, texts[ITEMS:], vectors)
    stop = threading.Event()
    with ThreadPoolExecutor(1) as background:
        films.training = background.submit(train_then_kill_while_saving, Films(root, "train", items, [], {}), stop)
        yield films
        stop.set()  # if the train test did not run, end the scenario after its current step


def train_then_kill_while_saving(trainer: Films, stop: threading.Event) -> dict[str, Any]:
    """Train (seed 0); retrain (seed 1), killed the moment the new checkpoint is being written (its
    temporary file appears) or, if that instant is missed, right after it replaced the old one;
    retrain again. Returns what each step printed and left, for the train test to check."""
    models = trainer.root / "models"
    ckpt = models / "films-scorer.pt"
    train = [*TRAIN, "--out", str(ckpt), "--path", str(trainer.root / "train-index")]
    seen: dict[str, Any] = {"checkpoint": ckpt, "first": trainer.run(*train, "--seed", "0")}
    seen["good"], inode = ckpt.read_bytes(), ckpt.stat().st_ino
    if stop.is_set():
        return seen

    def saving(err: Path) -> bool:  # polled without pause once training runs
        if not progress_shown(err, "training scorer"):
            time.sleep(0.01)
            return False
        seen["tmp"] = any(p.name.endswith(".tmp") for p in os.scandir(models))
        return seen["tmp"] or ckpt.stat().st_ino != inode

    trainer.kill_when([*train, "--seed", "1"], saving, poll=0)
    seen["killed"] = ckpt.read_bytes()
    if not stop.is_set():
        seen["again"] = trainer.run(*train, "--seed", "1")
        seen["files"] = sorted(p.name for p in models.iterdir())
    return seen


# --------------------------------------------------------------------------- index build


@contextmanager
def opened(store: Path) -> Iterator[Any]:
    """The store's collection, opened by a fresh client of this process and closed after the
    block: an embedded Chroma store must not be open in two processes while one writes."""
    from chromadb.api.client import SharedSystemClient

    from recchat.index import ItemIndex

    SharedSystemClient.clear_system_cache()
    try:
        yield ItemIndex("films-items", path=store)
    finally:
        SharedSystemClient.clear_system_cache()


def store_state(store: Path) -> dict:
    """What the Chroma store holds now."""
    with opened(store) as index:
        got = index.collection.get(include=["metadatas", "documents"])
        return {
            "ids": got["ids"],
            "count": index.count(),
            "complete": index.complete(),
            "documents": dict(zip(got["ids"], got["documents"])),
            "hashes": {i: m["recchat_hash"] for i, m in zip(got["ids"], got["metadatas"])},
        }


def test_index_build_killed_then_rerun_holds_exactly_the_catalog(films):
    from recchat.index.store import _item_hash
    from recchat.types import Item

    store = films.root / "index"
    build = ["index", "build", "--batch-size", "8", "--path", str(store)]
    # Killed during the first build, a third of the way through.
    films.kill_when(build, lambda err: progress(err, "indexing films-items") >= ITEMS // 3)
    first = store_state(store)
    assert ITEMS // 3 <= first["count"] < ITEMS and not first["complete"]  # partly built, and marked so

    # The catalog changes: 60 items get another text. The next build (the rest of the first one
    # and these updates) is killed too, after 8 writes.
    items = list(films.items)
    for k, text in enumerate(films.spare):
        items[k * 5] = (items[k * 5][0], text)
    films.write_catalog(items)
    films.kill_when(build, lambda err: progress(err, "indexing films-items") >= 8)
    second = store_state(store)
    assert first["count"] <= second["count"] < ITEMS and not second["complete"]

    done = films.run(*build)
    assert f"films-items: {ITEMS - second['count']} added" in done and f"{ITEMS} items stored" in done
    end = store_state(store)
    assert end["complete"] and end["count"] == ITEMS
    assert sorted(end["ids"]) == sorted(i for i, _ in items) and len(set(end["ids"])) == ITEMS
    # Every stored item is the catalog's current one: changed texts replaced, vectors re-embedded.
    assert all(end["documents"][i] == text and end["hashes"][i] == _item_hash(Item(i, text, text)) for i, text in items)
    changed = items[: CHANGED * 5 : 5]
    with opened(store) as index:
        assert np.allclose(index.embeddings([i for i, _ in changed]), [films.vectors[t] for _, t in changed], atol=1e-6)
        assert len(index.query_vector(films.vectors[films.spare[0]], k=ITEMS)) == ITEMS  # every item searchable


# --------------------------------------------------------------------------- batch rerank


def test_batch_rerank_killed_three_times_then_rerun_has_each_id_once(films):
    rng = random.Random(3)
    requests = films.root / "requests.jsonl"
    out, rejects = films.root / "ranked.jsonl", films.root / "ranked.rejects.jsonl"
    ids = [i for i, _ in films.items]
    good, bad_lines, rows = [], [], []
    for n in range(1, 2007):
        if n % 400 == 7:  # bad lines spread through the file
            rows.append(f'{{"id": "broken-{n}", "candidates": [')
            bad_lines.append(n)
        else:
            good.append(f"r{n}")
            rows.append(json.dumps({"id": f"r{n}", "history": rng.sample(ids, 3), "candidates": rng.sample(ids, 5)}))
    requests.write_text("\n".join(rows) + "\n")
    command = [
        "rerank",
        "--backend",
        "none",
        "--scorer",
        str(films.root / "no-scorer.pt"),
        "--input",
        str(requests),
        "--output",
        str(out),
    ]
    for at in (200, 800, 1400):
        films.kill_when(command, lambda err: out.is_file() and out.read_bytes().count(b"\n") >= at)  # noqa: B023
        assert at <= len(lines(out)) < len(good)
    left = len(good) - len(lines(out))
    done = films.run(*command)
    assert f"{left} ranked (" in done and f"{len(good) - left} already done, {len(bad_lines)} rejected" in done
    results = [json.loads(line) for line in lines(out)]  # every line whole
    assert [r["id"] for r in results] == good  # each once, in input order
    assert all(len(r["ranking"]) == 5 and r["degraded"] for r in results)
    assert [json.loads(line)["line"] for line in lines(rejects)] == bad_lines  # each bad line once


# --------------------------------------------------------------------------- the writer itself


@pytest.mark.fast
def test_write_atomic_keeps_the_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "scorer.blend.json"
    BlendConfig(0.3, "rank").save(target)
    before = target.read_bytes()

    def half_then_fail(fh):
        fh.write(b'{"alpha": 0.9, "no')
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        write_atomic(target, half_then_fail)
    with pytest.raises(TypeError):  # an object JSON cannot write: fails while serialising
        BlendConfig(0.7, "zscore", {"grid": object()}).save(target)
    assert target.read_bytes() == before and BlendConfig.load(target).alpha == 0.3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scorer.blend.json"]  # no temporary file left

    # A temporary file of a writer that died (pid 2**22 + 1 is above Linux's default pid_max) is
    # removed by the next write; one of a live process (this one) is not.
    dead = tmp_path / f".scorer.blend.json.{2**22 + 1}.0123abcd.tmp"
    alive = tmp_path / f".scorer.blend.json.{os.getpid()}.0123abcd.tmp"
    dead.write_text("half")
    alive.write_text("writing")
    BlendConfig(0.5, "rank").save(target)
    assert not dead.exists() and alive.exists() and BlendConfig.load(target).alpha == 0.5

    # A folder: a failing block leaves the old one; a crash between the two renames is settled.
    model = tmp_path / "model"
    with replacing_folder(model) as tmp:
        (tmp / "weights").write_text("v1")
    with pytest.raises(RuntimeError), replacing_folder(model) as tmp:
        (tmp / "weights").write_text("v2 half")
        raise RuntimeError("killed")
    assert (model / "weights").read_text() == "v1" and not (tmp_path / ".model.tmp").exists()
    os.replace(model, tmp_path / ".model.old")  # what a kill after the first rename leaves
    assert (settle_folder(model) / "weights").read_text() == "v1" and not (tmp_path / ".model.old").exists()


def written_by(big: Path) -> int:
    """Which run of the writer below wrote ``big`` (-1: none yet)."""
    if not big.is_file():
        return -1
    with open(big, "rb") as fh:
        return int.from_bytes(fh.read(8), "big")


WRITER = """
import os, sys
from recchat.blend import BlendConfig
from recchat.files import write_atomic
folder, run = sys.argv[1], int(sys.argv[2])
block = os.urandom(8 << 20)
while True:
    # The blend file as tune-blend saves it, then 8 MB framed by the run's number at both ends.
    BlendConfig(run % 10 / 10, "rank", {"run": run, "grid": [{"alpha": run}] * 200}).save(f"{folder}/x.blend.json")
    mark = run.to_bytes(8, "big")
    write_atomic(f"{folder}/big.bin", lambda f: (f.write(mark), f.write(block), f.write(mark)))
    run += 1
"""


def test_saves_survive_kill_mid_write(tmp_path):
    """Real processes saving in a loop (BlendConfig.save, then write_atomic of 8 MB), each killed
    at a random moment: the files are always one whole version, never cut or mixed."""
    rng = random.Random(11)
    blend, big = tmp_path / "x.blend.json", tmp_path / "big.bin"
    mid_write = 0
    for kill in range(8):
        start = 1000 * kill
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), str(start)])
        try:
            deadline = time.monotonic() + 60
            while written_by(big) < start:  # until this process has saved both files once
                assert proc.poll() is None and time.monotonic() < deadline, "the writer did not start"
                time.sleep(0.005)
            time.sleep(rng.uniform(0, 0.3))
        finally:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        mid_write += any(p.name.endswith(".tmp") for p in tmp_path.iterdir())
        saved = json.loads(blend.read_text())
        assert saved["tuned_on"]["grid"] == [{"alpha": saved["tuned_on"]["run"]}] * 200
        data = big.read_bytes()
        assert len(data) == (8 << 20) + 16 and data[:8] == data[-8:]
    # Most of the loop's time is spent writing, so kills land mid-write (4 to 6 of 8 in the runs
    # measured); the next save clears what those left behind.
    assert mid_write >= 1, "no kill hit a write: the test did not test what it says"
    print(f"{mid_write} of 8 kills hit a write in progress")
    write_atomic(big, b"done")
    BlendConfig(0.1, "rank").save(blend)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.bin", "x.blend.json"]


# --------------------------------------------------------------------------- training


def test_train_killed_while_saving_keeps_a_whole_checkpoint(films):
    from recchat.scorer import Scorer

    seen = films.training.result(timeout=900)  # train_then_kill_while_saving, run beside the other tests
    ckpt, good = seen["checkpoint"], seen["good"]
    assert f"checkpoint: {ckpt}" in seen["first"] and f"({ITEMS} items)" in seen["first"]
    if seen["tmp"]:
        assert seen["killed"] == good  # killed mid-write: the earlier checkpoint, byte for byte
    else:
        assert seen["killed"] != good and zipfile.ZipFile(io.BytesIO(seen["killed"])).testzip() is None  # new, whole
    print(f"train killed {'while writing the checkpoint' if seen['tmp'] else 'just after the checkpoint rename'}")
    assert f"checkpoint: {ckpt}" in seen["again"] and f"({ITEMS} items)" in seen["again"]
    assert len(Scorer.load(ckpt).item_ids) == ITEMS and ckpt.read_bytes() != good
    assert seen["files"] == ["films-scorer.pt"]  # the killed write's leftover is gone


def test_tune_blend_killed_mid_pass_and_while_saving_keeps_a_whole_blend_file(films):
    """`recchat tune-blend` against an OpenAI-compatible LLM server (bench/reliability.py's fake
    one: the real process, the real HTTP client, answers in milliseconds): a good blend file first;
    killed during the LLM pass and at the instant the new file is written, the file is always the
    earlier one or a whole new one; the rerun saves."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    from reliability import FakeLLMServer

    seen = films.training.result(timeout=900)  # the train scenario's checkpoint and index
    trainer = Films(films.root, "train", films.items, [], {})
    ckpt = seen["checkpoint"]
    with FakeLLMServer("ok") as server:
        tune = ["tune-blend", "--scorer", str(ckpt), "--backend", "openai", "--base-url", server.url, "--rerank-all"]
        first = trainer.run(*tune, "--max-users", "20")
        blend = Path(re.search(r"saved (\S+)", first).group(1))
        good, inode = blend.read_bytes(), blend.stat().st_ino
        assert json.loads(good)["tuned_on"]["users"] == 20

        def whole() -> dict:
            data = blend.read_bytes()
            record = json.loads(data)  # never half a file
            assert data == good or record["tuned_on"]["users"] == 40
            return record

        trainer.kill_when([*tune, "--max-users", "40"], lambda err: progress(err, "LLM reranking (valid)") >= 5)
        assert blend.read_bytes() == good  # killed mid-pass: nothing was written yet

        def saving(err: Path) -> bool:
            if progress(err, "LLM reranking (valid)") < 40:
                time.sleep(0.01)
                return False
            return (
                any(p.name.startswith(blend.name) and p.name != blend.name for p in os.scandir(blend.parent))
                or blend.stat().st_ino != inode
            )

        trainer.kill_when([*tune, "--max-users", "40"], saving, poll=0)
        whole()
        again = trainer.run(*tune, "--max-users", "40")
    assert f"saved {blend}" in again and whole()["tuned_on"]["users"] == 40
    assert not [p for p in blend.parent.iterdir() if p.name.startswith(blend.name) and p != blend]  # no leftovers
