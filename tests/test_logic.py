"""Sentence logic (issue 19): "X or Y" is a union, "anything but X" excludes, "I've seen all the
<series> movies" likes the whole series, constraints that leave nothing are relaxed with a note,
counts read as English, and series found without a shared title stem.

The rule tests read messages against small hand-made catalogs or MovieLens's domain (no model);
the chat tests use a small real recommender (MiniLM, a Chroma index, no scorer, no LLM)."""

from __future__ import annotations

import pytest

from recchat.conversation.domain import Domain, find_series
from recchat.conversation.link import Linker
from recchat.conversation.session_state import SessionState
from recchat.conversation.understand import understand
from recchat.data.catalog import Catalog
from recchat.index import ItemIndex, matches
from recchat.recommender import Recommender
from recchat.rerank import NO_LLM
from recchat.types import Item

# --------------------------------------------------------------------------- a small bookshop

# (id, title, year, pages, subjects, author): History or Biography before 1960 is 4 books; History
# and Biography together only after 1960; one Poetry book before 1960.
BOOKS = [
    ("h1", "Roads of the Empire", 1931, 420, ["History"], "Ida Marsh"),
    ("h2", "The Long Winter War", 1952, 380, ["History"], "Ida Marsh"),
    ("h3", "Harbour Towns", 1985, 300, ["History"], "Ned Hale"),
    ("g1", "A Life of Ravel", 1947, 350, ["Biography"], "Ned Hale"),
    ("g2", "The Admiral", 1958, 410, ["Biography"], "Ida Marsh"),
    ("g3", "Letters Home", 1990, 260, ["Biography"], "Ned Hale"),
    ("x1", "The Statesman and His Century", 1975, 520, ["History", "Biography"], "Ida Marsh"),
    ("x2", "Queens of the North", 1999, 480, ["History", "Biography", "Poetry"], "Ned Hale"),
    ("p1", "Small Hours", 1939, 90, ["Poetry"], "Ann Vale"),
    ("p2", "Salt and Light", 2004, 110, ["Poetry"], "Ann Vale"),
    ("f1", "The Glass Tower", 2001, 390, ["Fantasy"], "Tom Reed"),
    ("f2", "Beyond the Glass Tower", 2006, 400, ["Fantasy"], "Tom Reed"),
    ("f3", "The Glass Tower Returns", 2009, 410, ["Fantasy", "Romance"], "Tom Reed"),
    ("r1", "Summer Letters", 2012, 300, ["Romance"], "Ada Moss"),
    ("r2", "Harbour Lights", 2015, 320, ["Romance", "Mystery"], "Ada Moss"),
    ("m1", "Murder at the Glass Tower", 2010, 280, ["Mystery", "Fantasy"], "Ann Vale"),
]


@pytest.fixture(scope="module")
def shop():
    catalog = Catalog(
        Item(
            i,
            t,
            f"{t}. A {' and '.join(s).lower()} book by {a}.",
            {"subjects": s, "authors": [a], "year": y, "pages": p},
        )
        for i, t, y, p, s, a in BOOKS
    )
    domain = Domain.infer(catalog, item="book")
    return catalog, domain, Linker.for_domain(catalog, domain)


@pytest.fixture(scope="module")
def shop_rec(shop, embedder, tmp_path_factory):
    catalog, domain, _ = shop
    index = ItemIndex("logic-shop", path=tmp_path_factory.mktemp("logic-shop"), embedder=embedder)
    index.build(catalog, progress=False)
    return Recommender(catalog, index, domain=domain)


def chat(rec):
    return rec.chat(reranker=NO_LLM, understand_with_llm=False, explain_with_llm=False)


# --------------------------------------------------------------------------- "or", "and"


@pytest.mark.parametrize(
    "message,groups,years",
    [
        ("a comedy or a romance from the 90s", [["Comedy", "Romance"]], (1990, 1999)),
        ("something funny or maybe a thriller", [["Comedy", "Thriller"]], (None, None)),
        ("westerns, musicals or war films", [["Western", "Musical", "War"]], (None, None)),
        ("a thriller or a crime movie, but no horror", [["Thriller", "Crime"]], (None, None)),
    ],
)
def test_or_between_values_of_one_facet_is_a_union(movielens, movie_domain, message, groups, years):
    u = understand(message, Linker.for_domain(movielens.catalog, movie_domain), movie_domain)
    assert u.alternatives == {"genres": groups} and set(u.wanted["genres"]) == set(groups[0]), message
    assert (u.year_min, u.year_max) == years


