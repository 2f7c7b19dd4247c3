"""One configuration describes a deployment: which catalog, which log, where the index lives,
which scorer, which LLM, how to blend, and the domain's words.

It is a TOML file (``recchat init ITEMS [INTERACTIONS]`` writes a starter one), a dict with the
same keys, or a :class:`RecommenderConfig`. Every entry point reads it: ``recchat ... --config
FILE`` and ``Recommender.from_config(path)``. With no file, the built-in MovieLens-100K
configuration (``recchat/configs/movielens-100k.toml``) is used; a file or dict without a
``[catalog]`` table changes only the keys it names in that built-in one. Every default lives in
the dataclasses below and nowhere else.

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

Field roles: ``facet`` (a list field the user can ask for or exclude: genres, subjects,
authors), ``year`` (a year: eras, "older", "from 1996"), ``range`` (a number with bounds: "under
300 pages"). A configuration is checked before anything is written: an unknown key, a missing
file, a role naming a column the file lacks, a facet that is not a list field each raise
:class:`ConfigError` naming the key, the file and the fix.
"""

from __future__ import annotations

import csv
import json
import tomllib
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any

from recchat.catalog import (DEFAULT_TEMPLATE, CatalogSpec, Dataset, FieldSpec, InteractionSpec, detect_format,
                             load_catalog, load_interactions)

BUILTIN = Path(__file__).parent / "configs"
ROLES = ("", "facet", "year", "range")


class ConfigError(ValueError):
    """A configuration that cannot be used. ``str()`` names the file, the key and the fix."""

    def __init__(self, source: Path | str | None, key: str, problem: str, fix: str = ""):
        self.source, self.key = source, key
        where = f"{source}: " if source else "config: "
        super().__init__(f"{where}{key}: {problem}" + (f"; {fix}" if fix else ""))


@dataclass
class FieldConfig:
    """One typed item field: its column, type (str, int, float, list), list separator and role."""

    column: str = ""
    type: str = "str"
    sep: str = " "
    strict: bool = True
    role: str = ""          # "", "facet", "year" or "range"
    unit: str = ""          # words for a range field's values: "pages", "minutes"


@dataclass
class CatalogConfig:
    path: str = ""          # a file, or asset:<name>/<file> for a fetched asset
    format: str | None = None
    id: str = "item_id"
    title: str = "title"
    fields: dict[str, FieldConfig] = field(default_factory=dict)
    template: str = DEFAULT_TEMPLATE
    na: list[str] = field(default_factory=lambda: [""])
    move_articles: bool = False
    skip_bad: bool = False

    def spec(self) -> CatalogSpec:
        return CatalogSpec(self.id, self.title, {n: FieldSpec(f.column or n, f.type, f.sep, f.strict)
                                                 for n, f in self.fields.items()},
                           self.template, tuple(self.na), self.move_articles)

    def with_role(self, role: str) -> list[str]:
        return [n for n, f in self.fields.items() if f.role == role]


@dataclass
class InteractionsConfig:
    path: str = ""
    format: str | None = None
    user: str = "user_id"
    item: str = "item_id"
    rating: str = "rating"        # "" when the log has none
    timestamp: str = "timestamp"  # "" when the log has none

    def spec(self) -> InteractionSpec:
        return InteractionSpec(self.user, self.item, self.rating or None, self.timestamp or None)


@dataclass
class IndexConfig:
    path: str | None = None         # embedded store folder; default $RECCHAT_HOME/index
    url: str | None = None          # a Chroma server instead
    collection: str | None = None   # default <name>-items
    # HNSW graph settings, fixed when a collection is created (None: Chroma's 16 / 100 / 100).
    # Wider is better recall, slower builds and queries, more memory: bench/RESULTS.md.
    max_neighbors: int | None = None    # M: links per node
    ef_construction: int | None = None  # candidates kept while inserting
    ef_search: int | None = None        # candidates kept while searching
    # Collections of at most this many items are searched exactly in memory (faster there, and
    # never approximate); None: recchat.index.EXACT_BELOW; 0: always HNSW.
    exact_below: int | None = None


@dataclass
class ScorerConfigSection:
    checkpoint: str | None = None   # default $RECCHAT_HOME/models/<name>-scorer.pt
    plugin: str | None = None       # a recchat.scorers entry point instead of the checkpoint
    retrievers: list[str] = field(default_factory=list)  # extra candidate sources (recchat.retrievers)
    plugin_options: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class LLMConfig:
    backend: str = "auto"           # auto, transformers, vllm, openai, a plugin, or none
    model: str | None = None        # an asset name or a model folder; default the SmolLM2 asset
    base_url: str = "http://127.0.0.1:8000/v1"
    mode: str = "listwise"
    passes: int = 1
    pool: int = 20                  # candidates the LLM reranks
    history: int | None = None      # history items in the prompt; default the tuned model's, else 20
    concurrency: int = 8            # requests in flight to a server
    timeout: float = 60.0           # seconds per server request
    options: dict[str, Any] = field(default_factory=dict)  # extra backend options


