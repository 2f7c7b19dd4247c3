"""The trained scorer on a slice of MovieLens-100K: it learns, it round-trips, it refuses another
catalog, it scores items nobody has seen, and its vectors go to Chroma."""

from __future__ import annotations

import numpy as np
import pytest

from recchat.data.catalog import Catalog, InteractionLog
from recchat.data.split import leave_one_out
from recchat.evaluation import rank_metrics, run_stage
from recchat.scorer import CheckpointError, Scorer, ScorerConfig, build_model, train, write_behaviour_index
from recchat.types import Item

SMALL = dict(dim=32, layers=1, heads=2, max_len=50, max_epochs=4, patience=4, batch_size=32, seed=0)
HELD_OUT = "1"  # Toy Story: every interaction with it is removed before training


@pytest.fixture(scope="module")
def text_vectors(movielens, embedder):
    texts = [item.text or " " for item in movielens.catalog]
    return embedder.encode(texts)


@pytest.fixture(scope="module")
def small_split(movielens):
    keep = set(movielens.interactions.users()[:250])
    log = InteractionLog(
        [i for i in movielens.interactions if i.user in keep and i.item != HELD_OUT], movielens.interactions.report
    )
    return leave_one_out(log, movielens.catalog)


@pytest.fixture(scope="module")
def trained(small_split, text_vectors, movielens):
    return train(small_split, text_vectors, movielens.catalog, ScorerConfig(**SMALL), progress=False)


def test_training_improves_validation_ndcg(small_split, text_vectors, movielens, trained):
    import torch

    torch.manual_seed(0)
    untrained = Scorer(
        build_model(small_split.n_items, text_vectors, ScorerConfig(**SMALL)),
        ScorerConfig(**SMALL),
        small_split.item_ids,
        movielens.catalog.fingerprint(),
    )
    before = rank_metrics(run_stage(untrained, small_split, "valid").ranks)["NDCG@10"]
    after = rank_metrics(run_stage(trained, small_split, "valid").ranks)["NDCG@10"]
    assert after > before + 0.02, (before, after)
    assert [h["epoch"] for h in trained.history] == [1, 2, 3, 4]
    assert all(np.isfinite(h["loss"]) for h in trained.history)


def test_checkpoint_round_trip(tmp_path, trained, movielens):
    path = trained.save(tmp_path / "scorer.pt")
    loaded = Scorer.load(path, catalog=movielens.catalog, device="cpu")
    history = ["50", "172", "181", "174"]
    items = ["1", "2", "100", "1682"]
    assert np.allclose(loaded.score(history, items), trained.score(history, items), atol=1e-5)
    assert loaded.config == trained.config and loaded.history == trained.history


