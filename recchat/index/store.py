"""The item store: catalog items embedded into a Chroma collection, embedded or on a server.

The collection records which embedder built it in its metadata; opening it with a different
embedder is an error, because vectors from two models in one space rank as nonsense without failing.

Builds are incremental: each stored item carries a hash of its text and fields, so rebuilding an
unchanged catalog embeds and writes nothing, a changed item is re-embedded, and items that left
the catalog are pruned on request. Vectors computed by a build are also kept in a disk cache
($RECCHAT_HOME/vectors) by text (:class:`~recchat.index.embed.VectorCache`), so building the same
items into another store re-embeds nothing.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from recchat.data.catalog import Catalog
from recchat.index.chroma import connect, damaged, from_server
from recchat.index.embed import MiniLMEmbeddingFunction
from recchat.index.errors import ItemIndexError
from recchat.index.filters import Where, matches, parse_where
from recchat.types import Candidate, FieldValue, Item

if TYPE_CHECKING:
    from chromadb.api import ClientAPI
    from chromadb.api.models.Collection import Collection
    from chromadb.api.types import GetResult

T = TypeVar("T")

_HASH_KEY = "recchat_hash"
_TITLE_KEY = "title"
_EMBEDDER_KEY = "recchat_embedder"
_FIELDS_KEY = "recchat_fields"
# False while a build writes (and after one was killed), True once one finished: a partly built
# collection is not empty, so emptiness alone would let it pass for a finished one.
_COMPLETE_KEY = "recchat_complete"
# Changed by every finished write: searchers holding the vectors in memory reload when it moves.
_REVISION_KEY = "recchat_revision"
# Up to this many stored items a search is exact: every vector held in memory and scored with numpy,
# which at this size is faster than Chroma's HNSW and never misses an item (HNSW can leave an item
# unreachable after updates: chroma-core/chroma#7758). Measured in bench/RESULTS.md.
EXACT_BELOW = 20_000
# Items per read when a whole collection is read: one read of everything asks SQLite for too many
# variables past about 30,000 items.
_READ_PAGE = 5000


@dataclass
class BuildReport:
    """What one ``build`` changed."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    pruned: int = 0
    stale: int = 0  # in the store but no longer in the catalog, kept because prune was off
    skipped_empty: list[str] = field(default_factory=list)

    def summary(self) -> str:
        text = f"{self.added} added, {self.updated} updated, {self.unchanged} unchanged, {self.pruned} pruned"
        if self.stale:
            text += f"; {self.stale} items are no longer in the catalog (remove them with --prune)"
        if self.skipped_empty:
            text += f"; {len(self.skipped_empty)} items with empty text not embedded"
        return text


