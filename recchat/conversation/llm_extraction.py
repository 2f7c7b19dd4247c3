"""The LLM's reading of a chat message: the same facts the rules find, as schema-constrained JSON.

:func:`extract_with_llm` asks for them (schema-constrained on vLLM and vLLM servers, validated
here everywhere: :func:`parse_extraction`), and :func:`merge` adds what the rules missed; the rules
win on any conflict, and an unusable LLM answer changes nothing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING, Any

from recchat.conversation.constraints import Understanding
from recchat.conversation.domain import Domain
from recchat.conversation.link import Linker

if TYPE_CHECKING:
    from recchat.llm.base import LLMBackend


def extract_schema(domain: Domain) -> dict[str, Any]:
    """The JSON the LLM answers with: "liked" and "disliked" titles; per facet the values wanted
    ("<facet>") and avoided ("avoid_<facet>"); "<field>_min"/"<field>_max" for the year and
    each range field. MovieLens's is liked, disliked, genres, avoid_genres, year_min, year_max."""
    titles = {"type": "array", "items": {"type": "string"}, "maxItems": 5}
    values = {"type": "array", "items": {"type": "string"}, "maxItems": 4}
    properties: dict[str, Any] = {"liked": titles, "disliked": titles}
    for facet in domain.facets:
        properties[facet.name], properties[f"avoid_{facet.name}"] = values, values
    for name, kind in _bounded(domain).items():
        properties[f"{name}_min"] = properties[f"{name}_max"] = {"type": [kind, "null"]}
    return {"type": "object", "properties": properties, "required": list(properties), "additionalProperties": False}


def _bounded(domain: Domain) -> dict[str, str]:
    """The numeric fields the LLM may bound, with their JSON type: the year, then the ranges."""
    return {**({domain.year: "integer"} if domain.year else {}), **{r.name: "number" for r in domain.ranges}}


class ExtractionError(ValueError):
    """The LLM's answer is not the JSON the schema asks for."""


def parse_extraction(text: str, resolver: Linker, domain: Domain) -> Understanding:
    """Validate an LLM answer against :func:`extract_schema` and map it onto the catalog.

    Titles that resolve to no catalog item and values outside a facet's vocabulary are dropped;
    a non-object, an unknown key, a wrong type, an impossible year or a negative bound raises
    :class:`ExtractionError`.
    """
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end < start:
        raise ExtractionError("no JSON object in the answer")
    try:
        data = json.loads(text[start : end + 1])
    except json.JSONDecodeError as exc:
        raise ExtractionError(f"not valid JSON ({exc.msg})") from None
    if not isinstance(data, dict):
        raise ExtractionError("the JSON is not an object")
    unknown = set(data) - set(extract_schema(domain)["properties"])
    if unknown:
        raise ExtractionError(f"unexpected key(s): {', '.join(sorted(unknown))}")
    out = Understanding(llm="used")
    lists: list[tuple[str, list[str], Callable[[str], str | None]]] = [
        ("liked", out.liked, resolver.resolve),
        ("disliked", out.disliked, resolver.resolve),
    ]
    for facet in domain.facets:
        lookup = partial(_facet_value, facet.phrases())
        lists += [
            (facet.name, out.wanted.setdefault(facet.name, []), lookup),
            (f"avoid_{facet.name}", out.avoided.setdefault(facet.name, []), lookup),
        ]
    for key, bucket, find in lists:
        values = data.get(key) or []
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise ExtractionError(f"'{key}' is not a list of strings")
        bucket += [found for found in dict.fromkeys(map(find, values)) if found and found not in bucket]
    out.wanted = {f: v for f, v in out.wanted.items() if v}
    out.avoided = {f: v for f, v in out.avoided.items() if v}
    for name in _bounded(domain):
        for side, op in (("min", "$gte"), ("max", "$lte")):
            value = data.get(f"{name}_{side}")
            if value is None:
                continue
            if name == domain.year:
                if isinstance(value, bool) or not isinstance(value, int) or not 1000 <= value <= 2100:
                    raise ExtractionError(f"'{name}_{side}' is not a plausible year: {value!r}")
                setattr(out, f"year_{side}", value)
            elif isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ExtractionError(f"'{name}_{side}' is not a non-negative number: {value!r}")
            else:
                out.ranges.setdefault(name, {})[op] = value
    return out


