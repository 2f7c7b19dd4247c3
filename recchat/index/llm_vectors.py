"""Item vectors from a small LLM's hidden states: content features for the scorer's item tower.

An encoder is named ``<model>-<variant>``:

- model: ``smollm2`` (the SmolLM2-135M-Instruct asset) or ``gemma3`` (the Gemma 3 270M asset);
- variant: ``mean`` (the last layer's hidden states averaged over the item text's tokens, special
  tokens left out), ``last`` (the hidden state at the text's last token), or ``prompt`` (the last
  token of a short instruction around the text, PromptEOL-style:
  ``This item: "<text>" means in one word: "``).

``minilm`` names the index's MiniLM vectors, and ``+`` joins encoders into one longer vector
(``minilm+smollm2-mean``); :func:`recchat.retrieve.item_text_vectors` assembles them.

The raw hidden states are computed once per text and kept in :class:`VectorCache` (one file per
model, pass and pooling, as the index keeps MiniLM's), so a later run embeds nothing; one forward
pass fills both poolings. :func:`content_vectors` then centres them over the catalog and scales
them to unit length: an LLM's hidden states share a large common direction and a few huge
dimensions, which would otherwise swamp what tells one item from another.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from recchat.index.embed import VectorCache

if TYPE_CHECKING:
    from recchat.data.catalog import Catalog


@dataclass(frozen=True)
class LLMAsset:
    asset: str  # the model asset's name (recchat.assets.llm_path)
    bos: bool  # prepend the BOS token (Gemma expects it; its tokenizer here does not add it)


LLM_MODELS = {
    "smollm2": LLMAsset("smollm2-135m-instruct", bos=False),
    "gemma3": LLMAsset("gemma3-270m", bos=True),
}
VARIANTS = ("mean", "last", "prompt")
PROMPT = 'This {kind}: "{text}" means in one word: "'
PROMPT_VERSION = "eol1"  # part of the cache's name: a new prompt is a new cache
MAX_CHARS = 2000  # item text kept per item (before the prompt is built)
MAX_TOKENS = 512


def encoder_names() -> list[str]:
    """Every single encoder: ``minilm`` and each LLM model with each variant."""
    return ["minilm", *(f"{m}-{v}" for m in LLM_MODELS for v in VARIANTS)]


def parse_encoder(spec: str) -> list[str]:
    """The encoders of a ``+``-joined name, checked (``minilm+smollm2-mean`` -> two)."""
    parts = [p.strip().lower() for p in str(spec).split("+") if p.strip()]
    known = encoder_names()
    wrong = [p for p in parts if p not in known]
    if not parts or wrong or len(set(parts)) != len(parts):
        raise ValueError(
            f"unknown text encoder '{spec}'; choose from {', '.join(known)}, or join several with '+' "
            "(for example minilm+smollm2-mean)"
        )
    return parts


class Tokenizer(Protocol):
    """What the encoder needs of a Hugging Face tokenizer."""

    all_special_ids: list[int]
    bos_token_id: int | None

    def __call__(self, text: str, *, add_special_tokens: bool) -> dict[str, list[int]]: ...


HiddenModel = Callable[..., Any]  # model(input_ids=, attention_mask=) -> .last_hidden_state [B, L, D]


class LLMTextEncoder:
    """Pooled hidden states of one LLM for item texts, computed in length-sorted batches.

    ``tokenizer`` and ``model`` are loaded from the model asset on first use unless given (tests
    give tiny fakes).
    """

    def __init__(
        self,
        model: str,
        *,
        tokenizer: Tokenizer | None = None,
        network: HiddenModel | None = None,
        batch_size: int = 16,
        kind: str = "item",
    ):
        if model not in LLM_MODELS:
            raise ValueError(f"unknown LLM encoder model '{model}'; choose from {', '.join(LLM_MODELS)}")
        self.model, self.spec = model, LLM_MODELS[model]
        self.tokenizer, self.network = tokenizer, network
        self.batch_size, self.kind = batch_size, kind
        self.passes = 0  # forward passes run (tests check that cached texts cost none)

    def identity(self, prompted: bool, pooling: str) -> str:
        """Names the cache of one pass (plain text or the prompt) and pooling (mean or last)."""
        kind = f"prompt-{PROMPT_VERSION}-{self.kind}" if prompted else "plain"
        return f"llm-{self.spec.asset}-{kind}-{pooling}"

    def _load(self) -> tuple[Tokenizer, HiddenModel]:
        if self.tokenizer is None or self.network is None:
            import torch
            from transformers import AutoModel, AutoTokenizer

            from recchat.assets import llm_path

            path = llm_path(self.spec.asset)
            self.tokenizer = AutoTokenizer.from_pretrained(path)
            network = AutoModel.from_pretrained(path, dtype=torch.float32)
            network.eval()
            self.network = network
        assert self.tokenizer is not None and self.network is not None
        return self.tokenizer, self.network

    def _ids(self, tokenizer: Tokenizer, text: str, prompted: bool) -> list[int]:
        text = text[:MAX_CHARS]
        ids = list(
            tokenizer(PROMPT.format(kind=self.kind, text=text) if prompted else text, add_special_tokens=True)[
                "input_ids"
            ]
        )
        bos = tokenizer.bos_token_id
        if self.spec.bos and bos is not None and (not ids or ids[0] != bos):
            ids = [bos, *ids]
        return ids[-MAX_TOKENS:] if prompted else ids[:MAX_TOKENS]

    def run(self, texts: Sequence[str], prompted: bool, *, progress: bool = True) -> dict[str, np.ndarray]:
        """Both poolings of one pass over ``texts``, uncached: ``{"mean": [n, d], "last": [n, d]}``."""
        import torch
        from tqdm.auto import tqdm

        tokenizer, network = self._load()
        special = set(tokenizer.all_special_ids)
        ids = [self._ids(tokenizer, t, prompted) for t in texts]
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        mean: dict[int, np.ndarray] = {}
        last: dict[int, np.ndarray] = {}
        bar = tqdm(
            total=len(ids), desc=f"{self.model} {'prompt' if prompted else 'text'} vectors", disable=not progress
        )
        for start in range(0, len(order), self.batch_size):
            rows = order[start : start + self.batch_size]
            width = max(1, *(len(ids[i]) for i in rows))
            input_ids = torch.zeros((len(rows), width), dtype=torch.long)
            attention = torch.zeros((len(rows), width), dtype=torch.long)
            for r, i in enumerate(rows):  # right padding: positions count from 0 for every row
                input_ids[r, : len(ids[i])] = torch.tensor(ids[i], dtype=torch.long)
                attention[r, : len(ids[i])] = 1
            with torch.inference_mode():
                out = network(input_ids=input_ids, attention_mask=attention)
                hidden = out.last_hidden_state.float()
            self.passes += 1
            for r, i in enumerate(rows):
                n = len(ids[i])
                content = [p for p in range(n) if ids[i][p] not in special] or list(range(n))
                mean[i] = hidden[r, content].mean(0).numpy()
                last[i] = hidden[r, max(n - 1, 0)].numpy()
            bar.update(len(rows))
        bar.close()
        return {
            pooling: np.asarray([found[i] for i in range(len(ids))], dtype=np.float32).reshape(len(ids), -1)
            for pooling, found in (("mean", mean), ("last", last))
        }

    def encode(self, texts: Sequence[str], variant: str, *, cache: bool = True, progress: bool = True) -> np.ndarray:
        """Raw vectors of ``variant`` for ``texts``; with ``cache``, texts seen before cost nothing and
        a new pass stores both of its poolings."""
        if variant not in VARIANTS:
            raise ValueError(f"unknown variant '{variant}'; choose from {', '.join(VARIANTS)}")
        prompted = variant == "prompt"
        pooling = "last" if prompted else variant
        texts = list(texts)
        store = VectorCache.default(self.identity(prompted, pooling)) if cache else None
        known = store.get(texts) if store else {}
        missing = [t for t in dict.fromkeys(texts) if t not in known]
        if missing:
            fresh = self.run(missing, prompted, progress=progress)
            if cache:
                for name, vectors in fresh.items():
                    VectorCache.default(self.identity(prompted, name)).put(dict(zip(missing, vectors)))
            known = {**known, **dict(zip(missing, fresh[pooling]))}
        return np.asarray([known[t] for t in texts], dtype=np.float32).reshape(len(texts), -1)


def content_vectors(raw: np.ndarray, present: np.ndarray | None = None) -> np.ndarray:
    """Centre the rows in ``present`` (all by default) on their mean and scale them to unit length;
    the other rows (items without text) stay zero."""
    raw = np.asarray(raw, dtype=np.float32)
    present = np.ones(len(raw), dtype=bool) if present is None else np.asarray(present, dtype=bool)
    out = np.zeros_like(raw)
    if not present.any():
        return out
    centred = raw[present] - raw[present].mean(axis=0, keepdims=True)
    norms = np.linalg.norm(centred, axis=1, keepdims=True)
    out[present] = np.divide(centred, norms, out=np.zeros_like(centred), where=norms > 0)
    return out


def llm_item_vectors(
    catalog: Catalog, encoder: str, *, progress: bool = True, text_encoder: LLMTextEncoder | None = None
) -> np.ndarray:
    """One LLM encoder's vectors (``smollm2-mean`` ...) for every catalog item, in catalog order,
    made by :func:`content_vectors`; items with empty text get zeros."""
    model, _, variant = encoder.partition("-")
    text_encoder = text_encoder or LLMTextEncoder(model)
    texts = [item.text for item in catalog]
    present = np.array([bool(t) for t in texts])
    with_text = [t for t in texts if t]
    raw = text_encoder.encode(with_text, variant, progress=progress)
    full = np.zeros((len(texts), raw.shape[1] if len(raw) else 1), dtype=np.float32)
    full[present] = raw
    return content_vectors(full, present)