def _item_hash(item: Item) -> str:
    payload = json.dumps([item.text, item.title, item.fields], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


def _metadata(item: Item, digest: str) -> dict[str, FieldValue]:
    meta: dict[str, FieldValue] = {_TITLE_KEY: item.title, _HASH_KEY: digest}
    for key, value in item.fields.items():
        if isinstance(value, list) and not value:
            continue  # Chroma rejects empty lists
        meta[key] = value
    # Remember which keys are item fields, so that reading an item back can tell them apart from
    # recchat's own bookkeeping.
    meta[_FIELDS_KEY] = ",".join(item.fields)
    return meta


def _item_from(item_id: str, document: str | None, meta: Mapping[str, FieldValue] | None) -> Item:
    meta = meta or {}
    names = [n for n in str(meta.get(_FIELDS_KEY, "")).split(",") if n]
    return Item(item_id, str(meta.get(_TITLE_KEY, "")), document or "", {n: meta[n] for n in names if n in meta})


@dataclass
class _Snapshot:
    """Every stored item and vector of a collection at one revision, for exact search."""

    key: tuple
    ids: list[str]
    items: list[Item]
    matrix: np.ndarray  # one row per item; unit rows for cosine
    rows: dict[str, np.ndarray] = field(default_factory=dict)  # filter -> matching rows


class ItemIndex:
    """Catalog items in a Chroma collection, searchable by text with metadata filters.

    >>> index = ItemIndex(collection="movielens-100k-items")   # on disk under $RECCHAT_HOME
    >>> index.build(catalog)                                    # idempotent, incremental
    >>> index.query("funny animated movie", k=10, where="year<1980")

    Pass ``url="http://127.0.0.1:8000"`` to use a Chroma server (``chroma run``) instead.
    ``ef_search`` widens the HNSW search of a new collection (Chroma's default is 100): more
    recall for more latency; ``max_neighbors`` (M, default 16) and ``ef_construction`` (100)
    make a denser graph, for recall at a given search width, at the cost of build time and
    memory. See bench/RESULTS.md. All three are fixed when the collection is created
    (``hnsw_settings()`` says what a collection has).

    A collection of at most ``exact_below`` items (default :data:`EXACT_BELOW`; 0: never) is
    searched exactly instead: its vectors are read once into memory and scored with numpy, and
    read again when a build changes the collection. Filters are still Chroma's. ``search_mode()``
    says which search a query gets.
    """

    def __init__(
        self,
        collection: str = "recchat-items",
        *,
        path: str | Path | None = None,
        url: str | None = None,
        embedder: MiniLMEmbeddingFunction | None = None,
        client: ClientAPI | None = None,
        ef_search: int | None = None,
        max_neighbors: int | None = None,
        ef_construction: int | None = None,
        vectors: str | None = None,
        exact_below: int | None = None,
    ):
        if not 3 <= len(collection) <= 512:
            raise ItemIndexError(f"collection name '{collection}' must have 3 to 512 characters")
        self.client = client if client is not None else connect(path, url)
        self.url = url if client is None else None
        self.location = f"at {url}" if url else f"in {path or '$RECCHAT_HOME/index'}"
        # ``vectors`` names where precomputed vectors come from (e.g. a scorer checkpoint); such a
        # collection has no text embedder and is searched by vector only, by inner product.
        self.embedder: MiniLMEmbeddingFunction | None = None
        if vectors:
            self.identity = vectors
        else:
            self.embedder = embedder or MiniLMEmbeddingFunction()
            self.identity = self.embedder.identity()
        self.space = "ip" if vectors else "cosine"
        self.name = collection
        self.hnsw = {
            key: value
            for key, value in (
                ("max_neighbors", max_neighbors),
                ("ef_construction", ef_construction),
                ("ef_search", ef_search),
            )
            if value
        }
        for key, value in self.hnsw.items():
            if value < 1:
                raise ItemIndexError(f"HNSW {key} must be a positive number (got {value})")
        self.exact_below = EXACT_BELOW if exact_below is None else exact_below
        if self.exact_below < 0:
            raise ItemIndexError(f"exact_below must be 0 (never) or a number of items (got {self.exact_below})")
        self._snapshot: _Snapshot | None = None
        self._sized: tuple | None = None  # (revision and completeness, count) when last read
        self.collection = self._ask(self._open)

    def _ask(self, call: Callable[[], T]) -> T:
        """One read of the store: on a server, tried again while it does not answer (then an
        IndexUnavailableError); a store that fails inside (a damaged file) is an ItemIndexError."""
        from chromadb.errors import InternalError

        try:
            return from_server(self.url, call) if self.url else call()
        except InternalError as exc:
            raise damaged(self.location, exc) from None

    def _open(self) -> Collection:
        existing = {c.name if hasattr(c, "name") else c for c in self.client.list_collections()}
        if self.name not in existing:
            hnsw: dict[str, str | int] = {"space": self.space, **self.hnsw}
            return self.client.create_collection(
                self.name,
                embedding_function=self.embedder,
                configuration={"hnsw": hnsw},
                metadata={_EMBEDDER_KEY: self.identity},
            )
        # No embedding function passed: Chroma rebuilds ours from the stored config.
        collection = self.client.get_collection(self.name)
        built_with = (collection.metadata or {}).get(_EMBEDDER_KEY)
        if built_with != self.identity:
            raise ItemIndexError(
                f"collection '{self.name}' was built with embedder '{built_with}', but this index "
                f"embeds with '{self.identity}'. Its vectors are not comparable: build "
                f"into another collection (--collection NAME) or drop this one "
                f"(recchat index drop --collection {self.name})."
            )
        return collection

    def hnsw_settings(self) -> dict[str, int]:
        """The collection's HNSW settings as created (M, ef_construction, ef_search)."""
        stored = (getattr(self.collection, "configuration", None) or {}).get("hnsw") or {}
        return {key: stored[key] for key in ("max_neighbors", "ef_construction", "ef_search") if key in stored}

    def count(self) -> int:
        return self._ask(self.collection.count)

    def complete(self) -> bool:
        """Whether the last build (or vector upsert) into this collection finished. False for a
        new collection and after a build was interrupted, e.g. killed: build again (it resumes,
        re-embedding nothing already stored). A collection from before this mark was kept counts
        as complete when it is not empty."""
        marked = (self.collection.metadata or {}).get(_COMPLETE_KEY)
        return bool(marked) if marked is not None else self.count() > 0

    def _mark_complete(self, complete: bool) -> None:
        metadata = dict(self.collection.metadata or {})
        if metadata.get(_COMPLETE_KEY) is not complete:  # Chroma replaces the whole metadata
            revision = {_REVISION_KEY: f"{time.time_ns():x}"} if complete else {}
            self.collection.modify(metadata={**metadata, _COMPLETE_KEY: complete, **revision})
        self._snapshot = self._sized = None

    def search_mode(self) -> str:
        """How a query of this collection is answered now, in words."""
        count = self.count()
        if count <= self.exact_below:
            return (
                f"exact: all {count} stored vectors scored in memory (collections of up to "
                f"{self.exact_below} items are searched exactly; exact_below in [index] sets it)"
            )
        hnsw = self.hnsw_settings()
        graph = (
            f"M {hnsw['max_neighbors']}, ef_construction {hnsw['ef_construction']}, ef_search {hnsw['ef_search']}"
            if len(hnsw) == 3
            else "Chroma's settings"
        )
        return f"HNSW ({graph}): approximate, over {count} items (more than the {self.exact_below} searched exactly)"

    def _exact_snapshot(self) -> _Snapshot | None:
        """The collection's items and vectors in memory when it is small enough to search exactly,
        read again when a build changed it (its revision, or its count while one writes). One
        short read of the collection's metadata per search; the count only when that moved."""
        if not self.exact_below:
            return None
        self.collection = self._ask(lambda: self.client.get_collection(self.name))
        metadata = self.collection.metadata or {}
        stamp = (metadata.get(_REVISION_KEY), metadata.get(_COMPLETE_KEY))
        if self._sized is None or self._sized[0] != stamp or not (stamp[0] and stamp[1]):
            self._sized = (stamp, self.count())
        count = self._sized[1]
        if count > self.exact_below:
            self._snapshot = None
            return None
        key = (*stamp, count)
        if self._snapshot is None or self._snapshot.key != key:
            pages = [
                got
                for got in self._ask(lambda: list(self._pages(["documents", "metadatas", "embeddings"])))
                if got["ids"]
            ]
            ids = [i for got in pages for i in got["ids"]]
            items = [
                _item_from(i, d, m) for got in pages for i, d, m in zip(got["ids"], got["documents"], got["metadatas"])
            ]
            rows = [np.asarray(got["embeddings"], dtype=np.float32).reshape(len(got["ids"]), -1) for got in pages]
            matrix = np.concatenate(rows) if ids else np.zeros((0, 0), dtype=np.float32)
            if self.space == "cosine" and len(matrix):
                matrix /= np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
            self._snapshot = _Snapshot(key, ids, items, matrix)
        return self._snapshot

    def _exact_query(self, snap: _Snapshot, vector: np.ndarray, k: int, filt: Where | None) -> list[Candidate]:
        query = np.asarray(vector, dtype=np.float32).reshape(-1)
        if self.space == "cosine":
            query = query / max(float(np.linalg.norm(query)), 1e-12)
        if filt:
            # Chroma says which items pass, once per filter; an item must also pass the local
            # check (recchat.index.filters.matches) that every other candidate meets: Chroma lets
            # an item without the field through "$not_contains", where a missing field fails.
            name = json.dumps(filt, sort_keys=True, default=str)
            if name not in snap.rows:
                passed = set(self._ask(lambda: self.collection.get(where=filt, include=[]))["ids"])
                snap.rows[name] = np.asarray(
                    [r for r, i in enumerate(snap.ids) if i in passed and matches(filt, snap.items[r])], dtype=np.int64
                )
            rows = snap.rows[name]
            scores = snap.matrix[rows] @ query
        else:
            rows, scores = None, snap.matrix @ query
        if k < len(scores):
            top = np.argpartition(-scores, k)[:k]
            top = top[np.lexsort((top, -scores[top]))]  # best first; ties in stored order
        else:
            top = np.lexsort((np.arange(len(scores)), -scores))
        source = "text" if self.embedder is not None else "behaviour"
        return [
            Candidate(snap.items[t if rows is None else rows[t]], float(scores[t]), source, {source: float(scores[t])})
            for t in top
        ]

    def drop(self) -> None:
        """Delete the collection and everything in it."""
        self.client.delete_collection(self.name)
        self._snapshot = self._sized = None

    def _pages(self, include: list[str]) -> Iterator[GetResult]:
        """The whole collection, read ``_READ_PAGE`` items at a time."""
        offset = 0
        while True:
            got = self.collection.get(include=include, limit=_READ_PAGE, offset=offset)
            yield got
            if len(got["ids"]) < _READ_PAGE:
                return
            offset += _READ_PAGE

    def _stored_hashes(self) -> dict[str, str]:
        return {
            item_id: str((meta or {}).get(_HASH_KEY, ""))
            for got in self._pages(["metadatas"])
            for item_id, meta in zip(got["ids"], got["metadatas"] or [])
        }

    def build(
        self, catalog: Catalog | Iterable[Item], *, prune: bool = False, batch_size: int = 256, progress: bool = True
    ) -> BuildReport:
        """Embed and store every item whose text or fields changed since the last build.

        Items with empty text are not embedded (they are listed in the report). With ``prune``,
        items in the store that are no longer in the catalog are deleted; without it they are
        counted as stale and kept.

        A build killed half-way leaves whole batches (each upsert is one transaction, item and
        hash together) and the collection marked incomplete (:meth:`complete`); the next build
        writes only what is missing or changed.
        """
        items = list(catalog)
        stored = self._stored_hashes()
        report = BuildReport()
        todo: list[tuple[Item, str]] = []
        for item in items:
            if not item.text.strip():
                report.skipped_empty.append(item.id)
                continue
            digest = _item_hash(item)
            previous = stored.get(item.id)
            if previous == digest:
                report.unchanged += 1
                continue
            todo.append((item, digest))
            if previous is None:
                report.added += 1
            else:
                report.updated += 1
        if todo and self.embedder is None:
            raise ItemIndexError(f"'{self.name}' holds precomputed vectors; use upsert_vectors")
        wanted = {item.id for item in items if item.text.strip()}
        gone = [item_id for item_id in stored if item_id not in wanted]
        if todo or (prune and gone):
            self._mark_complete(False)
        if todo:
            self._upsert([item for item, _ in todo], None, [d for _, d in todo], batch_size, progress)
        if prune and gone:
            batch = self._batch(batch_size)
            for start in range(0, len(gone), batch):
                self.collection.delete(ids=gone[start : start + batch])
            report.pruned = len(gone)
        else:
            report.stale = len(gone)
        self._mark_complete(True)
        return report

    def _batch(self, batch_size: int) -> int:
        return max(1, min(batch_size, self.client.get_max_batch_size()))

    def _upsert(
        self, items: Sequence[Item], vectors: np.ndarray | None, digests: Sequence[str], batch_size: int, progress: bool
    ) -> None:
        """Write items in batches within the client's maximum, embedding them unless given vectors."""
        from tqdm.auto import tqdm

        batch = self._batch(batch_size)
        with tqdm(total=len(items), desc=f"indexing {self.name}", unit="item", disable=not progress) as bar:
            for start in range(0, len(items), batch):
                chunk = items[start : start + batch]
                texts = [item.text for item in chunk]
                if vectors is not None:
                    embeddings = np.asarray(vectors[start : start + batch], dtype=np.float32)
                elif self.embedder is not None:
                    embeddings = self.embedder.encode(texts, cache=True)
                else:
                    raise ItemIndexError(f"'{self.name}' holds precomputed vectors; use upsert_vectors")
                self.collection.upsert(
                    ids=[item.id for item in chunk],
                    documents=texts,
                    embeddings=embeddings,
                    metadatas=[_metadata(item, d) for item, d in zip(chunk, digests[start : start + batch])],
                )
                bar.update(len(chunk))

    def upsert_vectors(
        self, items: Sequence[Item], vectors: np.ndarray, *, batch_size: int = 1024, progress: bool = True
    ) -> None:
        """Store ``items`` with precomputed ``vectors`` (one row each), replacing what was there."""
        if len(items) != len(vectors):
            raise ItemIndexError(f"{len(items)} items but {len(vectors)} vectors")
        self._mark_complete(False)
        self._upsert(list(items), vectors, [_item_hash(i) for i in items], batch_size, progress)
        self._mark_complete(True)

    def query(self, text: str, k: int = 10, where: str | Where | None = None) -> list[Candidate]:
        """The ``k`` items nearest to ``text``; ``score`` is the cosine similarity.

        ``where`` is a Chroma filter dict or a short expression: ``year<1980``,
        ``genres contains Comedy``, ``year>=1990 and genres contains Drama``.
        """
        if self.embedder is None:
            raise ItemIndexError(f"'{self.name}' holds precomputed vectors; query it with query_vector")
        where = parse_where(where) if isinstance(where, str) else where  # a bad filter fails before the model loads
        return self._query(self.embedder.encode([text])[0], k, where)

    def query_vector(self, vector: np.ndarray, k: int = 10, where: str | Where | None = None) -> list[Candidate]:
        """The ``k`` items nearest to an embedding (for instance the mean of a user's items)."""
        return self._query(np.asarray(vector, dtype=np.float32), k, where)

    def _query(self, vector: np.ndarray, k: int, where: str | Where | None) -> list[Candidate]:
        filt = parse_where(where) if isinstance(where, str) else where
        if k <= 0:
            return []
        if (snap := self._exact_snapshot()) is not None:
            return self._exact_query(snap, vector, k, filt)
        res = self._ask(
            lambda: self.collection.query(
                query_embeddings=vector[None, :],
                n_results=k,
                where=filt or None,
                include=["documents", "metadatas", "distances"],
            )
        )
        found = len(res["ids"][0])
        if not filt and found < k and found < (stored := self.count()):
            # Chroma answers from whatever vector files it still has: missing or damaged ones
            # silently shrink every search. An unfiltered search must fill k from the stored items.
            raise ItemIndexError(
                f"'{self.name}' {self.location} holds {stored} items but a search found only {found}: its "
                f"vector files are missing or damaged. Rebuild it: recchat index drop, then recchat index build "
                f"(with the same --config, --path or --url, and --collection {self.name})"
            )
        out = []
        for item_id, doc, meta, dist in zip(
            res["ids"][0], res["documents"][0], res["metadatas"][0], res["distances"][0]
        ):
            # Chroma returns distances: 1 - cosine, or 1 - inner product for "ip".
            similarity = 1.0 - float(dist)
            source = "text" if self.embedder is not None else "behaviour"
            out.append(Candidate(_item_from(item_id, doc, meta), similarity, source, {source: similarity}))
        return out

    def embeddings(self, item_ids: Sequence[str]) -> np.ndarray:
        """Stored vectors for ``item_ids`` in that order; an id that is not stored is an error."""
        got = self._ask(lambda: self.collection.get(ids=list(item_ids), include=["embeddings"]))
        by_id = dict(zip(got["ids"], got["embeddings"]))
        missing = [i for i in item_ids if i not in by_id]
        if missing:
            raise ItemIndexError(
                f"{len(missing)} items are not in '{self.name}' (first: {missing[0]}); run recchat index build"
            )
        return np.asarray([by_id[i] for i in item_ids], dtype=np.float32)

    def items(self, item_ids: Sequence[str]) -> list[Item]:
        got = self._ask(lambda: self.collection.get(ids=list(item_ids), include=["documents", "metadatas"]))
        found = {i: _item_from(i, d, m) for i, d, m in zip(got["ids"], got["documents"], got["metadatas"])}
        return [found[i] for i in item_ids if i in found]
