"""``recchat init``'s guesses: what a person reading two files would conclude about them.

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
import json
import re
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import datetime
from itertools import islice
from pathlib import Path
from typing import Any

from recchat.data.catalog import PLAIN, DataError, TableOptions, _rows, detect_format

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
    rows: list[dict[str, Any]]
    broken: int = 0  # sampled rows that did not read (data check names them)
    names: dict[str, str] = field(default_factory=dict)  # header-less: placeholder -> chosen name

    @property
    def named(self) -> bool:
        return not self.options.header

    def values(self, column: str) -> list[Any]:
        return [r.get(column) for r in self.rows if r.get(column) not in (None, "")]

    def texts(self, column: str) -> list[str]:
        return [str(v).strip() for v in self.values(column) if not isinstance(v, (list, dict))]

    def unique(self, column: str) -> bool:
        values = self.texts(column)
        return len(values) == len(self.rows) and len(set(values)) == len(values)

    def settings(self) -> dict[str, Any]:
        """The keys that tell recchat how to read this file (those that differ from the defaults)."""
        out: dict[str, Any] = {"path": str(self.path)}
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
        from recchat.config import ConfigError

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
    for _, row in islice(_rows(path, fmt, options), SAMPLE_ROWS):
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
    data = any(_float(c) is not None for c in first) or any(
        c and any(i < len(r) and r[i] == c for r in rest) for i, c in enumerate(first)
    )
    if data:
        options = replace(options, header=tuple(f"column_{i + 1}" for i in range(len(first))))
    return options


# --------------------------------------------------------------------------- values


def _float(value: Any) -> float | None:
    if isinstance(value, bool) or isinstance(value, (list, dict)):
        return None
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):
        return None


def _ints(values: list[Any]) -> list[int] | None:
    numbers = [_float(v) for v in values]
    if not numbers or any(n is None or n != n or abs(n) == float("inf") or not n.is_integer() for n in numbers):
        return None
    return [int(n) for n in numbers]  # type: ignore[arg-type]


def _iso(value: str) -> bool:
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return bool(re.match(r"\d{4}-\d{2}-\d{2}", value))


def _words(name: str) -> set[str]:
    """``goodreads_book_id`` -> {goodreads, book, id}; ``imUrl`` -> {im, url}."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)
    return {w.lower() for w in re.split(r"[^A-Za-z0-9]+", spaced) if w}


def _pick(columns: list[str], hints: tuple[str, ...], exclude: tuple[str | None, ...] = ()) -> str | None:
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


def guess_field(name: str, values: list[Any]) -> dict[str, Any] | None:
    """A field's type, separator, role (and pattern) from sample values; None to leave it out."""
    if not values or any(isinstance(v, dict) for v in values):
        return None
    if all(isinstance(v, list) for v in values):
        return {"column": name, "type": "list", "role": "facet"}
    text = [str(v).strip() for v in values]
    lowered = name.lower()
    if _words(name) & ID_NAMES or any("://" in v for v in text[:50]):
        return None  # an identifier or a link
    numbers = _ints(text)
    yearish = "year" in lowered or "date" in lowered
    if numbers is not None:
        known = [n for n in numbers if n != 0]
        if yearish and known and sum(1000 <= n <= 2100 for n in known) >= 0.8 * len(known):
            guess = {"column": name, "type": "int", "role": "year"}
            return {**guess, "pattern": "-?[1-9]\\d*"} if len(known) < len(numbers) else guess  # 0: unknown
        return {"column": name, "type": "int", "role": "range", "unit": lowered}
    if all(_float(v) is not None for v in text):
        return {"column": name, "type": "float", "role": "range", "unit": lowered}
    dated = [v for v in text if len(v) <= 30 and re.search(r"(?<!\d)(1[5-9]|20)\d\d(?!\d)", v)]
    if len(dated) >= 0.9 * len(text) and any(_float(v) is None for v in text):  # 01-Jan-1995, 1995-01-01
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