@pytest.mark.parametrize("message", ["a comedy and a romance", "comedy, romance and drama", "a funny romance"])
def test_and_keeps_every_value(movielens, movie_domain, message):
    u = understand(message, Linker.for_domain(movielens.catalog, movie_domain), movie_domain)
    assert u.alternatives == {} and len(u.wanted["genres"]) >= 2, message


@pytest.mark.fast
def test_history_or_biography_is_either_and_history_and_biography_is_both(shop):
    catalog, domain, linker = shop
    u = understand("history or biography before 1960", linker, domain)
    assert u.alternatives == {"subjects": [["History", "Biography"]]} and u.year_max == 1959
    state = SessionState(wanted=u.wanted, alternatives=u.alternatives, year_max=u.year_max)
    where = state.where("year")
    either = [{"subjects": {"$contains": "History"}}, {"subjects": {"$contains": "Biography"}}]
    assert where == {"$and": [{"$or": either}, {"year": {"$lte": 1959}}]}
    assert sorted(i.id for i in catalog if matches(where, i)) == ["g1", "g2", "h1", "h2"]
    u = understand("history and biography before 1960", linker, domain)
    assert u.alternatives == {} and u.wanted == {"subjects": ["History", "Biography"]}
    both = SessionState(wanted=u.wanted).where("year")
    assert sorted(i.id for i in catalog if matches(both, i)) == ["x1", "x2"]
    # Values of different facets stay all required: "or" is a union within one facet.
    u = understand("history or something by Ada Moss", linker, domain)
    assert u.alternatives == {} and u.wanted == {"subjects": ["History"], "authors": ["Ada Moss"]}


def test_a_union_filters_the_same_in_chroma_and_in_memory(shop, embedder, tmp_path):
    """Chroma's where accepts an $or of $contains on list metadata; the exact (in-memory) search
    and HNSW give the items the local evaluator gives."""
    catalog, _, _ = shop
    where = {
        "$and": [
            {"$or": [{"subjects": {"$contains": "History"}}, {"subjects": {"$contains": "Biography"}}]},
            {"subjects": {"$not_contains": "Poetry"}},
            {"year": {"$lte": 1980}},
        ]
    }
    expected = sorted(i.id for i in catalog if matches(where, i))
    assert expected == ["g1", "g2", "h1", "h2", "x1"]
    for name, options in (("exact", {}), ("hnsw", {"exact_below": 0})):
        index = ItemIndex(f"logic-or-{name}", path=tmp_path, embedder=embedder, **options)
        index.build(catalog, progress=False)
        assert sorted(c.item.id for c in index.query("a book", k=len(catalog), where=where)) == expected, name


def test_alternatives_across_turns(shop_rec):
    session = chat(shop_rec)
    session.send("history or biography")
    assert session.state.alternatives == {"subjects": [["History", "Biography"]]}
    session.send("no biography")  # an alternative turned down leaves the group
    assert session.state.wanted == {"subjects": ["History"]} and session.state.alternatives == {}
    session = chat(shop_rec)
    session.send("history or biography")
    session.send("history, please")  # a choice among the alternatives
    assert session.state.wanted == {"subjects": ["History"]} and session.state.alternatives == {}


def test_or_in_a_chat_shows_either_value(shop_rec):
    reply = chat(shop_rec).send("history or biography before 1960")
    assert sorted(i.item.id for i in reply.items) == ["g1", "g2", "h1", "h2"] and not reply.relaxed
    assert reply.message.startswith("Here are 4 picks (History or Biography, up to 1959).")


# --------------------------------------------------------------------------- negations


