"""The Gradio app launched on 127.0.0.1, driven through gradio_client and in a real headless
Chromium (Playwright with the system browser). The recommender here has a real index, a small
trained scorer and the fake LLM of test_rerank, so a turn is fast and deterministic; the real
LLM in the app is covered by test_chat's real-model test and bench/chat.py."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("RECCHAT_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("RECCHAT_TEST_ARTIFACTS", Path(__file__).resolve().parents[1] / "test-artifacts"))


@pytest.fixture(scope="module")
def recommender(rec, movielens, tmp_path_factory):
    """The shared test recommender (conftest: real index, small scorer, fake LLM) plus profiles."""
    from recchat.conversation.profile import ProfileStore
    from recchat.recommender import Recommender

    profiles = ProfileStore(
        tmp_path_factory.mktemp("profiles"),
        movielens.catalog,
        movielens.interactions,
        backend=rec.backend,
        domain=rec.domain,
    )
    return Recommender(
        rec.catalog,
        rec.index,
        rec.scorer,
        rec.reranker,
        interactions=movielens.interactions,
        profiles=profiles,
        domain=rec.domain,
    )


APP_STATE: dict = {}  # the app_url app's AppState, for the tests that look inside


@pytest.fixture(scope="module")
def app_url(recommender):
    import copy

    from conftest import free_port
    from recchat.ui.app import build_app, launch

    from recchat.builder import Builder
    from recchat.config import RecommenderConfig

    # As a configuration with llm.passes = 2 and llm.history = 7 would assemble it: a Settings
    # change must keep both.
    configured = copy.copy(recommender)
    configured.builder = Builder(
        RecommenderConfig.default().replace({"llm": {"passes": 2, "history": 7}}), log=lambda m: None
    )
    app = build_app(configured)
    APP_STATE["state"] = app.recchat_state
    port = free_port()
    launch(app, "127.0.0.1", port, prevent_thread_lock=True, quiet=True)
    yield f"http://127.0.0.1:{port}/"
    app.close()


def test_chat_through_gradio_client(app_url):
    from gradio_client import Client

    client = Client(app_url, verbose=False)
    reply = client.predict("I loved Heat and the godfather, no horror", api_name="/chat")
    assert "noted that you like Heat, The Godfather" in reply["message"]
    assert len(reply["items"]) == 10 and all(i["reason"] for i in reply["items"])
    assert all("Horror" not in i["fields"]["genres"] for i in reply["items"])
    assert {"blend", "llm", "scorer"} <= set(reply["items"][0]["scores"])
    first = reply["items"][0]["id"]
    # The same client keeps its session: a critique of the last list works.
    again = client.predict("not that one", api_name="/chat")
    assert first not in [i["id"] for i in again["items"]]


def test_failures_are_messages_not_stack_traces(recommender):
    from recchat.ui.page import failure_message
    from recchat.ui.state import AppState

    from recchat.rerank import NO_LLM

    state = AppState(recommender)
    with pytest.raises(Exception) as info:
        state.parts("no-such-backend", "listwise")
    text = failure_message(info.value)
    assert "no-such-backend" in text and "Traceback" not in text and "backend to 'none'" in text
    # Chosen in Settings, a backend that cannot start is a note; the session ranks with the scorer.
    session = recommender.chat()
    note = state.apply(session, {"backend": "no-such-backend"})
    assert "could not start" in note and "no-such-backend" in note and session.reranker is NO_LLM
    assert len(session.send("something funny", explain=False).items) == 10


@pytest.fixture
def configured(recommender, monkeypatch):
    """The test recommender as the Builder of a configuration with llm.passes = 2 and
    llm.history = 7 would assemble it; any backend the Settings choose loads as the fake LLM."""
    import copy

    from test_rerank import FakeBackend

    import recchat.llm
    from recchat.builder import Builder
    from recchat.config import RecommenderConfig

    loaded = []
    monkeypatch.setattr(
        recchat.llm, "load_backend", lambda name, model=None, **kw: loaded.append(name) or FakeBackend()
    )
    rec = copy.copy(recommender)
    rec.builder = Builder(RecommenderConfig.default().replace({"llm": {"passes": 2, "history": 7}}), log=lambda m: None)
    return rec, loaded


def test_a_settings_change_goes_through_the_builder_and_keeps_passes_and_history(configured):
    from recchat.ui.state import AppState

    rec, loaded = configured
    state = AppState(rec)
    session = rec.chat()
    assert state.apply(session, {"backend": "fake", "mode": state.default_mode}) is None
    assert session.reranker is rec.reranker  # the running setting: the recommender's own parts
    state.apply(session, {"backend": "transformers", "mode": "pointwise"})
    first = session.reranker
    assert (first.mode, first.passes, first.history_limit) == ("pointwise", 2, 7) and loaded == ["transformers"]
    state.apply(session, {"backend": "transformers", "mode": "listwise"})  # same model, another mode
    assert (session.reranker.mode, session.reranker.passes, session.reranker.history_limit) == ("listwise", 2, 7)
    assert session.reranker.backend is first.backend and loaded == ["transformers"]  # loaded once
    other = rec.chat()
    state.apply(other, {"backend": "transformers", "mode": "pointwise"})
    assert other.reranker is first  # made once per distinct setting
    state.apply(other, {"backend": "fake", "mode": "pointwise"})  # the running backend, another mode
    assert other.reranker.backend is rec.backend and other.reranker.passes == 2


def test_openai_is_offered_only_where_a_server_is_configured(configured):
    from recchat.ui.state import AppState, offered_backends

    rec, _ = configured
    assert "openai" not in offered_backends(AppState(rec))
    rec.builder = rec.builder.__class__(
        rec.builder.config.replace({"llm": {"base_url": "http://127.0.0.1:9/v1"}}), log=lambda m: None
    )
    assert "openai" in offered_backends(AppState(rec))


@pytest.mark.fast
def test_auth_and_defaults():
    from recchat.ui.app import parse_auth

    assert parse_auth("alice:se:cret") == [("alice", "se:cret")] and parse_auth(None) is None
    with pytest.raises(ValueError, match="USER:PASSWORD"):
        parse_auth("alice")


def _send(page, message: str, cards: int = 5) -> None:
    """Type ``message``, press Enter, and wait until ``cards`` cards show."""
    from playwright.sync_api import expect

    box = page.locator("#message textarea")
    box.fill(message)
    box.press("Enter")
    expect(page.locator("[id^=card-text-]:visible").nth(cards - 1)).to_be_visible(timeout=60_000)


def _launch_chromium(playwright):
    from recchat.ui.screenshots import launch_chromium

    return launch_chromium(playwright, CHROMIUM)


@pytest.mark.skipif(
    not Path(CHROMIUM).is_file(),
    reason=f"no system Chromium at {CHROMIUM} (apt-get install -y chromium; .ci/run does this)",
)
def test_in_a_real_browser_send_see_cards_dislike_one_and_see_it_replaced(app_url):
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = _launch_chromium(p)
        page = browser.new_page(viewport={"width": 1280, "height": 1800})
        try:
            page.goto(app_url)
            box = page.locator("#message textarea")
            box.fill("I loved Heat, a crime film, no horror")
            box.press("Enter")
            cards = page.locator("[id^=card-text-]:visible")
            expect(cards.nth(4)).to_be_visible(timeout=60_000)
            assert cards.count() == 10
            expect(page.locator("#chat")).to_contain_text("noted that you like Heat", timeout=30_000)
            # The streamed LLM reasons replace the template ones.
            expect(page.locator("#card-text-0")).to_contain_text("same tense crime mood", timeout=30_000)
            title = page.locator("#card-text-2 strong").first.inner_text()
            page.locator("#dislike-2").click()
            expect(page.locator("#card-text-2 strong").first).not_to_have_text(title, timeout=30_000)
            expect(page.locator("#chat")).to_contain_text("In its place", timeout=30_000)
            shown = [t.split(". ", 1)[1] for t in page.locator("[id^=card-text-]:visible strong").all_inner_texts()]
            assert len(shown) == 10 and title.split(". ", 1)[1] not in shown
            page.screenshot(path=str(ARTIFACTS / "ui-chat.png"), full_page=True)
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "ui-chat-failure.png"), full_page=True)
            raise
        finally:
            browser.close()
    assert (ARTIFACTS / "ui-chat.png").stat().st_size > 10_000


@pytest.mark.skipif(not Path(CHROMIUM).is_file(), reason=f"no system Chromium at {CHROMIUM}")
def test_in_a_real_browser_a_settings_change_keeps_passes_and_history(app_url):
    from playwright.sync_api import sync_playwright

    state = APP_STATE["state"]
    with sync_playwright() as p:
        browser = _launch_chromium(p)
        page = browser.new_page(viewport={"width": 1280, "height": 1400})
        try:
            page.goto(app_url)
            page.locator("#settings").get_by_text("Settings").first.click()
            page.locator("#mode").get_by_text("pointwise").click()
            _send(page, "something funny")
        finally:
            browser.close()
    made = [parts.reranker for parts in state.builder._llm_parts.values()]
    assert [(r.mode, r.passes, r.history_limit, r.backend) for r in made] == [("pointwise", 2, 7, state.rec.backend)]


@pytest.mark.skipif(not Path(CHROMIUM).is_file(), reason=f"no system Chromium at {CHROMIUM}")
def test_in_a_real_browser_act_as_a_movielens_user(app_url):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = _launch_chromium(p)
        page = browser.new_page(viewport={"width": 1280, "height": 1400})
        try:
            page.goto(app_url)
            picker = page.locator("#user input")
            picker.click()
            picker.fill("")
            picker.press_sequentially("User 196", delay=20)  # typing filters the 943 users
            page.get_by_role("option", name="User 196 · 39 movies").click()
            expect(page.locator("#profile")).to_contain_text("Recently (39 in all)", timeout=30_000)
            expect(page.locator("#profile")).to_contain_text("Favourite genres: Comedy")
            _send(page, "something funny")
        finally:
            browser.close()


def test_the_app_lets_nothing_escape_html(recommender):
    from recchat.ui.page import card_markdown

    from recchat.conversation.reply import ReplyItem
    from recchat.types import Candidate, Item

    item = Item("x", "<script>alert(1)</script>", "t", {"year": 1990, "genres": ["Drama"]})
    text = card_markdown(1, ReplyItem(Candidate(item, 1.0, "blend", {"blend": 1.0}), "<b>why</b>"), recommender.domain)
    assert "<script>" not in text and "<b>why" not in text


def test_recchat_ui_command_serves_the_app_behind_a_login(tmp_path, movielens):
    """`recchat ui` as a user starts it (no LLM here, to keep it quick): 127.0.0.1, a login."""
    from conftest import free_port, serve
    from gradio_client import Client

    port = free_port()
    recchat = str(Path(sys.executable).parent / "recchat")
    cmd = [recchat, "ui", "--no-setup", "--backend", "none", "--port", str(port), "--auth", "alice:s3cret"]
    with serve(cmd, f"http://127.0.0.1:{port}/", tmp_path / "ui.log", 180):
        with pytest.raises(Exception):  # noqa: B017 (gradio_client raises a plain Exception or a ValueError)
            Client(f"http://127.0.0.1:{port}/", verbose=False)  # no login, no API
        client = Client(f"http://127.0.0.1:{port}/", auth=("alice", "s3cret"), verbose=False)
        reply = client.predict("a funny animated movie from the 90s", api_name="/chat")
    assert len(reply["items"]) == 10 and all(1990 <= i["fields"]["year"] <= 1999 for i in reply["items"])
    assert reply["degraded"] and "No LLM is configured" in reply["message"]


# -- the app's surface: escaping, accounts, rate and length caps, exposure (issue 11) ----------

TRICKY = [
    "One Flew Over the Cuckoo's Nest",
    "Fast & Furious",
    'The "Quoted" Film',
    "Amélie",
    "千と千尋の神隠し",
    "Tom & Jerry's <i>Big</i> Day",
    "Monty Python's Life of Brian",
]
HOSTILE = [
    '<img src=x onerror="window.__xss=1">Night <b>Moves</b>',
    "<script>window.__xss=2</script>Cold Harbour",
    "[click](javascript:window.__xss=3) Dark Water",
]


@pytest.fixture(scope="module")
def hostile_app(embedder, tmp_path_factory):
    """A small catalog whose titles carry HTML and script, behind two accounts."""
    from conftest import free_port
    from recchat.ui.app import build_app, launch

    from recchat.data.catalog import Catalog
    from recchat.index import ItemIndex
    from recchat.recommender import Recommender
    from recchat.types import Interaction, Item

    genres = ["Drama", "Comedy"]  # the three hostile titles are the only thrillers
    items = [
        Item(str(n), title, f"{title} ({1980 + n}), Thriller", {"year": 1980 + n, "genres": ["Thriller"]})
        for n, title in enumerate(HOSTILE)
    ]
    # Titles as real catalogs write them, each a trap for an escaping done twice or not at all.
    items += [
        Item(
            str(n),
            title,
            f"{title} ({1970 + n}), Children's, Comedy",
            {"year": 1970 + n, "genres": ["Children's", "Comedy"]},
        )
        for n, title in enumerate(TRICKY, start=len(HOSTILE))
    ]
    items += [
        Item(
            str(n),
            f"Plain Film {n}",
            f"Plain Film {n} ({1970 + n}), {genres[n % 2]}",
            {"year": 1970 + n, "genres": [genres[n % 2]]},
        )
        for n in range(len(HOSTILE) + len(TRICKY), 30)
    ]
    catalog = Catalog(items)
    index = ItemIndex("hostile-items", path=tmp_path_factory.mktemp("hostile-index"), embedder=embedder)
    index.build(catalog, progress=False)
    index.query("thriller", k=1)  # the embedder loads here, not inside the first browser turn
    log = [Interaction(f"u{u}", str((u * 3 + k) % 30), 4.0, float(k)) for u in range(6) for k in range(5)]
    from recchat.conversation.sessions import SessionStore

    app = build_app(
        Recommender(catalog, index, interactions=log), sessions=SessionStore(tmp_path_factory.mktemp("sessions"))
    )
    port = free_port()
    launch(
        app,
        "127.0.0.1",
        port,
        auth=[("alice", "pw-alice"), ("bob", "pw-bob"), ("carol", "pw-carol")],
        prevent_thread_lock=True,
        quiet=True,
    )
    yield f"http://127.0.0.1:{port}/"
    app.close()


def _login(browser, url, user, password):
    page = browser.new_context(viewport={"width": 1280, "height": 1400}).new_page()
    page.goto(url)
    page.get_by_label("username").fill(user)
    page.get_by_label("password").fill(password)
    page.get_by_role("button", name="Login").click()
    return page


@pytest.mark.skipif(not Path(CHROMIUM).is_file(), reason=f"no system Chromium at {CHROMIUM}")
def test_two_browsers_two_accounts_wrong_password_refused_and_html_shown_as_text(hostile_app):
    """A wrong password gets no app; alice's and bob's sessions never mix, live or saved; catalog
    titles with HTML, script and Markdown are shown as their literal text and run nothing."""
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = _launch_chromium(p)
        try:
            intruder = _login(browser, hostile_app, "alice", "wrong")
            expect(intruder.get_by_text("Incorrect Credentials")).to_be_visible(timeout=30_000)
            assert intruder.locator("#message textarea").count() == 0
            alice = _login(browser, hostile_app, "alice", "pw-alice")
            bob = _login(browser, hostile_app, "bob", "pw-bob")
            box = alice.locator("#message textarea")
            box.fill("a thriller like Cold Harbour")
            box.press("Enter")
            # Cold Harbour is linked (the title's markup is no part of its name) and liked, so the
            # cards are the two other thrillers and the reply names the hostile title as text.
            cards = alice.locator("[id^=card-text-]:visible")
            expect(cards.nth(1)).to_be_visible(timeout=60_000)
            shown = " ".join(cards.all_inner_texts())
            assert "Night <b>Moves</b>" in shown
            assert "[click](javascript:window.__xss=3) Dark Water" in shown  # Markdown is not followed either
            expect(alice.locator("#chat")).to_contain_text(
                "like <script>window.__xss=2</script>Cold Harbour", timeout=30_000
            )
            assert alice.locator("[id^=card-text-] a").count() == 0
            assert alice.locator("[id^=card-text-] img, [id^=card-text-] script, #chat img").count() == 0
            expect(alice.locator("#chat")).to_contain_text("Cold Harbour", timeout=30_000)
            assert alice.evaluate("window.__xss") is None
            # Bob's page shows nothing of alice's conversation; his own turn does not carry her words.
            assert "Cold Harbour" not in bob.locator("#chat").inner_text()
            bob_box = bob.locator("#message textarea")
            bob_box.fill("something funny")
            bob_box.press("Enter")
            expect(bob.locator("[id^=card-text-]:visible").nth(2)).to_be_visible(timeout=60_000)
            expect(bob.locator("#chat")).to_contain_text("funny", timeout=30_000)
            assert "Cold Harbour" not in bob.locator("#chat").inner_text()
            assert bob.evaluate("window.__xss") is None
            # Each account's conversation is saved: alice, back in a new browser, gets hers; bob
            # coming back gets his, never hers.
            again = _login(browser, hostile_app, "alice", "pw-alice")
            expect(again.locator("#chat")).to_contain_text("a thriller like Cold Harbour", timeout=30_000)
            bob_again = _login(browser, hostile_app, "bob", "pw-bob")
            expect(bob_again.locator("#chat")).to_contain_text("something funny", timeout=30_000)
            assert "Cold Harbour" not in bob_again.locator("#chat").inner_text()
        finally:
            browser.close()


@pytest.mark.fast
def test_rate_limit_per_session_says_when_to_retry():
    from recchat.ui.state import RateLimiter

    now = [0.0]
    limiter = RateLimiter(limit=3, window=60, clock=lambda: now[0])
    assert [limiter.wait("a") for _ in range(3)] == [0, 0, 0]
    wait = limiter.wait("a")
    assert wait == pytest.approx(60) and "faster than 3 a minute" in limiter.message(wait)
    assert limiter.wait("b") == 0  # another session is not slowed by the first
    now[0] = 61
    assert limiter.wait("a") == 0


def test_api_clients_are_rate_limited_with_a_clear_message(hostile_app, monkeypatch):
    import recchat.ui.state as app_module
    from gradio_client import Client

    client = Client(hostile_app, auth=("bob", "pw-bob"), verbose=False)
    answers = [client.predict("a drama", api_name="/chat") for _ in range(app_module.RATE_LIMIT + 1)]
    assert all("items" in a for a in answers[:-1])
    assert "faster than" in answers[-1]["error"] and answers[-1]["retry_after_s"] > 0


@pytest.mark.fast
def test_exposure_warning_and_accounts():
    from recchat.ui.app import exposure_warning, parse_auth

    assert exposure_warning("127.0.0.1", None) is None
    assert "WITHOUT a login" in exposure_warning("0.0.0.0", None)
    assert "behind the login" in exposure_warning("0.0.0.0", [("a", "b")])
    assert parse_auth(["alice:x", "bob:y,carol:z"]) == [("alice", "x"), ("bob", "y"), ("carol", "z")]
    with pytest.raises(ValueError, match="USER:PASSWORD"):
        parse_auth("alice:")


def test_recchat_ui_on_all_interfaces_without_a_login_warns_at_once(tmp_path):
    """The real command, told to listen on 0.0.0.0 without --auth, says so before any set-up."""
    import subprocess

    recchat = str(Path(sys.executable).parent / "recchat")
    proc = subprocess.Popen(
        [recchat, "ui", "--host", "0.0.0.0", "--port", "1", "--no-setup", "--backend", "none"],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "RECCHAT_HOME": str(tmp_path)},
    )
    try:
        first = proc.stderr.readline()
    finally:
        proc.kill()
        proc.wait()
    assert "WITHOUT a login" in first and "--auth USER:PASSWORD" in first


CRITIQUES = [
    ("Heat", "Horror", 1990),
    ("Casablanca", "Comedy", 1985),
    ("Toy Story", "Drama", 1995),
    ("Fargo", "Action", 1980),
    ("Star Wars", "Romance", 1992),
    ("Psycho", "Thriller", 1975),
    ("Alien", "Sci-Fi", 1988),
    ("Vertigo", "Children's", 1970),
]


def test_eight_concurrent_sessions_each_keep_their_own_critiques(app_url):
    """Eight API clients at once, each with its own liked film, avoided genre, year limit and
    rejection: every list obeys its own session's critiques and none of the others' (merged,
    they would exclude eight genres), and the app served turns side by side."""
    import threading

    from gradio_client import Client

    replies: dict[int, list] = {}
    errors: list = []
    start = threading.Barrier(len(CRITIQUES))

    def user(n: int) -> None:
        title, genre, year = CRITIQUES[n]
        try:
            client = Client(app_url, verbose=False)
            start.wait(60)
            first = client.predict(f"I loved {title}, but no {genre} please", api_name="/chat")
            second = client.predict(f"something from before {year}", api_name="/chat")
            third = client.predict("not that one", api_name="/chat")
            replies[n] = [first, second, third]
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append((n, exc))

    threads = [threading.Thread(target=user, args=(n,)) for n in range(len(CRITIQUES))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert not errors and len(replies) == len(CRITIQUES), errors
    for n, (first, second, third) in replies.items():
        title, genre, year = CRITIQUES[n]
        assert "error" not in first and f"noted that you like {title}" in first["message"], first.get("message")
        for reply in (first, second, third):
            assert reply["items"] and all(genre not in i["fields"]["genres"] for i in reply["items"])
        for reply in (second, third):
            assert all(i["fields"]["year"] < year for i in reply["items"]), (
                n,
                [i["fields"]["year"] for i in reply["items"]],
            )
        assert second["items"][0]["id"] not in [i["id"] for i in third["items"]]
        others = {g for m, (_, g, _) in enumerate(CRITIQUES) if m != n}
        assert any(others & set(i["fields"]["genres"]) for r in (first, second, third) for i in r["items"])
    assert APP_STATE["state"].peak > 1  # turns of different sessions overlapped


def test_idle_sessions_are_dropped_and_memory_stays_bounded(recommender):
    """200 short API sessions against an app whose sessions expire after 1 s of idleness: the app
    keeps only the live ones, and its resident memory after the last 100 is within a few MB of
    what it was after the first 100 (without eviction it would hold 200 sessions)."""
    import json as _json
    import urllib.request

    from conftest import free_port
    from recchat.ui.app import build_app, launch

    def rss_mb() -> float:
        status = open("/proc/self/status").read()
        return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS"))) / 1024

    app = build_app(recommender, session_ttl=1.0)
    port = free_port()
    launch(app, "127.0.0.1", port, prevent_thread_lock=True, quiet=True)
    state = app.recchat_state
    try:

        def one_session(n: int) -> dict:
            # Gradio's HTTP API: each call without a session of its own is a new session.
            body = _json.dumps({"data": [f"I loved Heat and Fargo, something from before {1990 - n % 30}"]}).encode()
            req = urllib.request.Request(
                f"http://127.0.0.1:{port}/gradio_api/call/chat", body, {"Content-Type": "application/json"}
            )
            event = _json.loads(urllib.request.urlopen(req, timeout=60).read())["event_id"]
            stream = urllib.request.urlopen(f"http://127.0.0.1:{port}/gradio_api/call/chat/{event}", timeout=120).read()
            data = [line[6:] for line in stream.decode().splitlines() if line.startswith("data: ")][-1]
            return _json.loads(data)[0]

        import time

        sizes, memory = [], []
        for _batch in range(2):
            for n in range(100):
                assert one_session(n)["items"], n
            sizes.append(len(state.api_sessions))
            memory.append(rss_mb())
            time.sleep(1.1)  # every session from this batch is now idle past its limit
        assert one_session(0)["items"]
        assert len(state.api_sessions) == 1  # the 200 before it were dropped
        assert sizes[0] <= 100 and sizes[1] <= 100
        assert memory[1] - memory[0] < 40, memory
    finally:
        app.close()


# What a page may never show: an entity (text escaped twice), the app's own markup as text, or a
# Markdown escape's backslash. The catalog's own "<b>" and "<i>" are its titles' literal text.
SHOWN_WRONG = [
    "&#",
    "&amp;",
    "&lt;",
    "&gt;",
    "&quot;",
    "<span",
    "<div",
    "<details",
    "<summary",
    "<em>",
    "<small",
    "<br",
    "\\",
]


@pytest.mark.skipif(not Path(CHROMIUM).is_file(), reason=f"no system Chromium at {CHROMIUM}")
def test_titles_with_apostrophes_ampersands_markup_quotes_accents_and_cjk_show_as_written(hostile_app):
    """The visible text of cards, messages, the profile panel and the notes shows each title as
    it is written, never an entity or the app's own markup; the buttons are words."""
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = _launch_chromium(p)
        try:
            page = _login(browser, hostile_app, "carol", "pw-carol")
            picker = page.locator("#user input")
            picker.click()
            page.get_by_role("option", name="User u1 · 5 items").click()  # u1's log: the tricky titles
            profile = page.locator("#profile")
            expect(profile).to_contain_text("Recently (5 in all)", timeout=30_000)
            for title in [
                "One Flew Over the Cuckoo's Nest",
                "Fast & Furious",
                'The "Quoted" Film',
                "Amélie",
                "千と千尋の神隠し",
            ]:
                expect(profile).to_contain_text(title)
            box = page.locator("#message textarea")
            box.fill("something for the kids, like Tom & Jerry's <i>Big</i> Day")
            box.press("Enter")
            cards = page.locator("[id^=card-text-]:visible")
            expect(cards.nth(2)).to_be_visible(timeout=60_000)
            expect(page.locator("#chat")).to_contain_text("Tom & Jerry's <i>Big</i> Day", timeout=30_000)
            assert page.locator("#like-0").inner_text().strip() == "Like"
            assert page.locator("#dislike-0").inner_text().strip() == "Not for me"
            first_cards = " ".join(cards.all_inner_texts())
            assert "Monty Python's Life of Brian" in first_cards and "Children's" in first_cards  # title, chip
            page.locator("#dislike-0").click()
            expect(page.locator("#chat")).to_contain_text("In its place", timeout=30_000)
            # the scores sit behind a toggle, closed until asked for
            assert page.locator("#card-text-0 details").count() == 1
            expect(page.locator("#card-text-0 summary")).to_have_text("Why this")
            texts = {
                "first cards": first_cards,
                "cards": " ".join(cards.all_inner_texts()),
                "chat": page.locator("#chat").inner_text(),
                "profile": profile.inner_text(),
            }
            for where, text in texts.items():
                wrong = [w for w in SHOWN_WRONG if w in text]
                assert not wrong, f"{where} shows {wrong}: {text[:400]}"
        finally:
            browser.close()


