"""One configuration describes a deployment: which catalog, which log, where the index lives,
which scorer, which LLM, how to blend, and the domain's words.

- :mod:`~recchat.config.sections`: one dataclass per TOML table (``CatalogSection``, ``LLMSection``...),
  every field with its default and a one-line help;
- :mod:`~recchat.config.schema`: :class:`RecommenderConfig` (the whole file), reading and checking it;
- :mod:`~recchat.config.sniff` and :mod:`~recchat.config.guess`: ``recchat init``'s guess of a
  configuration from the data files.
"""

from __future__ import annotations

from recchat.config.schema import BUILTIN, ConfigError, RecommenderConfig, load_movielens_100k
from recchat.config.sections import (
    ROLES,
    BlendSection,
    CatalogSection,
    DomainSection,
    FieldSection,
    IndexSection,
    InteractionsSection,
    LLMSection,
    ScorerSection,
    TableSection,
)

__all__ = [
    "BUILTIN",
    "ROLES",
    "BlendSection",
    "CatalogSection",
    "ConfigError",
    "DomainSection",
    "FieldSection",
    "IndexSection",
    "InteractionsSection",
    "LLMSection",
    "RecommenderConfig",
    "ScorerSection",
    "TableSection",
    "load_movielens_100k",
]
