"""The errors of the item store."""

from __future__ import annotations


class ItemIndexError(RuntimeError):
    """The store cannot be used as asked (wrong embedder, missing collection, bad filter)."""


class IndexUnavailableError(ItemIndexError):
    """The Chroma server did not answer (down, restarting, unreachable), even after a few tries.
    Callers that have other candidate sources can go on without text search (recchat.recommender)."""
