"""Title linking (recchat.conversation.link) on small catalogs written the way public data sets write titles:
each alias rule, each guard from both sides, ambiguity, typos and partial titles. No model, no
asset: these run in about a second. They pin the rules alone; the learned second opinion on
titles of dictionary words (recchat.conversation.link_judge) has its own tests, test_link_judge.py."""

from __future__ import annotations

import pytest

from recchat.conversation.aliases import aliases_of, key_of, read_aliases, words
from recchat.conversation.link import Linker
from recchat.data.catalog import Catalog
from recchat.types import Item

FILMS = [
    ("1", "Matrix, The (1999)"),
    ("2", "Seven (a.k.a. Se7en) (1995)"),
    ("3", "Amelie (Fabuleux destin d'Amélie Poulain, Le) (2001)"),
    ("4", "Star Wars: Episode IV - A New Hope (1977)"),
    ("5", "Star Wars: Episode V - The Empire Strikes Back (1980)"),
    ("6", "WALL·E (2008)"),
    ("7", "E.T. the Extra-Terrestrial (1982)"),
    ("8", "Godfather, The (1972)"),
    ("9", "Godfather: Part II, The (1974)"),
    ("10", "Shawshank Redemption, The (1994)"),
    ("11", "Heat (1995)"),
    ("12", "Them! (1954)"),
    ("13", "Her (2013)"),
    ("14", "Up (2009)"),
    ("15", "Titanic (1953)"),
    ("16", "Titanic (1997)"),
    ("17", "Lord of the Rings: The Return of the King, The (2003)"),
    ("18", "Blaue Engel, Der (1930)"),
    ("19", "Fast & Furious (2009)"),
    ("20", "Kill Bill: Vol. 1 (2003)"),
    ("21", "Twelve Monkeys (a.k.a. 12 Monkeys) (1995)"),
    ("22", "Dark Knight, The (2008)"),
    ("23", "Inception (2010)"),
    ("24", "Pulp Fiction (1994)"),
    ("25", "Home Alone (1990)"),
    ("26", "Schindler's List (1993)"),
    ("27", "Graduate, The (1967)"),
    ("28", "Spider-Man (2002)"),
    ("29", "Vibes (1988)"),
    ("30", "Braveheart (1995)"),
]
POPULARITY = {
    "4": 300,
    "5": 250,
    "16": 400,
    "15": 3,
    "8": 500,
    "9": 300,
    "10": 450,
    "11": 200,
    "25": 600,
    "27": 420,
    "28": 500,
    "29": 2,
    "30": 400,
    "24": 480,
    "22": 400,
}


def rules_linker(*args, **kwargs) -> Linker:
    return Linker(*args, judge=None, **kwargs)


def _catalog(rows) -> Catalog:
    return Catalog(Item(i, t, t, {}) for i, t in rows)


@pytest.fixture(scope="module")
def films() -> Linker:
    return rules_linker(_catalog(FILMS), popularity=POPULARITY, everyday={"drama", "comedy", "movie", "movies"})


def linked(linker: Linker, message: str) -> list[str]:
    return [link.item_id for link in linker.link(message)]


@pytest.mark.fast
def test_normalised_words_keep_their_places():
    ws = words("I loved E.T. & WALL·E, didn't you?")
    assert [w.text for w in ws] == ["i", "loved", "et", "and", "wall", "e", "didn", "t", "you"]
    assert "I loved E.T. & WALL·E, didn't you?"[ws[2].start : ws[2].end] == "E.T"
    assert key_of("The Godfather: Part II") == key_of("godfather 2") == "godfather 2"
    assert key_of("Amélie") == key_of("amelie")


@pytest.mark.fast
def test_aliases_move_articles_in_several_languages():
    keys = {a.key for a in aliases_of("1", "Matrix, The (1999)")}
    assert {"matrix", "the matrix"} <= keys
    assert "blaue engel" in {a.key for a in aliases_of("18", "Blaue Engel, Der (1930)")}
    amelie = {a.key: a.kind for a in aliases_of("3", "Amelie (Fabuleux destin d'Amélie Poulain, Le) (2001)")}
    assert amelie["amelie"] == "title" and amelie["fabuleux destin d amelie poulain"] == "alternate"


@pytest.mark.fast
def test_aliases_from_parentheses_subtitles_numbers_and_punctuation():
    assert "se7en" in {a.key for a in aliases_of("2", "Seven (a.k.a. Se7en) (1995)")}
    empire = {a.key: a for a in aliases_of("5", "Star Wars: Episode V - The Empire Strikes Back (1980)")}
    assert empire["empire strikes back"].kind == "subtitle" and empire["star wars 5"].kind == "subtitle"
    assert empire["star wars"].kind == "stem" and empire["star wars"].strength < empire["empire strikes back"].strength
    assert {"wall e", "walle"} <= {a.key for a in aliases_of("6", "WALL·E (2008)")}
    assert "et" in {a.key for a in aliases_of("7", "E.T. the Extra-Terrestrial (1982)")}
    assert "fast and furious" in {a.key for a in aliases_of("19", "Fast & Furious (2009)")}
    assert "kill bill vol 1" in {a.key for a in aliases_of("20", "Kill Bill: Vol. 1 (2003)")}
    assert {"twelve monkeys", "12 monkeys"} <= {a.key for a in aliases_of("21", "Twelve Monkeys (1995)")}


@pytest.mark.fast
@pytest.mark.parametrize(
    "message, expected",
    [
        ("i loved the matrix", ["1"]),
        ("se7en", ["2"]),
        ("amelie and Amélie", ["3", "3"]),
        ("the empire strikes back", ["5"]),
        ("wall-e or walle or Wall E", ["6", "6", "6"]),
        ("e.t. for my little brother", ["7"]),
        ("the godfather part ii", ["9"]),
        ("godfather 2", ["9"]),
        ("godfather 1 and 2", ["8", "9"]),
        ("fast and furious", ["19"]),
        ("12 monkeys", ["21"]),
        ("schindlers list", ["26"]),
        ("spiderman", ["28"]),
        ("spider man", ["28"]),
        ("brave heart", ["30"]),
        ("the return of the king", ["17"]),
    ],
)
def test_titles_as_people_write_them(films, message, expected):
    assert linked(films, message) == expected


@pytest.mark.fast
def test_typos_and_partial_titles_link_and_say_so(films):
    [link] = films.link("shawshenk redemption")
    assert link.item_id == "10" and link.how == "corrected" and link.guessed
    [link] = films.link("shawshank")
    assert link.item_id == "10" and link.how == "partial" and link.guessed
    assert linked(films, "pulp fiktion and the dark night") == ["24", "22"]