def _why_left(name: str, values: list[Any], found: dict[str, Any] | None) -> str:
    if found is not None:
        return "a second year field"
    if not values:
        return "empty in every sampled row"
    if any(isinstance(v, dict) for v in values):
        return "nested JSON objects"
    if any("://" in str(v) for v in values[:50]):
        return "links"
    if _words(name) & ID_NAMES:
        return "an identifier"
    return "short texts that do not repeat: not a facet"


def _flags(table: Table, skip: set[str]) -> list[str]:
    """Three or more columns holding only 0 and 1: flags (MovieLens's genre columns)."""
    flags = [c for c in table.columns if c not in skip and table.texts(c) and set(table.texts(c)) <= {"0", "1"}]
    return flags if len(flags) >= 3 else []


def _key(column: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in column.lower()).strip("_") or "field"


# --------------------------------------------------------------------------- the guess


@dataclass
class Guess:
    """A configuration (a dict, paths absolute), one note per guess, and the uncertain keys."""

    config: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    checks: dict[str, str] = field(default_factory=dict)  # "interactions.item" -> what to check


def _ids(cat: Table, log: Table | None, guess: Guess) -> tuple[str, str | None]:
    """The catalog's id column and the log's item column: the pair that shares the most values."""
    unique = [c for c in cat.columns if cat.unique(c)] or cat.columns[:1]
    named = _pick(unique, ("item_id", "id", *ITEM_NAMES)) or next((c for c in unique if "id" in _words(c)), None)
    if log is None:
        if named is None:
            guess.checks["catalog.id"] = f"'{unique[0]}' was taken as the id: its values are all different"
        return named or unique[0], None
    pairs = []
    for c in unique:
        ids = set(cat.texts(c))
        for position, lc in enumerate(log.columns):
            hits = len(set(log.texts(lc)) & ids)
            by_name = (lc.lower() in ITEM_NAMES) + (lc == c and cat.named and log.named) + (c == named)
            pairs.append((hits, by_name, position, c, lc))
    pairs.sort(reverse=True)
    hits, _, _, id_column, item = pairs[0] if pairs else (0, 0, 0, unique[0], None)
    if not hits:
        id_column = named or unique[0]
        item = _pick(log.columns, (id_column.lower(), *ITEM_NAMES)) or log.columns[min(1, len(log.columns) - 1)]
        guess.checks["interactions.item"] = (
            f"no column of {log.path.name} holds ids of {cat.path.name}'s columns; '{item}' was taken by its name"
        )
        return id_column, item
    rivals = [p for p in pairs if p[4] != item and p[0] >= 0.8 * hits and p[0] > 1]
    if rivals:
        # Two log columns hold catalog ids (user ids 1..943 and item ids 1..1682 both look like
        # MovieLens ids): names decide, else the usual order (user, then item).
        close = sorted({item, *(p[4] for p in rivals)}, key=log.columns.index)
        by_name = [c for c in close if c.lower() in ITEM_NAMES or (c == id_column and log.named)]
        users = [c for c in close if _pick([c], USER_NAMES)]
        item = by_name[0] if by_name else next((c for c in reversed(close) if c not in users), close[-1])
        if not by_name and not users:
            guess.checks["interactions.item"] = (
                f"{', '.join(repr(c) for c in close)} all hold ids of the "
                f"catalog; '{item}' was taken as the item (users usually come first)"
            )
    return id_column, item


def _title(cat: Table, id_column: str, guess: Guess) -> str:
    title = _pick(cat.columns, ("title", "name", "movie_title", "book_title"), exclude=(id_column,))
    if title is None:
        texts = [
            c
            for c in cat.columns
            if c != id_column
            and cat.texts(c)
            and all(_float(v) is None for v in cat.texts(c)[:200])
            and not any("://" in v for v in cat.texts(c)[:50])
        ]
        others = [c for c in cat.columns if c != id_column] or [id_column]
        title = max(texts, key=lambda c: len(set(cat.texts(c))), default=others[0])
        guess.checks["catalog.title"] = (
            f"column {cat.columns.index(title) + 1} was taken as the title: the column with the most different texts"
        )
    cat.name(title, "title")
    return title