def test_checkpoint_serves_a_changed_item_from_its_text_and_refuses_another_catalog(
    tmp_path, trained, movielens, embedder
):
    path = trained.save(tmp_path / "scorer.pt")
    changed = Catalog([*list(movielens.catalog)[:-1], Item("1682", "Changed", "Changed text")])
    loaded = Scorer.load(path, catalog=changed, text_vectors=lambda items, _: embedder.encode([i.text for i in items]))
    assert loaded.update is not None and loaded.update.changed == ["1682"] and len(loaded.update.kept) == 1681
    other = Catalog([Item(f"tt{i.id}", i.title, i.text, i.fields) for i in movielens.catalog])  # another id scheme
    with pytest.raises(CheckpointError, match="trained on a different catalog.*Retrain with: recchat train"):
        Scorer.load(path, catalog=other)
    with pytest.raises(CheckpointError, match="no scorer checkpoint at .*recchat train"):
        Scorer.load(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable scorer checkpoint"):
        Scorer.load(tmp_path / "junk.pt")


def test_topk_leaves_out_the_history_and_exclusions(trained):
    history = ["50", "172", "181"]
    top = trained.topk(history, k=10, exclude=["100"])
    ids = [c.item.id for c in top]
    assert len(ids) == 10 and not set(ids) & {"50", "172", "181", "100"}
    assert [c.score for c in top] == sorted((c.score for c in top), reverse=True)
    assert np.allclose([c.score for c in top], trained.score(history, ids), atol=1e-5)
    with pytest.raises(KeyError, match="unknown to this scorer"):
        trained.score(["no-such-item"], ["1"])


def test_an_item_nobody_saw_still_scores_like_its_genre(trained, movielens):
    """Toy Story had no training interactions: its vector comes from its text. For a history of
    animated children's films it must score above random vectors of the same length."""
    catalog = movielens.catalog
    genre = [
        i.id for i in catalog if {"Animation", "Children's"} <= set(i.fields.get("genres", [])) and i.id != HELD_OUT
    ][:10]
    user = trained.user_vectors([trained._indices(genre)])[0]
    vectors = trained.item_vectors()
    new = vectors[trained.position[HELD_OUT]]
    assert np.isfinite(new).all()
    rng = np.random.default_rng(0)
    random = rng.standard_normal((1000, len(new)))
    random *= np.linalg.norm(new) / np.linalg.norm(random, axis=1, keepdims=True)
    assert user @ new > np.percentile(random @ user, 99)
    # And it ranks better for that history than for a history of horror films.
    horror = [i.id for i in catalog if i.fields.get("genres") == ["Horror"]][:10]

    def share_above(history):
        scores = vectors @ trained.user_vectors([trained._indices(history)])[0]
        return (scores > scores[trained.position[HELD_OUT]]).mean()

    assert share_above(genre) < share_above(horror)


def test_sampled_softmax_path_trains(small_split, text_vectors, movielens):
    config = ScorerConfig(**{**SMALL, "max_epochs": 1, "full_softmax_max": 10, "sampled_negatives": 64})
    scorer = train(small_split, text_vectors, movielens.catalog, config, progress=False)
    assert np.isfinite(scorer.history[0]["loss"]) and scorer.history[0]["valid_ndcg10"] > 0


def test_item_vectors_go_to_chroma_and_come_back_by_behaviour(tmp_path, trained, movielens, embedder):
    from recchat.index import ItemIndex, ItemIndexError

    index = write_behaviour_index(trained, movielens.catalog, "ml-behaviour", path=tmp_path, progress=False)
    assert index.count() == len(movielens.catalog)
    history = ["50", "172", "181"]
    user = trained.user_vectors([trained._indices(history)])[0]
    found = index.query_vector(user, k=5, where="year<1980")
    assert found and all(c.item.fields["year"] < 1980 and c.source == "behaviour" for c in found)
    exact = trained.score(history, [c.item.id for c in found])
    assert np.allclose([c.score for c in found], exact, atol=1e-3)  # inner-product space
    # Writing again after retraining replaces the derived vectors; a text collection is never hit.
    write_behaviour_index(trained, movielens.catalog, "ml-behaviour", path=tmp_path, progress=False)
    text = ItemIndex("ml-text", path=tmp_path, embedder=embedder)
    text.build(list(movielens.catalog)[:5], progress=False)
    with pytest.raises(ItemIndexError, match="not a scorer's"):
        write_behaviour_index(trained, movielens.catalog, "ml-text", path=tmp_path, progress=False)
    assert text.count() == 5


def test_new_items_are_served_at_once_and_warm_started_through_the_cli(tmp_path, trained, movielens, embedder, capsys):
    """5% of MovieLens added since the scorer was trained: Recommender.from_config serves them from
    their text and says so, a chat turn works, and `recchat train --warm-start` (in-process)
    continues the checkpoint on the current catalog."""
    from recchat.cli import main
    from recchat.recommender import Recommender

    catalog = movielens.catalog
    new = {item.id for item in list(catalog)[::20]}  # 85 of 1,682
    earlier = Catalog([item for item in catalog if item.id not in new])
    old = Scorer.load(trained.save(tmp_path / "full.pt"), catalog=earlier).save(tmp_path / "old.pt")
    store = str(tmp_path / "index")
    config = {"scorer": {"checkpoint": str(old)}, "index": {"path": store}, "llm": {"backend": "none"}}
    rec = Recommender.from_config({**config, "profiles": str(tmp_path / "profiles")})
    assert rec.notes == [
        f"The scorer was trained on an earlier catalog: {len(new)} new items served from their text; "
        "retrain to learn from their interactions: recchat train --warm-start."
    ]
    history = ["50", "172", "181"]
    assert new & {c.item.id for c in rec.scorer.topk(history, k=200)}
    assert len(rec.recommend(history, k=10).candidates) == 10
    assert rec.chat().send("a space adventure like Star Wars").items
    from recchat.ui.app import build_app

    header = next(
        b.value for b in build_app(rec).blocks.values() if str(getattr(b, "value", "")).startswith("# recchat")
    )
    assert (
        "Note: The scorer was trained on an earlier catalog" in header and "new items served from their text" in header
    )
    code = main(
        ["train", "--warm-start", "--max-users", "120", "--max-epochs", "1", "--out", str(old), "--path", store]
    )
    out = capsys.readouterr().out
    assert code == 0 and f"warm start from {old}: 1,597 items keep their vectors, 85 new or changed items" in out
    after = Scorer.load(old, catalog=catalog)
    assert after.update is None and after.config.dim == trained.config.dim and after.history[0]["epoch"] == 0