@dataclass
class BlendSection:
    alpha: float | None = None      # default: tuned by tune-blend, else 0.5
    norm: str | None = None


@dataclass
class DomainConfig:
    item: str = "item"              # what one item is called
    items: str = ""                 # the plural; default item + "s"
    cold_start_query: str = "popular and widely liked"
    reference_year: int | None = None   # "recent" counts back from it; default the catalog's latest year
    synonyms: str | None = None     # a TOML file of per-facet synonyms (see configs/movielens-synonyms.toml)
    user: str = "user"              # what the people in the log are called

    @property
    def plural(self) -> str:
        return self.items or self.item + "s"


@dataclass
class RecommenderConfig:
    """A whole deployment. ``source`` is the file it was read from: relative paths start there."""

    name: str = "catalog"
    catalog: CatalogConfig = field(default_factory=CatalogConfig)
    interactions: InteractionsConfig = field(default_factory=InteractionsConfig)
    index: IndexConfig = field(default_factory=IndexConfig)
    scorer: ScorerConfigSection = field(default_factory=ScorerConfigSection)
    llm: LLMConfig = field(default_factory=LLMConfig)
    blend: BlendSection = field(default_factory=BlendSection)
    domain: DomainConfig = field(default_factory=DomainConfig)
    profiles: str | None = None     # profile cache folder; default $RECCHAT_HOME/profiles/<name>
    source: Path | None = None

    # -- reading ------------------------------------------------------------------------

    @classmethod
    def default(cls) -> RecommenderConfig:
        """The built-in MovieLens-100K configuration."""
        return cls.load(BUILTIN / "movielens-100k.toml")

    @classmethod
    def load(cls, path: Path | str) -> RecommenderConfig:
        """Read a TOML (or JSON) file; unknown keys and bad values raise ConfigError."""
        path = Path(path)
        if not path.is_file():
            raise ConfigError(path, "file", "no such file",
                              "write one with: recchat init ITEMS [INTERACTIONS]")
        try:
            data = json.loads(path.read_text()) if path.suffix == ".json" else tomllib.loads(path.read_text())
        except (tomllib.TOMLDecodeError, json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(path, "file", f"not valid {'JSON' if path.suffix == '.json' else 'TOML'} ({exc})",
                              "fix the syntax at the place named") from None
        return cls.from_dict(data, source=path.resolve())

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: Path | None = None) -> RecommenderConfig:
        """A full configuration when ``data`` has a ``catalog`` table; otherwise changes to the
        built-in MovieLens one."""
        if not isinstance(data, dict):
            raise ConfigError(source, "config", f"a table of settings is expected, not {type(data).__name__}")
        if "catalog" in data:
            return _build(cls, data, source, "")
        base = cls.default()
        return base.replace(data, source=source)

    @classmethod
    def coerce(cls, config: RecommenderConfig | dict[str, Any] | str | Path | None) -> RecommenderConfig:
        if config is None:
            return cls.default()
        if isinstance(config, cls):
            return config
        if isinstance(config, (str, Path)):
            return cls.load(config)
        return cls.from_dict(config)

    def replace(self, changes: dict[str, Any], *, source: Path | None = None) -> RecommenderConfig:
        """A copy with ``changes`` (nested tables merged key by key) applied and checked."""
        merged = _merge(self.to_dict(), changes)
        out = _build(type(self), merged, source or self.source, "")
        out.source = self.source if source is None else source
        return out

    def to_dict(self) -> dict[str, Any]:
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self) if f.name != "source"}

    # -- paths --------------------------------------------------------------------------

    def resolve(self, value: str | None) -> Path | None:
        """A path from the configuration: asset:<name>/<file>, builtin:<file> (shipped with
        recchat), absolute, or relative to the configuration file's folder."""
        if not value:
            return None
        if value.startswith("builtin:"):
            return BUILTIN / value[len("builtin:"):]
        if value.startswith("asset:"):
            from recchat.assets import get

            name, _, relative = value[len("asset:"):].partition("/")
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
        for name, f in cat.fields.items():
            key = f"catalog.fields.{name}"
            if f.type not in ("str", "int", "float", "list"):
                raise ConfigError(self.source, f"{key}.type", f"'{f.type}' is not a type",
                                  "use str, int, float or list")
            if f.role not in ROLES:
                raise ConfigError(self.source, f"{key}.role", f"'{f.role}' is not a role",
                                  "use facet, year, range, or leave it out")
            if f.role == "facet" and f.type != "list":
                raise ConfigError(self.source, f"{key}.role", f"a facet must be a list field, and '{name}' is {f.type}",
                                  f'set type = "list" (with its sep) or drop role = "facet"')
            if f.role in ("year", "range") and f.type not in ("int", "float"):
                raise ConfigError(self.source, f"{key}.role", f"a {f.role} field must be int or float, not {f.type}",
                                  'set type = "int" or "float"')
        if len(cat.with_role("year")) > 1:
            raise ConfigError(self.source, "catalog.fields", "more than one field has role \"year\"",
                              "keep the role on one field and make the others \"range\"")
        columns = _columns(items, cat.format)
        if columns is not None:
            wanted = [("catalog.id", cat.id), ("catalog.title", cat.title)]
            wanted += [(f"catalog.fields.{n}.column", f.column or n) for n, f in cat.fields.items()]
            for key, column in wanted:
                if column not in columns:
                    raise ConfigError(self.source, key, f"column '{column}' is not in {items.name} "
                                      f"(its columns: {', '.join(columns)})", "name one of its columns")
        try:
            cat.spec()
        except ValueError as exc:
            raise ConfigError(self.source, "catalog.template", str(exc), "fix the Jinja2 template") from None
        if self.domain.synonyms:
            self._existing("domain.synonyms", self.domain.synonyms)
        log = self.interactions
        if not log.path:
            if interactions:
                raise ConfigError(self.source, "interactions.path", "missing", "name the interaction log")
            return
        path = self._existing("interactions.path", log.path)
        columns = _columns(path, log.format)
        if columns is not None:
            for key in ("user", "item", "rating", "timestamp"):
                column = getattr(log, key)
                if column and column not in columns:
                    raise ConfigError(self.source, f"interactions.{key}", f"column '{column}' is not in "
                                      f"{path.name} (its columns: {', '.join(columns)})",
                                      "name one of its columns" + (', or "" if the log has none'
                                                                   if key in ("rating", "timestamp") else ""))

    def _existing(self, key: str, value: str) -> Path:
        path = self.resolve(value)
        if path is None or not path.is_file():
            fix = ("fetch it with: recchat assets fetch" if value.startswith("asset:")
                   else "fix the path (a relative path starts at the config file's folder)")
            raise ConfigError(self.source, key, f"{path}: no such file", fix)
        return path

    def load_dataset(self, *, interactions: bool = True, catalog: Any = None) -> Dataset:
        """The catalog and (optionally) the interaction log this configuration names; a
        ``catalog`` already loaded from it is used instead of reading the file again."""
        self.check(interactions=interactions)
        if catalog is None:
            catalog = load_catalog(self.resolve(self.catalog.path), self.catalog.spec(), fmt=self.catalog.format,
                                   skip_bad=self.catalog.skip_bad)
        if not interactions:
            from recchat.catalog import InteractionLog, LoadReport

            return Dataset(self.name, catalog, InteractionLog([], LoadReport(Path(""))))
        log = load_interactions(self.resolve(self.interactions.path), self.interactions.spec(), catalog=catalog,
                                fmt=self.interactions.format, skip_bad=self.catalog.skip_bad)
        return Dataset(self.name, catalog, log)


