"""The filter language: ``year<1980 and genres contains Comedy`` as a Chroma ``where`` dict
(:func:`parse_where`), and the same filter evaluated on an item's fields (:func:`matches`), for
candidates that did not come from Chroma."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from recchat.data.tables import shorten
from recchat.index.errors import ItemIndexError
from recchat.types import FieldValue, Item

# A Chroma ``where`` filter: field -> value or {operator: value}, or "$and"/"$or" -> list of filters.
Where = dict[str, object]

# FIELD OP; the value is the rest. Possessive and atomic parts: a regex that may backtrack through
# a run of spaces for each of its spaces takes minutes on a 100 kB filter.
_CONDITION = re.compile(
    r"\s*+(?P<field>[A-Za-z_][\w.]*+)(?>\s*+(?P<op><=|>=|!=|==|=|<|>)|\s++(?P<word>contains|in)\s)",
    re.IGNORECASE,
)
_AND = re.compile(r"(?<!\s)\s+and\s+", re.IGNORECASE)  # starts a space run only: linear, like _CONDITION
_OPS = {
    "<": "$lt",
    "<=": "$lte",
    ">": "$gt",
    ">=": "$gte",
    "=": "$eq",
    "==": "$eq",
    "!=": "$ne",
    "contains": "$contains",
    "in": "$in",
}


def _value(text: str) -> FieldValue:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    for kind in (int, float):
        try:
            number = kind(text)
        except ValueError:  # not a number, or an int of over 4300 digits
            continue
        if math.isfinite(number):  # 'nan', 'inf' and 1e999 stay text: no metadata value is one
            return number
    return text


def _clauses(expression: str) -> list[str]:
    """``expression`` cut at each ``and`` and at each comma outside ``[...]`` (a list's commas)."""
    parts, start, depth = [], 0, 0
    for n, ch in enumerate(expression):
        depth += (ch == "[") - (ch == "]") if ch in "[]" else 0
        if ch == "," and depth <= 0:
            parts.append(expression[start:n])
            start, depth = n + 1, 0
    parts.append(expression[start:])
    return [clause for part in parts for clause in _AND.split(part)]


def _valid_where(where: Where, expression: str) -> Where:
    """``where`` when Chroma accepts it (Chroma's own check), else an ItemIndexError naming the
    expression: a filter is refused where it is written, not halfway through a search."""
    from chromadb.api.types import validate_where

    try:
        validate_where(where)
    except (ValueError, TypeError, RecursionError) as exc:
        raise ItemIndexError(
            f"the filter '{shorten(expression, 80)}' is not one Chroma accepts: {shorten(exc, 200)}"
        ) from None
    return where


def parse_where(expression: str) -> Where:
    """Turn ``year<1980 and genres contains Comedy`` into a Chroma ``where`` dict.

    A JSON object is passed through unchanged. Conditions are joined with ``and`` (or commas);
    ``in`` takes a bracketed list: ``genres in [Comedy, Drama]`` is not supported on list fields
    by Chroma, so use ``contains`` there. What cannot be read, or what Chroma would refuse (``year
    < abc``, an empty list), is an :class:`ItemIndexError` naming the filter.
    """
    expression = expression.strip()
    if not expression:
        return {}
    if expression.startswith("{"):
        try:
            where = json.loads(expression)
        except json.JSONDecodeError as exc:
            raise ItemIndexError(f"--where is not valid JSON: {exc.msg}") from None
        except (ValueError, RecursionError) as exc:  # a number over 4300 digits, deep nesting
            reason = "nested too deeply" if isinstance(exc, RecursionError) else "a number has too many digits"
            raise ItemIndexError(f"--where is not valid JSON: {reason}") from None
        return _valid_where(where, expression)
    clauses: list[Where] = []
    for part in _clauses(expression):
        match = _CONDITION.match(part)
        raw = part[match.end() :].strip() if match else ""
        if match is None or not raw:
            raise ItemIndexError(
                f"cannot read the filter '{shorten(part.strip(), 80)}'; write FIELD OP VALUE with OP one of "
                "< <= > >= = != contains in, e.g. 'year<1980' or 'genres contains Comedy'"
            )
        op = _OPS[(match["op"] or match["word"]).lower()]
        if op == "$in":
            value: FieldValue | list[FieldValue] = [_value(v) for v in raw.strip("[]").split(",") if v.strip()]
        else:
            value = _value(raw)
        clauses.append({match["field"]: {op: value}})
    joined: Where = clauses[0] if len(clauses) == 1 else {"$and": clauses}
    return _valid_where(joined, expression)


def matches(where: Where | None, item: Item) -> bool:
    """Whether ``item`` passes a Chroma-style ``where`` filter, evaluated locally on its fields.

    The same filter then applies to candidates that did not come from Chroma (the scorer's).
    A field the item lacks fails every condition on it.
    """
    if not where:
        return True
    if "$and" in where:
        return all(matches(w, item) for w in _subfilters(where["$and"]))
    if "$or" in where:
        return any(matches(w, item) for w in _subfilters(where["$or"]))
    for key, condition in where.items():
        value = item.title if key == "title" else item.fields.get(key)
        # Operands are whatever the filter holds: a comparison they do not support fails the condition.
        ops: Mapping[str, Any] = condition if isinstance(condition, dict) else {"$eq": condition}
        for op, target in ops.items():
            if value is None:
                return False
            if op == "$contains":
                ok = target in value if isinstance(value, list) else str(target) in str(value)
            elif op == "$not_contains":
                ok = target not in value if isinstance(value, list) else str(target) not in str(value)
            elif op == "$in":
                ok = value in target
            elif op == "$nin":
                ok = value not in target
            else:
                try:
                    ok = {
                        "$eq": value == target,
                        "$ne": value != target,
                        "$lt": value < target,
                        "$lte": value <= target,
                        "$gt": value > target,
                        "$gte": value >= target,
                    }[op]
                except KeyError:
                    raise ItemIndexError(f"unsupported filter operator '{op}'") from None
                except TypeError:
                    ok = False
            if not ok:
                return False
    return True


def _subfilters(value: object) -> list[Where]:
    """The filters an ``$and`` or ``$or`` joins."""
    return [w for w in value if isinstance(w, dict)] if isinstance(value, list) else []
