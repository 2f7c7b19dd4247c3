"""Catalogs and interaction logs: their types, and reading, validating and rendering item text.

A :class:`CatalogSpec` says which column is what and how an item's text is rendered from its
fields (a Jinja2 template). The files themselves are read by :mod:`recchat.data.tables` (formats,
rows, errors naming the file, the line and the field).
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, cast

from recchat.data.tables import (
    PLAIN,
    DataError,
    LoadReport,
    Row,
    TableOptions,
    detect_format,
    load_rows,
    not_unicode,
    read_rows,
    shorten,
)
from recchat.types import FieldValue, Interaction, Item

if TYPE_CHECKING:
    from jinja2 import Template

FIELD_TYPES = ("str", "int", "float", "list")


@dataclass(frozen=True)
class FieldSpec:
    """One typed item field read from ``column``; ``list`` values are split on ``sep``.

    A value that does not parse is an error, unless ``strict`` is off: then the field is left
    empty for that item and the load report lists a warning naming the line.
    """

    column: str
    type: str = "str"
    sep: str = " "
    strict: bool = True
    # The value is the first match of this regular expression in the column (its first group if
    # it has one); no match leaves the field empty. "\\((\\d{4})\\)\\s*$": the year ending a title.
    pattern: str = ""
    # A list field made of 0/1 flag columns (MovieLens's genre columns): the names of those set.
    columns: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.type not in FIELD_TYPES:
            raise ValueError(f"field type '{self.type}' is not one of {', '.join(FIELD_TYPES)}")
        if self.pattern:
            re.compile(self.pattern)

    def raw(self, row: Row) -> object:
        """The column's value as the field reads it: flags gathered, the pattern applied."""
        if self.columns:
            return [c for c in self.columns if str(row.get(c) or "").strip() not in ("", "0")]
        value = row.get(self.column)
        if self.pattern and value is not None and not isinstance(value, (list, dict)):
            match = re.search(self.pattern, str(value))
            return (match.group(1) if match.re.groups else match.group(0)) if match else None
        return value


def _join_list(value: object) -> object:
    return ", ".join(value) if isinstance(value, list) else value


DEFAULT_TEMPLATE = (
    "{{ title }}{% for name, value in fields.items() %}{% if value %}"
    " | {{ name }}: {{ value | join_list }}{% endif %}{% endfor %}"
)

_ARTICLE = re.compile(r", (?=The|An?)")  # where a trailing article may start; see _move_article


@dataclass(frozen=True)
class CatalogSpec:
    """How to read an item file and render each item's text.

    ``text_template`` is Jinja2 over ``title``, ``fields`` (a dict) and each field by name; a
    field whose value is missing or one of ``na_values`` is ``None``. ``move_articles`` turns
    MovieLens's "Usual Suspects, The" into "The Usual Suspects", which reads better to an LLM.
    """

    id_column: str = "item_id"
    title_column: str = "title"
    fields: dict[str, FieldSpec] = field(default_factory=dict)
    text_template: str = DEFAULT_TEMPLATE
    na_values: tuple[str, ...] = ("",)
    move_articles: bool = False

    def __post_init__(self) -> None:
        # Render once with empty values, so a template error shows at load time, not mid-file.
        try:
            self.render("title", {name: None for name in self.fields})
        except Exception as exc:
            raise ValueError(f"text template does not render: {exc}") from exc

    def render(self, title: str, fields: dict[str, FieldValue | None]) -> str:
        return _compile(self.text_template).render(title=title, fields=fields, **fields).strip()

    @staticmethod
    def parse_field(text: str) -> tuple[str, FieldSpec]:
        """Parse ``name=column[:type]``, e.g. ``year=release_year:int`` or ``genres=class:list``."""
        match = re.fullmatch(r"(\w+)=([^:]+)(?::(\w+))?", text.strip())
        if not match:
            raise ValueError(f"field '{text}' is not of the form name=column[:type]")
        name, column, kind = match.groups()
        return name, FieldSpec(column, kind or "str")


