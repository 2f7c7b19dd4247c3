"""Personal data: masking (measured on a labelled corpus), where it applies (chat messages, prompts,
profiles, saved sessions, the prompt log, which is off by default), the 2,000-character cap on a
chat message, and forgetting a user (the Python API and `recchat forget-user` as a subprocess).
The measurement itself, with the 1 MB timings, is bench/privacy.py."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from recchat import privacy
from recchat.llm import record
from recchat.privacy import TitleExemptions, acting_for, exempting, find_pii, forget_user, mask_pii, masked
from recchat.types import Invocation

ROOT = Path(__file__).resolve().parents[1]
RECCHAT = str(Path(sys.executable).parent / "recchat")
ZEBRA = "u-zebra-4711"  # distinctive: found anywhere as a whole word
PRESS = "press@lumiere-films.example.com"
PHONE = "+44 20 7946 0958"


def _bench():
    spec = importlib.util.spec_from_file_location("bench_privacy", ROOT / "bench" / "privacy.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --------------------------------------------------------------------------- masking


def test_corpus_recall_and_precision_floors(movielens):
    bench = _bench()
    rows = bench.load_corpus()
    assert len([r for r in rows if r["pii"]]) >= 100 and len([r for r in rows if not r["pii"]]) >= 40
    result = bench.score(rows)
    assert result["recall_overall"] >= 0.95, result["misses"]
    for kind, (recall, _, total) in result["recall"].items():
        assert total >= 8 and recall >= 0.9, (kind, result["misses"])
    # The one known false mask: a film whose title is an address. A catalog that holds the title
    # protects it (a Recommender holds its catalog's exemptions); then no negative is masked at all.
    assert {value for _, value, _ in result["false"]} <= {"10 Cloverfield Lane"}
    with exempting(TitleExemptions.of(["10 Cloverfield Lane", "Heat"])):
        assert bench.score(rows)["negatives_masked"] == 0
    assert bench.score(rows)["false"] == result["false"]  # the scope ended with its block
    # A real catalog full of years, numbered titles and sequels: nothing in it is masked.
    assert not [it.text for it in movielens.catalog if it.text and find_pii(it.text)]


@pytest.mark.fast
def test_masks_what_it_should_and_leaves_titles_numbers_and_isbns():
    text = (
        "I'm jo.bloggs@mail.example.org, call me on (415) 555-0132 or ship to 221B Baker Street, "
        "London NW1 6XE; card 4111 1111 1111 1111, IBAN GB82 WEST 1234 5698 7654 32."
    )
    result = mask_pii(text)
    assert result.text == ("I'm [email], call me on [phone] or ship to [address]; card [card], IBAN [iban].")
    assert result.counts == {"email": 1, "phone": 1, "address": 1, "card": 1, "iban": 1}
    keep = (
        "Apollo 13, 2001: A Space Odyssey, Se7en and Ocean's Eleven from the 90s, 1996 or 1997, under 300 "
        "pages, between 200 and 400 pages, rated 4.5/5, item 1682, ISBN 978-0-306-40615-7, Miracle on "
        "34th Street, 4111 1111 1111 1112 (fails the Luhn check)"
    )
    assert mask_pii(keep).text == keep
    assert mask_pii(result.text).text == result.text  # masking is idempotent


@pytest.mark.fast
def test_masking_stays_linear_on_hostile_input():
    """Patterns that backtrack would take minutes on these 250 kB strings (each is linear, a
    fraction of a second); a generous bound catches that. The 1 MB timings: bench/privacy.py."""
    for unit in ("7", "a", "a@b ", "1 ", "+1 (", "GB12 ", "1 Main St "):
        text = unit * (250_000 // len(unit))
        started = time.process_time()
        mask_pii(text)
        assert time.process_time() - started < 3.0, unit


@pytest.mark.fast
def test_a_long_text_is_cut_without_leaving_half_of_a_card():
    text = "x" * 1990 + " 4111 1111 1111 1111 and more"
    cut = mask_pii(text, limit=2000).text
    assert len(cut) <= 2000 and "4111" not in cut and cut.startswith("x" * 1990)


def _recommender(*titles: str):
    """A Recommender on a catalog of ``titles`` (no index needed: only its exemptions are used)."""
    from recchat.data.catalog import Catalog
    from recchat.recommender import Recommender
    from recchat.types import Item

    catalog = Catalog([Item(str(n), title, title) for n, title in enumerate(titles, start=1)])
    return Recommender(catalog, index=None)  # type: ignore[arg-type]


def test_each_recommender_owns_its_title_exemptions():
    """Two recommenders in one process: a title exempted for one catalog is still masked for
    the other, and nothing is exempt outside a recommender's calls."""
    films = _recommender("10 Cloverfield Lane", "Heat", "Apollo 13")
    books = _recommender("84 Charing Cross Road", "Emma")
    line = "I loved 10 Cloverfield Lane, then 84 Charing Cross Road"
    assert films.pii_exemptions.titles == frozenset({"10 cloverfield lane"})
    assert books.pii_exemptions.titles == frozenset({"84 charing cross road"})
    assert masked(line, films.pii_exemptions) == "I loved 10 Cloverfield Lane, then [address]"
    assert masked(line, books.pii_exemptions) == "I loved [address], then 84 Charing Cross Road"
    assert masked(line) == "I loved [address], then [address]"  # building them widened nothing
    # Scoped as a recommender's calls are (acting_for / exempting): the scope ends with its block,
    # and an inner scope (another catalog) replaces the outer one rather than adding to it.
    with acting_for("u1", films.pii_exemptions):
        assert masked(line) == "I loved 10 Cloverfield Lane, then [address]"
        with exempting(books.pii_exemptions):
            assert masked(line) == "I loved [address], then 84 Charing Cross Road"
        assert masked("ship to 10 Cloverfield Lane, Chicago 60601") == "ship to [address]"  # goes on past the title
    assert masked(line) == "I loved [address], then [address]"


