"""A trained scorer against a catalog that changed since it was trained: no retraining needed.

The checkpoint keeps the id and a text fingerprint (:func:`text_hash`, a hash of the text the
index embeds) of every item it was trained on. Loaded against the current catalog:

- an item with the same id and text keeps its learned vector (id embedding + text projection);
- a new item, or one whose text changed, gets the item tower's text part alone,
  ``text_projection(text_vector)``, with its text vector from the index's embedder: the id
  part is dropped at random in training so that this part carries weight on its own;
- an item no longer in the catalog leaves the candidate set.

The scorer then covers exactly the current catalog, and :class:`CatalogUpdate` says what
changed (its :meth:`~CatalogUpdate.note` is what the CLI, the app and ``Recommender.from_config``
show). The refusal stays where the mapping would be mostly guesswork: when fewer than half of
the current catalog's items are known to the checkpoint with the same text (another catalog,
another id scheme, a new text template), or when the text vectors have another size (another
embedder).

``recchat train --warm-start`` continues from such a mapped checkpoint on the current log (new
items' id embeddings start at zero, i.e. at their text-only vectors; everything else is kept).

This module sits below :mod:`recchat.scorer` (which calls it from ``Scorer.load``) and knows
nothing of the network beyond the two item tables it remaps.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from recchat.data.catalog import Catalog

if TYPE_CHECKING:
    import torch


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used here (missing, corrupt, or for another catalog)."""


# The text vectors of some items (a catalog of just those), in that catalog's order, by the text
# encoder the scorer was trained with (its ScorerConfig.text_encoder, "minilm": the index's):
# ``lambda items, encoder: item_text_vectors(items, index, encoder)`` (recchat.retrieve).
TextVectors = Callable[[Catalog, str], np.ndarray]

# The least share of the current catalog that must be known with unchanged text.
MIN_KNOWN = 0.5


def text_hash(text: str) -> str:
    """The fingerprint of an item's text as the index embeds it (``item.text``)."""
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def text_hashes(catalog: Catalog, item_ids: Sequence[str] | None = None) -> list[str]:
    """:func:`text_hash` of each item, in catalog order (or in the order of ``item_ids``)."""
    ids = [item.id for item in catalog] if item_ids is None else item_ids
    return [text_hash(catalog[i].text) for i in ids]


def _count(n: int, what: str) -> str:
    return f"{n:,} {what}{'' if n == 1 else 's'}"


@dataclass
class CatalogUpdate:
    """How the current catalog differs from the one a checkpoint was trained on (ids by kind,
    in catalog order; ``removed`` in the checkpoint's order)."""

    trained: int  # items in the checkpoint
    kept: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    @property
    def from_text(self) -> list[str]:
        """The items served from their text alone (new and changed)."""
        return [*self.added, *self.changed]

    @property
    def current(self) -> int:
        return len(self.kept) + len(self.added) + len(self.changed)

    def note(self, retrain: str = "recchat train --warm-start") -> str:
        """What happened, for the user: "120 new items served from their text; retrain to learn
        from their interactions: recchat train --warm-start"."""
        served = [
            _count(len(ids), f"{kind} item") for kind, ids in (("new", self.added), ("changed", self.changed)) if ids
        ]
        parts = []
        if served:
            parts.append(f"{' and '.join(served)} served from their text")
        if self.removed:
            parts.append(f"{_count(len(self.removed), 'removed item')} left out")
        text = "The scorer was trained on an earlier catalog: " + "; ".join(parts or ["its items are all here"])
        if served:
            text += f"; retrain to learn from their interactions: {retrain}"
        return text + "."


def plan_update(
    trained_ids: Sequence[str], trained_hashes: Sequence[str], catalog: Catalog, *, where: str = "the checkpoint"
) -> CatalogUpdate:
    """Match the checkpoint's items to ``catalog``; a CheckpointError when fewer than half of the
    catalog's items are known with the same text (:data:`MIN_KNOWN`)."""
    known = dict(zip(trained_ids, trained_hashes))
    update = CatalogUpdate(trained=len(trained_ids))
    for item in catalog:
        held = known.get(item.id)
        if held is None:
            update.added.append(item.id)
        elif held == text_hash(item.text):
            update.kept.append(item.id)
        else:
            update.changed.append(item.id)
    update.removed = [i for i in trained_ids if i not in catalog]
    if len(update.kept) < MIN_KNOWN * len(catalog) or not update.kept:
        raise CheckpointError(
            f"{where} was trained on a different catalog ({_count(len(trained_ids), 'item')}) than the one "
            f"given (fingerprint {catalog.fingerprint()}, {_count(len(catalog), 'item')}): only "
            f"{len(update.kept):,} of the given items are in it with the same text, and at least half must be "
            f"for it to serve the rest from their text ({len(update.added):,} new, {len(update.changed):,} "
            "changed). Retrain with: recchat train"
        )
    return update


def remap_state(
    state: Mapping[str, torch.Tensor],
    trained_ids: Sequence[str],
    update: CatalogUpdate,
    catalog: Catalog,
    text_vectors: TextVectors | None,
    *,
    encoder: str = "minilm",
    where: str = "the checkpoint",
) -> dict[str, torch.Tensor]:
    """The checkpoint's weights for ``catalog``'s items (model row i + 1 = catalog item i): kept
    items' id and text rows copied, new and changed items with a zero id row and the index's
    text vector, removed items gone. The rest of the network is unchanged."""
    import torch

    old_text, old_ids = state["text"], state["id_embedding.weight"]
    position = {item_id: i + 1 for i, item_id in enumerate(trained_ids)}
    rows = [position.get(item.id, 0) for item in catalog]
    fresh = set(update.from_text)
    text = torch.zeros((len(catalog) + 1, old_text.shape[1]), dtype=old_text.dtype)
    ids = torch.zeros((len(catalog) + 1, old_ids.shape[1]), dtype=old_ids.dtype)
    keep = [r for r, item in enumerate(catalog, start=1) if item.id not in fresh]
    source = [rows[r - 1] for r in keep]
    text[keep], ids[keep] = old_text[source], old_ids[source]
    if fresh:
        if text_vectors is None:
            raise CheckpointError(
                f"{where} was trained before {_count(len(fresh), 'item')} of this catalog were added or "
                "changed; their text vectors come from the index: pass text_vectors (the Builder does)"
            )
        items = [item for item in catalog if item.id in fresh]
        try:
            vectors = np.asarray(text_vectors(Catalog(items), encoder), dtype=np.float32)
        except Exception as exc:  # the index lacks them (not built since), or is out of reach
            raise CheckpointError(
                f"{where}: {_count(len(items), 'new or changed item')} are served from their text, "
                f"but their text vectors could not be read ({exc})"
            ) from exc
        if vectors.shape != (len(items), old_text.shape[1]):
            raise CheckpointError(
                f"{where} reads {old_text.shape[1]}-d text vectors but the index gives "
                f"{vectors.shape[-1]}-d ones (another embedder). Retrain with: recchat train"
            )
        at = {item.id: r for r, item in enumerate(catalog, start=1)}
        text[[at[item.id] for item in items]] = torch.from_numpy(vectors)
    return {**state, "text": text, "id_embedding.weight": ids}