_TEMPLATES: dict[str, Template] = {}


def _compile(source: str) -> Template:
    if source not in _TEMPLATES:
        from jinja2 import StrictUndefined
        from jinja2.sandbox import SandboxedEnvironment

        env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
        env.filters["join_list"] = _join_list
        _TEMPLATES[source] = env.from_string(source)
    return _TEMPLATES[source]


@dataclass(frozen=True)
class InteractionSpec:
    """Columns of an interaction log. ``rating`` and ``timestamp`` may be ``None`` (absent)."""

    user_column: str = "user_id"
    item_column: str = "item_id"
    rating_column: str | None = "rating"
    timestamp_column: str | None = "timestamp"
    time_format: str = "seconds"  # seconds, milliseconds (both since 1970) or iso (2009-09-13[T12:00:00])


# --------------------------------------------------------------------------- parsing values


def _coerce(value: object, spec: FieldSpec, na: tuple[str, ...]) -> FieldValue | None:
    """Convert a raw value to the field's type; ``None`` when it is missing or an NA marker."""
    if value is None or (isinstance(value, str) and value.strip() in na):
        return None
    if spec.type == "list":
        nested = isinstance(value, list) and any(isinstance(v, list) for v in value)
        if (
            isinstance(value, list) and nested
        ):  # Amazon's categories, [["Books", "Fiction"], ["Books", "Poetry"]]: one list of the names
            value = [v for part in value for v in (part if isinstance(part, list) else [part])]
        if isinstance(value, dict) or (isinstance(value, list) and any(isinstance(v, (list, dict)) for v in value)):
            raise ValueError("a list of strings is expected, got nested JSON")
        items = value if isinstance(value, list) else str(value).split(spec.sep)
        items = [str(v).strip() for v in items if str(v).strip() and str(v).strip() not in na]
        items = list(dict.fromkeys(items)) if nested else items
        if (bad := not_unicode("".join(items))) is not None:
            raise ValueError(bad)
        return items or None
    if isinstance(value, (list, dict)):
        raise ValueError(f"a {spec.type} is expected, got {type(value).__name__}")
    if spec.type in ("int", "float"):
        # float() takes 'nan', 'inf' and ints too large for a float (OverflowError): none is a
        # usable rating, timestamp or field value.
        kind = "an integer" if spec.type == "int" else "a number"
        try:
            number = float(cast(str | float, value))
        except (ValueError, OverflowError):
            raise ValueError(f"'{shorten(value)}' is not {kind}") from None
        if not math.isfinite(number):
            raise ValueError(f"'{shorten(value)}' is not a finite number")
        if spec.type == "int" and not number.is_integer():
            raise ValueError(f"'{shorten(value)}' is not an integer")
        return int(number) if spec.type == "int" else number
    text = str(value).strip()
    if (bad := not_unicode(text)) is not None:
        raise ValueError(bad)
    return text


def _required(row: Row, column: str, path: Path, line: int) -> str:
    if column not in row:
        raise DataError(path, line, column, f"column missing; the row has {shorten(', '.join(map(str, row)), 200)}")
    value = row[column]
    if isinstance(value, (list, dict)):
        raise DataError(path, line, column, f"a string or a number is expected, got {type(value).__name__}")
    if value is None or str(value).strip() == "":
        raise DataError(path, line, column, "empty value")
    if (bad := not_unicode(str(value))) is not None:
        raise DataError(path, line, column, bad)
    return str(value).strip()


def _number(row: Row, column: str, path: Path, line: int) -> float | None:
    try:
        return cast(float | None, _coerce(row.get(column), FieldSpec(column, "float"), ("",)))
    except ValueError as exc:
        raise DataError(path, line, column, str(exc)) from None


# --------------------------------------------------------------------------- catalog


