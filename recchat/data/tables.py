"""Table files: telling their format, reading their rows, and the errors that name a file, a line
and a field.

Three file formats are read, chosen by suffix or named explicitly:

- ``atomic``: RecBole's tab-separated files with typed headers (``item_id:token``,
  ``movie_title:token_seq``); ``.item``, ``.inter`` and ``.user``. RecBole publishes dozens of
  public data sets in this format.
- ``csv`` (``.csv``; ``.tsv`` is read as tab-separated CSV) with a header row.
- ``jsonl`` (``.jsonl``, ``.ndjson``): one JSON object per line.

Tables that are not plain UTF-8 CSV (MovieLens's ``u.data``, Book-Crossing's ``;``-separated
latin-1 files) are read with :class:`TableOptions`: the separator, the quote character, the
encoding, and the column names of a file without a header row. By default the first bad row is an
error; :func:`load_rows` with ``skip_bad=True`` skips such rows and counts them in the load report.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from _csv import Reader as CsvReader

T = TypeVar("T")
# One raw row: column -> value (text from a table, any JSON value from a JSONL line).
Row = dict[str, object]
FORMATS = ("atomic", "csv", "jsonl")
_SUFFIX_FORMAT = {
    ".item": "atomic",
    ".inter": "atomic",
    ".user": "atomic",
    ".csv": "csv",
    ".tsv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}


class DataError(ValueError):
    """A row that cannot be read. ``str()`` names the file, line and field."""

    def __init__(self, path: Path | str, line: int, field_name: str | None, message: str):
        self.path, self.line, self.field, self.message = Path(path), line, field_name, message
        where = f"{self.path}:{line}" + (f": field '{field_name}'" if field_name else "")
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True)
class TableOptions:
    """How a table file is read. ``sep``: the one-character separator ("" = tab for ``.tsv``,
    else comma); ``quote``: the quote character ("" = fields are never quoted); ``encoding``: the
    file's text encoding (bytes that do not decode are reported with their line); ``header``: the
    column names of a file without a header row (empty: the first row names the columns)."""

    sep: str = ""
    quote: str = '"'
    encoding: str = "utf-8"
    header: tuple[str, ...] = ()


PLAIN = TableOptions()


@dataclass
class LoadReport:
    """What a load did: rows read, rows kept, rows skipped (with reasons) and warnings."""

    path: Path
    rows: int = 0
    loaded: int = 0
    skipped: list[DataError] = field(default_factory=list)
    warnings: list[DataError] = field(default_factory=list)

    def summary(self) -> str:
        text = f"{self.path.name}: {self.loaded} of {self.rows} rows loaded"
        if self.skipped:
            text += f", {len(self.skipped)} skipped (first: {self.skipped[0]})"
        if self.warnings:
            text += f", {len(self.warnings)} warnings (first: {self.warnings[0]})"
        return text


def detect_format(path: Path, fmt: str | None = None) -> str:
    if fmt:
        if fmt not in FORMATS:
            raise ValueError(f"format '{fmt}' is not one of {', '.join(FORMATS)}")
        return fmt
    try:
        return _SUFFIX_FORMAT[path.suffix.lower()]
    except KeyError:
        raise ValueError(
            f"{path}: cannot tell the format from the suffix '{path.suffix}'; "
            f"name it with --format ({', '.join(FORMATS)})"
        ) from None


def read_rows(path: Path | str, fmt: str | None = None, options: TableOptions = PLAIN) -> Iterator[tuple[int, Row]]:
    """Yield ``(line_number, row)`` for each data row; a structurally broken row raises DataError.

    Line numbers are 1-based lines of the file, so an error can be found with an editor.
    """
    for line, row in rows_or_errors(Path(path), fmt, options):
        if isinstance(row, DataError):
            raise row
        yield line, row


def read_columns(path: Path | str, fmt: str | None = None, options: TableOptions = PLAIN) -> list[str] | None:
    """A table's column names (None for JSONL, whose rows name their own keys)."""
    path = Path(path)
    kind = detect_format(path, fmt)
    if kind == "jsonl":
        return None
    if options.header and kind == "csv":
        return list(options.header)
    with open(path, encoding=options.encoding, errors="surrogateescape", newline="") as fh:
        if kind == "atomic":
            return [h.split(":", 1)[0] for h in fh.readline().rstrip("\r\n").split("\t")]
        return next(_csv_reader(fh, path, options), [])