@pytest.mark.fast
def test_ambiguity_is_settled_by_a_year_then_by_popularity(films):
    assert linked(films, "Titanic (1953)") == ["15"]
    assert linked(films, "titanic, the 1953 one") == ["15"]
    [link] = films.link("titanic")
    assert link.item_id == "16" and link.others == ["15"] and link.guessed
    [link] = films.link("star wars")  # the stem every episode shares: the most watched one
    assert link.item_id == "4" and link.kind == "stem" and link.guessed


@pytest.mark.fast
def test_a_stem_beside_a_named_member_names_nothing_more(films):
    assert linked(films, "the empire strikes back is my favourite star wars") == ["5"]


@pytest.mark.fast
@pytest.mark.parametrize(
    "message, expected",
    [
        # pronouns and function words are titles only when written as one
        ("I loved The Dark Knight and Inception, something like them", ["22", "23"]),
        ("I loved 'Them!' as a kid", ["12"]),
        ("a movie I can watch with her", []),
        ("I loved Her by Spike Jonze", ["13"]),
        ("something that cheers me up", []),
        ("We watched Up with the kids", ["14"]),
        # everyday words: capitalised away from the sentence start, quoted, or with other evidence
        ("something with heat and passion", []),
        ("I loved Heat and Pulp Fiction", ["11", "24"]),
        ("heat was great", []),
        ("something like heat", ["11"]),
        ("pulp fiction, heat and the godfather", ["24", "11", "8"]),
        ("seen heat schindlers list and pulp fiction", ["11", "26", "24"]),  # a list without commas
        ("seen heat waves and pulp fiction", ["24"]),
        ("we stayed home alone all weekend, anything fun", []),
        ("home alone was a favourite", ["25"]),
        ("the graduate", ["27"]),
        ("I graduate next year", []),
        ("SOMETHING LIKE HEAT", ["11"]),
        # one real English word naming a little-known item needs the same evidence
        ("silence of the lambs vibes but newer", []),
        ("I watched Vibes last night", ["29"]),
    ],
)
def test_guards_on_everyday_words_both_ways(films, message, expected):
    assert linked(films, message) == expected


@pytest.mark.fast
def test_a_year_backs_an_everyday_title(films):
    assert linked(films, "heat 1995") == ["11"]
    assert linked(films, "heat from 1995 on") == ["11"]
    assert linked(films, "a comedy about summer heat from 1960") == []


@pytest.mark.fast
def test_an_aliases_file_adds_what_no_rule_derives(tmp_path):
    catalog = _catalog(FILMS)
    path = tmp_path / "aliases.csv"
    path.write_text("item_id,alias\n4,A New Hope\n28,Spidey\n")
    linker = rules_linker(catalog, extra=read_aliases(path, catalog))
    assert linked(linker, "a new hope and spidey") == ["4", "28"]
    path.write_text("item_id,alias\n999,Nothing\n")
    with pytest.raises(ValueError, match=r"aliases.csv:2: item id '999'"):
        read_aliases(path, catalog)


@pytest.mark.fast
def test_authors_and_years_next_to_a_title_choose_between_twins():
    books = Catalog(
        [
            Item("b1", "Grey Heron", "", {"authors": ["Leo Bell"], "year": 2001}),
            Item("b2", "The Grey Heron", "", {"authors": ["Frances Whitlock"], "year": 1990}),
            Item("b3", "Honey", "", {"authors": ["Caleb Alvarez"], "year": 2005}),
        ]
    )
    linker = rules_linker(books, popularity={"b1": 1, "b2": 50})
    assert linked(linker, "grey heron by leo bell") == ["b1"]
    assert linked(linker, "grey heron by frances whitlock") == ["b2"]
    assert linked(linker, "honey by caleb alvarez") == ["b3"]  # an everyday word, backed by its author
    assert linked(linker, "something sweet like honey") == ["b3"]
    assert linked(linker, "tea with honey") == []


@pytest.mark.fast
def test_resolve_takes_a_title_alone_or_inside_a_longer_name(films):
    assert films.resolve("The Matrix") == films.resolve("Matrix, The") == "1"
    assert films.resolve("Star Wars: A New Hope") == "4"
    assert films.resolve("a film about sharks") is None


@pytest.mark.fast
def test_linking_a_long_message_stays_fast_enough_to_finish(films):
    # not a timing assertion: a pasted essay must simply finish (every span is looked up once)
    text = " ".join(["i loved the matrix and something like heat but not home alone"] * 300)
    assert len(films.link(text)) >= 300


def test_the_reply_says_which_item_a_guess_took(rec):
    from recchat.rerank import NO_LLM

    reply = rec.chat(reranker=NO_LLM).send("shawshenk redemption", explain=False)
    assert reply.message.startswith("I took 'shawshenk redemption' as The Shawshank Redemption.")
    reply = rec.chat(reranker=NO_LLM).send("I loved Pulp Fiction", explain=False)
    assert "I took" not in reply.message


@pytest.mark.fast
def test_the_configured_aliases_file_reaches_the_linker(tmp_path):
    from recchat.config import RecommenderConfig
    from recchat.conversation.domain import Domain
    from recchat.data.catalog import load_catalog

    (tmp_path / "films.csv").write_text("id,title\n1,Terminator 2: Judgment Day (1991)\n2,Men in Black (1997)\n")
    (tmp_path / "aliases.csv").write_text("1,T2\n2,MIB\n")
    config = RecommenderConfig.from_dict(
        {"name": "films", "catalog": {"path": "films.csv", "id": "id"}, "domain": {"aliases": "aliases.csv"}},
        source=tmp_path / "films.toml",
    )
    config.check(interactions=False)
    catalog = load_catalog(config.resolve(config.catalog.path), config.catalog.spec())
    linker = Linker.for_domain(catalog, Domain.from_config(config, catalog))
    assert linked(linker, "t2 or mib") == ["1", "2"]
    config = config.replace({"domain": {"aliases": "missing.csv"}})
    with pytest.raises(ValueError, match="domain.aliases"):
        config.check(interactions=False)


def test_the_built_in_movielens_aliases_name_what_no_rule_derives(movielens, movie_domain):
    linker = Linker.for_domain(movielens.catalog, movie_domain)
    named = [movielens.catalog[i].title for i in linked(linker, "I loved T2 and MIB, and a new hope")]
    assert named == ["Terminator 2: Judgment Day", "Men in Black", "Star Wars"]