# --------------------------------------------------------------------------- the pipeline


class RecordingBackend:
    """A fake LLM that keeps what it is sent and records each call the way real backends do."""

    name = "recording"
    structured_outputs = False

    def __init__(self, answer: str = "A tense crime story like the films you liked."):
        self.invocations, self.sent, self.answer = [], [], answer

    def label_logprobs(self, prefix, suffixes, labels):
        self.sent += [prefix, *suffixes]
        record(self, Invocation(self.name, "label_logprobs", len(suffixes), 0, 0, 0.0), [prefix, *suffixes])
        return [{label: -float(n) for n, label in enumerate(labels)} for _ in suffixes]

    def generate(self, prompts, *, max_tokens, regex=None, json_schema=None):
        self.sent += list(prompts)
        record(self, Invocation(self.name, "generate", len(prompts), 0, 0, 0.0), prompts)
        return [self.answer for _ in prompts]


FILMS = (
    "item_id,title,year,genres,description\n"
    "1,Heat,1995,Crime|Thriller,A heist in Los Angeles\n"
    f"2,Ronin,1998,Crime|Action,Mercenaries in France. Press: {PRESS} or {PHONE}\n"
    "3,Collateral,2004,Crime|Thriller,A taxi driver and a hitman\n"
    "4,Toy Story,1995,Animation|Comedy,Toys come alive\n"
    "5,Alien,1979,Horror|Sci-Fi,A crew meets a creature\n"
    "6,The Insider,1999,Drama,A whistleblower\n"
    "7,10 Cloverfield Lane,2016,Thriller,A bunker\n"
    "8,Thief,1981,Crime|Drama,A safecracker's last job\n"
)
RATINGS = (
    "user_id,item_id,rating,timestamp\n"
    f"{ZEBRA},1,5,1\n{ZEBRA},3,4,2\n{ZEBRA},8,5,3\n"
    "u-quokka-0815,4,5,1\nu-quokka-0815,5,3,2\n7,6,4,1\n7,1,3,2\n"
)
CONFIG = """name = "films"

[catalog]
path = "films.csv"
id = "item_id"
title = "title"
template = "{{ title }} ({{ year }}). {{ description }}"

[catalog.fields]
year = { column = "year", type = "int", role = "year" }
genres = { column = "genres", type = "list", sep = "|", role = "facet" }
description = { column = "description", type = "str" }

[interactions]
path = "ratings.csv"

[llm]
backend = "none"

[domain]
item = "film"
"""


@pytest.fixture(scope="module")
def films(tmp_path_factory, embedder, llm_dir):
    """A small catalog (one description carries an e-mail and a phone number) and log OUTSIDE a
    temporary $RECCHAT_HOME, and a Recommender on them with the session's MiniLM. (``llm_dir`` is
    found first: the assets are in the real $RECCHAT_HOME.)"""
    from recchat.builder import Builder
    from recchat.index import ItemIndex
    from recchat.recommender import Recommender
    from recchat.rerank import NO_LLM

    data, home = tmp_path_factory.mktemp("films-data"), tmp_path_factory.mktemp("recchat-home")
    (data / "films.csv").write_text(FILMS)
    (data / "ratings.csv").write_text(RATINGS)
    (data / "films.toml").write_text(CONFIG)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RECCHAT_HOME", str(home))
        mp.delenv(privacy.DEBUG_PROMPTS_ENV, raising=False)
        parts = Builder(data / "films.toml", log=lambda _: None)
        index = ItemIndex(parts.config.collection, path=home / "index", embedder=embedder)
        index.build(parts.catalog, progress=False)
        rec = Recommender(**{**parts.parts(reranker=NO_LLM), "index": index}, name=parts.name)
        yield rec, data, home