def load_movielens_100k() -> Dataset:
    """MovieLens-100K from the fetched ``movielens-100k`` asset (``recchat assets fetch``)."""
    from recchat.catalog import load_users

    config = RecommenderConfig.default()
    data = config.load_dataset()
    data.users = load_users(config.resolve("asset:movielens-100k/ml-100k.user"))
    return data


# --------------------------------------------------------------------------- helpers


def _columns(path: Path, fmt: str | None) -> list[str] | None:
    """The header of a table file (None for JSONL, whose rows name their own keys)."""
    kind = detect_format(path, fmt)
    if kind == "jsonl":
        return None
    with open(path, encoding="utf-8", newline="") as fh:
        if kind == "atomic":
            return [h.split(":", 1)[0] for h in fh.readline().rstrip("\r\n").split("\t")]
        return next(csv.reader(fh, delimiter="\t" if path.suffix.lower() == ".tsv" else ","), [])


def _plain(value: Any) -> Any:
    if is_dataclass(value):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and key not in ("fields", "options",
                                                                                       "plugin_options"):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _build(cls: type, data: dict[str, Any], source: Path | None, prefix: str) -> Any:
    """A dataclass from a table, each key checked; nested tables become nested dataclasses."""
    if not isinstance(data, dict):
        raise ConfigError(source, prefix.rstrip(".") or "config", f"a table is expected, not {data!r}")
    known = {f.name: f for f in fields(cls) if f.name != "source"}
    unknown = [k for k in data if k not in known]
    if unknown:
        section = f"[{prefix.rstrip('.')}]" if prefix else "the top level"
        raise ConfigError(source, prefix + unknown[0], "unknown key",
                          f"known keys in {section}: {', '.join(known)}")
    values: dict[str, Any] = {}
    defaults = cls()
    for name, value in data.items():
        key = prefix + name
        default = getattr(defaults, name)
        if is_dataclass(default):
            values[name] = _build(type(default), value, source, key + ".")
        elif name == "fields":
            if not isinstance(value, dict):
                raise ConfigError(source, key, "a table of fields is expected")
            values[name] = {n: _build(FieldConfig, v if isinstance(v, dict) else {"column": v}, source,
                                      f"{key}.{n}.") for n, v in value.items()}
        else:
            values[name] = _typed(value, default, known[name].type, source, key)
    out = cls(**values)
    if source is not None and hasattr(out, "source"):
        out.source = source
    return out


