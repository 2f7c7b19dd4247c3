"""The shape of the code: no import circles, the CLI split by purpose, the app imported as a package.

Imports are read from the source (every ``import`` statement, also those inside functions), so a
circle hidden behind a lazy import fails here too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _modules() -> dict[str, Path]:
    found = {}
    for folder, package in ((ROOT / "recchat", "recchat"), (ROOT / "ui", "recchat.ui")):
        for path in folder.rglob("*.py"):
            parts = [package, *path.relative_to(folder).with_suffix("").parts]
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            # "from recchat import config" imports the module recchat.config, not the package.
            deps |= {
                t
                for t in targets
                if t in modules
                and t != name
                and not (
                    t == node.module
                    and isinstance(node, ast.ImportFrom)
                    and all(f"{t}.{a.name}" in modules for a in node.names)
                )
            }
        graph[name] = deps
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of two or more modules (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                out.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


@pytest.mark.fast
def test_no_import_circles():
    graph = import_graph()
    assert len(graph) > 30 and "recchat.ui.app" in graph  # the walk sees the whole package and the app
    assert cycles(graph) == []


@pytest.mark.fast
def test_the_walk_finds_a_circle_when_there_is_one():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


# The pipeline's layers, lowest first. A module may import its own layer and the ones below it,
# never one above: the data flow (catalog -> index -> retrieve -> score -> rerank -> blend ->
# explain -> chat / batch / API) reads off this list.
LAYERS = [
    ("foundation", ["recchat.types", "recchat.files", "recchat.assets", "recchat.enrich", "recchat.plugins"]),
    ("data", ["recchat.data", "recchat.privacy", "recchat.templates"]),
    ("configuration and LLM backends", ["recchat.config", "recchat.llm"]),
    ("index, rerank, blend", ["recchat.index", "recchat.rerank", "recchat.blend"]),
    (
        "retrieve, score, evaluate, tune",
        ["recchat.retrieve", "recchat.scorer", "recchat.scorer_update", "recchat.evaluation", "recchat.tune"],
    ),
    ("conversation", ["recchat.conversation"]),
    ("assembly and batch", ["recchat.builder", "recchat.recommender", "recchat.batch", "recchat.doctor"]),
    ("front ends", ["recchat.cli", "recchat.ui", "recchat"]),
]


def layer_of(module: str) -> int:
    best = None
    for rank, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if module == prefix or module.startswith(prefix + "."):
                if best is None or len(prefix) > best[0]:
                    best = (len(prefix), rank)
    assert best is not None, f"{module} belongs to no layer: add it to LAYERS"
    return best[1]


@pytest.mark.fast
def test_layers_import_only_downwards():
    wrong = [
        f"{name} ({LAYERS[layer_of(name)][0]}) imports {dep} ({LAYERS[layer_of(dep)][0]})"
        for name, deps in import_graph().items()
        for dep in deps
        if layer_of(dep) > layer_of(name)
    ]
    assert wrong == []


@pytest.mark.fast
def test_the_layer_rule_catches_an_upward_import():
    assert layer_of("recchat.data.catalog") < layer_of("recchat.conversation.chat")
    assert layer_of("recchat.recommender") > layer_of("recchat.conversation.chat")


@pytest.mark.fast
def test_no_module_over_500_lines_and_the_app_is_imported():
    sizes = {
        str(p.relative_to(ROOT)): len(p.read_text().splitlines())
        for p in [*(ROOT / "recchat").rglob("*.py"), *(ROOT / "ui").rglob("*.py")]
    }
    assert {k: v for k, v in sizes.items() if v > 500} == {}
    assert not (ROOT / "recchat" / "cli.py").exists() and (ROOT / "recchat" / "cli" / "__init__.py").is_file()
    for path in [*(ROOT / "recchat").rglob("*.py"), *(ROOT / "ui").rglob("*.py")]:
        assert "spec_from_file_location" not in path.read_text(), path
    from recchat.ui.app import build_app  # installed with the package

    assert callable(build_app)


@pytest.mark.fast
def test_defaults_live_in_the_configuration_only():
    """The pipeline's defaults (server URL, rerank mode, pool) are written once, in recchat/config/."""
    for path in [*(ROOT / "recchat").rglob("*.py"), *(ROOT / "ui").rglob("*.py")]:
        if path.parent.name == "config":
            continue
        text = path.read_text()
        assert "http://127.0.0.1:8000/v1" not in text, path


def any_in_signatures(paths: list[Path]) -> dict[str, int]:
    """How often ``Any`` appears in the parameter and return annotations of each file's functions."""
    counts = {}
    for path in paths:
        n = 0
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                a = node.args
                params = [*a.posonlyargs, *a.args, *a.kwonlyargs, a.vararg, a.kwarg]
                annotations = [p.annotation for p in params if p is not None and p.annotation is not None]
                annotations += [node.returns] if node.returns is not None else []
                for ann in annotations:
                    for sub in ast.walk(ann):
                        name = sub.id if isinstance(sub, ast.Name) else getattr(sub, "attr", None)
                        text = sub.value if isinstance(sub, ast.Constant) and isinstance(sub.value, str) else ""
                        n += name == "Any" or "Any" in text
        counts[path.name] = n
    return counts


@pytest.mark.fast
def test_seams_are_typed_not_any(tmp_path):
    """The package's signatures name their types: 369 ``Any`` before the seams were typed (2026-12-05), 24 after.
    The few left are JSON or TOML read from disk and options forwarded to a library."""
    counts = any_in_signatures([*(ROOT / "recchat").rglob("*.py"), *(ROOT / "ui").rglob("*.py")])
    assert sum(counts.values()) <= 30, sorted(counts.items(), key=lambda kv: -kv[1])[:10]
    sample = tmp_path / "sample.py"
    sample.write_text("def f(x: Any, *a: int, **k: 'dict[str, Any]') -> list[Any]:\n    y: Any = x\n")
    assert any_in_signatures([sample]) == {"sample.py": 3}  # the variable's annotation is not a signature
