"""Benchmark title linking: which catalog items a chat message names.

Runs the old linker (recchat.conversation.understand.TitleResolver, the baseline) and the new one
(recchat.conversation.link.Linker, the contender, when it can be imported) over hand-written sentences, on
each catalog, in the same run:

- ``movielens``: MovieLens-100K as its users download it, a CSV ``movieId,title,genres`` with
  titles like "Godfather, The (1972)" (articles left where MovieLens puts them); popularity =
  ratings per item from ml-100k.inter (the `movielens-100k` asset must be fetched).
- ``books``: the generated books sample (tests/books.py, its default 2,400 books), configured as
  tests/test_scenarios.py's books fixture; popularity = reads per book.
- ``films``: the `omdb-films` asset's films.csv (17,472 films, 1940-2014); no interaction log, so
  popularity is the critic review count (``[domain] popularity = "reviews"``).

Sentences: bench/linking/{movielens,books,films}.jsonl, one object a line,
``{"text": ..., "items": [ids the sentence names], "split": "dev" | "held"}``; an empty ``items``
is a title-free sentence. bench/linking/fresh/*.jsonl (split "fresh") were written later, by a
writer who had not read the linker, and kept aside while its rules changed: the honest measure.
bench/linking/fresh2/*.jsonl (split "fresh2", 80 naming and 30 title-free sentences per catalog)
were written the same way during the third round, by a writer who read only the catalogs, and
first run halfway through that round; bench/linking/fresh3/*.jsonl (split "fresh3", 60 naming and
25 title-free per catalog, by another such writer) were first run once the round's rules were final;
in the fourth round, fresh4, fresh5 (80 naming and 30 title-free per catalog), fresh6 and fresh7
(60 and 25), each by new such writers, were each first run after one step of its rules
(bench/RESULTS.md).
A missing asset or sentence file skips that catalog, with a message.

Per catalog and linker, over --split:

- recall: named items found / named items (title-naming sentences);
- precision: correct links / all links on the title-naming sentences (an item linked twice in
  one sentence counts once);
- false links: items linked on the title-free sentences, and in how many of them;
- time per message, p50 / p95 ms, over --repeat passes, each on a linker built afresh and warmed
  up on other messages (so per-word caches never hold a timed message's words); the linker's
  build time is reported separately.

--errors lists each miss and each false link. --scale times the contender on catalogs of 10,000
and 100,000 real titles (MovieLens-100K + the omdb films + generated books, as many as needed)
with the movielens and films sentences. Targets are printed, never enforced: the exit status is
non-zero only when something fails to run (a linker raising, a malformed sentence file).

    bash .ci/env python bench/linking.py                          # all catalogs, all sentences
    bash .ci/env python bench/linking.py --catalog movielens --split dev --errors
    bash .ci/env python bench/linking.py --catalog movielens --scale
"""

from __future__ import annotations

import argparse
import csv
import gc
import json
import os
import platform
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SENTENCES = Path(__file__).resolve().parent / "linking"
CATALOGS = ("movielens", "books", "films")
SCALES = (10_000, 100_000)
BOOKS_PER_SEED = 20_000
TARGETS = {"recall": 0.95, "precision": 0.98, "false_per_50": 1.0, "p95_ms": {10_000: 20.0, 100_000: 100.0}}


class Skip(Exception):
    """A catalog that cannot be benchmarked here (a missing asset or sentence file)."""


# --------------------------------------------------------------------------- catalogs


@dataclass
class Setup:
    name: str
    catalog: Any
    domain: Any
    popularity: dict[str, int] | None
    note: str = ""


