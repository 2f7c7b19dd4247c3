"""Shared fixtures: the real MovieLens asset, one embedder per session, a real Chroma server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")


# The fast tier (``pytest -m fast``) promises no model, no asset, no server, no subprocess and no
# network. These fixtures need an asset or start something, so a fast test may not use them.
FULL_TIER_FIXTURES = ("movielens", "movie_domain", "llm_dir", "embedder", "chroma_server", "rec", "tuned_run")
FAST_TIER_RULE = "mark it full (leave out the fast mark) or use tests/fakes.py"


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("fast") is None:
        return
    used = sorted(set(FULL_TIER_FIXTURES) & set(getattr(item, "fixturenames", ())))
    if used:
        pytest.fail(f"fast tests may not use the fixtures {used} (assets, models or servers): {FAST_TIER_RULE}")


def _refuse(what: str):
    def refuse(*args, **kwargs):
        pytest.fail(f"fast tests may not {what}: {FAST_TIER_RULE}")

    return refuse


@pytest.fixture(autouse=True)
def _fast_tier_promise(request, monkeypatch, tmp_path_factory):
    """For tests marked fast: starting a process, loading a model or connecting anywhere but
    localhost fails the test loudly, and $RECCHAT_HOME is an empty folder (so no asset is found)."""
    if request.node.get_closest_marker("fast") is None:
        yield
        return
    monkeypatch.setenv("RECCHAT_HOME", str(tmp_path_factory.mktemp("recchat-home")))
    start = _refuse("start processes")
    monkeypatch.setattr(subprocess.Popen, "_execute_child", start)
    for name in ("system", "fork", "forkpty", "posix_spawn", "posix_spawnp", "execv", "execve"):
        if hasattr(os, name):
            monkeypatch.setattr(os, name, start)
    load = _refuse("load models")
    from recchat.index import MiniLMEmbeddingFunction
    from recchat.llm.transformers_backend import TransformersBackend
    from recchat.llm.vllm_backend import VLLMBackend

    monkeypatch.setattr(MiniLMEmbeddingFunction, "_load", load)
    monkeypatch.setattr(TransformersBackend, "__init__", load)
    monkeypatch.setattr(VLLMBackend, "__init__", load)
    # The libraries themselves, where a test or an earlier test already imported them.
    for module, owner, attr in (
        ("sentence_transformers", "SentenceTransformer", "__init__"),
        ("transformers", "PreTrainedModel", "from_pretrained"),
        ("transformers", "AutoTokenizer", "from_pretrained"),
        ("peft", "PeftModel", "from_pretrained"),
        ("vllm", "LLM", "__init__"),
    ):
        if module in sys.modules:
            monkeypatch.setattr(getattr(sys.modules[module], owner), attr, load)
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def _local(sock, address) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            host = address[0]
            if host not in ("127.0.0.1", "::1", "localhost", "0.0.0.0"):
                pytest.fail(f"fast tests may not open network connections (to {host}): {FAST_TIER_RULE}")

    def connect(sock, address):
        _local(sock, address)
        return real_connect(sock, address)

    def connect_ex(sock, address):
        _local(sock, address)
        return real_connect_ex(sock, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    yield


def _require_asset(name: str) -> None:
    from recchat.assets import get

    if not get(name).is_present():
        pytest.fail(
            f"asset {name} is missing: run 'recchat assets fetch {name}' (the README's test command does this first)",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def movielens():
    from recchat.config import load_movielens_100k

    _require_asset("movielens-100k")
    return load_movielens_100k()


@pytest.fixture(scope="session")
def movie_domain(movielens):
    """MovieLens's Domain, as its built-in configuration describes it."""
    from recchat.config import RecommenderConfig
    from recchat.conversation.domain import Domain

    return Domain.from_config(RecommenderConfig.default(), movielens.catalog)


@pytest.fixture(scope="session")
def llm_dir() -> Path:
    from recchat.assets import llm_path

    _require_asset("smollm2-135m-instruct")
    return llm_path()


@pytest.fixture(scope="session")
def embedder():
    """One MiniLM for the whole session: loading it is the slow part of every index test."""
    from recchat.index import MiniLMEmbeddingFunction

    return MiniLMEmbeddingFunction()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, proc: subprocess.Popen, timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"server not ready at {url} after {timeout:.0f} s:\n{log.read_text()[-3000:]}")


@contextmanager
def serve(cmd: list[str], ready_url: str, log: Path, timeout: float, env: dict | None = None, cwd: Path | None = None):
    """Run a server process until the block ends; yield it once ``ready_url`` answers 200."""
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd)
    try:
        wait_http(ready_url, proc, timeout, log)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory):
    """A real `chroma run` on 127.0.0.1 and a free port; always stopped at the end."""
    folder = tmp_path_factory.mktemp("chroma-server")
    port = free_port()
    exe = Path(sys.executable).parent / "chroma"
    cmd = [str(exe), "run", "--path", str(folder / "data"), "--host", "127.0.0.1", "--port", str(port)]
    with serve(cmd, f"http://127.0.0.1:{port}/api/v2/heartbeat", folder / "server.log", 60):
        yield f"http://127.0.0.1:{port}"


