"""Screenshots of the chat app at a phone's width and a desktop's, in headless Chromium, for the
README (ui/screenshots/) and for CI's browser run, so they can always be made again.

    bash .ci/env python -m recchat.ui.screenshots                 # start the MovieLens app, shoot, stop
    bash .ci/env python -m recchat.ui.screenshots --url http://127.0.0.1:7860/ --out /tmp/shots

Without ``--url`` it starts the app the way ``recchat ui`` does (the built-in MovieLens
configuration; ``--config`` for another), with the LLM off unless ``--backend`` says otherwise,
so the pictures come out the same on every machine; it needs the index and the trained scorer
(``recchat ui`` once, or ``recchat setup``, makes them). Chromium: the system one
(``RECCHAT_CHROMIUM``, default /usr/bin/chromium), driven by Playwright.
"""

from __future__ import annotations

import argparse
import os
import socket
from pathlib import Path
from typing import Any

WIDTHS = {"phone": (390, 844), "wide": (1400, 1000)}
OUT = Path(__file__).resolve().parent / "screenshots"


def launch_chromium(playwright: Any, executable: str | None = None) -> Any:
    """The system Chromium, headless, as the screenshots and the browser tests run it."""
    return playwright.chromium.launch(
        executable_path=executable or os.environ.get("RECCHAT_CHROMIUM", "/usr/bin/chromium"),
        headless=True,
        args=[
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
        ],
    )


def take(url: str, out: Path, message: str, *, chromium: str | None = None, timeout_ms: int = 120_000) -> list[Path]:
    """Send ``message`` to the app at ``url`` at each width, wait for the cards, and save a
    full-page PNG per width under ``out`` (phone.png, wide.png)."""
    from playwright.sync_api import expect, sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    saved = []
    with sync_playwright() as p:
        browser = launch_chromium(p, chromium)
        try:
            for name, (width, height) in WIDTHS.items():
                page = browser.new_page(viewport={"width": width, "height": height})
                page.goto(url)
                box = page.locator("#message textarea")
                box.fill(message)
                box.press("Enter")
                expect(page.locator("[id^=card-text-]:visible").nth(2)).to_be_visible(timeout=timeout_ms)
                page.wait_for_timeout(500)  # the last reasons settle
                path = out / f"{name}.png"
                page.screenshot(path=str(path), full_page=True)
                saved.append(path)
                page.close()
        finally:
            browser.close()
    return saved


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--url", help="a running app (default: start one here, then stop it)")
    parser.add_argument("--config", help="the catalog's configuration, when starting the app (default MovieLens-100K)")
    parser.add_argument(
        "--backend", default="none", help="LLM backend when starting the app [none: the same pictures on every machine]"
    )
    parser.add_argument("--message", default="I loved Heat and The Godfather, something like them but older")
    parser.add_argument("--out", type=Path, default=OUT, help=f"folder for phone.png and wide.png [{OUT}]")
    args = parser.parse_args(argv)
    if args.url:
        paths = take(args.url, args.out, args.message)
    else:
        from recchat.ui.app import build_app, launch

        from recchat.builder import Builder
        from recchat.recommender import Recommender

        parts = Builder(args.config)
        parts.config = parts.config.replace({"llm": {"backend": args.backend}})
        app = build_app(Recommender.from_config(parts))
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        launch(app, "127.0.0.1", port, prevent_thread_lock=True, quiet=True)
        try:
            paths = take(f"http://127.0.0.1:{port}/", args.out, args.message)
        finally:
            app.close()
    for path in paths:
        print(f"{path} ({path.stat().st_size // 1024} KiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