def _catalog(cat: Table, log: Table | None, guess: Guess) -> tuple[dict[str, Any], str | None]:
    id_column, item_column = _ids(cat, log, guess)
    cat.name(id_column, "item_id")
    title = _title(cat, id_column, guess)
    section: dict[str, Any] = {}
    fields: dict[str, Any] = {}
    notes = guess.notes
    notes.append(
        f"catalog {cat.path.name}: {_how(cat)}{len(cat.columns)} columns; "
        f"id '{cat.names.get(id_column, id_column)}', title '{cat.names.get(title, title)}'"
    )
    flags = _flags(cat, {id_column, title})
    if flags:
        for n, column in enumerate(flags, start=1):
            cat.name(column, f"flag_{n}")
        fields["flags"] = {"columns": flags, "type": "list", "role": "facet"}
        notes.append(
            f"  {len(flags)} columns of 0/1 ({_span(cat, flags)}): one list field 'flags' of the "
            f"columns set to 1, role facet"
        )
        if not cat.named:
            guess.checks["catalog.fields.flags"] = (
                "the file does not name its 0/1 columns: name them in "
                "catalog.header (MovieLens 100K: the genres of u.genre)"
            )
    for column in cat.columns:
        if column in (id_column, title) or column in flags:
            continue
        found = guess_field(column, cat.values(column))
        if found is None or (found.get("role") == "year" and any(f.get("role") == "year" for f in fields.values())):
            if found is None and any("://" in v for v in cat.texts(column)[:50]):
                cat.name(column, "url")
            why = _why_left(column, cat.values(column), found)
            notes.append(f"  {cat.names.get(column, column)}: left out ({why})")
            continue
        if found.get("role") == "year" and not cat.named:
            cat.name(column, "date" if found.get("pattern") == "\\d{4}" else "year")
        key = "year" if found.get("role") == "year" and not cat.named else _key(cat.names.get(column, column))
        fields[key] = found
        role = found.get("role") or "text only"
        sep = f", separated by '{found['sep']}'" if "sep" in found else ""
        notes.append(
            f"  {cat.names.get(column, column)}: {found['type']}{sep}, role {role}"
            + (f" (the value matching {found['pattern']})" if "pattern" in found else "")
        )
    titles = cat.texts(title)
    turned = sum(bool(ARTICLE_END.search(t)) for t in titles)
    if turned >= 2 and turned >= 0.01 * len(titles):
        section["move_articles"] = True
        notes.append(
            f"  {turned} of {len(titles)} sampled titles end in ', The', ', A' or ', An': "
            f'move_articles = true ("Matrix, The" reads "The Matrix")'
        )
    dated = sum(bool(re.search(TITLE_YEAR, t)) for t in titles)
    if not any(f.get("role") == "year" for f in fields.values()) and titles and dated >= 0.5 * len(titles):
        fields["year"] = {"column": title, "type": "int", "role": "year", "pattern": TITLE_YEAR}
        notes.append(f"  year: from the '(1999)' ending {dated} of {len(titles)} sampled titles, role year")
    if cat.broken:
        notes.append(f"  {cat.broken} sampled rows did not read; recchat data check names them")
    section = {**cat.settings(), "id": id_column, "title": title, **section, "fields": fields}
    return section, item_column


