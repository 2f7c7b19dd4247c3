"""Id parts guessed from text for items a scorer never trained on (issue 22, cold items).

The attempts :mod:`recchat.evaluation.cold` measures (bench/cold_fallbacks.py): an item the
scorer never trained on is scored from the item tower's text part alone; these add an id part
guessed from its text, learned on the trained items only. On MovieLens-100K both rank held-out
items lower, not higher (bench/RESULTS.md), so the product does not use them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# How an item the scorer never trained on gets an id part (:func:`guess_id_part`): ``none`` (zero:
# the item tower's text part alone), ``mapped`` (a ridge regression from text vectors to the known
# items' id embeddings; Gantner et al. 2010, attribute-to-feature mapping) or ``knn`` (the
# similarity-weighted mean id embedding of the nearest known items by text cosine).
ID_GUESSES = ("none", "mapped", "knn")
RIDGE_LAMBDAS = tuple(10.0**p for p in range(-4, 4))  # times the mean squared norm of a centred text vector
KNN_KS = (1, 3, 10, 30, 100)
GUESS_FOLDS = 5


@dataclass
class IdGuess:
    """Id parts guessed for new items, and how: the chosen ridge lambda or k (by k-fold squared
    error over the known items only) and each candidate's cross-validated error."""

    vectors: np.ndarray  # [new items, dim]
    how: str
    choice: float | None = None
    errors: dict[float, float] = field(default_factory=dict)


def _ridge(x: np.ndarray, y: np.ndarray, lam: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ridge with an unpenalised intercept: (x mean, weights, y mean)."""
    mx, my = x.mean(axis=0), y.mean(axis=0)
    xc = x - mx
    gram = xc.T @ xc
    weights = np.linalg.solve(gram + lam * np.eye(len(gram)), xc.T @ (y - my))
    return mx, weights, my


def _ridge_predict(model: tuple[np.ndarray, np.ndarray, np.ndarray], x: np.ndarray) -> np.ndarray:
    mx, weights, my = model
    return (x - mx) @ weights + my


def _unit(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)


def _knn(known_text: np.ndarray, known_ids: np.ndarray, new_text: np.ndarray, k: int) -> np.ndarray:
    sims = _unit(new_text) @ _unit(known_text).T
    k = min(k, sims.shape[1])
    nearest = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    weights = np.maximum(np.take_along_axis(sims, nearest, axis=1), 0.0)
    none = weights.sum(axis=1) <= 0
    weights[none] = 1.0  # nothing similar: the plain mean of the k
    weights /= weights.sum(axis=1, keepdims=True)
    return np.einsum("nk,nkd->nd", weights, known_ids[nearest])


def guess_id_part(
    known_text: np.ndarray,
    known_ids: np.ndarray,
    new_text: np.ndarray,
    how: str = "mapped",
    *,
    folds: int = GUESS_FOLDS,
    seed: int = 0,
) -> IdGuess:
    """Id parts for items the scorer never trained on, from their text vectors ``new_text``,
    learned from the trained items' text vectors and id embeddings (``known_text``,
    ``known_ids``, row by row). Only the known items are used: the lambda (``mapped``) or k
    (``knn``) is the one with the least ``folds``-fold squared error on them. Known items without
    text (zero vectors) are left out of the fit; a new item without text gets the intercept
    (``mapped``) or the mean of k arbitrary items (``knn``)."""
    if how not in ID_GUESSES:
        raise ValueError(f"how must be one of {', '.join(ID_GUESSES)}, not '{how}'")
    known_text = np.asarray(known_text, dtype=np.float64)
    known_ids = np.asarray(known_ids, dtype=np.float64)
    new_text = np.asarray(new_text, dtype=np.float64)
    if len(known_text) != len(known_ids):
        raise ValueError(f"{len(known_text)} text vectors for {len(known_ids)} id embeddings")
    if how == "none" or not len(new_text):
        return IdGuess(np.zeros((len(new_text), known_ids.shape[1]), dtype=np.float32), how)
    with_text = np.linalg.norm(known_text, axis=1) > 0
    x, y = known_text[with_text], known_ids[with_text]
    if len(x) < 2:
        raise ValueError("guessing id parts needs at least two known items with text")
    scale = float(((x - x.mean(axis=0)) ** 2).sum(axis=1).mean()) or 1.0
    options: tuple[float, ...] = tuple(lam * scale for lam in RIDGE_LAMBDAS) if how == "mapped" else KNN_KS

    def fit_predict(option: float, tx: np.ndarray, ty: np.ndarray, nx: np.ndarray) -> np.ndarray:
        if how == "mapped":
            return _ridge_predict(_ridge(tx, ty, option), nx)
        return _knn(tx, ty, nx, int(option))

    fold = np.random.default_rng(seed).permutation(len(x)) % max(2, min(folds, len(x)))
    errors = {}
    for option in options:
        squared = 0.0
        for f in np.unique(fold):
            inside = fold == f
            squared += float(((fit_predict(option, x[~inside], y[~inside], x[inside]) - y[inside]) ** 2).sum())
        errors[option] = squared / len(x)
    choice = min(errors, key=lambda o: errors[o])
    vectors = fit_predict(choice, x, y, new_text).astype(np.float32)
    return IdGuess(vectors, how, choice, errors)