# A catalog with people, as a big film catalog has them: its names, its namesakes, its everyday
# phrases that are also titles.
PEOPLE = [
    ("c1", "Carrie", 1976, ["Sissy Spacek"]),
    ("c2", "Star Wars", 1977, ["Carrie Fisher", "Harrison Ford"]),
    ("c3", "The Empire Strikes Back", 1980, ["Carrie Fisher", "Harrison Ford"]),
    ("c4", "The Sting", 1973, ["Paul Newman", "Robert Redford"]),
    ("c5", "Dune", 1984, ["Kyle MacLachlan", "Sting"]),
    ("c6", "Quadrophenia", 1979, ["Phil Daniels", "Sting"]),
    ("c7", "Cannery Row", 1982, ["Nick Nolte"]),
    ("c8", "Goldfinger", 1964, ["Sean Connery"]),
    ("c9", "Dr. No", 1962, ["Sean Connery"]),
    ("c10", "Her", 2013, ["Spike Jonze"]),
    ("c11", "Parasite", 1982, ["Robert Glaudini"]),
    ("c12", "Mad Max", 1979, ["Mel Gibson"]),
    ("c13", "Fury", 2014, ["Brad Pitt"]),
    ("c14", "Three Times", 2005, ["Shu Qi"]),
    ("c15", "Interstellar", 2014, ["Matthew McConaughey"]),
    ("c16", "L.A. Story", 1991, ["Steve Martin"]),
    ("c17", "Toy Story", 1995, ["Tom Hanks"]),
    ("c18", "Toy Story 2", 1999, ["Tom Hanks"]),
    ("c19", "Toy Story 3", 2010, ["Tom Hanks"]),
    ("c20", "Pan's Labyrinth", 2006, ["Ivana Baquero"]),
    ("c21", "The Fifth Element", 1997, ["Bruce Willis"]),
    ("c22", "Back to the Future", 1985, ["Michael J. Fox"]),
    ("c23", "Garfield: The Movie", 2004, ["Bill Murray"]),
    ("c24", "Crash", 2004, ["Sandra Bullock"]),
    ("c25", "Slumdog Millionaire", 2008, ["Dev Patel"]),
    ("c26", "Quiz Show", 1994, ["Ralph Fiennes"]),
    ("c27", "Psycho", 1960, ["Anthony Perkins"]),
    ("c28", "Rear Window", 1954, ["James Stewart"]),
    ("c29", "Slow Burn", 2005, ["Ray Liotta"]),
    ("c30", "E.T. the Extra-Terrestrial", 1982, ["Henry Thomas"]),
    ("c31", "Wilson", 1944, ["Alexander Knox"]),
]


@pytest.fixture(scope="module")
def people() -> Linker:
    catalog = Catalog(Item(i, t, t, {"year": y, "cast": cast}) for i, t, y, cast in PEOPLE)
    names = sorted({n for *_, cast in PEOPLE for n in cast} | {"Woodrow Wilson", "Owen Wilson"})
    return rules_linker(
        catalog,
        popularity={i: 1 if i == "c29" else 100 for i, *_ in PEOPLE},
        everyday={"mystery", "thriller", "movie"},
        names=names,
        nouns=("movie", "movies"),
    )


@pytest.mark.fast
@pytest.mark.parametrize(
    "message, expected",
    [
        # a person's name (two credits or more) is no title on its own say-so, and no typo of one
        ("my wife carrie loves horror, any new ones", []),
        ("i loved carrie", ["c1"]),
        ("Carrie (1976) scared me", ["c1"]),
        ("the 1984 dune with sting, is it worth it?", ["c5"]),
        ("the sting with paul newman", ["c4"]),
        ("goldfinger with sean connery was so fun", ["c8"]),
        ("cannery row", ["c7"]),
        # the item's own people after a pronoun title
        ("her by spike jonze was beautiful", ["c10"]),
        ("a movie to watch with her", []),
        # ... or before it: a credit, a possessive surname, a year
        ("spike jonze's her really got to me", ["c10"]),
        ("a spike jonze movie to watch with her", []),
        ("sandra bullock in crash", ["c24"]),
        ("tom hanks in a crash", []),
        ("newman's the sting", ["c4"]),
        # a date the namesake does not have
        ("carrie from 76 still scares me", ["c1"]),
        ("i loved parasite, the korean one from 2019", []),
        ("parasite (1982)", ["c11"]),
        # two titles written into each other are one longer name
        ("mad max fury road was insane, more like that", []),
        ("mad max and fury", ["c12", "c13"]),
        # counts, abbreviations that read as articles, dots
        ("i watched interstellar 3 times, need more space movies", ["c15"]),
        ("i loved three times", ["c14"]),
        ("l.a. story", ["c16"]),
        ("anything with a love story in it", []),
        ("something for the kids like e.t.", ["c30"]),
        ("lonely men driving around LA at night", []),
        # numbers, possessives and ordinals as people type them
        ("we just finished toy story 1 2 and 3", ["c17", "c18", "c19"]),
        ("pans labyrinth", ["c20"]),
        ("5th element", ["c21"]),
        ("back to the future 1 is perfect", ["c22"]),
        # "Garfield: The Movie" is not named by "the movie"
        ("the movie crash from 2004", ["c24"]),
        # after a title, common words that happen to be one are the user talking about it ...
        ("slumdog millionaire, indian movie with the quiz show", ["c25"]),
        ("dune, and woodrow wilson", ["c5"]),
        # ... unless the sentence lists them, compares them or introduces them
        ("slumdog millionaire and quiz show", ["c25", "c26"]),
        ("i liked slumdog millionaire more than quiz show", ["c25", "c26"]),
        ("psycho (the 1960 one) and rear window are my faves", ["c27", "c28"]),
        # a title before a kind noun is a kind: "slow burn mysteries"
        ("i like slow burn mysteries where you have to pay attention", []),
        ("slow burn!!! mystery is my thing", ["c29"]),
    ],
)
def test_names_dates_run_ins_and_asides_both_ways(people, message, expected):
    assert linked(people, message) == expected


@pytest.mark.fast
def test_a_partial_title_ends_before_an_edition(films):
    assert linked(films, "return of the king extended edition, 4 hours well spent") == ["17"]


SERIES = [
    ("s1", "The Gilded Mountain Part III"),
    ("s2", "The Gilded Mountain Part IV"),
    ("s3", "The Madeira Saga: Book One"),
    ("s4", "The Madeira Saga: Book Two"),
    ("s5", "The Flanders Saga"),
    ("s6", "The Flanders Saga: Book Two"),
    ("s7", "Three Colors: Blue (1993)"),
    ("s8", "Three Colors: Red (1994)"),
    ("s9", "Kill Bill: Vol. 1 (2003)"),
    ("s10", "Kill Bill: Vol. 2 (2004)"),
    ("s11", "Narrow Winter"),
    ("s12", "Narrow Winter 2"),
    ("s13", "Narrow Winter 3"),
    ("s14", "The Bone Chronicles"),
    ("s15", "The Bone Chronicles, Vol. 2"),
]


