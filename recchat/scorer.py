"""The trained scorer: a sequence-aware two-tower model, R(u, i) = <user(history), item(i)>.

- Item tower: a learned id embedding plus a learned projection of the item's MiniLM text vector.
  Because of the text part, an item nobody has interacted with still gets a meaningful vector;
  during training the id part is dropped at random (``id_dropout``) so the text part has to carry
  weight on its own.
- User tower: a small causal Transformer (SASRec-style) over the item vectors of the user's
  chronological history. A user is a history, not an id: a MovieLens user, a new user who named
  three films in a chat, and a sequence passed in by a caller are scored the same way.
- Training: softmax cross-entropy over the whole catalog at every position of every training
  sequence (sampled softmax above ``full_softmax_max`` items), early stopping on validation
  NDCG@10, fixed seeds.

The checkpoint is self-contained: weights, config, item ids, the text vectors, the catalog
fingerprint and a fingerprint of each item's text. Loaded against a catalog that changed since,
unchanged items keep their vectors and new or changed ones are served from their text
(:mod:`recchat.scorer_update`); against another catalog it is a clear error, not silent nonsense.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from recchat.data.catalog import Catalog
from recchat.data.split import Split
from recchat.evaluation import rank_metrics, run_stage
from recchat.files import write_atomic
from recchat.scorer_update import CheckpointError, plan_update, remap_state, text_hashes
from recchat.types import Candidate

if TYPE_CHECKING:
    import torch
    from torch import nn

    from recchat.index import ItemIndex
    from recchat.scorer_update import CatalogUpdate, TextVectors

# 2: item text fingerprints added (catalog updates without retraining); 1 is still read.
CHECKPOINT_VERSION = 2
READABLE_VERSIONS = (1, 2)


@dataclass
class ScorerConfig:
    dim: int = 64
    layers: int = 2
    heads: int = 2
    max_len: int = 100
    dropout: float = 0.2
    id_dropout: float = 0.1
    lr: float = 2e-3
    weight_decay: float = 0.0
    batch_size: int = 64
    max_epochs: int = 200
    patience: int = 8
    seed: int = 0
    full_softmax_max: int = 50_000
    sampled_negatives: int = 2048
    text_encoder: str = "minilm"  # the item text vectors: recchat.retrieve.item_text_vectors (recorded, not used here)


def _torch():
    import torch

    return torch


def build_model(n_items: int, text_vectors: np.ndarray, config: ScorerConfig) -> nn.Module:
    """The two-tower network. Item index 0 is padding; catalog item i is row i + 1."""
    import torch
    from torch import nn

    class TwoTower(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            d = config.dim
            text = np.zeros((n_items + 1, text_vectors.shape[1]), dtype=np.float32)
            text[1:] = text_vectors
            self.register_buffer("text", torch.from_numpy(text))
            self.id_embedding = nn.Embedding(n_items + 1, d, padding_idx=0)
            nn.init.normal_(self.id_embedding.weight, std=0.02)
            with torch.no_grad():
                self.id_embedding.weight[0].zero_()
            self.text_projection = nn.Linear(text_vectors.shape[1], d, bias=False)
            # Positions count back from the most recent item, so "last" always means the same.
            self.position = nn.Embedding(config.max_len, d)
            layer = nn.TransformerEncoderLayer(
                d, config.heads, 4 * d, config.dropout, batch_first=True, norm_first=True, activation="gelu"
            )
            self.encoder = nn.TransformerEncoder(layer, config.layers, enable_nested_tensor=False)
            self.norm = nn.LayerNorm(d)
            self.dropout = nn.Dropout(config.dropout)

        def item_vectors(self, id_keep: torch.Tensor | None = None) -> torch.Tensor:
            ids = self.id_embedding.weight
            if id_keep is not None:
                ids = ids * id_keep
            return ids + self.text_projection(self.text)

        def encode(self, seq: torch.Tensor, vectors: torch.Tensor) -> torch.Tensor:
            """Hidden state at every position of left-padded ``seq`` [B, L]."""
            length = seq.shape[1]
            positions = torch.arange(length - 1, -1, -1, device=seq.device).clamp(max=config.max_len - 1)
            x = vectors[seq] * math.sqrt(config.dim) + self.position(positions)[None]
            x = self.dropout(x)
            causal = torch.triu(torch.ones(length, length, dtype=torch.bool, device=seq.device), 1)
            blocked = causal[None] | (seq == 0)[:, None, :]
            # Padding positions see only themselves: a fully blocked row would give NaNs that
            # leak into real positions through the next layer.
            blocked &= ~torch.eye(length, dtype=torch.bool, device=seq.device)[None]
            h = self.encoder(x, mask=blocked.repeat_interleave(config.heads, 0))
            return self.norm(h)

    return TwoTower()


def _left_pad(seqs: Sequence[np.ndarray], length: int) -> np.ndarray:
    out = np.zeros((len(seqs), length), dtype=np.int64)
    for r, s in enumerate(seqs):
        s = np.asarray(s)[-length:] + 1  # catalog index -> model index
        if len(s):
            out[r, -len(s) :] = s
    return out


class ItemScorer(Protocol):
    """What the recommender needs of a scorer (the trained one, or a ``recchat.scorers`` plugin)."""

    def knows(self, item_id: str) -> bool: ...

    def score(self, history: Sequence[str], item_ids: Sequence[str]) -> np.ndarray: ...

    def topk(self, history: Sequence[str], k: int = 10, exclude: Sequence[str] = ()) -> list[Candidate]: ...


class Scorer:
    """A trained two-tower scorer over one catalog.

    >>> scorer = Scorer.load("scorer.pt", catalog=catalog)
    >>> scorer.score(["50", "172", "181"], ["1", "2"])       # scores of items 1 and 2
    >>> scorer.topk(["50", "172", "181"], k=10)               # Candidates, history excluded
    """

    name = "scorer"

    def __init__(
        self,
        model: nn.Module,
        config: ScorerConfig,
        item_ids: list[str],
        fingerprint: str,
        catalog: Catalog | None = None,
        history: list[dict[str, float]] | None = None,
        text_hashes: list[str] | None = None,
    ):
        self.model = model.eval()
        self.config = config
        self.item_ids = item_ids
        self.position = {item_id: i for i, item_id in enumerate(item_ids)}
        self.fingerprint = fingerprint
        self.catalog = catalog
        self.history = history or []
        self.text_hashes = text_hashes
        # How the catalog differs from the one trained on (None: the same catalog).
        self.update: CatalogUpdate | None = None
        self._vectors: torch.Tensor | None = None

    # -- scoring ----------------------------------------------------------------------

    def item_vectors(self) -> np.ndarray:
        """The learned item vectors, in catalog order (what the behaviour collection stores)."""
        return self._item_vectors()[1:].cpu().numpy()

    def _item_vectors(self) -> torch.Tensor:
        if self._vectors is None:
            with _torch().inference_mode():
                self._vectors = self.model.item_vectors()
        return self._vectors

    def user_vectors(self, histories: Sequence[np.ndarray]) -> np.ndarray:
        """One vector per history (catalog indices, oldest first)."""
        torch = _torch()
        device = self._vectors_device()
        seq = torch.from_numpy(_left_pad(histories, self.config.max_len)).to(device)
        with torch.inference_mode():
            h = self.model.encode(seq, self._item_vectors())[:, -1]
        return h.cpu().numpy()

    def _vectors_device(self) -> torch.device:
        return next(self.model.parameters()).device

    def score_histories(self, histories: Sequence[np.ndarray]) -> np.ndarray:
        """Scores of every catalog item for each history (the evaluation protocol's Ranker)."""
        return self.user_vectors(histories) @ self.item_vectors().T

    def fit(self, split: Split) -> None:
        if split.item_ids != self.item_ids:
            raise CheckpointError("this scorer was trained on another catalog's items")

    def knows(self, item_id: str) -> bool:
        return item_id in self.position

    def _indices(self, item_ids: Sequence[str]) -> np.ndarray:
        missing = [i for i in item_ids if i not in self.position]
        if missing:
            raise KeyError(f"{len(missing)} items are unknown to this scorer (first: '{missing[0]}')")
        return np.array([self.position[i] for i in item_ids], dtype=np.int64)

    def score(self, history: Sequence[str], item_ids: Sequence[str]) -> np.ndarray:
        """Scores of ``item_ids`` for a user whose history is ``history`` (item ids, oldest first)."""
        user = self.user_vectors([self._indices(history)])[0]
        return self.item_vectors()[self._indices(item_ids)] @ user

    def topk(self, history: Sequence[str], k: int = 10, exclude: Sequence[str] = ()) -> list[Candidate]:
        """The ``k`` best items for ``history``; the history itself and ``exclude`` are left out."""
        if self.catalog is None:
            raise CheckpointError("topk needs the catalog: Scorer.load(path, catalog=...)")
        scores = self.score_histories([self._indices(history)])[0].astype(np.float64)
        scores[self._indices([*history, *exclude])] = -np.inf
        k = min(k, int(np.isfinite(scores).sum()))
        top = np.argsort(-scores, kind="stable")[:k]
        return [
            Candidate(self.catalog[self.item_ids[i]], float(scores[i]), "scorer", {"scorer": float(scores[i])})
            for i in top
        ]

    # -- persistence ------------------------------------------------------------------

    def save(self, path: Path | str) -> Path:
        torch = _torch()
        hashes = self.text_hashes
        if hashes is None and self.catalog is not None:
            hashes = text_hashes(self.catalog, self.item_ids)
        payload = {
            "version": CHECKPOINT_VERSION,
            "config": asdict(self.config),
            "item_ids": self.item_ids,
            "text_hashes": hashes,
            "fingerprint": self.fingerprint,
            "state": {k: v.cpu() for k, v in self.model.state_dict().items()},
            "history": self.history,
        }
        # A kill during the save leaves the previous checkpoint, never half of this one.
        return write_atomic(path, lambda f: torch.save(payload, f))

    @classmethod
    def load(
        cls,
        path: Path | str,
        catalog: Catalog | None = None,
        device: str | None = None,
        text_vectors: TextVectors | None = None,
    ) -> Scorer:
        """Load a checkpoint. With ``catalog``, the catalog it was trained on loads as saved; one
        that changed since loads mapped onto it (:mod:`recchat.scorer_update`: new and changed
        items served from their text, whose vectors ``text_vectors`` gives; ``scorer.update``
        says what changed); another catalog is a CheckpointError."""
        torch = _torch()
        path = Path(path)
        if not path.is_file():
            raise CheckpointError(f"no scorer checkpoint at {path}; train one with: recchat train")
        try:
            payload = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            first = str(exc).split(". ")[0]  # torch's messages go on for a paragraph
            raise CheckpointError(
                f"{path} is not a readable scorer checkpoint ({first}): it is damaged or "
                "not a checkpoint; train one again with: recchat train"
            ) from None
        version = payload.get("version") if isinstance(payload, dict) else None
        if version not in READABLE_VERSIONS:
            raise CheckpointError(
                f"{path} has checkpoint version {version}, "
                f"this recchat reads versions up to {CHECKPOINT_VERSION}; retrain with: recchat train"
            )
        update = None
        try:
            item_ids, fingerprint, state = list(payload["item_ids"]), payload["fingerprint"], payload["state"]
            config = ScorerConfig(**payload["config"])
            hashes = payload.get("text_hashes")  # None in version 1
            if catalog is not None and hashes is None and catalog.fingerprint() != fingerprint:
                raise CheckpointError(
                    f"{path} was trained on a different catalog (fingerprint {fingerprint}, "
                    f"{len(item_ids)} items) than the one given (fingerprint "
                    f"{catalog.fingerprint()}, {len(catalog)} items). Retrain with: recchat train"
                )
            if (
                catalog is not None
                and hashes is not None
                and (catalog.fingerprint() != fingerprint or item_ids != [item.id for item in catalog])
            ):
                update = plan_update(item_ids, hashes, catalog, where=str(path))
                state = remap_state(
                    state, item_ids, update, catalog, text_vectors, encoder=config.text_encoder, where=str(path)
                )
                item_ids, hashes, fingerprint = (
                    [item.id for item in catalog],
                    text_hashes(catalog),
                    catalog.fingerprint(),
                )
            model = build_model(len(item_ids), state["text"][1:].numpy(), config)
            model.load_state_dict(state)
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:  # a payload with parts missing or misshapen
            if isinstance(exc, CheckpointError):
                raise
            raise CheckpointError(
                f"{path} is an incomplete scorer checkpoint ({type(exc).__name__}: "
                f"{str(exc)[:200]}); retrain with: recchat train"
            ) from None
        model.to(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        scorer = cls(model, config, item_ids, fingerprint, catalog, payload.get("history"), hashes)
        scorer.update = update if update and (update.from_text or update.removed) else None  # not a reorder
        return scorer


# --------------------------------------------------------------------------- training


def _seed(seed: int) -> None:
    torch = _torch()
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def train(
    split: Split,
    text_vectors: np.ndarray,
    catalog: Catalog,
    config: ScorerConfig | None = None,
    *,
    progress: bool = True,
    device: str | None = None,
    log: Callable[[str], None] | None = None,
    init: Mapping[str, torch.Tensor] | None = None,
) -> Scorer:
    """Train on ``split.train``, early-stop on validation NDCG@10, return the best scorer.

    ``init``: weights to continue from (a warm start, :func:`recchat.cli.train.warm_start_state`),
    measured on validation first as epoch 0, so training keeps them unless an epoch beats them."""
    torch = _torch()
    from tqdm.auto import tqdm

    config = config or ScorerConfig()
    _seed(config.seed)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    n_items = split.n_items
    model = build_model(n_items, text_vectors, config)
    if init is not None:
        model.load_state_dict({**init, "text": model.text})  # the text vectors are the index's now
    model.to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    # Each training example is a user's training sequence: inputs all but the last item, targets
    # all but the first, so every position predicts the next item.
    seqs = [s for s in split.train if len(s) >= 2]
    full = n_items <= config.full_softmax_max
    scorer = Scorer(model, config, split.item_ids, catalog.fingerprint(), catalog)
    best_ndcg, best_state, best_epoch, waited = -1.0, None, 0, 0
    history: list[dict[str, float]] = []
    started = time.perf_counter()
    if init is not None:
        model.eval()
        best_ndcg = rank_metrics(run_stage(scorer, split, "valid").ranks)["NDCG@10"]
        best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        history.append({"epoch": 0, "valid_ndcg10": best_ndcg, "seconds": 0.0, "best": 1.0})  # no step yet
    bar = tqdm(range(1, config.max_epochs + 1), desc="training scorer", unit="epoch", disable=not progress)
    generator = np.random.default_rng(config.seed)
    for epoch in bar:
        model.train()
        order = generator.permutation(len(seqs))
        total, count = 0.0, 0
        for start in range(0, len(order), config.batch_size):
            batch = [seqs[i] for i in order[start : start + config.batch_size]]
            padded = torch.from_numpy(_left_pad(batch, config.max_len + 1)).to(device)
            inputs, targets = padded[:, :-1], padded[:, 1:]
            keep = None
            if config.id_dropout > 0:
                keep = (torch.rand(n_items + 1, 1, device=device) >= config.id_dropout).float()
            vectors = model.item_vectors(keep)
            hidden = model.encode(inputs, vectors)
            valid = targets > 0
            h, t = hidden[valid], targets[valid]
            if full:
                logits = h @ vectors[1:].T
                loss = torch.nn.functional.cross_entropy(logits, t - 1)
            else:
                negatives = torch.randint(1, n_items + 1, (config.sampled_negatives,), device=device)
                pos = (h * vectors[t]).sum(-1, keepdim=True)
                neg = h @ vectors[negatives].T
                neg = neg.masked_fill(negatives[None, :] == t[:, None], float("-inf"))
                loss = torch.nn.functional.cross_entropy(
                    torch.cat([pos, neg], 1), torch.zeros(len(t), dtype=torch.long, device=device)
                )
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(t)
            count += len(t)
        model.eval()
        scorer._vectors = None
        ranks = run_stage(scorer, split, "valid").ranks
        ndcg = rank_metrics(ranks)["NDCG@10"]
        history.append(
            {
                "epoch": epoch,
                "loss": total / max(count, 1),
                "valid_ndcg10": ndcg,
                "seconds": time.perf_counter() - started,
            }
        )
        if ndcg > best_ndcg:
            best_ndcg, best_epoch, waited = ndcg, epoch, 0
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            history[-1]["best"] = 1.0
        else:
            waited += 1
        bar.set_postfix(
            loss=f"{total / max(count, 1):.3f}", val_ndcg10=f"{ndcg:.4f}", best=f"{best_ndcg:.4f}@{best_epoch}"
        )
        if log:
            log(json.dumps(history[-1]))
        if waited >= config.patience:
            break
    bar.close()
    model.load_state_dict(best_state)
    model.eval()
    scorer._vectors = None
    scorer.history = history
    scorer.text_hashes = text_hashes(catalog, split.item_ids)
    return scorer


# --------------------------------------------------------------------------- behaviour collection


def behaviour_identity(scorer: Scorer) -> str:
    """Names the vectors a behaviour collection holds, so stale vectors are never mixed in."""
    import hashlib

    digest = hashlib.sha256(scorer.item_vectors().tobytes()).hexdigest()[:16]
    return f"recchat-scorer:{scorer.fingerprint}:{digest}"


def write_behaviour_index(
    scorer: Scorer,
    catalog: Catalog,
    collection: str,
    *,
    path: str | Path | None = None,
    url: str | None = None,
    progress: bool = True,
) -> ItemIndex:
    """Store the learned item vectors in a Chroma collection (inner-product space).

    Then candidates can be retrieved by behaviour with Chroma's filters:
    ``index.query_vector(scorer.user_vectors([history])[0], k=50, where="year<1980")``.
    The collection is derived data: if it holds another checkpoint's vectors it is replaced.
    """
    from recchat.index import ItemIndex, ItemIndexError, connect

    client = connect(path, url)
    identity = behaviour_identity(scorer)
    try:
        index = ItemIndex(collection, client=client, vectors=identity)
    except ItemIndexError:
        held = (client.get_collection(collection).metadata or {}).get("recchat_embedder", "")
        if not str(held).startswith("recchat-scorer:"):
            raise ItemIndexError(
                f"collection '{collection}' holds '{held}' vectors, not a scorer's; "
                "name another collection for the behaviour vectors"
            ) from None
        client.delete_collection(collection)  # an older checkpoint's vectors: derived, replaceable
        index = ItemIndex(collection, client=client, vectors=identity)
    index.upsert_vectors([catalog[i] for i in scorer.item_ids], scorer.item_vectors(), progress=progress)
    return index
