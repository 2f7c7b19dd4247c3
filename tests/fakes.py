"""Fakes for the fast tier (``pytest -m fast``): no model, no asset, no server, no subprocess.

- :class:`ScriptedBackend`: an LLM backend (the protocol of ``recchat.llm.base.LLMBackend``) whose
  label log-probabilities and generated texts are scripted by the test; it records its calls and
  can be told to fail.
- :class:`HashEmbedder`: a deterministic Chroma embedding function that hashes words into a small
  unit vector, so that texts sharing words are near each other; registered with Chroma like the
  real one, so a collection it built reopens.
- :func:`write_tiny_dataset` / :func:`tiny_config`: a dozen films and a small rating log written as
  CSV files, and the recchat configuration that reads them (rules only, ``backend = "none"``).
- :func:`tiny_index`: those items in a real embedded Chroma collection under a temporary folder.

The fixtures that hand these to tests (``tiny``, ``tiny_index``) live in tests/conftest.py.
"""

from __future__ import annotations

import csv
import hashlib
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from chromadb.api.types import Documents, EmbeddingFunction, Embeddings
from chromadb.utils.embedding_functions import register_embedding_function

from recchat.llm.base import LLMError, record
from recchat.types import Invocation

# --------------------------------------------------------------------------- LLM


class ScriptedBackend:
    """An LLM backend that answers what the test scripted.

    ``logprobs``: how ``label_logprobs`` answers each suffix: a dict label -> logprob (the same for
    every suffix), a list of such dicts (one per call and suffix, in order; the last repeats), or a
    callable ``(prefix, suffix, labels) -> dict``. Default: the first label is the most likely.
    ``texts``: how ``generate`` answers each prompt: a string, a list (in order; the last repeats)
    or a callable ``(prompt) -> str``. ``fail``: every call raises :class:`LLMError`.
    ``calls`` keeps ``(kind, prompts)`` of every call.
    """

    name = "scripted"
    structured_outputs = True

    def __init__(
        self,
        logprobs: dict[str, float] | list[dict[str, float]] | Callable[..., dict[str, float]] | None = None,
        texts: str | list[str] | Callable[[str], str] = "",
        *,
        fail: bool = False,
    ):
        self.logprobs, self.texts, self.fail = logprobs, texts, fail
        self.invocations: list[Invocation] = []
        self.calls: list[tuple[str, list[str]]] = []
        self._next_logprobs = 0
        self._next_text = 0

    def _check(self) -> None:
        if self.fail:
            raise LLMError("scripted failure: server unreachable")

    def _scores(self, prefix: str, suffix: str, labels: Sequence[str]) -> dict[str, float]:
        script = self.logprobs
        if script is None:
            return {label: (-0.1 if n == 0 else -3.0 - n) for n, label in enumerate(labels)}
        if callable(script):
            return dict(script(prefix, suffix, list(labels)))
        if isinstance(script, list):
            answer = script[min(self._next_logprobs, len(script) - 1)]
            self._next_logprobs += 1
            return dict(answer)
        return dict(script)

    def label_logprobs(self, prefix: str, suffixes: Sequence[str], labels: Sequence[str]) -> list[dict[str, float]]:
        self._check()
        self.calls.append(("label_logprobs", [prefix + s for s in suffixes]))
        record(self, Invocation(self.name, "label_logprobs", len(suffixes), 10, 1, 0.001), [prefix, *suffixes])
        return [self._scores(prefix, s, labels) for s in suffixes]

    def _text(self, prompt: str) -> str:
        script = self.texts
        if callable(script):
            return script(prompt)
        if isinstance(script, list):
            text = script[min(self._next_text, len(script) - 1)]
            self._next_text += 1
            return text
        return script

    def generate(
        self,
        prompts: Sequence[str],
        *,
        max_tokens: int,
        regex: str | None = None,
        json_schema: dict[str, Any] | None = None,
    ) -> list[str]:
        self._check()
        self.calls.append(("generate", list(prompts)))
        record(self, Invocation(self.name, "generate", len(prompts), 10, max_tokens, 0.001), prompts)
        return [self._text(p) for p in prompts]


# --------------------------------------------------------------------------- embedder

_WORD = re.compile(r"[a-z0-9]+")