@pytest.mark.fast
@pytest.mark.parametrize(
    "message, expected",
    [
        # once a series is named, its next member by its mark alone
        ("just finished the gilded mountian part 3, is pt 4 worth it?", ["s1", "s2"]),
        ("i loved the madeira saga book one, is book two as good?", ["s3", "s4"]),
        ("kill bill vol 2 is better than vol 1, fight me", ["s10", "s9"]),
        ("three colors blue, then red. loved both", ["s7", "s8"]),
        ("whats book 2 of the flanders saga like?", ["s6"]),
        ("flanders saga bk 2 worth it?", ["s6"]),
        # a plural mark, a number listed after a sibling, "#", a first member that has no number
        ("narrow winter was great, are parts 2 and 3 worth it?", ["s11", "s12", "s13"]),
        ("narrow winter 2 and 3, then stop?", ["s12", "s13"]),
        ("kill bill vol 1 and 2 back to back", ["s9", "s10"]),
        ("loved narrow winter, waiting on #2", ["s11", "s12"]),
        ("the bone chronicles vol 2 >> vol 1", ["s15", "s14"]),
        ("narrow winter 2 to 3, then stop", ["s12", "s13"]),
        ("narrow winter 1 through 3", ["s11", "s12", "s13"]),
        # a member by its place, once another member is named
        ("narrow winter 2 was better than the first one", ["s12", "s11"]),
        ("bone chronicles vol 2 was even scarier than the first", ["s15", "s14"]),
        ("narrow winter 2 is the best, the 3rd one dragged", ["s12", "s13"]),
        ("loved narrow winter and the second one, is the third worth it?", ["s11", "s12", "s13"]),
        # a number with no mark, a mark the catalog lacks, a word going on: nothing more
        ("the gilded mountain part 3 had 4 chapters i loved", ["s1"]),
        ("the madeira saga book one, is book five out yet?", ["s3"]),
        ("three colors blue, then red wine and bed", ["s7"]),
        ("book 2 of a trilogy, like the flanders saga", ["s5"]),
        ("narrow winter was great, 2 and 3 of my friends loved it", ["s11"]),
        ("narrow winter 2: the first 10 pages were slow", ["s12"]),
        ("narrow winter 2 to 3 stars at most", ["s12"]),
        ("narrow winter 2 was the first time i cried at a book", ["s12"]),
        ("narrow winter, the first one i read this year", ["s11"]),
    ],
)
def test_a_series_member_named_by_its_mark_once_the_series_is_named(message, expected):
    linker = rules_linker(Catalog(Item(i, t, t) for i, t in SERIES))
    assert linked(linker, message) == expected


WORDS = [
    ("w1", "Volcano (1997)", ["Tommy Lee Jones"]),
    ("w2", "Embers (2012)", ["Jason Ritter"]),
    ("w3", "Thorns (1998)", ["Ada Lind"]),
    ("w4", "Quiet Night (2001)", ["Ada Lind"]),
    ("w5", "Fury (2014)", ["Brad Pitt"]),
    ("w6", "Raiders of the Lost Ark (1981)", ["Harrison Ford"]),
    ("w7", "Indiana Jones and the Last Crusade (1989)", ["Harrison Ford"]),
    ("w8", "Boot, Das (1981)", ["Jürgen Prochnow"]),
    ("w9", "8½ (1963)", ["Marcello Mastroianni"]),
    ("w10", "Contact (1997)", ["Jodie Foster"]),
    ("w11", "Departed, The (2006)", ["Leonardo DiCaprio"]),
    ("w12", "Infernal Affairs (2002)", ["Andy Lau"]),
]


@pytest.fixture(scope="module")
def words_linker() -> Linker:
    catalog = Catalog(Item(i, t, t, {"cast": cast}) for i, t, cast in WORDS)
    return rules_linker(
        catalog, popularity={i: 100 for i, *_ in WORDS}, names=sorted({n for *_, c in WORDS for n in c})
    )


@pytest.mark.fast
@pytest.mark.parametrize(
    "message, expected",
    [
        # dictionary words after a determiner that is not the title's own are the sentence's words ...
        ("we're visiting a volcano in hawaii next month", []),
        ("horror that feels like the embers of a campfire", []),
        ("a romance with some thorns, not all sweetness", []),
        ("a quiet night in with tea", []),
        ("the fury of a mother protecting her kids", []),
        # ... and titles without one, or backed by their people, a cue or a list
        ("i loved volcano", ["w1"]),
        ("fury with brad pitt", ["w5"]),
        ("embers, thorns and quiet night", ["w2", "w3", "w4"]),
        ("did you see contact? the ending annoyed me", ["w10"]),
        ("volcano >>> contact", ["w1", "w10"]),
        ("volcano and contact - smart disaster stuff", ["w1", "w10"]),
        # the title's own article, in any language; the article before a partial title in a list
        ("das boot made me claustrophobic", ["w8"]),
        ("raiders of the lost ark and the last crusade back to back", ["w6", "w7"]),
        # a fraction is no count; a remake's original after "remake of"
        ("8 1/2 or infernal affairs first?", ["w9", "w12"]),
        ("we watched 8 films this week", []),
        ("the departed was a remake of infernal affairs right?", ["w11", "w12"]),
    ],
)
def test_determiners_articles_fractions_and_cues(words_linker, message, expected):
    assert linked(words_linker, message) == expected


ROUND4 = [
    ("r1", "Speed (1994)"),
    ("r2", "Speed 2: Cruise Control (1997)"),
    ("r3", "Jaws (1975)"),
    ("r4", "Jaws 2 (1978)"),
    ("r5", "Jaws 3-D (1983)"),
    ("r6", "Alien (1979)"),
    ("r7", "Aliens (1986)"),
    ("r8", "Stalker (1979)"),
    ("r9", "Right Stuff, The (1983)"),
    ("r10", "Apollo 13 (1995)"),
    ("r11", "2001: A Space Odyssey (1968)"),
    ("r12", "Blade Runner (1982)"),
    ("r13", "Monty Python's Life of Brian (1979)"),
    ("r14", "Brief Encounter (1945)"),
    ("r15", "Grand Budapest Hotel, The (2014)"),
    ("r16", "Hole, The (1998)"),
    ("r17", "Matrix, The (1999)"),
    ("r18", "Matrix Reloaded, The (2003)"),
    ("r19", "Matrix Revolutions, The (2003)"),
    ("r20", "Haunted House, A (2013)"),
    ("r21", "Silent Ashes"),
    ("r22", "Silent Ashes 2"),
    ("r23", "Silent Ashes 4: Exile"),
    ("r24", "Professional, The (1994)"),
]