def _reranker(backend):
    from recchat.rerank import Reranker

    return Reranker(backend, "listwise", kind="film")


def test_a_1mb_message_is_cut_with_a_note_and_answered_quickly(films):
    rec, _, _ = films
    session = rec.chat()
    message = f"I loved Heat, write me at jo@example.org. {'la ' * 350_000}"
    started = time.perf_counter()
    reply = session.send(message, explain=False)
    seconds = time.perf_counter() - started
    assert reply.notes[0] == f"Your message was {len(message):,} characters; I read the first 2,000."
    assert reply.items and seconds < 20, seconds  # minutes if the whole message were read
    said = session.transcript[0]
    assert said["role"] == "user" and len(said["text"]) <= 2000 and "jo@example.org" not in said["text"]
    assert "[email]" in said["text"] and session.transcript[1] == {"role": "assistant", "text": reply.message}
    assert all("jo@example.org" not in w for w in session.state.wishes)


def test_masked_text_is_all_the_llm_sees_and_prompts_are_logged_only_on_request(films, monkeypatch):
    rec, _, home = films
    log = home / "logs" / "prompts.jsonl"
    backend = RecordingBackend()
    session = rec.chat(user_id=ZEBRA, reranker=_reranker(backend))
    reply = session.send("something like Ronin, my phone is 07700 900123 and mail is zed@zebra.example.net")
    assert reply.items and backend.sent and not (home / "logs").exists()  # no flag: no prompt log at all
    sent = "\n".join(backend.sent)
    assert "[email]" in sent and "[phone]" in sent and "Mercenaries in France" in sent  # Ronin's text went in
    for secret in (PRESS, PHONE, "07700 900123", "zed@zebra.example.net"):
        assert secret not in sent

    monkeypatch.setenv(privacy.DEBUG_PROMPTS_ENV, "1")
    session.send("more like Heat, email me at zed@zebra.example.net")
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert records and {r["user"] for r in records} == {ZEBRA}
    assert {r["kind"] for r in records} == {"label_logprobs", "generate"}  # ranking and reasons
    logged = json.dumps(records)
    assert "[email]" in logged and "zed@zebra.example.net" not in logged and PRESS not in logged
    # A saved session holds only masked text, and is written atomically.
    saved = rec.sessions().save(ZEBRA, session)
    assert saved.parent == home / "sessions" / "films" and "zed@zebra" not in saved.read_text()
    assert "[email]" in saved.read_text() and not list(saved.parent.glob(".*tmp*"))


def test_a_profile_is_cached_masked(films, tmp_path):
    from recchat.conversation.profile import ProfileStore

    rec, _, _ = films
    chatty = RecordingBackend(answer="Loves heists and night-time crime. Writes to fan@club.example.com about them.")
    store = ProfileStore(
        tmp_path,
        rec.catalog,
        rec.profiles.history(ZEBRA) + rec.profiles.history("7"),
        backend=chatty,
        domain=rec.domain,
    )
    profile = store.get(ZEBRA)
    assert (
        profile.summary_source == "llm"
        and profile.summary == "Loves heists and night-time crime. Writes to [email] about them."
    )
    assert "fan@club" not in (tmp_path / f"{ZEBRA}.json").read_text()


def test_a_saved_session_resumes_and_is_deleted(films):
    rec, _, _ = films
    store = rec.sessions()
    session = rec.chat(user_id="u-quokka-0815")
    first = session.send("no horror, something from the 90s", explain=False)
    session.feedback(first.items[0].item.id, liked=False, explain=False)
    store.save("quokka-login", session)
    resumed = store.resume("quokka-login", rec)
    assert resumed.state == session.state and resumed.transcript == session.transcript
    assert resumed.user_id == "u-quokka-0815" and len(resumed.transcript) == 4
    later = resumed.send("something older", explain=False)
    assert first.items[0].item.id not in {i.item.id for i in later.items}  # the dislike held
    assert store.delete("quokka-login") and store.load("quokka-login") is None and not store.delete("quokka-login")


