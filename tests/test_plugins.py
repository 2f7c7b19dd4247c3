"""Entry-point plugins: a tiny package (its wheel) is installed with pip into a target folder, and
a fresh Python process finds its LLM backend, scorer and retriever through recchat's factories."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ENTRY_POINTS = """
[recchat.llm_backends]
always-a = recchat_toy:AlwaysA
broken = recchat_toy.broken:Backend

[recchat.scorers]
by-id = recchat_toy:ById

[recchat.retrievers]
oldest = recchat_toy:Oldest
"""

PACKAGE = {
    "recchat_toy/__init__.py": '''
        """Toy plugins: an LLM that always prefers label A, a scorer that prefers low item ids, a
        retriever that proposes the oldest films."""
        import numpy as np

        from recchat.types import Candidate


        class AlwaysA:
            name = "always-a"

            def __init__(self, model=None, **options):
                self.invocations = []
                self.options = options

            def label_logprobs(self, prefix, suffixes, labels):
                return [{label: (0.0 if label in ("A", "Yes") else -9.0) for label in labels} for _ in suffixes]

            def generate(self, prompts, *, max_tokens, regex=None, json_schema=None):
                return ["A" for _ in prompts]


        class ById:
            def __init__(self, catalog, interactions, bonus=0.0):
                self.catalog, self.bonus = catalog, bonus

            def knows(self, item_id):
                return item_id in self.catalog

            def score(self, history, item_ids):
                return np.array([self.bonus - int(i) for i in item_ids], dtype=float)

            def topk(self, history, k=10, exclude=()):
                banned = set(history) | set(exclude)
                ids = [i.id for i in self.catalog if i.id not in banned][:k]
                return [Candidate(self.catalog[i], -int(i), "by-id", {"scorer": -int(i)}) for i in ids]


        class Oldest:
            name = "oldest"

            def __init__(self, catalog, interactions):
                self.items = sorted((i for i in catalog if i.fields.get("year")), key=lambda i: i.fields["year"])

            def retrieve(self, history, k, exclude=()):
                banned = set(history) | set(exclude)
                return [Candidate(i, -i.fields["year"], "oldest") for i in self.items if i.id not in banned][:k]
        ''',
    "recchat_toy/broken.py": """
        raise ImportError("recchat_toy.broken needs the 'unobtainium' package")
        """,
}

SCRIPT = """
import json, sys
from recchat.llm import load_backend
from recchat.plugins import PluginError, available
from recchat.recommender import Recommender

out = {"backends": sorted(available("llm_backends"))}
backend = load_backend("always-a", temperature=0)
out["backend"] = [type(backend).__name__, backend.options]
try:
    load_backend("broken")
except PluginError as exc:
    out["broken"] = str(exc)
rec = Recommender.from_config({"llm": {"backend": "always-a"}, "index": {"path": sys.argv[1]},
                               "scorer": {"plugin": "by-id", "retrievers": ["oldest"],
                                          "plugin_options": {"by-id": {"bonus": 5.0}}},
                               "blend": {"alpha": 0.0}})
ranking = rec.recommend(["50", "172"], k=5)
out["scorer"] = type(rec.scorer).__name__
out["sources"] = sorted({c.source for c in rec.candidates(["50", "172"])})
out["top"] = ranking.ids()
out["degraded"] = ranking.degraded
print("RESULT " + json.dumps(out))
"""


def build_wheel(folder: Path) -> Path:
    """A wheel of the toy package, written directly: a clean environment may have no build backend
    (no network, an old setuptools without bdist_wheel), and pip installs wheels without one."""
    import base64
    import hashlib
    import zipfile

    meta = "recchat_toy_plugins-0.1.0.dist-info"
    files = {name: textwrap.dedent(text).lstrip() for name, text in PACKAGE.items()}
    files[f"{meta}/METADATA"] = "Metadata-Version: 2.1\nName: recchat-toy-plugins\nVersion: 0.1.0\n"
    files[f"{meta}/WHEEL"] = "Wheel-Version: 1.0\nGenerator: recchat-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    files[f"{meta}/entry_points.txt"] = ENTRY_POINTS.lstrip()
    record = []
    for name, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(text.encode())}")
    files[f"{meta}/RECORD"] = "\n".join(record + [f"{meta}/RECORD,,"]) + "\n"
    wheel = folder / "recchat_toy_plugins-0.1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        for name, text in files.items():
            z.writestr(name, text)
    return wheel


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory):
    root = tmp_path_factory.mktemp("plugin")
    site = root / "site"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-index",
            "--target",
            str(site),
            str(build_wheel(root)),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert (site / "recchat_toy_plugins-0.1.0.dist-info" / "entry_points.txt").is_file()
    return site


def test_an_installed_package_registers_a_backend_a_scorer_and_a_retriever(plugin_site, movielens, tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(plugin_site), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path / "index")], capture_output=True, text=True, timeout=600, env=env
    )
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(l for l in done.stdout.splitlines() if l.startswith("RESULT "))
    out = json.loads(line[len("RESULT ") :])
    assert {"always-a", "broken"} <= set(out["backends"])
    assert out["backend"] == ["AlwaysA", {"temperature": 0}]
    # A plugin that fails to import names itself, its package and what to do; nothing replaces it.
    assert "'broken'" in out["broken"] and "recchat-toy-plugins 0.1.0" in out["broken"]
    assert "unobtainium" in out["broken"] and "does not fall back" in out["broken"]
    assert out["scorer"] == "ById" and {"by-id", "oldest"} <= set(out["sources"])
    # alpha 0: the plugin scorer's order decides; it prefers the lowest ids.
    assert out["top"] == sorted(out["top"], key=int) and not out["degraded"]


@pytest.mark.fast
def test_unknown_plugin_names_say_what_is_installed():
    from recchat.llm import LLMError, load_backend
    from recchat.plugins import PluginError, load_plugin

    with pytest.raises(LLMError, match="unknown backend 'nope'; choose from auto, transformers, vllm, openai"):
        load_backend("nope")
    with pytest.raises(PluginError, match="no scorer plugin named 'nope'.*installed: none"):
        load_plugin("scorers", "nope")
    with pytest.raises(ValueError, match="unknown plugin kind"):
        load_plugin("widgets", "x")