def _interactions(log: Table, cat: Table, item: str | None, id_column: str, guess: Guess) -> dict[str, Any]:
    columns = log.columns
    notes, checks = guess.notes, guess.checks
    if len(columns) < 2:
        from recchat.config import ConfigError

        raise ConfigError(
            log.path,
            "interactions",
            f"one column ({', '.join(columns)}) cannot hold both users and items",
            "nothing was written; give a log with a user column and an item column",
        )
    item = item or columns[1]
    user = _pick(columns, USER_NAMES, exclude=(item,))
    numeric = {c: _float_all(log.texts(c)) for c in columns}
    rating = _pick([c for c in columns if numeric[c]], RATING_NAMES, exclude=(item, user))
    if rating is None:
        small = [
            c
            for c in columns
            if c not in (item, user)
            and numeric[c]
            and len(set(log.texts(c))) <= 11
            and all(0 <= float(v) <= 10 for v in log.texts(c))
        ]
        if small:
            rating = small[0]
            checks["interactions.rating"] = "taken as the rating: its values are few and small numbers"
    stamp, time_format = _timestamp(log, (item, user, rating), guess)
    if user is None:
        rest = [c for c in columns if c not in (item, rating, stamp)]
        if not rest:  # two columns: the other one is the user, not a time
            rest, stamp = [c for c in columns if c != item], None
        user = rest[0]
        rating = None if rating == user else rating
        if log.named:
            checks["interactions.user"] = (
                f"'{user}' was taken as the user: the first column that is not the item, rating or time"
            )
    for column, wanted in ((user, "user_id"), (item, "item_id"), (rating, "rating"), (stamp, "timestamp")):
        if column:
            log.name(column, wanted)
    shown = {c: log.names.get(c, c) for c in columns}
    left = [shown[c] for c in columns if c not in (user, item, rating, stamp)]
    notes.append(
        f"interactions {log.path.name}: {_how(log)}user '{shown[user]}', item '{shown[item]}' (its values "
        f"are the catalog's ids), rating '{shown[rating] if rating else '(none: an implicit log)'}', "
        f"timestamp '{shown[stamp] + ' (' + time_format + ')' if stamp else '(none: file order)'}'"
        + (f"; left out: {', '.join(left)}" if left else "")
    )
    section = {**log.settings(), "user": user, "item": item, "rating": rating or "", "timestamp": stamp or ""}
    if stamp and time_format != "seconds":
        section["time_format"] = time_format
    ids = set(cat.texts(id_column))
    unknown = sum(str(v).strip() not in ids for v in log.texts(item))
    # The whole catalog was read, and most ids are in it: the others are missing from the catalog.
    if 0 < unknown <= 0.5 * len(log.rows) and len(cat.rows) < SAMPLE_ROWS:
        notes.append(
            f"  {unknown} of {len(log.rows)} sampled rows name items the catalog lacks: skip_bad = true "
            "(they are skipped and counted by recchat data check)"
        )
        guess.config["catalog"]["skip_bad"] = True
        checks["catalog.skip_bad"] = (
            f"{unknown} of the first {len(log.rows)} rows of {log.path.name} name items "
            f"{cat.path.name} lacks; with skip_bad they are skipped (and so are bad rows)"
        )
    if not rating and any(numeric[c] for c in columns if c not in (user, item, stamp)):
        checks["interactions.rating"] = (
            "no column is named like a rating; counts (plays, weights) are not ratings: name one here to use it"
        )
    return section


def _float_all(values: list[str]) -> bool:
    return bool(values) and all(_float(v) is not None for v in values)


def _timestamp(log: Table, taken: tuple[str | None, ...], guess: Guess) -> tuple[str | None, str]:
    """The time column and its format (seconds, milliseconds, iso), by name, else by content."""
    named = _pick(log.columns, TIME_NAMES, exclude=taken)
    for column in ([named] if named else []) + [c for c in log.columns if c not in taken and c != named]:
        values = log.texts(column)
        numbers = [_float(v) for v in values]
        if values and all(n is not None for n in numbers):
            low, high = min(numbers), max(numbers)  # type: ignore[type-var]
            # Unix seconds from 1973 to 2100, or milliseconds; bigger numbers are ids (Steam's users).
            if column == named or 1e8 <= low <= high < 4.2e9 or 1e11 <= low <= high < 4.2e12:
                return column, "milliseconds" if low >= 1e11 else "seconds"
        elif values and sum(_iso(v) for v in values) >= 0.95 * len(values):
            return column, "iso"
        if column == named:
            guess.notes.append(f"interactions: '{named}' holds neither unix times nor ISO dates; left out")
            guess.checks["interactions.timestamp"] = (
                f"'{named}' could not be read as a time (unix seconds or "
                f"milliseconds, or ISO dates); events keep the file's order"
            )
    return None, "seconds"


