"""What the chat app shares across browser sessions: the recommender, the LLM parts of each
Settings choice, the API clients' sessions, the turns in flight and the rate limit."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, TypedDict

from recchat.conversation.llm_reasons import llm_reasons_default
from recchat.rerank import MODES

if TYPE_CHECKING:
    from recchat.builder import Builder, LLMParts
    from recchat.conversation.chat import ChatSession
    from recchat.llm import LLMBackend
    from recchat.recommender import Recommender

RATE_LIMIT = 20  # messages per session per minute: far above a person typing, far below a script
SESSION_TTL = 3600.0  # seconds an idle session is kept


class Settings(TypedDict, total=False):
    """A Settings choice of the side panel (absent or None: the recommender's own)."""

    backend: str | None
    mode: str | None
    alpha: float | None
    k: int | None
    explain: bool | None
    understand: bool | None


class RateLimiter:
    """At most ``limit`` messages per ``window`` seconds per session key (a sliding window)."""

    def __init__(self, limit: int = RATE_LIMIT, window: float = 60.0, clock: Callable[[], float] | None = None):
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

    def __init__(
        self, recommender: Recommender, session_ttl: float = SESSION_TTL, clock: Callable[[], float] | None = None
    ):
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
        self._gathered: dict[int, LLMBackend | None] = {id(raw): self.rec.backend} if raw is not None else {}
        self.lock = threading.Lock()
        self.parts_lock = threading.Lock()
        self.api_sessions: OrderedDict[str, ChatSession] = OrderedDict()
        self.api_used: dict[str, float] = {}
        self.session_ttl, self.clock = session_ttl, clock or time.monotonic
        self.rate = RateLimiter()
        self._turn_locks: weakref.WeakKeyDictionary[ChatSession, threading.Lock] = weakref.WeakKeyDictionary()
        self.in_flight = self.peak = 0

    @contextmanager
    def turn(self, session: ChatSession | None) -> Iterator[None]:
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

    def _gather(self, backend: LLMBackend | None) -> LLMBackend | None:
        """One gathered wrapper per loaded model, shared by every setting that uses it."""
        from recchat.llm.gather import gathered

        if backend is None:
            return None
        if id(backend) not in self._gathered:
            self._gathered[id(backend)] = gathered(backend)
        return self._gathered[id(backend)]

    def parts(self, backend: str, mode: str) -> LLMParts:
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

    def session(self, user_id: str | None, settings: Settings) -> ChatSession:
        session = self.rec.chat(user_id=user_id or None)
        self.apply(session, settings)
        return session

    def apply(self, session: ChatSession, settings: Settings) -> str | None:
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

    def api_session(self, key: str) -> ChatSession:
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


def _builder_for(recommender: Recommender) -> Builder:
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
    from recchat.config import LLMSection
    from recchat.llm import has_cuda

    llm = state.builder.config.llm
    choices = {"none", "transformers", state.default_backend}
    if has_cuda():
        choices.add("vllm")
    if llm.backend == "openai" or llm.base_url != LLMSection.base_url:
        choices.add("openai")
    return sorted(choices)


def rerank_mode(rec: Recommender) -> str:
    """The recommender's rerank mode; without an LLM, the mode a backend picked in Settings gets."""
    from recchat.config import LLMSection

    return rec.reranker.mode if rec.reranker.mode in MODES else LLMSection.mode
