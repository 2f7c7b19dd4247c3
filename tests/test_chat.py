"""Recommender and chat sessions on MovieLens with a real index and a small trained scorer; the LLM
is a fake here (the real one is covered in test_rerank/test_vllm)."""

from __future__ import annotations

import pytest
from test_rerank import FakeBackend

from recchat.config import RecommenderConfig
from recchat.index import matches, parse_where
from recchat.recommender import Recommender
from recchat.rerank import Reranker
from recchat.types import Item


@pytest.mark.fast
def test_local_filter_matches_chroma_semantics():
    item = Item("1", "Heat", "Heat (1995)", {"year": 1995, "genres": ["Crime", "Thriller"]})
    assert matches(parse_where("year<2000 and genres contains Crime"), item)
    assert not matches({"genres": {"$not_contains": "Crime"}}, item)
    assert not matches({"director": "Mann"}, item)  # a missing field fails
    assert matches({"$or": [{"year": 1990}, {"title": "Heat"}]}, item)


def test_recommend_for_a_user_and_for_a_history_with_filters(rec):
    ranking = rec.recommend("196", k=10)
    history = {i for i, _ in rec.user_histories["196"]}
    assert len(ranking.candidates) == 10 and not history & set(ranking.ids())
    assert not ranking.degraded and ranking.candidates[0].scores.keys() >= {"llm", "scorer", "blend"}
    old = rec.recommend(["1", "95", "71"], k=8, filters="year<1980")
    assert len(old.candidates) == 8 and all(c.item.fields["year"] < 1980 for c in old.candidates)
    with pytest.raises(KeyError, match="not in the interaction log"):
        rec.recommend("no-such-user")


def test_failing_llm_degrades_the_recommendation(rec):
    broken = Recommender(rec.catalog, rec.index, rec.scorer, Reranker(FakeBackend(fail=True), "listwise"))
    ranking = broken.recommend(["1", "95"], k=5)
    assert ranking.degraded and len(ranking.candidates) == 5 and "trained scorer" in ranking.notes[0]


def test_a_conversation_with_critiques(rec):
    session = rec.chat()
    first = session.send("I loved Heat and the godfather, something like it but no horror")
    titles = [i.item.title for i in first.items]
    assert len(first.items) == 10 and "Heat" not in titles and "The Godfather" not in titles
    assert all("Horror" not in i.item.fields.get("genres", []) for i in first.items)
    assert "noted that you like Heat, The Godfather" in first.message
    assert all(i.reason.endswith(".") and len(i.reason) > 10 for i in first.items)
    rejected = first.items[0].item.id
    second = session.send("not that one, something older")
    assert rejected not in [i.item.id for i in second.items]
    assert session.state.year_max is not None
    assert all(i.item.fields.get("year", 0) <= session.state.year_max for i in second.items)
    seen = second.items[1].item.id
    third = session.send("I've seen the second one")
    assert seen not in [i.item.id for i in third.items]
    # Rejected and seen items never come back, in any later turn.
    later = session.send("more comedy please")
    assert not {rejected, seen} & {i.item.id for i in later.items}


def test_cold_start_from_the_conversation_alone(rec):
    reply = rec.chat().send("a funny animated movie for kids from the 90s")
    assert reply.items and all(1990 <= i.item.fields["year"] <= 1999 for i in reply.items)
    assert any("Animation" in i.item.fields["genres"] for i in reply.items)


def test_known_user_session_and_config_validation(rec):
    session = rec.chat(user_id="1")
    assert len(session.state.history) == len(rec.user_histories["1"])
    reply = session.send("something newer")
    assert reply.items and not set(session.state.history) & {i.item.id for i in reply.items}
    with pytest.raises(ValueError, match="alpha: unknown key"):
        RecommenderConfig.coerce({"alpha": 0.5, "colour": "blue"})


