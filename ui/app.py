"""The Gradio chat app: a thin layer over recchat.Recommender and ChatSession.

    recchat ui                      # http://127.0.0.1:7860, sharing off; sets up what is missing
    recchat ui --auth alice:secret  # or RECCHAT_UI_AUTH=alice:secret

Each browser session has its own ChatSession. A turn shows the ranked list as cards first, then
streams the LLM's reasons into them. Each card has like / dislike: a like joins the session's
liked items, a dislike rejects the item for good and puts the next best in its place. The side
panel acts as a MovieLens user (their recent history and profile) and holds the settings
(backend, mode, alpha, k). Failures show as a message in the chat, never a stack trace.

``/chat`` is also an API endpoint (gradio_client): ``Client(url).predict("...", api_name="/chat")``
returns the reply as a dict; calls from one client share a session.
"""

from __future__ import annotations

import argparse
import html
import os
import threading
from collections import OrderedDict
from typing import Any

MAX_CARDS = 10
CSS = """
.card { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 4px 8px; }
.card .parts { color: var(--body-text-color-subdued); font-size: 0.85em; }
"""


def card_markdown(n: int, entry: Any) -> str:
    """One card: title, year, genres, reason, and the score parts."""
    item, scores = entry.item, entry.candidate.scores
    year = item.fields.get("year", "")
    genres = ", ".join(item.fields.get("genres", []))
    parts = " · ".join(f"{k} {scores[k]:.2f}" for k in ("blend", "llm", "scorer", "text") if k in scores)
    source = "" if entry.reason_source == "llm" else " <em>(template)</em>"
    return (f"**{n}. {html.escape(item.title)}** ({year})  \n<small>{html.escape(genres)}</small>  \n"
            f"{html.escape(entry.reason)}{source}  \n<span class='parts'>{parts}</span>")


def reply_text(reply: Any) -> str:
    lines = [reply.message]
    lines += [f"*{html.escape(note)}*" for note in reply.notes]
    return "\n\n".join(lines)


def user_panel(rec: Any, user_id: str | None) -> str:
    """A MovieLens user's recent history and profile, as Markdown."""
    if not user_id:
        return "**New user**: no history; I go by what you tell me."
    pairs = rec.user_histories.get(user_id, [])
    recent = [f"- {html.escape(rec.catalog[i].title)} ({rec.catalog[i].fields.get('year', '')})"
              + (f" · {r:g}★" if r is not None else "") for i, r in pairs[-10:][::-1]]
    profile = rec.profile(user_id)
    head = profile.markdown(rec.catalog) if profile else f"**User {user_id}**"
    return f"{head}\n\n**Recently rated** ({len(pairs)} in all)\n" + "\n".join(recent)


class AppState:
    """What the app shares across browser sessions: the recommender and loaded LLM backends."""

    def __init__(self, recommender: Any):
        self.rec = recommender
        self.backends: dict[str, Any] = {"none": None}
        if recommender.backend is not None:
            self.backends[recommender.backend.name] = recommender.backend
        self.default_backend = recommender.backend.name if recommender.backend is not None else "none"
        self.lock = threading.Lock()
        self.api_sessions: OrderedDict[str, Any] = OrderedDict()

    def backend(self, name: str) -> Any:
        with self.lock:  # two sessions asking for a new backend load it once
            if name not in self.backends:
                from recchat.llm import load_backend

                # A backend picked in Settings serves the model the app was started with.
                model = getattr(self.rec.backend, "model_dir", None) if name != "openai" else None
                self.backends[name] = load_backend(name, model)
            return self.backends[name]

    def session(self, user_id: str | None, settings: dict[str, Any]) -> Any:
        session = self.rec.chat(user_id=user_id or None)
        self.apply(session, settings)
        return session

    def apply(self, session: Any, settings: dict[str, Any]) -> None:
        from recchat.blend import BlendConfig
        from recchat.rerank import Reranker

        backend = self.backend(settings.get("backend") or self.default_backend)
        mode = settings.get("mode") or getattr(self.rec.reranker, "mode", "listwise")
        current = session.reranker
        if backend is None:
            session.reranker = None
        elif current is None or current.backend is not backend or current.mode != mode:
            session.reranker = Reranker(backend, mode, kind=self.rec.kind)
        alpha = settings.get("alpha")
        session.blend = BlendConfig(float(alpha), self.rec.blend.norm) if alpha is not None else None
        session.k = int(settings.get("k") or session.k)
        session.explain_with_llm = bool(settings.get("explain", True))
        session.understand_with_llm = settings.get("understand")

    def api_session(self, key: str) -> Any:
        if key not in self.api_sessions:
            self.api_sessions[key] = self.rec.chat()
            while len(self.api_sessions) > 1000:
                self.api_sessions.popitem(last=False)
        self.api_sessions.move_to_end(key)
        return self.api_sessions[key]


def failure_message(exc: Exception) -> str:
    return (f"Sorry, that failed: {type(exc).__name__}: {html.escape(str(exc))}. "
            "Try again, or set the backend to 'none' in Settings to rank with the trained scorer alone.")


