"""Catalog updates without retraining (recchat.scorer_update), on the dozen tiny films: a trained
scorer loaded against a catalog with added, changed and removed items keeps the known items'
vectors, serves the others from their text and says so; another catalog is still refused; a
version-1 checkpoint still loads; ``--warm-start`` carries the weights over."""

from __future__ import annotations

import argparse
import csv

import numpy as np
import pytest
import torch
from fakes import HashEmbedder, tiny_config, tiny_index

from recchat.builder import Builder
from recchat.cli.train import cmd_train, warm_config, warm_start_state
from recchat.data.catalog import Catalog, InteractionLog
from recchat.data.split import leave_one_out
from recchat.recommender import Recommender
from recchat.retrieve import item_text_vectors
from recchat.scorer import CheckpointError, Scorer, ScorerConfig, train
from recchat.scorer_update import CatalogUpdate, plan_update, text_hash
from recchat.types import Item

pytestmark = pytest.mark.fast

TINY = dict(dim=8, layers=1, heads=1, max_len=8, max_epochs=2, patience=2, batch_size=8, seed=0)


def hashed(items: Catalog, encoder: str = "minilm") -> np.ndarray:
    """The fake embedder's text vectors (what the index would hold), in the catalog's order."""
    return HashEmbedder().encode([item.text for item in items])


@pytest.fixture
def trained(tiny, tmp_path):
    split = leave_one_out(tiny.dataset.interactions, tiny.catalog)
    scorer = train(split, hashed(tiny.catalog), tiny.catalog, ScorerConfig(**TINY), progress=False, device="cpu")
    return scorer, scorer.save(tmp_path / "scorer.pt")


def updated(catalog: Catalog) -> Catalog:
    """The tiny catalog a week later: Alien's text rewritten, The Godfather gone, two films new."""
    items = [item for item in catalog if item.id != "12"]
    items = [Item(i.id, i.title, i.text + " (director's cut)", i.fields) if i.id == "7" else i for i in items]
    return Catalog([*items, Item("13", "Heat", "Heat (1995) Crime Thriller", {}), Item("14", "Up", "Up (2009)", {})])


def test_added_changed_and_removed_items_map_onto_the_current_catalog(trained, tiny):
    scorer, path = trained
    now = updated(tiny.catalog)
    loaded = Scorer.load(path, catalog=now, text_vectors=hashed, device="cpu")
    update = loaded.update
    assert update is not None
    assert (update.kept, update.added, update.changed, update.removed) == (
        [i for i in [item.id for item in tiny.catalog] if i not in ("7", "12")],
        ["13", "14"],
        ["7"],
        ["12"],
    )
    # The scorer covers exactly the current catalog, in its order.
    assert loaded.item_ids == [item.id for item in now] and loaded.fingerprint == now.fingerprint()
    assert not loaded.knows("12") and loaded.knows("13")
    old, new = scorer.item_vectors(), loaded.item_vectors()
    for item_id in update.kept:  # unchanged items keep their learned vectors
        assert np.allclose(new[loaded.position[item_id]], old[scorer.position[item_id]], atol=1e-6)
    with torch.no_grad():  # new and changed items: the item tower's text part alone
        text_only = loaded.model.text_projection(torch.from_numpy(hashed(Catalog([now[i] for i in update.from_text]))))
    assert np.allclose(new[[loaded.position[i] for i in update.from_text]], text_only.numpy(), atol=1e-6)
    assert not np.allclose(new[loaded.position["7"]], old[scorer.position["7"]])
    # New items are recommendable at once; a removed one never comes back.
    top = [c.item.id for c in loaded.topk(["1", "2"], k=11)]
    assert {"13", "14"} <= set(top) and "12" not in top
    assert loaded.score(["1", "2"], ["13", "14"]).shape == (2,)
    # Saved again, it is a checkpoint of the current catalog (a fingerprint per current item).
    again = Scorer.load(loaded.save(path.with_name("again.pt")), catalog=now, device="cpu")
    assert again.update is None and again.text_hashes == [text_hash(item.text) for item in now]