def test_llm_extraction_is_merged_and_an_unusable_one_leaves_the_rules(rec):
    backend = FakeBackend(favourite="1994")
    backend.extraction = (
        '{"liked": ["Pulp Fiction"], "disliked": [], "genres": ["Crime"], "avoid_genres": [], '
        '"year_min": null, "year_max": null}'
    )
    session = rec.chat(reranker=Reranker(backend, "listwise", kind="movie"))
    reply = session.send("I loved Heat, no horror")
    pulp = session.resolver.resolve("Pulp Fiction")
    assert reply.understood.llm == "used" and pulp in session.state.liked and "Crime" in session.state.wanted["genres"]
    assert session.state.avoided == {"genres": ["Horror"]} and not reply.notes
    backend.extraction = "I think they like films!"
    reply = session.send("something older")
    assert reply.understood.llm.startswith("unusable") and "older" in reply.understood.critiques
    assert reply.items and any("rules alone" in n for n in reply.notes)
    assert session.stats["llm_understanding_unusable"] == 1


def test_llm_reasons_stream_after_the_list_and_fall_back_to_templates(rec):
    session = rec.chat(explain_top=4, reranker=Reranker(FakeBackend(), "listwise", kind="movie"))
    reply = session.send("I loved Heat, a crime film", explain=False)
    assert all(i.reason_source == "template" for i in reply.items)
    changed = list(session.explain(reply))
    assert changed == [0, 1, 2, 3]
    assert all(
        i.reason_source == "llm" and i.reason.startswith("You liked Heat, and it has the same tense crime")
        for i in reply.items[:4]
    )
    assert all(i.reason_source == "template" for i in reply.items[4:])
    assert reply.items[0].reason.count(".") == 1 and "explain" in reply.timings  # the first sentence only
    broken = rec.chat(reranker=Reranker(FakeBackend(fail=True), "listwise"))
    reply = broken.send("I loved Heat, a crime film")
    assert reply.degraded and all(i.reason_source == "template" for i in reply.items)
    assert "trained scorer" in reply.message and any("fell back to templates" in n for n in reply.notes)
    assert set(reply.timings) >= {"understand", "retrieve", "score", "rerank", "reasons"}


def test_dislike_replaces_the_item_in_place_and_it_never_returns(rec):
    session = rec.chat()
    first = session.send("I loved Heat, no horror")
    before = [i.item.id for i in first.items]
    gone = before[3]
    after = session.feedback(gone, liked=False)
    ids = [i.item.id for i in after.items]
    assert len(ids) == len(before) and gone not in ids and ids[:3] == before[:3] and ids[4:] == before[4:]
    assert ids[3] not in before and rec.catalog[gone].title in after.message
    liked = session.feedback(ids[0], liked=True)
    assert ids[0] in session.state.liked and [i.item.id for i in liked.items] == ids
    later = session.send("more like that")
    assert gone not in {i.item.id for i in later.items}


def test_known_user_gets_a_cached_profile_used_in_prompts(rec, tmp_path):
    from recchat.conversation.profile import ProfileStore

    backend = FakeBackend(favourite="1994")
    rec.profiles = ProfileStore(tmp_path, rec.catalog, _interactions(rec), backend=backend, domain=rec.domain)
    try:
        profile = rec.profile("1")
        assert (
            profile.summary_source == "llm"
            and profile.summary == "Loves tense crime stories. Watches mostly recent films."
        )
        assert profile.top_values and profile.facet == "genres"
        assert any(f.startswith("Favourite genres") for f in profile.facts)
        calls = len(backend.invocations)
        assert rec.profile("1").key == profile.key and len(backend.invocations) == calls  # cached
        session = rec.chat(user_id="1", reranker=Reranker(backend, "listwise", kind="movie"))
        session.send("something funny")
        assert any("<profile>Loves tense crime stories" in prefix for prefix, _ in backend.prompts)
    finally:
        rec.profiles = None


def _interactions(rec):
    from recchat.types import Interaction

    return [Interaction(u, i, r, float(n)) for u, pairs in rec.user_histories.items() for n, (i, r) in enumerate(pairs)]


