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

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from recchat.blend import BlendConfig, rerank_and_blend
from recchat.catalog import Catalog, events_by_user
from recchat.index import ItemIndex, matches, parse_where
from recchat.types import Candidate, Ranking

_DEFAULT: Any = object()  # "use the recommender's own" (None means "no LLM")


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
    scorer_plugin: str | None = None       # a recchat.scorers entry point instead of the checkpoint
    retrievers: list[str] = field(default_factory=list)     # extra candidate sources (recchat.retrievers)
    plugin_options: dict[str, dict[str, Any]] = field(default_factory=dict)  # options by plugin name
    profiles: str | None = None            # profile cache folder; default: $RECCHAT_HOME/profiles/<dataset>

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
    """Retrieve, score, rerank and blend for one catalog.

    The parts are plain objects: ``index`` an :class:`~recchat.index.ItemIndex`, ``scorer`` any
    :class:`~recchat.scorer.ItemScorer` (or None), ``reranker`` a :class:`~recchat.rerank.Reranker`
    (or None: the scorer's order, marked degraded), ``retrievers`` extra candidate sources with
    ``retrieve(history, k, exclude)``, ``profiles`` a :class:`~recchat.profile.ProfileStore`.
    ``interactions`` lets ``recommend`` and ``chat`` take a user id.
    """

    def __init__(self, catalog: Catalog, index: ItemIndex, scorer: Any = None, reranker: Any = None,
                 blend: BlendConfig | None = None, *, interactions: Any = None, pool: int = 20,
                 retrievers: Sequence[Any] = (), profiles: Any = None, kind: str = "item"):
        self.catalog, self.index, self.scorer, self.reranker = catalog, index, scorer, reranker
        self.blend = blend or BlendConfig()
        self.pool, self.retrievers, self.profiles, self.kind = pool, list(retrievers), profiles, kind
        self.user_histories: dict[str, list[tuple[str, float | None]]] = {
            u: [(e.item, e.rating) for e in events] for u, events in events_by_user(interactions or ()).items()}
        self._fans: dict[str, set[str]] | None = None

    def co_likes(self, anchor: str, item: str) -> tuple[int, int]:
        """(users who liked both, users who liked ``anchor``) in the interaction log; a like is a
        rating of 4 or more on a 5-point scale, or any interaction where the log has no ratings."""
        if self._fans is None:
            fans: dict[str, set[str]] = {}
            for user, events in self.user_histories.items():
                for item_id, rating in events:
                    if rating is None or rating >= 4:
                        fans.setdefault(item_id, set()).add(user)
            self._fans = fans
        a, b = self._fans.get(anchor, set()), self._fans.get(item, set())
        return len(a & b), len(a)

    @classmethod
    def from_config(cls, config: RecommenderConfig | dict[str, Any] | str | Path | None = None) -> Recommender:
        """Build from settings (a RecommenderConfig, a dict, or a JSON file's path).

        With none: MovieLens-100K, its Chroma index (built on first use), the trained scorer and
        tuned blend if present, the LLM picked by ``auto``, and profiles cached under
        $RECCHAT_HOME/profiles.
        """
        from recchat.assets import home
        from recchat.catalog import load_movielens_100k
        from recchat.profile import ProfileStore
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
        if cfg.scorer_plugin:
            from recchat.plugins import create

            scorer = create("scorers", cfg.scorer_plugin, data.catalog, data.interactions,
                            required=("knows", "score", "topk"), **cfg.plugin_options.get(cfg.scorer_plugin, {}))
        else:
            scorer = Scorer.load(checkpoint, catalog=data.catalog) if checkpoint.is_file() else None
        retrievers = []
        for name in cfg.retrievers:
            from recchat.plugins import create

            retrievers.append(create("retrievers", name, data.catalog, data.interactions, required=("retrieve",),
                                     **cfg.plugin_options.get(name, {})))
        blend_path = BlendConfig.path_for(checkpoint, cfg.model)
        blend = BlendConfig.load(blend_path) if blend_path.is_file() \
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
        profiles = ProfileStore(cfg.profiles or home() / "profiles" / cfg.dataset, data.catalog, data.interactions,
                                backend=reranker.backend if reranker else None, kind=cfg.kind)
        return cls(data.catalog, index, scorer, reranker, blend, interactions=data.interactions, pool=cfg.pool,
                   retrievers=retrievers, profiles=profiles, kind=cfg.kind)

    @property
    def backend(self) -> Any:
        """The LLM backend behind the reranker (used for understanding and explanations too)."""
        return getattr(self.reranker, "backend", None)

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

    def profile(self, user: str) -> Any:
        """The user's taste profile (cached), or None without a profile store or for an unknown user."""
        if self.profiles is None or user not in self.user_histories:
            return None
        return self.profiles.get(user)

    def _known(self, history: Sequence[str]) -> list[str]:
        return [h for h in history if self.scorer.knows(h)]

    def retrieve(self, history: Sequence[str], *, query: str | None = None, where: dict[str, Any] | None = None,
                 exclude: Sequence[str] = (), k: int | None = None) -> list[Candidate]:
        """Candidates from every source under ``where``: the scorer's top items, Chroma text
        matches for the query (or the history's texts), and any extra retrievers."""
        k = k or self.pool
        banned = set(history) | set(exclude)
        found: dict[str, Candidate] = {}
        known = self._known(history) if self.scorer is not None else []
        if known:
            for c in self.scorer.topk(known, k=k * 5, exclude=[e for e in exclude if self.scorer.knows(e)]):
                if c.item.id not in banned and matches(where, c.item) and len(found) < k:
                    found[c.item.id] = c
        for retriever in self.retrievers:
            name = getattr(retriever, "name", type(retriever).__name__)
            taken = 0
            for c in retriever.retrieve(list(history), k * 5, exclude=list(exclude)):
                if c.item.id in self.catalog and c.item.id not in banned and c.item.id not in found \
                        and matches(where, self.catalog[c.item.id]) and taken < k:
                    found[c.item.id] = Candidate(self.catalog[c.item.id], c.score, name, {name: c.score})
                    taken += 1
        text_query = query or " ; ".join(self.catalog[h].text for h in history[-5:] if self.catalog[h].text)
        if text_query:
            target = len(found) + k
            for c in self.index.query(text_query, k=k + len(banned), where=where or None):
                if c.item.id not in banned and c.item.id not in found and c.item.id in self.catalog:
                    found[c.item.id] = Candidate(self.catalog[c.item.id], c.score, "text", {"text": c.score})
                    if len(found) >= target:
                        break
        return list(found.values())

    def score_candidates(self, history: Sequence[str], cands: Sequence[Candidate]) -> None:
        """Give every candidate ``scores["scorer"]``, the prior the blend starts from."""
        if self.scorer is None:
            for c in cands:
                c.scores["scorer"] = c.scores.get("text", c.score)
            return
        known = self._known(history)
        ids = [c.item.id for c in cands if self.scorer.knows(c.item.id)]
        scores = dict(zip(ids, map(float, self.scorer.score(known, ids)))) if known and ids else {}
        floor = min(scores.values(), default=0.0) - 1.0
        for c in cands:
            # A candidate with no behaviour score sits below the scorer's own.
            c.scores["scorer"] = scores.get(c.item.id, floor)

    def candidates(self, history: Sequence[str], *, query: str | None = None, where: dict[str, Any] | None = None,
                   exclude: Sequence[str] = (), k: int | None = None) -> list[Candidate]:
        """Retrieved candidates with their scorer priors."""
        cands = self.retrieve(history, query=query, where=where, exclude=exclude, k=k)
        self.score_candidates(history, cands)
        return cands

    def rerank(self, history: Sequence[str], candidates: Sequence[Candidate], *, query: str | None = None,
               ratings: Sequence[float | None] | None = None, profile: str | None = None,
               reranker: Any = _DEFAULT, blend: BlendConfig | None = None) -> Ranking:
        """LLM rerank and blend of given candidates (their ``scores["scorer"]`` as the prior)."""
        items = [self.catalog[h] for h in history]
        prior = "the trained scorer" if self.scorer is not None else \
            "text similarity (no trained scorer found: run recchat train)"
        return rerank_and_blend(self.reranker if reranker is _DEFAULT else reranker, items, candidates,
                                blend or self.blend, ratings=ratings, query=query, profile=profile, prior=prior)

    def recommend(self, user: str | Sequence[str], k: int = 10, filters: str | dict[str, Any] | None = None, *,
                  query: str | None = None, exclude: Sequence[str] = (), profile: Any = None,
                  reranker: Any = _DEFAULT, blend: BlendConfig | None = None) -> Ranking:
        """The top ``k`` for a user id or a history of item ids, under optional filters.

        ``filters``: "year<1980 and genres contains Comedy" or a Chroma ``where`` dict. ``query``:
        the user's wishes in words. ``profile``: a Profile (or text) for the prompt and the text
        query. ``reranker``/``blend`` override the recommender's for this call (None: no LLM).
        The returned Ranking's ``timings`` has seconds for retrieve, score and rerank.
        """
        history, ratings = self.history_of(user)
        where = parse_where(filters) if isinstance(filters, str) else filters
        profile_text = profile.prompt_text() if hasattr(profile, "prompt_text") else profile
        text_query = query
        if query and getattr(profile, "top_genres", None):
            text_query = f"{query} ({', '.join(profile.top_genres)})"
        started = time.perf_counter()
        cands = self.retrieve(history, query=text_query, where=where, exclude=exclude)
        retrieved = time.perf_counter()
        if not cands:
            return Ranking([], mode="empty", notes=["Nothing in the catalog matches these filters."],
                           timings={"retrieve": retrieved - started})
        self.score_candidates(history, cands)
        scored = time.perf_counter()
        pool = sorted(cands, key=lambda c: -c.scores["scorer"])[: self.pool]
        ranking = self.rerank(history, pool, query=query, ratings=ratings, profile=profile_text or None,
                              reranker=reranker, blend=blend)
        ranking.candidates = ranking.candidates[:k]
        ranking.timings = {"retrieve": retrieved - started, "score": scored - retrieved,
                           "rerank": time.perf_counter() - scored}
        return ranking

    def chat(self, user_id: str | None = None, k: int = 10, **options: Any) -> Any:
        """A conversation (a :class:`~recchat.chat.ChatSession`); with ``user_id``, it starts from
        that user's history and profile. ``options``: reranker, blend, understand_with_llm,
        explain_with_llm."""
        from recchat.chat import ChatSession

        return ChatSession(self, user_id, k, **options)

    def text_vector(self, item_ids: Sequence[str]) -> np.ndarray:
        return self.index.embeddings(item_ids)