def test_the_note_says_what_happened():
    update = CatalogUpdate(trained=9066, kept=["1"] * 9000, added=[str(i) for i in range(120)], removed=["x"] * 3)
    assert update.note() == (
        "The scorer was trained on an earlier catalog: 120 new items served from their text; 3 removed items "
        "left out; retrain to learn from their interactions: recchat train --warm-start."
    )
    one = CatalogUpdate(trained=3, kept=["1", "2"], added=["4"], changed=["3"])
    assert one.note("recchat train --warm-start --config x.toml").startswith(
        "The scorer was trained on an earlier catalog: 1 new item and 1 changed item served from their text; "
    )
    assert CatalogUpdate(trained=3, kept=["1", "2"], removed=["3"]).note().endswith("1 removed item left out.")


def test_another_catalog_is_still_refused(trained, tiny):
    _, path = trained
    films = list(tiny.catalog)
    renumbered = Catalog([Item(f"m{i.id}", i.title, i.text, i.fields) for i in films])  # another id scheme
    with pytest.raises(
        CheckpointError, match=r"trained on a different catalog.*only 0 of.*Retrain with: recchat train"
    ):
        Scorer.load(path, catalog=renumbered, text_vectors=hashed)
    # The rule: at least half of the current items known with the same text. 12 known of 24 passes,
    # 12 of 25 does not; 6 of 12 with the other 6 retitled passes, 5 of 12 does not.
    more = [Item(str(100 + n), f"New {n}", f"New film {n}", {}) for n in range(13)]
    assert Scorer.load(path, catalog=Catalog([*films, *more[:12]]), text_vectors=hashed).update is not None
    with pytest.raises(CheckpointError, match="only 12 of the given items"):
        Scorer.load(path, catalog=Catalog([*films, *more]), text_vectors=hashed)
    retitled = [Item(i.id, i.title, "other " + i.text, i.fields) for i in films]
    assert Scorer.load(path, catalog=Catalog([*films[:6], *retitled[6:]]), text_vectors=hashed).update is not None
    with pytest.raises(CheckpointError, match="only 5 of the given items"):
        plan_update([i.id for i in films], [text_hash(i.text) for i in films], Catalog([*films[:5], *retitled[5:]]))
    # Another embedder (vectors of another size), or no way to get the new items' vectors: refused.
    with pytest.raises(CheckpointError, match="16-d ones .another embedder.. Retrain"):
        Scorer.load(path, catalog=updated(tiny.catalog), text_vectors=lambda c, _: hashed(c)[:, :16])
    reordered = Scorer.load(path, catalog=Catalog(films[::-1]))  # the same items in another order
    assert reordered.update is None and reordered.item_ids == [i.id for i in films[::-1]]
    assert np.allclose(reordered.score(["1"], ["2", "3"]), Scorer.load(path).score(["1"], ["2", "3"]), atol=1e-5)
    with pytest.raises(CheckpointError, match="pass text_vectors"):
        Scorer.load(path, catalog=updated(tiny.catalog))

    def unindexed(items: Catalog, encoder: str) -> np.ndarray:
        raise RuntimeError("2 items are not in 'tiny-items' (first: 13); run recchat index build")

    with pytest.raises(CheckpointError, match="could not be read.*run recchat index build"):
        Scorer.load(path, catalog=updated(tiny.catalog), text_vectors=unindexed)


def test_a_version_1_checkpoint_loads_as_before_or_is_refused(trained, tiny, tmp_path):
    scorer, path = trained
    payload = torch.load(path, weights_only=True)
    payload["version"] = 1
    del payload["text_hashes"]
    old = tmp_path / "v1.pt"
    torch.save(payload, old)
    loaded = Scorer.load(old, catalog=tiny.catalog, device="cpu")  # the same catalog: as before
    assert loaded.update is None and np.allclose(loaded.item_vectors(), scorer.item_vectors(), atol=1e-6)
    with pytest.raises(CheckpointError, match=r"different catalog \(fingerprint .*Retrain with: recchat train"):
        Scorer.load(old, catalog=updated(tiny.catalog), text_vectors=hashed)
    payload["version"] = 3
    torch.save(payload, old)
    with pytest.raises(CheckpointError, match="version 3, this recchat reads versions up to 2"):
        Scorer.load(old)


