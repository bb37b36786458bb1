"""Warm starts: training begins from a previous model's parameters."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import cofi
from cofi.data.matrices import IndexMap
from cofi.errors import CofiError
from cofi.models.objectives import objective_for
from cofi.models.trainer import Tolerance
from cofi.models.warm import warm_start_parameters


@pytest.fixture(scope="module")
def ratings() -> pd.DataFrame:
    rng = np.random.default_rng(8)
    movies, users = rng.normal(size=(50, 3)), rng.normal(size=(70, 3))
    movie, user = np.nonzero(rng.random((50, 70)) < 0.5)
    rating = np.clip(np.round(3 + (movies @ users.T)[movie, user]), 1, 5)
    return pd.DataFrame({"user_id": user + 1, "movie_id": movie + 1, "rating": rating})


def test_rows_are_carried_over_by_id_and_new_rows_start_seeded(ratings) -> None:
    old = cofi.fit(
        ratings[ratings["user_id"] <= 60], objective="biased", n_features=3, iterations=30
    )
    config = cofi.TrainConfig(n_features=3)
    movies = IndexMap.from_ids(np.arange(1, 52))  # one movie more than before
    users = IndexMap.from_ids(np.arange(1, 71))
    values = warm_start_parameters(old, movies, users, config)
    np.testing.assert_array_equal(values["X"][:50], old.X)
    np.testing.assert_array_equal(values["W"][:60], old.W)
    np.testing.assert_array_equal(values["b"][0, :60], old.b[0])
    np.testing.assert_array_equal(values["movie_bias"][:50], old.movie_bias)
    fresh = objective_for(config).initial_values(51, 70)
    np.testing.assert_array_equal(values["W"][60:], fresh["W"][60:])
    np.testing.assert_array_equal(values["X"][50], fresh["X"][50])


def _steps_to(history: list[tuple[int, float]], target: float) -> int:
    return next(step for step, cost in history if cost <= target)


def test_warm_start_reaches_the_cold_optimum_in_fewer_steps(ratings) -> None:
    old = cofi.fit(
        ratings[ratings["user_id"] <= 60], objective="biased", n_features=3, iterations=300
    )
    cold = cofi.fit(ratings, objective="biased", n_features=3, iterations=300, log_every=5)
    warm = cofi.fit(
        ratings, objective="biased", n_features=3, iterations=300, log_every=5, warm_start=old
    )
    # the warm start uses the warm defaults (a lower learning rate) unless told otherwise
    assert warm.config.learning_rate == cofi.models.config.WARM_START_DEFAULTS["learning_rate"]
    target = cold.loss_history[-1][1] * 1.01
    assert _steps_to(warm.loss_history, target) < _steps_to(cold.loss_history, target)
    assert warm.loss_history[0][1] < cold.loss_history[0][1]
    assert warm.loss_history[-1][1] <= target


def test_tolerance_stops_training_and_zero_runs_every_step(ratings) -> None:
    full = cofi.fit(ratings, objective="biased", n_features=3, iterations=200, log_every=10)
    stopped = cofi.fit(
        ratings, objective="biased", n_features=3, iterations=200, log_every=10, tolerance=0.01
    )
    assert full.loss_history[-1][0] == 200
    steps = [step for step, _ in stopped.loss_history]
    assert steps[-1] < 200
    (previous, latest) = stopped.loss_history[-2][1], stopped.loss_history[-1][1]
    assert previous - latest < 0.01 * previous


def test_warm_start_refuses_a_different_shape_of_model(ratings) -> None:
    old = cofi.fit(ratings, objective="biased", n_features=3, iterations=5)
    with pytest.raises(CofiError, match="cannot warm-start a 'biased' model with 4 features"):
        cofi.fit(ratings, objective="biased", n_features=4, iterations=5, warm_start=old)
    with pytest.raises(CofiError, match="cannot warm-start a 'lab'"):
        cofi.fit(ratings, objective="lab", n_features=3, iterations=5, warm_start=old)


def test_warm_start_refuses_a_fresh_validation_split(ratings) -> None:
    old = cofi.fit(ratings, objective="biased", n_features=3, iterations=5)
    with pytest.raises(CofiError, match="validation_fraction > 0 would stop early"):
        cofi.fit(
            ratings,
            objective="biased",
            n_features=3,
            iterations=5,
            warm_start=old,
            validation_fraction=0.1,
        )


def _stops(tolerance: float, costs: list[float]) -> list[bool]:
    callback = Tolerance(tolerance)
    return [callback.on_check(step, cost) for step, cost in enumerate(costs)]


def test_a_rising_cost_is_not_convergence() -> None:
    assert _stops(1e-3, [100.0, 99.95]) == [False, True]
    assert _stops(1e-3, [100.0, 99.0]) == [False, False]
    assert _stops(1e-3, [100.0, 100.5]) == [False, False]
    assert _stops(0.0, [100.0, 99.95]) == [False, False]
