"""LLM fine-tuning (recchat.tune): examples from training interactions only, a real LoRA step on the
real SmolLM2 that lowers the loss, the adapter and the merged folder round-trip and change the
label logprobs, bad flags are refused with clear errors. The merged model's run in the vLLM engine
is in test_vllm (one engine start serves both)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from conftest import listwise_prompt

from recchat.data.catalog import Catalog, InteractionLog
from recchat.data.split import leave_one_out
from recchat.tune import Example, TuneConfig, TuneError, build_examples, truncated_split
from recchat.types import Interaction, Item


def tiny_split():
    catalog = Catalog([Item(str(i), f"Film {i}", f"Film {i} (199{i % 10}). Genres: Drama.", {}) for i in range(30)])
    events = []
    for u in range(4):
        for n in range(8):
            events.append(Interaction(f"u{u}", str((u * 7 + n * 3) % 30), 4.0, float(n)))
    return leave_one_out(InteractionLog(events, None), catalog), catalog


class AllEqual:
    """A miner that scores every item the same, except that it loves item 0."""

    def __init__(self, n):
        self.n = n

    def score_histories(self, histories):
        out = np.zeros((len(histories), self.n))
        out[:, 0] = 1.0
        return out


@pytest.mark.fast
@pytest.mark.parametrize("negatives", ["random", "hard", "mixed"])
def test_examples_never_use_validation_or_test_interactions(negatives):
    split, _ = tiny_split()
    config = TuneConfig(positions=3, candidates=6, history=4, negatives=negatives)
    examples = build_examples(split, config, miner=AllEqual(split.n_items))
    assert len(examples) == 4 * 3
    for ex in examples:
        train = [int(i) for i in split.train[ex.user]]
        held_out = {int(split.valid[ex.user]), int(split.test[ex.user])} - set(train)
        target = ex.candidates[ex.label]
        assert ex.position >= len(train) - 3 and target == train[ex.position]
        assert ex.history == train[max(0, ex.position - 4) : ex.position]  # only earlier training items
        assert target not in held_out and not held_out & set(ex.history)  # never a target nor history
        assert len(set(ex.candidates)) == 6 and not set(
            ex.candidates[: ex.label] + ex.candidates[ex.label + 1 :]
        ) & set(train)
        if negatives != "random" and 0 not in train:
            assert 0 in ex.candidates  # the miner's favourite is a hard negative
    assert len({ex.label for ex in examples}) > 1  # the target's place is shuffled
    # The examples do not depend on the held-out interactions at all: change them, same examples.
    from dataclasses import replace

    moved = replace(
        split,
        valid=(split.valid + 1) % split.n_items,
        test=(split.test + 2) % split.n_items,
        valid_rating=split.valid_rating * 0,
        test_rating=split.test_rating * 0,
    )
    assert build_examples(moved, config, miner=AllEqual(split.n_items)) == examples


@pytest.mark.fast
def test_truncated_split_hides_the_example_positions_from_the_miner():
    split, _ = tiny_split()
    cut = truncated_split(split, 2)
    for full, short, v in zip(split.train, cut.train, cut.valid):
        assert list(short) == list(full[:-2]) and v == full[-2]
    assert (cut.test == -1).all()


@pytest.mark.fast
@pytest.mark.parametrize(
    "flag,value,message",
    [
        ("objective", "pairwise", "--objective 'pairwise': choose from listwise, pointwise"),
        ("negatives", "easy", "--negatives 'easy'"),
        ("candidates", 30, "--candidates must be between 2 and 20"),
        ("positions", 0, "--positions must be at least 1"),
        ("lora_dropout", 1.5, "--lora-dropout"),
    ],
)
def test_bad_settings_are_refused_with_the_flag_named(flag, value, message):
    config = TuneConfig(**{flag: value})
    with pytest.raises(TuneError, match=message.replace("(", r"\(").replace("[", r"\[")):
        config.check()


def test_cli_bad_flags_and_missing_base_model(tmp_path, capsys):
    from recchat.cli import main

    assert main(["tune-llm", "--candidates", "40"]) == 2
    assert "--candidates must be between 2 and 20" in capsys.readouterr().err
    assert main(["tune-llm", "--model", str(tmp_path / "nope"), "--scorer", str(tmp_path / "s.pt")]) == 2
    err = capsys.readouterr().err
    assert "no scorer checkpoint" in err or "no such folder" in err


@pytest.fixture(scope="module")
def lora_backend(llm_dir):
    from recchat.llm.transformers_backend import TransformersBackend
    from recchat.tune.training import _lora_model

    backend = TransformersBackend(llm_dir)
    backend.model = _lora_model(backend.model, TuneConfig(lora_r=8, targets="qv", top_layers=4))
    return backend


@pytest.mark.slow
@pytest.mark.parametrize("objective", ["listwise", "pointwise"])
def test_a_few_steps_on_a_fixed_batch_lower_the_loss(lora_backend, movielens, objective):
    import torch

    from recchat.tune import ExampleScorer

    catalog = movielens.catalog
    ids = [item.id for item in catalog]
    config = TuneConfig(objective=objective, candidates=4, history=3, lr=3e-3)
    scorer = ExampleScorer(lora_backend, catalog, ids, config, "movie")
    batch = [
        Example(0, 3, [0, 1, 2], [5.0, 4.0, math.nan], [10, 11, 12, 13], 2),
        Example(1, 3, [20, 21, 22], [3.0, 4.0, 5.0], [30, 31, 32, 33], 0),
    ]
    params = [p for p in lora_backend.model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.lr)
    before = [p.detach().clone() for p in params]
    losses = []
    lora_backend.model.train()
    for _ in range(4):
        optimizer.zero_grad()
        total = sum(scorer.loss(ex) for ex in batch) / len(batch)
        total.backward()
        optimizer.step()
        losses.append(float(total.detach()))
    lora_backend.model.eval()
    assert losses[-1] < losses[0] - 0.05, losses
    assert any(not torch.equal(a, b) for a, b in zip(before, params))
    with torch.no_grad():  # leave the shared model as it was for the next test
        for a, p in zip(before, params):
            p.copy_(a)


@pytest.mark.slow
def test_tune_run_writes_adapter_merged_model_and_record(tuned_run, llm_dir, movielens):
    """Checkpoints, resume refuses other settings, the merged folder loads without peft and its
    label logprobs differ from the base model's; the adapter on the base gives the merged numbers."""
    from recchat.llm import load_backend
    from recchat.rerank import TUNE_RECORD, Reranker
    from recchat.tune import tune

    catalog, out, config = movielens.catalog, tuned_run["out"], tuned_run["config"]
    record = json.loads((out / "tune.json").read_text())
    assert record["base_sha256"] and record["data_fingerprint"] and record["config"]["candidates"] == 8
    assert [p["examples"] for p in record["curve"]] == [0, 4, 6]
    assert (out / "adapter" / "adapter_config.json").is_file() and (out / "checkpoint" / "state.pt").is_file()
    assert (out / "model" / "model.safetensors").is_file() and (out / "model" / "tokenizer.json").is_file()
    assert tuned_run["result"].zero_shot_ndcg == record["zero_shot_valid_ndcg10"]
    split, scorer = tuned_run["split"], tuned_run["scorer"]
    with pytest.raises(TuneError, match="not empty: pass --resume"):
        tune(split, catalog, scorer, config, out, progress=False, log=lambda _: None)
    again = tune(split, catalog, scorer, config, out, resume=True, progress=False, log=lambda _: None)
    assert again.curve == tuned_run["result"].curve  # resumed at its end: nothing redone, nothing lost
    other = TuneConfig(**{**record["config"], "lr": 1e-3})
    with pytest.raises(TuneError, match="other settings \\(lr\\)"):
        tune(split, catalog, scorer, other, out, resume=True, progress=False, log=lambda _: None)

    # The merged folder is a plain model: no peft at inference, and it remembers its history length.
    tuned = load_backend("transformers", out / "model")
    assert not any("lora" in n for n, _ in tuned.model.named_parameters())
    assert json.loads((out / "model" / TUNE_RECORD).read_text())["config"]["history"] == 4
    assert Reranker(tuned, "listwise").history_limit == 4
    base = load_backend("transformers", llm_dir)
    prefix, suffix = listwise_prompt(catalog)
    a = base.label_logprobs(prefix, [suffix], list("ABCDE"))[0]
    b = tuned.label_logprobs(prefix, [suffix], list("ABCDE"))[0]
    if record["best"] is None:  # no validation gain: the kept adapter is the identity, the model the base
        assert max(abs(a[k] - b[k]) for k in a) < 1e-4

    # The last trained adapter round-trips: merged into a plain folder whose label logprobs differ
    # from the base's and equal the base plus the adapter.
    from peft import PeftModel

    from recchat.llm.transformers_backend import TransformersBackend

    folder = tuned_run["last"]
    merged = load_backend("transformers", folder / "model")
    m = merged.label_logprobs(prefix, [suffix], list("ABCDE"))[0]
    assert max(abs(a[k] - m[k]) for k in a) > 1e-3
    with_adapter = TransformersBackend(llm_dir)
    with_adapter.model = PeftModel.from_pretrained(with_adapter.model, folder / "adapter")
    c = with_adapter.label_logprobs(prefix, [suffix], list("ABCDE"))[0]
    assert max(abs(m[k] - c[k]) for k in a) < 1e-3