def _typed(value: Any, default: Any, annotation: Any, source: Path | None, key: str) -> Any:
    """Check a value against its field's declared type (the annotation is a string here)."""
    text = str(annotation)
    if value is None:
        if "None" in text:
            return None
        raise ConfigError(source, key, "a value is required")
    if isinstance(value, bool) and "bool" not in text:
        raise ConfigError(source, key, f"{value!r} is not a {text.split(' |')[0]}")
    checks = [("bool", bool), ("int", int), ("float", (int, float)), ("str", str), ("list", list), ("dict", dict)]
    for name, kind in checks:
        if text.startswith(name) or text.startswith(f"{name}[") or f"| {name}" in text or text.startswith(f"{name} "):
            if isinstance(value, kind):
                return float(value) if name == "float" and not isinstance(value, bool) else value
    if isinstance(default, (list, dict)) and isinstance(value, type(default)):
        return value
    raise ConfigError(source, key, f"{value!r} is not a valid value (expected {text})")


# --------------------------------------------------------------------------- recchat init

_SAMPLE_ROWS = 5000


def _sample(path: Path, fmt: str | None) -> tuple[list[str], list[dict[str, Any]]]:
    from itertools import islice

    from recchat.catalog import read_rows

    rows = [row for _, row in islice(read_rows(path, fmt), _SAMPLE_ROWS)]
    columns = _columns(path, fmt) or list(dict.fromkeys(k for row in rows for k in row))
    return columns, rows


def _number(value: Any, kind: type) -> bool:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return False
    return kind is float or number.is_integer()


