"""The batch rerank script: JSONL requests in, JSONL rankings out.

Streaming with constant memory (a window of ``concurrency`` requests in flight), resumable (a
request whose id is already in the output is skipped), and a bad line never stops the run: it
goes to the rejects file with its line number and the reason. Interrupted at any point, even by
``kill -9``, a rerun of the same command finishes the job: every request id ends up in the output
exactly once, in input order, and every bad line in the rejects file once (a line cut off by the
interruption is dropped and redone).

Request, one JSON object per line::

    {"id": "r1",
     "history": ["50", {"id": "172", "rating": 5}, {"text": "A film not in the catalog", "rating": 4}],
     "candidates": ["1", {"id": "2", "score": 0.31}, {"id": "new-9", "text": "Some new film (2026)"}],
     "query": "something older"}

History entries and candidates are catalog ids or objects with ``id`` and/or ``text``;
``rating`` (history) and ``score`` (candidates: a prior score, e.g. from your retriever) are
optional. Without a prior, the trained scorer's score is used when it knows the item.

Output, one line per request, in input order::

    {"id": "r1", "ranking": [{"id": "2", "title": ..., "score": ..., "llm": ..., "prior": ...}, ...],
     "mode": "blend:listwise", "degraded": false, "notes": [...], "malformed": 0,
     "invocations": [{"prompt_tokens": ..., "cached_tokens": ..., "latency_s": ...}]}
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Hashable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict, TypeVar

from recchat.blend import BlendConfig, rerank_and_blend
from recchat.data.catalog import Catalog
from recchat.data.tables import not_unicode, shorten
from recchat.types import Candidate, Item

if TYPE_CHECKING:
    from recchat.rerank import ItemReranker
    from recchat.scorer import ItemScorer

K = TypeVar("K", bound=Hashable)


class ParsedRequest(TypedDict):
    """One request line, validated, its items resolved (:func:`parse_request`)."""

    id: str
    history: list[Item]
    ratings: list[float | None]
    candidates: list[Candidate]
    query: str | None


class RankedRecord(TypedDict):
    """One output line (the module docstring)."""

    id: str
    ranking: list[dict[str, object]]
    mode: str
    degraded: bool
    notes: list[str]
    malformed: int
    invocations: list[dict[str, float]]


class RequestError(ValueError):
    """A request line that cannot be processed; the message names the field."""


@dataclass
class BatchReport:
    written: int = 0
    skipped_done: int = 0
    rejected: int = 0
    degraded: int = 0

    def summary(self) -> str:
        return (
            f"{self.written} ranked ({self.degraded} degraded to the scorer), "
            f"{self.skipped_done} already done, {self.rejected} rejected"
        )


def _id(value: object, where: str) -> str:
    """An id as a string: JSON strings and integers are ids; true, 1.5, lists and objects are not."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise RequestError(f"{where} must be a string or an integer, got {type(value).__name__}")
    return _text(str(value), where)


def _text(value: object, where: str) -> str:
    """A string that can be written out: JSON's "\\ud800" escape makes a lone surrogate, which
    no UTF-8 file (the output, the rejects) can hold."""
    if not isinstance(value, str):
        raise RequestError(f"{where} must be a string, got {type(value).__name__}")
    if (bad := not_unicode(value)) is not None:
        raise RequestError(f"{where}: {bad}")
    return value