@pytest.mark.fast
def test_reason_validation():
    from recchat.conversation.reason_check import clean_reason

    grounds = ["Crime", "Drama", "Heat"]
    assert (
        clean_reason("You will love its gritty crime story, like Heat. More text", "The Godfather", grounds)
        == "You will love its gritty crime story, like Heat."
    )
    assert clean_reason("The Godfather (1972).", "The Godfather (1972)", grounds) is None  # only the title
    assert clean_reason("I'm glad you enjoyed the item, it is a crime film.", "X", grounds) is None  # off-task talk
    assert clean_reason("You may enjoy its crime story and its cast of", "X", grounds) is None  # cut off
    assert clean_reason("A lovely sunny picnic with friends in the park.", "X", grounds) is None  # ungrounded
    assert clean_reason("<|im_start|> crime crime crime crime.", "X", grounds) is None


def test_a_real_smollm2_session(rec, llm_dir):
    """The chat turn end to end with the real LLM: rerank, blend and streamed reasons."""
    from recchat.llm import load_backend

    backend = load_backend("transformers", llm_dir)
    session = rec.chat(reranker=Reranker(backend, "listwise", kind="movie"), user_id="1")
    reply = session.send("I loved Heat, something like it but older", explain=False)
    assert len(reply.items) == 10 and not reply.degraded and reply.items[0].candidate.scores.keys() >= {"llm", "blend"}
    assert reply.understood.llm == "off"  # transformers decoding is unconstrained: rules only by default
    before = len(backend.invocations)
    explained = list(session.explain(reply))
    calls = backend.invocations[before:]  # the top three in one batch, then the rejected ones again
    assert calls[0].kind == "generate" and calls[0].prompts == 3
    assert len(calls) <= 2 and all(c.kind == "generate" and c.prompts < 3 for c in calls[1:])
    assert all(reply.items[n].reason_source == "llm" for n in explained)
    assert all(i.reason and i.reason[-1] in ".!?" for i in reply.items)
    assert len(explained) == 3 or any("templates" in n for n in reply.notes)  # unusable answers are reported


def test_template_reasons_are_checkable_and_never_repeat(rec):
    """Every card's template reason differs, and the facts in it hold: the shared genres and the
    number of people in the log who liked both items (in whichever form the card states them)."""
    import re

    session = rec.chat(explain_with_llm=False)
    colike = [
        r"(?P<both>\d+) of the (?P<fans>\d+) people who liked (?P<a>.+?) also liked it",
        r"[Ll]iked by (?P<both>\d+) of the (?P<fans>\d+) people who liked (?P<a>.+?)(?:;|\.$)",
        r"[Aa]mong the (?P<fans>\d+) people who liked (?P<a>.+?), (?P<both>\d+) liked this one too",
    ]
    for message in (
        "I loved Heat and Pulp Fiction, something like them from the 70s",
        "something funny from the 80s, no horror",
    ):
        reply = session.send(message, explain=False)
        reasons = [i.reason for i in reply.items]
        assert len(set(reasons)) == len(reasons), reasons
        for item in reply.items:
            for pattern in colike:
                m = re.search(pattern, item.reason)
                if m:
                    anchor = next(a for a in rec.catalog if a.title == m.group("a"))
                    assert rec.co_likes(anchor.id, item.item.id) == (int(m.group("both")), int(m.group("fans")))
            shared = re.search(r"[Ll]ike (.+?), which you (?:liked|watched), it is ([a-z, '-]+?)(?:;|\.)", item.reason)
            if shared:
                anchor = next(a for a in rec.catalog if a.title == shared.group(1))
                named = {g.strip() for g in re.split(r",| and ", shared.group(2))}
                genres = {g.lower() for g in item.item.fields["genres"]} & {g.lower() for g in anchor.fields["genres"]}
                assert named == genres
            year = re.search(r"\b(1[89]\d\d)\b", item.reason)
            assert not year or int(year.group(1)) == item.item.fields["year"], item.reason


def test_duplicate_template_sentences_get_the_picks_own_facts(movielens, movie_domain):
    from recchat.conversation.card_facts import ExplainContext
    from recchat.conversation.template_reasons import template_reasons
    from recchat.types import Candidate

    catalog = movielens.catalog
    picks = [Candidate(catalog[i], 0.0, "scorer") for i in ("1", "71", "95")]
    reasons = template_reasons(catalog, picks, ExplainContext(history=[], domain=movie_domain))
    assert len(set(reasons)) == 3 and reasons[0].startswith("Widely liked")
    assert all(str(c.item.fields["year"]) in r for c, r in zip(picks, reasons))  # the pick's own facts
    assert "animation, children's and musical" in reasons[1]


