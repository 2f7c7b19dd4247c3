"""In-process transformers backend: a shared prefix computed once, last-position logits only.

For ``label_logprobs`` the prefix and every suffix run in one packed sequence under a block mask
that keeps suffixes from seeing each other, and the vocabulary projection is applied only at each
suffix's last position (bench/RESULTS.md). ``recchat tune-llm`` trains through the same pass.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recchat.llm.base import LLMError, prompt_format, record
from recchat.types import Invocation

if TYPE_CHECKING:
    import torch


class TransformersBackend:
    name = "transformers"
    structured_outputs = False  # no constrained decoding: callers validate

    def __init__(
        self, model_dir: Path, *, device: str | None = None, dtype: str = "float32", threads: int | None = None
    ):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if not Path(model_dir).is_dir():
            raise LLMError(
                f"no model folder at {model_dir}; fetch the default one with: "
                "recchat assets fetch smollm2-135m-instruct"
            )
        if threads:
            torch.set_num_threads(threads)
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        self.model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=getattr(torch, dtype)).to(self.device)
        self.model.eval()
        self.chat = prompt_format(self.tokenizer)
        self.invocations: list[Invocation] = []
        self.model_dir = Path(model_dir)
        self.model_name = self.model_dir.name

    def _ids(self, text: str) -> list[int]:
        return self.tokenizer.encode(text, add_special_tokens=False)

    def _split_tokens(self, prefix: str, suffixes: Sequence[str]) -> tuple[list[int], list[list[int]]]:
        # Tokenize each whole prompt, then share the longest common token prefix: tokenizing the
        # prefix text alone can merge differently at the boundary and change the answer.
        full = [self._ids(self.chat.render(prefix + s)) for s in suffixes]
        common = min(len(f) for f in full) - 1
        for f in full[1:]:
            common = next((i for i, (a, b) in enumerate(zip(full[0][:common], f)) if a != b), common)
        return full[0][:common], [f[common:] for f in full]

    def answer_logits(self, prefix: str, suffixes: Sequence[str], *, grad: bool = False) -> torch.Tensor:
        """Next-token logits after each ``prefix + suffix`` prompt, one row per suffix.

        The prefix and every suffix go in ONE sequence under a block mask: each suffix sees the
        prefix and itself, never another suffix, and its positions restart after the prefix. The
        prefix is computed once and nothing is copied per candidate; the vocabulary projection is
        applied only at each suffix's last token. Sliding-window layers (Gemma 3) get their own
        mask with the window applied by position, so prompts longer than the window work.
        ``grad=True`` keeps the graph (tuning); otherwise inference mode.
        """
        return self._packed_logits(*self._split_tokens(prefix, suffixes), grad=grad)

    def _packed_logits(self, head_ids: list[int], tail_ids: list[list[int]], *, grad: bool) -> torch.Tensor:
        import torch

        prefix_len = len(head_ids)
        packed = [t for ids in tail_ids for t in ids]
        total = prefix_len + len(packed)
        allowed = torch.zeros((total, total), dtype=torch.bool)
        allowed[:prefix_len, :prefix_len] = torch.tril(torch.ones((prefix_len, prefix_len), dtype=torch.bool))
        positions, ends, offset = list(range(prefix_len)), [], prefix_len
        for ids in tail_ids:
            size = len(ids)
            allowed[offset : offset + size, :prefix_len] = True
            allowed[offset : offset + size, offset : offset + size] = torch.tril(
                torch.ones((size, size), dtype=torch.bool)
            )
            positions.extend(range(prefix_len, prefix_len + size))
            offset += size
            ends.append(offset - 1)
        pos = torch.tensor(positions)
        mask: Any = allowed[None, None].to(self.device)
        config = getattr(self.model, "config", None)
        window = getattr(getattr(config, "get_text_config", lambda: config)(), "sliding_window", None)
        layer_types = getattr(getattr(config, "get_text_config", lambda: config)(), "layer_types", None) or []
        if window and "sliding_attention" in layer_types:
            near = (pos[:, None] - pos[None, :]) < window
            mask = {"full_attention": mask, "sliding_attention": (allowed & near)[None, None].to(self.device)}
        decoder, head_layer = self.model.get_decoder(), self.model.get_output_embeddings()
        with torch.set_grad_enabled(grad), torch.inference_mode(not grad):
            hidden = decoder(
                input_ids=torch.tensor([head_ids + packed], device=self.device),
                attention_mask=mask,
                position_ids=pos[None].to(self.device),
                use_cache=False,
            ).last_hidden_state
            logits = head_layer(hidden[0, torch.tensor(ends, device=self.device)]).float()
            cap = getattr(getattr(config, "get_text_config", lambda: config)(), "final_logit_softcapping", None)
            if cap:
                logits = torch.tanh(logits / cap) * cap
        return logits

    def label_logprobs(self, prefix: str, suffixes: Sequence[str], labels: Sequence[str]) -> list[dict[str, float]]:
        import torch

        started = time.perf_counter()
        label_ids = self.chat.label_ids(labels)
        head_ids, tail_ids = self._split_tokens(prefix, suffixes)
        logits = self._packed_logits(head_ids, tail_ids, grad=False)
        logprobs = torch.log_softmax(logits, dim=-1)[:, label_ids].cpu()
        n = len(suffixes)
        out = [{label: float(row[j]) for j, label in enumerate(labels)} for row in logprobs]
        record(
            self,
            Invocation(
                self.name,
                "label_logprobs",
                n,
                len(head_ids) * n + sum(map(len, tail_ids)),
                len(head_ids) * (n - 1),
                time.perf_counter() - started,
                output="; ".join(f"{max(o, key=o.__getitem__)}" for o in out),
            ),
            prompts=[prefix, *suffixes],
        )
        return out

    def label_logprobs_naive(
        self, prefix: str, suffixes: Sequence[str], labels: Sequence[str]
    ) -> list[dict[str, float]]:
        """One full prompt per suffix with logits at every position: the baseline the bench beats."""
        import torch

        label_ids = self.chat.label_ids(labels)
        out = []
        for suffix in suffixes:
            ids = self._ids(self.chat.render(prefix + suffix))
            with torch.inference_mode():
                logits = self.model(input_ids=torch.tensor([ids], device=self.device)).logits[0, -1].float()
            lp = torch.log_softmax(logits, dim=-1)[label_ids].cpu()
            out.append({label: float(lp[j]) for j, label in enumerate(labels)})
        return out

    def generate(
        self,
        prompts: Sequence[str],
        *,
        max_tokens: int,
        regex: str | None = None,
        json_schema: dict[str, object] | None = None,
        batch: int = 8,
    ) -> list[str]:
        # transformers has no grammar-constrained decoding here: the caller validates and repairs.
        # Prompts are decoded together (left-padded), which on a CPU costs far less than one by one.
        import torch

        outputs = []
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.tokenizer.eos_token_id
        for start in range(0, len(prompts), batch):
            started = time.perf_counter()
            seqs = [self._ids(self.chat.render(p)) for p in prompts[start : start + batch]]
            width = max(map(len, seqs))
            ids = torch.tensor([[pad] * (width - len(s)) + s for s in seqs], device=self.device)
            mask = torch.tensor([[0] * (width - len(s)) + [1] * len(s) for s in seqs], device=self.device)
            with torch.inference_mode():
                out = self.model.generate(
                    input_ids=ids, attention_mask=mask, max_new_tokens=max_tokens, do_sample=False, pad_token_id=pad
                )
            texts = self.tokenizer.batch_decode(out[:, width:], skip_special_tokens=True)
            record(
                self,
                Invocation(
                    self.name,
                    "generate",
                    len(seqs),
                    sum(map(len, seqs)),
                    0,
                    time.perf_counter() - started,
                    output=" | ".join(texts),
                ),
                prompts=prompts[start : start + batch],
            )
            outputs.extend(texts)
        return outputs