class Catalog:
    """An ordered, id-keyed collection of :class:`Item`, with the report of how it was loaded."""

    def __init__(self, items: Iterable[Item], report: LoadReport | None = None):
        self.items: dict[str, Item] = {}
        for item in items:
            if item.id in self.items:
                raise ValueError(f"duplicate item id '{item.id}'")
            self.items[item.id] = item
        self.report = report

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[Item]:
        return iter(self.items.values())

    def __contains__(self, item_id: object) -> bool:
        return item_id in self.items

    def __getitem__(self, item_id: str) -> Item:
        try:
            return self.items[item_id]
        except KeyError:
            raise KeyError(f"item '{item_id}' is not in the catalog") from None

    def fingerprint(self) -> str:
        """A hash of every id and text: two catalogs with the same fingerprint embed the same."""
        digest = hashlib.sha256()
        for item in sorted(self.items.values(), key=lambda i: i.id):
            digest.update(f"{item.id}\x1f{item.text}\x1e".encode())
        return digest.hexdigest()[:16]


def load_catalog(
    path: Path | str,
    spec: CatalogSpec | None = None,
    *,
    fmt: str | None = None,
    skip_bad: bool = False,
    options: TableOptions = PLAIN,
) -> Catalog:
    """Read items from an ``.item``, CSV or JSONL file.

    Raises :class:`DataError` (file, line, field) on the first malformed row or duplicate id,
    unless ``skip_bad`` is set, in which case such rows are skipped and listed in
    ``catalog.report.skipped``. Items whose rendered text is empty are kept (interactions may
    refer to them) and listed in ``catalog.report.warnings``.
    """
    path = Path(path)
    spec = spec or CatalogSpec()
    seen: dict[str, int] = {}
    warnings: list[DataError] = []
    tabular = detect_format(path, fmt) != "jsonl"

    def parse(line: int, row: Row) -> Item:
        item_id = _required(row, spec.id_column, path, line)
        if item_id in seen:
            raise DataError(
                path, line, spec.id_column, f"duplicate id '{shorten(item_id)}' (first seen on line {seen[item_id]})"
            )
        values: dict[str, FieldValue | None] = {}
        for name, fspec in [("title", FieldSpec(spec.title_column)), *spec.fields.items()]:
            # A JSON object may leave out an empty field; a table must have the column.
            missing = [c for c in fspec.columns or (fspec.column,) if c not in row]
            if missing and tabular:
                raise DataError(path, line, missing[0], "column missing")
            try:
                values[name] = _coerce(fspec.raw(row), fspec, spec.na_values)
            except ValueError as exc:
                problem = DataError(path, line, fspec.column, f"{exc}; left empty")
                if fspec.strict:
                    raise DataError(path, line, fspec.column, str(exc)) from None
                warnings.append(problem)
                values[name] = None
        title = str(values.pop("title") or "")
        if spec.move_articles:
            title = _move_article(title)
        seen[item_id] = line
        text = spec.render(title, values)
        if not text:
            warnings.append(
                DataError(
                    path,
                    line,
                    spec.title_column,
                    f"item '{shorten(item_id)}' has empty text; it is kept but not embedded",
                )
            )
        return Item(item_id, title, text, {k: v for k, v in values.items() if v is not None})

    items, report = load_rows(path, fmt, skip_bad, parse, options)
    report.warnings = warnings
    return Catalog(items, report)


def _move_article(title: str) -> str:
    """``Usual Suspects, The (1995)`` -> ``The Usual Suspects (1995)``: the last ", The", ", A" or
    ", An" that ends the title or comes right before a final parenthesis.

    (A single regex, ``(.+), (The|A|An)( \\(.*\\))?$``, does the same but backtracks through the
    whole rest of the title for every ", The": minutes for a crafted 100 kB title.)
    """
    body = title.removesuffix("\n")
    if "\n" in body:
        return title
    for comma in reversed([m.start() for m in _ARTICLE.finditer(body)]):
        for article in ("The", "A", "An"):
            end = comma + 2 + len(article)
            if (
                body.startswith(article, comma + 2)
                and comma > 0
                and (end == len(body) or (body.startswith(" (", end) and body.endswith(")") and len(body) - end >= 3))
            ):
                return f"{article} {body[:comma]}{body[end:]}"
    return title