def test_series_years_and_positions_hold_across_turns(rec):
    from recchat.rerank import NO_LLM

    session = rec.chat(reranker=NO_LLM, explain_with_llm=False)
    trek = set(rec.domain.series_named("Star Trek").members)
    first = session.send("any thrillers from 1996? nothing from Star Trek")
    assert "keep away from the Star Trek movies" in first.message
    assert first.items and all(
        i.item.fields["year"] == 1996 and "Thriller" in i.item.fields["genres"] for i in first.items
    )
    dropped = first.items[0].item.id
    second = session.send("not the first one")
    assert dropped not in {i.item.id for i in second.items} and all(i.item.fields["year"] == 1996 for i in second.items)
    picked = second.items[2].item.id
    third = session.send("the third one looks good")
    assert picked in session.state.liked and picked in session._history()  # history from now on
    assert rec.catalog[picked].title in third.message and picked not in {i.item.id for i in third.items}
    fourth = session.send("older than Fargo, no more Die Hard movies")
    fargo = session.resolver.resolve("Fargo")
    hard = set(rec.domain.series_named("Die Hard").members)
    assert (session.state.year_min, session.state.year_max) == (None, 1995) and fargo not in session.state.liked
    shown = [i.item.id for i in fourth.items]
    assert shown and all(rec.catalog[i].fields["year"] <= 1995 for i in shown)
    assert not (trek | hard | {dropped, picked, fargo}) & set(shown)
    assert session.state.avoided_series == ["star trek", "die hard"] and trek | hard <= session.state.rejected


@pytest.mark.fast
def test_state_filter_follows_the_domain():
    from recchat.conversation.session_state import SessionState

    state = SessionState(
        wanted={"subjects": ["Poetry", "History", "Travel"]},
        avoided={"authors": ["Ann Lee"]},
        year_min=2000,
        ranges={"pages": {"$gte": 100, "$lt": 300}},
    )
    assert state.where("published") == {
        "$and": [
            {"subjects": {"$contains": "History"}},
            {"subjects": {"$contains": "Travel"}},
            {"authors": {"$not_contains": "Ann Lee"}},
            {"published": {"$gte": 2000}},
            {"pages": {"$gte": 100}},
            {"pages": {"$lt": 300}},
        ]
    }
    assert SessionState(year_min=2000).where(None) is None  # no year field: no year clause


def test_a_new_range_bound_replaces_its_side_and_a_contradicted_one(rec):
    from recchat.conversation.constraints import Understanding

    session = rec.chat(explain_with_llm=False)
    for said, held in [
        ({"$lt": 300}, {"$lt": 300}),
        ({"$gt": 100}, {"$lt": 300, "$gt": 100}),
        ({"$lte": 250}, {"$gt": 100, "$lte": 250}),
        ({"$gt": 500}, {"$gt": 500}),
    ]:
        session._update(Understanding(ranges={"pages": said}))
        assert session.state.ranges == {"pages": held}, said


def test_a_catalog_without_facets_or_years_still_chats(movielens, embedder, tmp_path):
    from recchat.data.catalog import Catalog
    from recchat.index import ItemIndex

    catalog = Catalog(Item(i.id, i.title, i.title) for i in list(movielens.catalog)[:300] if i.title)
    index = ItemIndex("plain-items", path=tmp_path, embedder=embedder)
    index.build(catalog, progress=False)
    plain = Recommender(catalog, index)  # no scorer, no LLM, a domain with no facets and no year
    assert plain.domain.facets == [] and plain.domain.year is None
    session = plain.chat()
    first = session.send("something newer")  # a critique with nothing to go on: the cold start
    assert len(first.items) == 10 and first.message.startswith("Here are 10 picks")
    toy = session.resolver.resolve("Toy Story")
    reply = session.send("I loved Toy Story, something funny from the 80s, not the first one")
    shown = {i.item.id for i in reply.items}
    assert reply.items and toy in session.state.liked and not {toy, first.items[0].item.id} & shown
    assert session.state.wanted == {} and (session.state.year_min, session.state.year_max) == (None, None)
