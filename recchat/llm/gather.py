"""LLM calls from concurrent sessions, gathered into shared calls of one in-process backend.

An in-process model (transformers, the vLLM engine) serves one call at a time well: two calls
at once on the same cores only slow each other down, and the vLLM engine is not made to be
called from several threads. ``Gathered(backend)`` puts the calls of all threads in one queue.
Whichever thread finds the model idle runs everything waiting that can share a call: the
prompts of every waiting ``generate`` with the same settings go to the backend as one batch
(decoded together), and waiting ``label_logprobs`` requests go together to a backend that has
``label_logprobs_many`` (one forward pass, each request keeping its own shared-prefix packing),
one after another otherwise. No thread waits for a batch to fill: one user alone is served as
before, and requests that arrive while the model is busy form the next batch. Scoring requests
go first: they hold up a ranked list, while generated text (reasons) is streamed in after it.

Each caller gets its own answer and its own :class:`~recchat.types.Invocation` (recorded in its
thread, so ``collect_invocations`` still sees what a request cost): its share of the shared
call's tokens, the seconds it waited in all, and ``gathered`` = how many requests shared the call.
A failing shared call fails each request in it with the same error (their fallbacks then run as
they would alone). A server backend (``openai``) needs none of this: the server batches.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from recchat.llm.base import collect_invocations, detached, record
from recchat.types import Invocation

if TYPE_CHECKING:
    from recchat.llm.base import LLMBackend


@dataclass
class _Request:
    kind: str  # "generate" or "label_logprobs"
    key: Any  # requests with equal keys can share a call
    args: tuple
    size: int  # prompts it brings
    done: bool = False
    result: Any = None
    error: BaseException | None = None
    shared_with: int = 1
    calls: list[Invocation] = field(default_factory=list)
    share: float = 1.0


class Gathered:
    """``backend`` with the calls of concurrent threads gathered (see the module's docstring).
    ``max_prompts`` bounds one shared call. Everything else (name, model folder, chat format) is
    the wrapped backend's."""

    def __init__(self, backend: LLMBackend, *, max_prompts: int = 32):
        self.inner, self.max_prompts = backend, max_prompts
        self.name = backend.name
        self.invocations: list[Invocation] = []
        self.shared_calls = 0  # calls to the wrapped backend
        self.requests = 0  # requests answered through them
        self._cond = threading.Condition()
        self._waiting: list[_Request] = []
        self._busy = False

    def __getattr__(self, name: str) -> object:  # model_dir, chat, structured_outputs, ...
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)

    def label_logprobs(self, prefix: str, suffixes: Sequence[str], labels: Sequence[str]) -> list[dict[str, float]]:
        request = _Request(
            "label_logprobs", tuple(labels), (prefix, list(suffixes), list(labels)), max(1, len(suffixes))
        )
        return cast("list[dict[str, float]]", self._call(request))

    def generate(
        self,
        prompts: Sequence[str],
        *,
        max_tokens: int,
        regex: str | None = None,
        json_schema: dict[str, object] | None = None,
    ) -> list[str]:
        key = (max_tokens, regex, json.dumps(json_schema, sort_keys=True) if json_schema is not None else None)
        request = _Request("generate", key, (list(prompts), max_tokens, regex, json_schema), len(prompts))
        return cast("list[str]", self._call(request))

    def _call(self, request: _Request) -> object:
        started = time.perf_counter()
        with self._cond:
            self._waiting.append(request)
        while True:
            with self._cond:
                while not request.done and self._busy:
                    self._cond.wait()
                if request.done:
                    break
                self._busy = True
                batch = self._take()
            try:
                self._run(batch)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()
        self._record(request, time.perf_counter() - started)
        if request.error is not None:
            raise request.error
        return request.result

    def _take(self) -> list[_Request]:
        """The oldest waiting request and those that can share its call, oldest first. Scoring
        (``label_logprobs``: the ranked list a user is waiting for) goes before generation (the
        reasons, which fill in after the list is shown)."""
        first = next((r for r in self._waiting if r.kind == "label_logprobs"), self._waiting[0])
        batch: list[_Request] = []
        size = 0
        for request in list(self._waiting):
            if (
                request.kind == first.kind
                and request.key == first.key
                and (not batch or size + request.size <= self.max_prompts)
            ):
                batch.append(request)
                size += request.size
                self._waiting.remove(request)
        return batch

    def _run(self, batch: list[_Request]) -> None:
        total = sum(r.size for r in batch)
        for r in batch:
            r.shared_with, r.share = len(batch), r.size / total
        try:
            # The wrapped backend records its shared call in this thread; detached() keeps it out
            # of this thread's own request, whose share is recorded like everyone else's.
            with detached(), collect_invocations() as calls:
                if batch[0].kind == "generate":
                    self._generate(batch)
                elif len(batch) > 1 and hasattr(self.inner, "label_logprobs_many"):
                    answers = self.inner.label_logprobs_many([r.args for r in batch])
                    for r, answer in zip(batch, answers):
                        r.result = answer
                else:  # one after another, each failing on its own
                    for r in batch:
                        try:
                            r.result = self.inner.label_logprobs(*r.args)
                        except Exception as exc:
                            r.error = exc
        except Exception as exc:  # every request of the shared call fails the same way
            for r in batch:
                if r.result is None and r.error is None:
                    r.error = exc
        with self._cond:
            self.shared_calls += len(calls) or 1
            self.requests += len(batch)
            for r in batch:
                r.calls, r.done = calls, True

    def _generate(self, batch: list[_Request]) -> None:
        _, max_tokens, regex, schema = batch[0].args
        prompts = [p for r in batch for p in r.args[0]]
        answers = self.inner.generate(prompts, max_tokens=max_tokens, regex=regex, json_schema=schema)
        start = 0
        for r in batch:
            r.result = answers[start : start + r.size]
            start += r.size

    def _record(self, request: _Request, seconds: float) -> None:
        tokens = sum(c.prompt_tokens for c in request.calls)
        cached = sum(c.cached_tokens for c in request.calls)
        if request.error is None:
            output = (
                "; ".join(max(o, key=o.get) for o in request.result)
                if request.kind == "label_logprobs"
                else " | ".join(request.result)
            )
        else:
            output = ""
        record(
            self,
            Invocation(
                self.inner.name,
                request.kind,
                request.size,
                round(tokens * request.share),
                round(cached * request.share),
                seconds,
                output=output,
                error=str(request.error) if request.error is not None else None,
                gathered=request.shared_with,
            ),
        )


IN_PROCESS = ("transformers", "vllm")


def gathered(backend: LLMBackend | None) -> LLMBackend | None:
    """``backend`` with its calls gathered when its model runs in this process; as it is otherwise
    (None, a server backend, a plugin, one already gathered)."""
    if backend is None or isinstance(backend, Gathered) or getattr(backend, "name", None) not in IN_PROCESS:
        return backend
    return Gathered(backend)