def movielens_csv(folder: Path) -> tuple[Path, dict[str, int]]:
    """Write MovieLens-100K as MovieLens's own CSV (``movieId,title,genres``, "Godfather, The (1972)");
    return the file and the ratings per item."""
    from recchat import assets

    try:
        asset = assets.get("movielens-100k")
        item_file, inter_file = asset.path("ml-100k.item"), asset.path("ml-100k.inter")
    except assets.AssetError as exc:
        raise Skip(str(exc)) from None
    path = folder / "movies.csv"
    with open(item_file, encoding="utf-8") as src, open(path, "w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(("movieId", "title", "genres"))
        next(src)
        for line in src:
            item_id, title, year, genres = (line.rstrip("\n").split("\t") + ["", "", ""])[:4]
            # One row has "V" for a year (its year is in its title already).
            full = f"{title} ({year})" if year.isdigit() and len(year) == 4 else title
            writer.writerow((item_id, full, "|".join(genres.split())))
    counts: Counter[str] = Counter()
    with open(inter_file, encoding="utf-8") as fh:
        next(fh)
        for line in fh:
            counts[line.split("\t", 2)[1]] += 1
    return path, dict(counts)


def load_movielens(folder: Path) -> Setup:
    from recchat.conversation.domain import Domain
    from recchat.data.catalog import CatalogSpec, FieldSpec, load_catalog

    path, counts = movielens_csv(folder)
    catalog = load_catalog(
        path,
        CatalogSpec(id_column="movieId", title_column="title", fields={"genres": FieldSpec("genres", "list", "|")}),
    )
    return Setup(
        "movielens",
        catalog,
        Domain.infer(catalog, "movie"),
        counts,
        f"{len(catalog):,} items, MovieLens CSV titles, ratings as popularity",
    )


def books_config(books_csv: Path, reads_csv: Path, folder: Path) -> dict[str, Any]:
    """tests/test_scenarios.py's books configuration (tests/books.py's recchat_config)."""
    sys.path.insert(0, str(ROOT / "tests"))
    from books import recchat_config

    return recchat_config(books_csv, reads_csv, folder)


def generate_books(folder: Path, items: int | None = None, seed: int = 0) -> tuple[Path, Path]:
    sys.path.insert(0, str(ROOT / "tests"))
    try:
        from books import generate
    finally:
        sys.path.remove(str(ROOT / "tests"))
    if items is None:
        return generate(folder)
    # Few readers: only the titles are needed, and reads take most of the generator's time.
    return generate(folder, items=items, users=max(1, min(1200, items // 100)), seed=seed)


def reads_per_item(path: Path, column: str) -> dict[str, int]:
    with open(path, encoding="utf-8", newline="") as fh:
        return dict(Counter(row[column] for row in csv.DictReader(fh)))


def load_books(folder: Path) -> Setup:
    from recchat.builder import Builder

    books_csv, reads_csv = generate_books(folder / "books")
    parts = Builder(books_config(books_csv, reads_csv, folder / "books"), log=lambda m: None)
    return Setup(
        "books",
        parts.catalog,
        parts.domain,
        reads_per_item(reads_csv, "book_id"),
        f"{len(parts.catalog):,} generated books, reads as popularity",
    )


def films_file() -> Path:
    from recchat import assets

    try:
        return assets.get("omdb-films").path("films.csv")
    except KeyError:
        raise Skip("there is no asset 'omdb-films' in recchat/assets.py") from None
    except Exception as exc:  # AssetError: not fetched
        raise Skip(str(exc)) from None


def load_films_catalog(path: Path) -> Any:
    from recchat.data.catalog import CatalogSpec, FieldSpec, load_catalog

    fields = {
        "year": FieldSpec("year", "int", strict=False),
        "genres": FieldSpec("genres", "list", "|"),
        "director": FieldSpec("director", "list", "|"),
        "cast": FieldSpec("cast", "list", "|"),
        "reviews": FieldSpec("reviews", "int", strict=False),
    }
    return load_catalog(path, CatalogSpec(id_column="film_id", title_column="title", fields=fields))


def load_films(folder: Path) -> Setup:
    from recchat.conversation.domain import Domain

    catalog = load_films_catalog(films_file())
    domain = Domain.infer(catalog, "movie")
    domain.popularity = "reviews"  # no log: the critic review count says how well known a film is
    return Setup(
        "films", catalog, domain, None, f"{len(catalog):,} omdb films, no log: critic review counts as popularity"
    )


LOADERS: dict[str, Callable[[Path], Setup]] = {"movielens": load_movielens, "books": load_books, "films": load_films}


# --------------------------------------------------------------------------- sentences


@dataclass
class Sentence:
    text: str
    items: list[str]
    split: str


# folders of sentences written later, each kept aside for one round
LATER = tuple(["fresh"] + [f"fresh{n}" for n in range(2, 18)])
SPLITS = ("dev", "held", *LATER)


def read_sentences(path: Path, catalog: Any | None = None) -> list[Sentence]:
    """The sentences of a JSONL file; a malformed line, or an id the catalog lacks, is an error."""
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            s = Sentence(str(row["text"]), [str(i) for i in row["items"]], str(row.get("split", "dev")))
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}:{n}: not a sentence object ({exc})") from None
        if s.split not in SPLITS:
            raise ValueError(f"{path}:{n}: split '{s.split}' is not one of {', '.join(SPLITS)}")
        missing = [i for i in s.items if catalog is not None and i not in catalog]
        if missing:
            raise ValueError(f"{path}:{n}: item ids not in the catalog: {', '.join(missing)}")
        out.append(s)
    return out


def catalog_sentences(name: str, catalog: Any | None = None) -> list[Sentence]:
    """Every labelled sentence of a catalog: bench/linking/<name>.jsonl, then each later folder's."""
    path = SENTENCES / f"{name}.jsonl"
    sentences = read_sentences(path, catalog)
    for later in LATER:
        if (SENTENCES / later / path.name).is_file():
            sentences += read_sentences(SENTENCES / later / path.name, catalog)
    return sentences


# --------------------------------------------------------------------------- linkers


def contender_class() -> tuple[Any, str]:
    try:
        from recchat.conversation.link import Linker
    except Exception as exc:  # not written yet, or broken: the baseline still runs
        return None, f"{type(exc).__name__}: {exc}"
    return Linker, ""


def baseline_class(rev: str | None = None) -> tuple[Any, str]:
    """The old TitleResolver and where it came from. The working tree's, while
    recchat/understand.py still defines it; else (the new linker took the name) the newest
    commit's recchat/understand.py that defines ``class TitleResolver``, or ``rev``'s, loaded as a
    module of its own beside the current package."""
    import importlib.util
    import subprocess

    if rev is None:
        from recchat.conversation import understand

        current = getattr(understand, "TitleResolver", None)
        if (
            isinstance(current, type)
            and current.__module__ == "recchat.conversation.understand"
            and hasattr(current, "find")
        ):
            return current, "recchat/understand.py (working tree)"

    def git(*cmd: str) -> str:
        return subprocess.run(["git", "-C", str(ROOT), *cmd], check=True, capture_output=True, text=True).stdout

    try:
        revs = [rev] if rev else git("log", "--format=%H", "--", "recchat/understand.py").split()
        for commit in revs:
            try:  # the commit that moved the file into recchat/conversation/ has none
                source = git("show", f"{commit}:recchat/understand.py")
            except subprocess.CalledProcessError:
                continue
            if "\nclass TitleResolver" in source:
                break
        else:
            raise RuntimeError("no commit of recchat/understand.py defines class TitleResolver")
    except (OSError, subprocess.CalledProcessError) as exc:
        raise RuntimeError(f"cannot read the old recchat/understand.py from git: {exc}") from None
    name = "recchat._bench_old_understand"
    spec = importlib.util.spec_from_loader(name, loader=None)
    module = importlib.util.module_from_spec(spec)
    module.__file__ = f"git:{commit[:10]}:recchat/understand.py"
    sys.modules[name] = module  # dataclasses look their module up
    for moved, now in (("recchat.catalog", "recchat.data.catalog"), ("recchat.domain", "recchat.conversation.domain")):
        source = source.replace(f"from {moved} import", f"from {now} import")  # the package's layout since
    exec(compile(source, module.__file__, "exec"), module.__dict__)
    return module.TitleResolver, f"recchat/understand.py at {commit[:10]}"


BASELINE_REV: str | None = None
RULES_ONLY = False  # --rules-only: the contender without its learned second opinion (link_judge)


def make_baseline(setup: Setup) -> Callable[[str], list[str]]:
    resolver_cls, _ = baseline_class(BASELINE_REV)
    resolver = resolver_cls(setup.catalog, domain=setup.domain)
    return lambda text: [item_id for item_id, _, _ in resolver.find(text)]


def make_contender(setup: Setup) -> Callable[[str], list[str]]:
    linker_cls, _ = contender_class()
    if hasattr(linker_cls, "for_domain"):  # how the recommender builds it
        linker = linker_cls.for_domain(setup.catalog, setup.domain, setup.popularity)
    else:
        linker = linker_cls(setup.catalog, popularity=setup.popularity)
    if RULES_ONLY:
        linker.judge = None
    return lambda text: [link.item_id for link in linker.link(text)]


def linkers(include_contender: bool = True) -> list[tuple[str, Callable[[Setup], Callable[[str], list[str]]]]]:
    out = [("baseline", make_baseline)]
    if include_contender and contender_class()[0] is not None:
        out.append(("contender", make_contender))
    return out


# --------------------------------------------------------------------------- measuring


@dataclass
class Result:
    catalog: str
    linker: str
    build_s: float
    named: int = 0  # named items (title-naming sentences)
    found: int = 0  # of those, linked
    links: int = 0  # links on title-naming sentences
    correct: int = 0  # of those, correct
    free: int = 0  # title-free sentences
    false_links: int = 0  # links on title-free sentences
    false_sentences: int = 0  # title-free sentences with any link
    times_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    misses: list[tuple[Sentence, list[str]]] = field(default_factory=list)
    wrong: list[tuple[Sentence, list[str]]] = field(default_factory=list)

    @property
    def recall(self) -> float:
        return self.found / self.named if self.named else float("nan")

    @property
    def precision(self) -> float:
        return self.correct / self.links if self.links else float("nan")

    @property
    def false_per_50(self) -> float:
        return 50 * self.false_links / self.free if self.free else float("nan")

    def ms(self, q: float) -> float:
        return pct(self.times_ms, q)


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def unique(ids: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(ids))


# Warm-up messages, none of them in a sentence file: the first calls load what a linker loads
# lazily, and a linker's per-word caches then hold nothing that the timed messages use.
WARMUP = [
    "hello there",
    "i liked it a lot",
    "something for tonight please",
    "what would you pick for me",
    "anything from the eighties",
    "no more of that",
    "my friend recommended one, forgot the name",
    "a long weekend with nothing to do",
]


def time_messages(
    make: Callable[[], Callable[[str], list[str]]],
    texts: list[str],
    repeat: int,
    first: Callable[[str], list[str]] | None = None,
) -> list[float]:
    """Milliseconds per message: ``repeat`` passes, each with a linker made afresh (``first`` for
    the first pass, when given) and warmed up on WARMUP, so that no pass sees a message twice."""
    times = []
    for n in range(repeat):
        link = first if n == 0 and first is not None else make()
        for text in WARMUP:
            link(text)
        gc.collect()
        gc.disable()
        try:
            for text in texts:
                t = time.perf_counter()
                link(text)
                times.append((time.perf_counter() - t) * 1000)
        finally:
            gc.enable()
        del link
    return times


def measure(
    setup: Setup, name: str, make: Callable[[Setup], Callable[[str], list[str]]], sentences: list[Sentence], repeat: int
) -> Result:
    t = time.perf_counter()
    link = make(setup)
    result = Result(setup.name, name, time.perf_counter() - t)
    if not result.errors:  # timed first, on a linker that has seen only the warm-up
        result.times_ms = time_messages(lambda: make(setup), [s.text for s in sentences], repeat, first=link)
    return tally(result, sentences, link)


def tally(result: Result, sentences: list[Sentence], link: Callable[[str], list[str]]) -> Result:
    """``result`` with what ``link`` finds in each sentence counted: recall, precision, false links."""
    for s in sentences:
        try:
            got = unique(link(s.text))
        except Exception:
            result.errors.append(f"{s.text!r}: {traceback.format_exc(limit=3).strip()}")
            continue
        if s.items:
            expected = set(s.items)
            result.named += len(expected)
            result.found += len(expected & set(got))
            result.links += len(got)
            result.correct += sum(1 for i in got if i in expected)
            if not expected <= set(got):
                result.misses.append((s, got))
            elif len(got) > len(expected):
                result.wrong.append((s, got))
        else:
            result.free += 1
            result.false_links += len(got)
            result.false_sentences += bool(got)
            if got:
                result.wrong.append((s, got))
    return result


# --------------------------------------------------------------------------- reporting


def fmt(value: float, spec: str) -> str:
    return "n/a" if value != value else format(value, spec)


def print_table(results: list[Result]) -> None:
    print(
        "| catalog | linker | recall | precision | false links (sentences) / title-free | per 50 | "
        "p50 / p95 ms | build s |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        flag = f" ({len(r.errors)} errors)" if r.errors else ""
        print(
            f"| {r.catalog} | {r.linker}{flag} | {fmt(r.recall, '.3f')} ({r.found}/{r.named}) | "
            f"{fmt(r.precision, '.3f')} ({r.correct}/{r.links}) | {r.false_links} ({r.false_sentences}) / {r.free} | "
            f"{fmt(r.false_per_50, '.2f')} | {fmt(r.ms(50), '.3f')} / {fmt(r.ms(95), '.3f')} | {r.build_s:.2f} |"
        )


def print_ratios(results: list[Result]) -> None:
    by = {(r.catalog, r.linker): r for r in results}
    rows = [
        (c, by[(c, "baseline")], by[(c, "contender")])
        for c in dict.fromkeys(r.catalog for r in results)
        if (c, "baseline") in by and (c, "contender") in by
    ]
    if not rows:
        return
    print("\ncontender / baseline (recall and precision above 1 and the rest below 1 are better):\n")
    print("| catalog | recall | precision | false links | p50 ms | p95 ms | build |")
    print("|---|---|---|---|---|---|---|")

    def ratio(a: float, b: float) -> str:
        if a != a or b != b:
            return "n/a"
        if b == 0:
            return "=" if a == 0 else "inf"
        return f"{a / b:.2f}"

    for c, base, new in rows:
        print(
            f"| {c} | {ratio(new.recall, base.recall)} | {ratio(new.precision, base.precision)} | "
            f"{ratio(new.false_links, base.false_links)} | {ratio(new.ms(50), base.ms(50))} | "
            f"{ratio(new.ms(95), base.ms(95))} | {ratio(new.build_s, base.build_s)} |"
        )


def print_errors(results: list[Result], catalogs: dict[str, Any]) -> None:
    def titles(catalog: Any, ids: Iterable[str]) -> str:
        return "; ".join(f"{catalog[i].title} [{i}]" if i in catalog else f"? [{i}]" for i in ids) or "-"

    for r in results:
        catalog = catalogs[r.catalog]
        print(
            f"\n## {r.catalog}, {r.linker}: {len(r.misses)} sentences with a miss, {len(r.wrong)} with a false link\n"
        )
        for s, got in r.misses:
            print(
                f"MISS  {s.text!r}\n      expected: {titles(catalog, s.items)}\n      got:      {titles(catalog, got)}"
            )
        for s, got in r.wrong:
            extra = [i for i in got if i not in s.items]
            print(
                f"FALSE {s.text!r}\n      expected: {titles(catalog, s.items)}\n"
                f"      got:      {titles(catalog, got)}\n      false:    {titles(catalog, extra)}"
            )
        for e in r.errors:
            print(f"ERROR {e}")


def print_targets() -> None:
    t = TARGETS
    print(
        f"\ntargets (not enforced): recall >= {t['recall']}, precision >= {t['precision']}, "
        f"<= {t['false_per_50']:g} false link per 50 title-free sentences, p95 <= "
        + ", ".join(f"{ms:g} ms at {n:,} items" for n, ms in t["p95_ms"].items())
    )


def machine() -> str:
    return f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}"


# --------------------------------------------------------------------------- scale


def scale_catalog(n: int, folder: Path, movielens: Setup | None) -> tuple[Any, dict[str, int], str]:
    """A catalog of ``n`` real titles: MovieLens-100K, then the omdb films, then generated books."""
    from recchat.data.catalog import Catalog
    from recchat.types import Item

    items: list[Item] = []
    popularity: dict[str, int] = {}
    parts = []
    if movielens is not None:
        for it in list(movielens.catalog)[:n]:
            items.append(Item(f"ml{it.id}", it.title, it.title, dict(it.fields)))
            popularity[f"ml{it.id}"] = (movielens.popularity or {}).get(it.id, 0)
        parts.append(f"{len(items):,} MovieLens")
    if len(items) < n:
        try:
            films = load_films_catalog(films_file())
        except Skip as exc:
            print(f"  (no films for --scale: {exc})")
        else:
            before = len(items)
            for it in list(films)[: n - len(items)]:
                items.append(Item(f"f{it.id}", it.title, it.title, dict(it.fields)))
            parts.append(f"{len(items) - before:,} omdb films")
    # The generator's title pool runs out near 20,000 books: several seeds, 20,000 each at most
    # (a title can then recur, as books of the same name do).
    seed, books = 0, 0
    while len(items) < n:
        size = min(BOOKS_PER_SEED, n - len(items))
        books_csv, reads_csv = generate_books(folder / f"books-{seed}-{size}", items=max(20, size), seed=seed)
        reads = reads_per_item(reads_csv, "book_id")
        with open(books_csv, encoding="utf-8", newline="") as fh:
            for row in list(csv.DictReader(fh))[:size]:
                year = int(row["year"]) if row["year"].isdigit() else None
                item_id = f"bk{seed}-{row['book_id']}"
                items.append(Item(item_id, row["title"], row["title"], {"year": year} if year is not None else {}))
                popularity[item_id] = reads.get(row["book_id"], 0)
                books += 1
        seed += 1
    if books:
        parts.append(f"{books:,} generated books ({seed} seeds)")
    distinct = len({it.title.casefold() for it in items})
    parts.append(f"{distinct:,} distinct titles")
    return Catalog(items), popularity, ", ".join(parts)


def run_scale(args: argparse.Namespace, folder: Path, movielens: Setup | None) -> int:
    from recchat.conversation.domain import Domain

    chosen = []
    if contender_class()[0] is not None:
        chosen.append(("contender", make_contender))
    else:
        print(
            f"\n--scale: the contender cannot be imported ({contender_class()[1]}); nothing to time"
            + (", the baseline is timed (--scale-baseline)" if args.scale_baseline else "")
        )
    if args.scale_baseline:
        chosen.insert(0, ("baseline", make_baseline))
    if not chosen:
        return 0
    texts: list[str] = []
    for name in ("movielens", "films"):
        path = SENTENCES / f"{name}.jsonl"
        if path.is_file():
            texts += [s.text for s in read_sentences(path)]
        else:
            print(f"  (no {path.relative_to(ROOT)} for --scale)")
    if not texts:
        print("--scale: no movielens or films sentences to time")
        return 0
    print(f"\n## scale: {len(texts)} movielens + films sentences, {args.repeat} timed passes, each on a fresh linker\n")
    rows = []
    for n in args.scale_sizes:
        t = time.perf_counter()
        catalog, popularity, made_of = scale_catalog(n, folder, movielens)
        print(f"{n:,} items: {made_of} (assembled in {time.perf_counter() - t:.1f} s)", flush=True)
        domain = Domain.infer(catalog, "movie")
        setup = Setup(f"{n:,}", catalog, domain, popularity)
        for name, make in chosen:
            t = time.perf_counter()
            link = make(setup)
            build = time.perf_counter() - t
            times = time_messages(lambda: make(setup), texts, args.repeat, first=link)
            rows.append((n, name, build, pct(times, 50), pct(times, 95), max(times)))
            print(
                f"  {name}: built in {build:.2f} s, p50 {pct(times, 50):.3f} ms, p95 {pct(times, 95):.3f} ms",
                flush=True,
            )
            del link
            gc.collect()
    print("\n| items | linker | build s | p50 ms | p95 ms | max ms | p95 target ms |")
    print("|---|---|---|---|---|---|---|")
    for n, name, build, p50, p95, top in rows:
        target = TARGETS["p95_ms"].get(n)
        print(
            f"| {n:,} | {name} | {build:.2f} | {p50:.3f} | {p95:.3f} | {top:.2f} | "
            f"{'-' if target is None else f'{target:g}'} |"
        )
    return 0


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] + " Old (TitleResolver) against new (recchat.conversation.link.Linker).",
        epilog=__doc__.split("\n", 2)[2],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--catalog", choices=CATALOGS, action="append", help="a catalog to run (repeatable; default: all three)"
    )
    parser.add_argument(
        "--split",
        choices=(*SPLITS, "all"),
        default="all",
        help="which sentences: dev, held, fresh (bench/linking/fresh/, written after the "
        "second round of rules and kept aside), fresh2 and fresh3 (bench/linking/fresh2/ and fresh3/, written "
        "during the third round and kept aside), fresh4-7 (the fourth round's), fresh8-12 (the fifth round's, "
        "each kept aside from the learned judge's training until its first look), or all (default)",
    )
    parser.add_argument("--errors", action="store_true", help="list each miss and each false link")
    parser.add_argument("--baseline-only", action="store_true", help="do not run the contender")
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="timed passes over the sentences, each with a linker built afresh (default 3)",
    )
    parser.add_argument(
        "--scale", action="store_true", help="also time the contender at 10,000 and 100,000 items (a few minutes)"
    )
    parser.add_argument(
        "--scale-sizes",
        type=int,
        nargs="+",
        default=list(SCALES),
        metavar="N",
        help="catalog sizes for --scale (default 10000 100000)",
    )
    parser.add_argument("--scale-baseline", action="store_true", help="with --scale, time the baseline too")
    parser.add_argument(
        "--baseline-rev",
        metavar="COMMIT",
        help="take the baseline's recchat/understand.py from this commit (default: the working "
        "tree's while it defines TitleResolver, else the newest commit that does)",
    )
    parser.add_argument(
        "--work", type=Path, help="folder for the written catalogs (default: a temporary folder, removed after)"
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--rules-only", action="store_true", help="run the contender without its learned second opinion (link_judge)"
    )
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")

    catalogs = args.catalog or list(CATALOGS)
    global BASELINE_REV, RULES_ONLY
    BASELINE_REV = args.baseline_rev
    RULES_ONLY = args.rules_only
    with tempfile.TemporaryDirectory(prefix="recchat-bench-linking-") as tmp:
        folder = args.work or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        return run(args, catalogs, folder)


