"""One configuration describes a deployment: which catalog, which log, where the index lives,
which scorer, which LLM, how to blend, and the domain's words.

It is a TOML file (``recchat init ITEMS [INTERACTIONS]`` writes a starter one), a dict with the
same keys, or a :class:`RecommenderConfig`. Every entry point reads it: ``recchat ... --config
FILE`` and ``Recommender.from_config(path)``. With no file, the built-in MovieLens-100K
configuration (``recchat/configs/movielens-100k.toml``) is used; a file or dict without a
``[catalog]`` table changes only the keys it names in that built-in one. Every default lives in
the dataclasses of :mod:`recchat.config.sections` (one per TOML table, ``*Section``) and
nowhere else.

    name = "books"                                     # names the index collection, checkpoint...
    [catalog]
    path = "books.csv"                                 # relative to this file's folder
    id = "book_id"
    title = "title"
    [catalog.fields]
    subjects = { column = "subjects", type = "list", sep = "|", role = "facet" }
    year = { column = "year", type = "int", role = "year" }
    pages = { column = "pages", type = "int", role = "range", unit = "pages" }
    [interactions]
    path = "reads.csv"
    item = "book_id"
    [llm]
    backend = "none"
    [domain]
    item = "book"

Reading the files (``[catalog]`` and ``[interactions]`` alike; ``recchat init`` guesses them, see
:mod:`recchat.config.sniff`): ``format`` (csv, jsonl, atomic; default from the suffix), ``delimiter``
("" = tab for .tsv, else comma), ``quote`` ('"'; "" = never quoted), ``encoding`` ("utf-8";
"latin-1" for Book-Crossing, MovieLens's u.item), ``header`` (the column names of a file without a
header row: ``header = ["user_id", "item_id", "rating", "timestamp"]`` for MovieLens's u.data).
``[interactions] time_format``: "seconds" (default), "milliseconds" or "iso" (2009-09-13T12:00:00;
UTC unless the value names its zone); each becomes unix seconds. A field may read part of a
column, ``pattern`` (a regular expression: its first match, or first group; no match leaves the
field empty), e.g. the year ending MovieLens titles, ``year = { column = "title", type = "int",
role = "year", pattern = '\\((\\d{4})\\)\\s*$' }`` (a TOML literal string); or several 0/1
columns, ``columns = [...]`` (a list field of the names of the columns set to 1, such as u.item's
genre flags).

The title linker (:mod:`recchat.conversation.link`) reads two ``[domain]`` keys: ``aliases`` (a CSV of
``item_id,alias`` rows for names no rule derives: "T2", "A New Hope") and ``popularity`` (a
numeric field saying how well known an item is, votes or reviews, for a catalog whose log is
empty; a log's counts are used when there is one). The reasons (:mod:`recchat.conversation.card_facts`) read
``[domain] verb``: what a user did with an item, in the past tense ("watched", "read",
"played"; default "tried"), as in "Like Heat, which you watched".

Field roles: ``facet`` (a list field the user can ask for or exclude: genres, subjects,
authors), ``year`` (a year: eras, "older", "from 1996"), ``range`` (a number with bounds: "under
300 pages"). A configuration is checked before anything is written: an unknown key, a missing
file, a role naming a column the file lacks, a facet that is not a list field each raise
:class:`ConfigError` naming the key, the file and the fix.
"""

from __future__ import annotations

import codecs
import json
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar, cast

from recchat.config.sections import (
    ROLES,
    BlendSection,
    CatalogSection,
    DomainSection,
    FieldSection,
    IndexSection,
    InteractionsSection,
    LLMSection,
    ScorerSection,
    TableSection,
)
from recchat.data.catalog import TIME_FORMATS, Catalog, Dataset, load_catalog, load_interactions
from recchat.data.tables import FORMATS, read_columns

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

BUILTIN = Path(__file__).resolve().parents[1] / "configs"
T = TypeVar("T", bound="DataclassInstance")  # a section, or the whole configuration


