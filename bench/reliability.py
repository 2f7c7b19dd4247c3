"""Faults of real components, counted: every request must be answered, answered and flagged
degraded (with a note that says why), or refused with a clear error that names the part and the
fix. Anything else (no answer in time, a traceback, an unexpected exception) is *lost*.

Each fault drives the real parts: the OpenAI-compatible backend over HTTP, a real ``chroma run``
server that is stopped and started again, real checkpoint, blend, profile and index files that
are damaged on disk, and the real ``recchat`` command as a subprocess (whose stderr must hold no
"Traceback"). Faults a real vLLM server cannot be told to produce (slow answers, HTTP 500s,
garbage) come from :class:`FakeLLMServer`, a small OpenAI-compatible server in a thread. (vLLM
itself killed mid-batch is tests/test_vllm.py::test_cli_batch_drives_the_server_and_survives_its_death.)

Everything is written into a temporary folder with its own $RECCHAT_HOME (the MovieLens asset
copied, the LLM's files hard-linked, the vector cache copied): only copies there are damaged or
deleted, never the user's cache.

    bash .ci/env python bench/reliability.py                    # 20 requests of each kind per fault
    bash .ci/env python bench/reliability.py --n 3 --faults llm-down,chroma-restart

tests/test_faults.py drives the same functions with smaller numbers.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

RECCHAT = Path(sys.executable).parent / "recchat"
CHROMA = Path(sys.executable).parent / "chroma"
OUTCOMES = ("answered", "degraded", "failed", "lost")
CHAT = (
    "I loved Toy Story, something funny from the 90s",
    "something older, please",
    "a thriller like Fargo",
    "no horror",
)


# --------------------------------------------------------------------------- counting


@dataclass
class Tally:
    """The requests of one fault and what became of them; ``examples`` keeps the first note or
    error of each outcome, to show what a user reads."""

    fault: str
    answered: int = 0
    degraded: int = 0
    failed: int = 0
    lost: int = 0
    examples: dict[str, str] = field(default_factory=dict)

    @property
    def sent(self) -> int:
        return self.answered + self.degraded + self.failed + self.lost

    def add(self, outcome: str, detail: str = "") -> None:
        setattr(self, outcome, getattr(self, outcome) + 1)
        if detail:
            self.examples.setdefault(outcome, " ".join(detail.split())[:400])

    def row(self) -> str:
        said = self.examples.get("lost") or self.examples.get("failed") or self.examples.get("degraded", "")
        said = said.replace("|", "\\|")
        return (
            f"| {self.fault} | {self.sent} | {self.answered} | {self.degraded} | {self.failed} | {self.lost} | {said} |"
        )


HEADER = (
    "| fault | requests | answered | degraded | failed (clear error) | lost | what the user reads "
    "(first lost, else failed, else degraded) |\n|---|---|---|---|---|---|---|"
)


@dataclass(frozen=True)
class Refusal:
    """What a clear refusal looks like: one of ``types``, its message naming every one of ``words``
    (the part, and the command or setting that fixes it)."""

    types: tuple[type[BaseException], ...]
    words: tuple[str, ...]

    def judge(self, exc: BaseException) -> tuple[str, str]:
        text = f"{type(exc).__name__}: {exc}"
        clear = isinstance(exc, self.types) and all(w.lower() in str(exc).lower() for w in self.words)
        return ("failed" if clear else "lost"), text


def judge_ranking(ranking: Any) -> tuple[str, str]:
    """A ranking is answered with items; degraded only if it says why."""
    if not ranking.candidates:
        return "lost", f"no items (mode {ranking.mode}; notes {ranking.notes})"
    if ranking.degraded:
        return ("degraded", ranking.notes[0]) if ranking.notes else ("lost", "flagged degraded without a note")
    return "answered", ""


def judge_reply(reply: Any) -> tuple[str, str]:
    """A chat reply: its ranking's verdict, and it must say something."""
    if not reply.message:
        return "lost", "an empty message"
    return judge_ranking(reply.ranking)


