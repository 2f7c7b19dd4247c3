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

from pathlib import Path
from typing import Any

from recchat.llm.base import (
    MISSING_LOGPROB,
    SENTINEL,
    ChatFormat,
    LLMBackend,
    LLMError,
    PlainFormat,
    collect_invocations,
    fill_missing,
    has_cuda,
    normalized,
    prompt_format,
    record,
)

__all__ = [
    "BACKENDS",
    "MISSING_LOGPROB",
    "SENTINEL",
    "ChatFormat",
    "LLMBackend",
    "LLMError",
    "PlainFormat",
    "collect_invocations",
    "fill_missing",
    "has_cuda",
    "load_backend",
    "normalized",
    "prompt_format",
    "record",
]

BACKENDS = ("auto", "transformers", "vllm", "openai")


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
        raise LLMError(
            f"unknown backend '{name}'; choose from {', '.join(BACKENDS)}"
            + (f" or the installed plugins: {plugins}" if plugins else "")
        )
    if name == "auto":
        name = "vllm" if has_cuda() else "transformers"
    if name == "openai":
        from recchat.llm.openai_backend import OpenAIBackend

        if not options.get("base_url"):
            raise LLMError(
                "the openai backend needs base_url: the server's address ending in /v1 "
                "(the configuration's llm.base_url, or --base-url)"
            )
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