def _csv_reader(fh: Iterable[str], path: Path, options: TableOptions) -> CsvReader:
    sep = options.sep or ("\t" if path.suffix.lower() == ".tsv" else ",")
    if not options.quote:
        return csv.reader(fh, delimiter=sep, quoting=csv.QUOTE_NONE)
    return csv.reader(fh, delimiter=sep, quotechar=options.quote)


def rows_or_errors(path: Path, fmt: str | None, options: TableOptions = PLAIN) -> Iterator[tuple[int, Row | DataError]]:
    """Like :func:`read_rows`, but a broken row is yielded as its DataError so reading can go on."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    fmt = detect_format(path, fmt)
    # Bytes that do not decode are read as lone surrogates (surrogateescape), so that the row that
    # holds them is reported with its line number instead of the read failing somewhere in the file.
    with open(path, encoding=options.encoding, errors="surrogateescape", newline="") as fh:
        if fmt == "jsonl":
            for number, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                if (bad := not_unicode(line)) is not None:
                    yield number, DataError(path, number, None, bad)
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    yield number, DataError(path, number, None, f"not valid JSON ({exc.msg})")
                    continue
                except (ValueError, RecursionError) as exc:  # a number over 4300 digits, deep nesting
                    reason = "nested too deeply" if isinstance(exc, RecursionError) else "a number has too many digits"
                    yield number, DataError(path, number, None, f"not valid JSON ({reason})")
                    continue
                if not isinstance(row, dict):
                    yield number, DataError(path, number, None, "a JSON object is expected on each line")
                    continue
                yield number, row
            return
        if fmt == "atomic":
            header = [h.split(":", 1)[0] for h in fh.readline().rstrip("\r\n").split("\t")]
            rows: Iterable[tuple[int, list[str]]] = (
                (n, line.rstrip("\r\n").split("\t")) for n, line in enumerate(fh, start=2) if line.strip()
            )
        else:
            numbered = _csv_rows(_csv_reader(fh, path, options), path)
            header = list(options.header) or next(numbered, (1, []))[1]
            rows = ((n, r) for n, r in numbered if r)
        if not header or header == [""]:
            raise DataError(path, 1, None, "the file has no header row")
        if (bad := not_unicode("\t".join(header))) is not None:
            raise DataError(path, 1, None, bad)
        for number, values in rows:
            if (bad := not_unicode("\t".join(values))) is not None:
                yield number, DataError(path, number, None, bad)
            elif len(values) != len(header):
                yield number, DataError(path, number, None, f"{len(values)} columns where the header has {len(header)}")
            else:
                yield number, dict(zip(header, values))


def _csv_rows(reader: CsvReader, path: Path) -> Iterator[tuple[int, list[str]]]:
    """``reader``'s rows with their last line numbers; what csv cannot read (a field over its
    128 KiB limit, say) is a DataError naming the line."""
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise DataError(path, reader.line_num, None, f"not readable as CSV ({exc})") from None
        yield reader.line_num, row


def not_unicode(text: str) -> str | None:
    """Why ``text`` is not valid Unicode (a byte that was not UTF-8, a lone surrogate), or None.
    Such text cannot be stored, embedded or written out, so it is refused where it is read."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        code = ord(text[exc.start])
        if 0xDC80 <= code <= 0xDCFF:  # how surrogateescape reads a byte that is not UTF-8
            return f"byte 0x{code - 0xDC00:02X} is not UTF-8; save the file as UTF-8"
        return f"lone surrogate U+{code:04X} is not valid Unicode"
    return None


def shorten(value: object, limit: int = 60) -> str:
    """``value`` as an error message quotes it: a megabyte-long field is cut."""
    text = str(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def load_rows(
    path: Path,
    fmt: str | None,
    skip_bad: bool,
    parse: Callable[[int, Row], T],
    options: TableOptions = PLAIN,
) -> tuple[list[T], LoadReport]:
    """Parse every row; the first bad row raises, or with ``skip_bad`` is counted and skipped."""
    report = LoadReport(path)
    out: list[T] = []
    for line, row in rows_or_errors(path, fmt, options):
        report.rows += 1
        try:
            if isinstance(row, DataError):
                raise row
            out.append(parse(line, row))
        except DataError as exc:
            if not skip_bad:
                raise
            report.skipped.append(exc)
    report.loaded = len(out)
    return out, report
