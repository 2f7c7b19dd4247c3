"""The debug prompt log, and whose call an LLM call is.

LLM prompts are never written anywhere unless ``RECCHAT_DEBUG_PROMPTS=1`` is set; then every
prompt a backend sends is appended, masked, to ``$RECCHAT_HOME/logs/prompts.jsonl`` with the user
it was sent for (:func:`acting_for`), hooked in :func:`recchat.llm.base.record`, which every
backend calls once per LLM call.
"""

from __future__ import annotations

import contextvars
import json
import os
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from recchat.privacy.pii import TitleExemptions, exempting, masked

T = TypeVar("T")

DEBUG_PROMPTS_ENV = "RECCHAT_DEBUG_PROMPTS"
_user: contextvars.ContextVar[str | None] = contextvars.ContextVar("recchat_prompt_user", default=None)
_log_lock = threading.Lock()


def prompts_logged() -> bool:
    """Whether the debug flag asks for prompts to be logged (off unless set to 1/true/yes)."""
    return os.environ.get(DEBUG_PROMPTS_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def prompt_log_path() -> Path:
    from recchat.assets import home

    return home() / "logs" / "prompts.jsonl"


@contextmanager
def acting_for(user: str | None, exempt: TitleExemptions | None = None) -> Iterator[None]:
    """LLM calls made inside the block are for ``user`` (the prompt log records it). With
    ``exempt`` (the catalog's :class:`~recchat.privacy.pii.TitleExemptions`, which its
    Recommender holds), masking inside the block leaves those titles alone; without it, the
    enclosing setting stands. Both end with the block."""
    token = _user.set(user)
    try:
        if exempt is None:
            yield
        else:
            with exempting(exempt):
                yield
    finally:
        _user.reset(token)


def steps_acting_for(user: str | None, steps: Iterable[T], exempt: TitleExemptions | None = None) -> Iterator[T]:
    """The items of ``steps`` (a generator that calls the LLM as it goes), each step taken inside
    ``acting_for(user, exempt)``; between steps the caller's own setting stands."""
    it = iter(steps)
    while True:
        with acting_for(user, exempt):
            try:
                item = next(it)
            except StopIteration:
                return
        yield item


def log_prompts(backend: str, kind: str, prompts: Sequence[str]) -> None:
    """Append one record of an LLM call's prompts, masked, to the prompt log; a no-op unless
    ``RECCHAT_DEBUG_PROMPTS`` is set. For ``label_logprobs`` the prompts are the shared prefix
    followed by each suffix."""
    if not (prompts and prompts_logged()):
        return
    record = {
        "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "user": _user.get(),
        "backend": backend,
        "kind": kind,
        "prompts": [masked(p) for p in prompts],
    }
    path = prompt_log_path()
    with _log_lock:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
