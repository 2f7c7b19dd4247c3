"""Blending LLM scores with the trained scorer's, and falling back when the LLM fails.

final = alpha * norm(llm) + (1 - alpha) * norm(scorer), over the candidates of one request, with
``norm`` one of ``zscore``, ``softmax`` or ``rank`` (reciprocal rank, as in RRF). alpha and the
normalisation are learned on the validation split (``recchat tune-blend``) and saved beside the
scorer checkpoint; a call can override them.

If the LLM fails in any way (error, timeout, unparseable output), the candidates keep the
scorer's order and the ranking says it is degraded and why. A recommendation is never lost to an
LLM failure.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from recchat.files import write_atomic
from recchat.types import Candidate, Item, Ranking

if TYPE_CHECKING:
    from recchat.rerank import ItemReranker

NORMS = ("zscore", "softmax", "rank")
RRF_K = 60


def normalize(values: Sequence[float], how: str) -> np.ndarray:
    x = np.asarray(values, dtype=np.float64)
    if how == "zscore":
        std = x.std()
        return (x - x.mean()) / std if std > 0 else np.zeros_like(x)
    if how == "softmax":
        e = np.exp(x - x.max()) if len(x) else x
        return e / e.sum() if len(x) else x
    if how == "rank":
        order = np.argsort(-x, kind="stable")
        ranks = np.empty(len(x))
        ranks[order] = np.arange(1, len(x) + 1)
        return 1.0 / (RRF_K + ranks)
    raise ValueError(f"unknown normalisation '{how}'; choose from {', '.join(NORMS)}")


@dataclass
class BlendConfig:
    """How to blend; ``tuned_on`` records where the numbers came from."""

    alpha: float = 0.5
    norm: str = "zscore"
    tuned_on: dict[str, Any] | None = None

    def save(self, path: Path | str) -> Path:
        return write_atomic(path, json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, path: Path | str) -> BlendConfig:
        """The blend saved at ``path``; a damaged or foreign file is a ValueError that names it and
        the fix (never a blend made up from half a file)."""
        path = Path(path)
        try:
            data = json.loads(path.read_text())
            config = cls(float(data["alpha"]), str(data["norm"]), data.get("tuned_on"))
        except (ValueError, KeyError, TypeError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            problem = f"no '{exc.args[0]}' key" if isinstance(exc, KeyError) else str(exc)
            raise ValueError(
                f"{path} is not a blend file recchat can read ({problem}); write it again with "
                "recchat tune-blend, or delete it to blend with the defaults (alpha 0.5, zscore)"
            ) from None
        if not 0.0 <= config.alpha <= 1.0 or config.norm not in NORMS:
            raise ValueError(
                f"{path} holds alpha {config.alpha} and norm '{config.norm}'; alpha must be in [0, 1] "
                f"and norm one of {', '.join(NORMS)}: write it again with recchat tune-blend"
            )
        return config

    @staticmethod
    def path_for(checkpoint: Path | str, model: Path | str | None = None) -> Path:
        """Where the blend tuned for ``checkpoint`` and an LLM lives: one file per model, since a
        weight learned for one LLM says nothing about another (the default model keeps the plain name)."""
        checkpoint = Path(checkpoint)
        if model is None or str(model) == "smollm2-135m-instruct":
            return checkpoint.with_name(checkpoint.stem + ".blend.json")
        import hashlib
        import re

        path = Path(model)
        name = path.parent.name if path.name == "model" and path.parent.name else path.name
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", name)[:40]
        digest = hashlib.sha256(str(path.expanduser().resolve() if path.exists() else model).encode()).hexdigest()[:8]
        return checkpoint.with_name(f"{checkpoint.stem}.blend-{slug}-{digest}.json")


def prior_score(candidate: Candidate) -> float:
    return candidate.scores.get("scorer", candidate.score)


def blend_scores(llm: Sequence[float], prior: Sequence[float], alpha: float, norm: str) -> np.ndarray:
    return alpha * normalize(llm, norm) + (1 - alpha) * normalize(prior, norm)


def blend(candidates: Sequence[Candidate], llm: Sequence[float], config: BlendConfig) -> list[Candidate]:
    """Candidates ordered by the blended score, each keeping its llm and scorer scores."""
    final = blend_scores(llm, [prior_score(c) for c in candidates], config.alpha, config.norm)
    out = [
        replace(c, score=float(f), source="blend", scores={**c.scores, "llm": float(s), "blend": float(f)})
        for c, s, f in zip(candidates, llm, final)
    ]
    return [out[i] for i in np.argsort(-final, kind="stable")]


def by_prior(candidates: Sequence[Candidate]) -> list[Candidate]:
    order = np.argsort([-prior_score(c) for c in candidates], kind="stable")
    return [candidates[i] for i in order]


def rerank_and_blend(
    reranker: ItemReranker,
    history: Sequence[Item],
    candidates: Sequence[Candidate],
    config: BlendConfig | None = None,
    *,
    ratings: Sequence[float | None] | None = None,
    query: str | None = None,
    profile: str | None = None,
    prior: str = "the trained scorer",
) -> Ranking:
    """The full rerank stage with its safety net.

    With the null reranker (:class:`~recchat.rerank.NoReranker`: no LLM), or when the reranker
    raises, the scorer's order is returned, marked degraded with the reason.
    """
    config = config or BlendConfig()
    if getattr(reranker, "backend", True) is None:  # the null reranker: no LLM configured
        return Ranking(
            by_prior(candidates), mode="scorer", degraded=True, notes=[f"No LLM is configured; ranked by {prior} only."]
        )
    from recchat.llm import collect_invocations

    with collect_invocations() as calls:
        try:
            extra = {"profile": profile} if profile else {}  # third-party rerankers need not take it
            llm_ranking = reranker.rerank(history, candidates, ratings=ratings, query=query, **extra)
        except Exception as exc:  # any failure of the LLM stage degrades, never breaks
            return Ranking(
                by_prior(candidates),
                mode="scorer",
                degraded=True,
                notes=[f"The LLM reranker failed ({type(exc).__name__}: {exc}); ranked by {prior} only."],
                invocations=calls,
            )
    llm_by_id = {c.item.id: c.scores["llm"] for c in llm_ranking.candidates}
    ranked = blend(candidates, [llm_by_id[c.item.id] for c in candidates], config)
    notes = [
        f"Blended: {config.alpha:.2f} x LLM ({reranker.mode}) + {1 - config.alpha:.2f} x scorer, "
        f"{config.norm} normalised."
    ]
    if llm_ranking.malformed:
        notes.append(f"{llm_ranking.malformed} LLM outputs were malformed and repaired.")
    return Ranking(
        ranked,
        mode=f"blend:{reranker.mode}",
        notes=notes,
        invocations=llm_ranking.invocations,
        malformed=llm_ranking.malformed,
    )
