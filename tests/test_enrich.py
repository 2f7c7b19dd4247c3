"""The enriched MovieLens (issue 22, part 0): matching ML-100K items to Wikidata films, the join
that writes items.csv, and what the conversation reads from the new fields: people's last names,
cues between facets that share a name, and runtimes in hours."""

from __future__ import annotations

import csv
import json
from collections import Counter

import pytest

from recchat import assets, enrich
from recchat.enrich import Film, match_films, subtitle_keys, title_keys

pytestmark = pytest.mark.fast


def film(fid: str, title: str, year: int, reviews: int = 0, **facts: str) -> Film:
    return Film(fid, title, year, reviews, {k: facts.get(k, "") for k in enrich.FACTS})


# --------------------------------------------------------------------------- matching


def test_title_keys_move_articles_and_read_alternates():
    assert title_keys("Usual Suspects, The") == ["the usual suspects"]
    assert title_keys("The Usual Suspects") == ["the usual suspects"]
    assert title_keys("Horseman on the Roof, The (Hussard sur le toit, Le)") == [
        "the horseman on the roof",
        "le hussard sur le toit",
    ]
    assert title_keys("Seven (a.k.a. Se7en)") == ["seven", "se7en"]
    assert title_keys("Star Maker, The (Uomo delle stelle, L')") == ["the star maker", "luomo delle stelle"]
    assert title_keys("Blood & Wine") == title_keys("Blood and Wine") == ["blood and wine"]
    assert title_keys("Double vie de Véronique, La") == ["la double vie de veronique"]
    assert subtitle_keys("Il Postino: The Postman") == ["il postino"]
    assert subtitle_keys("Gilligan's Island: The Movie") == ["gilligans island"]  # "the movie" names no film
    assert subtitle_keys("Star Wars: Episode V – The Empire Strikes Back") == [
        "star wars",
        "episode v",
        "the empire strikes back",
    ]
    assert subtitle_keys("Heat") == [] and subtitle_keys("Alien: Resurrection") == []  # one word is no key


def test_match_films_by_title_and_year():
    films = [
        film("Q1", "The Usual Suspects", 1995, 80),
        film("Q2", "Nikita", 1990),
        film("Q3", "Fear", 1996),  # "Fear, The" (1995) is another film
        film("Q4", "Sunchaser", 1996),
        film("Q5", "Hamlet", 1996, 50),
        film("Q6", "Hamlet", 1996, 90),
        film("Q7", "Il Postino: The Postman", 1994),
        film("Q8", "Heat", 1995),
        film("Q9", "Heat", 1972),
    ]
    items = [
        ("1", "Usual Suspects, The", 1995),
        ("2", "Nikita (La Femme Nikita)", 1991),  # a year off
        ("3", "Fear, The", 1995),  # only the dropped article joins them, and a year off: no match
        ("4", "Sunchaser, The", 1996),  # the dropped article, the same year: a match
        ("5", "Hamlet", 1996),  # two films tie: the better known, reported
        ("6", "Postino, Il", 1994),  # a part of the film's title
        ("7", "Heat", 1995),
        ("8", "Unknown film", 1995),
        ("9", "No year", None),
    ]
    report = match_films(items, films)
    assert report.matches == {"1": "Q1", "2": "Q2", "4": "Q4", "5": "Q6", "6": "Q7", "7": "Q8"}
    assert report.unmatched == ["3", "8"] and report.undated == ["9"]
    assert report.ambiguous == {"5": ["Q6", "Q5"]}
    assert report.off_by_one == ["2"] and report.by_subtitle == ["6"]
    summary = report.summary()
    assert summary["matched"] == 6 and summary["unmatched"] == 2 and summary["dated"] == 8
    assert "year is within 1" in str(summary["rules"])


def test_own_title_wins_over_an_alternate_and_a_part():
    films = [film("Q1", "Seven", 1995), film("Q2", "Se7en", 1995), film("Q3", "Seven: The Story", 1995)]
    assert match_films([("1", "Seven (Se7en)", 1995)], films).matches == {"1": "Q1"}
    report = match_films([("1", "Seven (Se7en)", 1995)], films[1:])
    assert report.matches == {"1": "Q2"} and report.by_alternate == ["1"]


# --------------------------------------------------------------------------- the join


def write_movielens_items(path):
    path.write_text(
        "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n"
        "1\tUsual Suspects, The\t1995\tCrime Thriller\n"
        "2\tHeat\t1995\tAction Crime\n"
        "3\tSomething Unknown\t1996\tDrama\n"
        "4\tunkonwn\t\tunknown\n",
        encoding="utf-8",
    )


