"""``recchat init``'s guess of a configuration from two sampled files (:mod:`recchat.config.sniff`
reads them): the catalog's id, title and fields, the log's user, item, rating and time columns,
one note per guess and a ``# check:`` comment at each uncertain key; then the guess written as TOML.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recchat.config.sniff import (
    ARTICLE_END,
    ITEM_NAMES,
    RATING_NAMES,
    SAMPLE_ROWS,
    TIME_NAMES,
    TITLE_YEAR,
    USER_NAMES,
    Table,
    as_float,
    field_key,
    flag_columns,
    guess_field,
    is_iso_time,
    name_words,
    pick_column,
    sniff,
    why_left_out,
)

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
    named = pick_column(unique, ("item_id", "id", *ITEM_NAMES)) or next(
        (c for c in unique if "id" in name_words(c)), None
    )
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
    hits, _, _, id_column, item = pairs[0] if pairs else (0, 0, 0, unique[0], "")
    if not hits:
        id_column = named or unique[0]
        item = pick_column(log.columns, (id_column.lower(), *ITEM_NAMES)) or log.columns[min(1, len(log.columns) - 1)]
        guess.checks["interactions.item"] = (
            f"no column of {log.path.name} holds ids of {cat.path.name}'s columns; '{item}' was taken by its name"
        )
        return id_column, item
    rivals = [p for p in pairs if p[4] != item and p[0] >= 0.8 * hits and p[0] > 1]
    if rivals:
        # Two log columns hold catalog ids (user ids 1..943 and item ids 1..1682 both look like
        # MovieLens ids): names decide, else the usual order (user, then item).
        close = sorted({item, *(p[4] for p in rivals)}, key=log.columns.index)
        item_named = [c for c in close if c.lower() in ITEM_NAMES or (c == id_column and log.named)]
        users = [c for c in close if pick_column([c], USER_NAMES)]
        item = item_named[0] if item_named else next((c for c in reversed(close) if c not in users), close[-1])
        if not item_named and not users:
            guess.checks["interactions.item"] = (
                f"{', '.join(repr(c) for c in close)} all hold ids of the "
                f"catalog; '{item}' was taken as the item (users usually come first)"
            )
    return id_column, item


def _title(cat: Table, id_column: str, guess: Guess) -> str:
    title = pick_column(cat.columns, ("title", "name", "movie_title", "book_title"), exclude=(id_column,))
    if title is None:
        texts = [
            c
            for c in cat.columns
            if c != id_column
            and cat.texts(c)
            and all(as_float(v) is None for v in cat.texts(c)[:200])
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
    flags = flag_columns(cat, {id_column, title})
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
            why = why_left_out(column, cat.values(column), found)
            notes.append(f"  {cat.names.get(column, column)}: left out ({why})")
            continue
        if found.get("role") == "year" and not cat.named:
            cat.name(column, "date" if found.get("pattern") == "\\d{4}" else "year")
        key = "year" if found.get("role") == "year" and not cat.named else field_key(cat.names.get(column, column))
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
        from recchat.config.schema import ConfigError

        raise ConfigError(
            log.path,
            "interactions",
            f"one column ({', '.join(columns)}) cannot hold both users and items",
            "nothing was written; give a log with a user column and an item column",
        )
    item = item or columns[1]
    user = pick_column(columns, USER_NAMES, exclude=(item,))
    numeric = {c: _float_all(log.texts(c)) for c in columns}
    rating = pick_column([c for c in columns if numeric[c]], RATING_NAMES, exclude=(item, user))
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
    return bool(values) and all(as_float(v) is not None for v in values)


def _timestamp(log: Table, taken: tuple[str | None, ...], guess: Guess) -> tuple[str | None, str]:
    """The time column and its format (seconds, milliseconds, iso), by name, else by content."""
    named = pick_column(log.columns, TIME_NAMES, exclude=taken)
    for column in ([named] if named else []) + [c for c in log.columns if c not in taken and c != named]:
        values = log.texts(column)
        numbers = [n for n in map(as_float, values) if n is not None]
        if values and len(numbers) == len(values):
            low, high = min(numbers), max(numbers)
            # Unix seconds from 1973 to 2100, or milliseconds; bigger numbers are ids (Steam's users).
            if column == named or 1e8 <= low <= high < 4.2e9 or 1e11 <= low <= high < 4.2e12:
                return column, "milliseconds" if low >= 1e11 else "seconds"
        elif values and sum(is_iso_time(v) for v in values) >= 0.95 * len(values):
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
        from recchat.config.schema import ConfigError

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
    from recchat.config.sections import LLMSection

    guess.config["llm"] = {"backend": LLMSection.backend}
    guess.config["domain"] = {"item": noun}
    return guess


def _renamed(value: object, names: Mapping[str, str]) -> object:
    if isinstance(value, dict):
        return {names.get(k, k): _renamed(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [_renamed(v, names) for v in value]
    return names.get(value, value) if isinstance(value, str) else value


# --------------------------------------------------------------------------- writing


def to_toml(config: Mapping[str, object], header: str = "", checks: Mapping[str, str] | None = None) -> str:
    """A configuration dict as TOML (tables, inline tables for fields); ``checks`` puts a
    ``# check: ...`` comment above the keys they name ("interactions.item")."""
    checks = checks or {}

    def value(v: object) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return repr(v)
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        if isinstance(v, dict):
            return "{ " + ", ".join(f"{_toml_key(k)} = {value(x)}" for k, x in v.items()) + " }"
        return json.dumps(str(v))

    def entry(path: str, k: str, v: object) -> list[str]:
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