@pytest.mark.slow
def test_real_llm_prompts_are_logged_masked_with_the_flag_and_never_without(films, llm_dir, monkeypatch):
    """SmolLM2 through transformers: a turn's prompts (rerank and reasons) in the log are masked."""
    from recchat.llm import load_backend

    rec, _, home = films
    log = home / "logs" / "prompts.jsonl"
    log.unlink(missing_ok=True)
    smol = load_backend("transformers", llm_dir)
    session = rec.chat(user_id="7", reranker=_reranker(smol), explain_top=1)
    session.send("something like Ronin, I'm at zed@zebra.example.net", explain=False)
    assert smol.invocations and not log.exists()
    monkeypatch.setenv(privacy.DEBUG_PROMPTS_ENV, "1")
    reply = session.send("another crime film like Ronin, mail zed@zebra.example.net")
    assert not reply.degraded, reply.notes
    text = log.read_text()
    records = [json.loads(line) for line in text.splitlines()]
    assert {r["user"] for r in records} == {"7"} and {r["backend"] for r in records} == {"transformers"}
    assert "[email]" in text and "Mercenaries in France" in text  # Ronin's description, masked
    assert "zed@zebra" not in text and PRESS not in text and PHONE not in text


# --------------------------------------------------------------------------- forgetting


def _mentions(folder: Path, needle: str) -> list[Path]:
    """Every file under ``folder``, binary ones too, whose bytes contain ``needle``."""
    return [p for p in folder.rglob("*") if p.is_file() and needle.encode() in p.read_bytes()]


def test_forget_user_command_removes_everything_under_recchat_home(films, monkeypatch):
    rec, data, home = films
    monkeypatch.setenv(privacy.DEBUG_PROMPTS_ENV, "1")
    backend = RecordingBackend()
    session = rec.chat(user_id=ZEBRA, reranker=_reranker(backend))
    session.send("a crime film like Heat")
    rec.sessions().save(ZEBRA, session)
    rec.chat(user_id="u-quokka-0815", reranker=_reranker(backend)).send(
        "something funny"
    )  # another user's records stay
    assert {p.parent.name for p in _mentions(home, ZEBRA)} >= {"films", "logs"}  # profile, session, prompt log

    env = {**os.environ, "RECCHAT_HOME": str(home)}
    proc = subprocess.run(
        [RECCHAT, "forget-user", ZEBRA, "--config", str(data / "films.toml")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert f"removed {home / 'profiles' / 'films' / (ZEBRA + '.json')}" in out
    assert f"removed {home / 'sessions' / 'films' / (ZEBRA + '.json')}" in out
    assert f"record(s) from {home / 'logs' / 'prompts.jsonl'}" in out
    assert "no file there mentions the user any more" in out and "interaction log" in out
    assert _mentions(home, ZEBRA) == []  # not a byte, in any file
    assert "u-quokka-0815" in (home / "logs" / "prompts.jsonl").read_text()
    assert ZEBRA in (data / "ratings.csv").read_text()  # the input data is the owner's to edit
    # The Python API does the same for the other user.
    report = rec.forget_user("u-quokka-0815")
    assert report.removed_files and report.removed_lines and report.remaining == []
    assert _mentions(home, "u-quokka-0815") == []


@pytest.mark.fast
def test_forget_user_api_and_the_rule_for_numeric_ids(tmp_path, monkeypatch):
    """A numeric id is found in user fields only: "7" in a rating or a year is not the user."""
    monkeypatch.setenv("RECCHAT_HOME", str(tmp_path))
    (tmp_path / "profiles" / "films").mkdir(parents=True)
    (tmp_path / "profiles" / "films" / "7.json").write_text(json.dumps({"user": "7", "facts": ["rated 7 films"]}))
    (tmp_path / "profiles" / "films" / "8.json").write_text(json.dumps({"user": "8", "facts": ["7 ratings"]}))
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "prompts.jsonl").write_text(
        json.dumps({"user": "7", "prompts": ["x"]}) + "\n" + json.dumps({"user": "8", "prompts": ["7"]}) + "\n"
    )
    (tmp_path / "notes.json").write_text(json.dumps([{"user_id": 7, "rating": 4}]))  # not a per-user record
    (tmp_path / "readme.txt").write_text("Films from 1977, 7 stars")
    (tmp_path / "assets" / "data").mkdir(parents=True)
    (tmp_path / "assets" / "data" / "log.jsonl").write_text(json.dumps({"user": "7"}) + "\n")
    report = forget_user("7")
    assert report.removed_files == [tmp_path / "profiles" / "films" / "7.json"]
    assert report.removed_lines == {tmp_path / "logs" / "prompts.jsonl": 1}
    assert report.remaining == [tmp_path / "notes.json"]  # named, since recchat does not own it
    assert (tmp_path / "profiles" / "films" / "8.json").is_file()
    assert (tmp_path / "assets" / "data" / "log.jsonl").is_file()  # fetched data sets are input data
    assert "still mentioned in" in report.summary() and str(tmp_path / "notes.json") in report.summary()