@pytest.fixture(scope="module")
def round4() -> Linker:
    return rules_linker(
        _catalog(ROUND4), popularity={i: 100 for i, _ in ROUND4}, everyday={"horror", "movie", "movies"}
    )


@pytest.mark.fast
@pytest.mark.parametrize(
    "message, expected",
    [
        # a later member of a series named in the message is no aside ...
        ("speed was peak keanu. speed 2 tho... yikes", ["r1", "r2"]),
        ("jaws 2 was fine, jaws 3-d was hilariously bad", ["r4", "r5"]),
        ("silent ashes 4: exile is out and im still stuck on silent ashes 2 lol", ["r23", "r22"]),
        # ... and two members back each other in a list, where neither alone would link
        ("alien or aliens? cant decide", ["r6", "r7"]),
        ("honestly aliens > alien", ["r7", "r6"]),
        ("a movie about an alien or aliens invading", []),
        # a sibling named by its own words once its series is named ("the matrix" begins both)
        ("the matrix reloaded and revolutions were a letdown", ["r18", "r19"]),
        ("the matrix reloaded sparked revolutions in effects", ["r18"]),
        # a remark in parentheses that says which one
        ("honestly, is stalker (the tarkovsky one) any less slow?", ["r8"]),
        ("my ex is basically a stalker (seriously) lol", []),
        # a sentence of its own, offered as a question or with a hedge; not a description
        ("apollo 13 made him cry. anything else about space like that? the right stuff maybe?", ["r10", "r9"]),
        ("apollo 13 was great. haunted house", ["r10"]),
        # a title's own article at the start is still the sentence's when a verb goes on: "... to pack"
        ("the right stuff to pack for a trip", []),
        ("the right stuff, for space nerds", ["r9"]),
        # a number title only in a list of titles, and never after a year's preposition
        ("star wars obviously, blade runner, 2001, give me more", ["r12", "r11"]),
        ("honestly 2001 put me to sleep", []),
        ("films from 2001, blade runner style", ["r12"]),
        # a name owning the title is left out; two letters swapped is a typo of the title's word
        ("life of brian a close second", ["r13"]),
        ("breif encounter made me cry", ["r14"]),
        ("the grand budapest hotle and more wes anderson", ["r15"]),
        ("a hole in the roof", []),
        # a title ends before chat fillers and edition words too
        ("i liked blade runner more than the professional tbh", ["r12", "r24"]),
        ("blade runner final cut, then the matrix extended edition", ["r12", "r17"]),
    ],
)
def test_series_remarks_fragments_numbers_and_typos(round4, message, expected):
    assert linked(round4, message) == expected


@pytest.mark.fast
def test_a_name_owning_a_title_is_dropped_only_before_a_longer_title():
    assert "life of brian" in {a.key for a in aliases_of("1", "Monty Python's Life of Brian (1979)")}
    assert "list" not in {a.key for a in aliases_of("1", "Schindler's List (1993)")}
    assert "wonderful life" not in {a.key for a in aliases_of("1", "It's a Wonderful Life (1946)")}


@pytest.mark.fast
@pytest.mark.parametrize(
    "message, expected",
    [
        # a question about an item after another: "is <title> as good?"
        ("loved the sting. is quiet night as good?", ["c4", "w4"]),
        ("loved the sting. is a quiet night in as good as going out?", ["c4"]),
    ],
)
def test_a_question_about_a_second_item(message, expected):
    rows = [("c4", "Sting, The (1973)"), ("w4", "Quiet Night (2001)")]
    assert linked(rules_linker(_catalog(rows), popularity={"c4": 100, "w4": 100}), message) == expected


ROUND4B = [
    ("x1", "M (1931)", []),
    ("x2", "Spider-Man (2002)", []),
    ("x3", "Wallace & Gromit: The Best of Aardman Animation (1996)", []),
    ("x4", "Wrong Trousers, The (1993)", []),
    ("x5", "Close Shave, A (1995)", []),
    ("x6", "Something Wild (1986)", ["Melanie Griffith"]),
    ("x7", "Road Trip (2000)", ["Tom Green"]),
    ("x8", "Next (2007)", ["Nicolas Cage"]),
    ("x9", "Dark Knight, The (2008)", []),
    ("x10", "Dark Knight Rises, The (2012)", []),
    ("x11", "Made (2001)", ["Jon Favreau"]),
    ("x12", "Heat (1995)", ["Al Pacino"]),
    ("x13", "Funny Bones (1995)", []),
    ("x14", "Forrest Gump (1994)", ["Tom Hanks"]),
    ("x15", "Jackie Chan's First Strike (1996)", ["Jackie Chan"]),
    ("x16", "Rumble in the Bronx (1995)", ["Jackie Chan"]),
    ("x17", "World's End, The (2013)", []),
    ("x18", "(500) Days of Summer (2009)", []),
    ("x19", "Quiet Night (2001)", []),
    ("x20", "Shaun of the Dead (2004)", []),
    ("x21", "Hot Fuzz (2007)", []),
]


@pytest.fixture(scope="module")
def round4b() -> Linker:
    catalog = Catalog(Item(i, t, t, {"cast": cast}) for i, t, cast in ROUND4B)
    return rules_linker(
        catalog,
        popularity={i: 5 if i == "x13" else 100 for i, *_ in ROUND4B},
        names=sorted({n for *_, c in ROUND4B for n in c}),
        nouns=("movie", "movies"),
    )


@pytest.mark.fast
@pytest.mark.parametrize(
    "message, expected",
    [
        # the rest of a written word is no title: "m" of "I'm", "man" of "spider-man"
        ("We just moved and I'm looking for movies", []),
        ("spider-man was fun", ["x2"]),
        # a series' name right before a member's title is the member's
        ("wallace and gromit the wrong trousers and a close shave are perfect", ["x4", "x5"]),
        # a request's own words: "something ...", "watch next", a kind before "movie"
        ("something wild and fun for a party", []),
        ("i loved Something Wild with melanie griffith", ["x6"]),
        ("which one should i watch next?", []),
        ("i watched next (2007), cheesy", ["x8"]),
        ("like a slow road trip movie", []),
        ("road trip with tom green is dumb fun", ["x7"]),
        # a common word is no list's first item in the middle of a phrase ...
        ("the dark knight is the best ever made, dark knight rises was meh", ["x9", "x10"]),
        # ... but is one after a pause
        ("heat, made and the dark knight", ["x12", "x11", "x9"]),
        # two real words are no typo; a real typo still is
        ("i like the funny ones more", []),
        ("forest gump made me cry", ["x14"]),
        # a credited person's full name is the person, not the start of a title
        ("jackie chan! rumble in the bronx, more kung fu", ["x16"]),
        ("jackie chans first strike was silly", ["x15"]),
        # a possessive without its apostrophe after the title's own article
        ("shaun of the dead, hot fuzz and the worlds end", ["x20", "x21", "x17"]),
        ("the end of the world as we know it", []),
        # a leading number in parentheses is part of the title
        ("500 days of summer is not a love story", ["x18"]),
        # "called" introduces a title; "and also" lists one
        ("a film called quiet night, heard of it?", ["x19"]),
        ("i loved heat and also quiet night", ["x12", "x19"]),
        ("he called me last night", []),
    ],
)
def test_fourth_round_guards_and_cues_both_ways(round4b, message, expected):
    assert linked(round4b, message) == expected