def run(args: argparse.Namespace, catalogs: list[str], folder: Path) -> int:
    chosen = linkers(include_contender=not args.baseline_only)
    if not args.baseline_only and len(chosen) == 1:
        print(f"contender: recchat.conversation.link.Linker cannot be imported ({contender_class()[1]}); baseline only")
    print(
        f"machine: {machine()}; split: {args.split}; {args.repeat} timed passes, each on a fresh linker "
        "warmed up on other messages"
    )
    try:
        print(f"baseline: TitleResolver from {baseline_class(BASELINE_REV)[1]}")
    except Exception as exc:
        print(f"baseline: cannot be loaded: {exc}", file=sys.stderr)
        return 1
    if len(chosen) > 1:
        print("contender: recchat.conversation.link.Linker (working tree)")
    results: list[Result] = []
    loaded: dict[str, Any] = {}
    setups: dict[str, Setup] = {}
    failed = False
    for name in catalogs:
        path = SENTENCES / f"{name}.jsonl"
        try:
            if not path.is_file():
                raise Skip(f"no sentence file {path.relative_to(ROOT)}")
            setup = LOADERS[name](folder)
        except Skip as exc:
            print(f"\n{name}: skipped: {exc}")
            continue
        setups[name] = setup
        loaded[name] = setup.catalog
        try:
            sentences = catalog_sentences(name, setup.catalog)
        except ValueError as exc:
            print(f"\n{name}: error: {exc}", file=sys.stderr)
            failed = True
            continue
        chosen_sentences = [s for s in sentences if args.split == "all" or s.split == args.split]
        n_named = sum(1 for s in chosen_sentences if s.items)
        print(
            f"\n{name}: {setup.note}; {len(chosen_sentences)} sentences ({n_named} naming titles, "
            f"{len(chosen_sentences) - n_named} title-free) of {len(sentences)}",
            flush=True,
        )
        for linker_name, make in chosen:
            try:
                r = measure(setup, linker_name, make, chosen_sentences, args.repeat)
            except Exception:
                print(f"{name}, {linker_name}: error:\n{traceback.format_exc()}", file=sys.stderr)
                failed = True
                continue
            if r.errors:
                failed = True
                print(
                    f"{name}, {linker_name}: {len(r.errors)} messages raised; the first:\n{r.errors[0]}",
                    file=sys.stderr,
                )
            results.append(r)
    if results:
        print()
        print_table(results)
        print_ratios(results)
        if args.errors:
            print_errors(results, loaded)
    print_targets()
    if args.scale:
        if "movielens" not in setups:
            try:
                setups["movielens"] = load_movielens(folder)
            except Skip as exc:
                print(f"(no MovieLens titles for --scale: {exc})")
        run_scale(args, folder, setups.get("movielens"))
    if args.json:
        args.json.write_text(
            json.dumps(
                [
                    {
                        "catalog": r.catalog,
                        "linker": r.linker,
                        "split": args.split,
                        "recall": r.recall,
                        "precision": r.precision,
                        "named": r.named,
                        "found": r.found,
                        "links": r.links,
                        "correct": r.correct,
                        "title_free": r.free,
                        "false_links": r.false_links,
                        "false_sentences": r.false_sentences,
                        "p50_ms": r.ms(50),
                        "p95_ms": r.ms(95),
                        "build_s": r.build_s,
                        "errors": len(r.errors),
                    }
                    for r in results
                ],
                indent=2,
            )
            + "\n"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