def attempt(
    tally: Tally, call: Callable[[], tuple[str, str]], refusal: Refusal | None = None, deadline: float = 120.0
) -> str:
    """Run one request in a thread; count its outcome. No answer within ``deadline`` seconds is
    lost (a hang), as is any exception that is not the clear ``refusal``."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["verdict"] = call()
        except BaseException as exc:  # noqa: BLE001 - judging every escape is the point
            box["error"] = exc

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(deadline)
    if worker.is_alive():
        outcome, detail = "lost", f"no answer after {deadline:.0f} s"
    elif "error" in box:
        error = box["error"]
        outcome, detail = refusal.judge(error) if refusal else ("lost", f"{type(error).__name__}: {error}")
    else:
        outcome, detail = box["verdict"]
    tally.add(outcome, detail)
    return outcome


def run_cli(
    tally: Tally, args: Sequence[str], home: Path, words: Sequence[str] = (), *, deadline: float = 300.0
) -> str:
    """The real ``recchat`` command. Exit 0 is answered; a non-zero exit whose stderr is one
    ``recchat: error:`` message naming every one of ``words`` is a clear refusal; a traceback,
    any other failure or no exit within ``deadline`` is lost."""
    env = {**os.environ, "RECCHAT_HOME": str(home)}
    try:
        proc = subprocess.run([str(RECCHAT), *args], capture_output=True, text=True, env=env, timeout=deadline)
    except subprocess.TimeoutExpired:
        tally.add("lost", f"recchat {args[0]}: no exit after {deadline:.0f} s")
        return "lost"
    err = proc.stderr
    if "Traceback" in err:
        outcome, detail = "lost", "traceback: " + err.strip().splitlines()[-1]
    elif proc.returncode == 0:
        outcome, detail = "answered", ""
    else:
        message = next((line for line in err.splitlines() if line.startswith("recchat: error:")), "")
        clear = message and all(w.lower() in message.lower() for w in words)
        outcome, detail = ("failed", message) if clear else ("lost", f"exit {proc.returncode}: {err.strip()[-300:]}")
    tally.add(outcome, detail)
    return outcome


# --------------------------------------------------------------------------- a fake LLM server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


LABEL_TOKENS = [chr(ord("A") + i) for i in range(20)] + ["Yes", "No"]


class FakeLLMServer:
    """An OpenAI-compatible server (the two routes the backend calls: ``GET /v1/models`` and
    ``POST /v1/chat/completions``) in a thread, answering as ``behaviour`` says:

    - ``ok``: well-formed answers: label logprobs that vary with the prompt, ``{}`` for a JSON
      schema, a sentence otherwise;
    - ``slow``: the same, after ``delay`` seconds (past the client's timeout);
    - ``error``: HTTP 500;
    - ``not-json``: 200 with an HTML body;
    - ``no-choices``: 200 with a completion object that has no ``choices``;
    - ``bad-logprobs``: 200 with logprobs that are not numbers and message content that is not text.

    ``requests`` counts what reached it.
    """

    BEHAVIOURS = ("ok", "slow", "error", "not-json", "no-choices", "bad-logprobs")

    def __init__(self, behaviour: str = "ok", delay: float = 5.0):
        if behaviour not in self.BEHAVIOURS:
            raise ValueError(f"unknown behaviour '{behaviour}'; choose from {', '.join(self.BEHAVIOURS)}")
        self.behaviour, self.delay = behaviour, delay
        self.requests = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "start the server first (with FakeLLMServer(...) as server)"
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> FakeLLMServer:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet: the harness counts, it does not log
                pass

            def do_GET(self) -> None:  # the model list always answers: the faults are in the completions
                fake.answer(
                    self,
                    {
                        "object": "list",
                        "data": [{"id": "fake-llm", "object": "model", "created": 0, "owned_by": "recchat"}],
                    },
                    "ok",
                )

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                fake.answer(self, fake.completion(body))

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a client that gave up on a slow answer closed its socket: expected here

        self._server = Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()

    def answer(self, handler: BaseHTTPRequestHandler, payload: dict[str, Any], behaviour: str | None = None) -> None:
        with self._lock:
            self.requests += 1
        behaviour = behaviour or self.behaviour
        if behaviour == "slow" and self._stop.wait(self.delay):
            return  # shutting down
        status, body = 200, json.dumps(payload).encode()
        if behaviour == "error":
            status, body = 500, b'{"error": {"message": "internal server error", "type": "server_error"}}'
        elif behaviour == "not-json":
            body = b"<html><body>502 Bad Gateway</body></html>"
        elif behaviour == "no-choices" and "choices" in payload:
            body = json.dumps({k: v for k, v in payload.items() if k != "choices"}).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    def completion(self, body: dict[str, Any]) -> dict[str, Any]:
        prompt = " ".join(str(m.get("content", "")) for m in body.get("messages", []))
        rng = random.Random(prompt)
        bad = self.behaviour == "bad-logprobs"
        logprobs = None
        if body.get("logprobs"):
            top = [
                {"token": t, "logprob": "high" if bad else -rng.uniform(0.1, 8.0), "bytes": None} for t in LABEL_TOKENS
            ]
            logprobs = {"content": [{"token": "A", "logprob": -0.5, "bytes": None, "top_logprobs": top}]}
            content: Any = "A"
        elif (body.get("structured_outputs") or {}).get("json") is not None:
            content = "{}"
        else:
            content = "A warm, funny comedy from the nineties with a big heart."
        if bad:
            content = 42
        return {
            "id": "cmpl-fake",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": "fake-llm",
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "logprobs": logprobs,
                    "message": {"role": "assistant", "content": content},
                }
            ],
            "usage": {
                "prompt_tokens": len(prompt.split()),
                "completion_tokens": 1,
                "total_tokens": len(prompt.split()) + 1,
            },
        }


@contextmanager
def llm_server(behaviour: str, delay: float) -> Iterator[str]:
    """The base URL of an LLM server that behaves as asked; ``down``: a free port nobody listens on."""
    if behaviour == "down":
        yield f"http://127.0.0.1:{free_port()}/v1"
        return
    with FakeLLMServer(behaviour, delay) as server:
        yield server.url


# --------------------------------------------------------------------------- a real Chroma server


class ChromaServer:
    """A real ``chroma run`` on 127.0.0.1 that can be stopped and started again on the same port
    and data folder, as an operator restarting it would."""

    def __init__(self, folder: Path, port: int | None = None):
        self.folder, self.port = Path(folder), port or free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 90.0) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        log = self.folder / "server.log"
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(
                [
                    str(CHROMA),
                    "run",
                    "--path",
                    str(self.folder / "data"),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        give_up = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < give_up:
            try:
                with urllib.request.urlopen(f"{self.url}/api/v2/heartbeat", timeout=2):
                    return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"chroma run did not come up on {self.url}: {log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def __enter__(self) -> ChromaServer:
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


# --------------------------------------------------------------------------- the parts under test


@dataclass
class Bench:
    """What every fault starts from: a Recommender with its catalog, index and scorer loaded (each
    fault gives it its own LLM), the interaction log, a real scorer checkpoint, an embedded index
    folder to copy, and a temporary folder ``work`` whose ``home`` is a RECCHAT_HOME of copies
    of ``source``'s files."""

    rec: Any
    interactions: Any
    work: Path
    home: Path
    source: Path  # the RECCHAT_HOME the copies come from (read, never written)
    checkpoint: Path
    index_folder: Path | None = None
    _profiles: Any = field(default=None, init=False, repr=False)

    def users(self, n: int) -> list[str]:
        """The first ``n`` users of the log, in id order (numeric ids by value)."""
        return sorted(self.rec.user_histories, key=lambda u: (len(u), u))[: max(1, n)]

    def profiles(self, name: str, backend: Any = None) -> Any:
        """A profile store over the bench's log in a folder of its own, summarised by ``backend``
        (the log's statistics are computed once, then shared)."""
        from recchat.conversation.profile import ProfileStore

        if self._profiles is None:
            self._profiles = ProfileStore(self.work, self.rec.catalog, self.interactions, domain=self.rec.domain)
        store = copy.copy(self._profiles)
        store.folder, store.backend = self.work / f"profiles-{name}", backend
        return store

    def with_llm(self, backend: Any, name: str) -> Any:
        """The bench's recommender with ``backend`` as its LLM (reranker and profile summaries) and
        a profile folder of its own."""
        from recchat.builder import Builder

        rec = copy.copy(self.rec)
        parts = rec.builder or Builder(log=lambda message: None)  # MovieLens-100K's, as the app's
        rec.reranker = parts.reranker(backend, llm={"mode": "listwise"})  # NO_LLM for None
        rec.profiles = self.profiles(name, backend)
        return rec

    def start(self, builder: Any) -> Any:
        """``Recommender.from_config(builder)``, the app's start-up, with the bench's log passed in
        (so only what the fault is about is read again)."""
        from recchat.recommender import Recommender

        return Recommender.from_config(builder, interactions=self.interactions)


def _link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target)  # read-only use: removing the link leaves the user's file alone
    except OSError:
        shutil.copy2(source, target)