class ConfigError(ValueError):
    """A configuration that cannot be used. ``str()`` names the file, the key and the fix."""

    def __init__(self, source: Path | str | None, key: str, problem: str, fix: str = ""):
        self.source, self.key = source, key
        where = f"{source}: " if source else "config: "
        super().__init__(f"{where}{key}: {problem}" + (f"; {fix}" if fix else ""))


@dataclass
class RecommenderConfig:
    """A whole deployment. ``source`` is the file it was read from: relative paths start there."""

    name: str = "catalog"  # names the index collection, the scorer checkpoint, the profile and session folders
    catalog: CatalogSection = field(default_factory=CatalogSection)  # [catalog]: the item file
    interactions: InteractionsSection = field(default_factory=InteractionsSection)  # [interactions]: the log
    index: IndexSection = field(default_factory=IndexSection)  # [index]: the Chroma collection
    scorer: ScorerSection = field(default_factory=ScorerSection)  # [scorer]: the behaviour scorer
    llm: LLMSection = field(default_factory=LLMSection)  # [llm]: the LLM backend
    blend: BlendSection = field(default_factory=BlendSection)  # [blend]: mixing the scorer and the LLM
    domain: DomainSection = field(default_factory=DomainSection)  # [domain]: the catalog's words
    profiles: str | None = None  # profile cache folder; default $RECCHAT_HOME/profiles/<name>
    source: Path | None = None  # the file it was read from (not a key): relative paths start at its folder

    # -- reading ------------------------------------------------------------------------

    @classmethod
    def default(cls) -> RecommenderConfig:
        """The built-in MovieLens-100K configuration."""
        return cls.load(BUILTIN / "movielens-100k.toml")

    @classmethod
    def load(cls, path: Path | str) -> RecommenderConfig:
        """Read a TOML (or JSON) file, or a built-in configuration by name ("movielens-100k-enriched":
        recchat/configs/<name>.toml) where no such file exists; unknown keys and bad values raise
        ConfigError."""
        path = Path(path)
        builtin = BUILTIN / f"{path}.toml"
        if not path.is_file() and len(path.parts) == 1 and not path.suffix and builtin.is_file():
            path = builtin
        if not path.is_file():
            raise ConfigError(path, "file", "no such file", "write one with: recchat init ITEMS [INTERACTIONS]")
        try:
            data = json.loads(path.read_text()) if path.suffix == ".json" else tomllib.loads(path.read_text())
        except (tomllib.TOMLDecodeError, json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(
                path,
                "file",
                f"not valid {'JSON' if path.suffix == '.json' else 'TOML'} ({exc})",
                "fix the syntax at the place named",
            ) from None
        return cls.from_dict(data, source=path.resolve())

    @classmethod
    def from_dict(cls, data: Mapping[str, object], *, source: Path | None = None) -> RecommenderConfig:
        """A full configuration when ``data`` has a ``catalog`` table; otherwise changes to the
        built-in MovieLens one."""
        if not isinstance(data, Mapping):
            raise ConfigError(source, "config", f"a table of settings is expected, not {type(data).__name__}")
        if "catalog" in data:
            return _build(cls, data, source, "")
        base = cls.default()
        return base.replace(data, source=source)

    @classmethod
    def coerce(cls, config: RecommenderConfig | Mapping[str, object] | str | Path | None) -> RecommenderConfig:
        if config is None:
            return cls.default()
        if isinstance(config, RecommenderConfig):
            return config
        if isinstance(config, (str, Path)):
            return cls.load(config)
        return cls.from_dict(config)

    def replace(self, changes: Mapping[str, object], *, source: Path | None = None) -> RecommenderConfig:
        """A copy with ``changes`` (nested tables merged key by key) applied and checked."""
        merged = _merge(self.to_dict(), changes)
        out = _build(type(self), merged, source or self.source, "")
        out.source = self.source if source is None else source
        return out

    def to_dict(self) -> dict[str, object]:
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self) if f.name != "source"}

    # -- paths --------------------------------------------------------------------------

    def resolve(self, value: str | None) -> Path | None:
        """A path from the configuration: asset:<name>/<file>, builtin:<file> (shipped with
        recchat), absolute, or relative to the configuration file's folder."""
        if not value:
            return None
        if value.startswith("builtin:"):
            return BUILTIN / value[len("builtin:") :]
        if value.startswith("asset:"):
            from recchat.assets import get

            name, _, relative = value[len("asset:") :].partition("/")
            return get(name).path(relative)
        path = Path(value).expanduser()
        if not path.is_absolute() and self.source is not None:
            path = self.source.parent / path
        return path

    @property
    def collection(self) -> str:
        return self.index.collection or f"{self.name}-items"

    def checkpoint(self) -> Path:
        from recchat.assets import home

        return self.resolve(self.scorer.checkpoint) or home() / "models" / f"{self.name}-scorer.pt"

    def profiles_folder(self) -> Path:
        from recchat.assets import home

        return self.resolve(self.profiles) or home() / "profiles" / self.name

    # -- checking and loading -------------------------------------------------------------

    def check(self, *, interactions: bool = True) -> None:
        """Raise ConfigError for anything that would fail later: files, columns, roles. The
        interaction log is checked whenever one is named; ``interactions`` says it is required."""
        cat = self.catalog
        if not cat.path:
            raise ConfigError(self.source, "catalog.path", "missing", "name the item file")
        items = self._existing("catalog.path", cat.path)
        self._check_table("catalog", cat)
        for name, f in cat.fields.items():
            key = f"catalog.fields.{name}"
            if f.type not in ("str", "int", "float", "list"):
                raise ConfigError(
                    self.source, f"{key}.type", f"'{f.type}' is not a type", "use str, int, float or list"
                )
            if f.pattern:
                try:
                    re.compile(f.pattern)
                except re.error as exc:
                    raise ConfigError(
                        self.source,
                        f"{key}.pattern",
                        f"not a regular expression ({exc})",
                        "fix it, or leave pattern out",
                    ) from None
            if f.columns and f.type != "list":
                raise ConfigError(
                    self.source,
                    f"{key}.columns",
                    f"flag columns make a list field, and '{name}' is {f.type}",
                    'set type = "list"',
                )
            if f.role not in ROLES:
                raise ConfigError(
                    self.source, f"{key}.role", f"'{f.role}' is not a role", "use facet, year, range, or leave it out"
                )
            if f.role == "facet" and f.type != "list":
                raise ConfigError(
                    self.source,
                    f"{key}.role",
                    f"a facet must be a list field, and '{name}' is {f.type}",
                    'set type = "list" (with its sep) or drop role = "facet"',
                )
            if f.role in ("year", "range") and f.type not in ("int", "float"):
                raise ConfigError(
                    self.source,
                    f"{key}.role",
                    f"a {f.role} field must be int or float, not {f.type}",
                    'set type = "int" or "float"',
                )
        if len(cat.with_role("year")) > 1:
            raise ConfigError(
                self.source,
                "catalog.fields",
                'more than one field has role "year"',
                'keep the role on one field and make the others "range"',
            )
        columns = read_columns(items, cat.format, cat.options())
        if columns is not None:
            wanted = [("catalog.id", cat.id), ("catalog.title", cat.title)]
            wanted += [(f"catalog.fields.{n}.column", f.column or n) for n, f in cat.fields.items() if not f.columns]
            wanted += [(f"catalog.fields.{n}.columns", c) for n, f in cat.fields.items() for c in f.columns]
            for key, column in wanted:
                if column not in columns:
                    raise ConfigError(
                        self.source,
                        key,
                        f"column '{column}' is not in {items.name} (its columns: {', '.join(columns)})",
                        "name one of its columns",
                    )
        try:
            cat.spec()
        except ValueError as exc:
            raise ConfigError(self.source, "catalog.template", str(exc), "fix the Jinja2 template") from None
        if not re.fullmatch(r"[^\W\d_]+(?: [^\W\d_]+){0,2}", self.domain.verb):
            raise ConfigError(
                self.source,
                "domain.verb",
                f"'{self.domain.verb}' is not a verb",
                'give one to three words in the past tense, e.g. verb = "watched" or "read"',
            )
        if self.domain.synonyms:
            self._existing("domain.synonyms", self.domain.synonyms)
        if self.domain.aliases:
            self._existing("domain.aliases", self.domain.aliases)
        if self.domain.popularity and self.catalog.fields.get(
            self.domain.popularity, FieldSection(type="str")
        ).type not in ("int", "float"):
            raise ConfigError(
                self.source,
                "domain.popularity",
                f"'{self.domain.popularity}' is not a numeric field of [catalog.fields]",
                "name an int or float field (votes, reviews), or leave it out",
            )
        log = self.interactions
        if not log.path:
            if interactions:
                raise ConfigError(self.source, "interactions.path", "missing", "name the interaction log")
            return
        path = self._existing("interactions.path", log.path)
        self._check_table("interactions", log)
        if log.time_format not in TIME_FORMATS:
            raise ConfigError(
                self.source,
                "interactions.time_format",
                f"'{log.time_format}' is not a time format",
                f"use {', '.join(TIME_FORMATS)}",
            )
        columns = read_columns(path, log.format, log.options())
        if columns is not None:
            for key in ("user", "item", "rating", "timestamp"):
                column = getattr(log, key)
                if column and column not in columns:
                    raise ConfigError(
                        self.source,
                        f"interactions.{key}",
                        f"column '{column}' is not in {path.name} (its columns: {', '.join(columns)})",
                        "name one of its columns"
                        + (', or "" if the log has none' if key in ("rating", "timestamp") else ""),
                    )

    def _check_table(self, section: str, table: TableSection) -> None:
        for key in ("delimiter", "quote"):
            if len(getattr(table, key)) > 1:
                raise ConfigError(
                    self.source,
                    f"{section}.{key}",
                    f"{getattr(table, key)!r} is not one character",
                    'give one character, or "" for the default',
                )
        try:
            codecs.lookup(table.encoding)
        except LookupError:
            raise ConfigError(
                self.source,
                f"{section}.encoding",
                f"unknown encoding '{table.encoding}'",
                'name a Python codec, such as "utf-8" or "latin-1"',
            ) from None
        if not all(isinstance(h, str) and h for h in table.header) or len(set(table.header)) < len(table.header):
            raise ConfigError(
                self.source,
                f"{section}.header",
                "the column names must be distinct, non-empty strings",
                "name each column once, or leave header out when the file has a header row",
            )
        if table.format not in (None, *FORMATS):
            raise ConfigError(
                self.source,
                f"{section}.format",
                f"'{table.format}' is not a format",
                f"use {', '.join(FORMATS)}, or leave it out to go by the suffix",
            )

    def _existing(self, key: str, value: str) -> Path:
        path = self.resolve(value)
        if path is None or not path.is_file():
            fix = (
                "fetch it with: recchat assets fetch"
                if value.startswith("asset:")
                else "fix the path (a relative path starts at the config file's folder)"
            )
            raise ConfigError(self.source, key, f"{path}: no such file", fix)
        return path

    def load_dataset(self, *, interactions: bool = True, catalog: Catalog | None = None) -> Dataset:
        """The catalog and (optionally) the interaction log this configuration names; a
        ``catalog`` already loaded from it is used instead of reading the file again."""
        self.check(interactions=interactions)
        if catalog is None:
            catalog = load_catalog(
                self._existing("catalog.path", self.catalog.path),
                self.catalog.spec(),
                fmt=self.catalog.format,
                skip_bad=self.catalog.skip_bad,
                options=self.catalog.options(),
            )
        if not interactions:
            from recchat.data.catalog import InteractionLog
            from recchat.data.tables import LoadReport

            return Dataset(self.name, catalog, InteractionLog([], LoadReport(Path(""))))
        log = load_interactions(
            self._existing("interactions.path", self.interactions.path),
            self.interactions.spec(),
            catalog=catalog,
            fmt=self.interactions.format,
            skip_bad=self.catalog.skip_bad,
            options=self.interactions.options(),
        )
        return Dataset(self.name, catalog, log)


