"""The batch rerank script: JSONL requests in, JSONL rankings out.

Streaming with constant memory (a window of ``concurrency`` requests in flight), resumable (a
request whose id is already in the output is skipped), and a bad line never stops the run: it
goes to the rejects file with its line number and the reason.

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
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recchat.blend import BlendConfig, rerank_and_blend
from recchat.catalog import Catalog
from recchat.types import Candidate, Item


class RequestError(ValueError):
    """A request line that cannot be processed; the message names the field."""


@dataclass
class BatchReport:
    written: int = 0
    skipped_done: int = 0
    rejected: int = 0
    degraded: int = 0

    def summary(self) -> str:
        return (f"{self.written} ranked ({self.degraded} degraded to the scorer), "
                f"{self.skipped_done} already done, {self.rejected} rejected")


def _item(entry: Any, catalog: Catalog | None, where: str) -> tuple[Item, dict[str, Any]]:
    if isinstance(entry, (str, int)):
        entry = {"id": str(entry)}
    if not isinstance(entry, dict):
        raise RequestError(f"{where}: expected an id or an object, got {type(entry).__name__}")
    item_id = str(entry["id"]) if entry.get("id") is not None else None
    text = entry.get("text")
    if text is not None and not isinstance(text, str):
        raise RequestError(f"{where}: 'text' must be a string")
    if item_id is not None and catalog is not None and item_id in catalog:
        item = catalog[item_id]
        if text:
            item = Item(item.id, item.title, text, item.fields)
        return item, entry
    if not text:
        raise RequestError(f"{where}: id '{item_id}' is not in the catalog and no 'text' is given")
    return Item(item_id or text[:40], text, text), entry


def parse_request(raw: dict[str, Any], catalog: Catalog | None, scorer: Any = None) -> dict[str, Any]:
    """Validate one request and resolve its items; raises RequestError naming the field."""
    if not isinstance(raw, dict):
        raise RequestError("a JSON object is expected")
    if "id" not in raw:
        raise RequestError("field 'id' is missing")
    history_raw, cands_raw = raw.get("history", []), raw.get("candidates")
    if not isinstance(history_raw, list):
        raise RequestError("field 'history' must be a list")
    if not isinstance(cands_raw, list) or not cands_raw:
        raise RequestError("field 'candidates' must be a non-empty list")
    history, ratings = [], []
    for j, entry in enumerate(history_raw):
        item, data = _item(entry, catalog, f"history[{j}]")
        rating = data.get("rating")
        if rating is not None and not isinstance(rating, (int, float)):
            raise RequestError(f"history[{j}]: 'rating' must be a number")
        history.append(item)
        ratings.append(float(rating) if rating is not None else None)
    candidates, seen = [], set()
    known = [i.id for i in history if scorer is not None and i.id in scorer.position]
    for j, entry in enumerate(cands_raw):
        item, data = _item(entry, catalog, f"candidates[{j}]")
        if item.id in seen:
            raise RequestError(f"candidates[{j}]: duplicate id '{item.id}'")
        seen.add(item.id)
        prior = data.get("score")
        if prior is not None and not isinstance(prior, (int, float)):
            raise RequestError(f"candidates[{j}]: 'score' must be a number")
        candidates.append([item, prior])
    if scorer is not None:
        # Prior scores the request did not give come from the trained scorer, where it knows both
        # the user's items and the candidate; 0 otherwise.
        ids = [c[0].id for c in candidates if c[1] is None and c[0].id in scorer.position]
        by_id = dict(zip(ids, scorer.score(known, ids))) if ids and known else {}
        for c in candidates:
            if c[1] is None:
                c[1] = float(by_id.get(c[0].id, 0.0))
    cands = [Candidate(item, float(prior or 0.0), "prior", {"scorer": float(prior or 0.0)})
             for item, prior in candidates]
    query = raw.get("query")
    if query is not None and not isinstance(query, str):
        raise RequestError("field 'query' must be a string")
    return {"id": str(raw["id"]), "history": history, "ratings": ratings, "candidates": cands, "query": query}


def _read(path: Path) -> Iterator[tuple[int, str]]:
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if line.strip():
                yield number, line


def _done_ids(path: Path) -> set[str]:
    done: set[str] = set()
    if path.is_file():
        for _, line in _read(path):
            try:
                done.add(str(json.loads(line)["id"]))
            except (json.JSONDecodeError, KeyError, TypeError):
                continue  # a line cut off by an interrupted run: that request is redone
    return done


def _truncate_partial_line(path: Path) -> None:
    """An interrupted run can leave half a line at the end; drop it so appends stay valid JSONL."""
    if not path.is_file() or path.stat().st_size == 0:
        return
    with open(path, "rb+") as fh:
        fh.seek(-1, 2)
        if fh.read(1) == b"\n":
            return
        data = path.read_bytes()
        fh.seek(0)
        fh.truncate(data.rfind(b"\n") + 1)


def rerank_file(input_path: Path | str, output_path: Path | str, reranker: Any, *, catalog: Catalog | None = None,
                scorer: Any = None, blend: BlendConfig | None = None, rejects_path: Path | str | None = None,
                concurrency: int = 1, progress: bool = True) -> BatchReport:
    """Rerank every request in ``input_path`` into ``output_path``; see the module docstring."""
    from tqdm.auto import tqdm

    input_path, output_path = Path(input_path), Path(output_path)
    rejects_path = Path(rejects_path) if rejects_path else output_path.with_name(output_path.stem + ".rejects.jsonl")
    if not input_path.is_file():
        raise FileNotFoundError(f"{input_path}: no such file")
    _truncate_partial_line(output_path)
    done = _done_ids(output_path)
    total = sum(1 for _ in _read(input_path))
    report = BatchReport()

    def run(request: dict[str, Any]) -> dict[str, Any]:
        ranking = rerank_and_blend(reranker, request["history"], request["candidates"], blend,
                                   ratings=request["ratings"], query=request["query"])
        return {"id": request["id"],
                "ranking": [{"id": c.item.id, "title": c.item.title, "score": c.score,
                             "llm": c.scores.get("llm"), "prior": c.scores.get("scorer")}
                            for c in ranking.candidates],
                "mode": ranking.mode, "degraded": ranking.degraded, "notes": ranking.notes,
                "malformed": ranking.malformed,
                "invocations": [{"prompt_tokens": i.prompt_tokens, "cached_tokens": i.cached_tokens,
                                 "latency_s": round(i.latency_s, 4)} for i in ranking.invocations]}

    workers = max(1, concurrency)
    with open(output_path, "a", encoding="utf-8") as out, open(rejects_path, "a", encoding="utf-8") as rej, \
            ThreadPoolExecutor(workers) as pool, \
            tqdm(total=total, desc="reranking", unit="request", disable=not progress) as bar:
        window: list[dict[str, Any]] = []

        def flush() -> None:
            for result in pool.map(run, window):
                out.write(json.dumps(result, ensure_ascii=False) + "\n")
                report.written += 1
                report.degraded += bool(result["degraded"])
            out.flush()
            bar.update(len(window))
            window.clear()

        for number, line in _read(input_path):
            try:
                raw = json.loads(line)
                if isinstance(raw, dict) and str(raw.get("id")) in done:
                    report.skipped_done += 1
                    bar.update(1)
                    continue
                request = parse_request(raw, catalog, scorer)
            except (json.JSONDecodeError, RequestError, KeyError) as exc:
                reason = f"not valid JSON ({exc.msg})" if isinstance(exc, json.JSONDecodeError) else str(exc)
                rej.write(json.dumps({"line": number, "reason": reason, "raw": line.strip()[:500]},
                                     ensure_ascii=False) + "\n")
                report.rejected += 1
                bar.update(1)
                continue
            done.add(request["id"])
            window.append(request)
            if len(window) >= workers:
                flush()
        if window:
            flush()
    return report
