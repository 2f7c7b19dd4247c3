"""Small pure helpers of the conversation layer, one by one (the whole layer runs on the tiny
catalog in test_fast_pipeline.py and on MovieLens in the full tier)."""

from __future__ import annotations

import pytest

from recchat.conversation import (
    chat,
    clauses,
    link_index,
    link_message,
    link_rules,
    protocols,
    references,
    reply,
    session_state,
)

pytestmark = pytest.mark.fast


def test_clauses_end_at_punctuation_and_but():
    msg = clauses.Clauses("no horror, something funny but not silly")
    assert len(msg.clauses) == 3 and len(msg.words) == len(msg.clause)
    assert [w.lower() for w in clauses.words_of("The Matrix")][-1] == "matrix"


def test_link_helpers_read_years_and_word_frequencies():
    assert link_message.year_dated("Titanic (1997) was great", len("Titanic")) == 1997
    assert link_message.year_dated("Titanic was great", len("Titanic")) is None
    assert link_index.zipf("the") > link_index.zipf("xyzzyqq") == 0.0
    assert callable(link_rules.match) and callable(references.read_titles)


def test_reply_and_state_words():
    assert reply.count_noun(1, "pick") == "1 pick" and reply.count_noun(3, "pick") == "3 picks"
    assert session_state.years_text(1990, 1999) == "1990-1999"
    assert session_state.years_text(None, 1959) == "before 1960"
    assert session_state.years_text(1996, 1996) == "from 1996"
    assert hasattr(protocols, "ChatRecommender") and hasattr(chat, "ChatSession")