def _how(table: Table) -> str:
    """How the file is read, when that is not plain UTF-8 CSV with a header."""
    parts = [table.format] if table.format != "csv" else []
    if table.format == "csv" and table.options.sep not in ("", ","):
        parts.append(
            {"\t": "tab", ";": "';'", "|": "'|'"}.get(table.options.sep, repr(table.options.sep)) + "-separated"
        )
    if table.options.encoding != "utf-8":
        parts.append(table.options.encoding)
    if not table.named:
        parts.append("no header row")
    return f"{', '.join(parts)}; " if parts else ""


def _span(table: Table, columns: list[str]) -> str:
    names = [table.names.get(c, c) for c in columns]
    return f"{names[0]}..{names[-1]}" if len(names) > 3 else ", ".join(names)


def guess_config(
    items: Path, interactions: Path | None = None, *, name: str | None = None, item: str | None = None
) -> Guess:
    """A starter configuration for two files, with a note per guess and the guesses to check."""
    items = items.resolve()
    cat = sniff(items)
    log = sniff(interactions.resolve()) if interactions is not None else None
    if not cat.rows:
        from recchat.config import ConfigError

        raise ConfigError(items, "file", "no rows to look at", "give a file with a header and data rows")
    guess = Guess({})
    section, item_column = _catalog(cat, log, guess)
    stem = items.stem if len(items.stem) > 2 else items.parent.name  # u.item: the folder (ml-100k) names it
    stem = name or "".join(ch if ch.isalnum() or ch == "-" else "-" for ch in stem.lower()).strip("-") or "catalog"
    last = re.split(r"[^a-z]+", stem)[-1] if not item else ""
    noun = item or (last[:-1] if last.endswith("s") and len(last) > 3 else "item")
    guess.config = {"name": stem, "catalog": section}
    if log is not None:
        guess.config["interactions"] = _interactions(log, cat, item_column, section["id"], guess)
    # A header-less file's columns take the names chosen for their roles.
    for table, key in ((cat, "catalog"), (log, "interactions")):
        if table is not None and table.names and key in guess.config:
            guess.config[key] = _renamed(guess.config[key], table.names)
    from recchat.config import LLMConfig

    guess.config["llm"] = {"backend": LLMConfig.backend}
    guess.config["domain"] = {"item": noun}
    return guess


def _renamed(value: Any, names: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {names.get(k, k): _renamed(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [_renamed(v, names) for v in value]
    return names.get(value, value) if isinstance(value, str) else value


# --------------------------------------------------------------------------- writing


def to_toml(config: dict[str, Any], header: str = "", checks: dict[str, str] | None = None) -> str:
    """A configuration dict as TOML (tables, inline tables for fields); ``checks`` puts a
    ``# check: ...`` comment above the keys they name ("interactions.item")."""
    checks = checks or {}

    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return repr(v)
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        if isinstance(v, dict):
            return "{ " + ", ".join(f"{_toml_key(k)} = {value(x)}" for k, x in v.items()) + " }"
        return json.dumps(str(v))

    def entry(path: str, k: str, v: Any) -> list[str]:
        note = checks.get(f"{path}{k}")
        return ([f"# check: {note}"] if note else []) + [f"{_toml_key(k)} = {value(v)}"]

    lines = [header.rstrip()] if header else []
    for k, v in config.items():
        if not isinstance(v, dict):
            lines += entry("", k, v)
    for section, table in config.items():
        if not isinstance(table, dict):
            continue
        lines += ["", f"[{section}]"]
        for k, v in table.items():
            if not (isinstance(v, dict) and k == "fields"):
                lines += entry(f"{section}.", k, v)
        if isinstance(table.get("fields"), dict):
            lines += ["", f"[{section}.fields]"]
            for k, v in table["fields"].items():
                lines += entry(f"{section}.fields.", k, v)
    return "\n".join(lines) + "\n"


def _toml_key(k: str) -> str:
    return k if k.replace("_", "").replace("-", "").isalnum() and k.isascii() else json.dumps(k)
