"""The `recchat` command as a user runs it: real subprocesses, real files, real exit codes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

RECCHAT = str(Path(sys.executable).parent / "recchat")


def run(*args, home, check=True, timeout=300):
    env = {**os.environ, "RECCHAT_HOME": str(home)}
    proc = subprocess.run([RECCHAT, *args], capture_output=True, text=True, env=env, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"recchat {' '.join(args)} exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    return proc


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["assets"],
        ["index"],
        ["index", "build"],
        ["index", "query"],
        ["init"],
        ["data", "check"],
        ["doctor"],
        ["demo"],
        ["train"],
        ["eval"],
        ["rerank"],
        ["tune-blend"],
        ["tune-llm"],
        ["ui"],
        ["profile"],
        ["eval-chat"],
        ["forget-user"],
    ],
)
def test_help_explains_every_command(args, tmp_path):
    out = run(*args, "--help", home=tmp_path).stdout
    assert "usage: recchat" in out and len(out) > 200


CATALOG = (
    "item_id,title,year,genres\n1,Toy Story,1995,Animation|Comedy\n2,Heat,1995,Crime|Thriller\n"
    "3,Alien,1979,Horror|Sci-Fi\n4,Pinocchio,1940,Animation|Children\n"
)
LOG = "user_id,item_id,rating,timestamp\na,1,4,1\na,2,5,2\nb,3,3,1\nb,4,4,2\n"


def films(tmp_path, catalog=CATALOG, log=LOG):
    """A tiny catalog and log, and the configuration recchat init writes for them."""
    (tmp_path / "films.csv").write_text(catalog)
    (tmp_path / "ratings.csv").write_text(log)
    out = run(
        "init",
        str(tmp_path / "films.csv"),
        str(tmp_path / "ratings.csv"),
        "--out",
        str(tmp_path / "films.toml"),
        "--item",
        "film",
        home=tmp_path,
    ).stdout
    return tmp_path / "films.toml", out


def test_init_guesses_the_columns_and_prints_the_next_command(tmp_path):
    config, out = films(tmp_path)
    assert "id 'item_id', title 'title'" in out
    assert "year: int, role year" in out and "genres: list, separated by '|', role facet" in out
    assert f"next: recchat train --config {config}" in out
    text = config.read_text()
    assert 'path = "films.csv"' in text and 'item = "film"' in text  # relative to the file: it can move
    again = run("init", str(tmp_path / "films.csv"), "--out", str(config), home=tmp_path, check=False)
    assert again.returncode == 2 and "exists; nothing was written" in again.stderr and config.read_text() == text


def test_index_build_and_query_from_a_config(tmp_path):
    config, _ = films(tmp_path)
    first = run("index", "build", "--config", str(config), home=tmp_path)
    assert "films-items: 4 added, 0 updated, 0 unchanged" in first.stdout
    assert "search: exact: all 4 stored vectors scored in memory" in first.stdout
    again = run("index", "build", "--config", str(config), home=tmp_path)
    assert "0 added, 0 updated, 4 unchanged" in again.stdout
    query = run(
        "index",
        "query",
        "cartoon",
        "--config",
        str(config),
        "--where",
        "year<1990",
        "-k",
        "5",
        "--json",
        "--explain",
        home=tmp_path,
    )
    assert "search: exact: all 4 stored vectors" in query.stderr and "2 found in" in query.stderr
    rows = [json.loads(line) for line in query.stdout.splitlines()]
    assert [r["id"] for r in rows] == ["4", "3"]  # the two pre-1990 films, the cartoon first
    assert rows[0]["fields"] == {"year": 1940, "genres": ["Animation", "Children"]}


def test_bad_row_exits_2_naming_file_line_and_field(tmp_path):
    config, _ = films(tmp_path)
    items = tmp_path / "films.csv"
    items.write_text(CATALOG + "5,Brazil,soon,Comedy\n")
    proc = run("index", "build", "--config", str(config), home=tmp_path, check=False)
    assert proc.returncode == 2
    assert f"recchat: error: {items}:6: field 'year': 'soon' is not an integer" in proc.stderr
    assert "Traceback" not in proc.stderr
    ok = run("index", "build", "--config", str(config), "--skip-bad", home=tmp_path)
    assert "4 of 5 rows loaded, 1 skipped" in ok.stderr and "4 added" in ok.stdout


@pytest.mark.parametrize(
    "change, key, fix",
    [
        ("[llm]\nmodle = 'x'\n", "llm.modle: unknown key", "known keys in [llm]: backend, model"),
        ('path = "ratings.csv"', "interactions.path:", "fix the path"),
        (
            "[catalog.fields.length]\ncolumn = 'runtime'\ntype = 'int'\nrole = 'range'\n",
            "catalog.fields.length.column: column 'runtime' is not in films.csv",
            "name one of its columns",
        ),
        (
            "[catalog.fields.title_words]\ncolumn = 'title'\nrole = 'facet'\n",
            "catalog.fields.title_words.role: a facet must be a list field",
            'set type = "list"',
        ),
    ],
)
def test_bad_configuration_names_key_file_and_fix_and_writes_nothing(tmp_path, change, key, fix):
    config, _ = films(tmp_path)
    text = config.read_text()
    if change.startswith("path"):
        text = text.replace(change, 'path = "nowhere.csv"')
    else:  # a table may appear once in TOML: add keys to an existing one where it starts
        section = change.split("\n", 1)[0]
        text = text.replace(section + "\n", change, 1) if section in text else text + "\n" + change
    config.write_text(text)
    store = ["--path", str(tmp_path / "store")]
    # Every command checks the configuration first; three of them stand for the rest.
    commands = [["index", "build", *store], ["train", "--max-epochs", "1", *store], ["data", "check"]]
    for command in commands if "modle" in key else commands[1:2]:
        proc = run(*command, "--config", str(config), home=tmp_path, check=False)
        assert proc.returncode == 2, proc.stderr
        assert (
            f"recchat: error: {config}: {key}" in proc.stderr and fix in proc.stderr and "Traceback" not in proc.stderr
        )
    assert not (tmp_path / "store").exists() and not (tmp_path / "models").exists()  # nothing written


def test_missing_asset_says_which_command_fetches_it(tmp_path):
    proc = run("index", "build", home=tmp_path / "empty", check=False)
    assert proc.returncode == 2
    assert "recchat assets fetch movielens-100k" in proc.stderr


def test_bad_filter_is_explained(tmp_path):
    config, _ = films(tmp_path)  # the filter is read before anything is embedded or built
    proc = run("index", "query", "x", "--config", str(config), "--where", "year ~ 3", home=tmp_path, check=False)
    assert proc.returncode == 2 and "cannot read the filter 'year ~ 3'" in proc.stderr


def test_assets_list_shows_the_cache(tmp_path):
    out = run("assets", "list", home=tmp_path).stdout
    assert f"cache: {tmp_path}" in out
    assert "movielens-100k" in out and "missing" in out and "all-minilm-l6-v2" in out


def test_demo_reaches_the_sample_query(movielens, llm_dir, tmp_path):
    """The demo: with the assets cached, it indexes MovieLens and answers."""
    home = llm_dir.parent.parent.parent  # the cache that holds the fetched assets
    proc = run("demo", "--path", str(tmp_path / "index"), home=home, timeout=600)
    out = proc.stdout
    assert "MovieLens-100K: 1682 items, 100000 ratings, 943 users" in out
    assert "1681 added" in out and "1 items with empty text not embedded" in out
    results = re.findall(r"^\s*\d+\. +-?[\d.]+ +(.*)\[id \d+\]$", out, flags=re.MULTILINE)
    assert len(results) == 10
    years = [int(m) for line in results for m in re.findall(r"\((\d{4})\)", line)]
    assert len(years) == 10 and all(y < 1980 for y in years)


def test_data_check_reports_unknown_items_with_their_line(tmp_path):
    config, _ = films(tmp_path)
    log = tmp_path / "log.jsonl"
    log.write_text(
        '{"user_id": "a", "item_id": "1", "rating": 4, "timestamp": 1}\n'
        '{"user_id": "a", "item_id": "99", "rating": 4, "timestamp": 2}\n'
    )
    config.write_text(config.read_text().replace('path = "ratings.csv"', 'path = "log.jsonl"'))
    proc = run("data", "check", "--config", str(config), home=tmp_path, check=False)
    assert proc.returncode == 2 and f"{log}:2: field 'item_id': item id '99' is not in the catalog" in proc.stderr
    ok = run("data", "check", "--config", str(config), "--skip-bad", home=tmp_path)
    assert "log.jsonl: 1 of 2 rows loaded, 1 skipped" in ok.stderr
    assert "4 items; fingerprint" in ok.stdout and "1 interactions from 1 users" in ok.stdout
    assert "domain: films; facets {'genres': 7}; year field year" in ok.stdout


def test_train_then_eval_on_a_slice(movielens, llm_dir, tmp_path):
    """`recchat train` then `recchat eval`, as the README says, on 120 users and 2 epochs."""
    home = llm_dir.parent.parent.parent
    ckpt = tmp_path / "scorer.pt"
    store = ["--path", str(tmp_path / "index")]
    out = run(
        "train",
        "--max-users",
        "120",
        "--max-epochs",
        "2",
        "--dim",
        "32",
        "--max-len",
        "50",
        "--out",
        str(ckpt),
        *store,
        home=home,
        timeout=600,
    ).stdout
    assert "best epoch" in out and f"checkpoint: {ckpt}" in out
    assert "item vectors: Chroma collection movielens-100k-behaviour (1682 items)" in out
    proc = run(
        "eval",
        "--max-users",
        "120",
        "--scorer",
        str(ckpt),
        "--out",
        str(tmp_path / "runs"),
        *store,
        home=home,
        timeout=600,
    )
    table = proc.stdout
    for method in ("popularity", "item-knn", "text", "scorer"):
        assert f"| {method} |" in table
    folder = Path(re.search(r"run folder: (\S+)", table).group(1))
    assert {p.name for p in folder.iterdir()} == {"results.json", "results.md", "chart.png"}
    results = json.loads((folder / "results.json").read_text())
    assert results["config"]["max_users"] == 120
    assert all(r["test"]["users"] == 120 for r in results["results"])
    bad = run("eval", "--methods", "popularity,magic", "--max-users", "10", home=home, check=False)
    assert bad.returncode == 2 and "unknown method(s) magic" in bad.stderr

    # An LLM that fails for every user (a server that is not there): the table, the summary and
    # results.json say so, the LLM rows are withheld, and tune-blend refuses to learn from it.
    from conftest import free_port

    dead = ["--backend", "openai", "--base-url", f"http://127.0.0.1:{free_port()}/v1", "--timeout", "2"]
    # A blend tuned earlier kept the scorer (alpha 0), its best grid point 0.3 being within noise:
    # eval shows both rows, the rejected one labelled as such.
    blend_file = tmp_path / "scorer.blend.json"
    blend_file.write_text(json.dumps({"alpha": 0.0, "norm": "rank", "tuned_on": {"best_grid_alpha": 0.3}}))
    proc = run(
        "eval",
        "--methods",
        "scorer",
        "--max-users",
        "120",
        "--scorer",
        str(ckpt),
        "--rerank",
        "--rerank-users",
        "4",
        "--rerank-all",
        "--out",
        str(tmp_path / "runs2"),
        *dead,
        *store,
        home=home,
        timeout=600,
    )
    assert "LLM reranked 0 of 4 users; 4 degraded to the scorer (first error: " in proc.stdout
    assert "| LLM only (listwise) [withheld: 4 of 4 users degraded] | 4 | withheld |" in proc.stdout
    folder = Path(re.search(r"run folder: (\S+)", proc.stdout).group(1))
    results = json.loads((folder / "results.json").read_text())
    assert results["config"]["rerank"]["degraded_users"] == 4 and results["config"]["rerank"]["reranked_users"] == 0
    assert results["config"]["rerank"]["first_error"] and results["config"]["rerank"]["llm_unreliable"]
    assert [r["test"]["withheld"] for r in results["results"][1:]] == [False, True, False, True]
    assert "| blend a=0.30 rank (best on validation, not chosen: within noise) [withheld: 4 of 4" in proc.stdout
    assert "**LLM reranked 0 of 4 users" in (folder / "results.md").read_text()
    tuned = run(
        "tune-blend",
        "--max-users",
        "12",
        "--rerank-all",
        "--scorer",
        str(ckpt),
        *dead,
        home=home,
        check=False,
        timeout=600,
    )
    assert tuned.returncode == 2 and "not tuning: the LLM failed for" in tuned.stderr
    assert json.loads(blend_file.read_text())["tuned_on"] == {"best_grid_alpha": 0.3}  # kept as it was


def test_eval_chat_writes_its_table_and_chart(movielens, llm_dir, tmp_path):
    home = llm_dir.parent.parent.parent
    proc = run(
        "eval-chat", "--users", "3", "--backend", "none", "--out", str(tmp_path / "runs"), home=home, timeout=600
    )
    assert "| text | 3 |" in proc.stdout and "| pipeline-no-llm | 3 |" in proc.stdout
    assert "| pipeline |" not in proc.stdout  # needs an LLM: dropped with --backend none
    folder = next((tmp_path / "runs").glob("eval-chat-*-s0-n3"))
    assert (folder / "chart.png").stat().st_size > 5000 and (folder / "results.md").is_file()


def test_readme_import_example_runs_as_written(movielens, llm_dir, tmp_path):
    """The README's Python example, copied out of the README and run in a fresh process."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("## From Python", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    assert len([line for line in code.splitlines() if line.strip()]) <= 10
    script = tmp_path / "example.py"
    script.write_text(code)
    env = {**os.environ, "RECCHAT_HOME": str(llm_dir.parent.parent.parent)}
    proc = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=600, cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    assert lines[0].startswith("[") and len(eval(lines[0])) == 5  # noqa: S307 (our own printed list)
    assert len(lines) == 5 and all(" | " in line for line in lines[2:5])