@pytest.mark.skipif(not Path(CHROMIUM).is_file(), reason=f"no system Chromium at {CHROMIUM}")
def test_readable_at_a_phone_s_width_and_screenshots_of_both_widths(app_url, tmp_path):
    """At 390 px the page scrolls only down, never sideways; the screenshot script (the README's
    pictures) makes both widths."""
    from playwright.sync_api import sync_playwright
    from recchat.ui.screenshots import WIDTHS, take

    with sync_playwright() as p:
        browser = _launch_chromium(p)
        try:
            page = browser.new_page(viewport={"width": 390, "height": 844})
            page.goto(app_url)
            _send(page, "something funny from the 80s", cards=3)
            assert page.evaluate("document.documentElement.scrollWidth") <= 390 + 1
            assert page.locator("#card-text-0").bounding_box()["width"] <= 390
        finally:
            browser.close()
    paths = take(app_url, tmp_path, "I loved Heat, something like it but older", chromium=CHROMIUM)
    assert [p.name for p in paths] == [f"{name}.png" for name in WIDTHS]
    assert all(p.stat().st_size > 10_000 for p in paths)


@pytest.mark.fast
def test_the_one_escaping_step_in_markdown_and_in_an_html_block():
    from recchat.ui.page import shown

    assert (
        shown("Cuckoo's Nest & <b>Moves</b> #1 [x](y)")
        == "Cuckoo's Nest &amp; &lt;b&gt;Moves&lt;/b&gt; \\#1 \\[x\\]\\(y\\)"
    )
    assert shown("blend 0.82 <i>", in_html=True) == "blend 0.82 &lt;i&gt;"
