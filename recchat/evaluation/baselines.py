"""The non-learned rankers the evaluation harness measures the scorer against.

Each scores the whole catalog at once for a batch of histories (``score_histories``, the
:class:`~recchat.evaluation.protocol.Ranker` interface); ``retrieve`` is the same scores cut to
the top ``k``.

- :class:`Popularity`: how often each item occurs in the training interactions.
- :class:`ItemKNN`: cosine similarity of item co-occurrence columns, summed over the user's
  most recent items.
- :class:`TextRetriever`: MiniLM similarity to the mean vector of the user's most recent items,
  with the vectors read from the Chroma item index.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from recchat.data.catalog import Catalog
from recchat.data.split import Split
from recchat.retrieve import item_text_vectors
from recchat.types import Candidate

if TYPE_CHECKING:
    from recchat.index import ItemIndex


class IndexedRanker:
    """Shared plumbing: item-id <-> index mapping and top-k retrieval from full score vectors."""

    name = "ranker"

    def __init__(self, catalog: Catalog):
        self.catalog = catalog
        self.item_ids = [item.id for item in catalog]
        self.position = {item_id: i for i, item_id in enumerate(self.item_ids)}

    def fit(self, split: Split) -> None:  # most rankers learn nothing
        if split.item_ids != self.item_ids:
            raise ValueError(f"{self.name}: the split's items are not this catalog's items")

    def score_histories(self, histories: Sequence[np.ndarray]) -> np.ndarray:
        raise NotImplementedError

    def indices(self, item_ids: Sequence[str]) -> np.ndarray:
        missing = [i for i in item_ids if i not in self.position]
        if missing:
            raise KeyError(f"{len(missing)} items are not in the catalog (first: '{missing[0]}')")
        return np.array([self.position[i] for i in item_ids], dtype=np.int64)

    def retrieve(self, history: Sequence[str], k: int, exclude: Sequence[str] = ()) -> list[Candidate]:
        scores = self.score_histories([self.indices(history)])[0].astype(np.float64)
        scores[self.indices([*history, *exclude])] = -np.inf
        k = min(k, int(np.isfinite(scores).sum()))
        top = np.argpartition(-scores, k - 1)[:k] if k > 0 else np.zeros(0, dtype=np.int64)
        top = top[np.argsort(-scores[top], kind="stable")]
        return [
            Candidate(self.catalog[self.item_ids[i]], float(scores[i]), self.name, {self.name: float(scores[i])})
            for i in top
        ]


class Popularity(IndexedRanker):
    """Every user gets the items most often seen in training."""

    name = "popularity"

    def __init__(self, catalog: Catalog):
        super().__init__(catalog)
        self.counts = np.zeros(len(self.item_ids))

    def fit(self, split: Split) -> None:
        super().fit(split)
        self.counts = split.train_counts().astype(np.float64)

    def score_histories(self, histories: Sequence[np.ndarray]) -> np.ndarray:
        return np.broadcast_to(self.counts, (len(histories), len(self.counts)))


class ItemKNN(IndexedRanker):
    """Item-to-item cosine on binary training co-occurrence, summed over the last ``recent`` items."""

    name = "item-knn"

    def __init__(self, catalog: Catalog, recent: int = 20):
        super().__init__(catalog)
        self.recent = recent
        self.similarity = np.zeros((len(self.item_ids), len(self.item_ids)), dtype=np.float32)

    def fit(self, split: Split) -> None:
        super().fit(split)
        n = split.n_items
        matrix = np.zeros((len(split.train), n), dtype=np.float32)
        for u, seq in enumerate(split.train):
            matrix[u, seq] = 1.0
        co = matrix.T @ matrix
        norms = np.sqrt(np.diag(co)).astype(np.float32)
        with np.errstate(divide="ignore", invalid="ignore"):
            sim = co / np.outer(norms, norms)
        sim[~np.isfinite(sim)] = 0.0
        np.fill_diagonal(sim, 0.0)
        self.similarity = sim.astype(np.float32)

    def score_histories(self, histories: Sequence[np.ndarray]) -> np.ndarray:
        out = np.zeros((len(histories), self.similarity.shape[0]), dtype=np.float32)
        for r, history in enumerate(histories):
            if len(history):
                out[r] = self.similarity[history[-self.recent :]].sum(axis=0)
        return out


class TextRetriever(IndexedRanker):
    """Items whose MiniLM text vectors are nearest the mean of the user's last ``recent`` items.

    The vectors come from the Chroma item index (``ItemIndex.embeddings``); items without text
    (not embedded) get a zero vector and so score 0.
    """

    name = "text"

    def __init__(self, catalog: Catalog, vectors: np.ndarray, recent: int = 5):
        super().__init__(catalog)
        if vectors.shape[0] != len(self.item_ids):
            raise ValueError(f"{vectors.shape[0]} vectors for {len(self.item_ids)} items")
        self.vectors = vectors.astype(np.float32)
        self.recent = recent

    @classmethod
    def from_index(cls, catalog: Catalog, index: ItemIndex, recent: int = 5) -> TextRetriever:
        return cls(catalog, item_text_vectors(catalog, index), recent)

    def score_histories(self, histories: Sequence[np.ndarray]) -> np.ndarray:
        queries = np.zeros((len(histories), self.vectors.shape[1]), dtype=np.float32)
        for r, history in enumerate(histories):
            if len(history):
                queries[r] = self.vectors[history[-self.recent :]].mean(axis=0)
        norms = np.linalg.norm(queries, axis=1, keepdims=True)
        queries = np.divide(queries, norms, out=np.zeros_like(queries), where=norms > 0)
        return queries @ self.vectors.T
