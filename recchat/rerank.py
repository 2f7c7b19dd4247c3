"""LLM reranking: pointwise, listwise and permutation modes over any :class:`LLMBackend`.

- ``pointwise``: "would this user enjoy X? Yes/No" per candidate; the score is the log-odds of
  Yes against No. The history prefix is shared, so backends compute it once.
- ``listwise``: candidates labelled A, B, C...; one forward pass; the score of a candidate is the
  log-probability of its label as the answer, normalised over the labels (LlamaRec / FIRST).
  Above 20 candidates the list is scored in windows of 20, each normalised on its own.
- ``permutation``: the model writes an order ("B > A > D ..."); the output is validated (unknown
  labels dropped, duplicates removed, missing candidates appended in their prior order) and
  every repair is counted as malformed. Above 20 candidates a window of 20 slides from the end
  of the list to the front in steps of 10 (RankGPT's sliding window).

``passes`` > 1 (listwise and permutation) reranks several shuffles of the candidate order and
averages, which cancels the position bias of small models. Every backend call is kept on the
returned :class:`Ranking`.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol

from recchat.llm import LLMBackend, LLMError, collect_invocations, normalized
from recchat.templates import PromptTemplate, load_template
from recchat.types import Candidate, Item, Ranking

MODES = ("pointwise", "listwise", "permutation")
LABELS = tuple(chr(ord("A") + i) for i in range(20))  # single tokens in common vocabularies
WINDOW, STEP = 20, 10
DEFAULT_HISTORY = 20
TUNE_RECORD = "recchat-tune.json"  # written into a tuned model folder by recchat tune-llm


class ItemReranker(Protocol):
    """What the pipeline needs of a reranker: :class:`Reranker` (an LLM) and the null
    :class:`NoReranker` (no LLM: ``backend`` None) both are one. ``rerank`` raises LLMError when
    the LLM cannot answer; ``scores`` gives the raw LLM scores and the malformed-output count."""

    @property
    def backend(self) -> LLMBackend | None: ...

    @property
    def mode(self) -> str: ...

    @property
    def history_limit(self) -> int: ...

    def scores(
        self,
        history: Sequence[Item],
        candidates: Sequence[Candidate],
        *,
        ratings: Sequence[float | None] | None = None,
        query: str | None = None,
        profile: str | None = None,
    ) -> tuple[list[float], int]: ...

    def rerank(
        self,
        history: Sequence[Item],
        candidates: Sequence[Candidate],
        *,
        ratings: Sequence[float | None] | None = None,
        query: str | None = None,
        profile: str | None = None,
    ) -> Ranking: ...


def tuned_record(backend: object) -> dict[str, Any]:
    """The tune-llm record of the backend's model folder, or {} for a model that was not tuned here."""
    import json
    from pathlib import Path

    folder = getattr(backend, "model_dir", None)
    path = Path(folder) / TUNE_RECORD if folder else None
    return json.loads(path.read_text()) if path is not None and path.is_file() else {}


def parse_permutation(text: str, labels: Sequence[str]) -> tuple[list[int], bool]:
    """Positions (into ``labels``) in the order the model gave; ``True`` if it needed repair.

    Only labels of the given candidates are accepted; anything else in the text is ignored.
    """
    allowed = {label: i for i, label in enumerate(labels)}
    found = re.findall(r"(?<![A-Za-z])([A-Z])(?![A-Za-z])", text)
    order, seen, repaired = [], set(), False
    for label in found:
        if label not in allowed:
            repaired = True
            continue
        if label in seen:
            repaired = True
            continue
        seen.add(label)
        order.append(allowed[label])
    placed = set(order)
    missing = [i for i in range(len(labels)) if i not in placed]
    if missing:
        repaired = True
    return order + missing, repaired


def permutation_regex(labels: Sequence[str]) -> str:
    """A regular expression for "X > Y > ..." over exactly ``len(labels)`` of the labels."""
    one = "[" + "".join(labels) + "]"
    return f"{one}( > {one}){{{len(labels) - 1}}}"


