"""`recchat init ITEMS LOG` on the files people bring, then `recchat data check` with no hand edits.

The fixtures under tests/data/init/ are small hand-written copies (20-60 rows) of public data sets,
with their real column names, separators, quoting and encodings: MovieLens 100K's raw ``u.item``
('|', latin-1, no header, 19 genre flags) and ``u.data`` (tabs, no header), MovieLens "latest"
("Matrix, The (1999)" titles), Book-Crossing (';', every field quoted, latin-1, ISBN ids, ratings
of books the catalog lacks), goodbooks-10k (several id columns; the ratings use book_id), Amazon
reviews (JSON lines named .json, nested categories) and Last.fm's hetrec log (plays, no ratings).
The CLI runs in-process (``recchat.cli.main``), as the command does.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from recchat.cli import main
from recchat.config import RecommenderConfig
from recchat.data.catalog import InteractionSpec, load_interactions
from recchat.data.tables import DataError

pytestmark = pytest.mark.fast

DATA = Path(__file__).parent / "data" / "init"

# name: (items, log, what init must guess)
CASES = {
    "movielens-100k": (
        "u.item",
        "u.data",
        {
            "catalog": {
                "format": "csv",
                "delimiter": "|",
                "encoding": "latin-1",
                "id": "item_id",
                "title": "title",
                "move_articles": True,
            },
            "interactions": {
                "format": "csv",
                "delimiter": "\t",
                "header": ["user_id", "item_id", "rating", "timestamp"],
                "user": "user_id",
                "item": "item_id",
                "rating": "rating",
                "timestamp": "timestamp",
            },
            "facets": {"flags"},
            "year": "year",
            "interactions_loaded": 41,
        },
    ),
    "movielens-latest": (
        "movies.csv",
        "ratings.csv",
        {
            "catalog": {"id": "movieId", "title": "title", "move_articles": True},
            "interactions": {"user": "userId", "item": "movieId", "rating": "rating", "timestamp": "timestamp"},
            "facets": {"genres"},
            "year": "year",
            "interactions_loaded": 58,
        },
    ),
    "book-crossing": (
        "BX-Books.csv",
        "BX-Book-Ratings.csv",
        {
            "catalog": {"delimiter": ";", "encoding": "latin-1", "id": "ISBN", "title": "Book-Title", "skip_bad": True},
            "interactions": {
                "delimiter": ";",
                "user": "User-ID",
                "item": "ISBN",
                "rating": "Book-Rating",
                "timestamp": "",
            },
            "facets": {"book_author", "publisher"},
            "year": "year_of_publication",
            "interactions_loaded": 38,
        },
    ),
    "goodbooks-10k": (
        "books.csv",
        "ratings.csv",
        {
            "catalog": {"id": "book_id", "title": "title"},
            "interactions": {"user": "user_id", "item": "book_id", "rating": "rating", "timestamp": ""},
            "facets": {"authors", "language_code"},
            "year": "original_publication_year",
            "interactions_loaded": 43,
        },
    ),
    "amazon-reviews": (
        "meta_Musical_Instruments.json",
        "reviews_Musical_Instruments_5.json",
        {
            "catalog": {"format": "jsonl", "id": "asin", "title": "title"},
            "interactions": {
                "format": "jsonl",
                "user": "reviewerID",
                "item": "asin",
                "rating": "overall",
                "timestamp": "unixReviewTime",
            },
            "facets": {"brand", "categories"},
            "year": None,
            "interactions_loaded": 25,
        },
    ),
    "lastfm": (
        "artists.dat",
        "user_artists.dat",
        {
            "catalog": {"format": "csv", "delimiter": "\t", "id": "id", "title": "name"},
            "interactions": {"user": "userID", "item": "artistID", "rating": "", "timestamp": ""},
            "facets": set(),
            "year": None,
            "interactions_loaded": 31,
        },
    ),
}


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("RECCHAT_HOME", str(tmp_path / "home"))


def recchat(capsys, *args) -> tuple[int, str, str]:
    capsys.readouterr()
    status = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return status, out, err


def init(capsys, items, log, out, *extra) -> tuple[dict, str]:
    status, stdout, stderr = recchat(capsys, "init", items, log, "--out", out, *extra)
    assert status == 0, stderr
    return tomllib.loads(Path(out).read_text()), stdout


@pytest.mark.parametrize("name", CASES)
def test_init_then_data_check_with_no_edits(name, tmp_path, capsys):
    items, log, want = CASES[name]
    out = tmp_path / f"{name}.toml"
    config, printed = init(capsys, DATA / name / items, DATA / name / log, out)
    for section in ("catalog", "interactions"):
        for key, value in want[section].items():
            assert config[section].get(key, False if key in ("move_articles", "skip_bad") else None) == value, (
                section,
                key,
                printed,
            )
    fields = config["catalog"]["fields"]
    assert {n for n, f in fields.items() if f.get("role") == "facet"} == want["facets"]
    assert next((n for n, f in fields.items() if f.get("role") == "year"), None) == want["year"]
    assert "move_articles" in config["catalog"] or "move_articles" not in want["catalog"]
    assert f"wrote {out}" in printed and "next: recchat train" in printed
    status, checked, err = recchat(capsys, "data", "check", "--config", out)
    assert status == 0, err
    assert f"{want['interactions_loaded']} interactions from" in checked
    facets = ", ".join(sorted(want["facets"]))
    assert "domain: " in checked and (facets == "" or all(f"'{f}'" in checked for f in want["facets"]))


def test_what_the_guesses_read(tmp_path, capsys):
    """The loaded items: articles moved, years from dates and titles, latin-1 decoded, flags named."""

    def loaded(name):
        items, log, _ = CASES[name]
        out = tmp_path / f"{name}.toml"
        init(capsys, DATA / name / items, DATA / name / log, out)
        return RecommenderConfig.load(out).load_dataset()

    ml = loaded("movielens-100k")
    toy, suspects = ml.catalog["1"], ml.catalog["12"]
    assert toy.fields["year"] == 1995 and toy.fields["flags"] == ["flag_4", "flag_5", "flag_6"]
    assert suspects.title == "The Usual Suspects (1995)" and ml.catalog["34"].title == "Misérables, Les (1995)"
    first = ml.interactions.interactions[0]
    assert (first.user, first.item, first.rating, first.timestamp) == ("196", "12", 3.0, 881250949.0)
    latest = loaded("movielens-latest")
    assert latest.catalog["2571"].title == "The Matrix (1999)" and latest.catalog["2571"].fields["year"] == 1999
    assert "year" not in latest.catalog["171495"].fields  # "Cosmos" has no year in its title
    bx = loaded("book-crossing")
    assert bx.catalog["3404921038"].fields["publisher"] == ["Lübbe"]
    assert bx.catalog["0440213525"].fields["book_author"] == ["John Grisham"]
    assert "year_of_publication" not in bx.catalog["0751352497"].fields  # "0": unknown
    assert len(bx.interactions.report.skipped) == 3  # ratings of ISBNs BX-Books.csv lacks, reported
    books = loaded("goodbooks-10k")
    assert books.catalog["2"].fields["authors"] == ["J.K. Rowling", "Mary GrandPré"]
    assert books.catalog["21"].fields["original_publication_year"] == -750  # The Iliad
    amazon = loaded("amazon-reviews")
    assert amazon.catalog["B000068NSX"].fields["categories"][:2] == ["Musical Instruments", "Instrument Accessories"]
    assert amazon.interactions.interactions[0].rating == 5.0


def test_uncertain_guesses_are_marked_in_the_file_and_said(tmp_path, capsys):
    # No names, and both id columns hold catalog ids: the item is the second (the usual order).
    (tmp_path / "items.csv").write_text("".join(f"{i},Film number {i}\n" for i in range(1, 21)))
    (tmp_path / "log.tsv").write_text("".join(f"{u}\t{i}\n" for u in range(1, 21) for i in (u, 21 - u)))
    out = tmp_path / "x.toml"
    config, printed = init(capsys, tmp_path / "items.csv", tmp_path / "log.tsv", out)
    assert config["interactions"]["item"] == "item_id" and config["interactions"]["header"] == ["user_id", "item_id"]
    text = out.read_text()
    assert "# check: 'column_1', 'column_2' all hold ids of the catalog" in text
    assert text.index("# check: 'column_1'") < text.index('item = "item_id"')
    assert "guesses to check are marked '# check:'" in printed and "interactions.item" in printed
    status, _, err = recchat(capsys, "data", "check", "--config", out)
    assert status == 0, err


@pytest.mark.parametrize(
    "stamps, time_format, first",
    [
        (["2015-03-02", "2015-03-03T10:00:00", "2015-03-04 08:30:00+01:00"], "iso", 1425254400.0),
        (["1425254400000", "1425340800000", "1425427200000"], "milliseconds", 1425254400.0),
        (["1425254400", "1425340800", "1425427200"], "seconds", 1425254400.0),
    ],
)
def test_a_books_log_with_user_book_rating_ts(tmp_path, capsys, stamps, time_format, first):
    (tmp_path / "books.csv").write_text(
        "book_id,title,author\nb1,Emma,Jane Austen\nb2,Persuasion,Jane Austen\nb3,Dracula,Bram Stoker\n"
    )
    rows = [("u1", "b1", 4), ("u1", "b3", 2), ("u2", "b2", 5)]
    (tmp_path / "log.csv").write_text(
        "user,book,rating,ts\n" + "".join(f"{u},{b},{r},{t}\n" for (u, b, r), t in zip(rows, stamps))
    )
    config, printed = init(capsys, tmp_path / "books.csv", tmp_path / "log.csv", tmp_path / "b.toml")
    log = config["interactions"]
    assert (log["user"], log["item"], log["rating"], log["timestamp"]) == ("user", "book", "rating", "ts")
    assert log.get("time_format", "seconds") == time_format
    assert config["catalog"]["fields"]["author"] == {"column": "author", "type": "list", "sep": "|", "role": "facet"}
    data = RecommenderConfig.load(tmp_path / "b.toml").load_dataset()
    assert data.interactions.interactions[0].timestamp == first


def test_bad_timestamps_name_file_line_and_field(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("user,item,when\na,1,2015-03-02\nb,2,yesterday\n")
    with pytest.raises(DataError, match=r"log\.csv:3: field 'when': 'yesterday' is not an ISO date"):
        load_interactions(path, InteractionSpec("user", "item", None, "when", "iso"))


def test_a_log_init_cannot_read_writes_nothing(tmp_path, capsys):
    (tmp_path / "items.csv").write_text("item_id,title\n1,Heat\n")
    (tmp_path / "log.csv").write_text("user_id\na\n")
    status, _, err = recchat(capsys, "init", tmp_path / "items.csv", tmp_path / "log.csv", "--out", tmp_path / "x.toml")
    assert status == 2 and "log.csv" in err and "nothing was written" in err and "written file" not in err
    assert not (tmp_path / "x.toml").exists()


def test_an_existing_file_is_kept_without_force(tmp_path, capsys):
    name = "movielens-latest"
    out = tmp_path / "x.toml"
    out.write_text("# mine\n")
    args = [DATA / name / "movies.csv", DATA / name / "ratings.csv", "--out", out]
    status, _, err = recchat(capsys, "init", *args)
    assert status == 2 and "exists; nothing was written" in err and out.read_text() == "# mine\n"
    assert recchat(capsys, "init", *args, "--force")[0] == 0 and "[interactions]" in out.read_text()
