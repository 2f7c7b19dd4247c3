"""The Gradio chat app: a thin layer over recchat.Recommender and ChatSession.

    recchat ui                      # http://127.0.0.1:7860, sharing off; sets up what is missing
    recchat ui --config books.toml  # any catalog: the labels follow its configuration
    recchat ui --auth alice:secret  # or RECCHAT_UI_AUTH=alice:secret; repeat --auth for more accounts

or from Python: ``launch(build_app(Recommender.from_config(...)))``.

It lives in the repository's ui/ folder and is installed as ``recchat.ui.app``. Each browser
session has its own ChatSession. A turn shows the ranked list as cards first, then streams the
LLM's reasons into them. Each card has like / dislike: a like joins the session's liked items, a
dislike rejects the item for good and puts the next best in its place. The side panel acts as a
user of the interaction log (their recent history and profile) and holds the settings (backend,
mode, alpha, k). Words (what an item and a user are called) and card fields come from the
catalog's Domain. Failures show as a message in the chat, never a stack trace.

``/chat`` is also an API endpoint (gradio_client): ``Client(url).predict("...", api_name="/chat")``
returns the reply as a dict; calls from one client share a session.

Several sessions are served at once (``concurrency`` turns in flight, 8 by default; `recchat ui --parallel N`): an
in-process LLM's calls from concurrent turns are gathered into shared calls
(``Recommender.concurrent``, recchat.llm.gather), a server LLM batches them itself. Each session
holds its own state and serves one of its own turns at a time; a session idle for ``session_ttl``
seconds (an hour by default) is dropped, so memory does not grow with the sessions ever served.

Its surface: it listens on 127.0.0.1 unless told otherwise and warns when it is reachable from
the network without a login; all catalog text (titles, facet values, reasons, profiles) and the
user's own words are shown as text, never as HTML; each browser or API session may send
``RATE_LIMIT`` messages a minute (more get a message saying when to try again), and a message is
cut at the chat's ``MAX_MESSAGE_CHARS`` with a note.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from recchat.ui.page import (
    CSS,
    MAX_CARDS,
    card_markdown,
    example_message,
    failure_message,
    reply_text,
    said,
    shown,
    user_panel,
)
from recchat.ui.state import SESSION_TTL, AppState, Settings, offered_backends, rerank_mode

from recchat.conversation.chat import MAX_MESSAGE_CHARS
from recchat.conversation.llm_reasons import llm_reasons_default
from recchat.rerank import MODES

if TYPE_CHECKING:
    import gradio as gr

    from recchat.conversation.chat import ChatSession
    from recchat.conversation.reply import Reply
    from recchat.conversation.sessions import SessionStore
    from recchat.recommender import Recommender

CONCURRENCY = 8  # turns served at once; more only queue for the same cores
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def build_app(
    recommender: Recommender,
    sessions: SessionStore | None = None,
    *,
    concurrency: int = CONCURRENCY,
    session_ttl: float = SESSION_TTL,
) -> gr.Blocks:
    """The app; with ``sessions`` (a SessionStore) a logged-in user's conversation is saved after
    each turn under their login name and restored when they come back (only behind a login:
    without one there is no name to keep it under). ``concurrency`` turns are served at once;
    a browser or API session idle for ``session_ttl`` seconds is dropped. The shared state is
    ``app.recchat_state`` (an AppState)."""
    import gradio as gr

    if concurrency < 1:
        raise ValueError(f"concurrency must be at least 1 (got {concurrency})")
    state = AppState(recommender, session_ttl)
    domain = recommender.domain
    users = sorted(recommender.user_histories, key=lambda u: (len(u), u))
    user_choices = [("New user (no history)", "")] + [
        (f"{domain.user.capitalize()} {u} · {n} {domain.item if n == 1 else domain.items}", u)
        for u in users
        for n in [len(recommender.user_histories[u])]
    ]
    example = example_message(recommender)
    backend_choices = offered_backends(state)
    # A base model without a chat template writes no usable reasons: templates, said in Settings.
    explain_default, explain_info = llm_reasons_default(state.rec.backend)

    def cards(reply: Reply | None) -> list[object]:
        items = reply.items if reply is not None else []
        out: list[object] = []
        for n in range(MAX_CARDS):
            if n < len(items):
                out += [gr.update(visible=True), card_markdown(n + 1, items[n], domain)]
            else:
                out += [gr.update(visible=False), ""]
        return out

    def settings_of(backend: str, mode: str, alpha: float, k: int, explain: bool, understand: bool) -> Settings:
        return {"backend": backend, "mode": mode, "alpha": alpha, "k": k, "explain": explain, "understand": understand}

    def respond(
        message: str,
        chat: list,
        session: ChatSession | None,
        user_id: str,
        backend: str,
        mode: str,
        alpha: float,
        k: int,
        explain: bool,
        understand: bool,
        request: gr.Request,
    ):
        chat = list(chat or [])
        last = session.turns[-1] if session and session.turns else None
        if not message or not message.strip():
            yield chat, session, "", *cards(last)
            return
        wait = state.rate.wait(request.session_hash or "anonymous")
        if wait:
            yield chat + [said(state.rate.message(wait))], session, message, *cards(last)
            return
        chat.append({"role": "user", "content": shown(message[:MAX_MESSAGE_CHARS])})
        try:
            settings = settings_of(backend, mode, alpha, k, explain, understand)
            if session is None:
                session = state.session(user_id, settings)
            # The list takes a few seconds: say so at once, in the domain's words.
            yield chat + [said(f"Looking for {domain.items}…")], session, "", *cards(last)
            with state.turn(session):
                note = state.apply(session, settings)
                if note:
                    chat.append(said(note))
                reply = session.send(message, explain=False)
                chat.append({"role": "assistant", "content": reply_text(reply)})
                yield chat, session, "", *cards(reply)
                for _ in session.explain(reply):
                    yield chat, session, "", *cards(reply)
                chat[-1] = {"role": "assistant", "content": reply_text(reply)}
                if sessions is not None and request.username:
                    sessions.save(request.username, session)
            yield chat, session, "", *cards(reply)
        except Exception as exc:  # shown in the chat, never a stack trace
            chat.append(said(failure_message(exc)))
            yield chat, session, "", *cards(None)

    def feedback(n: int, liked: bool):
        def handler(chat: list, session: ChatSession | None):
            chat = list(chat or [])
            if session is None or not session.turns or n >= len(session.turns[-1].items):
                yield chat, session, *cards(None)
                return
            try:
                with state.turn(session):
                    item_id = session.turns[-1].items[n].item.id
                    reply = session.feedback(item_id, liked=liked, explain=False)
                    chat.append({"role": "assistant", "content": reply_text(reply)})
                    yield chat, session, *cards(reply)
                    if not liked:
                        for _ in session.explain(reply, only=[n]):
                            yield chat, session, *cards(reply)
            except Exception as exc:
                chat.append(said(failure_message(exc)))
                yield chat, session, *cards(session.turns[-1] if session.turns else None)

        return handler

    def restore(request: gr.Request):
        """A logged-in user's saved conversation, and theirs only (keyed by the login name)."""
        if sessions is None or not request.username:
            return [], None, *cards(None)
        try:
            session = sessions.resume(request.username, recommender)
        except Exception as exc:
            return [said(failure_message(exc))], None, *cards(None)
        if session is None:
            return [], None, *cards(None)
        chat = [{"role": t["role"], "content": shown(t["text"])} for t in session.transcript]
        return chat, session, *cards(None)

    def pick_user(user_id: str):
        try:
            panel = user_panel(recommender, user_id or None)
        except Exception as exc:
            panel = shown(failure_message(exc))
        return [], None, panel, *cards(None)

    def chat_api(message: str, request: gr.Request) -> dict:
        """One chat turn for API clients; calls from one client share a session."""
        try:
            key = request.session_hash or "anonymous"
            wait = state.rate.wait(key)
            if wait:
                return {"error": state.rate.message(wait), "retry_after_s": round(wait, 1)}
            session = state.api_session(key)
            with state.turn(session):
                return session.send(message).to_dict()
        except Exception as exc:
            return {"error": failure_message(exc)}

    with gr.Blocks(title="recchat") as app:
        gr.Markdown(
            f"# recchat\nTell me which {shown(domain.items)} you liked and what you are in the mood for, "
            f"for example: *{shown(example)}*"
            # What the user should know about the parts: new items served from their text.
            + "".join(f"\n\n*Note: {shown(note)}*" for note in getattr(recommender, "notes", []))
        )
        session = gr.State(None, time_to_live=session_ttl)
        with gr.Row():
            with gr.Column(scale=3):
                chatbot = gr.Chatbot(elem_id="chat", height=320, label="Conversation")
                with gr.Row():
                    box = gr.Textbox(
                        placeholder=example,
                        show_label=False,
                        max_length=MAX_MESSAGE_CHARS,
                        elem_id="message",
                        scale=5,
                        autofocus=True,
                    )
                    send = gr.Button("Send", variant="primary", elem_id="send", scale=1)
                card_parts: list[gr.Component] = []
                buttons = []
                for n in range(MAX_CARDS):
                    with gr.Group(visible=False, elem_classes="card", elem_id=f"card-{n}") as group:
                        text = gr.Markdown(elem_id=f"card-text-{n}")
                        with gr.Row():
                            # words, not emoji: a browser without an emoji font shows empty boxes
                            like = gr.Button("Like", size="sm", elem_id=f"like-{n}")
                            dislike = gr.Button("Not for me", size="sm", elem_id=f"dislike-{n}")
                    card_parts += [group, text]
                    buttons.append((like, dislike))
            with gr.Column(scale=2):
                user = gr.Dropdown(
                    user_choices, value="", label=f"Act as a {domain.user} of the log", elem_id="user", filterable=True
                )
                panel = gr.Markdown(user_panel(recommender, None), elem_id="profile")
                with gr.Accordion("Settings", open=False, elem_id="settings"):
                    backend = gr.Dropdown(
                        backend_choices,
                        value=state.default_backend,
                        label="LLM backend",
                        info="none: the trained scorer alone",
                    )
                    mode = gr.Radio(list(MODES), value=rerank_mode(recommender), label="Rerank mode", elem_id="mode")
                    alpha = gr.Slider(
                        0,
                        1,
                        value=recommender.blend.alpha,
                        step=0.05,
                        label="alpha (LLM weight)",
                        info="tuned on validation by recchat tune-blend; 0 = scorer only",
                    )
                    k = gr.Slider(5, MAX_CARDS, value=MAX_CARDS, step=1, label="k (items shown)")
                    explain = gr.Checkbox(explain_default, label="LLM-written reasons", info=explain_info)
                    understand = gr.Checkbox(
                        bool(getattr(recommender.backend, "structured_outputs", False)),
                        label="LLM reads messages too (rules always do)",
                        info="on by default where decoding is schema-constrained (vLLM)",
                    )

        # This module's annotations are strings (postponed evaluation); Gradio finds the request
        # parameter by its type, so it needs the real one before the events are registered.
        respond.__annotations__ = {"request": gr.Request}
        inputs = [box, chatbot, session, user, backend, mode, alpha, k, explain, understand]
        outputs = [chatbot, session, box, *card_parts]
        box.submit(respond, inputs, outputs, api_visibility="private")
        send.click(respond, inputs, outputs, api_visibility="private")
        for n, (like, dislike) in enumerate(buttons):
            like.click(feedback(n, True), [chatbot, session], [chatbot, session, *card_parts], api_visibility="private")
            dislike.click(
                feedback(n, False), [chatbot, session], [chatbot, session, *card_parts], api_visibility="private"
            )
        user.change(pick_user, [user], [chatbot, session, panel, *card_parts], api_visibility="private")
        restore.__annotations__ = {"request": gr.Request}
        app.load(restore, None, [chatbot, session, *card_parts], api_visibility="private")
        # This module's annotations are strings (postponed evaluation); gr.api needs the types.
        chat_api.__annotations__ = {"message": str, "request": gr.Request, "return": dict}
        gr.api(chat_api, api_name="chat")
    app.queue(default_concurrency_limit=concurrency)
    app.recchat_state = state
    return app


