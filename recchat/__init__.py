"""recchat: a recommender that talks.

Items are retrieved from a Chroma vector store, scored by a trained embedding model, reranked by
a locally served LLM and explained. This package is usable as a library::

    from recchat import Recommender

    rec = Recommender.from_config()                  # MovieLens-100K assets and defaults
    print(rec.recommend("196", k=5).ids())
    reply = rec.chat().send("I loved Heat, something like it but older")
    books = Recommender.from_config("books.toml")    # any catalog (recchat init writes the file)

or stage by stage::

    from recchat import load_movielens_100k, ItemIndex

    data = load_movielens_100k()                     # after: recchat assets fetch movielens-100k
    index = ItemIndex("movielens-100k-items")
    index.build(data.catalog)
    for candidate in index.query("funny animated movie", k=5, where="year<1980"):
        print(candidate.item.title, candidate.score)

Names are imported lazily, so ``import recchat`` stays fast and a heavy dependency (chromadb,
torch) is loaded only by the part that needs it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

_EXPORTS = {
    "Item": "recchat.types",
    "Interaction": "recchat.types",
    "Candidate": "recchat.types",
    "Catalog": "recchat.data.catalog",
    "CatalogSpec": "recchat.data.catalog",
    "FieldSpec": "recchat.data.catalog",
    "InteractionSpec": "recchat.data.catalog",
    "InteractionLog": "recchat.data.catalog",
    "Dataset": "recchat.data.catalog",
    "DataError": "recchat.data.tables",
    "LoadReport": "recchat.data.tables",
    "load_catalog": "recchat.data.catalog",
    "load_interactions": "recchat.data.catalog",
    "load_users": "recchat.data.catalog",
    "load_movielens_100k": "recchat.config",
    "ItemIndex": "recchat.index",
    "ItemIndexError": "recchat.index",
    "MiniLMEmbeddingFunction": "recchat.index",
    "parse_where": "recchat.index",
    "AssetError": "recchat.assets",
    "Scorer": "recchat.scorer",
    "ScorerConfig": "recchat.scorer",
    "CheckpointError": "recchat.scorer",
    "Split": "recchat.data.split",
    "leave_one_out": "recchat.data.split",
    "Popularity": "recchat.evaluation.baselines",
    "ItemKNN": "recchat.evaluation.baselines",
    "TextRetriever": "recchat.evaluation.baselines",
    "Ranking": "recchat.types",
    "Invocation": "recchat.types",
    "load_backend": "recchat.llm",
    "LLMError": "recchat.llm",
    "Reranker": "recchat.rerank",
    "BlendConfig": "recchat.blend",
    "rerank_and_blend": "recchat.blend",
    "rerank_file": "recchat.batch",
    "Recommender": "recchat.recommender",
    "RecommenderConfig": "recchat.config",
    "ConfigError": "recchat.config",
    "Builder": "recchat.builder",
    "Domain": "recchat.conversation.domain",
    "NO_LLM": "recchat.rerank",
    "NoReranker": "recchat.rerank",
    "ChatSession": "recchat.conversation.chat",
    "Reply": "recchat.conversation.reply",
    "Profile": "recchat.conversation.profile",
    "ProfileStore": "recchat.conversation.profile",
    "PluginError": "recchat.plugins",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:
    from recchat.assets import AssetError
    from recchat.batch import rerank_file
    from recchat.blend import BlendConfig, rerank_and_blend
    from recchat.builder import Builder
    from recchat.config import ConfigError, RecommenderConfig, load_movielens_100k
    from recchat.conversation.chat import ChatSession
    from recchat.conversation.domain import Domain
    from recchat.conversation.profile import Profile, ProfileStore
    from recchat.conversation.reply import Reply
    from recchat.data.catalog import (
        Catalog,
        CatalogSpec,
        Dataset,
        FieldSpec,
        InteractionLog,
        InteractionSpec,
        load_catalog,
        load_interactions,
        load_users,
    )
    from recchat.data.split import Split, leave_one_out
    from recchat.data.tables import DataError, LoadReport
    from recchat.evaluation.baselines import ItemKNN, Popularity, TextRetriever
    from recchat.index import ItemIndex, ItemIndexError, MiniLMEmbeddingFunction, parse_where
    from recchat.llm import LLMError, load_backend
    from recchat.plugins import PluginError
    from recchat.recommender import Recommender
    from recchat.rerank import NO_LLM, NoReranker, Reranker
    from recchat.scorer import CheckpointError, Scorer, ScorerConfig
    from recchat.types import Candidate, Interaction, Invocation, Item, Ranking


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'recchat' has no attribute '{name}'")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
