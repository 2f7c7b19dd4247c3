"""What every LLM backend shares: the protocol, the error, the invocation record, chat formats
and label-probability helpers. Backends import from here (not from the package), so the package
can import them without a circle."""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Protocol

from recchat.privacy import log_prompts
from recchat.types import Invocation

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

SENTINEL = "\x00RECCHAT-SPLIT\x00"
MISSING_LOGPROB = -30.0  # a label outside a backend's top-k: far below anything it returned


_local = threading.local()


def record(backend: LLMBackend, invocation: Invocation, prompts: Sequence[str] = ()) -> None:
    """Keep an invocation on its backend and in the collector active in this thread, if any.

    Every backend calls this once per LLM call, with the ``prompts`` it sent (for
    ``label_logprobs``: the shared prefix, then each suffix): the one place where prompts can be
    logged. They are written nowhere unless RECCHAT_DEBUG_PROMPTS=1 (then masked, to
    $RECCHAT_HOME/logs/prompts.jsonl; see recchat.privacy)."""
    backend.invocations.append(invocation)
    for calls in getattr(_local, "collectors", []):
        calls.append(invocation)
    log_prompts(invocation.backend, invocation.kind, prompts)


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


@contextmanager
def detached() -> Iterator[None]:
    """Calls inside the block are kept out of this thread's collectors (a call made on behalf of
    other threads, which record their own shares: recchat.llm.gather)."""
    stack = getattr(_local, "collectors", [])
    _local.collectors = []
    try:
        yield
    finally:
        _local.collectors = stack


class LLMError(RuntimeError):
    """The LLM could not answer (not loaded, unreachable, timed out, malformed reply)."""


class LLMBackend(Protocol):
    name: str
    invocations: list[Invocation]

    def label_logprobs(self, prefix: str, suffixes: Sequence[str], labels: Sequence[str]) -> list[dict[str, float]]: ...

    def generate(
        self,
        prompts: Sequence[str],
        *,
        max_tokens: int,
        regex: str | None = None,
        json_schema: dict[str, object] | None = None,
    ) -> list[str]: ...


class ChatFormat:
    """The model's chat template applied to one user message, split into prefix and suffix.

    Rendering ``prefix + SENTINEL + suffix`` once and cutting at the sentinel gives the exact
    strings whose concatenation the model would see, so a backend can cache the prefix part.
    """

    def __init__(self, tokenizer: PreTrainedTokenizerBase):
        self.tokenizer = tokenizer

    def render(self, content: str) -> str:
        return self.tokenizer.apply_chat_template(
            [{"role": "user", "content": content}], tokenize=False, add_generation_prompt=True
        )

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


def prompt_format(tokenizer: PreTrainedTokenizerBase) -> ChatFormat:
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
