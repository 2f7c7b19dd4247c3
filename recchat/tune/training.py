"""The LoRA training loop of ``recchat tune-llm``: the model, the loss of one example, the
validation that stops it early, checkpoints and the merged model (see :mod:`recchat.tune`)."""

from __future__ import annotations

import hashlib
import json
import math
import random
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from recchat.data.split import Split
from recchat.files import replacing_folder, settle_folder, write_atomic
from recchat.tune.examples import TARGET_MODULES, Example, TuneConfig, TuneError, build_examples, split_fingerprint

if TYPE_CHECKING:
    import torch
    from torch import nn

    from recchat.data.catalog import Catalog
    from recchat.evaluation import Ranker
    from recchat.llm.transformers_backend import TransformersBackend
    from recchat.rerank import ItemReranker

# --------------------------------------------------------------------------- model


def base_checksum(folder: Path) -> str:
    """sha256 over the model folder's weight and config files, in name order."""
    digest = hashlib.sha256()
    for path in sorted(folder.iterdir()):
        if path.is_file() and path.suffix in (".safetensors", ".json"):
            digest.update(path.name.encode())
            with open(path, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(block)
    return digest.hexdigest()


def _lora_model(model: nn.Module, config: TuneConfig) -> nn.Module:
    from peft import LoraConfig, get_peft_model

    n_layers = model.config.num_hidden_layers
    layers = list(range(n_layers - config.top_layers, n_layers)) if config.top_layers else None
    lora = LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=TARGET_MODULES[config.targets],
        layers_to_transform=layers,
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, lora)


class ExampleScorer:
    """Turns an :class:`Example` into candidate logits with the model, as the reranker would."""

    def __init__(
        self, backend: TransformersBackend, catalog: Catalog, item_ids: Sequence[str], config: TuneConfig, kind: str
    ):
        from recchat.rerank import Reranker

        self.backend, self.catalog, self.item_ids, self.config = backend, catalog, item_ids, config
        self.reranker = Reranker(backend, config.objective, kind=kind, history_limit=config.history)

    def _prompt(self, ex: Example) -> tuple[str, list[str]]:
        from recchat.types import Candidate

        r = self.reranker
        history = [self.catalog[self.item_ids[i]] for i in ex.history]
        ratings = [None if math.isnan(x) else x for x in ex.ratings]
        common = r._common(history, ratings, None)
        cands = [Candidate(self.catalog[self.item_ids[i]], 0.0, "tune") for i in ex.candidates]
        if self.config.objective == "listwise":
            labelled = r._labelled(cands)
            return r.template.prefix(**common, candidates=labelled), [r.template.suffix(candidates=labelled)]
        return r.template.prefix(**common), [
            r.template.suffix(candidate={"text": c.item.text or c.item.title}) for c in cands
        ]

    def loss(self, ex: Example) -> torch.Tensor:
        """The example's loss, with gradients through the model."""
        import torch

        prefix, suffixes = self._prompt(ex)
        if self.config.objective == "listwise":
            from recchat.rerank import LABELS

            labels = list(LABELS[: len(ex.candidates)])
            logits = self.backend.answer_logits(prefix, suffixes, grad=True)[0]
            ids = self.backend.chat.label_ids(labels)
            if self.config.label_loss == "candidates":
                return torch.nn.functional.cross_entropy(logits[ids][None], torch.tensor([ex.label]))
            return torch.nn.functional.cross_entropy(logits[None], torch.tensor([ids[ex.label]]))
        yes, no = self.backend.chat.label_ids(["Yes", "No"])
        logits = self.backend.answer_logits(prefix, suffixes, grad=True)
        logprobs = torch.log_softmax(logits, dim=-1)
        scores = logprobs[:, yes] - logprobs[:, no]
        return torch.nn.functional.cross_entropy(scores[None], torch.tensor([ex.label]))


# --------------------------------------------------------------------------- validation


def validation_users(split: Split, scorer: Ranker, n: int, candidates: int, seed: int) -> list[int]:
    """A fixed sample of validation users whose target is among the scorer's top candidates."""
    users = list(split.evaluated_users("valid"))
    random.Random(seed).shuffle(users)
    picked = []
    for start in range(0, len(users), 256):
        chunk = users[start : start + 256]
        scores = np.asarray(scorer.score_histories([split.history(u, "valid") for u in chunk]), dtype=np.float64)
        for row, u in zip(scores, chunk):
            row[split.history(u, "valid")] = -np.inf
            if split.valid[u] in np.argsort(-row, kind="stable")[:candidates]:
                picked.append(int(u))
                if len(picked) == n:
                    return picked
    return picked


