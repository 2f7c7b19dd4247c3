"""The pipeline in one object: retrieve -> score -> rerank (LLM) -> blend.

    rec = Recommender.from_config()                        # MovieLens assets, defaults
    rec.recommend(["1", "95", "71"], k=10, filters="year<1980")
    rec.recommend("196", k=10)                             # a MovieLens user id
    session = rec.chat()                                   # see recchat.chat

Candidates come from two places and are merged: the trained scorer's top items for the history
(by behaviour) and Chroma text retrieval (the query, or the history's items), both under the
same metadata filter. Every candidate is then scored by the scorer (the prior), reranked by the
LLM when one is configured, and blended; a failing or absent LLM leaves the scorer's order,
marked degraded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from recchat.blend import BlendConfig, rerank_and_blend
from recchat.catalog import Catalog
from recchat.index import ItemIndex, matches, parse_where
from recchat.types import Candidate, Ranking


@dataclass
class RecommenderConfig:
    """Everything ``Recommender.from_config`` reads; a dict or a JSON file with these keys works."""

    dataset: str = "movielens-100k"
    collection: str | None = None          # default: <dataset>-items
    index_path: str | None = None          # default: $RECCHAT_HOME/index
    index_url: str | None = None           # a Chroma server instead
    scorer: str | None = None              # default: $RECCHAT_HOME/models/<dataset>-scorer.pt
    backend: str = "auto"                  # auto, transformers, vllm, openai, or none
    model: str | None = None
    base_url: str = "http://127.0.0.1:8000/v1"
    mode: str = "listwise"
    passes: int = 1
    alpha: float | None = None             # default: tuned (tune-blend), else 0.5
    norm: str | None = None
    pool: int = 20                         # candidates the LLM reranks
    kind: str = "movie"
    options: dict[str, Any] = field(default_factory=dict)  # extra backend options

    @classmethod
    def coerce(cls, config: RecommenderConfig | dict[str, Any] | str | Path | None) -> RecommenderConfig:
        if config is None:
            return cls()
        if isinstance(config, cls):
            return config
        if isinstance(config, (str, Path)):
            import json

            config = json.loads(Path(config).read_text())
        known = {f.name for f in fields(cls)}
        unknown = set(config) - known
        if unknown:
            raise ValueError(f"unknown recommender setting(s): {', '.join(sorted(unknown))}; "
                             f"known: {', '.join(sorted(known))}")
        return cls(**config)


class Recommender:
    """Retrieve, score, rerank and blend for one catalog."""

    def __init__(self, catalog: Catalog, index: ItemIndex, scorer: Any = None, reranker: Any = None,
                 blend: BlendConfig | None = None, *, interactions: Any = None, pool: int = 20):
        self.catalog, self.index, self.scorer, self.reranker = catalog, index, scorer, reranker
        self.blend = blend or BlendConfig()
        self.pool = pool
        self.user_histories: dict[str, list[tuple[str, float | None]]] = {}
        if interactions is not None:
            events: dict[str, list[tuple[float, int, str, float | None]]] = {}
            for n, e in enumerate(interactions):
                events.setdefault(e.user, []).append((e.timestamp or 0.0, n, e.item, e.rating))
            self.user_histories = {u: [(i, r) for _, _, i, r in sorted(v)] for u, v in events.items()}

    @classmethod
    def from_config(cls, config: RecommenderConfig | dict[str, Any] | str | Path | None = None) -> Recommender:
        """Build from settings; with none, MovieLens-100K and the fetched assets and checkpoint."""
        from recchat.assets import home
        from recchat.catalog import load_movielens_100k
        from recchat.scorer import Scorer

        cfg = RecommenderConfig.coerce(config)
        if cfg.dataset != "movielens-100k":
            raise ValueError("from_config loads the MovieLens asset; for another catalog build the parts "
                             "and call Recommender(catalog, index, scorer, reranker)")
        data = load_movielens_100k()
        index = ItemIndex(cfg.collection or f"{cfg.dataset}-items", path=cfg.index_path, url=cfg.index_url)
        if index.count() == 0:
            index.build(data.catalog)
        checkpoint = Path(cfg.scorer or home() / "models" / f"{cfg.dataset}-scorer.pt")
        scorer = Scorer.load(checkpoint, catalog=data.catalog) if checkpoint.is_file() else None
        blend = BlendConfig.load(BlendConfig.path_for(checkpoint)) if BlendConfig.path_for(checkpoint).is_file() \
            else BlendConfig()
        if cfg.alpha is not None:
            blend.alpha = cfg.alpha
        if cfg.norm is not None:
            blend.norm = cfg.norm
        reranker = None
        if cfg.backend != "none":
            from recchat.llm import load_backend
            from recchat.rerank import Reranker

            options = dict(cfg.options)
            if cfg.backend == "openai":
                options.setdefault("base_url", cfg.base_url)
            reranker = Reranker(load_backend(cfg.backend, cfg.model, **options), cfg.mode, kind=cfg.kind,
                                passes=cfg.passes)
        return cls(data.catalog, index, scorer, reranker, blend, interactions=data.interactions, pool=cfg.pool)

    # -- histories ----------------------------------------------------------------------

    def history_of(self, user: str | Sequence[str]) -> tuple[list[str], list[float | None]]:
        """Item ids and ratings: a known user's log, or the given ids (no ratings)."""
        if isinstance(user, str):
            if user not in self.user_histories:
                raise KeyError(f"user '{user}' is not in the interaction log; pass a list of item ids instead")
            pairs = self.user_histories[user]
            return [i for i, _ in pairs], [r for _, r in pairs]
        missing = [i for i in user if i not in self.catalog]
        if missing:
            raise KeyError(f"item '{missing[0]}' is not in the catalog")
        return list(user), [None] * len(user)

    # -- stages -------------------------------------------------------------------------

    def candidates(self, history: Sequence[str], *, query: str | None = None, where: dict[str, Any] | None = None,
                   exclude: Sequence[str] = (), k: int | None = None) -> list[Candidate]:
        """Scorer top items and Chroma text matches under ``where``, merged, with scorer priors."""
        k = k or self.pool
        banned = set(history) | set(exclude)
        found: dict[str, Candidate] = {}
        if self.scorer is not None and history:
            known = [h for h in history if h in self.scorer.position]
            if known:
                for c in self.scorer.topk(known, k=k * 5, exclude=[e for e in exclude if e in self.scorer.position]):
                    if c.item.id not in banned and matches(where, c.item) and len(found) < k:
                        found[c.item.id] = c
        text_query = query or " ; ".join(self.catalog[h].text for h in history[-5:] if self.catalog[h].text)
        if text_query:
            for c in self.index.query(text_query, k=k + len(banned), where=where or None):
                if c.item.id not in banned and c.item.id not in found and c.item.id in self.catalog:
                    found[c.item.id] = Candidate(self.catalog[c.item.id], c.score, "text", {"text": c.score})
                    if len(found) >= 2 * k:
                        break
        cands = list(found.values())
        if self.scorer is not None:
            known = [h for h in history if h in self.scorer.position]
            ids = [c.item.id for c in cands if c.item.id in self.scorer.position]
            scores = dict(zip(ids, self.scorer.score(known, ids))) if known and ids else {}
            for c in cands:
                # A text-only candidate with no behaviour score sits below the scorer's own.
                c.scores["scorer"] = float(scores.get(c.item.id, min(scores.values(), default=0.0) - 1.0))
        else:
            for c in cands:
                c.scores["scorer"] = c.scores.get("text", c.score)
        return cands

    def rerank(self, history: Sequence[str], candidates: Sequence[Candidate], *, query: str | None = None,
               ratings: Sequence[float | None] | None = None) -> Ranking:
        """LLM rerank and blend of given candidates (ids' scorer scores as the prior)."""
        items = [self.catalog[h] for h in history]
        return rerank_and_blend(self.reranker, items, candidates, self.blend, ratings=ratings, query=query)

    def recommend(self, user: str | Sequence[str], k: int = 10, filters: str | dict[str, Any] | None = None, *,
                  query: str | None = None, exclude: Sequence[str] = ()) -> Ranking:
        """The top ``k`` for a user id or a history of item ids, under optional filters."""
        history, ratings = self.history_of(user)
        where = parse_where(filters) if isinstance(filters, str) else filters
        cands = self.candidates(history, query=query, where=where, exclude=exclude)
        if not cands:
            return Ranking([], mode="empty", notes=["Nothing in the catalog matches these filters."])
        pool = sorted(cands, key=lambda c: -c.scores["scorer"])[: self.pool]
        ranking = self.rerank(history, pool, query=query, ratings=ratings)
        ranking.candidates = ranking.candidates[:k]
        return ranking

    def chat(self, user_id: str | None = None, k: int = 10) -> Any:
        """A conversation; with ``user_id``, it starts from that user's history."""
        from recchat.chat import ChatSession

        return ChatSession(self, user_id, k)

    def text_vector(self, item_ids: Sequence[str]) -> np.ndarray:
        return self.index.embeddings(item_ids)