@pytest.mark.fast
@pytest.mark.parametrize(
    "message, expected",
    [
        # an adverb offered alone is still the sentence's: "next?"
        ("seen psycho and vertigo. next?", ["p1", "p2"]),
        # a member named by its mark before the series, then a sibling by its mark
        ("whats book 4 of the moon chronicles like, book 3 was kind of slow", ["p6", "p5"]),
        # a place written with its capital is no series on that alone
        ("I'm going to Lisbon in May - anything set there?", []),
        ("i loved lisbon: kings and salt", ["p7"]),
        # "is <title> just as good"
        ("loved psycho. is quiet earth just as good?", ["p1", "p8"]),
        # common words for common words is no typo of a little-known title; of a famous one it is
        ("poems about the sea, salt and old harbors", []),
        ("the dark night is the best batman movie", ["p10"]),
        ("poems like elegy for an hour", ["p11"]),
    ],
)
def test_third_step_of_the_fourth_round(message, expected):
    rows = [
        ("p1", "Psycho (1960)"),
        ("p2", "Vertigo (1958)"),
        ("p3", "Next (2007)"),
        ("p4", "The Moon Chronicles"),
        ("p5", "The Moon Chronicles: Book Three"),
        ("p6", "The Moon Chronicles: Book Four"),
        ("p7", "Lisbon: Kings and Salt"),
        ("p8", "Quiet Earth, The (1985)"),
        ("p9", "Salt and Gold"),
        ("p10", "Dark Knight, The (2008)"),
        ("p11", "Elegy for a Hour"),
        ("p12", "Lisbon: A Story"),
    ]
    popularity = {i: 10 for i, _ in rows} | {"p1": 500, "p2": 400, "p3": 300, "p9": 1, "p10": 600}
    assert linked(rules_linker(_catalog(rows), popularity=popularity), message) == expected


@pytest.mark.fast
@pytest.mark.parametrize(
    "message, expected",
    [
        # "the original" is the first of its name, even when the remake's director is named to be refused
        ("oldboy, the korean original not spike lee's", ["o1"]),
        ("sabrina, the old one, not the remake", ["o3"]),
        # the remake's own people choose it; with nothing said, the better known one
        ("the oldboy with josh brolin", ["o2"]),
        ("oldboy is brutal", ["o1"]),
        ("sabrina (1995)", ["o4"]),
    ],
)
def test_the_original_is_the_first_of_its_name(message, expected):
    rows = [
        ("o1", "Oldboy", 2003, ["Choi Min-sik"]),
        ("o2", "Oldboy", 2013, ["Josh Brolin", "Spike Lee"]),
        ("o3", "Sabrina", 1954, ["Audrey Hepburn"]),
        ("o4", "Sabrina", 1995, ["Julia Ormond"]),
    ]
    catalog = Catalog(Item(i, t, t, {"year": y, "cast": cast}) for i, t, y, cast in rows)
    linker = rules_linker(
        catalog, popularity={"o1": 160, "o2": 150, "o3": 50, "o4": 60}, names=[n for *_, c in rows for n in c]
    )
    assert linked(linker, message) == expected


@pytest.mark.fast
@pytest.mark.parametrize(
    "message, expected",
    [
        # a member of a named series by the first word of its own title, before or after it in a list
        ("doing fellowship, two towers and return of the king extended this weekend", ["l1", "l2", "l3"]),
        ("the two towers, then fellowship again", ["l2", "l1"]),
        # no series named: the word is the sentence's
        ("a story about fellowship and courage", []),
    ],
)
def test_a_member_of_a_named_series_by_the_first_word_of_its_own_title(message, expected):
    rows = [
        ("l1", "The Lord of the Rings: The Fellowship of the Ring"),
        ("l2", "The Lord of the Rings: The Two Towers"),
        ("l3", "The Lord of the Rings: The Return of the King"),
    ]
    assert linked(rules_linker(_catalog(rows), popularity={"l1": 100, "l2": 90, "l3": 95}), message) == expected


@pytest.mark.fast
@pytest.mark.parametrize(
    "message, expected",
    [
        ("tdk > batman begins", ["i1", "i4"]),
        ("rotj was the best one", ["i2"]),
        # a real word is no initials ("wok": Wrath of Khan), nor two letters, nor a little-known title's
        ("stir fry in a wok tonight", []),
        ("bb was great", []),
        ("loved ffff", []),
    ],
)
def test_well_known_titles_by_their_initials(message, expected):
    rows = [
        ("i1", "Dark Knight, The (2008)"),
        ("i2", "Return of the Jedi (1983)"),
        ("i3", "Star Trek: The Wrath of Khan (1982)"),
        ("i4", "Batman Begins (2005)"),
        ("i5", "Four Feathers From Far (1999)"),
    ] + [(f"f{n}", f"Filler Number {n} (1990)") for n in range(20)]
    popularity = {i: 1 for i, _ in rows if i.startswith("f")} | {"i1": 500, "i2": 500, "i3": 500}
    assert linked(rules_linker(_catalog(rows), popularity=popularity), message) == expected


