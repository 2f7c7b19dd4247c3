"""Items with few or no interactions: popularity buckets and the cold-item protocol.

**Popularity buckets** (:func:`popularity_buckets`). Items are ordered by their number of training
interactions (the train part of the leave-one-out split). *Head*: the most popular items that
together hold the first 20% of training interactions (every item as popular as the one that
crosses 20% included). *Tail*: the least popular items that together hold the last 20%, and every
item never seen in training. *Torso*: the rest. A test user falls in the bucket of their test
target, and NDCG@10 is reported per bucket.

**Cold items** (:func:`cold_split`). A random (seeded) fraction of the catalog's items is held out
with all their interactions: they are taken out of every training sequence and validation target
(and so out of every history), and the users evaluated are those whose test target is a held-out
item, ranked over ALL items under the usual protocol. Every method is fitted on that split, so
popularity and item-kNN have nothing on a held-out item, and the scorer is trained on the warm
items only (:attr:`ColdSplit.warm`, items renumbered): it never has an id embedding for a
held-out item, nor sees one as a negative. :class:`TextOnlyColdItems` then ranks all items with
it: warm items by their learned vectors, held-out items by the text part of the item tower alone,
optionally with an id part guessed from their text (fitted on the warm items only:
:func:`recchat.evaluation.cold_ids.guess_id_part`) and a score offset (chosen on validation
users with pseudo-cold warm items by :func:`recchat.evaluation.cold_run.tune_offset`).

:func:`paired_bootstrap` is the paired interval used for every "A against B" figure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from recchat.data.split import Split
from recchat.evaluation.cold_ids import IdGuess, guess_id_part

BUCKETS = ("head", "torso", "tail")
HEAD_SHARE = 0.2
TAIL_SHARE = 0.2


def popularity_buckets(counts: np.ndarray, head: float = HEAD_SHARE, tail: float = TAIL_SHARE) -> np.ndarray:
    """Per item 0 (head), 1 (torso) or 2 (tail), from training interaction ``counts`` (module doc)."""
    counts = np.asarray(counts, dtype=np.int64)
    out = np.ones(len(counts), dtype=np.int64)
    total = counts.sum()
    if total == 0:
        out[:] = 2
        return out
    ordered = np.sort(counts)[::-1]
    share = np.cumsum(ordered) / total
    head_min = ordered[int(np.searchsorted(share, head, side="left"))]  # the item that crosses ``head``
    rising = ordered[::-1]
    tail_max = rising[int(np.searchsorted(np.cumsum(rising) / total, tail, side="left"))]
    out[counts <= tail_max] = 2
    out[counts >= max(head_min, tail_max + 1)] = 0
    out[counts == 0] = 2
    return out


def bucket_summary(counts: np.ndarray, buckets: np.ndarray) -> dict[str, dict[str, float]]:
    """Per bucket: items, share of training interactions, and the range of training counts."""
    counts = np.asarray(counts)
    total = max(int(counts.sum()), 1)
    out = {}
    for b, name in enumerate(BUCKETS):
        inside = counts[buckets == b]
        out[name] = {
            "items": int(len(inside)),
            "interaction_share": float(inside.sum() / total),
            "min_count": int(inside.min()) if len(inside) else 0,
            "max_count": int(inside.max()) if len(inside) else 0,
        }
    return out


def ndcg10(ranks: np.ndarray) -> np.ndarray:
    """Per-user NDCG@10 of one target at ``ranks``."""
    ranks = np.asarray(ranks, dtype=np.float64)
    return np.where(ranks <= 10, 1.0 / np.log2(ranks + 1), 0.0)


def bucket_metrics(ranks: np.ndarray, targets: np.ndarray, buckets: np.ndarray) -> dict[str, float]:
    """NDCG@10 and the number of users per bucket of the users' targets."""
    gains = ndcg10(ranks)
    target_bucket = buckets[np.asarray(targets, dtype=np.int64)] if len(targets) else np.zeros(0, dtype=np.int64)
    out: dict[str, float] = {}
    for b, name in enumerate(BUCKETS):
        inside = target_bucket == b
        out[f"NDCG@10 {name}"] = float(gains[inside].mean()) if inside.any() else float("nan")
        out[f"users {name}"] = int(inside.sum())
    return out


