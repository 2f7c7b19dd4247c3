"""Generated references for the documentation site, and the mkdocs hook that fills them in.

One source each: the configuration reference comes from the dataclasses in ``recchat.config``
(``RecommenderConfig`` and its sections: names, types and defaults from ``dataclasses.fields()``,
the help from each field's source comment, the section text from the class docstring), the CLI
reference from the argparse parser that ``recchat.cli`` builds. The generated text sits in the
pages between markers, so the pages read whole on GitHub too:

- ``<!-- recchat:config-reference -->`` ... ``<!-- /recchat:config-reference -->`` in pages/configuration.md
- ``<!-- recchat:cli-reference -->`` ... ``<!-- /recchat:cli-reference -->`` in pages/cli.md

``python docs/gen_ref.py`` rewrites them. The site build (``on_page_markdown``) stops when a page
differs from what the code generates now, so a changed key or option cannot leave the reference
stale.

A configuration field without help, or a section without a docstring, stops the build
(``DocsReferenceError``), so the reference cannot silently lose a key.

The hook also lets pages link to repository files the way GitHub resolves them
(``../../bench/RESULTS.md`` from ``docs/pages/``): each such file must exist (else the build
stops), is copied into the site under ``repo/`` and the link is pointed there.

``tests/test_docs.py`` imports this file by path and checks the generated text.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import io
import json
import os
import posixpath
import re
import sys
import textwrap
import tokenize
import typing
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

REPO_LINK = re.compile(r"(\]\()(\.\./\.\./)([^)\s#]+)(#[^)\s]*)?(\))")
INTERNAL_FIELDS = {"source"}  # attributes of a loaded configuration, not keys of the file


class DocsReferenceError(RuntimeError):
    """The source a reference is generated from lacks something the reference needs."""


# -- configuration ---------------------------------------------------------------------------


def _config_root() -> type:
    from recchat.config import RecommenderConfig

    return RecommenderConfig


def _is_internal(f: dataclasses.Field) -> bool:
    return f.name in INTERNAL_FIELDS or bool(f.metadata.get("internal"))


def _docstring(cls: type) -> str:
    doc = cls.__dict__.get("__doc__") or ""
    # dataclass() writes "Name(field: type = ...)" where the class has no docstring
    if not doc or doc.startswith(cls.__name__ + "("):
        return ""
    return inspect.cleandoc(doc)


def _comments(cls: type) -> dict[str, str]:
    """Help per field declared in ``cls`` itself: the comment ending the field's line (and the
    comment lines after it when that comment is visibly unfinished), else the comment block
    right above the field."""
    lines, _ = inspect.getsourcelines(cls)
    source = textwrap.dedent("".join(lines))
    by_line: dict[int, str] = {}
    code_lines: set[int] = set()
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            by_line[tok.start[0]] = tok.string.lstrip("#").strip()
        elif tok.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER):
            for n in range(tok.start[0], tok.end[0] + 1):
                code_lines.add(n)
    node = ast.parse(source).body[0]
    assert isinstance(node, ast.ClassDef)
    out: dict[str, str] = {}
    consumed: set[int] = set()  # comment lines that finished the previous field's comment
    for stmt in node.body:
        if not (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)):
            continue
        first, last = stmt.lineno, stmt.end_lineno or stmt.lineno
        trailing = [by_line[n] for n in range(first, last + 1) if n in by_line]
        above: list[str] = []
        n = first - 1
        while n in by_line and n not in code_lines and n not in consumed:
            above.insert(0, by_line[n])
            n -= 1
        if trailing:
            text = " ".join(trailing)
            n = last + 1
            while _unfinished(text) and n in by_line and n not in code_lines:
                text += " " + by_line[n]
                consumed.add(n)
                n += 1
            if above:  # a note over this field (or a group of fields starting here)
                text += " (" + " ".join(above) + ")"
        else:
            text = " ".join(above)
        out[stmt.target.id] = text.strip()
    return out


def _unfinished(text: str) -> bool:
    return text.endswith((":", ",", "(", "-")) or text.count("(") > text.count(")")


def _owner(cls: type, name: str) -> type:
    for klass in cls.__mro__:
        if name in klass.__dict__.get("__annotations__", {}):
            return klass
    return cls


def _help(cls: type, f: dataclasses.Field, cache: dict[type, dict[str, str]]) -> str:
    owner = _owner(cls, f.name)
    if owner not in cache:
        cache[owner] = _comments(owner)
    text = cache[owner].get(f.name) or str(f.metadata.get("help", "")).strip()
    if not text:
        raise DocsReferenceError(
            f"{owner.__module__}.{owner.__qualname__}.{f.name} has no help: end its line with "
            f"'  # what it is' (or give it metadata={{'help': ...}}); the configuration reference "
            "lists every key with its help"
        )
    return text


def _default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        return f.default_factory()  # type: ignore[misc]
    return dataclasses.MISSING


def _show_default(value: Any) -> str:
    if value is dataclasses.MISSING:
        return "(required)"
    if value is None:
        return "(unset)"
    if dataclasses.is_dataclass(value):
        return "(table)"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, (str, list, dict, int, float)):
        text = json.dumps(value, ensure_ascii=False, default=str)
        if len(text) > 60:
            text = text[:57] + "..."
        return f"`{text}`"
    return f"`{value!r}`"


def _hints(cls: type) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls)
    except Exception:  # an annotation that cannot be evaluated here: fall back to the text
        return {}


def _nested(cls: type, f: dataclasses.Field) -> tuple[str, type] | None:
    """('table', Section) for a sub-table, ('map', Section) for a table of named sub-tables."""
    hint = _hints(cls).get(f.name)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return ("table", hint)
    if typing.get_origin(hint) is dict:
        args = typing.get_args(hint)
        if len(args) == 2 and isinstance(args[1], type) and dataclasses.is_dataclass(args[1]):
            return ("map", args[1])
    return None


def config_sections() -> list[dict[str, Any]]:
    """Every table of the configuration, in file order: its key prefix, class, docstring and
    fields (key, type, default, help). Raises DocsReferenceError for a field without help."""
    root = _config_root()
    cache: dict[type, dict[str, str]] = {}
    sections: list[dict[str, Any]] = []

    def walk(cls: type, prefix: str, title: str) -> None:
        doc = _docstring(cls)
        if not doc:
            raise DocsReferenceError(
                f"{cls.__module__}.{cls.__qualname__} has no docstring: the configuration reference "
                f"introduces the [{title}] table with it"
            )
        rows, later = [], []
        for f in dataclasses.fields(cls):
            if _is_internal(f):
                continue
            nested = _nested(cls, f)
            key = prefix + f.name
            help_text = _help(cls, f, cache)
            if nested and nested[0] == "table":
                later.append((nested[1], key + ".", key))
                continue
            if nested and nested[0] == "map":
                rows.append({"key": key, "type": str(f.type), "default": "(tables)", "help": help_text})
                later.append((nested[1], key + ".NAME.", key + ".NAME"))
                continue
            rows.append({"key": key, "type": str(f.type), "default": _show_default(_default(f)), "help": help_text})
        sections.append({"title": title, "class": cls, "doc": doc, "fields": rows})
        for sub, sub_prefix, sub_title in later:
            walk(sub, sub_prefix, sub_title)

    walk(root, "", "top level")
    return sections


def config_keys() -> list[str]:
    return [row["key"] for s in config_sections() for row in s["fields"]]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _public_module(cls: type) -> str:
    """The import path users write: the package facade when it re-exports the class."""
    import importlib

    parts = cls.__module__.split(".")
    for n in range(1, len(parts) + 1):
        module = importlib.import_module(".".join(parts[:n]))
        if getattr(module, cls.__name__, None) is cls and n > 1:
            return ".".join(parts[:n])
    return cls.__module__


def config_reference() -> str:
    out = [
        "<!-- generated by docs/gen_ref.py from recchat.config; do not edit: run python docs/gen_ref.py -->",
        "",
    ]
    for s in config_sections():
        cls = s["class"]
        heading = "Top level" if s["title"] == "top level" else f"`[{s['title']}]`"
        out += [f"### {heading}", "", f"*{cls.__qualname__}* (`{_public_module(cls)}`)", "", s["doc"], ""]
        if s["fields"]:
            out += ["| key | type | default | what it is |", "|---|---|---|---|"]
            for row in s["fields"]:
                out.append(
                    f"| `{row['key']}` | `{_cell(row['type'])}` | {_cell(row['default'])} | {_cell(row['help'])} |"
                )
            out.append("")
    return "\n".join(out)


# -- command line ----------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    import recchat.cli as cli

    for name in ("build_parser", "make_parser", "parser"):
        make = getattr(cli, name, None)
        if callable(make):
            return make()
    raise DocsReferenceError("recchat.cli has no build_parser(): the CLI reference walks the parser it returns")


def _subcommands(parser: argparse.ArgumentParser) -> list[tuple[str, str, argparse.ArgumentParser]]:
    out = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help or "" for a in action._choices_actions}
            for name, sub in action.choices.items():
                out.append((name, helps.get(name, ""), sub))
    return out


def cli_commands() -> list[str]:
    """Every command path: 'init', 'assets fetch', ..."""
    names: list[str] = []

    def walk(parser: argparse.ArgumentParser, prefix: str) -> None:
        for name, _, sub in _subcommands(parser):
            names.append(prefix + name)
            walk(sub, prefix + name + " ")

    walk(build_parser(), "")
    return names


def _usage(parser: argparse.ArgumentParser) -> str:
    formatter = argparse.HelpFormatter(prog=parser.prog, width=100, max_help_position=40)
    formatter.add_usage(parser.usage, parser._actions, parser._mutually_exclusive_groups)
    return formatter.format_help().strip()


def _invocation(action: argparse.Action) -> str:
    formatter = argparse.HelpFormatter(prog="recchat", width=1000)
    return formatter._format_action_invocation(action)


def _action_help(parser: argparse.ArgumentParser, action: argparse.Action) -> str:
    if not action.help:
        return ""
    formatter = parser._get_formatter()
    return " ".join(formatter._expand_help(action).split())


def _parser_section(parser: argparse.ArgumentParser, path: str, summary: str, level: int) -> list[str]:
    out = [f"{'#' * level} `recchat {path}`", ""]
    if summary:
        out += [f"*{summary}*", ""]
    out += ["```text", _usage(parser), "```", ""]
    if parser.description:
        out += [" ".join(parser.description.split()), ""]
    for group in parser._action_groups:
        actions = [
            a
            for a in group._group_actions
            if a.help is not argparse.SUPPRESS and not isinstance(a, (argparse._HelpAction, argparse._SubParsersAction))
        ]
        if not actions:
            continue
        title = group.title or "options"
        if group.description:
            title += f" ({group.description})"
        out += [f"**{title}**", "", "| argument | what it does |", "|---|---|"]
        for a in actions:
            out.append(f"| `{_cell(_invocation(a))}` | {_cell(_action_help(parser, a))} |")
        out.append("")
    subs = _subcommands(parser)
    if subs:
        out += ["| sub-command | what it does |", "|---|---|"]
        out += [f"| `recchat {path} {name}` | {_cell(h)} |" for name, h, _ in subs]
        out.append("")
    if parser.epilog:
        out += [" ".join(parser.epilog.split()), ""]
    for name, h, sub in subs:
        out += _parser_section(sub, f"{path} {name}", h, min(level + 1, 6))
    return out


def cli_reference() -> str:
    parser = build_parser()
    out = [
        "<!-- generated by docs/gen_ref.py from recchat.cli.build_parser(); do not edit: run python docs/gen_ref.py -->",
        "",
        "```text",
        _usage(parser),
        "```",
        "",
        " ".join((parser.description or "").split()),
        "",
        "| command | what it does |",
        "|---|---|",
    ]
    subs = _subcommands(parser)
    out += [f"| [`recchat {name}`](#recchat-{name}) | {_cell(h)} |" for name, h, _ in subs]
    out.append("")
    if parser.epilog:
        out += [" ".join(parser.epilog.split()), ""]
    for name, h, sub in subs:
        out += _parser_section(sub, name, h, 3)
    return "\n".join(out)


# -- links to repository files ---------------------------------------------------------------


def repo_links(markdown: str) -> list[str]:
    """Repository paths that a page in docs/pages/ links to as ../../PATH."""
    return [m.group(3) for m in REPO_LINK.finditer(markdown)]


# -- mkdocs hook -----------------------------------------------------------------------------


def on_files(files, config):  # noqa: ANN001, ANN201
    from mkdocs.structure.files import File, InclusionLevel

    docs = Path(config["docs_dir"])
    wanted: set[str] = set()
    for page in docs.rglob("*.md"):
        for target in repo_links(page.read_text(encoding="utf-8")):
            path = (ROOT / target).resolve()
            if ROOT not in path.parents or not path.is_file():
                raise DocsReferenceError(
                    f"{page.relative_to(ROOT)} links to ../../{target}, which is not a file in the repository"
                )
            wanted.add(path.relative_to(ROOT).as_posix())
    for rel in sorted(wanted):
        # a Markdown file becomes a page of its own (rendered from the one source), outside the nav
        files.append(
            File.generated(config, f"repo/{rel}", abs_src_path=str(ROOT / rel), inclusion=InclusionLevel.NOT_IN_NAV)
        )
    return files


def on_page_markdown(markdown, page, config, files):  # noqa: ANN001, ANN201
    if page.file.src_uri in GENERATED and filled(markdown, page.file.src_uri) != markdown:
        raise DocsReferenceError(
            f"docs/pages/{page.file.src_uri} is out of date with the code: run python docs/gen_ref.py"
        )
    here = posixpath.dirname(page.file.src_uri)

    def point(m: re.Match) -> str:
        target = posixpath.relpath(f"repo/{m.group(3)}", here or ".")
        return f"{m.group(1)}{target}{m.group(4) or ''}{m.group(5)}"

    return REPO_LINK.sub(point, markdown)


# -- the pages that hold generated text --------------------------------------------------------

PAGES = ROOT / "docs" / "pages"
GENERATED = {"configuration.md": "config-reference", "cli.md": "cli-reference"}


def generated_text(marker: str) -> str:
    if marker == "config-reference":
        return config_reference()
    saved = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "100"  # argparse wraps to the terminal: the same width wherever it runs
    try:
        return cli_reference()
    finally:
        if saved is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = saved


def filled(markdown: str, page: str) -> str:
    """``markdown`` (the page ``page``) with the text between its markers generated afresh."""
    marker = GENERATED[page]
    start, end = f"<!-- recchat:{marker} -->", f"<!-- /recchat:{marker} -->"
    if start not in markdown:
        raise DocsReferenceError(f"docs/pages/{page} lacks the marker {start}")
    head, rest = markdown.split(start, 1)
    tail = rest.split(end, 1)[1] if end in rest else "\n"
    return f"{head}{start}\n{generated_text(marker).strip()}\n{end}{tail}"


def stale_pages() -> list[str]:
    return [
        p
        for p in GENERATED
        if filled((PAGES / p).read_text(encoding="utf-8"), p) != (PAGES / p).read_text(encoding="utf-8")
    ]


def main() -> None:
    for page in stale_pages():
        path = PAGES / page
        path.write_text(filled(path.read_text(encoding="utf-8"), page), encoding="utf-8")
        print(f"rewrote docs/pages/{page}")


if __name__ == "__main__":
    main()