def build_app(recommender: Any) -> Any:
    import gradio as gr

    state = AppState(recommender)
    users = sorted(recommender.user_histories, key=lambda u: (len(u), u))
    user_choices = [("New user (no history)", "")] + [
        (f"User {u} · {len(recommender.user_histories[u])} ratings", u) for u in users]
    backend_choices = sorted({"none", "transformers", "vllm", "openai", state.default_backend})

    def cards(reply: Any) -> list[Any]:
        items = reply.items if reply is not None else []
        out = []
        for n in range(MAX_CARDS):
            if n < len(items):
                out += [gr.update(visible=True), card_markdown(n + 1, items[n])]
            else:
                out += [gr.update(visible=False), ""]
        return out

    def settings_of(backend: str, mode: str, alpha: float, k: int, explain: bool, understand: bool) -> dict:
        return {"backend": backend, "mode": mode, "alpha": alpha, "k": k, "explain": explain, "understand": understand}

    def respond(message: str, chat: list, session: Any, user_id: str, backend: str, mode: str, alpha: float,
                k: int, explain: bool, understand: bool):
        chat = list(chat or [])
        if not message or not message.strip():
            yield chat, session, "", *cards(session.turns[-1] if session and session.turns else None)
            return
        chat.append({"role": "user", "content": message})
        try:
            settings = settings_of(backend, mode, alpha, k, explain, understand)
            if session is None:
                session = state.session(user_id, settings)
            else:
                state.apply(session, settings)
            reply = session.send(message, explain=False)
            chat.append({"role": "assistant", "content": reply_text(reply)})
            yield chat, session, "", *cards(reply)
            for _ in session.explain(reply):
                yield chat, session, "", *cards(reply)
            chat[-1] = {"role": "assistant", "content": reply_text(reply)}
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

    def pick_user(user_id: str):
        try:
            panel = user_panel(recommender, user_id or None)
        except Exception as exc:
            panel = failure_message(exc)
        return [], None, panel, *cards(None)

    def chat_api(message: str, request: gr.Request) -> dict:
        """One chat turn for API clients; calls from one client share a session."""
        try:
            session = state.api_session(request.session_hash or "anonymous")
            return session.send(message).to_dict()
        except Exception as exc:
            return {"error": failure_message(exc)}

    with gr.Blocks(title="recchat") as app:
        gr.Markdown("# recchat\nTell me what you liked and what you are in the mood for "
                    "(\"I loved Heat, something like it but older\").")
        session = gr.State(None)
        with gr.Row():
            with gr.Column(scale=3):
                chatbot = gr.Chatbot(elem_id="chat", height=320, label="Conversation")
                with gr.Row():
                    box = gr.Textbox(placeholder="I loved Heat, something like it but older", show_label=False,
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
                user = gr.Dropdown(user_choices, value="", label="Act as a MovieLens user", elem_id="user",
                                   filterable=True)
                panel = gr.Markdown(user_panel(recommender, None), elem_id="profile")
                with gr.Accordion("Settings", open=False):
                    backend = gr.Dropdown(backend_choices, value=state.default_backend, label="LLM backend",
                                          info="none: the trained scorer alone")
                    mode = gr.Radio(["listwise", "pointwise", "permutation"],
                                    value=getattr(recommender.reranker, "mode", "listwise"), label="Rerank mode")
                    alpha = gr.Slider(0, 1, value=recommender.blend.alpha, step=0.05, label="alpha (LLM weight)",
                                      info="tuned on validation by recchat tune-blend; 0 = scorer only")
                    k = gr.Slider(5, MAX_CARDS, value=MAX_CARDS, step=1, label="k (items shown)")
                    explain = gr.Checkbox(True, label="LLM-written reasons")
                    understand = gr.Checkbox(bool(getattr(recommender.backend, "structured_outputs", False)),
                                             label="LLM reads messages too (rules always do)",
                                             info="on by default where decoding is schema-constrained (vLLM)")

        inputs = [box, chatbot, session, user, backend, mode, alpha, k, explain, understand]
        outputs = [chatbot, session, box, *card_parts]
        box.submit(respond, inputs, outputs, api_visibility="private")
        send.click(respond, inputs, outputs, api_visibility="private")
        for n, (like, dislike) in enumerate(buttons):
            like.click(feedback(n, True), [chatbot, session], [chatbot, session, *card_parts], api_visibility="private")
            dislike.click(feedback(n, False), [chatbot, session], [chatbot, session, *card_parts],
                          api_visibility="private")
        user.change(pick_user, [user], [chatbot, session, panel, *card_parts], api_visibility="private")
        # This module's annotations are strings (postponed evaluation); gr.api needs the types.
        chat_api.__annotations__ = {"message": str, "request": gr.Request, "return": dict}
        gr.api(chat_api, api_name="chat")
    return app


def parse_auth(value: str | None) -> tuple[str, str] | None:
    if not value:
        return None
    if ":" not in value:
        raise ValueError("--auth / RECCHAT_UI_AUTH must be USER:PASSWORD")
    name, password = value.split(":", 1)
    return name, password


def launch(app: Any, host: str = "127.0.0.1", port: int = 7860, auth: tuple[str, str] | None = None, **kw: Any) -> Any:
    return app.launch(server_name=host, server_port=port, share=False, auth=auth, css=CSS, **kw)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="The recchat chat app (Gradio), on MovieLens-100K by default.")
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on [127.0.0.1]")
    parser.add_argument("--port", type=int, default=7860, help="port [7860]")
    parser.add_argument("--backend", default="auto", help="LLM backend, or none for the scorer alone [auto]")
    parser.add_argument("--model", help="LLM: a model asset (smollm2-135m-instruct, gemma3-270m), a model folder "
                                        "such as one from recchat tune-llm, or a served model's name [smollm2]")
    parser.add_argument("--auth", default=os.environ.get("RECCHAT_UI_AUTH"),
                        help="USER:PASSWORD to require a login [$RECCHAT_UI_AUTH; none]")
    args = parser.parse_args(argv)
    from recchat.recommender import Recommender

    app = build_app(Recommender.from_config({"backend": args.backend, "model": args.model}))
    launch(app, args.host, args.port, parse_auth(args.auth))


if __name__ == "__main__":
    main()
