"""Concurrent requests gathered into shared LLM calls (recchat.llm.gather): the logic on a small
fake that counts calls, then the real transformers backend answering three sessions in one call."""

from __future__ import annotations

import threading
import time

import pytest

from recchat.llm import LLMError, collect_invocations
from recchat.llm.gather import Gathered, gathered


class SlowEcho:
    """Answers ``generate`` with each prompt upper-cased after ``delay`` seconds; counts calls."""

    name = "transformers"

    def __init__(self, delay=0.2, fail_on=None):
        self.delay, self.fail_on, self.calls, self.invocations = delay, fail_on, [], []

    def generate(self, prompts, *, max_tokens, regex=None, json_schema=None):
        self.calls.append(("generate", list(prompts)))
        time.sleep(self.delay)
        if self.fail_on in prompts:
            raise LLMError(f"cannot answer {self.fail_on}")
        return [p.upper() for p in prompts]

    def label_logprobs(self, prefix, suffixes, labels):
        self.calls.append(("label_logprobs", prefix))
        time.sleep(self.delay)
        if prefix == self.fail_on:
            raise LLMError("bad prefix")
        return [{label: -float(len(prefix + s)) for label in labels} for s in suffixes]


def run_threads(fn, args_list):
    results, errors = [None] * len(args_list), [None] * len(args_list)

    def one(i):
        try:
            results[i] = fn(*args_list[i])
        except Exception as exc:  # noqa: BLE001 - the test inspects it
            errors[i] = exc

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(args_list))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results, errors


@pytest.mark.fast
def test_requests_waiting_while_the_model_is_busy_share_the_next_call():
    inner = SlowEcho()
    g = Gathered(inner)

    def ask(prompts):
        with collect_invocations() as calls:
            return g.generate(prompts, max_tokens=8), calls

    results, errors = run_threads(ask, [([f"p{i}a", f"p{i}b"],) for i in range(6)])
    assert errors == [None] * 6
    for i, (answer, calls) in enumerate(results):
        assert answer == [f"P{i}A", f"P{i}B"]  # each caller gets its own answers, in its order
        assert len(calls) == 1 and calls[0].prompts == 2  # and its own record, in its own thread
    assert len(inner.calls) < 6 and g.requests == 6  # fewer model calls than requests
    assert max(inv.gathered for inv in g.invocations) > 1


@pytest.mark.fast
def test_one_user_alone_is_not_delayed_and_settings_are_not_mixed():
    inner = SlowEcho(delay=0.0)
    g = Gathered(inner)
    assert g.generate(["x"], max_tokens=4) == ["X"]
    assert g.invocations[-1].gathered == 1 and inner.calls == [("generate", ["x"])]
    # Different max_tokens (or constraints) never share a call.
    inner.delay = 0.2
    results, _ = run_threads(lambda p, n: g.generate([p], max_tokens=n), [("a", 4), ("b", 8), ("c", 4), ("d", 8)])
    assert results == [["A"], ["B"], ["C"], ["D"]]
    max_tokens = {"a": 4, "b": 8, "c": 4, "d": 8}
    for _, prompts in inner.calls[1:]:
        assert len({max_tokens[p] for p in prompts}) == 1


@pytest.mark.fast
def test_a_failing_shared_call_fails_its_requests_and_not_the_next_ones():
    inner = SlowEcho(fail_on="bad")
    g = Gathered(inner)
    results, errors = run_threads(lambda p: g.generate([p], max_tokens=4), [("bad",), ("good",), ("fine",)])
    assert any(isinstance(e, LLMError) for e in errors)
    assert all(r is None or r[0] in ("GOOD", "FINE") for r in results)
    assert g.generate(["later"], max_tokens=4) == ["LATER"]  # the queue is not stuck
    # label_logprobs without label_logprobs_many: one after another, each failing on its own.
    results, errors = run_threads(lambda p: g.label_logprobs(p, ["s"], ["Yes", "No"]), [("bad",), ("ok",)])
    assert isinstance(errors[0], LLMError) and errors[1] is None and results[1] == [{"Yes": -3.0, "No": -3.0}]


@pytest.mark.fast
def test_only_in_process_backends_are_wrapped():
    echo = SlowEcho()
    assert isinstance(gathered(echo), Gathered) and gathered(gathered(echo)).inner is echo
    assert gathered(None) is None

    class Server:
        name = "openai"

    server = Server()
    assert gathered(server) is server


@pytest.mark.slow
def test_real_transformers_three_sessions_in_one_call_get_their_own_answers(llm_dir, movielens):
    """Three sessions ask for reasons while the model is busy with a fourth's rerank: their
    prompts go to the real SmolLM2 as one batch, and each gets the answer the model gives its
    prompt in that batch; label scores gathered with them equal the scores asked alone."""
    from recchat.llm import load_backend
    from recchat.templates import load_template

    inner = load_backend("transformers", llm_dir)
    g = Gathered(inner)
    catalog = movielens.catalog
    t = load_template("pointwise")
    prefix = t.prefix(history=[{"text": catalog[i].text, "rating": 5} for i in ("1", "50")], kind="movie")
    suffixes = [t.suffix(candidate={"text": catalog[i].text}) for i in ("100", "181")]
    alone = inner.label_logprobs(prefix, suffixes, ["Yes", "No"])
    prompts = [f"In five words, why watch {catalog[i].title}?" for i in ("1", "50", "258")]

    busy = threading.Thread(target=lambda: out.__setitem__("rerank", g.label_logprobs(prefix, suffixes, ["Yes", "No"])))
    out: dict = {}
    busy.start()
    while not g._busy:
        time.sleep(0.001)
    results, errors = run_threads(lambda p: g.generate([p], max_tokens=6), [(p,) for p in prompts])
    busy.join(60)
    assert errors == [None] * 3
    shared = [c for c in inner.invocations if c.kind == "generate"]
    assert len(shared) == 1 and shared[0].prompts == 3  # one model call for three sessions
    reference = inner.generate(prompts, max_tokens=6)  # the same batch, asked directly
    assert [r[0] for r in results] == reference
    assert out["rerank"] == alone


@pytest.mark.fast
def test_scoring_waits_for_no_queued_generation():
    """While the model is busy, a generate and then a label_logprobs request queue up: the
    scoring (a user's ranked list) runs first."""
    inner = SlowEcho(delay=0.3)
    g = Gathered(inner)
    first = threading.Thread(target=lambda: g.generate(["busy"], max_tokens=4))
    first.start()
    while not g._busy:
        time.sleep(0.001)
    later = threading.Thread(target=lambda: g.generate(["reason"], max_tokens=4))
    later.start()
    while len(g._waiting) < 1:
        time.sleep(0.001)
    scoring = threading.Thread(target=lambda: g.label_logprobs("list", ["s"], ["Yes", "No"]))
    scoring.start()
    while len(g._waiting) < 2 and g._busy:
        time.sleep(0.001)
    for t in (first, later, scoring):
        t.join(10)
    assert [c[0] for c in inner.calls] == ["generate", "label_logprobs", "generate"]