@pytest.mark.fast
@pytest.mark.parametrize(
    "message, expected",
    [
        # words no clause has as its subject and nobody owns name a well-known title: owned, a
        # sentence's subject, or listed among titles
        ("pixar's up made me cry", ["p1"]),
        ("up made me cry in the first ten minutes", ["p1"]),
        ("i need a good cry. up had me sobbing", ["p1"]),
        ("ex machina, her, moon... quiet sci fi", ["p3", "p2", "p4"]),
        ("ex machina and her, both about AI", ["p3", "p2"]),
        ("spike jonze's her was great", ["p2"]),
        # ... and nowhere else
        ("what's up, anything good tonight", []),
        ("cheer me up, something funny", []),
        ("loved ex machina, cheer me up with something like it", ["p3"]),
        ("watched ex machina with my sister and her kids", ["p3"]),
        ("my mom's up late, something calm", []),
        ("her birthday is friday, a film she would like", []),
        ("something like her", []),
    ],
)
def test_object_words_as_titles_by_grammar(message, expected):
    rows = [("p1", "Up (2009)"), ("p2", "Her (2013)"), ("p3", "Ex Machina (2014)"), ("p4", "Moon (2009)")]
    rows += [(f"f{n}", f"Filler Number {n} (1990)") for n in range(20)]
    popularity = {i: 1 for i, _ in rows if i.startswith("f")} | {"p1": 500, "p2": 400, "p3": 450, "p4": 300}
    linker = rules_linker(
        Catalog(Item(i, t, t, {"director": ["Spike Jonze"] if i == "p2" else []}) for i, t in rows),
        popularity=popularity,
        names=["Spike Jonze"],
    )
    assert linked(linker, message) == expected


@pytest.mark.fast
@pytest.mark.parametrize(
    "message, expected",
    [
        # a title several items share names each one whose year or people are written
        ("true grit 2010 with jeff bridges or the 1969 john wayne version?", ["g2", "g1"]),
        ("the 1953 titanic, before cameron's", ["t1", "t2"]),
        ("oldboy 2003 or spike lee's remake?", ["o1", "o2"]),
        # one of them, or none said: one
        ("true grit with john wayne", ["g1"]),
        ("titanic is my favourite", ["t2"]),
        ("oldboy (the korean one, not the spike lee remake)", ["o1"]),
        # "the original" beside a later version names the first of that title too
        ("is the 2010 true grit better than the original", ["g2", "g1"]),
    ],
)
def test_a_shared_title_names_each_version_the_message_tells(message, expected):
    rows = [
        ("g1", "True Grit", 1969, ["John Wayne"]),
        ("g2", "True Grit", 2010, ["Jeff Bridges"]),
        ("t1", "Titanic", 1953, ["Barbara Stanwyck"]),
        ("t2", "Titanic", 1997, ["James Cameron"]),
        ("o1", "Oldboy", 2003, ["Choi Min-sik"]),
        ("o2", "Oldboy", 2013, ["Spike Lee"]),
    ]
    catalog = Catalog(Item(i, t, t, {"year": y, "cast": cast}) for i, t, y, cast in rows)
    popularity = {"g1": 100, "g2": 120, "t1": 10, "t2": 500, "o1": 160, "o2": 150}
    linker = rules_linker(catalog, popularity=popularity, names=[n for *_, c in rows for n in c])
    assert sorted(linked(linker, message)) == sorted(expected)


@pytest.mark.fast
@pytest.mark.parametrize(
    "message, expected",
    [
        # a number the catalog's titles lack: the member at that place by year, where the
        # numbered members sit at their numbers
        ("die hard 3 is my favourite of the series", ["d3"]),
        ("is die hard 3 better than 2?", ["d3", "d2"]),
        ("star trek 2 and star trek 4 are the good ones", ["s2", "s4"]),
        # numbered members out of place, a count, a number past the series: nothing guessed
        ("captain america 2 was a spy thriller", []),
        ("die hard 7 when", []),
        ("seen die hard 3 times", []),
    ],
)
def test_a_series_member_by_its_place_in_years(message, expected):
    rows = [
        ("d1", "Die Hard (1988)"),
        ("d2", "Die Hard 2 (1990)"),
        ("d3", "Die Hard: With a Vengeance (1995)"),
        ("s1", "Star Trek: The Motion Picture (1979)"),
        ("s2", "Star Trek: The Wrath of Khan (1982)"),
        ("s3", "Star Trek III: The Search for Spock (1984)"),
        ("s4", "Star Trek IV: The Voyage Home (1986)"),
        ("c1", "Captain America: The First Avenger (2011)"),
        ("c2", "Captain America 3 (2014)"),
        ("c3", "Captain America: Civil War (2016)"),
    ]
    popularity = {i: 100 for i, _ in rows}
    assert linked(rules_linker(_catalog(rows), popularity=popularity), message) == expected


@pytest.mark.fast
@pytest.mark.parametrize(
    "message, expected",
    [
        ("se7en messed me up", ["n1"]),
        ("t2 is the best sequel", ["n2"]),
        ("T2 > the first terminator", ["n2", "n3"]),
        # the number word itself, and initials English uses with a number, are not
        ("seven of us are going out", []),
        ("an mp3 of the soundtrack", []),
        # a number as written beats the same number spelt otherwise
        ("ocean's eleven, the clooney one", ["n5"]),
        ("oceans 11 with sinatra", ["n6"]),
    ],
)
def test_a_number_written_in_a_title_and_numbered_initials(message, expected):
    rows = [("n1", "Seven (1995)"), ("n2", "Terminator 2: Judgment Day (1991)"), ("n3", "Terminator, The (1984)")]
    rows += [("n4", "Mighty Pilots 3 (1999)"), ("n5", "Ocean's Eleven (2001)"), ("n6", "Ocean's 11 (1960)")]
    rows += [(f"f{n}", f"Filler Number {n} (1990)") for n in range(20)]
    popularity = {i: 1 for i, _ in rows if i.startswith("f")}
    popularity |= {"n1": 400, "n2": 500, "n3": 450, "n4": 300, "n5": 100, "n6": 200}
    assert linked(rules_linker(_catalog(rows), popularity=popularity), message) == expected


@pytest.mark.fast
@pytest.mark.parametrize(
    "message, expected",
    [
        # initials English uses a little name a well-known title written in capitals
        ("anything like MIB", ["c1"]),
        ("MIB was fun", ["c1"]),
        ("mib was fun", []),
        ("it starts at 8pm MIB", []),
        # initials English uses a lot stay words; "ET" as "LA" and "DC" (only "E.T." with its dots)
        ("OMG", []),
        ("something for my 7 yo like E.T.", ["c2"]),
        ("it starts at 8pm ET", []),
    ],
)
def test_initials_english_uses_name_a_title_in_capitals(message, expected):
    rows = [("c1", "Men in Black (1997)"), ("c2", "E.T. the Extra-Terrestrial (1982)")]
    rows += [("c3", "Oh My Gosh (1999)")] + [(f"f{n}", f"Filler Number {n} (1990)") for n in range(20)]
    popularity = {i: 1 for i, _ in rows if i.startswith("f")} | {"c1": 400, "c2": 500, "c3": 450}
    assert linked(rules_linker(_catalog(rows), popularity=popularity), message) == expected


