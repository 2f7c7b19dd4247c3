"""The in-process vLLM engine: ``LLM(...)`` plus ``SamplingParams``.

Label scoring asks for the exact label tokens' first-token logprobs (``logprob_token_ids``), so
no label is ever missing from a top-k list. Prefix caching is on: prompts that share a prefix of
at least one KV block (128 tokens on the CPU backend) reuse it. Permutations are generated under
a regular-expression constraint (``StructuredOutputsParams``), so they are well-formed by
construction. vLLM starts worker processes with spawn: a script that creates this backend needs
an ``if __name__ == "__main__":`` guard.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from recchat.llm.base import LLMError, has_cuda, prompt_format, record
from recchat.types import Invocation


class VLLMBackend:
    name = "vllm"
    structured_outputs = True  # JSON-schema / regex constrained decoding

    def __init__(
        self,
        model_dir: Path,
        *,
        max_model_len: int = 4096,
        gpu_memory_utilization: float | None = None,
        kv_cache_gib: int = 1,
        seed: int = 0,
        **engine_options: Any,
    ):
        if not Path(model_dir).is_dir():
            raise LLMError(
                f"no model folder at {model_dir}; fetch the default one with: "
                "recchat assets fetch smollm2-135m-instruct"
            )
        # On CPU vLLM reserves RAM for its KV cache; its default (most of a NUMA node) fails on a
        # machine that runs anything else.
        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", str(kv_cache_gib))
        from vllm import LLM

        gpu = has_cuda()
        self.llm = LLM(
            model=str(model_dir),
            dtype="auto" if gpu else "float32",
            enforce_eager=not gpu,
            max_model_len=max_model_len,
            enable_prefix_caching=True,
            seed=seed,
            gpu_memory_utilization=gpu_memory_utilization or (0.5 if gpu else 0.3),
            **engine_options,
        )
        self.tokenizer = self.llm.get_tokenizer()
        self.chat = prompt_format(self.tokenizer)
        self.model_name = Path(model_dir).name
        self.invocations: list[Invocation] = []

    def _prompts(self, texts: Sequence[str]) -> list[dict[str, list[int]]]:
        # Rendered prompts already hold any special tokens the format wants (PlainFormat's <bos>);
        # vLLM's own tokenization would add a second one, so the engine gets token ids.
        return [
            {"prompt_token_ids": self.tokenizer.encode(self.chat.render(t), add_special_tokens=False)} for t in texts
        ]

    def _record(self, kind: str, outputs: list[Any], started: float, text: str, prompts: Sequence[str]) -> None:
        record(
            self,
            Invocation(
                self.name,
                kind,
                len(outputs),
                sum(len(o.prompt_token_ids) for o in outputs),
                sum(o.num_cached_tokens or 0 for o in outputs),
                time.perf_counter() - started,
                output=text,
            ),
            prompts,
        )

    def label_logprobs(self, prefix: str, suffixes: Sequence[str], labels: Sequence[str]) -> list[dict[str, float]]:
        return self.label_logprobs_many([(prefix, suffixes, labels)])[0]

    def label_logprobs_many(
        self, requests: Sequence[tuple[str, Sequence[str], Sequence[str]]]
    ) -> list[list[dict[str, float]]]:
        """Several ``(prefix, suffixes, labels)`` requests with the same labels in one engine call
        (recchat.llm.gather sends those of concurrent sessions): the engine batches them."""
        from vllm import SamplingParams

        started = time.perf_counter()
        labels = list(requests[0][2])
        if any(list(r[2]) != labels for r in requests):
            raise LLMError("label_logprobs_many needs the same labels in every request")
        ids = self.chat.label_ids(labels)
        params = SamplingParams(max_tokens=1, temperature=0.0, logprob_token_ids=ids)
        outputs = self.llm.generate(
            self._prompts([p + s for p, suffixes, _ in requests for s in suffixes]), params, use_tqdm=False
        )
        scored = []
        for out in outputs:
            step = out.outputs[0].logprobs[0]
            scored.append({label: float(step[i].logprob) for label, i in zip(labels, ids)})
        self._record(
            "label_logprobs",
            outputs,
            started,
            "; ".join(max(r, key=r.get) for r in scored),
            [x for p, suffixes, _ in requests for x in (p, *suffixes)],
        )
        results, start = [], 0
        for _, suffixes, _ in requests:
            results.append(scored[start : start + len(suffixes)])
            start += len(suffixes)
        return results

    def generate(
        self,
        prompts: Sequence[str],
        *,
        max_tokens: int,
        regex: str | None = None,
        json_schema: dict[str, Any] | None = None,
    ) -> list[str]:
        from vllm import SamplingParams
        from vllm.sampling_params import StructuredOutputsParams

        started = time.perf_counter()
        constraint = (
            StructuredOutputsParams(regex=regex)
            if regex
            else StructuredOutputsParams(json=json_schema)
            if json_schema
            else None
        )
        params = SamplingParams(max_tokens=max_tokens, temperature=0.0, structured_outputs=constraint)
        outputs = self.llm.generate(self._prompts(prompts), params, use_tqdm=False)
        texts = [o.outputs[0].text for o in outputs]
        self._record("generate", outputs, started, " | ".join(texts), prompts)
        return texts
