"""The Gradio app launched on 127.0.0.1 and driven through gradio_client (no LLM: scorer-less,
text retrieval only, so it is fast). The browser test comes with the conversation issue."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ui"))


@pytest.fixture(scope="module")
def app_url(movielens, embedder, tmp_path_factory):
    from app import build_app

    from conftest import free_port
    from recchat.index import ItemIndex
    from recchat.recommender import Recommender

    index = ItemIndex("ui-items", path=tmp_path_factory.mktemp("ui-index"), embedder=embedder)
    index.build(movielens.catalog, progress=False)
    app = build_app(Recommender(movielens.catalog, index, None, None, interactions=movielens.interactions))
    port = free_port()
    app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    yield f"http://127.0.0.1:{port}/"
    app.close()


def test_chat_through_gradio_client(app_url):
    from gradio_client import Client

    client = Client(app_url, verbose=False)
    reply = client.predict("I loved Heat and the godfather, no horror", api_name="/chat")
    text = reply[0] if isinstance(reply, (list, tuple)) else reply
    assert "noted that you like Heat, The Godfather" in text
    assert text.count("**") >= 2 * 5  # at least five items, each with a bold title
    assert "Horror" not in text and "Close to" in text