@pytest.mark.fast
@pytest.mark.parametrize(
    "message, expected",
    [
        # "the sequel" after a member of a numbered series is the next one
        ("toy story, is the sequel as good", ["s1", "s2"]),
        ("toy story 2 was great, is the sequel better", ["s2", "s3"]),
        # words about items are no title alone ("Airplane II: The Sequel")
        ("is the sequel any good", []),
        ("airplane ii: the sequel is dumb fun", ["a2"]),
        # "the first two" after a numbered member: its elders
        ("is toy story 3 worth it after the first two", ["s3", "s1", "s2"]),
        ("toy story 3, the first two minutes were slow", ["s3"]),
        # a list's last item after commas, with no "and"
        ("working through the classics: casablanca, citizen kane, vertigo done", ["k1", "k2", "k3"]),
        ("loved casablanca, heat was too slow", ["k1"]),
    ],
)
def test_the_sequel_item_talk_and_the_end_of_a_comma_list(message, expected):
    rows = [("s1", "Toy Story (1995)"), ("s2", "Toy Story 2 (1999)"), ("s3", "Toy Story 3 (2010)")]
    rows += [("a1", "Airplane! (1980)"), ("a2", "Airplane II: The Sequel (1982)"), ("k4", "Heat (1995)")]
    rows += [("k1", "Casablanca (1942)"), ("k2", "Citizen Kane (1941)"), ("k3", "Vertigo (1958)")]
    rows += [(f"f{n}", f"Filler Number {n} (1990)") for n in range(20)]
    popularity = {i: 1 for i, _ in rows if i.startswith("f")}
    popularity |= {"s1": 400, "s2": 300, "s3": 200, "a1": 300, "a2": 100, "k1": 400, "k2": 400, "k3": 400, "k4": 300}
    assert linked(rules_linker(_catalog(rows), popularity=popularity), message) == expected


@pytest.mark.fast
@pytest.mark.parametrize(
    "message, expected",
    [
        # a famous title misspelt into a little-known one's exact title is the famous one
        ("inglorious bastards is my fav tarantino", ["m1"]),
        # unless the little-known one's year or people are written
        ("the inglorious bastards with bo svenson", ["m2"]),
        ("the inglorious bastards (1978)", ["m2"]),
        # a longer title whose people are written is the one meant
        ("season of ashes by mateo thorne, is it YA?", ["m4"]),
        ("a season of ashes is great", ["m3"]),
    ],
)
def test_a_famous_title_misspelt_as_a_little_known_one(message, expected):
    rows = [
        ("m1", "Inglourious Basterds", 2009, ["Quentin Tarantino"]),
        ("m2", "The Inglorious Bastards", 1978, ["Bo Svenson"]),
        ("m3", "A Season of Ashes", 2001, ["Lena Ford"]),
        ("m4", "Season of Ashes Part I", 2010, ["Mateo Thorne"]),
    ] + [(f"f{n}", f"Filler Number {n}", 1990, []) for n in range(20)]
    catalog = Catalog(Item(i, t, t, {"year": y, "cast": cast}) for i, t, y, cast in rows)
    popularity = {i: 5 for i, *_ in rows if i.startswith("f")} | {"m1": 500, "m2": 2, "m3": 50, "m4": 40}
    linker = rules_linker(catalog, popularity=popularity, names=[n for *_, c in rows for n in c])
    assert linked(linker, message) == expected


@pytest.mark.fast
@pytest.mark.parametrize(
    "message, expected",
    [
        # bare numbers after a numbered member, where they start a clause or follow "is", "does",
        # "and"... and what follows talks about them
        ("iron man 1 was great, 2 was meh, is 3 better?", ["r1", "r2", "r3"]),
        ("iron man 2 was slow, does 3 pick up", ["r2", "r3"]),
        ("iron man part 2 or 3, which is better", ["r2", "r3"]),
        # counts are no members
        ("iron man 3 made me cry, 2 of my kids too", ["r3"]),
        ("iron man 2, gave it 3 stars", ["r2"]),
        ("iron man 1 and 2 were great, is 3 out", ["r1", "r2", "r3"]),
        ("iron man 2 was fine, does it drop off after 3", ["r2", "r3"]),
        ("iron man 2, watched it after 3 days of work", ["r2"]),
        # "the original" after a numbered member: the first; not "the original cast"
        ("iron man 2 or just stick with the original", ["r2", "r1"]),
        ("iron man 2 has not the original cast", ["r2"]),
        # "a second one", "the next two"
        ("loved iron man, is there a second one", ["r1", "r2"]),
        ("iron man was fun, are the next two better", ["r1", "r2", "r3"]),
        # "the original" beside a later version, unless denied
        ("cape fear, the de niro one not the old one", ["c2"]),
        ("is the 1991 cape fear better than the original", ["c1", "c2"]),
        # a real word is not corrected to a rarer title word
        ("nothing too sappy tonight", []),
    ],
)
def test_bare_sibling_numbers_places_and_the_original(message, expected):
    rows = [("r1", "Iron Man (2008)"), ("r2", "Iron Man 2 (2010)"), ("r3", "Iron Man 3 (2013)"), ("r4", "Three (1999)")]
    rows += [("c1", "Cape Fear (1962)"), ("c2", "Cape Fear (1991)"), ("s1", "Slappy and the Stinkers (1998)")]
    rows += [(f"f{n}", f"Filler Number {n} (1990)") for n in range(20)]
    popularity = {i: 1 for i, _ in rows if i.startswith("f")}
    popularity |= {"r1": 400, "r2": 300, "r3": 300, "r4": 50, "c1": 100, "c2": 200, "s1": 20}
    assert sorted(linked(rules_linker(_catalog(rows), popularity=popularity), message)) == sorted(expected)


@pytest.mark.fast
@pytest.mark.parametrize(
    "message, expected",
    [
        ("faceoff is ridiculous but i loved it", ["x1"]),
        # its author after it: a title before a kind word is still the title
        ("tower of lies fantasy, kai brandt. anything similar", ["x2"]),
        ("more tower of lies fantasy books", []),
    ],
)
def test_a_slash_inside_a_title_and_its_author_after_a_kind(message, expected):
    rows = [("x1", "Face/Off", 1997, []), ("x2", "The Tower of Lies", 2004, ["Kai Brandt"])]
    rows += [(f"f{n}", f"Filler Number {n}", 1990, []) for n in range(20)]
    catalog = Catalog(Item(i, t, t, {"year": y, "authors": a}) for i, t, y, a in rows)
    popularity = {i: 5 for i, *_ in rows if i.startswith("f")} | {"x1": 400, "x2": 3}
    linker = rules_linker(catalog, popularity=popularity, everyday={"fantasy"}, names=["Kai Brandt"])
    assert linked(linker, message) == expected
