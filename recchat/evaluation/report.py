"""Evaluation reports: a Markdown table of the results, and a run folder (results.json,
results.md, chart.png) written whole or not at all."""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from recchat.files import new_folder

REPORT_METRICS = (
    "users",
    "NDCG@10",
    "HR@10",
    "MRR@10",
    "NDCG@20",
    "HR@20",
    "NDCG@10 head",
    "NDCG@10 torso",
    "NDCG@10 tail",
    "Precision@10",
    "F1@10",
    "Coverage@10",
    "MeanPop@10",
    "MAE (calibrated)",
    "NDCG@10 (target in candidates)",
    "HR@10 (target in candidates)",
    "NDCG@10 gain over scorer",
    "gain 95% CI",
)


def markdown_table(results: Sequence[Mapping[str, object]], stage: str = "test") -> str:
    """The results of one stage as a Markdown table, one row per method (a withheld row says so)."""
    cols = [m for m in REPORT_METRICS if any(m in _stage(r, stage) for r in results)]
    lines = ["| method | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for r in results:
        row = _stage(r, stage)
        if row.get("withheld"):
            lines.append(
                f"| {r['method']} | "
                + " | ".join(str(row.get(m, "")) if m == "users" else "withheld" for m in cols)
                + " |"
            )
            continue
        cells = []
        for m in cols:
            v = row.get(m, math.nan)
            cells.append(
                "n/a"
                if isinstance(v, float) and math.isnan(v)
                else str(v)
                if m in ("users", "gain 95% CI")
                else f"{v:.1f}"
                if m.startswith("MeanPop")
                else f"{v:.4f}"
            )
        lines.append(f"| {r['method']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_report(
    results: Sequence[Mapping[str, object]], config: Mapping[str, object], root: Path | str = "runs"
) -> Path:
    """Write results.json, results.md and chart.png under ``root/eval-<date>-<config hash>``; the
    folder appears complete or, if the run is killed while writing, not at all."""
    digest = hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:8]
    folder = Path(root) / f"eval-{time.strftime('%Y%m%d-%H%M%S')}-{digest}"
    md = [
        f"# Evaluation: {config.get('dataset', '')}",
        "",
        "Protocol: leave-one-out by timestamp (ties in file order), full ranking over all items, "
        "earlier items masked, pessimistic ties.",
        "",
        f"## Test ({_stage(results[0], 'test').get('users', 0) if results else 0} users)",
        "",
        *([f"**{_stage(config, 'rerank').get('degradation_line')}**", ""] if config.get("rerank") else []),
        markdown_table(results, "test"),
        "",
        *([bucket_line(buckets), ""] if isinstance(buckets := config.get("popularity_buckets"), Mapping) else []),
        "## Validation",
        "",
        markdown_table(results, "valid"),
        "",
        "```json",
        json.dumps(config, indent=2, default=str),
        "```",
        "",
    ]
    with new_folder(folder) as tmp:
        (tmp / "results.json").write_text(json.dumps({"config": config, "results": results}, indent=2, default=str))
        (tmp / "results.md").write_text("\n".join(md))
        _chart(results, tmp / "chart.png")
    return folder


def bucket_line(summary: Mapping[str, Mapping[str, float]]) -> str:
    """The popularity buckets in words (recchat.evaluation.cold.bucket_summary)."""
    parts = [
        f"{name} {int(b['items'])} items with {int(b['min_count'])}-{int(b['max_count'])} training interactions "
        f"({100 * b['interaction_share']:.0f}% of them)"
        for name, b in summary.items()
    ]
    return "Popularity buckets (NDCG@10 head / torso / tail): " + "; ".join(parts) + "."


def _chart(results: Sequence[Mapping[str, object]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = ["NDCG@10", "HR@10", "MRR@10", "NDCG@20", "HR@20"]
    fig, ax = plt.subplots(figsize=(9, 4.5))
    width = 0.8 / max(1, len(results))
    for j, r in enumerate(results):
        values = [_stage(r, "test").get(m, 0.0) for m in metrics]
        xs = [i + j * width for i in range(len(metrics))]
        bars = ax.bar(xs, values, width, label=r["method"])
        ax.bar_label(bars, fmt="%.3f", fontsize=7, rotation=90, padding=2)
    ax.set_xticks([i + width * (len(results) - 1) / 2 for i in range(len(metrics))], metrics)
    ax.set_ylabel("test")
    ax.set_title("Leave-one-out, full ranking (test)")
    ax.legend(fontsize=8)
    ax.margins(y=0.15)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _stage(result: Mapping[str, object], key: str) -> Mapping[str, object]:
    """``result[key]`` when it is a table (a stage's metrics, the rerank record), else an empty one."""
    value = result.get(key)
    return value if isinstance(value, Mapping) else {}
