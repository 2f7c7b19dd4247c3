"""Catalog and interaction loaders: good files in every format, broken files, the real MovieLens."""

from __future__ import annotations

import json

import pytest

from recchat.config import RecommenderConfig
from recchat.data.catalog import CatalogSpec, FieldSpec, InteractionSpec, load_catalog, load_interactions, load_users
from recchat.data.tables import DataError, read_rows

SPEC = CatalogSpec(
    id_column="id",
    title_column="name",
    fields={"year": FieldSpec("year", "int"), "tags": FieldSpec("tags", "list", sep="|")},
    text_template="{{ title }}{% if year %} ({{ year }}){% endif %}{% if tags %}: {{ tags | join(', ') }}{% endif %}",
)


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


GOOD_CSV = 'id,name,year,tags\n1,Heat,1995,crime|thriller\n2,"Goofy Movie, A",1995,animation\n3,Alien,1979,\n'
GOOD_JSONL = (
    "\n".join(
        json.dumps(r)
        for r in [
            {"id": 1, "name": "Heat", "year": 1995, "tags": ["crime", "thriller"]},
            {"id": "2", "name": "Goofy Movie, A", "year": "1995", "tags": "animation"},
            {"id": 3, "name": "Alien", "year": 1979},
        ]
    )
    + "\n"
)
GOOD_ATOMIC = (
    "id:token\tname:token_seq\tyear:token\ttags:token_seq\n"
    "1\tHeat\t1995\tcrime|thriller\n2\tGoofy Movie, A\t1995\tanimation\n3\tAlien\t1979\t\n"
)


@pytest.mark.fast
@pytest.mark.parametrize(
    "name,text", [("items.csv", GOOD_CSV), ("items.jsonl", GOOD_JSONL), ("items.item", GOOD_ATOMIC)]
)
def test_every_format_loads_the_same_items(tmp_path, name, text):
    catalog = load_catalog(write(tmp_path, name, text), SPEC)
    assert [i.id for i in catalog] == ["1", "2", "3"]
    assert catalog["1"].text == "Heat (1995): crime, thriller"
    assert catalog["1"].fields == {"year": 1995, "tags": ["crime", "thriller"]}
    assert catalog["3"].fields == {"year": 1979}  # an empty list field is absent, not []
    assert catalog.report.loaded == catalog.report.rows == 3
    assert not catalog.report.skipped and not catalog.report.warnings


@pytest.mark.fast
def test_formats_agree_on_the_fingerprint(tmp_path):
    prints = {
        load_catalog(write(tmp_path, n, t), SPEC).fingerprint()
        for n, t in [("a.csv", GOOD_CSV), ("a.jsonl", GOOD_JSONL), ("a.item", GOOD_ATOMIC)]
    }
    assert len(prints) == 1


@pytest.mark.fast
def test_bad_value_names_file_line_and_field(tmp_path):
    path = write(tmp_path, "items.csv", GOOD_CSV + "4,Brazil,nineteen85,\n")
    with pytest.raises(DataError) as err:
        load_catalog(path, SPEC)
    assert err.value.line == 5 and err.value.field == "year"
    assert str(err.value).startswith(f"{path}:5: field 'year':")
    assert "nineteen85" in str(err.value)


@pytest.mark.fast
def test_wrong_column_count_names_the_line(tmp_path):
    path = write(tmp_path, "items.item", GOOD_ATOMIC + "4\tBrazil\n")
    with pytest.raises(DataError, match=r"items\.item:5: 2 columns where the header has 4"):
        load_catalog(path, SPEC)


@pytest.mark.fast
def test_broken_json_names_the_line(tmp_path):
    path = write(tmp_path, "items.jsonl", GOOD_JSONL + '{"id": 4, "name": \n')
    with pytest.raises(DataError, match=r"items\.jsonl:4: not valid JSON"):
        load_catalog(path, SPEC)


@pytest.mark.fast
def test_missing_column_is_named(tmp_path):
    path = write(tmp_path, "items.csv", "id,title\n1,Heat\n")
    with pytest.raises(DataError, match="field 'name': column missing"):
        load_catalog(path, SPEC)


@pytest.mark.fast
def test_skip_bad_keeps_going_and_counts(tmp_path):
    text = GOOD_ATOMIC + "4\tBrazil\n5\tBrazil\tx\t\n6\tHeat 2\t1999\t\n1\tDuplicate\t2000\t\n"
    catalog = load_catalog(write(tmp_path, "items.item", text), SPEC, skip_bad=True)
    assert [i.id for i in catalog] == ["1", "2", "3", "6"]
    assert catalog["1"].title == "Heat"  # the duplicate did not replace the first
    report = catalog.report
    assert (report.rows, report.loaded, len(report.skipped)) == (7, 4, 3)
    assert [e.line for e in report.skipped] == [5, 6, 8]
    assert "duplicate id '1' (first seen on line 2)" in str(report.skipped[2])
    assert "3 skipped" in report.summary()


