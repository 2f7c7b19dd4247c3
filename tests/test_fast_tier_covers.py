"""Every module of recchat (and the app, recchat.ui) is imported by at least one test file whose
tests are marked fast, so a new module without fast tests fails here. The map is read from the
source: a file counts when it marks the fast tier (``pytestmark = pytest.mark.fast`` or a
``@pytest.mark.fast`` test) and imports the module, directly or through a package it belongs to
(``from recchat.index import ItemIndex`` covers recchat.index and its submodules)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from test_structure import _modules

pytestmark = pytest.mark.fast

TESTS = Path(__file__).resolve().parent


def _imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names |= {f"{node.module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
    # The app is installed as recchat.ui; tests may also import it as ui.
    return names | {"recchat.ui" + n[2:] for n in names if n == "ui" or n.startswith("ui.")}


def fast_test_imports() -> dict[str, set[str]]:
    found = {}
    for path in sorted(TESTS.glob("test_*.py")):
        text = path.read_text()
        if "pytest.mark.fast" in text:
            found[path.name] = _imported(path)
    return found


def test_every_module_has_fast_tests():
    modules = _modules()
    imported = set().union(*fast_test_imports().values())

    def covered(name: str) -> bool:
        # The module itself, or a package above it (a facade), or a name in it (``recchat.x.name``).
        parts = name.split(".")
        above = {".".join(parts[:i]) for i in range(2, len(parts) + 1)} & set(modules)
        return bool(above & imported) or any(n.startswith(name + ".") for n in imported)

    missing = sorted(m for m in modules if m != "recchat" and not covered(m))
    assert not missing, (
        f"modules that no fast test imports: {missing}; add fast tests for them (see DEVELOPING.md and tests/fakes.py)"
    )
