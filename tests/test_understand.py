"""Rule-based message understanding on the real MovieLens catalog."""

from __future__ import annotations

import pytest

from recchat.understand import TitleResolver, normalize_title, understand

GENRES = ["Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
          "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War",
          "Western"]


@pytest.fixture(scope="module")
def resolver(movielens):
    return TitleResolver(movielens.catalog)


def title(movielens, item_id):
    return movielens.catalog[item_id].title


def test_normalize_title():
    assert normalize_title("The Godfather: Part II") == "godfather 2"
    assert normalize_title("Godfather 2") == "godfather 2"
    assert normalize_title("Amélie (2001)") == "amelie"


@pytest.mark.parametrize("text,expected", [
    ("the godfather", "The Godfather"),
    ("Godfather 2", "The Godfather: Part II"),
    ("godfather part ii", "The Godfather: Part II"),
    ("usual suspects", "The Usual Suspects"),
    ("Star Wars", "Star Wars"),
    ("Pulp Fictoin", "Pulp Fiction"),          # typo
    ("the shawshank redemtion", "The Shawshank Redemption"),
])
def test_titles_resolve_despite_case_articles_sequels_and_typos(resolver, movielens, text, expected):
    assert title(movielens, resolver.resolve(text)) == expected


def test_titles_found_in_a_sentence(resolver, movielens):
    u = understand("I loved Heat and the godfather, but not Scream. Something like it but older", resolver, GENRES)
    assert [title(movielens, i) for i in u.liked] == ["Heat", "The Godfather"]
    assert [title(movielens, i) for i in u.disliked] == ["Scream"]
    assert "older" in u.critiques


def test_genres_negations_and_eras(resolver):
    u = understand("a funny sci fi movie from the 80s, no horror please", resolver, GENRES)
    assert u.genres == ["Comedy", "Sci-Fi"] or set(u.genres) == {"Comedy", "Sci-Fi"}
    assert u.avoid_genres == ["Horror"]
    assert (u.year_min, u.year_max) == (1980, 1989)
    u = understand("cartoons for kids made before 1970", resolver, GENRES)
    assert set(u.genres) == {"Animation", "Children's"} and u.year_max == 1969 and u.year_min is None
    u = understand("something recent and less violent", resolver, GENRES)
    assert u.year_min == 1995 and {"Action", "War", "Crime"} <= set(u.avoid_genres)


def test_critiques(resolver):
    assert "reject" in understand("not that one", resolver, GENRES).critiques
    assert "seen" in understand("I've seen it already", resolver, GENRES).critiques
    u = understand("more like the second one", resolver, GENRES)
    assert "more_like" in u.critiques and u.refers_to == [2]
    assert "newer" in understand("anything newer?", resolver, GENRES).critiques


def test_fuzzy_matching_does_not_swallow_the_next_word(resolver, movielens):
    u = understand("I loved Heat and the godfather, no horror", resolver, GENRES)
    assert [title(movielens, i) for i in u.liked] == ["Heat", "The Godfather"]


def test_plain_words_are_not_titles(resolver):
    u = understand("I want something to watch tonight with my family", resolver, GENRES)
    assert u.titles == [] and u.genres == ["Children's"]


def test_llm_extraction_is_validated_and_mapped_onto_the_catalog(resolver, movielens):
    from recchat.understand import ExtractionError, parse_extraction

    got = parse_extraction('Sure! {"liked": ["pulp fiction", "No Such Film 3000"], "disliked": [], '
                           '"genres": ["comedies", "Jazz"], "avoid_genres": ["horror"], "year_min": 1990, '
                           '"year_max": null} hope that helps', resolver, GENRES)
    assert [title(movielens, i) for i in got.liked] == ["Pulp Fiction"]   # the unknown title is dropped
    assert got.genres == ["Comedy"] and got.avoid_genres == ["Horror"] and got.year_min == 1990
    for bad, why in [("no json here", "no JSON object"), ('{"liked": "Heat"}', "not a list of strings"),
                     ('{"liked": [], "year_min": 12}', "plausible year"), ('{"mood": "sad"}', "unexpected key"),
                     ('{"liked": [,]}', "not valid JSON")]:
        with pytest.raises(ExtractionError, match=why):
            parse_extraction(bad, resolver, GENRES)


def test_merge_adds_what_the_rules_missed_and_the_rules_win_conflicts(resolver, movielens):
    from recchat.understand import Understanding, merge

    rules = understand("I loved Heat, no horror, something from the 80s", resolver, GENRES)
    heat = rules.liked[0]
    pulp = resolver.resolve("Pulp Fiction")
    llm = Understanding(liked=[pulp], disliked=[heat], genres=["Horror", "Thriller"], year_min=1970, year_max=1975)
    merged = merge(rules, llm)
    assert merged.liked == [heat, pulp] and merged.disliked == []     # Heat stays liked
    assert merged.genres == ["Thriller"] and merged.avoid_genres == ["Horror"]
    assert (merged.year_min, merged.year_max) == (1980, 1989) and merged.llm == "used"
    assert merge(rules, Understanding()).llm == "nothing new"
    assert rules.liked == [heat]  # the rules' own reading is not modified


def test_genre_words_inside_titles_are_not_wishes(resolver, movielens):
    u = understand("I liked Star Wars and The Crying Game. Something funny, no sci-fi", resolver, GENRES)
    assert u.genres == ["Comedy"] and u.avoid_genres == ["Sci-Fi"]
    assert {title(movielens, i) for i in u.liked} == {"Star Wars", "The Crying Game"}


def test_chroma_resolves_what_spelling_rules_cannot(movielens, embedder, tmp_path):
    from recchat.index import ItemIndex

    index = ItemIndex("resolve-items", path=tmp_path, embedder=embedder)
    index.build(movielens.catalog, progress=False)
    plain = TitleResolver(movielens.catalog)
    with_index = TitleResolver(movielens.catalog, index=index)
    assert plain.resolve("Star Wars: A New Hope") is None
    assert title(movielens, with_index.resolve("Star Wars: A New Hope")) == "Star Wars"
    assert with_index.resolve("a film about sharks") is None  # meaning alone is not a title