def _number(value: object, where: str) -> float:
    """A finite number: not true/false, not NaN or Infinity (which Python's JSON reads), not an
    integer too large for a float."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RequestError(
            f"{where} must be a number, got {json.dumps(value) if isinstance(value, bool) else type(value).__name__}"
        )
    try:
        number = float(value)
    except OverflowError:
        raise RequestError(f"{where} must be a number, got an integer too large for a float") from None
    if not math.isfinite(number):
        raise RequestError(f"{where} must be a finite number, got {json.dumps(number)}")
    return number


def _item(entry: object, catalog: Catalog | None, where: str) -> tuple[Item, dict[str, object]]:
    if isinstance(entry, (str, int)) and not isinstance(entry, bool):
        entry = {"id": entry}
    if not isinstance(entry, dict):
        raise RequestError(f"{where}: expected an id or an object, got {type(entry).__name__}")
    item_id = _id(entry["id"], f"{where}: 'id'") if entry.get("id") is not None else None
    text = _text(entry["text"], f"{where}: 'text'") if entry.get("text") is not None else None
    if item_id is not None and catalog is not None and item_id in catalog:
        item = catalog[item_id]
        if text:
            item = Item(item.id, item.title, text, item.fields)
        return item, entry
    if not text:
        raise RequestError(f"{where}: id '{shorten(item_id)}' is not in the catalog and no 'text' is given")
    return Item(item_id or text[:40], text, text), entry


def parse_request(raw: object, catalog: Catalog | None, scorer: ItemScorer | None = None) -> ParsedRequest:
    """Validate one request and resolve its items; raises RequestError naming the field."""
    if not isinstance(raw, dict):
        raise RequestError("a JSON object is expected")
    if "id" not in raw:
        raise RequestError("field 'id' is missing")
    request_id = _id(raw["id"], "field 'id'")
    history_raw, cands_raw = raw.get("history", []), raw.get("candidates")
    if not isinstance(history_raw, list):
        raise RequestError("field 'history' must be a list")
    if not isinstance(cands_raw, list) or not cands_raw:
        raise RequestError("field 'candidates' must be a non-empty list")
    history: list[Item] = []
    ratings: list[float | None] = []
    for j, entry in enumerate(history_raw):
        item, data = _item(entry, catalog, f"history[{j}]")
        rating = data.get("rating")
        history.append(item)
        ratings.append(_number(rating, f"history[{j}]: 'rating'") if rating is not None else None)
    items: list[Item] = []
    priors: list[float | None] = []
    seen: set[str] = set()
    known = [i.id for i in history if scorer is not None and scorer.knows(i.id)]
    for j, entry in enumerate(cands_raw):
        item, data = _item(entry, catalog, f"candidates[{j}]")
        if item.id in seen:
            raise RequestError(f"candidates[{j}]: duplicate id '{shorten(item.id)}'")
        seen.add(item.id)
        prior = data.get("score")
        items.append(item)
        priors.append(_number(prior, f"candidates[{j}]: 'score'") if prior is not None else None)
    if scorer is not None:
        # Prior scores the request did not give come from the trained scorer, where it knows both
        # the user's items and the candidate; 0 otherwise.
        ids = [i.id for i, p in zip(items, priors) if p is None and scorer.knows(i.id)]
        by_id = dict(zip(ids, scorer.score(known, ids))) if ids and known else {}
        priors = [float(by_id.get(i.id, 0.0)) if p is None else p for i, p in zip(items, priors)]
    cands = [
        Candidate(item, float(prior or 0.0), "prior", {"scorer": float(prior or 0.0)})
        for item, prior in zip(items, priors)
    ]
    query = _text(raw["query"], "field 'query'") if raw.get("query") is not None else None
    return {"id": request_id, "history": history, "ratings": ratings, "candidates": cands, "query": query}


def _read(path: Path) -> Iterator[tuple[int, str]]:
    # Bytes that are not UTF-8 are read as lone surrogates (surrogateescape), so that only the line
    # holding them is rejected (parse_request refuses such text) instead of the read stopping the run.
    with open(path, encoding="utf-8", errors="surrogateescape") as fh:
        for number, line in enumerate(fh, start=1):
            if line.strip():
                yield number, line


def _recorded(path: Path, key: Callable[[dict[str, Any]], K]) -> set[K]:
    """``key`` of every record already in a JSONL file written by an earlier run."""
    seen: set[K] = set()
    if path.is_file():
        for _, line in _read(path):
            try:
                seen.add(key(json.loads(line)))
            except (json.JSONDecodeError, KeyError, TypeError, ValueError):
                continue  # a line cut off by an interrupted run: that request is redone
    return seen


def _reject_key(record: dict[str, Any]) -> tuple[int, str]:
    return int(record["line"]), str(record["raw"])


def _truncate_partial_line(path: Path, block: int = 1 << 16) -> None:
    """A run killed mid-write can leave half a line at the end; cut it off so that appends stay
    valid JSONL. Reads backwards from the end, so the cost does not grow with the file."""
    if not path.is_file():
        return
    with open(path, "rb+") as fh:
        end = fh.seek(0, 2)
        position = end
        while position > 0:
            start = max(0, position - block)
            fh.seek(start)
            newline = fh.read(position - start).rfind(b"\n")
            if newline >= 0:
                position = start + newline + 1
                break
            position = start
        if position < end:
            fh.truncate(position)


@dataclass
class NotJSON:
    """A request line that JSON cannot read, and why."""

    reason: str


class BatchFiles:
    """The files of one job, resumed where an earlier run stopped: whole lines written before
    count, a cut-off last line does not; requests already ranked are skipped and lines already
    rejected are not written again. Used as a context (the output and rejects files are open in it)."""

    def __init__(self, input_path: Path | str, output_path: Path | str, rejects_path: Path | str | None = None):
        self.input_path, self.output_path = Path(input_path), Path(output_path)
        self.rejects_path = (
            Path(rejects_path) if rejects_path else self.output_path.with_name(self.output_path.stem + ".rejects.jsonl")
        )
        if not self.input_path.is_file():
            raise FileNotFoundError(f"{self.input_path}: no such file")
        for path in (self.output_path, self.rejects_path):
            _truncate_partial_line(path)
        self.done = _recorded(self.output_path, lambda record: str(record["id"]))
        self.rejected_before = _recorded(self.rejects_path, _reject_key)
        self.total = sum(1 for _ in _read(self.input_path))
        self.report = BatchReport()

    def __enter__(self) -> BatchFiles:
        self._out = open(self.output_path, "a", encoding="utf-8")
        # A rejected line's bytes that are not UTF-8 (read as lone surrogates) are written as \udcXX
        # escapes, which JSON reads back as the same text: a resumed run still knows the line.
        self._rej = open(self.rejects_path, "a", encoding="utf-8", errors="backslashreplace")
        return self

    def __exit__(self, *exc: object) -> None:
        self._out.close()
        self._rej.close()

    def requests(self) -> Iterator[tuple[int, str, object]]:
        """``(line number, line, parsed JSON)`` of every line still to handle, in input order (a
        line that is not JSON comes as a :class:`NotJSON`, rejected in its turn); a line whose id
        is already ranked is skipped."""
        for number, line in _read(self.input_path):
            raw: object
            try:
                raw = json.loads(line)
            except (ValueError, RecursionError) as exc:  # ValueError: JSONDecodeError, and json.loads's
                # own for a 5000-digit number; RecursionError: nesting too deep
                raw = NotJSON(f"not valid JSON ({exc.msg})" if isinstance(exc, json.JSONDecodeError) else str(exc))
            if isinstance(raw, dict) and str(raw.get("id")) in self.done:
                self.report.skipped_done += 1
                continue
            yield number, line, raw

    def reject(self, number: int, reason: str, line: str) -> None:
        record: dict[str, Any] = {"line": number, "reason": reason, "raw": line.strip()[:500]}
        if _reject_key(record) not in self.rejected_before:
            self._rej.write(json.dumps(record, ensure_ascii=False) + "\n")
        self.report.rejected += 1

    def write(self, result: RankedRecord) -> None:
        """One ranked request; a second one with an id already written is skipped, so every
        id is in the output once (the first line with it wins)."""
        if result["id"] in self.done:
            self.report.skipped_done += 1
            return
        self.done.add(result["id"])
        self._out.write(json.dumps(result, ensure_ascii=False) + "\n")
        self.report.written += 1
        self.report.degraded += bool(result["degraded"])

    def flush(self) -> None:
        """Whole lines reach the files: what a rerun after a kill finds done."""
        self._out.flush()
        self._rej.flush()

    def handled(self) -> int:
        return self.report.written + self.report.skipped_done + self.report.rejected


def rank_request(reranker: ItemReranker, request: ParsedRequest, blend: BlendConfig | None) -> RankedRecord:
    """One parsed request ranked: the output record (module docstring)."""
    ranking = rerank_and_blend(
        reranker, request["history"], request["candidates"], blend, ratings=request["ratings"], query=request["query"]
    )
    return {
        "id": request["id"],
        "ranking": [
            {
                "id": c.item.id,
                "title": c.item.title,
                "score": c.score,
                "llm": c.scores.get("llm"),
                "prior": c.scores.get("scorer"),
            }
            for c in ranking.candidates
        ],
        "mode": ranking.mode,
        "degraded": ranking.degraded,
        "notes": ranking.notes,
        "malformed": ranking.malformed,
        "invocations": [
            {"prompt_tokens": i.prompt_tokens, "cached_tokens": i.cached_tokens, "latency_s": round(i.latency_s, 4)}
            for i in ranking.invocations
        ],
    }


def rank_line(
    raw: object,
    reranker: ItemReranker,
    *,
    catalog: Catalog | None,
    scorer: ItemScorer | None,
    blend: BlendConfig | None,
) -> tuple[bool, RankedRecord | str]:
    """``(True, output record)`` for a request that parses, ``(False, reason)`` for one that does not."""
    if isinstance(raw, NotJSON):
        return False, raw.reason
    try:
        request = parse_request(raw, catalog, scorer)
    except (ValueError, KeyError, RecursionError) as exc:  # ValueError: RequestError and kin
        return False, str(exc)
    return True, rank_request(reranker, request, blend)


def rerank_file(
    input_path: Path | str,
    output_path: Path | str,
    reranker: ItemReranker,
    *,
    catalog: Catalog | None = None,
    scorer: ItemScorer | None = None,
    blend: BlendConfig | None = None,
    rejects_path: Path | str | None = None,
    concurrency: int = 1,
    progress: bool = True,
) -> BatchReport:
    """Rerank every request in ``input_path`` into ``output_path``; see the module docstring.
    (recchat.batch.on_ray runs the same job on a Ray cluster.)"""
    from tqdm.auto import tqdm

    files = BatchFiles(input_path, output_path, rejects_path)
    workers = max(1, concurrency)

    def rank(entry: tuple[int, str, object]) -> tuple[bool, RankedRecord | str]:
        return rank_line(entry[2], reranker, catalog=catalog, scorer=scorer, blend=blend)

    with (
        files,
        ThreadPoolExecutor(workers) as pool,
        tqdm(total=files.total, desc="reranking", unit="request", disable=not progress) as bar,
    ):
        window: list[tuple[int, str, object]] = []

        def flush() -> None:
            for (number, line, _), (_ok, result) in zip(window, pool.map(rank, window)):
                # ok exactly when the result is a ranked record (a reason otherwise)
                files.write(result) if not isinstance(result, str) else files.reject(number, result, line)
            files.flush()  # whole lines reach the file before the next window starts
            bar.update(files.handled() - bar.n)
            window.clear()

        for entry in files.requests():
            window.append(entry)
            if len(window) >= workers:
                flush()
        flush()
    return files.report