@pytest.mark.fast
def test_duplicate_id_is_an_error_by_default(tmp_path):
    with pytest.raises(DataError, match=r":5: field 'id': duplicate id '1'"):
        load_catalog(write(tmp_path, "i.csv", GOOD_CSV + "1,Again,2000,\n"), SPEC)


@pytest.mark.fast
def test_empty_text_is_kept_and_reported(tmp_path):
    spec = CatalogSpec(id_column="id", title_column="name", text_template="{{ title }}")
    catalog = load_catalog(write(tmp_path, "i.csv", "id,name\n1,Heat\n2,\n"), spec)
    assert "2" in catalog and catalog["2"].text == ""
    assert len(catalog.report.warnings) == 1 and "item '2' has empty text" in str(catalog.report.warnings[0])


@pytest.mark.fast
def test_lenient_field_warns_instead_of_failing(tmp_path):
    spec = CatalogSpec(id_column="id", title_column="name", fields={"year": FieldSpec("year", "int", strict=False)})
    catalog = load_catalog(write(tmp_path, "i.csv", "id,name,year\n1,Heat,V\n"), spec)
    assert catalog["1"].fields == {}
    assert "i.csv:2: field 'year': 'V' is not an integer; left empty" in str(catalog.report.warnings[0])


@pytest.mark.fast
def test_template_errors_show_at_spec_time():
    with pytest.raises(ValueError, match="text template does not render"):
        CatalogSpec(text_template="{{ title }} {{ no_such_field }}")


@pytest.mark.fast
def test_template_cannot_reach_python_internals():
    with pytest.raises(ValueError, match="unsafe"):
        CatalogSpec(text_template="{{ title.__class__.__mro__ }}")


@pytest.mark.fast
def test_unknown_format_says_how_to_name_it(tmp_path):
    with pytest.raises(ValueError, match="name it with --format"):
        list(read_rows(write(tmp_path, "items.dat", "a\n")))


@pytest.mark.fast
def test_interactions_formats_and_unknown_items(tmp_path):
    catalog = load_catalog(write(tmp_path, "items.csv", GOOD_CSV), SPEC)
    spec = InteractionSpec("user", "item", "stars", "ts")
    csv_log = load_interactions(
        write(tmp_path, "log.csv", "user,item,stars,ts\nu1,1,5,100\nu1,3,,101\n"), spec, catalog=catalog
    )
    assert [(i.user, i.item, i.rating, i.timestamp) for i in csv_log] == [
        ("u1", "1", 5.0, 100.0),
        ("u1", "3", None, 101.0),
    ]
    jsonl = write(tmp_path, "log.jsonl", '{"user": "u2", "item": 2, "ts": 5}\n{"user": "u2", "item": 9, "ts": 6}\n')
    with pytest.raises(DataError, match=r"log\.jsonl:2: field 'item': item id '9' is not in the catalog"):
        load_interactions(jsonl, spec, catalog=catalog)
    kept = load_interactions(jsonl, spec, catalog=catalog, skip_bad=True)
    assert len(kept) == 1 and len(kept.report.skipped) == 1
    with pytest.raises(DataError, match=r"field 'ts': 'noon' is not a number"):
        load_interactions(write(tmp_path, "bad.csv", "user,item,stars,ts\nu1,1,5,noon\n"), spec)


@pytest.mark.fast
def test_interactions_without_rating_or_time(tmp_path):
    log = load_interactions(
        write(tmp_path, "log.csv", "user_id,item_id\na,1\n"), InteractionSpec(rating_column=None, timestamp_column=None)
    )
    assert log.interactions[0].rating is None and log.interactions[0].timestamp is None


def test_movielens_100k_real_files(movielens):
    catalog, log = movielens.catalog, movielens.interactions
    assert len(catalog) == 1682 and len(log) == 100_000 and len(log.users()) == 943
    assert len(movielens.users) == 943 and movielens.users["1"]["occupation"] == "technician"
    assert catalog["1"].text == "Toy Story (1995). Genres: Animation, Children's, Comedy."
    assert catalog["12"].title == "The Usual Suspects"  # "Usual Suspects, The" moved
    assert catalog["1"].fields["year"] == 1995
    # ML-100K's two known defects are reported, not hidden: item 267 has no title at all and
    # item 1412 has "V" for its year.
    warnings = {(w.line, w.field) for w in catalog.report.warnings}
    assert warnings == {(268, "movie_title"), (1413, "release_year")}
    assert catalog["267"].text == "" and "year" not in catalog["1412"].fields
    first = log.interactions[0]
    assert (first.user, first.item, first.rating, first.timestamp) == ("196", "242", 3.0, 881250949.0)


