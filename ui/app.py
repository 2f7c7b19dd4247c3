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

import re
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from recchat.conversation.chat import MAX_MESSAGE_CHARS
from recchat.conversation.explain import llm_reasons_default
from recchat.rerank import MODES

MAX_CARDS = 10
RATE_LIMIT = 20  # messages per session per minute: far above a person typing, far below a script
CONCURRENCY = 8  # turns served at once; more only queue for the same cores
SESSION_TTL = 3600.0  # seconds an idle session is kept
LOOPBACK = ("127.0.0.1", "localhost", "::1")
CSS = """
.card { border: 1px solid var(--border-color-primary); border-radius: 10px; padding: 6px 10px; }
.card .chip { display: inline-block; border-radius: 999px; padding: 0 8px; margin: 2px 4px 2px 0;
              font-size: 0.8em; background: var(--background-fill-secondary);
              border: 1px solid var(--border-color-primary); }
.card details { color: var(--body-text-color-subdued); font-size: 0.85em; }
.card summary { cursor: pointer; }
@media (max-width: 480px) { .card { padding: 4px 6px; } }
"""


_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!|~<>&])")


def shown(text: Any, *, in_html: bool = False) -> str:
    """Catalog, LLM or user text as literal text on the page: the app's one escaping step. Every
    such text passes here exactly once, and nothing else escapes: an escaped text escaped again
    is what shows entities ("Cuckoo&#x27;s") on the page. In Markdown, its punctuation gets a
    backslash and ``<``/``>``/``&`` become entities (quotes need none outside attributes);
    ``in_html``: inside an HTML block (``<details>``), where Markdown is not read, entities only."""
    text = str(text)
    if in_html:
        return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    escaped = _MARKDOWN.sub(r"\\\1", text)
    return escaped.replace("\\&", "&amp;").replace("\\<", "&lt;").replace("\\>", "&gt;")


def _year(domain: Any, item: Any) -> str:
    value = item.fields.get(domain.year) if domain.year else None
    return f" ({value})" if value is not None else ""


def _chip(text: Any) -> str:
    return f"<span class='chip'>{shown(text)}</span>"


def card_markdown(n: int, entry: Any, domain: Any) -> str:
    """One card: the title, then its year, facet values and ranges as small chips, the reason in
    body text, and the scores behind a "Why this" toggle."""
    item, scores = entry.item, entry.candidate.scores
    year = item.fields.get(domain.year) if domain.year else None
    chips = [str(year)] if year is not None else []
    chips += [v for f in domain.facets for v in (item.fields.get(f.name) or [])[:4]]
    chips += [
        f"{item.fields[r.name]:g} {r.unit or r.name}" for r in domain.ranges if item.fields.get(r.name) is not None
    ]
    parts = " · ".join(f"{k} {scores[k]:.2f}" for k in ("blend", "llm", "scorer", "text") if k in scores)
    source = "written by the LLM" if entry.reason_source == "llm" else "reason from a template"
    return (
        f"**{n}. {shown(item.title)}**  \n{''.join(_chip(c) for c in chips)}\n\n"
        f"{shown(entry.reason)}\n\n"
        f"<details><summary>Why this</summary>{shown(parts, in_html=True)} · {source}</details>"
    )


def reply_text(reply: Any) -> str:
    lines = [shown(reply.message)]
    lines += [f"*{shown(note)}*" for note in reply.notes]
    return "\n\n".join(lines)


def said(text: str) -> dict[str, str]:
    """An assistant chat message of plain text (a failure, a note, the rate limit)."""
    return {"role": "assistant", "content": shown(text)}


def user_panel(rec: Any, user_id: str | None) -> str:
    """A logged user's recent history and profile, as Markdown."""
    if not user_id:
        return (
            f"**New {shown(rec.domain.user)}**: no history yet; tell me which {shown(rec.domain.items)} "
            "you liked and what you are in the mood for."
        )
    pairs = rec.user_histories.get(user_id, [])
    recent = [
        f"- {shown(rec.catalog[i].title)}{shown(_year(rec.domain, rec.catalog[i]))}"
        + (f" · {r:g}★" if r is not None else "")
        for i, r in pairs[-10:][::-1]
    ]
    profile = rec.profile(user_id)
    head = f"**{shown(rec.domain.user.capitalize())} {shown(user_id)}**"
    if profile:
        head += f": {shown(profile.summary)}" + (
            "" if profile.summary_source == "llm" else " *(summary from the facts; no LLM summary)*"
        )
        head += "".join(f"\n- {shown(f)}" for f in profile.facts)
        favourites = [rec.catalog[i].title for i in profile.favourites if i in rec.catalog]
        if favourites:
            head += "\n- Favourites: " + "; ".join(shown(t) for t in favourites)
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
        return (
            f"You are sending messages faster than {self.limit} a minute; "
            f"please wait {max(1, round(seconds))} s and send it again."
        )


