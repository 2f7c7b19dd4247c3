"""A second domain, end to end, as a user runs it: the README's "your own catalog" commands run
as written on a generated books catalog (tests/books.py: 2,400 books, 33,715 reads, series read
in order), then the rest of the route from the same configuration: the index on a Chroma server,
evaluation, batch reranking with the real LLM, simulated users, a chat with facet and range
constraints and critiques, and the app in a real browser, whose words follow the configuration.

Real subprocesses, real files, real exit codes; one RECCHAT_HOME for the module.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
CHROMIUM = os.environ.get("RECCHAT_CHROMIUM", "/usr/bin/chromium")


def readme_commands() -> list[str]:
    section = (ROOT / "README.md").read_text().split("## Your own catalog in three commands", 1)[1]
    block = section.split("```bash\n", 1)[1].split("```", 1)[0]
    return [line.split("#", 1)[0].strip() for line in block.splitlines() if line.split("#", 1)[0].strip()]


def command(line: str) -> list[str]:
    """A README line as an argv: python and recchat from this environment."""
    argv = shlex.split(line)
    if argv[0] == "python":
        return [sys.executable, *[str(ROOT / a) if a.startswith("tests/") else a for a in argv[1:]]]
    return [str(BIN / argv[0]), *argv[1:]]


@pytest.fixture(scope="module")
def books(tmp_path_factory, llm_dir):
    """The README's commands up to the app, run as written in a fresh folder; the app is started
    later by the browser test. The LLM asset comes from the shared cache (a symlink)."""
    folder = tmp_path_factory.mktemp("own-catalog")
    home = folder / "home"
    (home / "assets").mkdir(parents=True)
    shared = llm_dir.parent.parent  # $RECCHAT_HOME/assets of the session
    for asset in shared.iterdir():
        (home / "assets" / asset.name).symlink_to(asset)
    # The vector cache too: an index of the same books built by another test is not re-embedded.
    (shared.parent / "vectors").mkdir(exist_ok=True)
    (home / "vectors").symlink_to(shared.parent / "vectors")
    env = {**os.environ, "RECCHAT_HOME": str(home)}
    lines = readme_commands()
    assert [line.split()[:2] for line in lines] == [
        ["python", "tests/books.py"],
        ["recchat", "init"],
        ["recchat", "train"],
        ["recchat", "ui"],
    ]
    outputs = []
    for line in lines[:-1]:
        proc = subprocess.run(command(line), cwd=folder, env=env, capture_output=True, text=True, timeout=900)
        assert proc.returncode == 0, f"{line}\n{proc.stderr[-3000:]}"
        outputs.append(proc.stdout)
    return {"folder": folder, "env": env, "config": folder / "books.toml", "outputs": outputs, "ui": lines[-1]}


def run(books, *args, check=True, timeout=900):
    proc = subprocess.run(
        [str(BIN / "recchat"), *args],
        cwd=books["folder"],
        env=books["env"],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"recchat {' '.join(args)} exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    return proc


def test_each_command_prints_the_next(books):
    generated, init, train = books["outputs"]
    assert "2400" in generated and "33715" in generated
    assert "authors: list, separated by '|', role facet" in init and "pages: int, role range" in init
    assert "next: recchat train --config books.toml" in init
    assert "test NDCG@10" in train and "checkpoint: " in train
    assert f"next: recchat ui --config {books['config']}" in train
    check = run(books, "data", "check", "--config", "books.toml").stdout
    assert "2400 items" in check and "facets {'authors':" in check and "'subjects': 20}" in check
    assert re.search(r"(\d+) series found", check) and int(re.search(r"(\d+) series found", check).group(1)) >= 50


def test_eval_on_books(books):
    out = run(
        books,
        "eval",
        "--config",
        "books.toml",
        "--methods",
        "popularity,scorer",
        "--out",
        str(books["folder"] / "runs"),
    ).stdout
    rows = dict(re.findall(r"^\| (popularity|scorer) \| 1200 \| ([\d.]+) \|", out, flags=re.MULTILINE))
    assert set(rows) == {"popularity", "scorer"} and float(rows["scorer"]) > float(rows["popularity"])


def test_index_on_a_chroma_server_and_a_filtered_query(books, chroma_server):
    built = run(books, "index", "build", "--config", "books.toml", "--url", chroma_server).stdout
    assert "books-items: 2400 added" in built
    out = run(
        books,
        "index",
        "query",
        "dragons and magic",
        "--config",
        "books.toml",
        "--url",
        chroma_server,
        "--where",
        "pages<300 and subjects contains Fantasy",
        "-k",
        "5",
        "--json",
    ).stdout
    rows = [json.loads(line) for line in out.splitlines()]
    assert len(rows) == 5 and all(r["fields"]["pages"] < 300 and "Fantasy" in r["fields"]["subjects"] for r in rows)


def test_batch_rerank_with_the_real_llm(books):
    reads = [line.split(",") for line in (books["folder"] / "demo-books" / "reads.csv").read_text().splitlines()[1:]]
    history = [r[1] for r in reads if r[0] == "u0001"][:8]
    candidates = [f"b{n:04d}" for n in range(100, 108)]
    requests = books["folder"] / "requests.jsonl"
    requests.write_text(
        json.dumps({"id": "r1", "history": history, "candidates": candidates})
        + "\n"
        + json.dumps({"id": "r2", "history": history[:3], "candidates": ["nope"]})
        + "\n"
    )
    out = books["folder"] / "ranked.jsonl"
    proc = run(
        books,
        "rerank",
        "--config",
        "books.toml",
        "--backend",
        "transformers",
        "--input",
        str(requests),
        "--output",
        str(out),
    )
    assert "1 ranked (0 degraded to the scorer)" in proc.stdout and "1 rejected" in proc.stdout
    ranked = json.loads(out.read_text().splitlines()[0])
    assert sorted(r["id"] for r in ranked["ranking"]) == candidates and not ranked["degraded"]
    assert "candidates[0]" in (books["folder"] / "ranked.rejects.jsonl").read_text()


def test_simulated_users_on_books(books):
    out = run(
        books,
        "eval-chat",
        "--config",
        "books.toml",
        "--users",
        "6",
        "--systems",
        "text,pipeline-no-llm",
        "--out",
        str(books["folder"] / "runs"),
    ).stdout
    assert "| text | 6 |" in out and "| pipeline-no-llm | 6 |" in out


def test_chat_from_python_with_facet_range_and_critiques(books, monkeypatch):
    monkeypatch.setenv("RECCHAT_HOME", books["env"]["RECCHAT_HOME"])
    monkeypatch.chdir(books["folder"])
    from recchat.recommender import Recommender

    rec = Recommender.from_config("books.toml")
    assert rec.domain.item == "book" and rec.scorer is not None and rec.backend is None
    session = rec.chat()
    reply = session.send("Something in Science Fiction under 300 pages")
    assert reply.items and all(
        "Science Fiction" in i.item.fields["subjects"] and i.item.fields["pages"] < 300 for i in reply.items
    )
    first = reply.items[0].item.id
    reply = session.send("not that one, and nothing in Horror")
    ids = [i.item.id for i in reply.items]
    assert first not in ids and all("Horror" not in i.item.fields["subjects"] for i in reply.items)
    assert all(i.item.fields["pages"] < 300 for i in reply.items)  # the range is kept across turns


@pytest.mark.skipif(not Path(CHROMIUM).is_file(), reason=f"no system Chromium at {CHROMIUM}")
def test_the_app_as_the_readme_starts_it_speaks_of_books(books):
    from conftest import free_port, serve
    from playwright.sync_api import expect, sync_playwright

    port = free_port()
    argv = command(books["ui"]) + ["--port", str(port)]  # the README's line, on a free port
    with serve(
        argv, f"http://127.0.0.1:{port}/", books["folder"] / "ui.log", 300, env=books["env"], cwd=books["folder"]
    ):
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=CHROMIUM,
                headless=True,
                args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
            )
            page = browser.new_page(viewport={"width": 1280, "height": 1600})
            try:
                page.goto(f"http://127.0.0.1:{port}/")
                expect(page.locator("body")).to_contain_text("Tell me which books you liked", timeout=60_000)
                box = page.locator("#message textarea")
                box.fill("a Mystery under 250 pages")
                box.press("Enter")
                cards = page.locator("[id^=card-text-]:visible")
                expect(cards.nth(4)).to_be_visible(timeout=60_000)
                texts = cards.all_inner_texts()
                assert all("Mystery" in t and re.search(r"\b\d+ pages\b", t) for t in texts), texts
                body = page.locator("body").inner_text().lower()
                assert "movie" not in body and "movielens" not in body and "genre" not in body
            finally:
                browser.close()
