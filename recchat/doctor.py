"""Environment checks: prove that each real component loads and answers before anything is built on it.

``recchat doctor`` runs these: the embedder embeds, Chroma stores and finds, the converted LLM
answers a chat prompt in transformers, and the vLLM engine loads the same folder and returns
first-token logprobs. Each check returns a small dict that the CLI prints and the tests assert on.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

    from recchat.llm.vllm_backend import VLLMBackend

PROBE_QUESTION = "Would someone who loved Toy Story enjoy Aladdin? Answer Yes or No."


def _chat_prompt(tokenizer: PreTrainedTokenizerBase, question: str) -> str:
    return tokenizer.apply_chat_template(
        [{"role": "user", "content": question}], tokenize=False, add_generation_prompt=True
    )


def check_embedder() -> dict[str, object]:
    from recchat.index import MiniLMEmbeddingFunction

    started = time.perf_counter()
    vectors = MiniLMEmbeddingFunction().encode(["a funny animated movie", "a dark crime thriller"])
    return {
        "check": "embedder",
        "dim": int(vectors.shape[1]),
        "similarity": float(vectors[0] @ vectors[1]),
        "seconds": time.perf_counter() - started,
    }


def check_chroma() -> dict[str, object]:
    from recchat.index import ItemIndex
    from recchat.types import Item

    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        index = ItemIndex("doctor-check", path=tmp)
        index.build(
            [
                Item("1", "Toy Story", "Toy Story (1995). Animation, Comedy."),
                Item("2", "Heat", "Heat (1995). Crime, Thriller."),
            ],
            progress=False,
        )
        top = index.query("cartoon for kids", k=1)[0].item.id
    return {"check": "chroma", "top": top, "seconds": time.perf_counter() - started}


def check_transformers(model_dir: Path | None = None, max_new_tokens: int = 12) -> dict[str, object]:
    """Load the model folder in transformers and answer one chat prompt greedily."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from recchat.assets import llm_path

    model_dir = Path(model_dir or llm_path())
    started = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    model.eval()
    loaded = time.perf_counter() - started
    inputs = tokenizer(_chat_prompt(tokenizer, PROBE_QUESTION), return_tensors="pt")
    with torch.inference_mode():
        out = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
        logits = model(**inputs, logits_to_keep=1).logits[0, -1]
    answer = tokenizer.decode(out[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
    yes, no = (tokenizer.encode(w, add_special_tokens=False) for w in ("Yes", "No"))
    logprobs = torch.log_softmax(logits.float(), dim=-1)
    return {
        "check": "transformers",
        "answer": answer.strip(),
        "load_seconds": loaded,
        "yes_no_single_tokens": len(yes) == 1 and len(no) == 1,
        "logprob_yes": float(logprobs[yes[0]]),
        "logprob_no": float(logprobs[no[0]]),
        "seconds": time.perf_counter() - started,
    }


def check_vllm(model_dir: Path | None = None, backend: VLLMBackend | None = None) -> dict[str, object]:
    """Start the in-process vLLM engine on the model folder and read first-token logprobs
    (``backend``: a VLLMBackend already started, whose engine is probed instead).

    vLLM starts its workers with spawn, so the caller's main module must be import-safe (an
    ``if __name__ == "__main__"`` guard); the ``recchat`` console script is.
    """
    from vllm import SamplingParams

    from recchat.assets import llm_path
    from recchat.llm.vllm_backend import VLLMBackend

    started = time.perf_counter()
    llm = (backend or VLLMBackend(Path(model_dir or llm_path()))).llm  # the engine recchat itself uses
    loaded = time.perf_counter() - started
    tokenizer = llm.get_tokenizer()
    prompt = _chat_prompt(tokenizer, PROBE_QUESTION)
    out = llm.generate([prompt], SamplingParams(max_tokens=1, temperature=0.0, logprobs=20), use_tqdm=False)[0]
    top = {lp.decoded_token: lp.logprob for lp in out.outputs[0].logprobs[0].values()}
    return {
        "check": "vllm",
        "first_token": out.outputs[0].text,
        "top_logprobs": top,
        "load_seconds": loaded,
        "seconds": time.perf_counter() - started,
    }


CHECKS = {"embedder": check_embedder, "chroma": check_chroma, "transformers": check_transformers, "vllm": check_vllm}