@pytest.mark.parametrize(
    "message",
    [
        "anything but drama",
        "something that isn't a drama",
        "not a drama",
        "no dramas please",
        "nothing with drama in it",
        "any genre except drama",
        "something other than a drama",
        "a comedy rather than a drama",
    ],
)
def test_negations_exclude(movielens, movie_domain, message):
    u = understand(message, Linker.for_domain(movielens.catalog, movie_domain), movie_domain)
    assert u.avoided == {"genres": ["Drama"]} and "Drama" not in u.wanted.get("genres", []), message


@pytest.mark.parametrize(
    "message,wanted,avoided",
    [
        ("no horror, something funny", ["Comedy"], ["Horror"]),  # a negation ends with its clause
        ("anything but horror, something funny", ["Comedy"], ["Horror"]),
        ("nothing but comedies", ["Comedy"], []),  # "nothing but" asks for them only
        ("not too long, something funny", ["Comedy"], []),
        ("a comedy but not a romance", ["Comedy"], ["Romance"]),
        ("anything but horror or war", [], ["Horror", "War"]),
    ],
)
def test_negations_keep_to_their_words(movielens, movie_domain, message, wanted, avoided):
    u = understand(message, Linker.for_domain(movielens.catalog, movie_domain), movie_domain)
    assert u.wanted.get("genres", []) == wanted and u.avoided.get("genres", []) == avoided, message
    assert u.ranges == {} and u.alternatives == {}


def test_anything_but_a_position_turns_it_down(movielens, movie_domain):
    u = understand("anything but the first one", Linker.for_domain(movielens.catalog, movie_domain), movie_domain)
    assert u.rejected_refs == [1] and u.liked_refs == []


@pytest.fixture(scope="module")
def small_ml(movielens, embedder, tmp_path_factory):
    """A Recommender on 400 MovieLens films and the members of two series (no scorer, no LLM)."""
    full = Domain.infer(movielens.catalog, item="movie")
    keep = {m for s in full.series if s.name in ("godfather", "star trek") for m in s.members}
    items = [i for i in movielens.catalog if i.text][:400] + [movielens.catalog[m] for m in sorted(keep)]
    catalog = Catalog(dict((i.id, i) for i in items).values())
    index = ItemIndex("logic-ml", path=tmp_path_factory.mktemp("logic-ml"), embedder=embedder)
    index.build(catalog, progress=False)
    return Recommender(catalog, index, domain=Domain.infer(catalog, item="movie"))


def test_anything_but_drama_shows_no_drama(small_ml):
    session = chat(small_ml)
    reply = session.send("anything but drama")
    assert len(reply.items) == 10 and session.state.avoided == {"genres": ["Drama"]}
    assert not [i.item.title for i in reply.items if "Drama" in i.item.fields["genres"]]


# --------------------------------------------------------------------------- a series seen whole


def test_a_series_seen_whole_is_liked_history(small_ml):
    godfather = small_ml.domain.series_named("Godfather").members
    session = chat(small_ml)
    reply = session.send("I've seen all the Godfather movies, something like them")
    assert reply.understood.seen_series == ["godfather"] and set(godfather) <= set(session.state.liked)
    assert reply.items and not set(godfather) & {i.item.id for i in reply.items}
    assert "seen all the Godfather movies" in reply.message and reply.understood.rejected_refs == []
    later = session.send("more like that")
    assert later.items and not set(godfather) & {i.item.id for i in later.items}


@pytest.mark.parametrize(
    "message,seen",
    [
        ("I watched every Star Trek film", ["star trek"]),
        ("read all of the Star Trek books", ["star trek"]),
        ("I loved each of the Godfather movies", ["godfather"]),
        ("I haven't seen all the Star Trek movies", []),
        ("I've seen the Godfather", []),  # one title, not the series
        ("no more Star Trek movies", []),  # kept out, not seen
    ],
)
def test_seen_whole_needs_all_of_and_a_verb(small_ml, message, seen):
    u = understand(message, Linker.for_domain(small_ml.catalog, small_ml.domain), small_ml.domain)
    assert u.seen_series == seen, message


# --------------------------------------------------------------------------- relaxation and counts