def paired_bootstrap(
    a: np.ndarray, b: np.ndarray, *, resamples: int = 2000, seed: int = 0, level: float = 0.95
) -> dict[str, float]:
    """Mean per-user gain of ``a`` over ``b`` (same users, same order) with a paired bootstrap
    interval: users resampled with replacement, the same resample for both."""
    gain = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    if not len(gain):
        return {"gain": 0.0, "low": 0.0, "high": 0.0}
    rng = np.random.default_rng(seed)
    means = gain[rng.integers(0, len(gain), (resamples, len(gain)))].mean(axis=1)
    tail = (1 - level) / 2
    return {
        "gain": float(gain.mean()),
        "low": float(np.quantile(means, tail)),
        "high": float(np.quantile(means, 1 - tail)),
    }


@dataclass
class ColdSplit:
    """The cold-item protocol's data (module doc)."""

    split: Split  # all items; held-out items out of train and validation; test = users with a held-out target
    warm: Split  # the same interactions over the warm items only, renumbered: what a scorer trains on
    held_out: np.ndarray  # catalog positions of the held-out items, sorted
    warm_items: np.ndarray  # catalog position of each warm-split item

    @property
    def fraction(self) -> float:
        return len(self.held_out) / max(self.split.n_items, 1)


def cold_split(split: Split, fraction: float, seed: int = 0) -> ColdSplit:
    """Hold out ``round(fraction * items)`` random items (``seed``) with all their interactions."""
    if not 0 < fraction < 1:
        raise ValueError(f"--cold-items is a fraction of the items, between 0 and 1 (not {fraction})")
    n = split.n_items
    rng = np.random.default_rng(seed)
    held = np.sort(rng.choice(n, size=max(1, round(fraction * n)), replace=False))
    cold = np.zeros(n, dtype=bool)
    cold[held] = True
    warm_items = np.flatnonzero(~cold)
    renumber = np.full(n, -1, dtype=np.int64)
    renumber[warm_items] = np.arange(len(warm_items))

    train, ratings = [], []
    for u, seq in enumerate(split.train):
        keep = ~cold[seq]
        train.append(seq[keep])
        if split.train_ratings:
            ratings.append(split.train_ratings[u][keep])
    valid = np.where((split.valid >= 0) & ~cold[np.maximum(split.valid, 0)], split.valid, -1)
    test_all = split.test
    test = np.where((test_all >= 0) & cold[np.maximum(test_all, 0)], test_all, -1)
    evaluation = Split(
        list(split.item_ids), list(split.users), train, valid, test, ratings, split.valid_rating, split.test_rating
    )
    warm_test = np.where((test_all >= 0) & ~cold[np.maximum(test_all, 0)], test_all, -1)
    warm = Split(
        [split.item_ids[i] for i in warm_items],
        list(split.users),
        [renumber[s] for s in train],
        np.where(valid >= 0, renumber[np.maximum(valid, 0)], -1),
        np.where(warm_test >= 0, renumber[np.maximum(warm_test, 0)], -1),
        ratings,
        split.valid_rating,
        split.test_rating,
    )
    return ColdSplit(evaluation, warm, held, warm_items)


class HistoryEncoder(Protocol):
    """What :class:`TextOnlyColdItems` needs of a scorer trained on :attr:`ColdSplit.warm`."""

    model: Any

    def user_vectors(self, histories: Sequence[np.ndarray]) -> np.ndarray: ...

    def item_vectors(self) -> np.ndarray: ...


def text_only_vectors(scorer: HistoryEncoder, text: np.ndarray) -> np.ndarray:
    """Item vectors from the item tower's text part alone (no id embedding): what an item the
    scorer never trained on gets."""
    import torch

    model = scorer.model
    weight = next(model.parameters())
    with torch.inference_mode():
        vectors = model.text_projection(torch.from_numpy(np.asarray(text, dtype=np.float32)).to(weight.device))
    return np.asarray(vectors.cpu().numpy(), dtype=np.float32)


COLD_VECTORS = ("text", "text+mean-id", "text-all", "mapped-id", "knn-id", "text+interaction-mean-id")
GUESSED = {"mapped-id": "mapped", "knn-id": "knn"}  # the id part guessed from text (cold_ids)
OFFSETS = (0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 3.0)  # in standard deviations of a user's known-item scores


