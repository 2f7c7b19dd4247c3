"""The documentation's generated references cover every configuration key and every command, and
the README stays a front door whose links resolve. Fast: no model, no index, no site build."""

from __future__ import annotations

import dataclasses
import importlib.util
import re
import typing
from pathlib import Path

import pytest

pytestmark = pytest.mark.fast

ROOT = Path(__file__).resolve().parents[1]


def _generator():
    spec = importlib.util.spec_from_file_location("recchat_docs_gen_ref", ROOT / "docs" / "gen_ref.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _config_keys() -> list[str]:
    """Every key of the configuration file, walked here independently of the generator."""
    from recchat.config import RecommenderConfig

    keys: list[str] = []

    def walk(cls: type, prefix: str) -> None:
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            if f.name == "source" or f.metadata.get("internal"):
                continue
            hint = hints[f.name]
            keys.append(prefix + f.name)
            if isinstance(hint, type) and dataclasses.is_dataclass(hint):
                walk(hint, prefix + f.name + ".")
            elif typing.get_origin(hint) is dict and dataclasses.is_dataclass(typing.get_args(hint)[1]):
                walk(typing.get_args(hint)[1], prefix + f.name + ".NAME.")

    walk(RecommenderConfig, "")
    return keys


def test_every_config_key_is_in_the_reference():
    text = _generator().config_reference()
    keys = _config_keys()
    assert len(keys) > 40
    missing = [k for k in keys if f"`{k}`" not in text and f"`[{k}]`" not in text]  # a key or a table
    assert missing == []
    for line in text.splitlines():
        if line.startswith("| `"):
            assert line.rstrip().rstrip("|").strip().rsplit("|", 1)[-1].strip(), line  # help text present


def test_every_command_is_in_the_cli_reference():
    gen = _generator()
    text = gen.cli_reference()
    commands = gen.cli_commands()
    parser = gen.build_parser()
    top = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    assert set(top.choices) <= set(commands)
    assert {"init", "train", "ui", "rerank"} <= set(commands)
    missing = [c for c in commands if f"`recchat {c}`" not in text]
    assert missing == []
    for name, sub in top.choices.items():
        for action in sub._actions:
            for option in action.option_strings:
                if option not in ("-h", "--help"):
                    assert option in text, f"recchat {name} {option}"


def test_a_field_without_help_fails_the_reference():
    gen = _generator()

    @dataclasses.dataclass
    class Section:
        """A section."""

        documented: int = 1  # has help
        undocumented: int = 2

    with pytest.raises(gen.DocsReferenceError, match="undocumented"):
        for f in dataclasses.fields(Section):
            gen._help(Section, f, {})


def test_the_readme_is_a_front_door_with_working_links():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 250
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", readme) + re.findall(r'<img src="([^"]+)"', readme)
    local = [t for t in targets if "://" not in t]
    assert any(t.startswith("docs/pages/") for t in local) and "bench/RESULTS.md" in local
    assert [t for t in local if not (ROOT / t).exists()] == []
    for needed in ("bash .ci/env recchat ui", "bash .ci/test", "recchat init", 'if __name__ == "__main__":'):
        assert needed in readme


def test_doc_pages_link_only_to_existing_repository_files():
    gen = _generator()
    pages = ROOT / "docs" / "pages"
    for page in pages.glob("*.md"):
        for target in gen.repo_links(page.read_text(encoding="utf-8")):
            assert (ROOT / target).is_file(), f"{page.name}: ../../{target}"


def test_the_committed_references_are_what_the_code_generates_now():
    gen = _generator()
    assert gen.stale_pages() == [], "run: python docs/gen_ref.py"
    page = (ROOT / "docs" / "pages" / "configuration.md").read_text(encoding="utf-8")
    edited = page.replace("| `blend.alpha` |", "| `blend.weight` |", 1)
    assert edited != page and gen.filled(edited, "configuration.md") == page  # a stale table is caught