def _guess_field(name: str, values: list[Any]) -> dict[str, Any] | None:
    """A field's type, separator and role from sample values; None for free text."""
    values = [v for v in values if v not in (None, "")]
    if not values:
        return None
    if all(isinstance(v, list) for v in values):
        return {"column": name, "type": "list", "role": "facet"}
    text = [str(v) for v in values]
    if all(_number(v, int) for v in text):
        numbers = [int(float(v)) for v in text]
        yearish = "year" in name.lower() or "date" in name.lower()
        if yearish and all(1000 <= n <= 2100 for n in numbers):
            return {"column": name, "type": "int", "role": "year"}
        return {"column": name, "type": "int", "role": "range", "unit": name.lower()}
    if all(_number(v, float) for v in text):
        return {"column": name, "type": "float", "role": "range", "unit": name.lower()}
    for sep in ("|", ";"):
        if sum(sep in v for v in text) >= max(1, 0.02 * len(text)):
            parts = [p.strip() for v in text for p in v.split(sep)]
            if len(set(parts)) <= max(50, len(parts) // 3):
                return {"column": name, "type": "list", "sep": sep, "role": "facet"}
    words = [w for v in text for w in v.split()]
    distinct = set(text)
    if len(distinct) <= max(30, len(text) // 20) and max(map(len, text)) <= 40:
        # A short label with few values (a category): a one-value list, so it can be a facet.
        return {"column": name, "type": "list", "sep": "|", "role": "facet"}
    if len(words) / len(text) > 6:
        return {"column": name, "type": "str"}  # long text: part of the item text, no role
    return None


def _pick(columns: list[str], *hints: str, exclude: tuple[str, ...] = ()) -> str | None:
    lowered = {c.lower(): c for c in columns if c not in exclude}
    for hint in hints:
        if hint in lowered:
            return lowered[hint]
    for hint in hints:
        for low, column in lowered.items():
            if hint in low:
                return column
    return None


def guess_config(items: Path, interactions: Path | None = None, *, name: str | None = None,
                 item: str | None = None) -> tuple[dict[str, Any], list[str]]:
    """A starter configuration for two files, and one line per guess made (for the user to check)."""
    items = items.resolve()
    columns, rows = _sample(items, None)
    notes: list[str] = []
    if not rows:
        raise ConfigError(items, "file", "no rows to look at", "give a file with a header and data rows")
    unique = [c for c in columns if len({str(r.get(c)) for r in rows}) == len(rows)]
    id_column = _pick(unique, "item_id", "id", "_id") or (unique[0] if unique else columns[0])
    title = _pick(columns, "title", "name", "movie_title", exclude=(id_column,)) or \
        next((c for c in columns if c != id_column), id_column)
    notes.append(f"catalog {items.name}: {len(columns)} columns; id '{id_column}', title '{title}'")
    fields_: dict[str, Any] = {}
    for column in columns:
        if column in (id_column, title):
            continue
        guess = _guess_field(column, [r.get(column) for r in rows])
        if guess is None:
            notes.append(f"  {column}: left out (not a facet, a number or long text)")
            continue
        key = "".join(ch if ch.isalnum() else "_" for ch in column.lower()).strip("_") or "field"
        fields_[key] = guess
        role = guess.get("role") or "text only"
        sep = f", separated by '{guess['sep']}'" if "sep" in guess else ""
        notes.append(f"  {column}: {guess['type']}{sep}, role {role}")
    stem = name or "".join(ch if ch.isalnum() or ch == "-" else "-" for ch in items.stem.lower())
    noun = item or (stem.rstrip("s") if stem.endswith("s") and len(stem) > 3 else "item")
    config: dict[str, Any] = {"name": stem, "catalog": {"path": str(items), "id": id_column, "title": title,
                                                        "fields": fields_}}
    if interactions is not None:
        interactions = interactions.resolve()
        log_columns, log_rows = _sample(interactions, None)
        user = _pick(log_columns, "user_id", "user", "userid", "customer", "reader")
        item_column = _pick(log_columns, id_column, "item_id", "item", exclude=(user or "",))
        rating = _pick(log_columns, "rating", "score", "stars")
        stamp = _pick(log_columns, "timestamp", "time", "date", "ts")
        if user is None or item_column is None:
            raise ConfigError(interactions, "interactions", f"cannot tell the user and item columns from "
                              f"{', '.join(log_columns)}", "edit the written file's [interactions] table")
        if stamp and not all(_number(r.get(stamp), float) for r in log_rows[:200]):
            notes.append(f"interactions: '{stamp}' is not numeric (unix seconds expected); left out")
            stamp = None
        config["interactions"] = {"path": str(interactions), "user": user, "item": item_column,
                                  "rating": rating or "", "timestamp": stamp or ""}
        notes.append(f"interactions {interactions.name}: user '{user}', item '{item_column}', rating "
                     f"'{rating or '(none)'}', timestamp '{stamp or '(none: file order)'}'")
    config["llm"] = {"backend": LLMConfig.backend}
    config["domain"] = {"item": noun}
    return config, notes


def to_toml(config: dict[str, Any], header: str = "") -> str:
    """Write a configuration dict as TOML (tables, inline tables for fields)."""
    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return repr(v)
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        if isinstance(v, dict):
            return "{ " + ", ".join(f"{_key(k)} = {value(x)}" for k, x in v.items()) + " }"
        return json.dumps(str(v))

    lines = [header.rstrip()] if header else []
    lines += [f"{_key(k)} = {value(v)}" for k, v in config.items() if not isinstance(v, dict)]
    for section, table in config.items():
        if not isinstance(table, dict):
            continue
        lines += ["", f"[{section}]"]
        lines += [f"{_key(k)} = {value(v)}" for k, v in table.items() if not isinstance(v, dict) or k != "fields"]
        if isinstance(table.get("fields"), dict):
            lines += ["", f"[{section}.fields]"]
            lines += [f"{_key(k)} = {value(v)}" for k, v in table["fields"].items()]
    return "\n".join(lines) + "\n"


def _key(k: str) -> str:
    return k if k.replace("_", "").replace("-", "").isalnum() else json.dumps(k)
