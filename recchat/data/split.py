"""The leave-one-out split of an interaction log: the data every stage trains and is measured on.

Each user's interactions are ordered by timestamp, equal timestamps kept in file order (a stable
sort). The last is the test target, the one before it the validation target, the rest train.
Users with fewer than three interactions are train-only. Items are referred to by their
position in the catalog (``item_ids``), which is what the scorer and the evaluation index by.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from recchat.data.catalog import Catalog, InteractionLog


@dataclass
class Split:
    """A leave-one-out split over item indices (positions in ``item_ids``)."""

    item_ids: list[str]
    users: list[str]
    train: list[np.ndarray]  # per user, chronological item indices
    valid: np.ndarray  # per user, the validation target (-1: none)
    test: np.ndarray  # per user, the test target (-1: none)
    train_ratings: list[np.ndarray] = field(default_factory=list)
    valid_rating: np.ndarray | None = None
    test_rating: np.ndarray | None = None

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def index(self) -> dict[str, int]:
        return {item_id: i for i, item_id in enumerate(self.item_ids)}

    def history(self, user: int, stage: str) -> np.ndarray:
        """What the user had seen before the target of ``stage`` ("valid" or "test")."""
        if stage == "valid":
            return self.train[user]
        if stage == "test":
            return np.append(self.train[user], self.valid[user]) if self.valid[user] >= 0 else self.train[user]
        raise ValueError(f"stage must be 'valid' or 'test', not '{stage}'")

    def history_ratings(self, user: int, stage: str) -> np.ndarray:
        """The ratings that go with :meth:`history` (NaN where the log has none)."""
        ratings = self.train_ratings[user] if self.train_ratings else np.full(len(self.train[user]), np.nan)
        if stage == "test" and self.valid[user] >= 0:
            extra = self.valid_rating[user] if self.valid_rating is not None else np.nan
            ratings = np.append(ratings, extra)
        return ratings

    def evaluated_users(self, stage: str) -> np.ndarray:
        targets = self.valid if stage == "valid" else self.test
        return np.flatnonzero(targets >= 0)

    def train_counts(self) -> np.ndarray:
        counts = np.zeros(self.n_items, dtype=np.int64)
        for seq in self.train:
            np.add.at(counts, seq, 1)
        return counts


def leave_one_out(log: InteractionLog, catalog: Catalog) -> Split:
    """Split a log by time: last interaction test, the one before validation, the rest train."""
    item_ids = [item.id for item in catalog]
    index = {item_id: i for i, item_id in enumerate(item_ids)}
    per_user: dict[str, list[tuple[float, int, int, float]]] = {}
    for position, event in enumerate(log):
        if event.item not in index:
            raise ValueError(f"interaction {position + 1}: item '{event.item}' is not in the catalog")
        stamp = event.timestamp if event.timestamp is not None else float(position)
        rating = event.rating if event.rating is not None else math.nan
        per_user.setdefault(event.user, []).append((stamp, position, index[event.item], rating))
    users = list(per_user)
    train: list[np.ndarray] = []
    train_r: list[np.ndarray] = []
    valid: list[int] = []
    test: list[int] = []
    valid_r: list[float] = []
    test_r: list[float] = []
    for user in users:
        # sorted() is stable, and the file position is the explicit second key anyway.
        events = sorted(per_user[user], key=lambda e: (e[0], e[1]))
        items = np.array([e[2] for e in events], dtype=np.int64)
        ratings = np.array([e[3] for e in events], dtype=np.float64)
        if len(items) < 3:
            train.append(items)
            train_r.append(ratings)
            valid.append(-1)
            test.append(-1)
            valid_r.append(math.nan)
            test_r.append(math.nan)
            continue
        train.append(items[:-2])
        train_r.append(ratings[:-2])
        valid.append(int(items[-2]))
        test.append(int(items[-1]))
        valid_r.append(float(ratings[-2]))
        test_r.append(float(ratings[-1]))
    return Split(item_ids, users, train, np.array(valid), np.array(test), train_r, np.array(valid_r), np.array(test_r))
