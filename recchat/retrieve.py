"""Candidate retrieval at run time.

:class:`CandidateSource` objects (the scorer's top items, plugin retrievers, Chroma text matches)
answer one :class:`CandidateRequest` each and :func:`merge_candidates` merges them in one place,
under the request's filter. A plugin retriever is a :class:`Retriever`: a user's history (item
ids, oldest first) into scored candidates. :func:`item_text_vectors` gives every item's text
vector (the index's MiniLM vectors, an LLM's, or both). (The evaluation baselines, Popularity,
ItemKNN and the text retriever, are in :mod:`recchat.evaluation.baselines`.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from recchat.data.catalog import Catalog
from recchat.index import ItemIndex, Where, matches
from recchat.types import Candidate


@dataclass
class CandidateRequest:
    """What every candidate source is asked: a history, the user's words, a metadata filter,
    items never to return, and how many new candidates each source may add."""

    history: list[str]
    query: str | None = None
    where: Where | None = None
    exclude: list[str] = field(default_factory=list)
    k: int = 20

    @property
    def banned(self) -> set[str]:
        return set(self.history) | set(self.exclude)


class CandidateSource(Protocol):
    """One run-time source of candidates, best first; the merge applies the filter and the bans."""

    name: str

    def candidates(self, request: CandidateRequest) -> list[Candidate]: ...


class TopItems(Protocol):
    """What the scorer source needs of a scorer (:class:`~recchat.scorer.ItemScorer` is one)."""

    def knows(self, item_id: str) -> bool: ...

    def topk(self, history: Sequence[str], k: int = 10, exclude: Sequence[str] = ()) -> list[Candidate]: ...


class Retriever(Protocol):
    """A plugin candidate source; one obvious method: candidates for a history (item ids, oldest first)."""

    def retrieve(self, history: Sequence[str], k: int, exclude: Sequence[str] = ()) -> list[Candidate]: ...


class ScorerSource:
    """The trained scorer's top items for the history (behaviour)."""

    name = "scorer"

    def __init__(self, scorer: TopItems):
        self.scorer = scorer

    def candidates(self, request: CandidateRequest) -> list[Candidate]:
        known = [h for h in request.history if self.scorer.knows(h)]
        if not known:
            return []
        return self.scorer.topk(known, k=request.k * 5, exclude=[e for e in request.exclude if self.scorer.knows(e)])


class PluginSource:
    """A plugin :class:`Retriever` (``retrieve(history, k, exclude)``), its items taken from the catalog."""

    def __init__(self, retriever: Retriever, catalog: Catalog):
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

    def __init__(self, index: ItemIndex, catalog: Catalog):
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


def merge_candidates(
    sources: Sequence[CandidateSource], request: CandidateRequest, catalog: Catalog
) -> list[Candidate]:
    """Each source in turn adds up to ``request.k`` new candidates that pass the filter and the bans."""
    banned, found = request.banned, dict[str, Candidate]()
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


def item_text_vectors(
    catalog: Catalog, index: ItemIndex | None, encoder: str = "minilm", *, progress: bool = True
) -> np.ndarray:
    """Text vectors for every catalog item, in catalog order: the scorer's content features.

    ``encoder`` is ``minilm`` (the vectors read from the Chroma index), an LLM encoder such as
    ``smollm2-mean`` (:mod:`recchat.index.llm_vectors`), or several joined by ``+``
    (``minilm+smollm2-mean``), each part scaled by 1/sqrt(parts) and concatenated. Items with empty
    text are not in the index and get zeros. The index must have been built from this catalog
    (``recchat index build``); an item it lacks is an error that says so.
    """
    from recchat.index.llm_vectors import llm_item_vectors, parse_encoder

    parts = parse_encoder(encoder)
    blocks = []
    for part in parts:
        if part == "minilm":
            if index is None:
                raise ValueError("the minilm text encoder reads the Chroma index: pass one")
            blocks.append(_index_vectors(catalog, index))
        else:
            blocks.append(llm_item_vectors(catalog, part, progress=progress))
    if len(blocks) == 1:
        return blocks[0]
    return np.concatenate([b / np.sqrt(len(blocks)) for b in blocks], axis=1).astype(np.float32)


def text_vectors_for(items: Catalog, catalog: Catalog, index: ItemIndex | None, encoder: str = "minilm") -> np.ndarray:
    """The rows of ``item_text_vectors(catalog, ...)`` for ``items`` (some of ``catalog``'s items):
    what a scorer loaded against a changed catalog serves new items from. LLM vectors are centred
    over the catalog they are computed on, so they are computed over the whole catalog (cached
    after the first time), never over the new items alone."""
    from recchat.index.llm_vectors import parse_encoder

    if all(part == "minilm" for part in parse_encoder(encoder)):
        return item_text_vectors(items, index, encoder, progress=False)
    full = item_text_vectors(catalog, index, encoder, progress=False)
    row = {item.id: i for i, item in enumerate(catalog)}
    return full[[row[item.id] for item in items]]


def _index_vectors(catalog: Catalog, index: ItemIndex) -> np.ndarray:
    with_text = [item.id for item in catalog if item.text]
    stored = index.embeddings(with_text)
    out = np.zeros((len(catalog), stored.shape[1] if len(stored) else 384), dtype=np.float32)
    position = {item.id: i for i, item in enumerate(catalog)}
    out[[position[i] for i in with_text]] = stored
    return out
