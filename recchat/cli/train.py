"""``recchat train``: index the catalog, train the two-tower scorer (from scratch, or continuing a
checkpoint with ``--warm-start``), save it and store its item vectors in Chroma. The parser is
registered with the other learning commands in :mod:`recchat.cli.learn`."""

from __future__ import annotations

import argparse
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recchat.cli.options import builder, limit_users

if TYPE_CHECKING:
    import torch

    from recchat.builder import Builder
    from recchat.data.catalog import Catalog
    from recchat.scorer import Scorer, ScorerConfig
    from recchat.scorer_update import TextVectors


def cmd_train(args: argparse.Namespace) -> int:
    """Build the index, train the two-tower scorer, save the checkpoint, store its item vectors in
    Chroma."""
    from recchat.scorer import ScorerConfig

    parts = builder(args)
    options = {k: v for k, v in vars(args).items() if k in ScorerConfig.__dataclass_fields__ and v is not None}
    warm = getattr(args, "warm_start", None)
    train_scorer(
        parts,
        None if warm is not None else ScorerConfig(**options),
        out=args.out,
        max_users=args.max_users,
        device=args.device,
        behaviour_collection=args.behaviour_collection,
        warm_start=None if warm is None else (Path(warm) if warm else (args.out or parts.config.checkpoint())),
        options=options,
    )
    if args.out is None:
        print(
            f"next: recchat ui{parts.config_flag()}   (the chat app; recchat eval{parts.config_flag()} "
            "measures the scorer against baselines)"
        )
    return 0


def train_scorer(
    parts: Builder,
    config: ScorerConfig | None = None,
    *,
    out: Path | None = None,
    max_users: int | None = None,
    device: str | None = None,
    behaviour_collection: str | None = None,
    warm_start: Path | None = None,
    options: Mapping[str, object] | None = None,
) -> Path:
    """Index the catalog, train on the leave-one-out split, save, and report; the checkpoint's path.

    ``warm_start``: a checkpoint to continue from, mapped onto the current catalog as serving
    maps it (recchat.scorer_update), with its configuration and ``options`` (training options
    such as lr or patience) instead of ``config``."""
    from recchat.data.split import leave_one_out
    from recchat.evaluation import rank_metrics, run_stage
    from recchat.retrieve import item_text_vectors, text_vectors_for
    from recchat.scorer import train, write_behaviour_index

    data = parts.dataset
    split = leave_one_out(limit_users(data.interactions, max_users), data.catalog)
    index = parts.index(build="always")
    started = time.perf_counter()
    init = None
    if warm_start is not None:
        mapped, init = warm_start_state(
            warm_start, data.catalog, lambda items, encoder: text_vectors_for(items, data.catalog, index, encoder)
        )
        config = warm_config(mapped.config, options or {})
        news = len(mapped.update.from_text) if mapped.update else 0
        print(
            f"warm start from {warm_start}: {len(data.catalog) - news:,} items keep their vectors, "
            f"{news:,} new or changed items start from their text"
        )
    encoder = config.text_encoder if config is not None else "minilm"
    vectors = item_text_vectors(data.catalog, index, encoder)
    scorer = train(split, vectors, data.catalog, config, device=device, init=init)
    seconds = time.perf_counter() - started
    best = max(scorer.history, key=lambda h: h["valid_ndcg10"])
    path = scorer.save(out or parts.config.checkpoint())
    test = rank_metrics(run_stage(scorer, split, "test").ranks)
    print(
        f"best epoch {best['epoch']} of {len(scorer.history)}: valid NDCG@10 {best['valid_ndcg10']:.4f} "
        f"(reached after {best['seconds']:.0f} s; {seconds:.0f} s in all)"
    )
    print(f"test NDCG@10 {test['NDCG@10']:.4f}, HR@10 {test['HR@10']:.4f}")
    print(f"checkpoint: {path}")
    idx = parts.config.index
    behaviour = write_behaviour_index(
        scorer,
        data.catalog,
        behaviour_collection or f"{parts.name}-behaviour",
        path=parts.config.resolve(idx.path),
        url=idx.url,
    )
    print(f"item vectors: Chroma collection {behaviour.name} ({behaviour.count()} items)")
    return path


def warm_start_state(
    checkpoint: Path | str, catalog: Catalog, text_vectors: TextVectors
) -> tuple[Scorer, dict[str, torch.Tensor]]:
    """The checkpoint mapped onto ``catalog`` as serving maps it (recchat.scorer_update), and its
    weights to continue training from: new items' id embeddings at zero, the rest as trained."""
    from recchat.scorer import Scorer

    scorer = Scorer.load(checkpoint, catalog=catalog, text_vectors=text_vectors, device="cpu")
    return scorer, {k: v.detach().clone() for k, v in scorer.model.state_dict().items()}


def warm_config(trained: ScorerConfig, options: Mapping[str, object]) -> ScorerConfig:
    """The checkpoint's configuration with the command line's training options (lr, patience,
    ...); an option that changes the network's shape cannot continue from it."""
    from dataclasses import replace

    shape = {"dim", "layers", "heads", "max_len", "text_encoder"}  # the network and what it reads
    clash = sorted(k for k in shape & set(options) if options[k] != getattr(trained, k))
    if clash:
        named = ", ".join("--" + k.replace("_", "-") for k in clash)
        raise ValueError(
            f"--warm-start continues the checkpoint's network; {named} would change its shape "
            "(leave them out, or train from scratch without --warm-start)"
        )
    kept: dict[str, Any] = {k: v for k, v in options.items() if k not in shape}  # ScorerConfig's own fields
    return replace(trained, **kept)
