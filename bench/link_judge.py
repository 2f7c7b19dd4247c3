"""Train and measure the learned second opinion of title linking (recchat/conversation/link_judge.py).

Every labelled sentence of bench/linking (all catalogs) is linked by the rules alone, and each
candidate the judge would see (a link of dictionary words, or one the rules turned down) is kept
with its features and its label (is the item one the sentence names?). A logistic model (L2,
numpy) is fitted on them.

    bash .ci/env python bench/link_judge.py --folds          # leave one split out: rules vs rules + judge
    bash .ci/env python bench/link_judge.py --train          # fit on every split but --keep, write the model
    bash .ci/env python bench/link_judge.py --train --keep fresh8

--folds trains on every split but one and links that split's sentences with the rules alone and
with the judge, per catalog (recall, precision, false links on the title-free sentences): an
estimate of what the judge does on a writer it has not read. --train writes
recchat/conversation/link_judge.json from every split except those named by --keep.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import linking as L  # noqa: E402

from recchat.conversation.link import Linker  # noqa: E402
from recchat.conversation.link_judge import WEIGHTS, Judge, Recorder  # noqa: E402

MIN_COUNT = 3  # a feature seen fewer times in training gets no weight


@dataclass
class Row:
    catalog: str
    split: str
    names: list[str]
    rule: bool
    label: bool


def load() -> dict[str, tuple[Linker, list[L.Sentence]]]:
    folder = Path(tempfile.mkdtemp(prefix="link-judge-"))
    out = {}
    for name, loader in L.LOADERS.items():
        setup = loader(folder)
        linker = Linker.for_domain(setup.catalog, setup.domain, setup.popularity)
        out[name] = (linker, L.catalog_sentences(name, setup.catalog))
    return out


def rows_of(data: dict[str, tuple[Linker, list[L.Sentence]]]) -> list[Row]:
    rows = []
    for name, (linker, sentences) in data.items():
        for s in sentences:
            recorder = Recorder()
            linker.judge = recorder
            linker.link(s.text)
            for link, names, rule in recorder.seen:
                rows.append(Row(name, s.split, names, rule, link.item_id in s.items))
        linker.judge = None
    return rows


def fit(rows: list[Row], l2: float = 1.0, steps: int = 400) -> dict[str, float]:
    """Logistic regression on binary features, full-batch gradient descent (Adam), L2 on all but the bias."""
    counts: dict[str, int] = {}
    for r in rows:
        for n in r.names:
            counts[n] = counts.get(n, 0) + 1
    vocab = sorted(n for n, k in counts.items() if k >= MIN_COUNT or n == "bias")
    at = {n: i for i, n in enumerate(vocab)}
    x = np.zeros((len(rows), len(vocab)), dtype=np.float32)
    for i, r in enumerate(rows):
        for n in r.names:
            if n in at:
                x[i, at[n]] = 1.0
    y = np.array([r.label for r in rows], dtype=np.float32)
    w = np.zeros(len(vocab), dtype=np.float64)
    m = np.zeros_like(w)
    v = np.zeros_like(w)
    reg = np.ones_like(w)
    reg[at["bias"]] = 0.0
    for t in range(1, steps + 1):
        p = 1.0 / (1.0 + np.exp(-np.clip(x @ w, -30, 30)))
        g = x.T @ (p - y) / len(rows) + l2 * reg * w / len(rows)
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        w -= 0.1 * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
    return {n: round(float(w[i]), 4) for i, n in enumerate(vocab) if abs(w[i]) >= 1e-4}


def score(data: dict[str, tuple[Linker, list[L.Sentence]]], split: str, judge: Judge | None) -> dict[str, dict]:
    out = {}
    for name, (linker, sentences) in data.items():
        linker.judge = judge
        r = L.tally(
            L.Result(name, "judge" if judge else "rules", 0.0),
            [s for s in sentences if s.split == split],
            lambda t: [link.item_id for link in linker.link(t)],
        )
        linker.judge = None
        out[name] = {
            "recall": r.found / r.named if r.named else 0.0,
            "precision": r.correct / r.links if r.links else 1.0,
            "false": r.false_links,
            "free": r.free,
            "found": r.found,
            "named": r.named,
            "correct": r.correct,
            "links": r.links,
        }
    return out


def fmt(r: dict) -> str:
    return f"{r['recall']:.3f} / {r['precision']:.3f} / {r['false']} of {r['free']}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--folds", action="store_true", help="leave each split out in turn; rules vs rules + judge")
    ap.add_argument("--train", action="store_true", help="fit on every split but --keep and write the model")
    ap.add_argument("--keep", nargs="*", default=[], help="splits kept aside from training")
    ap.add_argument("--l2", type=float, default=1.0, help="L2 strength (default 1.0)")
    ap.add_argument("--threshold", type=float, default=0.5, help="probability a link needs (default 0.5)")
    ap.add_argument("--margin", type=float, default=0.0, help="how sure it must be to overrule the rules (default 0)")
    ap.add_argument("--splits", nargs="*", default=None, help="with --folds: the splits to leave out")
    args = ap.parse_args(argv)
    data = load()
    rows = rows_of(data)
    splits = sorted({r.split for r in rows})
    print(f"{len(rows)} candidates ({sum(r.label for r in rows)} titles) from splits {', '.join(splits)}")
    if args.folds:
        total = {"rules": {}, "judge": {}}
        for split in args.splits or splits:
            if split in args.keep:
                continue
            weights = fit([r for r in rows if r.split != split and r.split not in args.keep], args.l2)
            judge = Judge(weights, args.threshold, args.margin)
            before, after = score(data, split, None), score(data, split, judge)
            for name in data:
                print(f"{split:7s} {name:9s} rules {fmt(before[name])}   judge {fmt(after[name])}")
                for who, r in (("rules", before[name]), ("judge", after[name])):
                    t = total[who].setdefault(
                        name, {"found": 0, "named": 0, "false": 0, "free": 0, "correct": 0, "links": 0}
                    )
                    for k in t:
                        t[k] += r[k]
        for who, per in total.items():
            for name, t in per.items():
                print(
                    f"all folds {name:9s} {who}: recall {t['found'] / t['named']:.3f}, "
                    f"precision {t['correct'] / max(1, t['links']):.3f}, false {t['false']} of {t['free']}"
                )
    if args.train:
        train = [r for r in rows if r.split not in args.keep]
        weights = fit(train, args.l2)
        about = {
            "trained": str(date.today()),
            "splits": sorted({r.split for r in train}),
            "kept": sorted(args.keep),
            "candidates": len(train),
            "l2": args.l2,
            "command": "python bench/link_judge.py --train" + (f" --keep {' '.join(args.keep)}" if args.keep else ""),
        }
        WEIGHTS.write_text(
            json.dumps(
                {"about": about, "threshold": args.threshold, "margin": args.margin, "weights": weights},
                indent=0,
                sort_keys=True,
            )
            + "\n",
            encoding="utf-8",
        )
        print(f"wrote {WEIGHTS.relative_to(ROOT)}: {len(weights)} weights from {len(train)} candidates")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
