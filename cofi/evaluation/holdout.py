"""Hold-out evaluation: a seeded split, RMSE and MAE, and the baselines a model must beat.

The split: each rating goes to the test set independently with probability close to
``test_fraction``; exactly ``round(test_fraction * n)`` ratings are drawn without replacement by a
NumPy generator seeded with ``seed``. Users or movies that end up only in the test set are
predicted by the model's documented fallbacks, exactly as in production.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cofi.errors import CofiError
from cofi.models.model import Model


def split_random(
    ratings: pd.DataFrame, test_fraction: float = 0.1, seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split ratings at random into ``(train, test)``, reproducibly for a given seed.

    Args:
        ratings: one row per rating.
        test_fraction: share of ratings held out, in (0, 1).
        seed: seeds the draw.

    Returns:
        ``(train, test)`` with the original row order kept within each.
    """
    if not 0.0 < test_fraction < 1.0:
        raise CofiError(f"test_fraction must lie strictly between 0 and 1, got {test_fraction}")
    n = len(ratings)
    n_test = int(round(test_fraction * n))
    if n_test == 0 or n_test == n:
        raise CofiError(
            f"a test_fraction of {test_fraction} leaves an empty side out of {n} ratings"
        )
    rng = np.random.default_rng(seed)
    is_test = np.zeros(n, dtype=bool)
    is_test[rng.choice(n, size=n_test, replace=False)] = True
    return ratings.loc[~is_test].reset_index(drop=True), ratings.loc[is_test].reset_index(drop=True)


def split_stable(
    ratings: pd.DataFrame, test_fraction: float = 0.1, seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split ratings into ``(train, test)`` by a seeded hash of each (user, movie) pair.

    A rating's side depends only on its pair and the seed, never on the other ratings, so when
    new ratings arrive every old rating stays on its side. That keeps a warm start honest: a
    model trained on yesterday's training part has seen none of today's test ratings. The test
    share is ``test_fraction`` in expectation, not exactly.
    """
    if not 0.0 < test_fraction < 1.0:
        raise CofiError(f"test_fraction must lie strictly between 0 and 1, got {test_fraction}")
    # pandas' row hash is fixed across runs and machines; the seed enters as a column.
    pairs = pd.DataFrame(
        {
            "user_id": ratings["user_id"].to_numpy(np.int64),
            "movie_id": ratings["movie_id"].to_numpy(np.int64),
            "seed": np.int64(seed),
        }
    )
    hashes = pd.util.hash_pandas_object(pairs, index=False).to_numpy()
    is_test = hashes < np.uint64(test_fraction * 2.0**64)
    if is_test.all() or not is_test.any():
        raise CofiError(
            f"a test_fraction of {test_fraction} leaves an empty side out of {len(ratings)} ratings"
        )
    return ratings.loc[~is_test].reset_index(drop=True), ratings.loc[is_test].reset_index(drop=True)


def rmse(actual: np.ndarray, predicted: np.ndarray) -> float:
    """Root mean squared error."""
    return float(
        np.sqrt(np.mean((np.asarray(actual, np.float64) - np.asarray(predicted, np.float64)) ** 2))
    )


def mae(actual: np.ndarray, predicted: np.ndarray) -> float:
    """Mean absolute error."""
    return float(
        np.mean(np.abs(np.asarray(actual, np.float64) - np.asarray(predicted, np.float64)))
    )


def baseline_predictions(train: pd.DataFrame, test: pd.DataFrame) -> dict[str, np.ndarray]:
    """Predictions of the baselines for ``test``'s pairs, learned from ``train``.

    - ``global_mean``: the mean training rating for everything;
    - ``movie_mean``: each movie's mean training rating (the global mean for unseen movies).
    """
    global_mean = float(train["rating"].mean())
    movie_means = train.groupby("movie_id")["rating"].mean()
    movie_mean = test["movie_id"].map(movie_means).fillna(global_mean).to_numpy(np.float64)
    return {"global_mean": np.full(len(test), global_mean), "movie_mean": movie_mean}


def evaluate(model: Model, train: pd.DataFrame, test: pd.DataFrame) -> dict:
    """RMSE and MAE of ``model`` on ``test``, beside the baselines learned from ``train``.

    Returns:
        A JSON-ready dict: ``metrics`` maps each of ``model``, ``global_mean`` and ``movie_mean``
        to its ``rmse`` and ``mae``; ``beats_baselines`` tells for each metric whether the model
        is strictly better than every baseline; ``n_train`` and ``n_test`` count ratings.
    """
    if test.empty:
        raise CofiError("the test set is empty")
    actual = test["rating"].to_numpy(np.float64)
    predictions = {"model": model.predict(test["user_id"].to_numpy(), test["movie_id"].to_numpy())}
    predictions.update(baseline_predictions(train, test))
    metrics = {
        name: {"rmse": rmse(actual, predicted), "mae": mae(actual, predicted)}
        for name, predicted in predictions.items()
    }
    beats = {
        metric: all(
            metrics["model"][metric] < metrics[name][metric] for name in metrics if name != "model"
        )
        for metric in ("rmse", "mae")
    }
    return {
        "model_id": model.model_id,
        "n_train": int(len(train)),
        "n_test": int(len(test)),
        "metrics": metrics,
        "beats_baselines": beats,
    }


def format_report(report: dict) -> str:
    """A plain-text table of an :func:`evaluate` report."""
    lines = [f"{'':<12}{'RMSE':>8}{'MAE':>8}"]
    for name, values in report["metrics"].items():
        lines.append(f"{name:<12}{values['rmse']:>8.4f}{values['mae']:>8.4f}")
    verdict = "beats" if all(report["beats_baselines"].values()) else "does NOT beat"
    lines.append(
        f"model {verdict} both baselines (RMSE and MAE) on {report['n_test']:,} held-out ratings"
    )
    return "\n".join(lines)