def make_home(work: Path, source: Path, *, vectors: bool = False) -> Path:
    """A RECCHAT_HOME under ``work`` made of copies of ``source``'s: the MovieLens asset copied, the
    default LLM's files hard-linked, and with ``vectors`` the index vector cache copied (so
    indexes build without embedding again)."""
    home = work / "home"
    for name, how in (("movielens-100k", shutil.copy2), ("smollm2-135m-instruct", _link_or_copy)):
        if not (home / "assets" / name).exists():
            shutil.copytree(source / "assets" / name, home / "assets" / name, copy_function=how)
    if vectors and (source / "vectors").is_dir() and not (home / "vectors").exists():
        shutil.copytree(source / "vectors", home / "vectors")
    return home


def remove_copy(path: Path, work: Path) -> None:
    """Delete ``path``, refusing anything that is not inside the temporary folder ``work``."""
    path, work = Path(path).resolve(), Path(work).resolve()
    if work not in path.parents or Path(tempfile.gettempdir()).resolve() not in work.parents:
        raise RuntimeError(f"refusing to delete {path}: only copies under a temporary folder are damaged")
    shutil.rmtree(path) if path.is_dir() else path.unlink()


@contextmanager
def recchat_home(home: Path) -> Iterator[None]:
    """$RECCHAT_HOME set to ``home`` for the block (what a running app started there would see)."""
    before = os.environ.get("RECCHAT_HOME")
    os.environ["RECCHAT_HOME"] = str(home)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("RECCHAT_HOME", None)
        else:
            os.environ["RECCHAT_HOME"] = before


