"""Simulated users: the templated user, the held-out protocol, and a small deterministic run."""

from __future__ import annotations

import json

import pytest

from recchat.conversation.aliases import normalize_title
from recchat.conversation.simulate import SimulatedUser, held_out_log, run, sample_users
from recchat.data.split import leave_one_out
from recchat.recommender import Recommender
from recchat.types import Item


@pytest.mark.fast
def test_the_simulated_user_critiques_toward_the_target():
    target = Item("t", "Chinatown", "Chinatown (1974)", {"year": 1974, "genres": ["Film-Noir", "Mystery"]})
    sim = SimulatedUser("u", target, [], [], [], facet="genres", year="year")
    sim.stated = {"Film-Noir"}
    newer = [Item(str(i), "x", "x", {"year": 1995}) for i in range(5)]
    assert sim.critique(newer) == "Something older, from the 1970s."
    assert sim.critique(newer) == "More mystery, please."
    assert sim.critique(newer) == "Not that one, something else."


def test_held_out_log_hides_every_test_target(movielens):
    split = leave_one_out(movielens.interactions, movielens.catalog)
    log = held_out_log(split)
    assert len(log) == len(movielens.interactions) - sum(split.test >= 0)
    seen = {(e.user, e.item) for e in log}
    for u, user in enumerate(split.users[:50]):
        if split.test[u] >= 0 and split.item_ids[split.test[u]] not in [
            split.item_ids[i] for i in split.history(u, "test")
        ]:
            assert (user, split.item_ids[split.test[u]]) not in seen


def test_a_small_run_is_deterministic_and_never_names_the_target(rec, movielens, tmp_path):
    split = leave_one_out(movielens.interactions, movielens.catalog)
    held = Recommender(
        rec.catalog, rec.index, rec.scorer, rec.reranker, interactions=held_out_log(split), domain=rec.domain
    )
    sims = sample_users(split, rec.catalog, 4, seed=1, domain=rec.domain)
    assert [s.user for s in sims] == [s.user for s in sample_users(split, rec.catalog, 4, seed=1, domain=rec.domain)]
    assert all(s.facet == "genres" and s.year == "year" and s.values for s in sims)
    folders, tables = [], []
    for n in range(2):
        folder, rows = run(held, split, users=4, seed=1, out=tmp_path / str(n), progress=False)
        folders.append(folder)
        tables.append([{k: v for k, v in r.items() if k != "turn_seconds_p50"} for r in rows])
    assert tables[0] == tables[1] and [r["system"] for r in tables[0]] == ["text", "pipeline-no-llm", "pipeline"]
    for name in ("results.json", "results.md", "chart.png", "conversations.jsonl"):
        assert (folders[0] / name).is_file()
    conversations = [json.loads(line) for line in (folders[0] / "conversations.jsonl").read_text().splitlines()]
    assert len(conversations) == 12
    for c in conversations:
        assert 1 <= len(c["turns"]) <= 5 and (c["found_at"] is None or c["found_at"] == len(c["turns"]))
        assert all(normalize_title(c["target"]) not in normalize_title(t["user"]) for t in c["turns"])
    by_turn = tables[0][1]["recall@10_by_turn"]
    assert by_turn == sorted(by_turn) and tables[0][1]["success@5"] == by_turn[-1]
    assert "| pipeline-no-llm | 4 |" in (folders[0] / "results.md").read_text()
    with pytest.raises(ValueError, match="unknown system"):
        run(held, split, users=1, systems=["magic"], out=tmp_path)


@pytest.mark.fast
def test_a_paraphrase_that_names_the_target_is_discarded():
    from recchat.conversation.simulate import _paraphrase

    target = Item("t", "Chinatown", "Chinatown (1974)", {"year": 1974, "genres": ["Film-Noir"]})

    class Echo:
        def __init__(self, answer):
            self.answer = answer

        def generate(self, prompts, *, max_tokens, **kw):
            assert "<message>More mystery, please.</message>" in prompts[0]
            return [self.answer]

    assert _paraphrase(Echo("Got any  more mysteries?"), "More mystery, please.", target) == "Got any more mysteries?"
    assert _paraphrase(Echo("Something like Chinatown?"), "More mystery, please.", target) == "More mystery, please."
    assert _paraphrase(Echo(""), "More mystery, please.", target) == "More mystery, please."


def test_a_failing_llm_is_counted_and_its_row_marked(rec, movielens, tmp_path):
    from test_rerank import FakeBackend

    from recchat.rerank import Reranker

    split = leave_one_out(movielens.interactions, movielens.catalog)
    failing = Reranker(FakeBackend(fail=True), "listwise", kind="movie")
    held = Recommender(rec.catalog, rec.index, rec.scorer, failing, interactions=held_out_log(split), domain=rec.domain)
    folder, rows = run(
        held, split, users=2, seed=1, systems=["pipeline-no-llm", "pipeline"], out=tmp_path, progress=False
    )
    pipeline = rows[1]
    assert pipeline["llm_turns"] > 0 and pipeline["degraded_turns"] == pipeline["llm_turns"]
    assert pipeline["llm_unreliable"] and "server unreachable" in pipeline["first_error"]
    assert rows[0]["llm_turns"] == 0 and not rows[0]["llm_unreliable"]
    table = (folder / "results.md").read_text()
    assert (
        f"| pipeline [LLM failed on {pipeline['llm_turns']} of {pipeline['llm_turns']} turns: the scorer's figures] |"
        in table
    )
    saved = json.loads((folder / "results.json").read_text())["results"][1]
    assert saved["degraded_turns"] == pipeline["llm_turns"]
