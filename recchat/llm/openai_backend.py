"""Any OpenAI-compatible server, in particular ``vllm serve`` on a local model folder.

Requests go out concurrently (``concurrency`` at a time) with a timeout and retries. Chat
completions are used, so the server applies the model's own chat template. Label logprobs come
from the first token's ``top_logprobs`` (at most 20): a label outside them gets a floor value.
vLLM's ``structured_outputs`` extension constrains permutations where the server has it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from recchat.llm.base import LLMError, fill_missing, record
from recchat.types import Invocation

if TYPE_CHECKING:
    from openai import AsyncOpenAI
    from openai.types.chat import ChatCompletion
    from openai.types.chat.chat_completion import Choice

T = TypeVar("T")


class OpenAIBackend:
    name = "openai"
    structured_outputs = True  # JSON-schema / regex constrained decoding

    def __init__(
        self,
        base_url: str,
        model: str | None = None,
        *,
        api_key: str = "EMPTY",
        concurrency: int = 8,
        timeout: float = 60.0,
        retries: int = 2,
        top_logprobs: int = 20,
    ):
        self.base_url = base_url.rstrip("/")
        self.api_key, self.concurrency, self.timeout, self.retries = api_key, concurrency, timeout, retries
        self.top_logprobs = top_logprobs
        self.invocations: list[Invocation] = []
        self._model = model

    @property
    def model(self) -> str:
        """The served model: as named, or the server's first, asked on first use (not at start-up,
        so a server that is down degrades requests instead of failing the whole run)."""
        if self._model is None:
            self._model = self._first_model()
        return self._model

    def _client(self) -> AsyncOpenAI:
        from openai import AsyncOpenAI

        return AsyncOpenAI(base_url=self.base_url, api_key=self.api_key, timeout=self.timeout, max_retries=self.retries)

    def _first_model(self) -> str:
        async def ask() -> str:
            async with self._client() as client:
                models = await client.models.list()
                return models.data[0].id

        try:
            return self._run(ask())
        except Exception as exc:
            raise LLMError(
                f"no OpenAI-compatible server answered at {self.base_url} ({exc}); "
                "start one, e.g.: python -m vllm.entrypoints.openai.api_server --model DIR"
            ) from None

    @staticmethod
    def _run(coro: Coroutine[object, object, T]) -> T:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(coro)
        # Called from inside an event loop (a notebook, Gradio): run on a fresh loop in a thread.
        import concurrent.futures

        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, coro).result()

    def _chat_all(self, contents: Sequence[str], **params: Any) -> list[ChatCompletion]:
        async def one(client: AsyncOpenAI, gate: asyncio.Semaphore, content: str) -> ChatCompletion:
            async with gate:
                return await client.chat.completions.create(
                    model=self.model, messages=[{"role": "user", "content": content}], temperature=0.0, **params
                )

        async def all_of() -> list[ChatCompletion]:
            gate = asyncio.Semaphore(self.concurrency)
            async with self._client() as client:
                return await asyncio.gather(*(one(client, gate, c) for c in contents))

        started = time.perf_counter()
        try:
            return self._run(all_of())
        except Exception as exc:
            # An LLMError already names the server and the fix (no model list from a server that is down).
            message = str(exc) if isinstance(exc, LLMError) else self._failure(exc)
            record(
                self,
                Invocation(self.name, "request", len(contents), 0, 0, time.perf_counter() - started, error=message),
            )
            raise LLMError(message) from None

    def _failure(self, exc: Exception) -> str:
        """What went wrong with a request, and what to look at."""
        if "Timeout" in type(exc).__name__:
            hint = (
                f"it did not answer within {self.timeout:g} s; check its load, or allow more with "
                "[llm] timeout / --timeout"
            )
        else:
            hint = "see its log, and check that [llm] base_url / --base-url is an OpenAI-compatible server"
        return f"the server at {self.base_url} failed ({type(exc).__name__}: {exc}); {hint}"

    def _malformed(self, what: str) -> LLMError:
        return LLMError(
            f"the server at {self.base_url} sent a malformed reply ({what}); check that it is an "
            "OpenAI-compatible server, e.g.: python -m vllm.entrypoints.openai.api_server --model DIR"
        )

    def _choice(self, reply: ChatCompletion) -> Choice:
        """The first choice of a reply; a reply without one is malformed (said, not a TypeError)."""
        choices = getattr(reply, "choices", None)
        if not choices:
            raise self._malformed("no choices")
        return choices[0]

    def _record(
        self, kind: str, replies: list[ChatCompletion], started: float, text: str, prompts: Sequence[str]
    ) -> None:
        usage = [r.usage for r in replies if r.usage is not None]
        cached = sum(getattr(getattr(u, "prompt_tokens_details", None), "cached_tokens", 0) or 0 for u in usage)
        record(
            self,
            Invocation(
                self.name,
                kind,
                len(replies),
                sum(u.prompt_tokens for u in usage),
                cached,
                time.perf_counter() - started,
                output=text,
            ),
            prompts,
        )

    def label_logprobs(self, prefix: str, suffixes: Sequence[str], labels: Sequence[str]) -> list[dict[str, float]]:
        started = time.perf_counter()
        replies = self._chat_all(
            [prefix + s for s in suffixes], max_tokens=1, logprobs=True, top_logprobs=self.top_logprobs
        )
        results = []
        for reply in replies:
            choice = self._choice(reply)
            content = choice.logprobs.content if choice.logprobs else None
            if not content:
                raise LLMError(
                    f"the server at {self.base_url} returned no logprobs; it must support "
                    "logprobs/top_logprobs (vLLM does)"
                )
            found: dict[str, float] = {}
            try:
                for alt in content[0].top_logprobs:
                    token = alt.token.strip()
                    if token in labels and token not in found:
                        found[token] = float(alt.logprob)
            except (AttributeError, TypeError, ValueError) as exc:
                raise self._malformed(f"top_logprobs: {exc}") from None
            results.append(fill_missing(found, labels))
        self._record(
            "label_logprobs",
            replies,
            started,
            "; ".join(max(r, key=r.__getitem__) for r in results),
            [prefix, *suffixes],
        )
        return results

    def generate(
        self,
        prompts: Sequence[str],
        *,
        max_tokens: int,
        regex: str | None = None,
        json_schema: dict[str, object] | None = None,
    ) -> list[str]:
        started = time.perf_counter()
        # vLLM's server extension; other servers ignore unknown body fields, and callers validate.
        constraint = {"regex": regex} if regex else {"json": json_schema} if json_schema else None
        extra = {"extra_body": {"structured_outputs": constraint}} if constraint else {}
        replies = self._chat_all(list(prompts), max_tokens=max_tokens, **extra)
        texts = [self._choice(r).message.content or "" for r in replies]
        if not all(isinstance(t, str) for t in texts):
            raise self._malformed("message content that is not text")
        self._record("generate", replies, started, " | ".join(texts), prompts)
        return texts