# --------------------------------------------------------------------------- interactions


@dataclass
class InteractionLog:
    """Interactions in file order (the order that breaks timestamp ties), with the load report."""

    interactions: list[Interaction]
    report: LoadReport

    def __len__(self) -> int:
        return len(self.interactions)

    def __iter__(self) -> Iterator[Interaction]:
        return iter(self.interactions)

    def users(self) -> list[str]:
        return list(dict.fromkeys(i.user for i in self.interactions))


def events_by_user(interactions: Iterable[Interaction]) -> dict[str, list[Interaction]]:
    """Each user's events, oldest first; equal (or missing) timestamps keep their file order."""
    grouped: dict[str, list[tuple[float, int, Interaction]]] = {}
    for n, e in enumerate(interactions):
        grouped.setdefault(e.user, []).append((e.timestamp or 0.0, n, e))
    return {u: [e for _, _, e in sorted(v, key=lambda t: t[:2])] for u, v in grouped.items()}


def load_interactions(
    path: Path | str,
    spec: InteractionSpec | None = None,
    *,
    catalog: Catalog | None = None,
    fmt: str | None = None,
    skip_bad: bool = False,
    options: TableOptions = PLAIN,
) -> InteractionLog:
    """Read an interaction log from an ``.inter``, CSV or JSONL file.

    With a ``catalog``, an interaction with an item id the catalog lacks is an error (or, with
    ``skip_bad``, skipped and listed in the report), never silently kept or dropped.
    """
    path = Path(path)
    spec = spec or InteractionSpec()

    def parse(line: int, row: Row) -> Interaction:
        user = _required(row, spec.user_column, path, line)
        item = _required(row, spec.item_column, path, line)
        if catalog is not None and item not in catalog:
            raise DataError(path, line, spec.item_column, f"item id '{shorten(item)}' is not in the catalog")
        rating = _number(row, spec.rating_column, path, line) if spec.rating_column else None
        stamp = _time(row, spec.timestamp_column, spec.time_format, path, line) if spec.timestamp_column else None
        return Interaction(user, item, rating, stamp)

    interactions, report = load_rows(path, fmt, skip_bad, parse, options)
    return InteractionLog(interactions, report)


TIME_FORMATS = ("seconds", "milliseconds", "iso")


def _time(row: Row, column: str, time_format: str, path: Path, line: int) -> float | None:
    """A timestamp as unix seconds, from seconds, milliseconds or an ISO 8601 date (UTC unless it
    names its zone)."""
    if time_format != "iso":
        number = _number(row, column, path, line)
        return number / 1000 if number is not None and time_format == "milliseconds" else number
    value = row.get(column)
    if value is None or str(value).strip() == "":
        return None
    try:
        when = datetime.fromisoformat(str(value).strip())
    except (TypeError, ValueError):
        raise DataError(
            path, line, column, f"'{shorten(value)}' is not an ISO date (2009-09-13 or 2009-09-13T12:00:00)"
        ) from None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


def load_users(path: Path | str, id_column: str = "user_id", *, fmt: str | None = None) -> dict[str, Row]:
    """Read optional user features (``.user``, CSV, JSONL) keyed by user id."""
    path = Path(path)
    users: dict[str, Row] = {}
    for line, row in read_rows(path, fmt):
        user = _required(row, id_column, path, line)
        if user in users:
            raise DataError(path, line, id_column, f"duplicate user id '{shorten(user)}'")
        users[user] = {k: v for k, v in row.items() if k != id_column}
    return users


# --------------------------------------------------------------------------- data sets


@dataclass
class Dataset:
    """A catalog with its interaction log and (optional) user features."""

    name: str
    catalog: Catalog
    interactions: InteractionLog
    users: dict[str, Row] = field(default_factory=dict)  # user id -> the user's features