@pytest.mark.fast
def test_movielens_spec_article_rules():
    from recchat.data.catalog import _move_article

    assert _move_article("Goofy Movie, A") == "A Goofy Movie"
    assert (
        _move_article("City of Lost Children, The (Cité des enfants perdus, La)")
        == "The City of Lost Children (Cité des enfants perdus, La)"
    )
    assert _move_article("Crumb") == "Crumb"
    assert RecommenderConfig.default().catalog.move_articles


@pytest.mark.fast
def test_users_file(tmp_path):
    users = load_users(write(tmp_path, "u.user", "user_id:token\tage:token\n1\t24\n2\t53\n"))
    assert users == {"1": {"age": "24"}, "2": {"age": "53"}}
    with pytest.raises(DataError, match="duplicate user id"):
        load_users(write(tmp_path, "d.user", "user_id:token\tage:token\n1\t24\n1\t53\n"))


@pytest.mark.fast
def test_table_options_read_headerless_latin1_and_unquoted_files(tmp_path):
    from recchat.data.tables import TableOptions

    path = tmp_path / "u.item"  # MovieLens 100K: '|', latin-1, no header, a lone quote in a title
    path.write_bytes(
        '1|Misérables, Les (1995)|01-Jan-1995|0|1|1\n2|The "Pink" Panther (1963)|V|1|0|0\n'.encode("latin-1")
    )
    options = TableOptions(sep="|", quote="", encoding="latin-1", header=("id", "name", "date", "a", "b", "c"))
    spec = CatalogSpec(
        "id",
        "name",
        {"year": FieldSpec("date", "int", pattern=r"\d{4}"), "flags": FieldSpec("", "list", columns=("a", "b", "c"))},
    )
    catalog = load_catalog(path, spec, fmt="csv", options=options)
    assert catalog["1"].title == "Misérables, Les (1995)" and catalog["1"].fields == {"year": 1995, "flags": ["b", "c"]}
    assert catalog["2"].title == 'The "Pink" Panther (1963)' and catalog["2"].fields == {"flags": ["a"]}
    with pytest.raises(DataError, match=r"u\.item:1: byte 0xE9 is not UTF-8"):  # read as UTF-8: named
        load_catalog(path, spec, fmt="csv", options=TableOptions(sep="|", quote="", header=options.header))


@pytest.mark.fast
def test_nested_json_lists_are_one_list(tmp_path):
    path = write(
        tmp_path,
        "meta.jsonl",
        json.dumps(
            {
                "asin": "B1",
                "title": "Strings",
                "categories": [["Musical Instruments", "Strings"], ["Musical Instruments", "Bass Strings"]],
            }
        )
        + "\n",
    )
    spec = CatalogSpec("asin", "title", {"categories": FieldSpec("categories", "list")})
    assert load_catalog(path, spec)["B1"].fields["categories"] == ["Musical Instruments", "Strings", "Bass Strings"]
    bad = write(tmp_path, "bad.jsonl", json.dumps({"asin": "B1", "title": "x", "categories": [{"a": 1}]}) + "\n")
    with pytest.raises(DataError, match="field 'categories': a list of strings is expected, got nested JSON"):
        load_catalog(bad, spec)


@pytest.mark.fast
@pytest.mark.parametrize(
    "time_format, value, seconds",
    [
        ("milliseconds", "1425254400500", 1425254400.5),
        ("iso", "2015-03-02T00:00:00Z", 1425254400.0),
        ("iso", "2015-03-02", 1425254400.0),
    ],
)
def test_timestamps_in_milliseconds_and_iso_become_unix_seconds(tmp_path, time_format, value, seconds):
    log = load_interactions(
        write(tmp_path, "log.csv", f"user,item,ts\na,1,{value}\n"),
        InteractionSpec("user", "item", None, "ts", time_format),
    )
    assert log.interactions[0].timestamp == seconds


@pytest.mark.fast
@pytest.mark.parametrize(
    "key, value, message",
    [
        ("delimiter", "||", "catalog.delimiter: '||' is not one character"),
        ("encoding", "klingon", "catalog.encoding: unknown encoding 'klingon'"),
        ("header", ["id", "id"], "catalog.header: the column names must be distinct"),
    ],
)
def test_bad_table_settings_name_the_key(tmp_path, key, value, message):
    from recchat.config import ConfigError

    write(tmp_path, "items.csv", GOOD_CSV)
    config = RecommenderConfig.from_dict(
        {"catalog": {"path": str(tmp_path / "items.csv"), "id": "id", "title": "name", key: value}}
    )
    with pytest.raises(ConfigError, match=message):
        config.check(interactions=False)
