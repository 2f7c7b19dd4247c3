"""Reaching Chroma: a client on disk or on a server, calls to a server tried again while it
restarts, and the error that names a damaged store on disk."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar
from urllib.parse import urlparse

from recchat.index.errors import IndexUnavailableError, ItemIndexError

if TYPE_CHECKING:
    from chromadb.api import ClientAPI

T = TypeVar("T")

# A Chroma server that restarts answers again within seconds: each call to it is tried this many
# times, waiting SERVER_BACKOFF seconds before the second try and twice as long before each next.
SERVER_TRIES = 3
SERVER_BACKOFF = 0.25


def from_server(url: str, call: Callable[[], T], *, connecting: bool = False) -> T:
    """``call()`` against the Chroma server at ``url``, tried again on network errors; then an
    IndexUnavailableError that names the server and how to start it. (While connecting, chromadb
    reports a refused connection as a ValueError.)"""
    import httpx

    transient: tuple[type[Exception], ...] = (httpx.TransportError, ConnectionError)
    if connecting:
        transient += (ValueError,)
    for attempt in range(SERVER_TRIES):
        try:
            return call()
        except transient as exc:
            error = exc
        if attempt + 1 < SERVER_TRIES:
            time.sleep(SERVER_BACKOFF * 2**attempt)
    port = urlparse(url).port or 8000
    raise IndexUnavailableError(
        f"the Chroma server at {url} did not answer after {SERVER_TRIES} tries ({type(error).__name__}: {error}). "
        f"Start it (chroma run --path FOLDER --port {port}) or point [index] url / --url at a running one."
    )


def damaged(location: str, exc: Exception) -> ItemIndexError:
    return ItemIndexError(
        f"the Chroma store {location} cannot be read ({exc}); it is damaged. It holds only the index, "
        "built from the catalog: delete it (or choose another [index] path / --path) and build it again "
        "with: recchat index build"
    )


def connect(path: str | Path | None = None, url: str | None = None) -> ClientAPI:
    """A Chroma client: a server when ``url`` is given (``http://host:port``), else on disk.

    A server that does not answer is tried a few times (it may be starting), then an
    :class:`IndexUnavailableError` names it and how to start one; a store on disk that cannot be
    opened (a damaged chroma.sqlite3) is an :class:`ItemIndexError` naming the folder and the fix.
    """
    import chromadb
    from chromadb.config import Settings
    from chromadb.errors import InternalError

    settings = Settings(anonymized_telemetry=False)
    if url:
        parsed = urlparse(url if "://" in url else f"http://{url}")
        if not parsed.hostname:
            raise ItemIndexError(f"Chroma URL '{url}' has no host; use http://HOST:PORT")
        return from_server(
            url,
            lambda: chromadb.HttpClient(
                host=parsed.hostname, port=parsed.port or 8000, ssl=parsed.scheme == "https", settings=settings
            ),
            connecting=True,
        )
    if path is None:
        from recchat.assets import home

        path = home() / "index"
    Path(path).mkdir(parents=True, exist_ok=True)
    try:
        return chromadb.PersistentClient(path=str(path), settings=settings)
    except InternalError as exc:  # "file is not a database", "database disk image is malformed"
        raise damaged(f"in {path}", exc) from None