# --------------------------------------------------------------------------- requests


def serve(
    tally: Tally, rec: Any, users: Sequence[str], n: int, refusal: Refusal | None = None, deadline: float = 120.0
) -> None:
    """``n`` requests, alternating a ``recommend`` call (a user id, with the user's profile) and a
    chat turn (sessions of two turns, the first started from a user's history)."""
    session = None
    for i in range(n):
        user = users[(i // 2) % len(users)]
        if i % 2 == 0:
            attempt(
                tally,
                lambda user=user: judge_ranking(rec.recommend(user, k=10, profile=rec.profile(user))),
                refusal,
                deadline,
            )
            continue

        def turn(i: int = i, user: str = user) -> tuple[str, str]:
            nonlocal session
            if i % 4 == 1 or session is None:
                session = None  # a start that fails leaves none: the next turn starts again
                session = rec.chat(user)
            return judge_reply(session.send(CHAT[(i // 2) % len(CHAT)]))

        attempt(tally, turn, refusal, deadline)


def batch_lines(
    tally: Tally, rec: Any, users: Sequence[str], folder: Path, refusal: Refusal | None = None, deadline: float = 300.0
) -> None:
    """One ``rerank_file`` run (4 requests in flight) over a request per user (the last 10 items of
    their history, the scorer's top 20 as candidates); each request is one answer or none."""
    from types import SimpleNamespace

    from recchat.batch import rerank_file

    folder.mkdir(parents=True, exist_ok=True)
    requests, output = folder / "requests.jsonl", folder / "rankings.jsonl"
    with open(requests, "w") as fh:
        for n, user in enumerate(users):
            history = [i for i, _ in rec.user_histories[user]][-10:]
            candidates = [c.item.id for c in rec.scorer.topk(history, k=20)]
            fh.write(json.dumps({"id": f"r{n}", "history": history, "candidates": candidates}) + "\n")

    def run() -> tuple[str, str]:
        rerank_file(
            requests,
            output,
            rec.reranker,
            catalog=rec.catalog,
            scorer=rec.scorer,
            blend=rec.blend,
            concurrency=4,
            progress=False,
        )
        return "answered", ""

    ran = Tally("batch")
    attempt(ran, run, refusal, deadline)
    written = {}
    if output.is_file():
        written = {line["id"]: line for line in map(json.loads, output.read_text().splitlines())}
    for n in range(len(users)):
        line = written.get(f"r{n}")
        if line is None:
            outcome = "failed" if ran.failed else "lost"
            tally.add(outcome, next(iter(ran.examples.values()), "no line in the output"))
            continue
        tally.add(
            *judge_ranking(
                SimpleNamespace(
                    candidates=line["ranking"], degraded=line["degraded"], notes=line["notes"], mode=line["mode"]
                )
            )
        )


# --------------------------------------------------------------------------- the faults


LLM_FAULTS = {
    "down": "LLM server down (connection refused)",
    "slow": "LLM server slow (answers after 3x the timeout)",
    "error": "LLM server answering HTTP 500",
    "not-json": "LLM server answering 200 with a body that is not JSON",
    "no-choices": "LLM server answering JSON without choices",
    "bad-logprobs": "LLM server answering logprobs and content of the wrong types",
}


def llm_fault(
    bench: Bench, behaviour: str, n: int, *, timeout: float = 1.0, retries: int = 1, deadline: float = 120.0
) -> list[Tally]:
    """``n`` requests (recommend calls and chat turns) and ``n`` batch lines through the OpenAI
    backend at a server that is down or misbehaves: each must come back ranked by the scorer and
    flagged degraded, its note saying the LLM failed. ``ok`` is the control: nothing degrades."""
    from recchat.llm import LLMError, load_backend

    tally = Tally(LLM_FAULTS.get(behaviour, "no fault: LLM server answering well (control)"))
    with llm_server(behaviour, delay=3 * timeout) as url:
        refusal = Refusal((LLMError,), (url,))
        rec = bench.with_llm(load_backend("openai", base_url=url, timeout=timeout, retries=retries), behaviour)
        serve(tally, rec, bench.users(n), n, refusal, deadline)
        batch_lines(tally, rec, bench.users(n), bench.work / f"batch-{behaviour}", refusal, deadline * 2)
    return [tally]


def chroma_down(bench: Bench, n: int, *, cli: bool = True) -> list[Tally]:
    """The configuration names a Chroma server that is not running: ``n`` attempts to build the
    recommender (the app's start-up) and (``cli``) one ``recchat index query`` must each say which
    server and how to start it."""
    from recchat.builder import Builder
    from recchat.index import ItemIndexError

    tally = Tally("Chroma server down at start")
    url = f"http://127.0.0.1:{free_port()}"
    refusal = Refusal((ItemIndexError,), (url, "chroma run"))
    builder = Builder({"index": {"url": url}, "llm": {"backend": "none"}}, log=lambda message: None)
    for _ in range(n):
        attempt(tally, lambda: judge_ranking(bench.start(builder).recommend(bench.users(1)[0])), refusal)
    if cli:
        run_cli(tally, ["index", "query", "funny animated movie", "--url", url], bench.home, (url, "chroma run"))
    return [tally]


def chroma_restart(bench: Bench, n: int, *, deadline: float = 120.0) -> list[Tally]:
    """A real ``chroma run`` holds the index (started on a copy of the bench's embedded store when
    there is one, the same format, else built); ``n`` requests are served, the server is stopped,
    ``n`` more are served (the index is tried a few times, then the scorer's candidates answer,
    flagged degraded and naming the server), it is started again on the same port and folder, and
    ``n`` more are served by the same recommender, not rebuilt."""
    from recchat.index import ItemIndex, ItemIndexError
    from recchat.llm import load_backend

    phases = [
        Tally(f"Chroma server restarted mid-session: {when}")
        for when in ("before the stop", "while it is down", "after the restart")
    ]
    if bench.index_folder is not None:
        shutil.copytree(bench.index_folder, bench.work / "chroma" / "data")
    with ChromaServer(bench.work / "chroma") as server, FakeLLMServer("ok") as llm:
        index = ItemIndex(bench.rec.index.name, url=server.url, embedder=bench.rec.index.embedder)
        index.build(bench.rec.catalog, progress=False)  # nothing to do on the copy
        rec = bench.with_llm(load_backend("openai", base_url=llm.url, timeout=10.0), "chroma")
        rec.index = index
        refusal = Refusal((ItemIndexError,), (server.url, "chroma run"))
        users = bench.users(n)
        serve(phases[0], rec, users, n, refusal, deadline)
        server.stop()
        serve(phases[1], rec, users, n, refusal, deadline)
        server.start()
        serve(phases[2], rec, users, n, refusal, deadline)
    return phases


def _damage(source: Path, target: Path, how: str) -> Path:
    """A damaged copy of ``source`` at ``target``: ``truncated`` to half, or ``random`` bytes of the same size."""
    target.parent.mkdir(parents=True, exist_ok=True)
    data = source.read_bytes()
    target.write_bytes(data[: len(data) // 2] if how == "truncated" else random.Random(0).randbytes(len(data)))
    return target


def _refused_load(load: Callable[[], Any]) -> Callable[[], tuple[str, str]]:
    """A load of a damaged file that returns has accepted garbage: that answer is lost."""

    def call() -> tuple[str, str]:
        got = load()
        return "lost", f"the damaged file loaded: {str(got)[:100]}"

    return call


def _rerank_args(bench: Bench, scorer: Path) -> list[str]:
    folder = bench.work / "cli"
    folder.mkdir(parents=True, exist_ok=True)
    requests = folder / "requests.jsonl"
    requests.write_text('{"id": "r1", "history": ["1", "50"], "candidates": ["2", "3", "4"]}\n')
    return [
        "rerank",
        "--input",
        str(requests),
        "--output",
        str(folder / f"out-{scorer.stem}.jsonl"),
        "--scorer",
        str(scorer),
        "--backend",
        "none",
    ]


def damaged_checkpoint(bench: Bench, how: str, *, cli: bool = True) -> list[Tally]:
    """A scorer checkpoint cut to half or overwritten with random bytes: ``Scorer.load`` (what
    ``Recommender.from_config`` calls) and (``cli``) ``recchat rerank`` must name the file and
    ``recchat train``."""
    from recchat.scorer import CheckpointError, Scorer

    tally = Tally(f"scorer checkpoint {'truncated to half' if how == 'truncated' else 'of random bytes'}")
    bad = _damage(bench.checkpoint, bench.work / "damaged" / f"scorer-{how}.pt", how)
    attempt(
        tally,
        _refused_load(lambda: Scorer.load(bad, catalog=bench.rec.catalog)),
        Refusal((CheckpointError,), (str(bad), "recchat train")),
    )
    if cli:
        run_cli(tally, _rerank_args(bench, bad), bench.home, (bad.name, "recchat train"))
    return [tally]


def damaged_blend(bench: Bench, how: str, *, cli: bool = True) -> list[Tally]:
    """The tuned blend beside a checkpoint, cut mid-JSON or with the wrong keys: ``BlendConfig.load``
    (what the Builder calls) and (``cli``) ``recchat rerank`` must name the file and ``recchat tune-blend``."""
    from recchat.blend import BlendConfig

    tally = Tally(f"blend file {'truncated mid-JSON' if how == 'truncated' else 'with the wrong keys'}")
    folder = bench.work / "damaged" / f"blend-{how}"
    folder.mkdir(parents=True, exist_ok=True)
    checkpoint = folder / "scorer.pt"  # absent: the command goes on without a scorer, then reads the blend
    bad = BlendConfig.path_for(checkpoint)
    bad.write_text('{"alpha": 0.4, "norm": "zs' if how == "truncated" else '{"weight": 0.4, "normalisation": "zscore"}')
    words = (bad.name, "recchat tune-blend")
    attempt(tally, _refused_load(lambda: BlendConfig.load(bad)), Refusal((ValueError,), (str(bad), *words[1:])))
    if cli:
        run_cli(tally, _rerank_args(bench, checkpoint), bench.home, words)
    return [tally]


def damaged_profiles(bench: Bench, n: int, *, cli: bool = True) -> list[Tally]:
    """Cached profiles overwritten with garbage: ``n`` users' profiles are asked for (each must be
    rebuilt and its cache file valid JSON again), and (``cli``) ``recchat profile`` for one of them."""

    tally = Tally("profile cache files of garbage")
    folder = bench.work / "damaged" / "profiles"
    store = bench.profiles("damaged")
    store.folder = folder
    users = bench.users(n)
    for user in users:
        store.get(user)
    files = sorted(folder.glob("*.json"))
    garbage = random.Random(0)
    for path in files:
        path.write_bytes(b'{"user": "1", "facts": [' if garbage.random() < 0.5 else garbage.randbytes(200))

    def rebuilt(user: str) -> tuple[str, str]:
        profile = store.get(user)
        json.loads(store._path(user).read_text())  # the cache holds a valid profile again
        return ("answered", "") if profile.summary else ("lost", "an empty profile")

    for user in users:
        attempt(tally, lambda user=user: rebuilt(user))
    if cli:
        for path in files:
            path.write_bytes(b"\x00garbage")
        run_cli(tally, ["profile", users[0], "--cache", str(folder), "--backend", "none"], bench.home)
    return [tally]


INDEX_DAMAGE = {
    "deleted": "index folder: chroma.sqlite3 deleted",
    "truncated": "index folder: chroma.sqlite3 truncated to half",
}


def damaged_index(bench: Bench, how: str, llm_url: str, *, cli: bool = True) -> list[Tally]:
    """The embedded index folder with its chroma.sqlite3 deleted (the store starts empty: the
    recommender's start-up builds it again and answers) or truncated (a clear error naming the
    folder and ``recchat index build``), through ``Recommender.from_config`` and (``cli``) the
    command (``index build`` after a deletion, ``index query`` after a truncation)."""
    from recchat.builder import Builder
    from recchat.index import ItemIndexError

    assert bench.index_folder is not None, "this fault needs the bench's embedded index folder"
    tally = Tally(INDEX_DAMAGE[how])
    copies = []
    for n in range(1 + cli):  # one for the API, one for the CLI
        folder = bench.work / "damaged" / f"index-{how}-{n}"
        shutil.copytree(bench.index_folder, folder)
        if how == "deleted":
            (folder / "chroma.sqlite3").unlink()
        else:
            db = folder / "chroma.sqlite3"
            _damage(db, db, how)
        copies.append(folder)
    builder = Builder(
        {
            "index": {"path": str(copies[0]), "collection": bench.rec.index.name},
            "scorer": {"checkpoint": str(bench.checkpoint)},
            "llm": {"backend": "openai", "base_url": llm_url, "model": "fake-llm"},
        },
        log=lambda message: None,
    )
    attempt(
        tally,
        lambda: judge_ranking(bench.start(builder).recommend(bench.users(1)[0])),
        Refusal((ItemIndexError,), (str(copies[0]), "recchat index build")),
    )
    if cli:
        store = ["--path", str(copies[1]), "--collection", bench.rec.index.name]
        args = ["index", "build", *store] if how == "deleted" else ["index", "query", "funny", *store]
        run_cli(tally, args, bench.home, (str(copies[1]), "recchat index build"))
    return [tally]


def assets_deleted(
    bench: Bench, n: int, *, backend: Any = None, cli: bool = True, deadline: float = 900.0
) -> list[Tally]:
    """A recommender serving with ``backend`` (default: the real transformers LLM, SmolLM2 loaded
    from the bench's home), then that home's assets folder deleted: ``n`` more requests must be
    answered from what is loaded, and a new recommender and (``cli``) ``recchat data check`` must
    name the missing asset and ``recchat assets fetch``. The assets are copied back afterwards."""
    from recchat.assets import AssetError
    from recchat.builder import Builder
    from recchat.llm import load_backend

    tally = Tally(
        "assets folder deleted under a running recommender" + (" (transformers LLM)" if backend is None else "")
    )
    users = bench.users(n)
    with recchat_home(bench.home):
        rec = bench.with_llm(backend or load_backend("transformers"), "assets")
        serve(tally, rec, users, 1, deadline=deadline)  # serving before the deletion
        remove_copy(bench.home / "assets", bench.work)
        serve(tally, rec, users, n, deadline=deadline)
        words = ("movielens-100k", "recchat assets fetch movielens-100k")
        builder = Builder({"llm": {"backend": "none"}}, log=lambda message: None)
        attempt(tally, lambda: judge_ranking(bench.start(builder).recommend(users[0])), Refusal((AssetError,), words))
        if cli:
            run_cli(tally, ["data", "check"], bench.home, words)
    make_home(bench.work, bench.source)
    return [tally]


def make_bench(work: Path, source: Path) -> Bench:
    """The bench for MovieLens-100K in ``work``, with $RECCHAT_HOME set to a home of copies for the
    rest of the process: the configuration's own index (built there from the copied vector cache)
    and scorer (the source home's checkpoint copied, or a small one trained on 300 users)."""
    from recchat.builder import Builder
    from recchat.cli.train import train_scorer
    from recchat.recommender import Recommender
    from recchat.scorer import ScorerConfig

    home = make_home(work, source, vectors=True)
    os.environ["RECCHAT_HOME"] = str(home)
    builder = Builder({"llm": {"backend": "none"}}, log=lambda message: None)
    checkpoint = builder.config.checkpoint()
    trained = source / "models" / checkpoint.name
    if trained.is_file():
        checkpoint.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(trained, checkpoint)
    else:
        train_scorer(builder, ScorerConfig(dim=32, layers=1, max_len=50, max_epochs=3, patience=2), max_users=300)
    rec = Recommender.from_config(builder)
    return Bench(rec, builder.dataset.interactions, work, home, source, checkpoint, home / "index")


def faults(bench: Bench, n: int, *, timeout: float = 1.0) -> dict[str, Callable[[], list[Tally]]]:
    """Every fault by name, each ready to run (in this order in the table)."""
    out: dict[str, Callable[[], list[Tally]]] = {
        f"llm-{b}": (lambda b=b: llm_fault(bench, b, n, timeout=timeout)) for b in ("ok", *LLM_FAULTS)
    }
    out["chroma-down"] = lambda: chroma_down(bench, n)
    out["chroma-restart"] = lambda: chroma_restart(bench, n)
    for how in ("truncated", "random"):
        out[f"scorer-{how}"] = lambda how=how: damaged_checkpoint(bench, how)
    for how in ("truncated", "wrong-keys"):
        out[f"blend-{how}"] = lambda how=how: damaged_blend(bench, how)
    out["profiles-garbage"] = lambda: damaged_profiles(bench, n)

    def index(how: str) -> list[Tally]:
        with FakeLLMServer("ok") as llm:
            return damaged_index(bench, how, llm.url)

    for how in INDEX_DAMAGE:
        out[f"index-{how}"] = lambda how=how: index(how)
    # The transformers LLM on CPU takes seconds to minutes per request: a quarter of the requests here.
    out["assets-deleted"] = lambda: assets_deleted(bench, max(2, n // 4))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    from recchat.assets import home as recchat_home_now

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=20, help="requests of each kind per fault [20]")
    parser.add_argument("--faults", help="comma-separated fault names [all]; --list shows them")
    parser.add_argument("--list", action="store_true", help="list the fault names and exit")
    parser.add_argument("--timeout", type=float, default=1.0, help="LLM request timeout in seconds [1]")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)
    known = list(faults(None, 0))  # type: ignore[arg-type]  # names only: nothing runs
    if args.list:
        print("\n".join(known))
        return 0
    names = [f.strip() for f in args.faults.split(",")] if args.faults else known
    unknown = [f for f in names if f not in known]
    if unknown:
        parser.error(f"unknown fault(s) {', '.join(unknown)}; choose from {', '.join(known)}")
    # Stopped with a signal, still stop the servers it started and remove its temporary folder.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    source = recchat_home_now()
    work = Path(tempfile.mkdtemp(prefix="recchat-reliability-"))
    started = time.perf_counter()
    try:
        bench = make_bench(work, source)
        table = faults(bench, args.n, timeout=args.timeout)
        rows: list[Tally] = []
        for name in names:
            began = time.perf_counter()
            got = table[name]()
            rows += got
            for tally in got:
                print(
                    f"{name}: {tally.sent} sent, {tally.answered} answered, {tally.degraded} degraded, "
                    f"{tally.failed} failed, {tally.lost} lost ({time.perf_counter() - began:.0f} s)",
                    flush=True,
                )
        total = Tally("**all**", *(sum(getattr(t, o) for t in rows) for o in OUTCOMES))
        print()
        print(HEADER)
        print("\n".join(t.row() for t in [*rows, total]))
        print(f"\n{time.perf_counter() - started:.0f} s in all; work folder {work}")
        return 1 if total.lost else 0
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