class Reranker:
    """Reranks candidates for a user history with an LLM.

    >>> reranker = Reranker(load_backend("transformers"), mode="listwise", kind="movie")
    >>> ranking = reranker.rerank(history_items, candidates, query="something older")
    """

    def __init__(
        self,
        backend: LLMBackend,
        mode: str = "listwise",
        *,
        kind: str = "item",
        passes: int = 1,
        seed: int = 0,
        history_limit: int | None = None,
        template_folder: str | Path | None = None,
    ):
        if mode not in MODES:
            raise ValueError(f"unknown mode '{mode}'; choose from {', '.join(MODES)}")
        if history_limit is None:
            # A model tuned by recchat tune-llm saw histories of one length; prompt it the same way.
            history_limit = tuned_record(backend).get("config", {}).get("history", DEFAULT_HISTORY)
        self.backend: LLMBackend = backend
        self.mode, self.kind = mode, kind
        self.passes, self.seed, self.history_limit = max(1, passes), seed, int(history_limit)
        self.template: PromptTemplate = load_template(mode, template_folder)

    # -- prompt fields ----------------------------------------------------------------

    def _history(self, history: Sequence[Item], ratings: Sequence[float | None] | None) -> list[dict[str, str | None]]:
        ratings = list(ratings) if ratings is not None else [None] * len(history)
        pairs = list(zip(history, ratings))[-self.history_limit :]  # most recent last
        return [{"text": item.text or item.title, "rating": _fmt(r)} for item, r in pairs]

    def _common(
        self,
        history: Sequence[Item],
        ratings: Sequence[float | None] | None,
        query: str | None,
        profile: str | None = None,
    ) -> dict[str, object]:
        fields: dict[str, object] = {"history": self._history(history, ratings), "kind": self.kind}
        if query:
            fields["query"] = query
        if profile:
            fields["profile"] = profile
        return fields

    # -- modes ------------------------------------------------------------------------

    def scores(
        self,
        history: Sequence[Item],
        candidates: Sequence[Candidate],
        *,
        ratings: Sequence[float | None] | None = None,
        query: str | None = None,
        profile: str | None = None,
    ) -> tuple[list[float], int]:
        """LLM scores for ``candidates`` (higher is better) and the number of malformed outputs."""
        if not candidates:
            return [], 0
        common = self._common(history, ratings, query, profile)
        if self.mode == "pointwise":
            prefix = self.template.prefix(**common)
            suffixes = [self.template.suffix(candidate={"text": c.item.text or c.item.title}) for c in candidates]
            out = self.backend.label_logprobs(prefix, suffixes, ["Yes", "No"])
            return [_log_odds(normalized(o)["Yes"]) for o in out], 0
        totals = [0.0] * len(candidates)
        malformed = 0
        rng = random.Random(self.seed)
        for p in range(self.passes):
            order = list(range(len(candidates)))
            if p > 0:
                rng.shuffle(order)
            if self.mode == "listwise":
                got = self._listwise(common, [candidates[i] for i in order])
            else:
                got, bad = self._permutation(common, [candidates[i] for i in order])
                malformed += bad
            for position, i in enumerate(order):
                totals[i] += got[position]
        return [t / self.passes for t in totals], malformed

    def _labelled(self, window: Sequence[Candidate]) -> list[dict[str, str]]:
        return [{"label": LABELS[j], "text": c.item.text or c.item.title} for j, c in enumerate(window)]

    def _listwise(self, common: dict[str, object], ordered: Sequence[Candidate]) -> list[float]:
        scores: list[float] = []
        for start in range(0, len(ordered), WINDOW):
            window = ordered[start : start + WINDOW]
            labelled = self._labelled(window)
            prefix = self.template.prefix(**common, candidates=labelled)
            suffix = self.template.suffix(candidates=labelled)
            labels = [c["label"] for c in labelled]
            probs = normalized(self.backend.label_logprobs(prefix, [suffix], labels)[0])
            scores.extend(math.log(max(probs[label], 1e-12)) for label in labels)
        return scores

    def _permutation(self, common: dict[str, object], ordered: Sequence[Candidate]) -> tuple[list[float], int]:
        order = list(range(len(ordered)))  # current ranking, as positions into ``ordered``
        malformed = 0
        starts = [0] if len(order) <= WINDOW else list(range(len(order) - WINDOW, -STEP, -STEP))
        for start in starts:
            start = max(0, start)
            ids = order[start : start + WINDOW]
            labelled = self._labelled([ordered[i] for i in ids])
            labels = [c["label"] for c in labelled]
            text = self.backend.generate(
                [self.template.prefix(**common, candidates=labelled) + self.template.suffix(candidates=labelled)],
                max_tokens=4 * len(labels) + 2,
                regex=permutation_regex(labels),
            )[0]
            local, repaired = parse_permutation(text, labels)
            malformed += repaired
            order[start : start + WINDOW] = [ids[j] for j in local]
        n = len(order)
        scores = [0.0] * n
        for rank, i in enumerate(order):
            scores[i] = float(n - rank)  # Borda points: first gets n
        return scores, malformed

    def rerank(
        self,
        history: Sequence[Item],
        candidates: Sequence[Candidate],
        *,
        ratings: Sequence[float | None] | None = None,
        query: str | None = None,
        profile: str | None = None,
    ) -> Ranking:
        """Candidates ordered by the LLM alone, each with ``scores["llm"]``. Raises LLMError."""
        with collect_invocations() as calls:
            try:
                llm, malformed = self.scores(history, candidates, ratings=ratings, query=query, profile=profile)
            except LLMError:
                raise
            except Exception as exc:  # a backend bug or a library error is still an LLM failure here
                raise LLMError(f"{type(exc).__name__}: {exc}") from exc
        scored = [replace(c, score=s, source="llm", scores={**c.scores, "llm": s}) for c, s in zip(candidates, llm)]
        order = sorted(range(len(scored)), key=lambda i: -scored[i].score)  # stable on ties
        return Ranking([scored[i] for i in order], mode=self.mode, malformed=malformed, invocations=calls)


class NoReranker:
    """The null reranker: no LLM. :func:`~recchat.blend.rerank_and_blend` keeps the prior's
    order for it and marks the ranking degraded, saying that no LLM is configured; ``scores``
    keeps the candidates' given order (for evaluation code that asks for scores)."""

    backend: LLMBackend | None = None
    mode = "scorer"
    kind = "item"
    history_limit = DEFAULT_HISTORY

    def scores(
        self,
        history: Sequence[Item],
        candidates: Sequence[Candidate],
        *,
        ratings: Sequence[float | None] | None = None,
        query: str | None = None,
        profile: str | None = None,
    ) -> tuple[list[float], int]:
        return [float(-i) for i in range(len(candidates))], 0

    def rerank(
        self,
        history: Sequence[Item],
        candidates: Sequence[Candidate],
        *,
        ratings: Sequence[float | None] | None = None,
        query: str | None = None,
        profile: str | None = None,
    ) -> Ranking:
        raise LLMError("no LLM is configured")

    def __repr__(self) -> str:
        return "NoReranker()"


NO_LLM = NoReranker()


def _log_odds(p_yes: float) -> float:
    p = min(max(p_yes, 1e-9), 1 - 1e-9)
    return math.log(p / (1 - p))


def _fmt(rating: float | None) -> str | None:
    if rating is None or (isinstance(rating, float) and math.isnan(rating)):
        return None
    return f"{rating:g}"
