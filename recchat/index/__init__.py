"""The item store: catalog items embedded into a Chroma collection, embedded or on a server.

- :mod:`~recchat.index.embed`: the MiniLM embedding function and the disk cache of item vectors;
- :mod:`~recchat.index.chroma`: reaching Chroma (on disk or a server, tried again while it restarts);
- :mod:`~recchat.index.store`: :class:`ItemIndex`, incremental builds and exact or HNSW search;
- :mod:`~recchat.index.filters`: the filter language (``year<1980 and genres contains Comedy``);
- :mod:`~recchat.index.errors`: what goes wrong.
"""

from __future__ import annotations

from recchat.index.chroma import connect
from recchat.index.embed import EMBEDDER_PACKAGE, MiniLMEmbeddingFunction, SentenceEncoder, VectorCache
from recchat.index.errors import IndexUnavailableError, ItemIndexError
from recchat.index.filters import Where, matches, parse_where
from recchat.index.store import EXACT_BELOW, BuildReport, ItemIndex

__all__ = [
    "EMBEDDER_PACKAGE",
    "EXACT_BELOW",
    "BuildReport",
    "IndexUnavailableError",
    "ItemIndex",
    "ItemIndexError",
    "MiniLMEmbeddingFunction",
    "SentenceEncoder",
    "VectorCache",
    "Where",
    "connect",
    "matches",
    "parse_where",
]