def parse_auth(value: str | list[str] | None) -> list[tuple[str, str]] | None:
    """Accounts from ``--auth`` (repeatable) or ``RECCHAT_UI_AUTH`` (comma-separated): USER:PASSWORD each."""
    values = [value] if isinstance(value, str) else list(value or [])
    accounts = []
    for entry in (e.strip() for v in values for e in v.split(",")):
        if not entry:
            continue
        name, sep, password = entry.partition(":")
        if not sep or not name or not password:
            raise ValueError(
                f"--auth / RECCHAT_UI_AUTH must be USER:PASSWORD (got '{name}{sep}…'); "
                "repeat --auth or separate accounts with commas for more than one"
            )
        accounts.append((name, password))
    return accounts or None


def exposure_warning(host: str, auth: object) -> str | None:
    """What to say when the app listens beyond this machine, and the words that say it."""
    if host in LOOPBACK:
        return None
    if auth:
        return f"warning: the app listens on {host}, so other machines can reach it (behind the login)."
    return (
        f"WARNING: the app listens on {host} WITHOUT a login: anyone who can reach this machine can use it "
        "and read what is typed. Add --auth USER:PASSWORD, or drop --host to keep it on 127.0.0.1."
    )


def launch(
    app: gr.Blocks,
    host: str = "127.0.0.1",
    port: int = 7860,
    auth: list[tuple[str, str]] | None = None,
    **kw: object,
) -> object:
    import sys

    warning = exposure_warning(host, auth)
    if warning:
        print(warning, file=sys.stderr, flush=True)
    return app.launch(server_name=host, server_port=port, share=False, auth=auth, css=CSS, **kw)
