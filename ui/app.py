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

import html
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from recchat.chat import MAX_MESSAGE_CHARS
from recchat.rerank import MODES

MAX_CARDS = 10
RATE_LIMIT = 20  # messages per session per minute: far above a person typing, far below a script
CONCURRENCY = 8  # turns served at once; more only queue for the same cores
SESSION_TTL = 3600.0  # seconds an idle session is kept
LOOPBACK = ("127.0.0.1", "localhost", "::1")
CSS = """
.card { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 4px 8px; }
.card .parts { color: var(--body-text-color-subdued); font-size: 0.85em; }
"""


_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!|~])")


def shown(text: Any) -> str:
    """Catalog or user text as literal text in Markdown: HTML escaped, Markdown punctuation too."""
    return _MARKDOWN.sub(r"\\\1", html.escape(str(text)))


def _year(domain: Any, item: Any) -> str:
    value = item.fields.get(domain.year) if domain.year else None
    return f" ({value})" if value is not None else ""


def card_markdown(n: int, entry: Any, domain: Any) -> str:
    """One card: title, year, facet values and ranges, reason, and the score parts."""
    item, scores = entry.item, entry.candidate.scores
    facts = [", ".join(item.fields.get(f.name) or []) for f in domain.facets]
    facts += [f"{item.fields[r.name]:g} {r.unit or r.name}" for r in domain.ranges if r.name in item.fields]
    parts = " · ".join(f"{k} {scores[k]:.2f}" for k in ("blend", "llm", "scorer", "text") if k in scores)
    source = "" if entry.reason_source == "llm" else " <em>(template)</em>"
    return (f"**{n}. {shown(item.title)}**{_year(domain, item)}  \n"
            f"<small>{shown(' · '.join(f for f in facts if f))}</small>  \n"
            f"{shown(entry.reason)}{source}  \n<span class='parts'>{parts}</span>")


def reply_text(reply: Any) -> str:
    lines = [shown(reply.message)]
    lines += [f"*{shown(note)}*" for note in reply.notes]
    return "\n\n".join(lines)


def user_panel(rec: Any, user_id: str | None) -> str:
    """A logged user's recent history and profile, as Markdown."""
    if not user_id:
        return "**New user**: no history; I go by what you tell me."
    pairs = rec.user_histories.get(user_id, [])
    recent = [f"- {shown(rec.catalog[i].title)}{_year(rec.domain, rec.catalog[i])}"
              + (f" · {r:g}★" if r is not None else "") for i, r in pairs[-10:][::-1]]
    profile = rec.profile(user_id)
    head = html.escape(profile.markdown(rec.catalog)) if profile else f"**{rec.domain.user.capitalize()} {html.escape(user_id)}**"
    return f"{head}\n\n**Recently** ({len(pairs)} in all)\n" + "\n".join(recent)


def example_message(rec: Any) -> str:
    """A first message to show as the placeholder, about the catalog's most popular item."""
    counts: dict[str, int] = {}
    for pairs in rec.user_histories.values():
        for item_id, _ in pairs:
            counts[item_id] = counts.get(item_id, 0) + 1
    top = max(counts, key=counts.get) if counts else next(iter(rec.catalog)).id
    return f"I loved {rec.catalog[top].title}, something like it" + (" but older" if rec.domain.year else "")


class RateLimiter:
    """At most ``limit`` messages per ``window`` seconds per session key (a sliding window)."""

    def __init__(self, limit: int = RATE_LIMIT, window: float = 60.0, clock: Any = None):
        import time

        self.limit, self.window, self.clock = limit, window, clock or time.monotonic
        self.sent: OrderedDict[str, list[float]] = OrderedDict()
        self.lock = threading.Lock()

    def wait(self, key: str) -> float:
        """0 if a message from ``key`` may go now (and count it), else the seconds to wait."""
        now = self.clock()
        with self.lock:
            times = [t for t in self.sent.pop(key, []) if now - t < self.window]
            self.sent[key] = times
            while len(self.sent) > 10_000:  # forget the oldest sessions, not the busy ones
                self.sent.popitem(last=False)
            if len(times) >= self.limit:
                return self.window - (now - times[0])
            times.append(now)
            return 0.0

    def message(self, seconds: float) -> str:
        return (f"You are sending messages faster than {self.limit} a minute; "
                f"please wait {max(1, round(seconds))} s and send it again.")


