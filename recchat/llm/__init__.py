"""LLM backends behind one small protocol.

Every ranking prompt has the same shape: one shared prefix (instructions, the user's history,
the conversation) and one or more suffixes (one per candidate, or one question for a listwise
prompt). A backend answers two questions about that shape:

- ``label_logprobs(prefix, suffixes, labels)``: for each suffix, the log-probability of each
  label ("Yes"/"No", or "A".."T") as the first token of the answer;
- ``generate(prompts, max_tokens, regex=..., json_schema=...)``: free text, constrained to a
  regular expression or a JSON schema where the backend can (vLLM and vLLM servers); elsewhere
  the caller validates what comes back.

Prefix and suffix are message *content*: each backend wraps them in its model's chat format.
Every call is recorded as an :class:`~recchat.types.Invocation` (tokens, cached tokens, latency,
raw output) in ``backend.invocations``.

Backends: ``transformers`` (in-process; the prefix's KV cache is computed once and shared by all
suffixes), ``vllm`` (the in-process engine with prefix caching), ``openai`` (any
OpenAI-compatible server, such as ``vllm serve``). ``auto`` picks vLLM on a GPU and transformers
otherwise. Heavy imports live inside each backend's module.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from recchat.types import Invocation

BACKENDS = ("auto", "transformers", "vllm", "openai")
SENTINEL = "\x00RECCHAT-SPLIT\x00"
MISSING_LOGPROB = -30.0  # a label outside a backend's top-k: far below anything it returned


_local = threading.local()


def record(backend: Any, invocation: Invocation) -> None:
    """Keep an invocation on its backend and in the collector active in this thread, if any."""
    backend.invocations.append(invocation)
    for calls in getattr(_local, "collectors", []):
        calls.append(invocation)


@contextmanager
def collect_invocations() -> Iterator[list[Invocation]]:
    """The invocations made in this thread inside the block (safe with concurrent requests)."""
    calls: list[Invocation] = []
    stack = getattr(_local, "collectors", [])
    _local.collectors = [*stack, calls]
    try:
        yield calls
    finally:
        _local.collectors = stack


class LLMError(RuntimeError):
    """The LLM could not answer (not loaded, unreachable, timed out, malformed reply)."""


class LLMBackend(Protocol):
    name: str
    invocations: list[Invocation]

    def label_logprobs(self, prefix: str, suffixes: Sequence[str], labels: Sequence[str]) -> list[dict[str, float]]: ...

    def generate(self, prompts: Sequence[str], *, max_tokens: int, regex: str | None = None,
                 json_schema: dict[str, Any] | None = None) -> list[str]: ...


class ChatFormat:
    """The model's chat template applied to one user message, split into prefix and suffix.

    Rendering ``prefix + SENTINEL + suffix`` once and cutting at the sentinel gives the exact
    strings whose concatenation the model would see, so a backend can cache the prefix part.
    """

    def __init__(self, tokenizer: Any):
        self.tokenizer = tokenizer

    def render(self, content: str) -> str:
        return self.tokenizer.apply_chat_template([{"role": "user", "content": content}], tokenize=False,
                                                  add_generation_prompt=True)

    def split(self, prefix: str, suffix: str) -> tuple[str, str]:
        head, tail = self.render(prefix + SENTINEL + suffix).split(SENTINEL)
        return head, tail

    def label_ids(self, labels: Sequence[str]) -> list[int]:
        """The first token of each label, as the model would start its answer."""
        ids = []
        for label in labels:
            tokens = self.tokenizer.encode(label, add_special_tokens=False)
            if not tokens:
                raise LLMError(f"label '{label.strip()}' has no tokens")
            ids.append(tokens[0])
        if len(set(ids)) != len(ids):
            raise LLMError(f"labels {list(labels)} do not start with distinct tokens")
        return ids


class PlainFormat(ChatFormat):
    """For a base model with no chat template (Gemma 3 270M): the prompt as a document that ends
    in an answer cue, and labels as the words that follow it (" A", " Yes")."""

    CUE = "\nAnswer:"

    def render(self, content: str) -> str:
        return (self.tokenizer.bos_token or "") + content.rstrip() + self.CUE

    def label_ids(self, labels: Sequence[str]) -> list[int]:
        return super().label_ids([" " + label for label in labels])


def prompt_format(tokenizer: Any) -> ChatFormat:
    """The model's chat template when it has one, the plain document format otherwise."""
    return ChatFormat(tokenizer) if getattr(tokenizer, "chat_template", None) else PlainFormat(tokenizer)


def fill_missing(found: dict[str, float], labels: Sequence[str]) -> dict[str, float]:
    """Labels a backend did not return get a floor below everything it did return."""
    floor = min([*found.values(), MISSING_LOGPROB]) - 1.0
    return {label: found.get(label, floor) for label in labels}


def normalized(logprobs: dict[str, float]) -> dict[str, float]:
    """Softmax over the labels only: P(label | the answer is one of the labels)."""
    top = max(logprobs.values())
    exp = {k: math.exp(v - top) for k, v in logprobs.items()}
    total = sum(exp.values())
    return {k: v / total for k, v in exp.items()}


def has_cuda() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


def load_backend(name: str = "auto", model: str | Path | None = None, **options: Any) -> LLMBackend:
    """The factory: ``load_backend("vllm")``, ``load_backend("openai", base_url=...)``, or the name
    of an installed ``recchat.llm_backends`` plugin (see recchat.plugins).

    ``model`` is a local model folder (a tuned one from ``recchat tune-llm`` too), a model asset's
    name (``smollm2-135m-instruct``, the default, or ``gemma3-270m``) or, for ``openai``, the
    served model's name (default: the first model the server lists).
    """
    if name not in BACKENDS:
        from recchat.plugins import available, create

        if name in available("llm_backends"):
            return create("llm_backends", name, model=model, required=("label_logprobs", "generate"), **options)
        plugins = ", ".join(sorted(available("llm_backends")))
        raise LLMError(f"unknown backend '{name}'; choose from {', '.join(BACKENDS)}"
                       + (f" or the installed plugins: {plugins}" if plugins else ""))
    if name == "auto":
        name = "vllm" if has_cuda() else "transformers"
    if name == "openai":
        from recchat.llm.openai_backend import OpenAIBackend

        return OpenAIBackend(model=str(model) if model else None, **options)
    from recchat.assets import AssetError, resolve_model

    try:
        model = resolve_model(model)
    except AssetError as exc:
        raise LLMError(str(exc)) from None
    if name == "vllm":
        from recchat.llm.vllm_backend import VLLMBackend

        return VLLMBackend(Path(model), **options)
    from recchat.llm.transformers_backend import TransformersBackend

    return TransformersBackend(Path(model), **options)
