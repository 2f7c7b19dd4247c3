"""Faults of real components (issue 11): every request is answered, answered and flagged degraded
with a note that says why, or refused with a clear error that names the part and the fix; none is
lost (a hang, a traceback, an unexpected exception). These drive bench/reliability.py's functions
with a few requests each; the full-size table is in bench/RESULTS.md ("Reliability")."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import reliability as rel  # noqa: E402


@pytest.fixture(scope="module")
def bench(rec, movielens, embedder, tmp_path_factory):
    """The conftest recommender (real index, trained scorer) with its checkpoint saved, its index
    folder to copy, and a RECCHAT_HOME of copies that the faults may damage."""
    from recchat.assets import home

    embedder.encode(["warm up"])  # loading MiniLM is the session's cost, not a fault's
    work = tmp_path_factory.mktemp("faults")
    checkpoint = rec.scorer.save(work / "models" / "scorer.pt")
    index_folder = Path(rec.index.client.get_settings().persist_directory)
    return rel.Bench(rec, movielens.interactions, work, rel.make_home(work, home()), home(), checkpoint, index_folder)


@pytest.fixture
def quick_retries(monkeypatch):
    """The same three tries per call to a Chroma server, with a shorter wait between them."""
    import recchat.index.chroma

    monkeypatch.setattr(recchat.index.chroma, "SERVER_BACKOFF", 0.02)


def no_loss(tally: rel.Tally) -> None:
    assert tally.lost == 0, tally.examples.get("lost")


@pytest.mark.parametrize("behaviour", list(rel.LLM_FAULTS))
def test_a_failing_llm_server_degrades_every_request_to_the_scorer(bench, behaviour):
    (tally,) = rel.llm_fault(bench, behaviour, 2, timeout=0.5, retries=0)
    no_loss(tally)
    # one recommend call, one chat turn, two batch lines: all ranked by the scorer, saying why
    assert (tally.sent, tally.degraded) == (4, 4), tally
    note = tally.examples["degraded"]
    assert "LLM" in note and "http://127.0.0.1:" in note and "ranked by the trained scorer" in note
    assert any(fix in note for fix in ("--timeout", "--base-url", "vllm.entrypoints")), note  # what to do


def test_a_well_behaved_llm_server_is_not_counted_degraded(bench):
    (tally,) = rel.llm_fault(bench, "ok", 2, timeout=10.0)  # a loaded CI machine must not time it out
    assert (tally.sent, tally.answered) == (4, 4), tally


def test_chroma_server_down_at_start_is_refused_naming_it_and_how_to_start_it(bench, quick_retries):
    (tally,) = rel.chroma_down(bench, 1)
    # Recommender.from_config, then the real CLI: exit 2 with one "recchat: error:" line, no traceback
    assert (tally.sent, tally.failed) == (2, 2), tally
    assert "chroma run --path" in tally.examples["failed"] and "http://127.0.0.1:" in tally.examples["failed"]


def test_chroma_server_restarted_mid_session_degrades_then_recovers(bench, quick_retries):
    before, down, after = rel.chroma_restart(bench, 2)
    for tally in (before, down, after):
        no_loss(tally)
    assert before.answered == after.answered == 2, (before, after)
    assert down.degraded == 2, down
    assert "Text search was unavailable" in down.examples["degraded"]
    assert "chroma run" in down.examples["degraded"]


def test_damaged_files_are_refused_naming_the_file_and_the_fix(bench):
    rows = [
        *rel.damaged_checkpoint(bench, "truncated", cli=False),
        *rel.damaged_checkpoint(bench, "random", cli=False),
        *rel.damaged_blend(bench, "truncated", cli=False),
        *rel.damaged_blend(bench, "wrong-keys", cli=False),
    ]
    for tally in rows:
        no_loss(tally)
        assert tally.failed == tally.sent, tally
    assert "recchat train" in rows[0].examples["failed"] and "scorer-truncated.pt" in rows[0].examples["failed"]
    assert "recchat tune-blend" in rows[3].examples["failed"] and "'alpha'" in rows[3].examples["failed"]


def test_a_damaged_profile_cache_is_rebuilt(bench):
    (tally,) = rel.damaged_profiles(bench, 3, cli=False)
    assert (tally.sent, tally.answered) == (3, 3), tally


def test_a_truncated_index_store_is_refused_naming_the_folder(bench):
    with rel.FakeLLMServer("ok") as llm:
        (tally,) = rel.damaged_index(bench, "truncated", llm.url)
    # Recommender.from_config, then the real `recchat index query`: exit 2, one message, no traceback
    assert (tally.sent, tally.failed) == (2, 2), tally
    assert "recchat index build" in tally.examples["failed"]


def test_deleting_the_assets_under_a_running_recommender(bench):
    from recchat.llm import load_backend

    with rel.FakeLLMServer("ok") as llm:
        (tally,) = rel.assets_deleted(bench, 2, backend=load_backend("openai", base_url=llm.url), cli=False)
    no_loss(tally)
    assert tally.answered == 3, tally  # one before, two after the deletion, from what is loaded
    assert tally.failed == 1 and "recchat assets fetch movielens-100k" in tally.examples["failed"]
    assert (bench.home / "assets" / "movielens-100k" / "MANIFEST.json").is_file()  # copied back


def test_remove_copy_refuses_anything_outside_the_temporary_folder(bench):
    from recchat.assets import home

    with pytest.raises(RuntimeError, match="refusing"):
        rel.remove_copy(home() / "assets", bench.work)
    assert (home() / "assets").is_dir()
