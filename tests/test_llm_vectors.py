"""Item vectors from an LLM's hidden states (recchat.index.llm_vectors): pooling, the prompt, BOS,
the cache and the encoder names, on a tiny fake tokenizer and network; one full-tier test runs
SmolLM2 on a handful of items."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

import recchat.index.llm_vectors as llm_vectors
from recchat.index.llm_vectors import (
    PROMPT,
    LLMTextEncoder,
    content_vectors,
    encoder_names,
    llm_item_vectors,
    parse_encoder,
)
from recchat.retrieve import item_text_vectors, text_vectors_for

BOS = 1


class FakeTokenizer:
    """One id per character (3..52); id 1 is BOS, 0 and 2 the other special tokens."""

    all_special_ids = [0, 1, 2]
    bos_token_id = BOS

    def __init__(self, add_bos: bool = False):
        self.add_bos = add_bos
        self.seen: list[str] = []

    def __call__(self, text: str, *, add_special_tokens: bool) -> dict[str, list[int]]:
        self.seen.append(text)
        ids = [3 + ord(ch) % 50 for ch in text]
        return {"input_ids": ([BOS] if self.add_bos and add_special_tokens else []) + ids}


class FakeNetwork:
    """A causal 'model': the hidden state at position p is the mean of the token vectors up to p
    (padding after the text never reaches it, as in a real causal model)."""

    def __init__(self, dim: int = 4):
        self.table = np.random.default_rng(0).normal(size=(60, dim)).astype(np.float32)

    def hidden(self, ids: list[int]) -> np.ndarray:
        x = self.table[ids]
        return np.cumsum(x, axis=0) / np.arange(1, len(ids) + 1)[:, None]

    def __call__(self, *, input_ids, attention_mask):
        import torch

        rows = []
        for ids, mask in zip(input_ids.tolist(), attention_mask.tolist()):
            n = sum(mask)
            h = np.zeros((len(ids), self.table.shape[1]), dtype=np.float32)
            h[:n] = self.hidden(ids[:n])
            h[n:] = 99.0  # whatever a padded position holds must never be used
            rows.append(h)
        return SimpleNamespace(last_hidden_state=torch.from_numpy(np.stack(rows)))


def encoder(model: str = "smollm2", add_bos: bool = False, batch_size: int = 16) -> LLMTextEncoder:
    return LLMTextEncoder(model, tokenizer=FakeTokenizer(add_bos), network=FakeNetwork(), batch_size=batch_size)


@pytest.mark.fast
def test_mean_and_last_pooling_leave_out_padding_and_special_tokens():
    texts = ["Heat", "Toy Story (1995)", "Alien"]
    enc = encoder(add_bos=True)
    out = enc.run(texts, prompted=False, progress=False)
    net = FakeNetwork()
    for i, text in enumerate(texts):
        ids = [BOS] + [3 + ord(ch) % 50 for ch in text]
        h = net.hidden(ids)
        assert np.allclose(out["last"][i], h[-1], atol=1e-6)  # the text's last token, not padding
        assert np.allclose(out["mean"][i], h[1:].mean(0), atol=1e-6)  # BOS left out of the mean
    one_by_one = encoder(add_bos=True, batch_size=1).run(texts, prompted=False, progress=False)
    for pooling in ("mean", "last"):
        assert np.allclose(out[pooling], one_by_one[pooling], atol=1e-6)


@pytest.mark.fast
def test_the_prompted_variant_wraps_the_text_and_gemma_gets_bos():
    enc = encoder()
    enc.encode(["Heat"], "prompt", cache=False, progress=False)
    assert enc.tokenizer is not None
    assert enc.tokenizer.seen == [PROMPT.format(kind="item", text="Heat")]  # type: ignore[attr-defined]
    gemma = encoder("gemma3")
    assert gemma._ids(FakeTokenizer(), "ab", prompted=False)[0] == BOS  # added when the tokenizer did not
    assert gemma._ids(FakeTokenizer(add_bos=True), "ab", prompted=False).count(BOS) == 1
    assert encoder()._ids(FakeTokenizer(), "ab", prompted=False)[0] != BOS  # SmolLM2: as tokenized


@pytest.mark.fast
def test_vectors_are_cached_and_one_pass_fills_both_poolings():
    enc = encoder(batch_size=2)
    texts = ["Heat", "Fargo", "Alien"]
    mean = enc.encode(texts, "mean", progress=False)
    passes = enc.passes
    assert passes == 2
    assert np.array_equal(enc.encode(texts, "mean", progress=False), mean)
    last = enc.encode(texts[::-1], "last", progress=False)  # filled by the same pass
    assert enc.passes == passes
    assert np.allclose(last[::-1], enc.run(texts, prompted=False, progress=False)["last"])
    before = enc.passes
    enc.encode(["Heat", "Casablanca"], "mean", progress=False)  # only the new text runs
    assert enc.passes == before + 1
    with pytest.raises(ValueError, match="variant"):
        enc.encode(texts, "max")


@pytest.mark.fast
def test_encoder_names():
    assert "minilm" in encoder_names() and "gemma3-prompt" in encoder_names() and len(encoder_names()) == 7
    assert parse_encoder("MiniLM + smollm2-mean") == ["minilm", "smollm2-mean"]
    for wrong in ("bert", "minilm+minilm", "", "smollm2"):
        with pytest.raises(ValueError, match="text encoder"):
            parse_encoder(wrong)
    with pytest.raises(ValueError, match="model"):
        LLMTextEncoder("llama")


@pytest.mark.fast
def test_content_vectors_are_centred_unit_rows_and_empty_texts_stay_zero():
    raw = np.array([[10.0, 1.0], [10.0, 3.0], [0.0, 0.0], [10.0, 2.0]])
    present = np.array([True, True, False, True])
    out = content_vectors(raw, present)
    assert np.allclose(out[2], 0)
    assert np.allclose(out[[0, 1]], [[0, -1], [0, 1]]) and np.allclose(out[3], 0)  # the mean item is 0


@pytest.mark.fast
def test_item_text_vectors_join_minilm_and_an_llm(tiny, tiny_index, monkeypatch):
    monkeypatch.setattr(llm_vectors, "LLMTextEncoder", lambda model: encoder(model))
    llm = llm_item_vectors(tiny.catalog, "smollm2-mean", progress=False)
    assert llm.shape == (12, 4) and np.allclose(np.linalg.norm(llm, axis=1), 1, atol=1e-5)
    both = item_text_vectors(tiny.catalog, tiny_index, "minilm+smollm2-mean", progress=False)
    minilm = item_text_vectors(tiny.catalog, tiny_index)
    assert both.shape == (12, minilm.shape[1] + 4)
    assert np.allclose(both[:, : minilm.shape[1]] * np.sqrt(2), minilm, atol=1e-6)
    assert np.allclose(np.linalg.norm(both, axis=1), 1, atol=1e-5)
    with pytest.raises(ValueError, match="index"):
        item_text_vectors(tiny.catalog, None)


@pytest.mark.fast
def test_new_items_get_the_rows_of_the_whole_catalog_not_vectors_centred_on_themselves(tiny, tiny_index, monkeypatch):
    """A scorer loaded against a changed catalog serves new items from these rows (recchat.scorer_update)."""
    from recchat.data.catalog import Catalog

    monkeypatch.setattr(llm_vectors, "LLMTextEncoder", lambda model: encoder(model))
    new = Catalog([tiny.catalog[i] for i in [item.id for item in tiny.catalog][-3:]])
    full = item_text_vectors(tiny.catalog, tiny_index, "smollm2-mean", progress=False)
    served = text_vectors_for(new, tiny.catalog, tiny_index, "smollm2-mean")
    assert np.allclose(served, full[-3:])
    assert not np.allclose(served, item_text_vectors(new, tiny_index, "smollm2-mean", progress=False))
    assert np.allclose(
        text_vectors_for(new, tiny.catalog, tiny_index), item_text_vectors(tiny.catalog, tiny_index)[-3:]
    )


def test_smollm2_vectors_for_a_handful_of_items(llm_dir):
    texts = ["Toy Story (1995). Genres: Animation, Children's, Comedy.", "Heat (1995). Genres: Crime.", "Alien"]
    enc = LLMTextEncoder("smollm2", batch_size=3)
    batched = enc.run(texts, prompted=False, progress=False)
    alone = LLMTextEncoder("smollm2", batch_size=1).run(texts, prompted=False, progress=False)
    for pooling in ("mean", "last"):
        assert batched[pooling].shape == (3, 576) and np.isfinite(batched[pooling]).all()
        assert np.allclose(batched[pooling], alone[pooling], atol=1e-3)  # right padding changes nothing
    prompted = enc.encode(texts, "prompt", cache=False, progress=False)
    assert prompted.shape == (3, 576) and not np.allclose(prompted, batched["last"])