def validation_ndcg(
    reranker: ItemReranker,
    split: Split,
    scorer: Ranker,
    catalog: Catalog,
    users: Sequence[int],
    candidates: int,
    alpha: float = 1.0,
) -> float:
    """NDCG@10 of the rerank of the scorer's top candidates on ``users``: the LLM alone (alpha 1)."""
    from recchat.evaluation import rerank_metrics, rerank_records

    records = rerank_records(split, scorer, reranker, catalog, "valid", users=users, k=candidates, progress=False)
    if sum(r.degraded for r in records) * 2 > len(records):
        first = next(r.error for r in records if r.degraded)
        raise TuneError(f"the LLM failed on most validation users during tuning: {first}")
    return rerank_metrics(records, alpha, "zscore")["all"]["NDCG@10"]


# --------------------------------------------------------------------------- training


@dataclass
class TuneResult:
    folder: Path
    best_ndcg: float
    zero_shot_ndcg: float
    best_examples: int
    curve: list[dict[str, float]] = field(default_factory=list)
    seconds_per_example: float = 0.0
    seconds_to_best: float = 0.0


def tune(
    split: Split,
    catalog: Catalog,
    scorer: Ranker,
    config: TuneConfig,
    out: Path | str,
    *,
    miner: Ranker | None = None,
    kind: str = "item",
    resume: bool = False,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> TuneResult:
    """Fine-tune, checkpointing into ``out``; see the module docstring."""
    import torch
    from tqdm.auto import tqdm

    from recchat.assets import AssetError, resolve_model
    from recchat.llm.transformers_backend import TransformersBackend
    from recchat.rerank import NO_LLM, Reranker

    config.check()
    try:
        base = resolve_model(config.base_model)
    except AssetError as exc:
        raise TuneError(f"base model: {exc}") from None
    out = Path(out)
    state_path = out / "checkpoint" / "state.pt"
    record_path = out / "tune.json"
    if out.exists() and any(out.iterdir()) and not resume:
        raise TuneError(f"{out} is not empty: pass --resume to continue its run, or choose another --out")
    if resume:
        if not state_path.is_file():
            raise TuneError(
                f"--resume: no checkpoint at {state_path} (the run stopped before its first "
                f"evaluation); delete {out} and start again"
            )
        for folder in ("adapter", "model"):  # a folder swap a crash interrupted is finished first
            settle_folder(out / folder)
        saved = json.loads(record_path.read_text())["config"]
        if saved != asdict(config):
            diff = sorted(k for k in saved if saved.get(k) != asdict(config).get(k))
            raise TuneError(
                f"--resume: the run in {out} used other settings ({', '.join(diff)}); "
                "repeat them or choose another --out"
            )
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(config.seed)
    if config.threads:
        torch.set_num_threads(config.threads)
    backend = TransformersBackend(base)
    backend.model = _lora_model(backend.model, config)
    examples = build_examples(split, config, miner)[: config.max_examples]
    scorer_for_prompts = ExampleScorer(backend, catalog, split.item_ids, config, kind)
    reranker = Reranker(backend, config.objective, kind=kind, history_limit=config.history)
    val = validation_users(split, scorer, config.val_users, config.val_candidates, config.seed)
    if not val:
        raise TuneError("no validation user has the target among the scorer's candidates; nothing to stop on")
    params = [p for p in backend.model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=0.0)
    record: dict[str, Any] = {
        "config": asdict(config),
        "base_model": str(base),
        "base_sha256": base_checksum(base),
        "data_fingerprint": split_fingerprint(split),
        "catalog_fingerprint": catalog.fingerprint(),
        "split": "leave-one-out by timestamp; examples from training interactions only "
        f"(last {config.positions} training positions per user)",
        "examples": len(examples),
        "validation_users": val,
        "trainable_parameters": sum(p.numel() for p in params),
        "curve": [],
        "best": None,
        "seconds": 0.0,
    }
    done, waited, best, seconds = 0, 0, -1.0, 0.0
    if resume:
        state = torch.load(state_path, weights_only=False)
        backend.model.load_state_dict(state["lora"], strict=False)
        optimizer.load_state_dict(state["optimizer"])
        done, waited, best, seconds = state["done"], state["waited"], state["best"], state["seconds"]
        # The record saved with the state matches it; tune.json may be one evaluation behind it
        # when the run was killed between the two writes.
        record = state.get("record") or json.loads(record_path.read_text())
        log(f"resuming after {done} examples (best validation NDCG@10 so far {best:.4f})")
    else:
        backend.model.eval()
        zero = validation_ndcg(reranker, split, scorer, catalog, val, config.val_candidates)
        record["zero_shot_valid_ndcg10"] = zero
        record["scorer_valid_ndcg10"] = validation_ndcg(NO_LLM, split, scorer, catalog, val, config.val_candidates)
        record["curve"].append({"examples": 0, "valid_ndcg10": zero, "loss": None, "seconds": 0.0})
        best = zero
        _save_adapter(backend.model, out / "adapter")
        log(
            f"zero-shot validation NDCG@10 {zero:.4f} on {len(val)} users (target among the scorer's "
            f"top {config.val_candidates}; the scorer's own order: {record['scorer_valid_ndcg10']:.4f})"
        )
        write_atomic(record_path, json.dumps(record, indent=2))
    bar = tqdm(total=len(examples), initial=done, desc="tuning the LLM", unit="ex", disable=not progress)
    losses: list[float] = []
    started = time.perf_counter() - seconds
    stopped = False
    while done < len(examples) and not stopped:
        backend.model.train()
        chunk = examples[done : done + config.accumulate]
        optimizer.zero_grad(set_to_none=True)
        for ex in chunk:
            loss = scorer_for_prompts.loss(ex) / len(chunk)
            loss.backward()
            losses.append(float(loss.detach()) * len(chunk))
        optimizer.step()
        before = done
        done += len(chunk)
        bar.update(len(chunk))
        bar.set_postfix(loss=f"{np.mean(losses[-50:]):.3f}", best=f"{best:.4f}")
        if done // config.eval_every > before // config.eval_every or done >= len(examples):
            backend.model.eval()
            ndcg = validation_ndcg(reranker, split, scorer, catalog, val, config.val_candidates)
            seconds = time.perf_counter() - started
            point = {
                "examples": done,
                "valid_ndcg10": ndcg,
                "loss": float(np.mean(losses[-config.eval_every :])),
                "seconds": seconds,
            }
            record["curve"].append(point)
            if ndcg > best:
                best, waited = ndcg, 0
                record["best"] = point
                _save_adapter(backend.model, out / "adapter")
            else:
                waited += 1
                stopped = waited >= config.patience
            log(
                f"after {done} examples: loss {point['loss']:.3f}, validation NDCG@10 {ndcg:.4f} "
                f"(best {best:.4f}){'; stopping early' if stopped else ''}"
            )
            lora_state = {k: v for k, v in backend.model.state_dict().items() if "lora_" in k}
            record["seconds"] = seconds
            state = {
                "lora": lora_state,
                "optimizer": optimizer.state_dict(),
                "done": done,
                "waited": waited,
                "best": best,
                "seconds": seconds,
                "record": record,
            }
            write_atomic(state_path, lambda f: torch.save(state, f))
            write_atomic(record_path, json.dumps(record, indent=2))
    bar.close()
    record["merged"] = str(out / "model")
    merge(out, base, record)
    write_atomic(record_path, json.dumps(record, indent=2))
    best_point = record["best"] or record["curve"][0]
    return TuneResult(
        out,
        best,
        record["zero_shot_valid_ndcg10"],
        best_point["examples"],
        record["curve"],
        record["seconds"] / max(1, done),
        best_point["seconds"],
    )


def _save_adapter(model: nn.Module, folder: Path) -> None:
    with replacing_folder(folder) as tmp:
        model.save_pretrained(tmp)


def merge(out: Path, base: Path, record: dict[str, object] | None = None) -> Path:
    """Merge ``out/adapter`` into the base model and write ``out/model``: a plain model folder
    (with the base's tokenizer files, and ``record`` as its tune record) that transformers and vLLM
    load with no peft. The folder appears complete or not at all."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    merged = PeftModel.from_pretrained(model, out / "adapter").merge_and_unload()
    from recchat.rerank import TUNE_RECORD

    target = out / "model"
    with replacing_folder(target) as tmp:
        merged.save_pretrained(tmp)
        for path in base.iterdir():
            if path.is_file() and (
                "token" in path.name or path.name in ("special_tokens_map.json", "chat_template.jinja")
            ):
                shutil.copy2(path, tmp / path.name)
        if record is not None:
            write_atomic(tmp / TUNE_RECORD, json.dumps(record, indent=2))
    return target
