"""The pipeline in one object: retrieve -> score -> rerank (LLM) -> blend.

    rec = Recommender.from_config()                        # MovieLens assets, defaults
    rec = Recommender.from_config("books.toml")            # any catalog, from its configuration
    rec.recommend(["1", "95", "71"], k=10, filters="year<1980")
    rec.recommend("196", k=10)                             # a user id of the interaction log
    session = rec.chat()                                   # see recchat.conversation.chat

Candidates come from the candidate sources (recchat.retrieve), merged in one place under one
metadata filter: the trained scorer's top items for the history (by behaviour), plugin
retrievers, and Chroma text retrieval (the query, or the history's items). Every candidate is then scored by the scorer (the prior), reranked by the
LLM when one is configured, and blended; a failing or absent LLM leaves the scorer's order,
marked degraded.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import EllipsisType
from typing import TYPE_CHECKING, TypedDict, Unpack

import numpy as np

from recchat.blend import BlendConfig, rerank_and_blend
from recchat.config import LLMSection
from recchat.data.catalog import Catalog, events_by_user
from recchat.index import IndexUnavailableError, ItemIndex, parse_where
from recchat.privacy import TitleExemptions, exempting
from recchat.rerank import NO_LLM
from recchat.retrieve import (
    CandidateRequest,
    CandidateSource,
    PluginSource,
    Retriever,
    ScorerSource,
    TextSource,
    merge_candidates,
)
from recchat.types import Candidate, Interaction, Ranking

if TYPE_CHECKING:
    from recchat.builder import Builder
    from recchat.config import RecommenderConfig
    from recchat.conversation.chat import ChatSession
    from recchat.conversation.domain import Domain
    from recchat.conversation.link import Linker
    from recchat.conversation.profile import Profile, ProfileStore
    from recchat.conversation.sessions import SessionStore
    from recchat.llm import LLMBackend
    from recchat.privacy import ForgetReport
    from recchat.rerank import ItemReranker
    from recchat.scorer import ItemScorer


class ChatOptions(TypedDict, total=False):
    """What :meth:`Recommender.chat` passes on to the session (its defaults are the session's)."""

    reranker: ItemReranker | None
    blend: BlendConfig | None
    understand_with_llm: bool | None
    explain_with_llm: bool
    explain_top: int


class SkipUnavailable:
    """A candidate source whose store may be out of reach (a Chroma server restarting): its
    IndexUnavailableError goes to ``failures`` and it gives no candidates, so the others still answer."""

    def __init__(self, source: CandidateSource, failures: list[IndexUnavailableError]):
        self.source, self.failures, self.name = source, failures, source.name

    def candidates(self, request: CandidateRequest) -> list[Candidate]:
        try:
            return self.source.candidates(request)
        except IndexUnavailableError as exc:
            self.failures.append(exc)
            return []


class Recommender:
    """Retrieve, score, rerank and blend for one catalog.

    The parts are plain objects: ``index`` an :class:`~recchat.index.ItemIndex`, ``scorer`` any
    :class:`~recchat.scorer.ItemScorer` (or None), ``reranker`` a :class:`~recchat.rerank.Reranker`
    (default the null reranker ``NO_LLM``: the scorer's order, marked degraded), ``retrievers``
    extra candidate sources with ``retrieve(history, k, exclude)``, ``profiles`` a
    :class:`~recchat.conversation.profile.ProfileStore`, ``domain`` the catalog's
    :class:`~recchat.conversation.domain.Domain` (inferred from the fields when not given). ``interactions``
    lets ``recommend`` and ``chat`` take a user id. ``name`` is the configuration's (it names
    the saved-sessions folder). :class:`~recchat.builder.Builder` assembles all of them from a
    configuration.
    """

    def __init__(
        self,
        catalog: Catalog,
        index: ItemIndex,
        scorer: ItemScorer | None = None,
        reranker: ItemReranker = NO_LLM,
        blend: BlendConfig | None = None,
        *,
        interactions: Iterable[Interaction] | None = None,
        pool: int = LLMSection.pool,
        retrievers: Sequence[Retriever] = (),
        profiles: ProfileStore | None = None,
        domain: Domain | None = None,
        name: str = "default",
    ):
        from recchat.conversation.domain import Domain

        self.catalog, self.index, self.scorer, self.reranker = catalog, index, scorer, reranker
        self.blend = blend or BlendConfig()
        self.pool, self.retrievers, self.profiles = pool, list(retrievers), profiles
        self.domain = domain or Domain.infer(catalog)
        self.kind = self.domain.item
        self.name = name
        # "10 Cloverfield Lane" is a film here, not an address: masking inside this recommender's calls leaves it.
        self.pii_exemptions = TitleExemptions.of(item.title for item in catalog)
        self.user_histories: dict[str, list[tuple[str, float | None]]] = {
            u: [(e.item, e.rating) for e in events] for u, events in events_by_user(interactions or ()).items()
        }
        self._fans: dict[str, set[str]] | None = None
        self._linker: Linker | None = None
        # The Builder this recommender was assembled by (from_config): the app asks it for the
        # parts of another setting. None for a recommender put together by hand.
        self.builder: Builder | None = None
        # What the user should know about the parts (a scorer serving new items from their text).
        self.notes: list[str] = []

    @property
    def linker(self) -> Linker:
        """The catalog's title linker (:mod:`recchat.conversation.link`): built on first use, then shared by
        every session, so aliases are derived once per catalog, never per message."""
        if self._linker is None:
            from collections import Counter

            from recchat.conversation.link import Linker

            popularity = Counter(item for events in self.user_histories.values() for item, _ in events)
            self._linker = Linker.for_domain(self.catalog, self.domain, popularity)
        return self._linker

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
    def from_config(
        cls,
        config: RecommenderConfig | Builder | dict[str, object] | str | Path | None = None,
        *,
        interactions: Iterable[Interaction] | None = None,
        reranker: ItemReranker | EllipsisType = ...,
        profiles_folder: Path | None = None,
    ) -> Recommender:
        """Build from a configuration: a TOML file's path, a dict, a RecommenderConfig (see
        recchat.config), or a :class:`~recchat.builder.Builder` whose parts are already made.
        With none: MovieLens-100K, its Chroma index (built on first use), the trained scorer and
        tuned blend if present, the LLM picked by ``auto``, and profiles cached under
        $RECCHAT_HOME/profiles. ``interactions`` replaces the log the users come from,
        ``reranker`` the configured LLM reranker (``NO_LLM``: none)."""
        from recchat.builder import Builder

        parts = config if isinstance(config, Builder) else Builder(config)
        rec = cls(
            **parts.parts(interactions=interactions, reranker=reranker, profiles_folder=profiles_folder),
            name=parts.name,
        )
        rec.builder = parts
        rec.notes = list(parts.notes)
        return rec

    @property
    def backend(self) -> LLMBackend | None:
        """The LLM backend behind the reranker (used for understanding and explanations too)."""
        return getattr(self.reranker, "backend", None)

    def concurrent(self) -> Recommender:
        """Make this recommender ready to serve several threads at once (the app does this): an
        in-process LLM's calls from concurrent requests are gathered into shared calls
        (recchat.llm.gather) instead of fighting over the same cores. Returns self; calling it
        again changes nothing."""
        import copy

        from recchat.llm.gather import gathered
        from recchat.rerank import Reranker

        backend = self.backend
        shared = gathered(backend)
        if shared is not backend and shared is not None and isinstance(self.reranker, Reranker):
            reranker = copy.copy(self.reranker)
            reranker.backend = shared
            self.reranker = reranker
            if self.profiles is not None and self.profiles.backend is backend:
                self.profiles.backend = shared
        return self

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

    def profile(self, user: str) -> Profile | None:
        """The user's taste profile (cached), or None without a profile store or for an unknown user."""
        if self.profiles is None or user not in self.user_histories:
            return None
        with exempting(self.pii_exemptions):
            return self.profiles.get(user)

    def _known(self, scorer: ItemScorer, history: Sequence[str]) -> list[str]:
        return [h for h in history if scorer.knows(h)]

    def sources(self) -> list[CandidateSource]:
        """The candidate sources, in the order they are merged: the scorer's top items (by
        behaviour), plugin retrievers, then Chroma text matches."""
        out: list[CandidateSource] = [ScorerSource(self.scorer)] if self.scorer is not None else []
        out += [PluginSource(r, self.catalog) for r in self.retrievers]
        return out + [TextSource(self.index, self.catalog)]

    def retrieve(
        self,
        history: Sequence[str],
        *,
        query: str | None = None,
        where: dict[str, object] | None = None,
        exclude: Sequence[str] = (),
        k: int | None = None,
        skipped: list[str] | None = None,
    ) -> list[Candidate]:
        """Candidates from every source under ``where`` (up to ``k`` new ones from each).

        With ``skipped`` (a list), a source whose Chroma server does not answer is left out and
        the reason appended there, as long as another source still gives candidates; otherwise
        (or without ``skipped``) its :class:`~recchat.index.IndexUnavailableError` is raised."""
        request = CandidateRequest(list(history), query, where, list(exclude), k or self.pool)
        if skipped is None:
            return merge_candidates(self.sources(), request, self.catalog)
        failures: list[IndexUnavailableError] = []
        cands = merge_candidates([SkipUnavailable(s, failures) for s in self.sources()], request, self.catalog)
        if failures and not cands:
            raise failures[0]
        skipped += [str(f) for f in failures]
        return cands

    def score_candidates(self, history: Sequence[str], cands: Sequence[Candidate]) -> None:
        """Give every candidate ``scores["scorer"]``, the prior the blend starts from."""
        if self.scorer is None:
            for c in cands:
                c.scores["scorer"] = c.scores.get("text", c.score)
            return
        scorer = self.scorer
        known = self._known(scorer, history)
        ids = [c.item.id for c in cands if scorer.knows(c.item.id)]
        scores = dict(zip(ids, map(float, scorer.score(known, ids)))) if known and ids else {}
        floor = min(scores.values(), default=0.0) - 1.0
        for c in cands:
            # A candidate with no behaviour score sits below the scorer's own.
            c.scores["scorer"] = scores.get(c.item.id, floor)

    def candidates(
        self,
        history: Sequence[str],
        *,
        query: str | None = None,
        where: dict[str, object] | None = None,
        exclude: Sequence[str] = (),
        k: int | None = None,
    ) -> list[Candidate]:
        """Retrieved candidates with their scorer priors."""
        cands = self.retrieve(history, query=query, where=where, exclude=exclude, k=k)
        self.score_candidates(history, cands)
        return cands

    def rerank(
        self,
        history: Sequence[str],
        candidates: Sequence[Candidate],
        *,
        query: str | None = None,
        ratings: Sequence[float | None] | None = None,
        profile: str | None = None,
        reranker: ItemReranker | None = None,
        blend: BlendConfig | None = None,
    ) -> Ranking:
        """LLM rerank and blend of given candidates (their ``scores["scorer"]`` as the prior)."""
        items = [self.catalog[h] for h in history]
        prior = (
            "the trained scorer"
            if self.scorer is not None
            else "text similarity (no trained scorer found: run recchat train)"
        )
        with exempting(self.pii_exemptions):
            return rerank_and_blend(
                reranker or self.reranker,
                items,
                candidates,
                blend or self.blend,
                ratings=ratings,
                query=query,
                profile=profile,
                prior=prior,
            )

    def recommend(
        self,
        user: str | Sequence[str],
        k: int = 10,
        filters: str | dict[str, object] | None = None,
        *,
        query: str | None = None,
        exclude: Sequence[str] = (),
        profile: Profile | str | None = None,
        reranker: ItemReranker | None = None,
        blend: BlendConfig | None = None,
    ) -> Ranking:
        """The top ``k`` for a user id or a history of item ids, under optional filters.

        ``filters``: "year<1980 and genres contains Comedy" or a Chroma ``where`` dict. ``query``:
        the user's wishes in words. ``profile``: a Profile (or text) for the prompt and the text
        query. ``reranker``/``blend`` override the recommender's for this call (``NO_LLM``: no LLM).
        The returned Ranking's ``timings`` has seconds for retrieve, score and rerank. While the
        Chroma server is out of reach, the other sources' candidates are ranked, marked degraded.
        """
        history, ratings = self.history_of(user)
        where = parse_where(filters) if isinstance(filters, str) else filters
        profile_text = profile if isinstance(profile, str) or profile is None else profile.prompt_text()
        top_values = [] if isinstance(profile, str) or profile is None else profile.top_values
        text_query = query
        if query and top_values:
            text_query = f"{query} ({', '.join(top_values)})"
        started = time.perf_counter()
        skipped: list[str] = []
        cands = self.retrieve(history, query=text_query, where=where, exclude=exclude, skipped=skipped)
        retrieved = time.perf_counter()
        if not cands:
            return Ranking(
                [],
                mode="empty",
                notes=["Nothing in the catalog matches these filters."],
                timings={"retrieve": retrieved - started},
            )
        self.score_candidates(history, cands)
        scored = time.perf_counter()
        pool = sorted(cands, key=lambda c: -c.scores["scorer"])[: self.pool]
        ranking = self.rerank(
            history, pool, query=query, ratings=ratings, profile=profile_text or None, reranker=reranker, blend=blend
        )
        ranking.candidates = ranking.candidates[:k]
        ranking.timings = {
            "retrieve": retrieved - started,
            "score": scored - retrieved,
            "rerank": time.perf_counter() - scored,
        }
        if skipped:
            ranking.degraded = True
            ranking.notes.insert(
                0,
                f"Text search was unavailable, so these picks come from the trained scorer "
                f"and the other candidate sources only ({skipped[0]})",
            )
        return ranking

    def chat(self, user_id: str | None = None, k: int = 10, **options: Unpack[ChatOptions]) -> ChatSession:
        """A conversation (a :class:`~recchat.conversation.chat.ChatSession`); with ``user_id``, it starts from
        that user's history and profile. ``options``: reranker, blend, understand_with_llm,
        explain_with_llm."""
        from recchat.conversation.chat import ChatSession

        return ChatSession(self, user_id, k, **options)

    def sessions(self) -> SessionStore:
        """Where this configuration's chat sessions are saved (a :class:`~recchat.conversation.sessions.SessionStore`)."""
        from recchat.conversation.sessions import SessionStore

        return SessionStore.for_config(self.name)

    def forget_user(self, user_id: str) -> ForgetReport:
        """Remove everything recchat keeps about ``user_id`` under $RECCHAT_HOME (cached profiles,
        saved sessions, prompt-log records) and in this recommender's profile folder, then search
        $RECCHAT_HOME for anything left. Returns a :class:`~recchat.privacy.ForgetReport`
        (``print(report.summary())``). The interaction log is the caller's data: not touched."""
        from recchat.privacy import forget_user

        return forget_user(user_id, profile_folders=[self.profiles.folder] if self.profiles is not None else [])

    def text_vector(self, item_ids: Sequence[str]) -> np.ndarray:
        """Unit text vectors of ``item_ids``: the index's, or while its Chroma server is out of
        reach the same vectors from the embedder (whose cache holds every indexed item's)."""
        try:
            return self.index.embeddings(item_ids)
        except IndexUnavailableError:
            embedder = getattr(self.index, "embedder", None)
            if embedder is None:
                raise
            return embedder.encode([self.catalog[i].text for i in item_ids], cache=True)
