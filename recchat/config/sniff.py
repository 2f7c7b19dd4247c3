"""``recchat init``'s reading of a data file: what a person looking at it would conclude
(:mod:`recchat.config.guess` turns two such readings into a configuration).

For each file: its format (a JSON object per line, RecBole's typed header, else a table), the
separator and quoting that split every line into the same number of fields, its encoding (latin-1
when the bytes are not UTF-8), and whether the first row names the columns (a header-less file
gets names from the roles found). Then the roles: the log column whose values are the catalog's
ids is the item column (and picks the catalog's id column among its unique ones); user, rating and
timestamp by name, else by content (small numbers for a rating, unix seconds, milliseconds or ISO
dates for a time); each catalog column's type and role (``facet``, ``year``, ``range``); titles
such as "Matrix, The (1999)" turn on ``move_articles`` and give the year when no column does.

Every guess is a printed note; a guess that stays uncertain is also a ``# check:`` comment at its
key in the written file (``checks``).
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from itertools import islice
from pathlib import Path

from recchat.data.tables import PLAIN, DataError, Row, TableOptions, detect_format, rows_or_errors

SAMPLE_ROWS = 5000
SEPARATORS = ("\t", ",", ";", "|")
ID_NAMES = {"id", "isbn", "isbn10", "isbn13", "asin", "url", "uri", "link", "image", "picture"}
FACET_NAMES = (
    "author",
    "director",
    "brand",
    "artist",
    "publisher",
    "creator",
    "writer",
    "studio",
    "label",
    "manufacturer",
    "genre",
    "categor",
    "subject",
    "tag",
    "actor",
    "cast",
    "language",
    "country",
)
USER_NAMES = (
    "user_id",
    "userid",
    "user",
    "user-id",
    "reviewerid",
    "reader",
    "reader_id",
    "customer",
    "customer_id",
    "member_id",
    "uid",
)
ITEM_NAMES = (
    "item_id",
    "itemid",
    "item",
    "movieid",
    "movie_id",
    "book_id",
    "bookid",
    "book",
    "product",
    "product_id",
    "asin",
    "isbn",
    "artistid",
    "artist_id",
    "track_id",
    "app_id",
)
RATING_NAMES = ("rating", "score", "stars", "overall")
TIME_NAMES = ("timestamp", "unixreviewtime", "ts", "time", "date", "datetime", "created_at")
ARTICLE_END = re.compile(r", (The|An?)(\s*\(\d{4}\))?\s*$")
TITLE_YEAR = r"\((\d{4})\)\s*$"


@dataclass
class Table:
    """One file as init sees it: how to read it and a sample of its rows."""

    path: Path
    format: str
    options: TableOptions
    columns: list[str]
    rows: list[Row]
    broken: int = 0  # sampled rows that did not read (data check names them)
    names: dict[str, str] = field(default_factory=dict)  # header-less: placeholder -> chosen name

    @property
    def named(self) -> bool:
        return not self.options.header

    def values(self, column: str) -> list[object]:
        return [r.get(column) for r in self.rows if r.get(column) not in (None, "")]

    def texts(self, column: str) -> list[str]:
        return [str(v).strip() for v in self.values(column) if not isinstance(v, (list, dict))]

    def unique(self, column: str) -> bool:
        values = self.texts(column)
        return len(values) == len(self.rows) and len(set(values)) == len(values)

    def settings(self) -> dict[str, object]:
        """The keys that tell recchat how to read this file (those that differ from the defaults)."""
        out: dict[str, object] = {"path": str(self.path)}
        try:
            by_suffix = detect_format(self.path)
        except ValueError:
            by_suffix = None
        if by_suffix != self.format:
            out["format"] = self.format
        if self.format == "csv" and self.options.sep != ("\t" if self.path.suffix.lower() == ".tsv" else ","):
            out["delimiter"] = self.options.sep
        if self.options.quote != PLAIN.quote:
            out["quote"] = self.options.quote
        if self.options.encoding != PLAIN.encoding:
            out["encoding"] = self.options.encoding
        if self.options.header:
            out["header"] = [self.names.get(c, c) for c in self.options.header]
        return out

    def name(self, column: str, wanted: str) -> None:
        """In a header-less file, call ``column`` ``wanted`` (if no other column has that name)."""
        if not self.named and wanted not in self.names.values() and wanted not in self.columns:
            self.names[column] = wanted


def sniff(path: Path) -> Table:
    """How to read ``path`` and its first rows."""
    with open(path, "rb") as fh:
        raw = fh.read(1 << 20)
        whole = not fh.read(1)
    encoding = "utf-8-sig" if raw.startswith(b"\xef\xbb\xbf") else "utf-8"
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as exc:
        if whole or exc.start < len(raw) - 4:  # not just a character cut at the end of the sample
            encoding = "latin-1"
        text = raw.decode(encoding, errors="ignore")
    lines = [line for line in text.splitlines()[: None if whole else -1] if line.strip()][:50]
    if not lines:
        from recchat.config.schema import ConfigError

        raise ConfigError(path, "file", "no rows to look at", "give a file with data rows")
    options = TableOptions(encoding=encoding)
    if lines[0].lstrip().startswith("{"):
        fmt = "jsonl"
    elif path.suffix.lower() in (".item", ".inter", ".user") and all(
        re.fullmatch(r"[^:\t]+:(token|token_seq|float|float_seq)", h) for h in lines[0].split("\t")
    ):
        fmt = "atomic"
    else:
        fmt = "csv"
        options = _dialect(lines, path, encoding)
    table = Table(path, fmt, options, [], [])
    for _, row in islice(rows_or_errors(path, fmt, options), SAMPLE_ROWS):
        if isinstance(row, DataError):
            table.broken += 1
        else:
            table.rows.append(row)
    table.columns = list(options.header) or list(dict.fromkeys(k for row in table.rows for k in row))
    return table


def _dialect(lines: list[str], path: Path, encoding: str) -> TableOptions:
    """The separator (and quoting) that splits every line into the same number (>1) of fields;
    then whether the first line is a header."""
    found: tuple[int, str, str] | None = None
    for quote in ('"', ""):
        for sep in SEPARATORS:
            quoting = {"quotechar": quote} if quote else {"quoting": csv.QUOTE_NONE}
            counts = {len(r) for r in csv.reader(lines, delimiter=sep, **quoting)}
            if len(counts) == 1 and min(counts) > 1 and (found is None or min(counts) > found[0]):
                found = (min(counts), sep, quote)
        if found:
            break
    _, sep, quote = found or (1, "\t" if path.suffix.lower() == ".tsv" else ",", '"')
    options = TableOptions(sep, quote, encoding)
    rows = list(csv.reader(lines, delimiter=sep, **({"quotechar": quote} if quote else {"quoting": csv.QUOTE_NONE})))
    first, rest = rows[0], rows[1:]
    # A header names columns: no cell is a number, and none is a value its column holds below.
    data = any(as_float(c) is not None for c in first) or any(
        c and any(i < len(r) and r[i] == c for r in rest) for i, c in enumerate(first)
    )
    if data:
        options = replace(options, header=tuple(f"column_{i + 1}" for i in range(len(first))))
    return options


# --------------------------------------------------------------------------- values


def as_float(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return None
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):
        return None


def _ints(values: Sequence[object]) -> list[int] | None:
    numbers = [as_float(v) for v in values]
    whole = [n for n in numbers if n is not None and n.is_integer()]  # not NaN or infinite either
    if not numbers or len(whole) < len(numbers):
        return None
    return [int(n) for n in whole]


def is_iso_time(value: str) -> bool:
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return bool(re.match(r"\d{4}-\d{2}-\d{2}", value))


def name_words(name: str) -> set[str]:
    """``goodreads_book_id`` -> {goodreads, book, id}; ``imUrl`` -> {im, url}."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)
    return {w.lower() for w in re.split(r"[^A-Za-z0-9]+", spaced) if w}


