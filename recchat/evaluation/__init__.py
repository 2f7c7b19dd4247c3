"""The offline evaluation of every ranking stage.

- :mod:`~recchat.evaluation.protocol`: the protocol (leave-one-out by time, full ranking,
  pessimistic ties), the :class:`Ranker` interface and the metrics;
- :mod:`~recchat.evaluation.baselines`: the non-learned rankers measured beside the scorer;
- :mod:`~recchat.evaluation.reranking`: the LLM reranker and the blend, measured and tuned;
- :mod:`~recchat.evaluation.cold`: popularity buckets (head, torso, tail), the cold-item split and
  the paired bootstrap; :mod:`~recchat.evaluation.cold_run` runs ``eval --cold-items``;
- :mod:`~recchat.evaluation.report`: the Markdown table and the run folder.
"""

from __future__ import annotations

from recchat.evaluation.baselines import IndexedRanker, ItemKNN, Popularity, TextRetriever
from recchat.evaluation.cold import (
    BUCKETS,
    ColdSplit,
    TextOnlyColdItems,
    bucket_metrics,
    bucket_summary,
    cold_split,
    paired_bootstrap,
    popularity_buckets,
)
from recchat.evaluation.protocol import (
    CUTOFFS,
    Ranker,
    StageResult,
    evaluate,
    pessimistic_ranks,
    rank_metrics,
    run_stage,
)
from recchat.evaluation.report import REPORT_METRICS, markdown_table, write_report
from recchat.evaluation.reranking import (
    BlendPoint,
    Degradation,
    HistoryScorer,
    RerankMetrics,
    RerankRecord,
    degradation,
    degradation_line,
    paired_interval,
    rerank_metrics,
    rerank_records,
    tune_blend,
)

__all__ = [
    "BUCKETS",
    "CUTOFFS",
    "REPORT_METRICS",
    "BlendPoint",
    "ColdSplit",
    "Degradation",
    "HistoryScorer",
    "IndexedRanker",
    "ItemKNN",
    "Popularity",
    "Ranker",
    "RerankMetrics",
    "RerankRecord",
    "StageResult",
    "TextOnlyColdItems",
    "TextRetriever",
    "bucket_metrics",
    "bucket_summary",
    "cold_split",
    "degradation",
    "degradation_line",
    "evaluate",
    "markdown_table",
    "paired_bootstrap",
    "paired_interval",
    "popularity_buckets",
    "pessimistic_ranks",
    "rank_metrics",
    "rerank_metrics",
    "rerank_records",
    "run_stage",
    "tune_blend",
    "write_report",
]