def test_warm_start_carries_the_weights_over(trained, tiny):
    scorer, path = trained
    now = updated(tiny.catalog)
    mapped, state = warm_start_state(path, now, hashed)
    assert mapped.update is not None and mapped.update.added == ["13", "14"]
    rows = [mapped.position[i] + 1 for i in mapped.update.from_text]
    assert torch.count_nonzero(state["id_embedding.weight"][rows]) == 0  # new items start from their text
    kept = scorer.position["1"] + 1
    assert torch.equal(
        state["id_embedding.weight"][mapped.position["1"] + 1], scorer.model.state_dict()["id_embedding.weight"][kept]
    )
    interactions = tiny.dataset.interactions
    log = InteractionLog([i for i in interactions if i.item in now], interactions.report)  # The Godfather gone
    split = leave_one_out(log, now)
    # lr 0: one epoch changes nothing, so every weight is the checkpoint's (mapped) one.
    config = warm_config(mapped.config, {"lr": 0.0, "max_epochs": 1})
    warm = train(split, hashed(now), now, config, progress=False, device="cpu", init=state)
    assert [h["epoch"] for h in warm.history] == [0, 1]  # the starting point is measured first
    for key, value in warm.model.state_dict().items():
        assert torch.allclose(value, state[key], atol=1e-6), key
    with pytest.raises(ValueError, match="--dim would change its shape"):
        warm_config(mapped.config, {"dim": 16, "lr": 0.01})
    assert warm_config(mapped.config, {"dim": mapped.config.dim, "patience": 3}).patience == 3


def _add_films(films_csv, rows):
    with open(films_csv, "a", newline="") as fh:
        csv.writer(fh).writerows(rows)


def test_the_builder_serves_new_items_and_says_so(tmp_path, monkeypatch):
    config = tiny_config(tmp_path / "shop")
    first = Builder(config, log=lambda _: None)
    split = leave_one_out(first.dataset.interactions, first.catalog)
    train(split, hashed(first.catalog), first.catalog, ScorerConfig(**TINY), progress=False, device="cpu").save(
        config["scorer"]["checkpoint"]
    )
    _add_films(config["catalog"]["path"], [("13", "Heat", "Crime|Thriller", 1995), ("14", "Up", "Animation", 2009)])
    logged: list[str] = []
    parts = Builder(config, log=logged.append)
    index = tiny_index(parts.catalog, tmp_path / "index")  # `recchat index build`, with the fake embedder
    monkeypatch.setattr(parts, "index", lambda **_: index)
    scorer = parts.scorer()
    assert isinstance(scorer, Scorer) and scorer.knows("13")
    note = "The scorer was trained on an earlier catalog: 2 new items served from their text"
    assert parts.notes[0].startswith(note) and parts.notes[0].endswith("recchat train --warm-start.")
    assert [line for line in logged if line.startswith("note: ")] == [f"note: {parts.notes[0]}"]
    parts.scorer()  # loaded again: said once
    assert len(parts.notes) == 1
    rec = Recommender.from_config(parts)
    assert rec.notes == parts.notes
    assert {"13", "14"} & set(rec.recommend(["1", "2", "3"], k=12).ids())
    # recchat train --warm-start continues from the checkpoint on the current catalog and log.
    args = argparse.Namespace(
        **{k: None for k in ScorerConfig.__dataclass_fields__},
        out=None,
        max_users=None,
        device="cpu",
        behaviour_collection=None,
        warm_start="",
        config=None,
    )
    args.max_epochs, args.lr = 1, 0.01
    monkeypatch.setattr("recchat.cli.train.builder", lambda _: parts)
    monkeypatch.setattr("recchat.scorer.write_behaviour_index", lambda *a, **k: index)
    assert cmd_train(args) == 0
    after = Scorer.load(config["scorer"]["checkpoint"], catalog=parts.catalog)
    assert after.update is None and after.knows("14") and after.config.dim == TINY["dim"]
    assert [h["epoch"] for h in after.history] == [0, 1]
    assert item_text_vectors(parts.catalog, index).shape == (14, 32)