def _facet_value(phrases: dict[str, str], text: str) -> str | None:
    """The facet value an LLM's word names ("comedies", "Horror "), or None."""
    text = text.strip().lower()
    return phrases.get(text) or phrases.get(text.rstrip("s"))


def _add(mine: list[str], values: list[str], blocked: list[str]) -> bool:
    """Append the values not already there and not blocked; whether any was added."""
    new = [v for v in values if v not in mine and v not in blocked]
    mine += new
    return bool(new)


# A message that can set a year or a range bound: it has a number or speaks of time. Without
# one, an LLM's bound is invented (a small model read "I loved Casablanca, something like it" as
# year <= 1942 and left nothing to recommend: bench/load.py).
_TIME_WORDS = re.compile(
    r"\d|\b(old|new|recent|latest|decade|centur|era|age|classic|modern|vintage|"
    r"twenties|thirties|forties|fifties|sixties|seventies|eighties|nineties|before|after|"
    r"since|until|between|under|over|less|more|short|long)",
    re.IGNORECASE,
)


def merge(rules: Understanding, llm: Understanding, message: str | None = None) -> Understanding:
    """The rules' reading plus what only the LLM found; on any conflict the rules win. Given the
    ``message``, the LLM's year and range bounds count only when it has a number or a word of
    time or size to ground them."""
    out = replace(
        rules,
        titles=list(rules.titles),
        liked=list(rules.liked),
        disliked=list(rules.disliked),
        wanted={f: list(v) for f, v in rules.wanted.items()},
        avoided={f: list(v) for f, v in rules.avoided.items()},
        ranges={f: dict(b) for f, b in rules.ranges.items()},
    )
    added = False
    for key, opposite in (("liked", "disliked"), ("disliked", "liked")):
        added |= _add(getattr(out, key), getattr(llm, key), getattr(out, opposite) + getattr(rules, opposite))
    for key, opposite in (("wanted", "avoided"), ("avoided", "wanted")):
        for facet, values in getattr(llm, key).items():
            blocked = getattr(out, opposite).get(facet, []) + getattr(rules, opposite).get(facet, [])
            mine = getattr(out, key).setdefault(facet, [])
            added |= _add(mine, values, blocked)
            if not mine:
                del getattr(out, key)[facet]
    out.titles += [t for t in out.liked + out.disliked if t not in out.titles]
    grounded = message is None or bool(_TIME_WORDS.search(message))
    for key in ("year_min", "year_max"):
        if grounded and getattr(out, key) is None and getattr(llm, key) is not None:
            setattr(out, key, getattr(llm, key))
            added = True
    if out.year_min is not None and out.year_max is not None and out.year_min > out.year_max:
        out.year_min, out.year_max = rules.year_min, rules.year_max  # an LLM year that contradicts the rules
    for name, bounds in llm.ranges.items():
        if grounded and name not in out.ranges:
            out.ranges[name] = dict(bounds)
            added = True
    out.llm = "used" if added else "nothing new"
    return out


def extract_with_llm(
    backend: LLMBackend, message: str, resolver: Linker, domain: Domain, *, max_tokens: int | None = None
) -> Understanding:
    """The LLM's structured reading of ``message``; raises ExtractionError (or LLMError).
    ``max_tokens`` defaults to 16 per schema key."""
    from recchat.templates import load_template

    schema = extract_schema(domain)
    template = load_template("extract")
    # A long vocabulary (authors, say) would crowd the prompt: the schema names the facet anyway.
    facets = [{"name": f.name, "vocabulary": sorted(f.values) if len(f.values) <= 40 else []} for f in domain.facets]
    ranges = [{"name": r.name, "unit": r.unit or r.name} for r in domain.ranges]
    prompt = template.prefix(kind=domain.item, facets=facets, year=domain.year, ranges=ranges) + template.suffix(
        message=message
    )
    text = backend.generate([prompt], max_tokens=max_tokens or 16 * len(schema["properties"]), json_schema=schema)[0]
    return parse_extraction(text, resolver, domain)