@register_embedding_function
class HashEmbedder(EmbeddingFunction[Documents]):
    """Each word adds +-1 to one of ``dim`` coordinates chosen by its hash; the sum is unit length.
    Deterministic across processes (sha1, not ``hash``), instant, and texts that share words are
    near each other, which is all the index and retrieval tests need."""

    def __init__(self, dim: int = 32):
        self.dim = dim

    @staticmethod
    def name() -> str:
        return "recchat-test-hash"

    def get_config(self) -> dict[str, Any]:
        return {"dim": self.dim}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> HashEmbedder:
        return HashEmbedder(int(config.get("dim", 32)))

    def default_space(self) -> str:  # type: ignore[override]
        return "cosine"

    def identity(self) -> str:
        return f"test-hash-{self.dim}"

    def encode(self, texts: Sequence[str], *, cache: bool = False) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in _WORD.findall(str(text).lower()):
                digest = hashlib.sha1(word.encode()).digest()
                out[row, digest[0] % self.dim] += 1.0 if digest[1] % 2 else -1.0
            norm = float(np.linalg.norm(out[row]))
            if norm == 0.0:
                out[row, 0], norm = 1.0, 1.0
            out[row] /= norm
        return out

    def __call__(self, input: Documents) -> Embeddings:
        return list(self.encode(input))


# --------------------------------------------------------------------------- data

# id, title, genres, year: three tastes (crime, animation, sci-fi) and a few others.
FILMS: list[tuple[str, str, str, int]] = [
    ("1", "Heat", "Crime|Thriller", 1995),
    ("2", "Fargo", "Crime|Drama", 1996),
    ("3", "Touch of Evil", "Crime|Thriller", 1958),
    ("4", "Toy Story", "Animation|Children|Comedy", 1995),
    ("5", "Aladdin", "Animation|Children|Musical", 1992),
    ("6", "The Lion King", "Animation|Children|Musical", 1994),
    ("7", "Alien", "Sci-Fi|Horror", 1979),
    ("8", "Aliens", "Sci-Fi|Action|War", 1986),
    ("9", "Star Wars", "Sci-Fi|Action|Adventure", 1977),
    ("10", "Casablanca", "Drama|Romance|War", 1942),
    ("11", "Groundhog Day", "Comedy|Romance", 1993),
    ("12", "The Godfather", "Crime|Drama", 1972),
]
TASTES = {"crime": ["1", "2", "3", "12"], "kids": ["4", "5", "6"], "scifi": ["7", "8", "9"]}


def tiny_ratings() -> list[tuple[str, str, int, int]]:
    """(user, item, rating, timestamp): 12 users, 3 per taste plus 3 mixed, 4-5 films each."""
    rows = []
    t = 1_000_000
    others = ["10", "11"]
    for u in range(12):
        taste = list(TASTES.values())[u % 3]
        films = taste[u % len(taste) :] + taste[: u % len(taste)] + [others[u % 2]]
        if u >= 9:  # three users who watch across tastes
            films = [TASTES["crime"][u % 4], TASTES["kids"][u % 3], TASTES["scifi"][u % 3], others[u % 2]]
        for film in films:
            t += 60
            rows.append((f"u{u + 1}", film, 5 if film not in others else 3, t))
    return rows


def write_tiny_dataset(folder: Path) -> tuple[Path, Path]:
    """films.csv and ratings.csv under ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    films, ratings = folder / "films.csv", folder / "ratings.csv"
    with open(films, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["item_id", "title", "genres", "year"])
        w.writerows(FILMS)
    with open(ratings, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["user_id", "item_id", "rating", "timestamp"])
        w.writerows(tiny_ratings())
    return films, ratings


def tiny_config(folder: Path) -> dict[str, Any]:
    """The configuration (a dict, as a TOML file would hold it) for the tiny films under ``folder``:
    rules and text retrieval only, no scorer checkpoint, no LLM, everything written under it."""
    films, ratings = write_tiny_dataset(folder)
    return {
        "name": "tiny",
        "catalog": {
            "path": str(films),
            "fields": {
                "genres": {"column": "genres", "type": "list", "sep": "|", "role": "facet"},
                "year": {"column": "year", "type": "int", "role": "year"},
            },
        },
        "interactions": {"path": str(ratings)},
        "index": {"path": str(folder / "index")},
        "scorer": {"checkpoint": str(folder / "scorer.pt")},
        "profiles": str(folder / "profiles"),
        "llm": {"backend": "none"},
        "domain": {"item": "movie", "verb": "watched"},
    }


def tiny_index(catalog: Any, folder: Path, name: str = "tiny-items") -> Any:
    """The catalog in an embedded Chroma collection under ``folder``, embedded by HashEmbedder."""
    from recchat.index import ItemIndex

    index = ItemIndex(name, path=folder, embedder=HashEmbedder())  # type: ignore[arg-type]
    index.build(catalog, progress=False)
    return index