def test_constraints_that_leave_nothing_are_relaxed_with_a_note(shop_rec):
    reply = chat(shop_rec).send("history and biography before 1960")
    assert reply.relaxed == ["before 1960"] and reply.to_dict()["relaxed"] == ["before 1960"]
    assert sorted(i.item.id for i in reply.items) == ["x1", "x2"]
    assert reply.message.startswith("Nothing fits all of that; I dropped 'before 1960'. Here are the 2 closest picks.")
    # Exclusions are never dropped: the Poetry book stays out; ranges go before years.
    session = chat(shop_rec)
    reply = session.send("history and biography before 1960 under 200 pages, no poetry")
    assert reply.relaxed == ["under 200 pages", "before 1960"] and [i.item.id for i in reply.items] == ["x1"]
    assert "Here is the closest pick." in reply.message
    assert session.state.year_max == 1959  # the session keeps what was said; the next turn tries again


def test_wanted_values_are_dropped_oldest_first(shop_rec):
    session = chat(shop_rec)
    session.send("something by Ned Hale")
    reply = session.send("fantasy")
    assert reply.relaxed == ["Ned Hale"] and reply.items
    assert all("Fantasy" in i.item.fields["subjects"] for i in reply.items)


def test_counts_read_as_english(shop_rec):
    reply = chat(shop_rec).send("poetry from 1939")
    assert [i.item.id for i in reply.items] == ["p1"]
    assert reply.message.startswith("Here is 1 pick (Poetry, 1939-1939).")


# --------------------------------------------------------------------------- series without a stem


@pytest.mark.fast
def test_series_from_titles_holding_an_earlier_title(shop):
    catalog, domain, _ = shop
    # "The Glass Tower Returns" holds "The Glass Tower" (same author, subjects agree); "Beyond the
    # Glass Tower" too; "Murder at the Glass Tower" has another author: not a member.
    assert [catalog[m].title for m in domain.series_named("glass tower").members] == [
        "The Glass Tower",
        "Beyond the Glass Tower",
        "The Glass Tower Returns",
    ]
    assert find_series(catalog, "year") == []  # without the facets: stems only
    assert domain.series_of("r2") is None  # "Harbour Lights" holds no earlier title


def test_contained_titles_measured_on_movielens_and_the_generated_books(movielens, movie_domain, tmp_path):
    """The series the containment rule adds. Read by hand: MovieLens-100K 7 new series, 0 wrong
    (The Second Jungle Book is a follow-up by the 1994 film's makers, counted right); the
    generated books 0 new series (before the one-word rule: 1, "Summer" / "Poems for the
    Summer", wrong)."""
    import csv

    from books import generate

    stems = {s.name: s.members for s in find_series(movielens.catalog, "year")}
    added = {
        s.name: [movielens.catalog[m].title for m in s.members]
        for s in movie_domain.series
        if stems.get(s.name) != s.members
    }
    print("\nnew MovieLens series:", added)
    # Two more (one of four films, one of two) are the scenarios' (tests/scenarios/movielens.toml
    # names them, so they are not named here): the rules' tests leave the scenarios' titles alone.
    assert len(added) == 7 and sum(len(m) for m in added.values()) == 16
    assert {
        k: v
        for k, v in added.items()
        if len(v) < 4 and k in ("aladdin", "blues brothers", "crow", "jungle book", "mortal kombat")
    } == {
        "aladdin": ["Aladdin", "Aladdin and the King of Thieves"],
        "blues brothers": ["The Blues Brothers", "Blues Brothers 2000"],
        "crow": ["The Crow", "The Crow: City of Angels"],
        "jungle book": ["The Jungle Book", "The Second Jungle Book: Mowgli & Baloo"],
        "mortal kombat": ["Mortal Kombat", "Mortal Kombat: Annihilation"],
    }
    books_csv, _ = generate(tmp_path)
    rows = list(csv.DictReader(open(books_csv, newline="")))
    books = Catalog(
        Item(
            r["book_id"],
            r["title"],
            r["title"],
            {"subjects": r["subjects"].split("|"), "authors": r["authors"].split("|"), "year": int(r["year"])},
        )
        for r in rows
    )
    by_stem = find_series(books, "year")
    with_rule = find_series(books, "year", ["subjects", "authors"])
    print("new books series:", [s.name for s in with_rule if s not in by_stem])
    assert [(s.name, s.members) for s in with_rule] == [(s.name, s.members) for s in by_stem]
