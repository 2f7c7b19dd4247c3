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
    from recchat.profile import ProfileStore
    from recchat.recommender import Recommender

    profiles = ProfileStore(tmp_path_factory.mktemp("profiles"), movielens.catalog, movielens.interactions,
                            backend=rec.backend, domain=rec.domain)
    return Recommender(rec.catalog, rec.index, rec.scorer, rec.reranker, interactions=movielens.interactions,
                       profiles=profiles, domain=rec.domain)


@pytest.fixture(scope="module")
def app_url(recommender):
    from recchat.ui.app import build_app, launch

    from conftest import free_port

    app = build_app(recommender)
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
    from recchat.ui.app import AppState, failure_message

    state = AppState(recommender)
    with pytest.raises(Exception) as info:
        state.backend("no-such-backend")
    text = failure_message(info.value)
    assert "no-such-backend" in text and "Traceback" not in text and "backend to 'none'" in text


def test_auth_and_defaults():
    from recchat.ui.app import parse_auth

    assert parse_auth("alice:se:cret") == ("alice", "se:cret") and parse_auth(None) is None
    with pytest.raises(ValueError, match="USER:PASSWORD"):
        parse_auth("alice")


def _launch_chromium(playwright):
    return playwright.chromium.launch(
        executable_path=CHROMIUM, headless=True,
        args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
              "--disable-component-update", "--no-first-run"])


@pytest.mark.skipif(not Path(CHROMIUM).is_file(),
                    reason=f"no system Chromium at {CHROMIUM} (apt-get install -y chromium; .ci/run does this)")
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
            box = page.locator("#message textarea")
            box.fill("something funny")
            box.press("Enter")
            expect(page.locator(".card:visible").nth(4)).to_be_visible(timeout=60_000)
        finally:
            browser.close()


def test_the_app_lets_nothing_escape_html(recommender):
    from recchat.ui.app import card_markdown

    from recchat.chat import ReplyItem
    from recchat.types import Candidate, Item

    item = Item("x", "<script>alert(1)</script>", "t", {"year": 1990, "genres": ["Drama"]})
    text = card_markdown(1, ReplyItem(Candidate(item, 1.0, "blend", {"blend": 1.0}), "<b>why</b>"), recommender.domain)
    assert "<script>" not in text and "<b>why" not in text


def test_recchat_ui_command_serves_the_app_behind_a_login(tmp_path, movielens):
    """`recchat ui` as a user starts it (no LLM here, to keep it quick): 127.0.0.1, a login."""
    from gradio_client import Client

    from conftest import free_port, serve

    port = free_port()
    recchat = str(Path(sys.executable).parent / "recchat")
    cmd = [recchat, "ui", "--no-setup", "--backend", "none", "--port", str(port), "--auth", "alice:s3cret"]
    with serve(cmd, f"http://127.0.0.1:{port}/", tmp_path / "ui.log", 180):
        with pytest.raises(Exception):
            Client(f"http://127.0.0.1:{port}/", verbose=False)  # no login, no API
        client = Client(f"http://127.0.0.1:{port}/", auth=("alice", "s3cret"), verbose=False)
        reply = client.predict("a funny animated movie from the 90s", api_name="/chat")
    assert len(reply["items"]) == 10 and all(1990 <= i["fields"]["year"] <= 1999 for i in reply["items"])
    assert reply["degraded"] and "No LLM is configured" in reply["message"]