def write_films(path):
    rows = [
        ("Q1", "The Usual Suspects", "1995", "Crime", "Bryan Singer", "Kevin Spacey|Gabriel Byrne", "106", "English", "United States", "80"),
        ("Q2", "Heat", "1995", "Crime", "Michael Mann", "Al Pacino|Robert De Niro|Val Kilmer", "170", "English", "United States", "90"),
        ("Q3", "Ronin", "1998", "Action", "John Frankenheimer", "Robert De Niro|Jean Reno", "122", "English|French", "France|United States", "70"),
        ("Q4", "Casino", "1995", "Crime", "Martin Scorsese", "Robert De Niro|Sharon Stone", "178", "English", "United States", "60"),
    ]  # fmt: skip
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(assets.FILMS_COLUMNS)
        writer.writerows(rows)


def test_write_enriched_joins_the_facts(tmp_path):
    write_movielens_items(tmp_path / "ml-100k.item")
    write_films(tmp_path / "films.csv")
    report = enrich.write_enriched(tmp_path / "ml-100k.item", tmp_path / "films.csv", tmp_path)
    with open(tmp_path / "items.csv", encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == list(enrich.ITEM_COLUMNS) and [r["item_id"] for r in rows] == ["1", "2", "3", "4"]
    assert rows[0]["title"] == "Usual Suspects, The" and rows[0]["genres"] == "Crime|Thriller"
    assert rows[0]["director"] == "Bryan Singer" and rows[0]["runtime"] == "106" and rows[0]["film_id"] == "Q1"
    # Cast by credits in the whole table (De Niro: three films), then by name.
    assert rows[1]["cast"] == "Robert De Niro|Al Pacino|Val Kilmer"
    assert all(rows[2][k] == "" for k in (*enrich.FACTS, "film_id")) and rows[2]["genres"] == "Drama"
    assert report.summary()["matched"] == 2 and report.unmatched == ["3"] and report.undated == ["4"]
    detail = json.loads((tmp_path / "match-report.json").read_text())
    assert detail["unmatched_titles"] == ["Something Unknown (1996)"] and detail["matched"] == 2
    text = enrich.notice(report, "# omdb-films\n\nFilm data from Wikidata, licence CC0-1.0.\n")
    assert "matched: 2 of the 3 dated items" in text and "unmatched: 1" in text and "CC0-1.0" in text


def test_the_asset_conversion_keeps_licence_and_report(tmp_path):
    from test_assets import make_omdb

    make_omdb(tmp_path)
    write_movielens_items(tmp_path / "ml-100k.item")
    (tmp_path / "CC0-1.0.txt").write_text("CC0")
    assets._enrich_movielens(tmp_path)
    names = {p.name for p in tmp_path.iterdir()}
    assert {"items.csv", "NOTICE.md", "match-report.json", "CC0-1.0.txt", "datasets.json"} <= names
    assert not names & {"movies.db", "films.csv", "ml-100k.item"}  # intermediate files are gone
    notice = (tmp_path / "NOTICE.md").read_text()
    assert "Wikidata contributors" in notice and "unmatched: 3" in notice and "Match report" in notice
    with pytest.raises(assets.AssetError, match="the join changed"):
        make_omdb(tmp_path)
        write_movielens_items(tmp_path / "ml-100k.item")
        assets._enrich_movielens(tmp_path, expected_sha256="0" * 64)


def test_the_enriched_asset_and_config_are_registered():
    asset = assets.get("movielens-100k-enriched")
    assert [w.requirement for w in asset.wheels] == ["recbole==1.2.1", "bokeh-sampledata==2026.1"]
    assert "items.csv" not in asset.members.values() and asset.convert is not None
    assert len(assets._ENRICHED_ITEMS_SHA256) == 64

    from recchat.config import RecommenderConfig

    config = RecommenderConfig.load("movielens-100k-enriched")  # a built-in configuration by name
    assert config.name == "movielens-100k-enriched"
    assert config.catalog.with_role("facet") == ["genres", "director", "cast", "country", "language"]
    assert config.catalog.fields["runtime"].role == "range" and config.catalog.fields["runtime"].unit == "minutes"
    assert config.catalog.fields["cast"].cues[:2] == ["with", "starring"]
    assert config.catalog.path == "asset:movielens-100k-enriched/items.csv"


# --------------------------------------------------------------------------- the conversation


def test_short_names_of_people_not_of_kinds():
    from recchat.conversation.domain import short_names

    people = Counter(
        {"Quentin Tarantino": 4, "Sharon Stone": 3, "Robert De Niro": 5, "Tom Hanks": 6, "Colin Hanks": 1,
         "Ed Harris": 2, "Richard Harris": 2, "Morgan Freeman": 3, "Robert Downey, Jr.": 2, "Cher": 5, "Jo Once": 1}
    )  # fmt: skip
    short, cued = short_names(people)
    assert short["tarantino"] == "Quentin Tarantino" and short["de niro"] == "Robert De Niro"
    assert short["hanks"] == "Tom Hanks"  # six items against one: clearly his
    assert short["downey"] == "Robert Downey, Jr."
    assert "stone" not in short  # an everyday word
    assert "harris" not in short  # two people with as many items
    assert "once" not in short and "cher" not in short
    assert "freeman" in cued and "tarantino" not in cued  # a word too: read after a cue only
    assert short_names(Counter({"Drama": 40, "Comedy": 30})) == ({}, set())  # kinds


def people_domain():
    from recchat.conversation.domain import Domain, Facet, RangeField

    return Domain(
        item="movie",
        items="movies",
        facets=[
            Facet("genres", ["Comedy", "Drama"]),
            Facet("director", ["Quentin Tarantino", "Tom Hanks"], cues=["by", "directed by"],
                  short={"tarantino": "Quentin Tarantino"}),
            Facet("cast", ["Tom Hanks", "Quentin Tarantino", "Morgan Freeman"], cues=["with", "starring"],
                  short={"hanks": "Tom Hanks", "tarantino": "Quentin Tarantino", "freeman": "Morgan Freeman"},
                  cued={"freeman"}),
            Facet("language", ["English", "French"], cues=["in"]),
            Facet("country", ["France"], synonyms={"french": "France"}),
        ],
        ranges=[RangeField("runtime", 60, 200, "minutes")],
    )  # fmt: skip


@pytest.mark.parametrize(
    "message,wanted,avoided",
    [
        ("something by Tarantino", {"director": ["Quentin Tarantino"]}, {}),
        ("something with Tarantino", {"cast": ["Quentin Tarantino"]}, {}),
        ("a Tarantino film", {"director": ["Quentin Tarantino"]}, {}),  # no cue: the earlier facet
        ("a movie with Tom Hanks", {"cast": ["Tom Hanks"]}, {}),
        ("directed by Tom Hanks", {"director": ["Tom Hanks"]}, {}),
        ("nothing with Hanks", {}, {"cast": ["Tom Hanks"]}),
        ("a drama with Freeman", {"genres": ["Drama"], "cast": ["Morgan Freeman"]}, {}),
        ("a film about a freeman", {}, {}),  # a last name that is a word too needs a cue
        ("not in English", {}, {"language": ["English"]}),
        ("something in French", {"language": ["French"]}, {}),
        ("a comedy in english", {"genres": ["Comedy"], "language": ["English"]}, {}),
    ],
)
def test_people_and_cues(message, wanted, avoided):
    from recchat.conversation.clauses import Clauses
    from recchat.conversation.constraints import Understanding, read_facets

    out = Understanding()
    read_facets(Clauses(message), " " + message.lower() + " ", people_domain(), set(), out)
    assert out.wanted == wanted and out.avoided == avoided


@pytest.mark.parametrize(
    "message,bounds",
    [
        ("under two hours", {"$lt": 120}),
        ("less than an hour and a half", {"$lt": 90}),
        ("at most 1.5 hours", {"$lte": 90}),
        ("over 2 hrs", {"$gt": 120}),
        ("between one and two hours", {"$gte": 60, "$lte": 120}),
        ("nothing over two and a half hours", {"$lte": 150}),
        ("not under 100 minutes", {"$gte": 100}),
        ("no more than 100 minutes", {"$lte": 100}),
        ("a film from 1995", None),
    ],
)
def test_runtime_in_hours_and_minutes(message, bounds):
    from recchat.conversation.constraints import Understanding, read_ranges

    out = Understanding()
    read_ranges(" " + message.lower() + " ", people_domain(), out)
    assert out.ranges.get("runtime") == bounds


def test_hours_convert_only_to_a_smaller_unit():
    from recchat.conversation.constraints import in_unit

    assert in_unit("under two hours", "minutes") == "under 120 minutes"
    assert in_unit("under half an hour", "minutes") == "under 30 minutes"
    assert in_unit("under two hours", "pages") == "under two hours"


def test_an_item_without_the_field_fails_not_contains_in_the_index_too(tmp_path):
    """Chroma lets an item that lacks a field through "$not_contains"; the exact search agrees with
    recchat's own filter instead ("not in English" keeps out films whose language is unknown)."""
    from fakes import tiny_index

    from recchat.data.catalog import Catalog
    from recchat.index.filters import matches
    from recchat.types import Item

    catalog = Catalog(
        [
            Item("1", "Amelie", "Amelie, a French comedy", {"language": ["French"]}),
            Item("2", "Heat", "Heat, a crime film", {"language": ["English"]}),
            Item("3", "Unknown", "Unknown, a film", {}),
        ]
    )
    index = tiny_index(catalog, tmp_path / "index")
    where = {"language": {"$not_contains": "English"}}
    assert [c.item.id for c in index.query("a film", k=3, where=where)] == ["1"]
    assert [i for i in "123" if matches(where, catalog[i])] == ["1"]
