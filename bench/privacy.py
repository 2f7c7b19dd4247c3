"""Personal-data masking, measured: recall per kind on a labelled corpus, false masks on text that
must stay, false masks on a real catalog, and the time to mask a 1 MB string.

The corpus is ``tests/data/pii_corpus.jsonl``: one JSON object per line, ``text`` (a chat message
or a catalog description), ``source`` ("chat" or "catalog") and ``pii``, the spans that must be
masked (``kind`` and the exact ``value`` as it appears in the text; empty for a negative: movie and
book talk full of years, counts, ratings, titles with numbers and ISBNs) and ``split``: "dev" for
the 156 strings written while the masker was built, "holdout" for the 50 written after it was
frozen (their first measurement is in bench/RESULTS.md). A span counts as found
when every letter and digit of it lies inside a detected span of its kind; "hidden" drops the
kind (a phone masked as a card is still hidden). Precision is over detected spans: one that
overlaps no labelled span is a false mask.

    bash .ci/env python bench/privacy.py                 # the corpus, the 1 MB timing
    bash .ci/env python bench/privacy.py --catalog       # and every MovieLens-100K item text
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "data" / "pii_corpus.jsonl"


def load_corpus(path: Path = CORPUS) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    for n, row in enumerate(rows, 1):
        for span in row["pii"]:
            if span["value"] not in row["text"]:
                raise ValueError(f"{path}:{n}: value {span['value']!r} is not in its text; fix the line")
    return rows


def score(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Recall per kind and overall, hidden share, precision, and false masks on the negatives."""
    from recchat.privacy import KINDS, find_pii

    found = {k: 0 for k in KINDS}
    total = {k: 0 for k in KINDS}
    hidden = detected = false_masks = negatives_masked = 0
    misses, false = [], []
    for row in rows:
        text, spans = row["text"], find_pii(row["text"])
        covered = {k: bytearray(len(text)) for k in KINDS}
        for s in spans:
            covered[s.kind][s.start : s.end] = b"\x01" * (s.end - s.start)
        anywhere = bytearray(len(text))
        for s in spans:
            anywhere[s.start : s.end] = b"\x01" * (s.end - s.start)
        labelled = []
        for want in row["pii"]:
            start = text.index(want["value"])
            end = start + len(want["value"])
            labelled.append((start, end))
            chars = [i for i in range(start, end) if text[i].isalnum()]
            total[want["kind"]] += 1
            if all(covered[want["kind"]][i] for i in chars):
                found[want["kind"]] += 1
            else:
                misses.append((want["kind"], want["value"], text))
            hidden += all(anywhere[i] for i in chars)
        for s in spans:
            detected += 1
            if not any(s.start < end and start < s.end for start, end in labelled):
                false_masks += 1
                false.append((s.kind, text[s.start : s.end], text))
        negatives_masked += not row["pii"] and bool(spans)
    spans_total = sum(total.values())
    return {
        "strings": len(rows),
        "positives": sum(bool(r["pii"]) for r in rows),
        "negatives": sum(not r["pii"] for r in rows),
        "spans": spans_total,
        "recall": {k: (found[k] / total[k] if total[k] else None, found[k], total[k]) for k in KINDS},
        "recall_overall": sum(found.values()) / spans_total,
        "hidden_overall": hidden / spans_total,
        "precision": (detected - false_masks) / detected if detected else 1.0,
        "false_masks": false_masks,
        "negatives_masked": negatives_masked,
        "misses": misses,
        "false": false,
    }


def one_megabyte(text: str) -> str:
    return (text * (1_000_000 // len(text) + 1))[:1_000_000]


def time_one_megabyte(cases: dict[str, str]) -> dict[str, float]:
    """CPU seconds to mask each 1 MB text (CPU time: the machine is shared, wall time is not
    this process's alone)."""
    from recchat.privacy import mask_pii

    out = {}
    for name, text in cases.items():
        started = time.process_time()
        mask_pii(text)
        out[name] = time.process_time() - started
    return out


def catalog_texts() -> list[str]:
    from recchat.config import load_movielens_100k

    return [it.text for it in load_movielens_100k().catalog if it.text]


def report_false_masks(what: str, texts: list[str]) -> None:
    """Mask texts that hold no personal data: every mask is a false one."""
    from recchat.privacy import mask_pii

    bad = [t for t in texts if mask_pii(t).counts]
    print(
        f"\n{what} masked (every one a false mask): {len(bad)} of {len(texts)}" + "".join(f"\n  {t!r}" for t in bad[:5])
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--catalog", action="store_true", help="also mask every MovieLens-100K item text")
    parser.add_argument(
        "--csv",
        type=Path,
        help="also mask every field of this CSV file, e.g. a catalog "
        "without personal data (python tests/books.py DIR: DIR/books.csv)",
    )
    args = parser.parse_args(argv)
    rows = load_corpus(args.corpus)
    r = score(rows)
    print(
        f"corpus: {r['strings']} strings ({r['positives']} with personal data, {r['negatives']} without), "
        f"{r['spans']} labelled spans\n"
    )
    print("| kind | spans | found | recall |\n|---|---|---|---|")
    for kind, (recall, found, total) in r["recall"].items():
        print(f"| {kind} | {total} | {found} | {recall:.3f} |")
    print(f"| **all** | {r['spans']} | {sum(v[1] for v in r['recall'].values())} | **{r['recall_overall']:.3f}** |")
    print(
        f"\nhidden (any kind): {r['hidden_overall']:.3f}; precision of detected spans: {r['precision']:.3f} "
        f"({r['false_masks']} false masks); negatives with any mask: {r['negatives_masked']} of {r['negatives']}"
    )
    for split in sorted({row.get("split", "") for row in rows} - {""}):
        part = score([row for row in rows if row.get("split") == split])
        print(
            f"  split {split}: {part['strings']} strings, recall {part['recall_overall']:.3f} of "
            f"{part['spans']} spans, precision {part['precision']:.3f}, negatives with any mask "
            f"{part['negatives_masked']} of {part['negatives']}"
        )
    for kind, value, text in r["misses"]:
        print(f"  missed {kind}: {value!r} in {text!r}")
    for kind, value, text in r["false"]:
        print(f"  false {kind}: {value!r} in {text!r}")
    cases = {
        "corpus x N": one_megabyte(" ".join(row["text"] for row in rows)),
        "digits": "7" * 1_000_000,
        "letters": "a" * 1_000_000,
        "a@b a@b ...": one_megabyte("a@b "),
    }
    if args.catalog:
        texts = catalog_texts()
        report_false_masks("MovieLens-100K item texts", texts)
        cases["MovieLens texts x N"] = one_megabyte(" ".join(texts))
    if args.csv:
        with args.csv.open(newline="", encoding="utf-8") as f:
            report_false_masks(f"{args.csv} fields", [v for row in csv.reader(f) for v in row])
    print("\nCPU seconds to mask 1 MB: " + ", ".join(f"{k} {v:.3f}" for k, v in time_one_megabyte(cases).items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