def load_movielens_100k() -> Dataset:
    """MovieLens-100K from the fetched ``movielens-100k`` asset (``recchat assets fetch``)."""
    from recchat.data.catalog import load_users

    config = RecommenderConfig.default()
    data = config.load_dataset()
    data.users = load_users(config._existing("users", "asset:movielens-100k/ml-100k.user"))
    return data


# --------------------------------------------------------------------------- helpers


def _plain(value: object) -> object:
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _merge(base: Mapping[str, object], changes: Mapping[str, object]) -> dict[str, object]:
    out = dict(base)
    for key, value in changes.items():
        if (
            isinstance(value, dict)
            and isinstance(out.get(key), dict)
            and key not in ("fields", "options", "plugin_options")
        ):
            out[key] = _merge(cast(dict[str, object], out[key]), value)
        else:
            out[key] = value
    return out


def _build(cls: type[T], data: object, source: Path | None, prefix: str) -> T:
    """A dataclass from a table, each key checked; nested tables become nested dataclasses."""
    if not isinstance(data, dict):
        raise ConfigError(source, prefix.rstrip(".") or "config", f"a table is expected, not {data!r}")
    known = {f.name: f for f in fields(cls) if f.name != "source"}
    unknown = [k for k in data if k not in known]
    if unknown:
        section = f"[{prefix.rstrip('.')}]" if prefix else "the top level"
        raise ConfigError(source, prefix + unknown[0], "unknown key", f"known keys in {section}: {', '.join(known)}")
    values: dict[str, object] = {}
    defaults = cls()
    for name, value in data.items():
        key = prefix + name
        default = getattr(defaults, name)
        if is_dataclass(default) and not isinstance(default, type):
            values[name] = _build(type(default), value, source, key + ".")
        elif name == "fields":
            if not isinstance(value, dict):
                raise ConfigError(source, key, "a table of fields is expected")
            values[name] = {
                n: _build(FieldSection, v if isinstance(v, dict) else {"column": v}, source, f"{key}.{n}.")
                for n, v in value.items()
            }
        else:
            values[name] = _typed(value, default, known[name].type, source, key)
    out = cls(**values)
    if source is not None and hasattr(out, "source"):
        setattr(out, "source", source)  # noqa: B010 (a RecommenderConfig; a section has none)
    return out


def _typed(value: object, default: object, annotation: object, source: Path | None, key: str) -> object:
    """Check a value against its field's declared type (the annotation is a string here)."""
    text = str(annotation)
    if value is None:
        if "None" in text:
            return None
        raise ConfigError(source, key, "a value is required")
    if isinstance(value, bool) and "bool" not in text:
        raise ConfigError(source, key, f"{value!r} is not a {text.split(' |')[0]}")
    checks: list[tuple[str, type | tuple[type, ...]]] = [
        ("bool", bool),
        ("int", int),
        ("float", (int, float)),
        ("str", str),
        ("list", list),
        ("dict", dict),
    ]
    for name, kind in checks:
        if text.startswith(name) or text.startswith(f"{name}[") or f"| {name}" in text or text.startswith(f"{name} "):
            if isinstance(value, kind):
                return float(cast(float, value)) if name == "float" and not isinstance(value, bool) else value
    if isinstance(default, (list, dict)) and isinstance(value, type(default)):
        return value
    raise ConfigError(source, key, f"{value!r} is not a valid value (expected {text})")