class AppState:
    """What the app shares across browser sessions: the recommender, the loaded LLM backends, the
    API clients' sessions (dropped after ``session_ttl`` idle seconds) and how many turns are in
    flight (``peak``: the most at once, which bench/load.py reports)."""

    def __init__(self, recommender: Any, session_ttl: float = SESSION_TTL, clock: Any = None):
        import time
        import weakref

        self.rec = recommender.concurrent()
        self.backends: dict[str, Any] = {"none": None}
        if recommender.backend is not None:
            self.backends[recommender.backend.name] = recommender.backend
        self.default_backend = recommender.backend.name if recommender.backend is not None else "none"
        self.lock = threading.Lock()
        self.api_sessions: OrderedDict[str, Any] = OrderedDict()
        self.api_used: dict[str, float] = {}
        self.session_ttl, self.clock = session_ttl, clock or time.monotonic
        self.rate = RateLimiter()
        self._turn_locks: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self.in_flight = self.peak = 0

    @contextmanager
    def turn(self, session: Any) -> Iterator[None]:
        """One turn of ``session``: its turns run one at a time, other sessions' alongside."""
        with self.lock:
            lock = self._turn_locks.setdefault(session, threading.Lock()) if session is not None else threading.Lock()
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
        try:
            with lock:
                yield
        finally:
            with self.lock:
                self.in_flight -= 1

    def backend(self, name: str) -> Any:
        with self.lock:  # two sessions asking for a new backend load it once
            if name not in self.backends:
                from recchat.llm import load_backend

                # A backend picked in Settings serves the model the app was started with.
                model = getattr(self.rec.backend, "model_dir", None) if name != "openai" else None
                from recchat.llm.gather import gathered

                self.backends[name] = gathered(load_backend(name, model))
            return self.backends[name]

    def session(self, user_id: str | None, settings: dict[str, Any]) -> Any:
        session = self.rec.chat(user_id=user_id or None)
        self.apply(session, settings)
        return session

    def apply(self, session: Any, settings: dict[str, Any]) -> None:
        from recchat.blend import BlendConfig
        from recchat.rerank import NO_LLM, Reranker

        backend = self.backend(settings.get("backend") or self.default_backend)
        mode = settings.get("mode") or rerank_mode(self.rec)
        current = session.reranker
        if backend is None:
            session.reranker = NO_LLM
        elif current.backend is not backend or current.mode != mode:
            session.reranker = Reranker(backend, mode, kind=self.rec.domain.item)
        alpha = settings.get("alpha")
        session.blend = BlendConfig(float(alpha), self.rec.blend.norm) if alpha is not None else None
        session.k = int(settings.get("k") or session.k)
        session.explain_with_llm = bool(settings.get("explain", True))
        session.understand_with_llm = settings.get("understand")

    def api_session(self, key: str) -> Any:
        """The API client's session (new on its first call); sessions idle past the time limit
        are dropped first, and never more than 1,000 are kept."""
        now = self.clock()
        with self.lock:
            while self.api_sessions:
                oldest = next(iter(self.api_sessions))
                if now - self.api_used[oldest] < self.session_ttl and len(self.api_sessions) < 1000:
                    break
                self.api_sessions.pop(oldest)
                self.api_used.pop(oldest)
            if key not in self.api_sessions:
                self.api_sessions[key] = self.rec.chat()
            self.api_sessions.move_to_end(key)
            self.api_used[key] = now
            return self.api_sessions[key]


def rerank_mode(rec: Any) -> str:
    """The recommender's rerank mode; without an LLM, the mode a backend picked in Settings gets."""
    from recchat.config import LLMConfig

    return rec.reranker.mode if rec.reranker.mode in MODES else LLMConfig.mode


def failure_message(exc: Exception) -> str:
    return (f"Sorry, that failed: {type(exc).__name__}: {html.escape(str(exc))}. "
            "Try again, or set the backend to 'none' in Settings to rank with the trained scorer alone.")


