"""The batch rerank script: streaming, resume, rejects, degradation, and the real CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_rerank import FakeBackend

from recchat.batch import RequestError, parse_request, rerank_file
from recchat.rerank import Reranker


def write_requests(path: Path, lines: list) -> Path:
    path.write_text("".join((json.dumps(x) if not isinstance(x, str) else x) + "\n" for x in lines))
    return path


GOOD = [
    {"id": "r1", "history": ["1", {"id": "95", "rating": 5}], "candidates": ["71", {"id": "8", "score": 2.0}, "588"]},
    {
        "id": "r2",
        "history": [{"text": "A home-made film nobody catalogued", "rating": 4}],
        "candidates": [{"id": "new", "text": "Film 3 (2026), a brand new film"}, "1"],
        "query": "something new",
    },
]
BAD = [
    '{"id": "r3", "history": [',  # line 3: broken JSON
    {"id": "r4", "history": []},  # line 4: no candidates
    {"id": "r5", "candidates": ["999999"]},  # line 5: unknown id, no text
]


def read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_rankings_rejects_and_resume(tmp_path, movielens):
    requests = write_requests(tmp_path / "requests.jsonl", GOOD + BAD)
    out = tmp_path / "ranked.jsonl"
    report = rerank_file(requests, out, Reranker(FakeBackend(), "pointwise"), catalog=movielens.catalog, progress=False)
    assert (report.written, report.rejected, report.skipped_done) == (2, 3, 0)
    results = read(out)
    assert [r["id"] for r in results] == ["r1", "r2"]
    r1 = results[0]
    assert sorted(x["id"] for x in r1["ranking"]) == ["588", "71", "8"]
    assert next(x for x in r1["ranking"] if x["id"] == "8")["prior"] == 2.0
    assert results[1]["ranking"][0]["id"] == "new"  # the fake LLM likes "Film 3"
    assert all(not r["degraded"] and r["invocations"] for r in results)
    rejects = read(tmp_path / "ranked.rejects.jsonl")
    assert [r["line"] for r in rejects] == [3, 4, 5]
    assert rejects[0]["reason"].startswith("not valid JSON")
    assert rejects[1]["reason"] == "field 'candidates' must be a non-empty list"
    assert rejects[2]["reason"] == "candidates[0]: id '999999' is not in the catalog and no 'text' is given"

    # A rerun skips what is done; a new request is the only work.
    write_requests(requests, GOOD + [{"id": "r6", "history": ["1"], "candidates": ["2", "3"]}])
    again = rerank_file(
        requests,
        out,
        Reranker(FakeBackend(), "pointwise"),
        catalog=movielens.catalog,
        progress=False,
        rejects_path=tmp_path / "rej2.jsonl",
    )
    assert (again.written, again.skipped_done) == (1, 2)
    assert [r["id"] for r in read(out)] == ["r1", "r2", "r6"]


def test_interrupted_output_is_repaired_and_redone(tmp_path, movielens):
    requests = write_requests(tmp_path / "requests.jsonl", GOOD)
    out = tmp_path / "ranked.jsonl"
    out.write_text(json.dumps({"id": "r1", "ranking": []}) + "\n" + '{"id": "r2", "rank')  # cut mid-line
    report = rerank_file(requests, out, Reranker(FakeBackend(), "listwise"), catalog=movielens.catalog, progress=False)
    assert (report.written, report.skipped_done) == (1, 1)
    assert [r["id"] for r in read(out)] == ["r1", "r2"]


def test_failing_llm_still_ranks_every_request(tmp_path, movielens):
    requests = write_requests(tmp_path / "requests.jsonl", GOOD)
    out = tmp_path / "ranked.jsonl"
    report = rerank_file(
        requests,
        out,
        Reranker(FakeBackend(fail=True), "listwise"),
        catalog=movielens.catalog,
        progress=False,
        concurrency=2,
    )
    assert (report.written, report.degraded) == (2, 2)
    first = read(out)[0]
    assert first["degraded"] and "LLM reranker failed" in first["notes"][0]
    assert first["ranking"][0]["id"] == "8"  # the only prior score given wins


def test_request_validation_names_the_field(movielens):
    with pytest.raises(RequestError, match=r"history\[0\]: 'rating' must be a number"):
        parse_request({"id": 1, "history": [{"id": "1", "rating": "high"}], "candidates": ["2"]}, movielens.catalog)
    with pytest.raises(RequestError, match=r"candidates\[1\]: duplicate id '2'"):
        parse_request({"id": 1, "candidates": ["2", "2"]}, movielens.catalog)
    with pytest.raises(RequestError, match="field 'id' is missing"):
        parse_request({"candidates": ["2"]}, movielens.catalog)


@pytest.mark.slow
def test_cli_batch_with_the_real_model(tmp_path, movielens, llm_dir):
    requests = write_requests(tmp_path / "requests.jsonl", GOOD + BAD[:1])
    out = tmp_path / "ranked.jsonl"
    env = {**os.environ, "RECCHAT_HOME": str(llm_dir.parent.parent.parent)}
    exe = str(Path(sys.executable).parent / "recchat")
    proc = subprocess.run(
        [
            exe,
            "rerank",
            "--input",
            str(requests),
            "--output",
            str(out),
            "--backend",
            "transformers",
            "--mode",
            "listwise",
            "--scorer",
            str(tmp_path / "none.pt"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "2 ranked (0 degraded to the scorer), 0 already done, 1 rejected" in proc.stdout
    assert "no scorer checkpoint" in proc.stderr
    results = read(out)
    assert [r["mode"] for r in results] == ["blend:listwise", "blend:listwise"]
    assert all(r["invocations"][0]["prompt_tokens"] > 50 for r in results)
