"""Training examples for ``recchat tune-llm``: the run's settings, the examples built from the
training part of the split, and the hard-negative miner (see :mod:`recchat.tune`)."""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from recchat.data.split import Split
from recchat.files import write_atomic

if TYPE_CHECKING:
    from recchat.data.catalog import Catalog
    from recchat.evaluation import Ranker
    from recchat.scorer import Scorer

OBJECTIVES = ("listwise", "pointwise")
NEGATIVES = ("random", "hard", "mixed")
LABEL_LOSSES = ("candidates", "vocab")
TARGET_MODULES = {
    "qv": ["q_proj", "v_proj"],
    "qkvo": ["q_proj", "k_proj", "v_proj", "o_proj"],
    "all": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
}


class TuneError(ValueError):
    """A bad option or a missing input; the message says which and what to do."""


@dataclass
class TuneConfig:
    """Everything that decides a tuning run; saved in tune.json and checked on ``resume``."""

    base_model: str = "smollm2-135m-instruct"  # a model asset's name or a model folder
    objective: str = "listwise"
    label_loss: str = "candidates"
    negatives: str = "hard"
    positions: int = 2  # training positions per user (the last N of the training sequence)
    candidates: int = 20
    history: int = 10  # history items in the prompt (the reranker's history_limit)
    lora_r: int = 8
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    targets: str = "qv"  # qv, qkvo or all
    top_layers: int = 0  # LoRA only on the top N layers (0: all layers)
    lr: float = 1e-4
    accumulate: int = 4  # examples per optimizer step
    max_examples: int = 2000
    eval_every: int = 200  # examples between validation evaluations
    val_users: int = 100
    val_candidates: int = 20  # the rerank that validation measures: the scorer's top N, as in eval
    patience: int = 3
    seed: int = 0
    threads: int | None = None

    def check(self) -> None:
        for name, allowed in (
            ("objective", OBJECTIVES),
            ("negatives", NEGATIVES),
            ("label_loss", LABEL_LOSSES),
            ("targets", tuple(TARGET_MODULES)),
        ):
            if getattr(self, name) not in allowed:
                raise TuneError(f"--{name.replace('_', '-')} {getattr(self, name)!r}: choose from {', '.join(allowed)}")
        positive = (
            "positions",
            "candidates",
            "history",
            "lora_r",
            "lora_alpha",
            "accumulate",
            "max_examples",
            "eval_every",
            "val_users",
            "val_candidates",
        )
        for name in positive:
            if getattr(self, name) < 1:
                raise TuneError(f"--{name.replace('_', '-')} must be at least 1, not {getattr(self, name)}")
        if not 2 <= self.candidates <= 20:
            raise TuneError(f"--candidates must be between 2 and 20 (one label letter each), not {self.candidates}")
        if not (0 <= self.lora_dropout < 1 and self.lr > 0 and self.top_layers >= 0 and self.patience >= 1):
            raise TuneError(
                "--lora-dropout must be in [0, 1), --lr above 0, --top-layers 0 or more, --patience at least 1"
            )


@dataclass
class Example:
    """One training example over item indices: the target is ``candidates[label]``."""

    user: int
    position: int  # index of the target in the user's training sequence
    history: list[int]
    ratings: list[float]
    candidates: list[int]
    label: int


# --------------------------------------------------------------------------- examples


def truncated_split(split: Split, positions: int) -> Split:
    """Each user's training sequence without its last ``positions`` items; the first cut item is
    the validation target (for early stopping), and there is no test. The miner trains on it."""
    train, valid = [], []
    for seq in split.train:
        keep = max(1, len(seq) - positions)
        train.append(seq[:keep])
        valid.append(int(seq[keep]) if len(seq) > keep else -1)
    n = len(split.users)
    return Split(
        split.item_ids,
        split.users,
        train,
        np.array(valid),
        np.full(n, -1),
        [r[: len(t)] for r, t in zip(split.train_ratings, train)] if split.train_ratings else [],
    )


def train_miner(
    split: Split,
    catalog: Catalog,
    text_vectors: np.ndarray,
    positions: int,
    path: Path,
    *,
    quick: bool = False,
    progress: bool = True,
) -> Scorer:
    """The hard-negative miner: a scorer trained on :func:`truncated_split` (cached at ``path``,
    keyed by the split's fingerprint)."""
    from recchat.scorer import Scorer, ScorerConfig, train

    key = f"{split_fingerprint(split)}-p{positions}-{'quick' if quick else 'full'}"
    stamp = path.with_suffix(".key")
    if path.is_file() and stamp.is_file() and stamp.read_text() == key:
        return Scorer.load(path, catalog=catalog)
    config = ScorerConfig(max_epochs=3, patience=1) if quick else ScorerConfig()
    miner = train(truncated_split(split, positions), text_vectors, catalog, config, progress=progress)
    miner.save(path)
    write_atomic(stamp, key)  # after the checkpoint: a kill between the two only retrains the miner
    return miner


def build_examples(split: Split, config: TuneConfig, miner: Ranker | None = None) -> list[Example]:
    """Examples from ``split.train`` only (see the module docstring), shuffled with the seed.

    ``miner`` scores histories (``score_histories``); it is needed for hard or mixed negatives.
    """
    if config.negatives != "random" and miner is None:
        raise TuneError(f"--negatives {config.negatives} needs a scorer to mine them")
    rng = np.random.default_rng(config.seed)
    n_items = split.n_items
    wanted = config.candidates - 1
    examples: list[Example] = []
    jobs = []
    for u, seq in enumerate(split.train):
        ratings = split.train_ratings[u] if split.train_ratings else np.full(len(seq), np.nan)
        for pos in range(max(1, len(seq) - config.positions), len(seq)):
            jobs.append((u, pos, seq, ratings))
    hard_scores: list[np.ndarray] = []
    if config.negatives != "random":
        assert miner is not None  # checked above
        for start in range(0, len(jobs), 256):
            chunk = jobs[start : start + 256]
            hard_scores.extend(np.asarray(miner.score_histories([seq[:pos] for _, pos, seq, _ in chunk])))
    for j, (u, pos, seq, ratings) in enumerate(jobs):
        seen = set(int(i) for i in seq)  # the user's training items are never negatives
        negatives: list[int] = []
        n_hard = wanted if config.negatives == "hard" else wanted // 2 if config.negatives == "mixed" else 0
        if n_hard:
            scores = np.array(hard_scores[j], dtype=np.float64)
            for i in np.argsort(-scores, kind="stable"):
                if int(i) not in seen:
                    negatives.append(int(i))
                    if len(negatives) == n_hard:
                        break
        chosen = set(negatives)
        while len(negatives) < wanted:
            i = int(rng.integers(n_items))
            if i not in seen and i not in chosen:
                negatives.append(i)
                chosen.add(i)
        candidates = [int(seq[pos]), *negatives]
        order = rng.permutation(len(candidates))
        candidates = [candidates[k] for k in order]
        label = int(np.flatnonzero(order == 0)[0])
        start = max(0, pos - config.history)
        examples.append(
            Example(u, pos, [int(i) for i in seq[start:pos]], [float(r) for r in ratings[start:pos]], candidates, label)
        )
    random.Random(config.seed).shuffle(examples)
    return examples


def split_fingerprint(split: Split) -> str:
    digest = hashlib.sha256()
    digest.update("\n".join(split.item_ids).encode())
    for user, seq, v, t in zip(split.users, split.train, split.valid, split.test):
        digest.update(f"{user}:{','.join(map(str, seq))}:{v}:{t};".encode())
    return digest.hexdigest()[:16]
