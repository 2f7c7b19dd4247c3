"""Third-party parts, registered through Python entry points.

A package adds an LLM backend, a scorer or a retriever by declaring an entry point::

    [project.entry-points."recchat.llm_backends"]
    mybackend = "my_package.backend:MyBackend"      # called as MyBackend(model=..., **options)

    [project.entry-points."recchat.scorers"]
    myscorer = "my_package.scorer:make_scorer"      # called as make_scorer(catalog, interactions, **options)

    [project.entry-points."recchat.retrievers"]
    myretriever = "my_package.retrieve:MyRetriever" # called as MyRetriever(catalog, interactions, **options)

The object each returns follows the protocol of its kind: ``recchat.llm.LLMBackend``,
``recchat.scorer.ItemScorer`` or ``recchat.retrieve.Retriever``. Then
``load_backend("mybackend")`` or ``Recommender.from_config({"scorer_plugin": "myscorer",
"retrievers": ["myretriever"]})`` uses it. A plugin that fails to import is an error that names
the package and the entry point; recchat never quietly uses something else instead.
"""

from __future__ import annotations

from importlib import metadata
from typing import Any

GROUPS = {"llm_backends": "recchat.llm_backends", "scorers": "recchat.scorers", "retrievers": "recchat.retrievers"}


class PluginError(RuntimeError):
    """A plugin is missing, fails to import, or does not follow its protocol."""


def available(kind: str) -> dict[str, metadata.EntryPoint]:
    """Installed plugins of one kind ("llm_backends", "scorers", "retrievers"), by name."""
    if kind not in GROUPS:
        raise ValueError(f"unknown plugin kind '{kind}'; choose from {', '.join(GROUPS)}")
    return {ep.name: ep for ep in metadata.entry_points(group=GROUPS[kind])}


def load_plugin(kind: str, name: str) -> Any:
    """The object a plugin's entry point names (a class or a factory)."""
    found = available(kind)
    if name not in found:
        installed = ", ".join(sorted(found)) or "none"
        raise PluginError(
            f"no {kind[:-1].replace('_', ' ')} plugin named '{name}' (entry point group "
            f"'{GROUPS[kind]}'; installed: {installed}). Install the package that provides it."
        )
    ep = found[name]
    package = f"{ep.dist.name} {ep.dist.version}" if ep.dist is not None else "an unknown package"
    try:
        return ep.load()
    except Exception as exc:  # any import-time failure of third-party code
        raise PluginError(
            f"the {kind[:-1].replace('_', ' ')} plugin '{name}' ({ep.value}, from {package}) failed "
            f"to load: {type(exc).__name__}: {exc}. Fix or uninstall that package; recchat does "
            "not fall back to another one."
        ) from exc


def create(kind: str, name: str, *args: Any, required: tuple[str, ...] = (), **options: Any) -> Any:
    """Load a plugin, call it, and check the result has the protocol's methods."""
    factory = load_plugin(kind, name)
    try:
        obj = factory(*args, **options)
    except Exception as exc:
        raise PluginError(f"the plugin '{name}' ({GROUPS[kind]}) failed to start: {type(exc).__name__}: {exc}") from exc
    missing = [m for m in required if not callable(getattr(obj, m, None))]
    if missing:
        raise PluginError(f"the plugin '{name}' ({GROUPS[kind]}) lacks method(s): {', '.join(missing)}")
    return obj