def small_recommender(data, domain, embedder, folder, name):
    """A Recommender on ``data`` as the chat and scenario tests use it: a real index in ``folder``,
    a small scorer trained for two epochs, the fake LLM of test_rerank."""
    from test_rerank import FakeBackend

    from recchat.data.split import leave_one_out
    from recchat.index import ItemIndex
    from recchat.recommender import Recommender
    from recchat.rerank import Reranker
    from recchat.retrieve import item_text_vectors
    from recchat.scorer import ScorerConfig, train

    index = ItemIndex(name, path=folder, embedder=embedder)
    index.build(data.catalog, progress=False)
    split = leave_one_out(data.interactions, data.catalog)
    scorer = train(
        split,
        item_text_vectors(data.catalog, index),
        data.catalog,
        ScorerConfig(dim=32, layers=1, max_len=50, max_epochs=2, patience=2),
        progress=False,
    )
    return Recommender(
        data.catalog,
        index,
        scorer,
        Reranker(FakeBackend(favourite="1994"), "listwise", kind="movie"),
        interactions=data.interactions,
        domain=domain,
    )


@pytest.fixture(scope="session")
def rec(movielens, movie_domain, embedder, tmp_path_factory):
    """A Recommender on MovieLens: a real index, a small trained scorer, the fake LLM of test_rerank."""
    return small_recommender(movielens, movie_domain, embedder, tmp_path_factory.mktemp("chat-index"), "chat-items")


@pytest.fixture(scope="session")
def tuned_run(llm_dir, movielens, tmp_path_factory):
    """A real (tiny) tune-llm run: 120 users, popularity as the scorer, 6 examples. Shared by
    test_tune (the run and its folders) and test_vllm (the merged model in the vLLM engine)."""
    import numpy as np

    from recchat.data.catalog import InteractionLog
    from recchat.data.split import leave_one_out
    from recchat.tune import TuneConfig, tune

    catalog = movielens.catalog
    log = InteractionLog([e for e in movielens.interactions if int(e.user) <= 120], None)
    split = leave_one_out(log, catalog)

    class Popular:  # a stand-in scorer: popularity over the training part
        def __init__(self):
            self.counts = split.train_counts().astype(float)

        def score_histories(self, histories):
            return np.tile(self.counts, (len(histories), 1))

    config = TuneConfig(
        objective="listwise",
        negatives="random",
        positions=1,
        candidates=8,
        history=4,
        lr=2e-3,
        accumulate=2,
        max_examples=6,
        eval_every=4,
        val_users=3,
        val_candidates=8,
        patience=2,
        top_layers=2,
        targets="qv",
    )
    out = tmp_path_factory.mktemp("tuned") / "run"
    result = tune(split, catalog, Popular(), config, out, kind="movie", progress=False, log=lambda _: None)
    # The run keeps the adapter that was best on validation, which after 6 examples may be the
    # identity; the last trained adapter (from the checkpoint) is merged too, so the tests always
    # have a model whose weights really changed.
    import torch

    from recchat.llm.transformers_backend import TransformersBackend
    from recchat.tune.training import _lora_model, _save_adapter, merge

    trained = TransformersBackend(llm_dir)
    trained.model = _lora_model(trained.model, config)
    state = torch.load(out / "checkpoint" / "state.pt", weights_only=False)
    loaded = trained.model.load_state_dict(state["lora"], strict=False)
    assert not loaded.unexpected_keys and state["lora"]
    last = out.parent / "last"
    _save_adapter(trained.model, last / "adapter")
    merge(last, llm_dir)
    return {"out": out, "last": last, "result": result, "split": split, "config": config, "scorer": Popular()}


def listwise_prompt(catalog):
    from recchat.templates import load_template

    t = load_template("listwise")
    labelled = [{"label": c, "text": catalog[i].text} for c, i in zip("ABCDE", ("1", "50", "100", "181", "258"))]
    prefix = t.prefix(
        history=[{"text": catalog[i].text, "rating": "5"} for i in ("95", "71", "8")], candidates=labelled, kind="movie"
    )
    return prefix, t.suffix(candidates=labelled)


# --------------------------------------------------------------------------- fast-tier fixtures


@pytest.fixture
def tiny(tmp_path):
    """A Builder on a dozen films and a small rating log (tests/fakes.py), no scorer, no LLM."""
    from fakes import tiny_config

    from recchat.builder import Builder

    return Builder(tiny_config(tmp_path / "tiny"), log=lambda _: None)


@pytest.fixture
def tiny_index(tiny, tmp_path):
    """The tiny films in a real embedded Chroma collection, embedded by the fake HashEmbedder."""
    from fakes import tiny_index as build

    return build(tiny.catalog, tmp_path / "tiny-index")