class AppState:
    """What the app shares across browser sessions: the recommender, the Builder that makes the
    parts of each Settings choice, the API clients' sessions (dropped after ``session_ttl`` idle
    seconds) and how many turns are in flight (``peak``: the most at once, which bench/load.py
    reports)."""

    def __init__(self, recommender: Any, session_ttl: float = SESSION_TTL, clock: Any = None):
        import time
        import weakref

        from recchat.builder import LLMParts

        raw = recommender.backend
        self.rec = recommender.concurrent()
        self.builder = getattr(recommender, "builder", None) or _builder_for(recommender)
        self.default_backend = self.rec.backend.name if self.rec.backend is not None else "none"
        self.default_mode = rerank_mode(self.rec)
        # The recommender's own parts serve its own setting; the Builder makes the others.
        self.default_parts = LLMParts(self.rec.backend, self.rec.reranker, self.rec.blend)
        self._gathered: dict[int, Any] = {id(raw): self.rec.backend} if raw is not None else {}
        self.lock = threading.Lock()
        self.parts_lock = threading.Lock()
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

    def _gather(self, backend: Any) -> Any:
        """One gathered wrapper per loaded model, shared by every setting that uses it."""
        from recchat.llm.gather import gathered

        if backend is None:
            return None
        if id(backend) not in self._gathered:
            self._gathered[id(backend)] = gathered(backend)
        return self._gathered[id(backend)]

    def parts(self, backend: str, mode: str) -> Any:
        """The LLM parts of a Settings choice (:class:`~recchat.builder.LLMParts`): the Builder's,
        for the configuration with that backend and mode, so the model, passes and history stay
        as configured; made once per distinct choice. Raises when the backend cannot start."""
        if backend == self.default_backend and mode == self.default_mode:
            return self.default_parts
        if backend == "none":
            return self.builder.llm_parts({"backend": "none"})
        with self.parts_lock:  # two sessions choosing the same new backend load it once (turns go on)
            if backend == self.default_backend:  # the running model, in another mode
                return self.builder.llm_parts({"mode": mode}, backend=self.rec.backend)
            # another backend serves the configured model, with its passes and history
            return self.builder.llm_parts({"backend": backend, "mode": mode}, wrap=self._gather)

    def session(self, user_id: str | None, settings: dict[str, Any]) -> Any:
        session = self.rec.chat(user_id=user_id or None)
        self.apply(session, settings)
        return session

    def apply(self, session: Any, settings: dict[str, Any]) -> str | None:
        """Put a Settings choice on ``session``. Returns what to tell the user when the chosen
        backend could not start (the session then ranks with the trained scorer alone)."""
        from recchat.blend import BlendConfig
        from recchat.rerank import NO_LLM

        name = settings.get("backend") or self.default_backend
        note = None
        try:
            parts = self.parts(name, settings.get("mode") or self.default_mode)
        except Exception as exc:  # a backend that cannot start is a message, never a broken app
            parts = self.default_parts.__class__(None, NO_LLM, self.rec.blend)
            note = (
                f"The {name} backend could not start ({type(exc).__name__}: {exc}). Ranking with the trained "
                "scorer alone; pick another backend in Settings."
            )
        session.reranker = parts.reranker
        alpha = settings.get("alpha")
        session.blend = BlendConfig(float(alpha), parts.blend.norm) if alpha is not None else parts.blend
        session.k = int(settings.get("k") or session.k)
        session.explain_with_llm = bool(settings.get("explain", llm_reasons_default(self.rec.backend)[0]))
        session.understand_with_llm = settings.get("understand")
        return note

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


def _builder_for(recommender: Any) -> Any:
    """A Builder for a recommender put together by hand (no configuration): the built-in
    defaults, in its domain's words, make the parts of another Settings choice."""
    from recchat.builder import Builder
    from recchat.config import RecommenderConfig

    config = RecommenderConfig.default().replace({"domain": {"item": recommender.domain.item}})
    return Builder(config, log=lambda message: None)


def offered_backends(state: AppState) -> list[str]:
    """The Settings' backend choices: none, transformers, the running one, vLLM where there is a
    GPU, and the OpenAI-compatible server only when the configuration names one (its backend or a
    base_url of its own): a choice that cannot work is not offered."""
    from recchat.config import LLMConfig
    from recchat.llm import has_cuda

    llm = state.builder.config.llm
    choices = {"none", "transformers", state.default_backend}
    if has_cuda():
        choices.add("vllm")
    if llm.backend == "openai" or llm.base_url != LLMConfig.base_url:
        choices.add("openai")
    return sorted(choices)


def rerank_mode(rec: Any) -> str:
    """The recommender's rerank mode; without an LLM, the mode a backend picked in Settings gets."""
    from recchat.config import LLMConfig

    return rec.reranker.mode if rec.reranker.mode in MODES else LLMConfig.mode


def failure_message(exc: Exception) -> str:
    """A failure in words (plain text: :func:`said` or :func:`shown` escapes it for the page)."""
    return (
        f"Sorry, that failed: {type(exc).__name__}: {exc}. "
        "Try again, or set the backend to 'none' in Settings to rank with the trained scorer alone."
    )


def build_app(
    recommender: Any, sessions: Any = None, *, concurrency: int = CONCURRENCY, session_ttl: float = SESSION_TTL
) -> Any:
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

    def respond(
        message: str,
        chat: list,
        session: Any,
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
                card_parts: list[Any] = []
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


def exposure_warning(host: str, auth: Any) -> str | None:
    """What to say when the app listens beyond this machine, and the words that say it."""
    if host in LOOPBACK:
        return None
    if auth:
        return f"warning: the app listens on {host}, so other machines can reach it (behind the login)."
    return (
        f"WARNING: the app listens on {host} WITHOUT a login: anyone who can reach this machine can use it "
        "and read what is typed. Add --auth USER:PASSWORD, or drop --host to keep it on 127.0.0.1."
    )


def launch(app: Any, host: str = "127.0.0.1", port: int = 7860, auth: Any = None, **kw: Any) -> Any:
    import sys

    warning = exposure_warning(host, auth)
    if warning:
        print(warning, file=sys.stderr, flush=True)
    return app.launch(server_name=host, server_port=port, share=False, auth=auth, css=CSS, **kw)