def cold_item_table(
    known_vectors: np.ndarray,
    text_part: np.ndarray,
    text_vectors: np.ndarray,
    known: np.ndarray,
    new: np.ndarray,
    vectors: str = "text",
    counts: np.ndarray | None = None,
) -> tuple[np.ndarray, IdGuess | None]:
    """Item vectors for items ``known`` (trained: ``known_vectors``, one row each) and ``new``
    (never trained on) by the way ``vectors`` (:class:`TextOnlyColdItems`). ``text_part`` and
    ``text_vectors`` have a row per item (known and new); ``counts``, the known items' training
    interactions, weigh the ``text+interaction-mean-id``. Only known items' rows fit anything."""
    if vectors not in COLD_VECTORS:
        raise ValueError(f"vectors must be one of {', '.join(COLD_VECTORS)}, not '{vectors}'")
    if vectors == "text-all":
        return np.asarray(text_part, dtype=np.float32).copy(), None
    table = np.zeros((len(text_part), known_vectors.shape[1]), dtype=np.float32)
    table[known] = known_vectors
    table[new] = text_part[new]
    ids = known_vectors - text_part[known]
    guess = None
    if vectors == "text+mean-id":
        table[new] += ids.mean(axis=0)
    elif vectors == "text+interaction-mean-id":
        weights = np.asarray(counts, dtype=np.float64) if counts is not None else np.ones(len(ids))
        table[new] += (weights @ ids / max(weights.sum(), 1e-12)).astype(np.float32)
    elif vectors in GUESSED:
        guess = guess_id_part(text_vectors[known], ids, text_vectors[new], GUESSED[vectors])
        table[new] += guess.vectors
    return table, guess


def offset_scores(users: np.ndarray, table: np.ndarray, new: np.ndarray, offset: float) -> np.ndarray:
    """``users @ table.T``, with ``offset`` times each user's standard deviation of scores over
    the other items added to the ``new`` items' scores (a calibration of never-trained items)."""
    scores = np.asarray(users @ table.T)
    if offset and len(new):
        others = np.ones(scores.shape[1], dtype=bool)
        others[new] = False
        scores[:, new] += offset * scores[:, others].std(axis=1, keepdims=True)
    return scores


class TextOnlyColdItems:
    """A scorer trained on the warm items, ranking ALL items. ``vectors`` says how:

    - ``text`` (default): warm items by their learned vectors (id + text), held-out items by the
      text part alone;
    - ``text+mean-id``: held-out items get the warm items' mean id embedding added (an unknown id
      taken as an average item's), so they are not all below every warm item's id part;
    - ``text+interaction-mean-id``: the same mean weighted by the warm items' training
      interactions (an unknown id taken as an average interaction's item);
    - ``text-all``: every item by its text part alone (ids dropped for all), one footing for all;
    - ``mapped-id``: held-out items get an id part predicted from their text by a ridge regression
      fitted on the warm items' text vectors and learned id embeddings (lambda by k-fold on the
      warm items; :func:`recchat.evaluation.cold_ids.guess_id_part`);
    - ``knn-id``: held-out items get the similarity-weighted mean id embedding of the k warm items
      nearest by text cosine (k by k-fold on the warm items).

    ``offset``: held-out items' scores raised by that many standard deviations of the user's
    scores of the other items (:func:`recchat.evaluation.cold_run.tune_offset` measures it on
    validation users and pseudo-cold warm items). Nothing here looks at a test user.

    Histories are in catalog positions; held-out items in them (none in a :class:`ColdSplit`) are
    dropped."""

    def __init__(
        self,
        scorer: HistoryEncoder,
        cold: ColdSplit,
        text_vectors: np.ndarray,
        name: str = "scorer",
        vectors: str = "text",
        offset: float = 0.0,
    ):
        if vectors not in COLD_VECTORS:
            raise ValueError(f"vectors must be one of {', '.join(COLD_VECTORS)}, not '{vectors}'")
        self.scorer, self.cold, self.name, self.offset = scorer, cold, name, offset
        self.history: list[dict[str, float]] = list(getattr(scorer, "history", []))
        n = cold.split.n_items
        if len(text_vectors) != n:
            raise ValueError(f"{len(text_vectors)} text vectors for {n} items")
        warm = scorer.item_vectors()
        if len(warm) != len(cold.warm_items):
            raise ValueError(f"the scorer has {len(warm)} items; the warm split has {len(cold.warm_items)}")
        self.vectors, self.guess = cold_item_table(
            warm,
            text_only_vectors(scorer, text_vectors),
            text_vectors,
            cold.warm_items,
            cold.held_out,
            vectors,
            cold.warm.train_counts(),
        )
        self.renumber = np.full(n, -1, dtype=np.int64)
        self.renumber[cold.warm_items] = np.arange(len(cold.warm_items))

    def fit(self, split: Split) -> None:
        if split.item_ids != self.cold.split.item_ids:
            raise ValueError(f"{self.name}: the split's items are not this cold split's items")

    def score_histories(self, histories: Sequence[np.ndarray]) -> np.ndarray:
        mapped = [self.renumber[np.asarray(h, dtype=np.int64)] for h in histories]
        users = self.scorer.user_vectors([m[m >= 0] for m in mapped])
        return offset_scores(users, self.vectors, self.cold.held_out, self.offset)
