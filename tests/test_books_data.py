"""The generated book data set (tests/books.py): sizes, determinism, recchat can read it, series
are read in order, and reading follows taste clusters."""

from __future__ import annotations

import calendar
import csv
import random
import re
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from books import FIELDS, SUBJECTS, find_series, generate, series_number

from recchat.data.catalog import CatalogSpec, FieldSpec, InteractionSpec, load_catalog, load_interactions

BOOK_SPEC = CatalogSpec(
    id_column="book_id",
    title_column="title",
    fields={
        "authors": FieldSpec("authors", "list", sep="|"),
        "subjects": FieldSpec("subjects", "list", sep="|"),
        "year": FieldSpec("year", "int"),
        "pages": FieldSpec("pages", "int"),
    },
)


def _read(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    books_path, reads_path = generate(tmp_path_factory.mktemp("books-a"))
    books = {row["book_id"]: row for row in _read(books_path)}
    reads = _read(reads_path)
    by_user: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in reads:
        by_user[row["user_id"]].append(row)
    series = find_series((b["book_id"], b["title"], b["authors"]) for b in books.values())
    return {"paths": (books_path, reads_path), "books": books, "reads": reads, "by_user": by_user, "series": series}


def _subjects(book: dict[str, str]) -> list[str]:
    return book["subjects"].split("|")


@pytest.mark.fast
def test_sizes_and_values(data):
    books, reads, by_user = data["books"], data["reads"], data["by_user"]
    assert len(books) >= 2000 and len(reads) >= 30000
    assert list(books) == [f"b{i:04d}" for i in range(1, len(books) + 1)]
    for book in books.values():
        assert 1 <= len(_subjects(book)) <= 3 and set(_subjects(book)) <= set(SUBJECTS)
        assert len(set(_subjects(book))) == len(_subjects(book))
        assert 1 <= len(book["authors"].split("|")) <= 2
        assert 1850 <= int(book["year"]) <= 2023 and 60 <= int(book["pages"]) <= 1200
        assert re.fullmatch(r"[A-Z][^.]*\.", book["description"]), book["description"]
    years = sorted(int(b["year"]) for b in books.values())
    assert years[len(years) // 2] >= 2000  # skewed to recent
    assert min(years) < 1920  # with some classics

    # Mostly unique titles; the few duplicates are by different authors.
    titles = Counter(b["title"] for b in books.values())
    assert len(titles) >= 0.97 * len(books)
    for title, count in titles.items():
        if count > 1:
            authors = [a for b in books.values() if b["title"] == title for a in b["authors"].split("|")]
            assert len(authors) == len(set(authors)), title

    assert all(re.fullmatch(r"u\d{4}", u) for u in by_user)
    assert len({(r["user_id"], r["book_id"]) for r in reads}) == len(reads)
    assert {r["book_id"] for r in reads} <= set(books)
    for user, rows in by_user.items():
        assert len(rows) >= 5, user
        stamps = [int(r["timestamp"]) for r in rows]
        assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps), user
    assert {int(r["rating"]) for r in reads} == {1, 2, 3, 4, 5}
    # Nobody reads a book before the year it came out.
    assert all(int(r["timestamp"]) >= calendar.timegm((int(books[r["book_id"]]["year"]), 1, 1, 0, 0, 0)) for r in reads)


@pytest.mark.fast
def test_same_seed_same_bytes(data, tmp_path):
    again = generate(tmp_path / "again")
    for first, second in zip(data["paths"], again):
        assert first.read_bytes() == second.read_bytes()
    other = generate(tmp_path / "other", items=200, users=50, seed=1)
    small = generate(tmp_path / "small", items=200, users=50, seed=0)
    assert other[0].read_bytes() != small[0].read_bytes()


@pytest.mark.fast
def test_recchat_loads_both_files(data):
    books_path, reads_path = data["paths"]
    catalog = load_catalog(books_path, BOOK_SPEC)
    assert catalog.report.skipped == [] and catalog.report.warnings == []
    assert len(catalog) == catalog.report.rows == len(data["books"])
    item = catalog["b0001"]
    assert isinstance(item.fields["authors"], list) and isinstance(item.fields["year"], int)
    assert set(item.fields["subjects"]) <= set(SUBJECTS)

    log = load_interactions(reads_path, InteractionSpec("user_id", "book_id", "rating", "timestamp"), catalog=catalog)
    assert log.report.skipped == [] and len(log) == log.report.rows == len(data["reads"])
    assert len(log.users()) == len(data["by_user"])

    # FIELDS is the same description, ready for a configuration's [catalog.fields].
    for name, spec in BOOK_SPEC.fields.items():
        entry = FIELDS[name]
        assert FieldSpec(entry["column"], entry["type"], entry.get("sep", " ")) == spec


@pytest.mark.fast
def test_series_found_from_titles_alone(data):
    books, series = data["books"], data["series"]
    assert 50 <= len(series) <= 70
    styles = Counter()
    for stem, ids in series.items():
        assert 2 <= len(ids) <= 6, stem
        members = [books[i] for i in ids]
        assert len({b["authors"] for b in members}) == 1, stem
        assert len({b["subjects"] for b in members}) == 1, stem
        years = [int(b["year"]) for b in members]
        assert years == sorted(years) and len(set(years)) == len(years), stem
        titles = [b["title"] for b in members]
        assert all(t.startswith(stem) for t in titles)
        styles[next((m for m in (" Part ", ": Book ", ", Vol. ") if m in titles[1]), "number")] += 1
    assert len(styles) >= 3, styles  # named in mixed ways
    assert any(books[ids[0]]["title"] == stem for stem, ids in series.items())  # unnumbered firsts
    # Standalone titles never look like series entries.
    in_series = {i for ids in series.values() for i in ids}
    assert not [b["title"] for i, b in books.items() if i not in in_series and series_number(b["title"])]


@pytest.mark.fast
def test_series_are_read_in_order(data):
    position = {book: (stem, k) for stem, ids in data["series"].items() for k, book in enumerate(ids)}
    started = continued = 0
    for user, rows in data["by_user"].items():
        read: dict[str, list[int]] = defaultdict(list)
        for row in rows:  # oldest first
            if row["book_id"] in position:
                stem, k = position[row["book_id"]]
                read[stem].append(k)
        for stem, ks in read.items():
            assert ks == list(range(len(ks))), (user, stem, ks)  # 1, 2, 3 ... with no gaps
            started += 1
            continued += len(ks) > 1
    assert started > 500
    assert continued / started > 0.4  # often carried on


@pytest.mark.fast
def test_reads_follow_taste(data):
    books, by_user = data["books"], data["by_user"]

    def coverage(user_books: list[str]) -> float:
        counts = Counter(s for b in user_books for s in _subjects(books[b]))
        top = {s for s, _ in counts.most_common(3)}
        return sum(bool(top & set(_subjects(books[b]))) for b in user_books) / len(user_books)

    covered = [coverage([r["book_id"] for r in rows]) for rows in by_user.values()]
    assert sum(c > 0.5 for c in covered) >= 0.9 * len(covered)

    # The same reads dealt to users at random are much less concentrated.
    shuffled = [r["book_id"] for rows in by_user.values() for r in rows]
    random.Random(0).shuffle(shuffled)
    baseline, start = [], 0
    for rows in by_user.values():
        baseline.append(coverage(shuffled[start : start + len(rows)]))
        start += len(rows)
    assert sum(covered) / len(covered) > sum(baseline) / len(baseline) + 0.2

    # In-taste books are rated higher; popular books are read far more (a long tail).
    inside, outside = [], []
    for rows in by_user.values():
        counts = Counter(s for r in rows for s in _subjects(books[r["book_id"]]))
        top = {s for s, _ in counts.most_common(3)}
        for r in rows:
            (inside if top & set(_subjects(books[r["book_id"]])) else outside).append(int(r["rating"]))
    assert outside and sum(inside) / len(inside) > sum(outside) / len(outside) + 0.3
    per_book = sorted(Counter(r["book_id"] for r in data["reads"]).values(), reverse=True)
    assert sum(per_book[: len(books) // 10]) > 0.3 * len(data["reads"])


def test_script(tmp_path):
    script = Path(__file__).with_name("books.py")
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path), "--items", "120", "--users", "30", "--seed", "3"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert f"{tmp_path / 'books.csv'}: 120 rows" in done.stdout
    assert f"{tmp_path / 'reads.csv'}: " in done.stdout
    assert len(_read(tmp_path / "books.csv")) == 120
