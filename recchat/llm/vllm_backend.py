"""The in-process vLLM engine: ``LLM(...)`` plus ``SamplingParams``.

Label scoring asks for the exact label tokens' first-token logprobs (``logprob_token_ids``), so
no label is ever missing from a top-k list. Prefix caching is on: prompts that share a prefix of
at least one KV block (128 tokens on the CPU backend) reuse it. Permutations are generated under
a regular-expression constraint (``StructuredOutputsParams``), so they are well-formed by
construction.

vLLM starts its engine in a new process, with spawn on the CPU (and on a GPU once CUDA is
initialized). A spawned process runs the main script again from the top, so a script that
creates this backend outside an ``if __name__ == "__main__":`` guard would start a second engine
inside the first one's start-up and die with vLLM's "Engine core initialization failed". That is
caught before the engine starts (:func:`main_guard_problem`) and said as one :class:`LLMError`
that names the fix.
"""

from __future__ import annotations

import ast
import multiprocessing
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from recchat.llm.base import LLMError, has_cuda, prompt_format, record
from recchat.types import Invocation

if TYPE_CHECKING:
    from vllm import RequestOutput


GUARD_FIX = (
    "vLLM starts its engine in a new process with spawn, which runs {script} again from the top "
    "and so starts a second engine inside the first one's start-up. Put the code that creates the "
    'backend under `if __name__ == "__main__":` in {script}, or use the server backend '
    '(`vllm serve MODEL`, then [llm] backend = "openai" with its base_url).'
)


def has_main_guard(source: str) -> bool:
    """Whether a script's source has a top-level ``if __name__ == "__main__":`` block (an
    unreadable source counts as guarded: nothing is blamed on what cannot be read)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return True
    for node in tree.body:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Compare) and len(node.test.comparators) == 1:
            sides = [node.test.left, node.test.comparators[0]]
            names = [s.id for s in sides if isinstance(s, ast.Name)]
            texts = [s.value for s in sides if isinstance(s, ast.Constant)]
            if names == ["__name__"] and texts == ["__main__"]:
                return True
    return False


def main_guard_problem(
    *, start_method: str, script: str | None, module: str | None, guarded: bool, bootstrapping: bool
) -> bool:
    """Whether starting the engine now fails for want of a main guard.

    ``start_method``: how the engine's process will start ("spawn", "forkserver", "fork");
    ``script``: the main module's file (None for an interactive session, ``python -c`` or a
    notebook, which a spawned process does not run again); ``module``: the main module's name when
    it was run with ``python -m`` (``pkg.__main__`` is not run again, ``pkg.tool`` is);
    ``guarded``: whether the script has the guard; ``bootstrapping``: this process is itself a
    spawned child still running the main script (the engine is being created at its top level)."""
    if bootstrapping:
        return True
    if start_method not in ("spawn", "forkserver") or script is None or guarded:
        return False
    return not (module is not None and (module == "__main__" or module.endswith(".__main__")))


def _main_module() -> tuple[str | None, str | None, bool]:
    """The main module's (script, ``-m`` name, guarded)."""
    main = sys.modules.get("__main__")
    script = getattr(main, "__file__", None)
    spec = getattr(main, "__spec__", None)
    if script is None:
        return None, None, True
    try:
        guarded = has_main_guard(Path(script).read_text())
    except (OSError, UnicodeDecodeError):
        guarded = True
    return str(script), getattr(spec, "name", None), guarded


def _engine_start_method() -> str:
    """The start method vLLM will use for its engine process: spawn on the CPU, where its platform
    sets it, and on a GPU when asked to (VLLM_WORKER_MULTIPROC_METHOD) or once CUDA is initialized;
    no new process at all with VLLM_ENABLE_V1_MULTIPROCESSING=0."""
    if os.environ.get("VLLM_ENABLE_V1_MULTIPROCESSING", "1") == "0":
        return "none"
    if not has_cuda():
        return "spawn"
    import torch

    if torch.cuda.is_initialized():
        return "spawn"
    return os.environ.get("VLLM_WORKER_MULTIPROC_METHOD", "fork")


def check_main_guard(start_method: str | None = None) -> None:
    """Raise the :data:`GUARD_FIX` :class:`LLMError` when the engine cannot start for want of a
    main guard (``start_method``: the engine's, default what vLLM will pick)."""
    script, module, guarded = _main_module()
    bootstrapping = bool(getattr(multiprocessing.current_process(), "_inheriting", False))
    method = start_method or _engine_start_method()
    if main_guard_problem(
        start_method=method, script=script, module=module, guarded=guarded, bootstrapping=bootstrapping
    ):
        raise LLMError(GUARD_FIX.format(script=script or "the main script"))


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
        **engine_options: object,
    ):
        if not Path(model_dir).is_dir():
            raise LLMError(
                f"no model folder at {model_dir}; fetch the default one with: "
                "recchat assets fetch smollm2-135m-instruct"
            )
        # On CPU vLLM reserves RAM for its KV cache; its default (most of a NUMA node) fails on a
        # machine that runs anything else.
        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", str(kv_cache_gib))
        check_main_guard()  # before the engine: its failure would only say "initialization failed"
        from vllm import LLM

        gpu = has_cuda()
        try:
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
        except Exception as exc:
            # vLLM spawned its engine after all (a reason of its own): if the main script is
            # unguarded, that is why the engine died; say so, with the fix.
            try:
                check_main_guard("spawn")
            except LLMError as guard:
                raise guard from exc
            raise
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

    def _record(
        self, kind: str, outputs: list[RequestOutput], started: float, text: str, prompts: Sequence[str]
    ) -> None:
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
            "; ".join(max(r, key=r.__getitem__) for r in scored),
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
        json_schema: dict[str, object] | None = None,
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