def build_app(recommender: Any, sessions: Any = None, *, concurrency: int = CONCURRENCY,
              session_ttl: float = SESSION_TTL) -> Any:
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
        for u in users for n in [len(recommender.user_histories[u])]]
    example = example_message(recommender)
    backend_choices = sorted({"none", "transformers", "vllm", "openai", state.default_backend})

    def cards(reply: Any) -> list[Any]:
        items = reply.items if reply is not None else []
        out = []
        for n in range(MAX_CARDS):
            if n < len(items):
                out += [gr.update(visible=True), card_markdown(n + 1, items[n], domain)]
            else:
                out += [gr.update(visible=False), ""]
        return out

    def settings_of(backend: str, mode: str, alpha: float, k: int, explain: bool, understand: bool) -> dict:
        return {"backend": backend, "mode": mode, "alpha": alpha, "k": k, "explain": explain, "understand": understand}

    def respond(message: str, chat: list, session: Any, user_id: str, backend: str, mode: str, alpha: float,
                k: int, explain: bool, understand: bool, request: gr.Request):
        chat = list(chat or [])
        last = session.turns[-1] if session and session.turns else None
        if not message or not message.strip():
            yield chat, session, "", *cards(last)
            return
        wait = state.rate.wait(request.session_hash or "anonymous")
        if wait:
            yield chat + [{"role": "assistant", "content": state.rate.message(wait)}], session, message, *cards(last)
            return
        chat.append({"role": "user", "content": shown(message[:MAX_MESSAGE_CHARS])})
        try:
            settings = settings_of(backend, mode, alpha, k, explain, understand)
            if session is None:
                session = state.session(user_id, settings)
            with state.turn(session):
                state.apply(session, settings)
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
            chat.append({"role": "assistant", "content": failure_message(exc)})
            yield chat, session, "", *cards(None)

    def feedback(n: int, liked: bool):
        def handler(chat: list, session: Any):
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
                chat.append({"role": "assistant", "content": failure_message(exc)})
                yield chat, session, *cards(session.turns[-1] if session.turns else None)
        return handler

    def restore(request: gr.Request):
        """A logged-in user's saved conversation, and theirs only (keyed by the login name)."""
        if sessions is None or not request.username:
            return [], None, *cards(None)
        try:
            session = sessions.resume(request.username, recommender)
        except Exception as exc:
            return [{"role": "assistant", "content": failure_message(exc)}], None, *cards(None)
        if session is None:
            return [], None, *cards(None)
        chat = [{"role": t["role"], "content": shown(t["text"])} for t in session.transcript]
        return chat, session, *cards(None)

    def pick_user(user_id: str):
        try:
            panel = user_panel(recommender, user_id or None)
        except Exception as exc:
            panel = failure_message(exc)
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
        gr.Markdown(f"# recchat\nTell me which {domain.items} you liked and what you are in the mood for "
                    f"(\"{html.escape(example)}\").")
        session = gr.State(None, time_to_live=session_ttl)
        with gr.Row():
            with gr.Column(scale=3):
                chatbot = gr.Chatbot(elem_id="chat", height=320, label="Conversation")
                with gr.Row():
                    box = gr.Textbox(placeholder=example, show_label=False, max_length=MAX_MESSAGE_CHARS,
                                     elem_id="message", scale=5, autofocus=True)
                    send = gr.Button("Send", variant="primary", elem_id="send", scale=1)
                card_parts: list[Any] = []
                buttons = []
                for n in range(MAX_CARDS):
                    with gr.Group(visible=False, elem_classes="card", elem_id=f"card-{n}") as group:
                        text = gr.Markdown(elem_id=f"card-text-{n}")
                        with gr.Row():
                            like = gr.Button("👍 Like", size="sm", elem_id=f"like-{n}")
                            dislike = gr.Button("👎 Not for me", size="sm", elem_id=f"dislike-{n}")
                    card_parts += [group, text]
                    buttons.append((like, dislike))
            with gr.Column(scale=2):
                user = gr.Dropdown(user_choices, value="", label=f"Act as a {domain.user} of the log", elem_id="user",
                                   filterable=True)
                panel = gr.Markdown(user_panel(recommender, None), elem_id="profile")
                with gr.Accordion("Settings", open=False):
                    backend = gr.Dropdown(backend_choices, value=state.default_backend, label="LLM backend",
                                          info="none: the trained scorer alone")
                    mode = gr.Radio(list(MODES), value=rerank_mode(recommender), label="Rerank mode")
                    alpha = gr.Slider(0, 1, value=recommender.blend.alpha, step=0.05, label="alpha (LLM weight)",
                                      info="tuned on validation by recchat tune-blend; 0 = scorer only")
                    k = gr.Slider(5, MAX_CARDS, value=MAX_CARDS, step=1, label="k (items shown)")
                    explain = gr.Checkbox(True, label="LLM-written reasons")
                    understand = gr.Checkbox(bool(getattr(recommender.backend, "structured_outputs", False)),
                                             label="LLM reads messages too (rules always do)",
                                             info="on by default where decoding is schema-constrained (vLLM)")

        # This module's annotations are strings (postponed evaluation); Gradio finds the request
        # parameter by its type, so it needs the real one before the events are registered.
        respond.__annotations__ = {"request": gr.Request}
        inputs = [box, chatbot, session, user, backend, mode, alpha, k, explain, understand]
        outputs = [chatbot, session, box, *card_parts]
        box.submit(respond, inputs, outputs, api_visibility="private")
        send.click(respond, inputs, outputs, api_visibility="private")
        for n, (like, dislike) in enumerate(buttons):
            like.click(feedback(n, True), [chatbot, session], [chatbot, session, *card_parts], api_visibility="private")
            dislike.click(feedback(n, False), [chatbot, session], [chatbot, session, *card_parts],
                          api_visibility="private")
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
            raise ValueError(f"--auth / RECCHAT_UI_AUTH must be USER:PASSWORD (got '{name}{sep}…'); "
                             "repeat --auth or separate accounts with commas for more than one")
        accounts.append((name, password))
    return accounts or None


def exposure_warning(host: str, auth: Any) -> str | None:
    """What to say when the app listens beyond this machine, and the words that say it."""
    if host in LOOPBACK:
        return None
    if auth:
        return f"warning: the app listens on {host}, so other machines can reach it (behind the login)."
    return (f"WARNING: the app listens on {host} WITHOUT a login: anyone who can reach this machine can use it "
            "and read what is typed. Add --auth USER:PASSWORD, or drop --host to keep it on 127.0.0.1.")


def launch(app: Any, host: str = "127.0.0.1", port: int = 7860, auth: Any = None, **kw: Any) -> Any:
    import sys

    warning = exposure_warning(host, auth)
    if warning:
        print(warning, file=sys.stderr, flush=True)
    return app.launch(server_name=host, server_port=port, share=False, auth=auth, css=CSS, **kw)
