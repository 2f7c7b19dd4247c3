"""The Gradio chat app: a thin layer over recchat.Recommender and ChatSession.

    recchat ui                      # http://127.0.0.1:7860, sharing off
    python ui/app.py --port 7861

Each browser session gets its own ChatSession. Failures show as a message in the chat, never a
stack trace.
"""

from __future__ import annotations

import argparse
import html
from typing import Any


def render_items(reply: Any) -> str:
    """The ranked items as Markdown: title, year, genres, reason and score parts."""
    lines = [reply.message, ""]
    for n, entry in enumerate(reply.items, start=1):
        item, scores = entry.item, entry.candidate.scores
        year = item.fields.get("year", "")
        genres = ", ".join(item.fields.get("genres", []))
        parts = " · ".join(f"{k} {scores[k]:.2f}" for k in ("blend", "llm", "scorer") if k in scores)
        lines.append(f"{n}. **{html.escape(item.title)}** ({year}) {html.escape(genres)}  \n"
                     f"   {html.escape(entry.reason)}  \n   <sub>{parts}</sub>")
    return "\n".join(lines)


def build_app(recommender: Any) -> Any:
    import gradio as gr

    def respond(message: str, history: list, session: Any) -> tuple[str, Any]:
        if session is None:
            session = recommender.chat()
        try:
            reply = session.send(message)
        except Exception as exc:  # shown to the user, not raised into Gradio's error page
            return f"Sorry, that failed: {type(exc).__name__}: {exc}", session
        return render_items(reply), session

    with gr.Blocks(title="recchat") as app:
        gr.Markdown("# recchat\nTell me what you liked and what you are in the mood for.")
        session = gr.State(None)
        gr.ChatInterface(respond, additional_inputs=[session], additional_outputs=[session], api_name="chat")
    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="The recchat chat app (Gradio).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--backend", default="auto", help="LLM backend, or none for the scorer alone")
    args = parser.parse_args(argv)
    from recchat.recommender import Recommender

    app = build_app(Recommender.from_config({"backend": args.backend}))
    app.launch(server_name=args.host, server_port=args.port, share=False)


if __name__ == "__main__":
    main()