def pick_column(columns: list[str], hints: tuple[str, ...], exclude: tuple[str | None, ...] = ()) -> str | None:
    """The column named by the first hint (exactly, then as a part of the name, for hints of 4+ letters)."""
    lowered = {c.lower(): c for c in columns if c not in exclude}
    for hint in hints:
        if hint in lowered:
            return lowered[hint]
    for hint in hints:
        for low, column in lowered.items():
            if len(hint) >= 4 and hint in low:
                return column
    return None


# --------------------------------------------------------------------------- the catalog's fields


def guess_field(name: str, values: Sequence[object]) -> dict[str, str] | None:
    """A field's type, separator, role (and pattern) from sample values; None to leave it out."""
    if not values or any(isinstance(v, dict) for v in values):
        return None
    if all(isinstance(v, list) for v in values):
        return {"column": name, "type": "list", "role": "facet"}
    text = [str(v).strip() for v in values]
    lowered = name.lower()
    if name_words(name) & ID_NAMES or any("://" in v for v in text[:50]):
        return None  # an identifier or a link
    numbers = _ints(text)
    yearish = "year" in lowered or "date" in lowered
    if numbers is not None:
        known = [n for n in numbers if n != 0]
        if yearish and known and sum(1000 <= n <= 2100 for n in known) >= 0.8 * len(known):
            guess = {"column": name, "type": "int", "role": "year"}
            return {**guess, "pattern": "-?[1-9]\\d*"} if len(known) < len(numbers) else guess  # 0: unknown
        return {"column": name, "type": "int", "role": "range", "unit": lowered}
    if all(as_float(v) is not None for v in text):
        return {"column": name, "type": "float", "role": "range", "unit": lowered}
    dated = [v for v in text if len(v) <= 30 and re.search(r"(?<!\d)(1[5-9]|20)\d\d(?!\d)", v)]
    if len(dated) >= 0.9 * len(text) and any(as_float(v) is None for v in text):  # 01-Jan-1995, 1995-01-01
        return {"column": name, "type": "int", "role": "year", "pattern": "\\d{4}"}
    facetish = any(word in lowered for word in FACET_NAMES)
    plain = [re.sub(r"&#?\w+;", "", v) for v in text]  # "W. W. Norton &amp; Company" holds no list
    for sep in ("|", ";") + ((", ",) if facetish else ()):
        if sum(sep in v for v in plain) >= max(1, 0.02 * len(text)):
            parts = [p.strip() for v in text for p in v.split(sep)]
            if len(set(parts)) <= max(50, len(parts) // 3) or facetish:
                return {"column": name, "type": "list", "sep": sep, "role": "facet"}
    counts = Counter(text)
    short = max(map(len, text)) <= 80 and sum(len(v.split()) for v in text) / len(text) <= 6
    if short and (
        facetish
        or (
            counts.most_common(1)[0][1] > 1
            and (len(counts) <= max(30, len(text) // 20) or len(counts) <= 0.8 * len(text))
        )
    ):
        # A short label whose values repeat (an author, a brand, a category): a one-value list,
        # so that it can be a facet.
        return {"column": name, "type": "list", "sep": "|", "role": "facet"}
    if sum(len(v.split()) for v in text) / len(text) > 6:
        return {"column": name, "type": "str"}  # long text: part of the item text, no role
    return None


def why_left_out(name: str, values: Sequence[object], found: Mapping[str, str] | None) -> str:
    if found is not None:
        return "a second year field"
    if not values:
        return "empty in every sampled row"
    if any(isinstance(v, dict) for v in values):
        return "nested JSON objects"
    if any("://" in str(v) for v in values[:50]):
        return "links"
    if name_words(name) & ID_NAMES:
        return "an identifier"
    return "short texts that do not repeat: not a facet"


def flag_columns(table: Table, skip: set[str]) -> list[str]:
    """Three or more columns holding only 0 and 1: flags (MovieLens's genre columns)."""
    flags = [c for c in table.columns if c not in skip and table.texts(c) and set(table.texts(c)) <= {"0", "1"}]
    return flags if len(flags) >= 3 else []


def field_key(column: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in column.lower()).strip("_") or "field"
