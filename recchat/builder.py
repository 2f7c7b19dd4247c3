"""The one place a configuration becomes parts: data, index, scorer, reranker, blend, profiles,
domain, and the assembled :class:`~recchat.recommender.Recommender`.

    parts = Builder("books.toml")            # or a dict, a RecommenderConfig, None (MovieLens)
    parts.dataset.catalog, parts.index(), parts.scorer(), parts.reranker()
    rec = Recommender.from_config(parts)     # the same parts, assembled

The CLI, the app, ``Recommender.from_config``, the batch script and the benchmarks all build
through here, so a default is never copied. Each part is made once, on first use; nothing is
written until a part that writes (the index) is asked for, and the configuration is checked
before anything is read.

A change of setting (the app's Settings: another backend, mode or alpha) is an override of the
configuration handed to :meth:`Builder.llm_parts`, which returns the backend, reranker and blend
for it, made once per distinct setting and kept: everything else the configuration says (the
model, ``passes``, ``history``, the tuned blend's norm) stays as configured.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from types import EllipsisType
from typing import TYPE_CHECKING, TypedDict

from recchat.blend import BlendConfig
from recchat.config import LLMSection, RecommenderConfig
from recchat.data.catalog import Catalog, Dataset
from recchat.data.tables import LoadReport
from recchat.types import Interaction

if TYPE_CHECKING:
    import numpy as np

    from recchat.conversation.domain import Domain
    from recchat.conversation.profile import ProfileStore
    from recchat.evaluation import Ranker
    from recchat.index import ItemIndex
    from recchat.llm import LLMBackend
    from recchat.rerank import ItemReranker
    from recchat.retrieve import Retriever
    from recchat.scorer import ItemScorer

# A setting of the [llm] or [blend] section: keys and values as the configuration file has them.
Overrides = Mapping[str, object]


def _stderr(message: str) -> None:
    print(message, file=sys.stderr)


@dataclass
class LLMParts:
    """What a setting of the LLM decides: the backend (None: no LLM), the reranker on it (the null
    reranker without one) and the blend."""

    backend: LLMBackend | None
    reranker: ItemReranker
    blend: BlendConfig


class RecommenderParts(TypedDict):
    """What :meth:`Builder.parts` hands to :class:`~recchat.recommender.Recommender`, by keyword."""

    catalog: Catalog
    index: ItemIndex
    scorer: ItemScorer | None
    reranker: ItemReranker
    blend: BlendConfig
    interactions: Iterable[Interaction]
    pool: int
    retrievers: list[Retriever]
    domain: Domain
    profiles: ProfileStore


class Builder:
    def __init__(
        self,
        config: RecommenderConfig | dict[str, object] | str | Path | None = None,
        *,
        log: Callable[[str], None] = _stderr,
    ):
        self.config = RecommenderConfig.coerce(config)
        self.log = log
        self._backends: dict[str, LLMBackend] = {}  # one per distinct backend, model and options
        self._llm_parts: dict[str, LLMParts] = {}
        self._lock = threading.Lock()  # two app sessions asking at once load a model once
        self.notes: list[str] = []  # what the user should know about the parts (see note)

    @property
    def name(self) -> str:
        return self.config.name

    # -- data ---------------------------------------------------------------------------

    @cached_property
    def dataset(self) -> Dataset:
        """The catalog and interaction log (load reports go to the log); a catalog loaded
        alone before is reused, not read again."""
        loaded = self.__dict__.get("catalog")
        data = self.config.load_dataset(catalog=loaded)
        if loaded is None:
            self._report(data.catalog.report)
        self._report(data.interactions.report)
        return data

    @cached_property
    def catalog(self) -> Catalog:
        """The catalog alone (the log is not read unless something else needs it)."""
        if "dataset" in self.__dict__:
            return self.dataset.catalog
        data = self.config.load_dataset(interactions=False)
        self._report(data.catalog.report)
        return data.catalog

    def _report(self, report: LoadReport | None) -> None:
        if report is None or not report.rows:
            return
        self.log(report.summary())
        for problem in [*report.skipped[:5], *report.warnings[:5]]:
            self.log(f"  {problem}")

    @cached_property
    def domain(self) -> Domain:
        from recchat.conversation.domain import Domain

        return Domain.from_config(self.config, self.catalog)

    # -- stages -------------------------------------------------------------------------

    def index(self, *, build: str = "if-empty", progress: bool = True) -> ItemIndex:
        """The Chroma item index. ``build``: "if-empty" (first use), "always" (incremental
        upsert of new and changed items), or "never"."""
        from recchat.index import ItemIndex

        catalog = self.catalog  # the configuration is checked before a store is opened (and created)
        idx = self.config.index
        index = ItemIndex(
            self.config.collection,
            path=self.config.resolve(idx.path),
            url=idx.url,
            ef_search=idx.ef_search,
            max_neighbors=idx.max_neighbors,
            ef_construction=idx.ef_construction,
            exact_below=idx.exact_below,
        )
        if build == "always" or (build == "if-empty" and not index.complete()):  # a killed build resumes
            report = index.build(catalog, progress=progress)
            self.log(f"{index.name}: {report.summary()}")
        return index

    def scorer(self, *, required: bool = False) -> ItemScorer | None:
        """The trained scorer (or the configured plugin); None when no checkpoint exists yet,
        unless ``required``."""
        section = self.config.scorer
        if section.plugin:
            from recchat.plugins import create

            plugin: ItemScorer = create(
                "scorers",
                section.plugin,
                self.catalog,
                self.dataset.interactions,
                required=("knows", "score", "topk"),
                **section.plugin_options.get(section.plugin, {}),
            )
            return plugin
        from recchat.scorer import CheckpointError, Scorer

        checkpoint = self.config.checkpoint()
        if not checkpoint.is_file():
            if required:
                raise CheckpointError(
                    f"no scorer checkpoint at {checkpoint}; train one with: recchat train{self.config_flag()}"
                )
            return None
        scorer = Scorer.load(checkpoint, catalog=self.catalog, text_vectors=self.text_vectors)
        if scorer.update is not None:  # the catalog changed since training: said, not refused
            self.note(scorer.update.note(f"recchat train --warm-start{self.config_flag()}"))
        return scorer

    def text_vectors(self, items: Catalog, encoder: str = "minilm") -> np.ndarray:
        """The text vectors of ``items`` (a catalog of some items), in its order, by ``encoder``
        (the index's MiniLM vectors by default): what a scorer loaded against a changed catalog
        serves new and changed items from."""
        from recchat.retrieve import text_vectors_for

        return text_vectors_for(items, self.catalog, self.index(build="never", progress=False), encoder)

    def note(self, message: str) -> None:
        """Something the user should know about the assembled parts (not a failure): logged once
        and kept in :attr:`notes`, which the Recommender, the CLI and the app show."""
        if message not in self.notes:
            self.notes.append(message)
            self.log(f"note: {message}")

    def ranking_scorer(self) -> Ranker:
        """The scorer for the commands that rank whole histories with it (evaluation, tune-blend,
        tune-llm): the trained scorer does; a plugin must too. Raises without a checkpoint."""
        from recchat.evaluation import Ranker

        scorer = self.scorer(required=True)
        if not isinstance(scorer, Ranker):
            raise ValueError(f"the scorer {type(scorer).__name__} cannot score whole histories (score_histories)")
        return scorer

    def config_flag(self) -> str:
        """ " --config FILE" for a printed next command (empty for the built-in configuration)."""
        source = self.config.source
        return f" --config {source}" if source and source.parent != Path(__file__).parent / "configs" else ""

    def retrievers(self) -> list[Retriever]:
        """Extra candidate sources from plugins (recchat.retrievers)."""
        from recchat.plugins import create

        section = self.config.scorer
        return [
            create(
                "retrievers",
                name,
                self.catalog,
                self.dataset.interactions,
                required=("retrieve",),
                **section.plugin_options.get(name, {}),
            )
            for name in section.retrievers
        ]

    def llm_config(self, **overrides: object) -> LLMSection:
        """The ``[llm]`` section with ``overrides`` (``backend="vllm"``, ``mode="pointwise"``)
        applied and checked, as the configuration file would be: a bad value is an error naming
        the key."""
        return self.config.replace({"llm": overrides}).llm if overrides else self.config.llm

    def backend(self, **overrides: object) -> LLMBackend | None:
        """The LLM backend (the ``[llm]`` section, with ``overrides``), or None for ``backend =
        "none"``. Loaded once per distinct backend, model and options, then kept."""
        llm = self.llm_config(**overrides)
        if llm.backend == "none":
            return None
        options = dict(llm.options)
        if llm.backend == "openai":
            options = {"base_url": llm.base_url, "concurrency": llm.concurrency, "timeout": llm.timeout, **options}
        key = json.dumps([llm.backend, llm.model, options], sort_keys=True, default=str)
        with self._lock:
            if key not in self._backends:
                from recchat.llm import load_backend

                self._backends[key] = load_backend(llm.backend, llm.model, **options)
            return self._backends[key]

    def reranker(
        self, backend: LLMBackend | None | EllipsisType = ..., *, llm: Overrides | None = None
    ) -> ItemReranker:
        """The LLM reranker (the ``[llm]`` section's mode, passes and history, with the ``llm``
        overrides: ``{"mode": "pointwise"}``) on ``backend`` (default: :meth:`backend`'s), or the
        null reranker (no LLM) for ``backend = "none"``."""
        from recchat.rerank import NO_LLM, Reranker

        chosen = self.backend(**(llm or {})) if isinstance(backend, EllipsisType) else backend
        if chosen is None:
            return NO_LLM
        section = self.llm_config(**(llm or {}))
        return Reranker(
            chosen, section.mode, kind=self.config.domain.item, passes=section.passes, history_limit=section.history
        )

    def blend(self, **overrides: object) -> BlendConfig:
        """The blend tuned for this scorer and model (tune-blend), else the defaults; the
        configuration's alpha and norm win over both, and ``overrides`` (``alpha=0.3``) over
        the configuration."""
        path = BlendConfig.path_for(self.config.checkpoint(), self.config.llm.model)
        config = BlendConfig.load(path) if path.is_file() else BlendConfig()
        section = self.config.replace({"blend": overrides}).blend if overrides else self.config.blend
        if section.alpha is not None:
            config.alpha = section.alpha
        if section.norm is not None:
            config.norm = section.norm
        return config

    def llm_parts(
        self,
        llm: Overrides | None = None,
        blend: Overrides | None = None,
        *,
        backend: LLMBackend | None | EllipsisType = ...,
        wrap: Callable[[LLMBackend | None], LLMBackend | None] | None = None,
    ) -> LLMParts:
        """Backend, reranker and blend for a setting: the configuration with ``llm`` and ``blend``
        overrides (what the app's Settings change), made once per distinct setting and kept.
        ``backend`` is one already running to use (the app's own, in another mode); ``wrap``
        wraps a newly loaded backend before the reranker is built on it (the app gathers an
        in-process model's concurrent calls)."""
        key = json.dumps(
            [dict(llm or {}), dict(blend or {}), None if isinstance(backend, EllipsisType) else id(backend)],
            sort_keys=True,
            default=str,
        )
        if key not in self._llm_parts:
            if isinstance(backend, EllipsisType):
                backend = self.backend(**(llm or {}))
                backend = wrap(backend) if wrap is not None else backend
            self._llm_parts[key] = LLMParts(backend, self.reranker(backend, llm=llm), self.blend(**(blend or {})))
        return self._llm_parts[key]

    def profiles(
        self,
        interactions: Iterable[Interaction] | None = None,
        *,
        backend: LLMBackend | None = None,
        folder: Path | None = None,
    ) -> ProfileStore:
        from recchat.conversation.profile import ProfileStore

        return ProfileStore(
            folder or self.config.profiles_folder(),
            self.catalog,
            self.dataset.interactions if interactions is None else interactions,
            backend=backend,
            domain=self.domain,
        )

    def parts(
        self,
        *,
        interactions: Iterable[Interaction] | None = None,
        reranker: ItemReranker | EllipsisType = ...,
        profiles_folder: Path | None = None,
        build_index: str = "if-empty",
    ) -> RecommenderParts:
        """Everything a :class:`~recchat.recommender.Recommender` takes, as its keyword arguments
        (``Recommender.from_config`` is the caller). ``interactions`` replaces the log (the
        simulation's held-out one); ``reranker`` replaces the configured one."""
        log = self.dataset.interactions if interactions is None else interactions
        chosen = self.reranker() if isinstance(reranker, EllipsisType) else reranker
        return {
            "catalog": self.catalog,
            "index": self.index(build=build_index),
            "scorer": self.scorer(),
            "reranker": chosen,
            "blend": self.blend(),
            "interactions": log,
            "pool": self.config.llm.pool,
            "retrievers": self.retrievers(),
            "domain": self.domain,
            "profiles": self.profiles(log, backend=chosen.backend, folder=profiles_folder),
        }
