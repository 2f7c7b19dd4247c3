"""Candidate retrieval: the non-learned rankers, each also a baseline in the evaluation harness.

Two kinds of retrieval live here. At run time, :class:`CandidateSource` objects (the scorer's
top items, plugin retrievers, Chroma text matches) answer one :class:`CandidateRequest` each and
:func:`merge_candidates` merges them in one place, under the request's filter. For evaluation,
a retriever turns a user's history (item ids, oldest first) into scored candidates. All of them
work on item indices internally and score the whole catalog at once (``score_histories``), which
is what the evaluation protocol needs; ``retrieve`` is the same scores cut to the top ``k``.

- :class:`Popularity`: how often each item occurs in the training interactions.
- :class:`ItemKNN`: cosine similarity of item co-occurrence columns, summed over the user's
  most recent items.
- :class:`TextRetriever`: MiniLM similarity to the mean vector of the user's most recent items,
  with the vectors read from the Chroma item index.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from recchat.data.catalog import Catalog
from recchat.data.split import Split
from recchat.index import matches
from recchat.types import Candidate

# --------------------------------------------------------------------------- run time


@dataclass
class CandidateRequest:
    """What every candidate source is asked: a history, the user's words, a metadata filter,
    items never to return, and how many new candidates each source may add."""

    history: list[str]
    query: str | None = None
    where: dict[str, Any] | None = None
    exclude: list[str] = field(default_factory=list)
    k: int = 20

    @property
    def banned(self) -> set[str]:
        return set(self.history) | set(self.exclude)


class CandidateSource(Protocol):
    """One run-time source of candidates, best first; the merge applies the filter and the bans."""

    name: str

    def candidates(self, request: CandidateRequest) -> list[Candidate]: ...


class ScorerSource:
    """The trained scorer's top items for the history (behaviour)."""

    name = "scorer"

    def __init__(self, scorer: Any):
        self.scorer = scorer

    def candidates(self, request: CandidateRequest) -> list[Candidate]:
        known = [h for h in request.history if self.scorer.knows(h)]
        if not known:
            return []
        return self.scorer.topk(known, k=request.k * 5, exclude=[e for e in request.exclude if self.scorer.knows(e)])


class PluginSource:
    """A plugin :class:`Retriever` (``retrieve(history, k, exclude)``), its items taken from the catalog."""

    def __init__(self, retriever: Any, catalog: Catalog):
        self.retriever, self.catalog = retriever, catalog
        self.name = getattr(retriever, "name", type(retriever).__name__)

    def candidates(self, request: CandidateRequest) -> list[Candidate]:
        out = []
        for c in self.retriever.retrieve(list(request.history), request.k * 5, exclude=list(request.exclude)):
            if c.item.id in self.catalog:
                out.append(Candidate(self.catalog[c.item.id], c.score, self.name, {self.name: c.score}))
        return out


class TextSource:
    """Chroma text matches for the user's words, or for the texts of the last five history items."""

    name = "text"

    def __init__(self, index: Any, catalog: Catalog):
        self.index, self.catalog = index, catalog

    def candidates(self, request: CandidateRequest) -> list[Candidate]:
        text = request.query or " ; ".join(
            self.catalog[h].text for h in request.history[-5:] if h in self.catalog and self.catalog[h].text
        )
        if not text:
            return []
        hits = self.index.query(text, k=request.k + len(request.banned), where=request.where or None)
        return [
            Candidate(self.catalog[c.item.id], c.score, "text", {"text": c.score})
            for c in hits
            if c.item.id in self.catalog
        ]


def merge_candidates(sources: Sequence[Any], request: CandidateRequest, catalog: Catalog) -> list[Candidate]:
    """Each source in turn adds up to ``request.k`` new candidates that pass the filter and the bans."""
    banned, found = request.banned, {}
    for source in sources:
        taken = 0
        for c in source.candidates(request):
            if taken >= request.k:
                break
            item_id = c.item.id
            if (
                item_id in banned
                or item_id in found
                or item_id not in catalog
                or not matches(request.where, catalog[item_id])
            ):
                continue
            found[item_id] = c
            taken += 1
    return list(found.values())


# --------------------------------------------------------------------------- evaluation


class Retriever(Protocol):
    """One obvious method: candidates for a history."""

    def retrieve(self, history: Sequence[str], k: int, exclude: Sequence[str] = ()) -> list[Candidate]: ...


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
    def from_index(cls, catalog: Catalog, index, recent: int = 5) -> TextRetriever:
        return cls(catalog, item_text_vectors(catalog, index), recent)

    def score_histories(self, histories: Sequence[np.ndarray]) -> np.ndarray:
        queries = np.zeros((len(histories), self.vectors.shape[1]), dtype=np.float32)
        for r, history in enumerate(histories):
            if len(history):
                queries[r] = self.vectors[history[-self.recent :]].mean(axis=0)
        norms = np.linalg.norm(queries, axis=1, keepdims=True)
        queries = np.divide(queries, norms, out=np.zeros_like(queries), where=norms > 0)
        return queries @ self.vectors.T


def item_text_vectors(catalog: Catalog, index) -> np.ndarray:
    """MiniLM vectors for every catalog item, in catalog order, read from the Chroma index.

    Items with empty text are not in the index and get zeros. The index must have been built from
    this catalog (``recchat index build``); an item it lacks is an error that says so.
    """
    with_text = [item.id for item in catalog if item.text]
    stored = index.embeddings(with_text)
    out = np.zeros((len(catalog), stored.shape[1] if len(stored) else 384), dtype=np.float32)
    position = {item.id: i for i, item in enumerate(catalog)}
    out[[position[i] for i in with_text]] = stored
    return out
