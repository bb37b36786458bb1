"""What the autorec and blend objectives promise beyond the shared contract."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from cofi.data.matrices import RatingTriples
from cofi.models.config import TrainConfig
from cofi.models.objectives import objective_for
from cofi.models.objectives.base import Batch
from cofi.models.objectives.blend import BlendObjective, part_widths


def _triples(seed=0, n_movies=5, n_users=4):
    rng = np.random.default_rng(seed)
    movie, user = np.nonzero(rng.random((n_movies, n_users)) < 0.6)
    rating = rng.normal(size=len(movie))
    return RatingTriples(movie.astype(np.int32), user.astype(np.int32), rating, n_movies, n_users)


def _params(objective, triples, seed=1):
    rng = np.random.default_rng(seed)
    n_features = objective.config.n_features
    return {
        v.name: tf.constant(
            rng.normal(0, 0.5, v.shape(triples.n_movies, triples.n_users, n_features))
        )
        for v in objective.variables
    }


def _predict(exported, triples):
    movie, user = triples.movie_index, triples.user_index
    return (
        np.einsum("ij,ij->i", exported["X"][movie], exported["W"][user])
        + exported["b"][0, user]
        + exported["movie_bias"][movie]
    )


def test_autorec_codes_by_hand() -> None:
    # one movie rated 2 by user 0 and -1 by user 1; one feature
    objective = objective_for(TrainConfig(objective="autorec", n_features=1, dtype="float64"))
    triples = RatingTriples(
        np.array([0, 0], np.int32), np.array([0, 1], np.int32), np.array([2.0, -1.0]), 1, 2
    )
    objective.prepare(triples)
    params = {
        "X": tf.constant([[0.5]], tf.float64),
        "W": tf.constant([[1.0], [2.0]], tf.float64),
        "encoder": tf.constant([[0.25], [1.0]], tf.float64),
        "presence": tf.constant([[0.1], [-0.3]], tf.float64),
        "b": tf.constant([[0.0, 1.0]], tf.float64),
        "movie_bias": tf.constant([0.2], tf.float64),
    }
    # h = sigmoid(0.5 + 2 * 0.25 - 1 * 1.0 + 0.1 - 0.3) = sigmoid(-0.2)
    h = 1 / (1 + np.exp(0.2))
    exported = objective.export(params)
    np.testing.assert_allclose(exported["X"], [[h]])
    prediction = np.array([h + 0.2, 2 * h + 1.2])
    np.testing.assert_allclose(_predict(exported, triples), prediction)
    # The cost predicts each rating from the code without it: user 0's own share of the
    # pre-activation is 2 * 0.25 + 0.1 = 0.6, user 1's is -1 * 1.0 - 0.3 = -1.3.
    left_out = 1 / (1 + np.exp(-np.array([-0.2 - 0.6, -0.2 + 1.3])))
    trained = np.array([left_out[0] + 0.2, 2 * left_out[1] + 1.2])
    squares = 0.5**2 + 1 + 4 + 0.25**2 + 1 + 0.1**2 + 0.3**2
    expected = 0.5 * np.sum((trained - [2.0, -1.0]) ** 2) + 7.5 * squares
    batch = Batch(
        tf.constant([0, 0]), tf.constant([0, 1]), tf.constant([2.0, -1.0], tf.float64),
        tf.constant(1.0, tf.float64),
    )  # fmt: skip
    assert float(
        objective_for(TrainConfig(objective="autorec", n_features=1, lambda_=15.0)).cost(
            params, batch
        )
    ) == pytest.approx(expected)


@pytest.mark.parametrize("n_features", [1, 3, 4, 9, 132])
def test_blend_parts_fill_the_features(n_features) -> None:
    autorec, svdpp = part_widths(n_features)
    assert autorec + svdpp + 1 == n_features  # and the user biases' column
    assert autorec >= (1 if n_features > 1 else 0) and svdpp >= 0


def test_blend_predicts_the_weighted_mean_of_its_parts() -> None:
    triples = _triples()
    objective = objective_for(TrainConfig(objective="blend", n_features=8, dtype="float64"))
    assert isinstance(objective, BlendObjective)
    objective.prepare(triples)
    params = _params(objective, triples)
    exported = objective.export(params)
    assert exported["X"].shape == (5, 8) and exported["W"].shape == (4, 8)
    autorec = objective.autorec.export(params)
    svdpp = objective.svdpp.export(objective._svdpp_params(params))
    # AutoRec's share grows with the movie's ratings: min(1, k log(1 + n_i))
    counts = np.bincount(triples.movie_index, minlength=triples.n_movies)
    share = np.minimum(1.0, BlendObjective.AUTOREC_SLOPE * np.log1p(counts))
    np.testing.assert_allclose(objective.autorec_share(), share)
    assert len(np.unique(share)) > 1
    a = share[triples.movie_index]
    np.testing.assert_allclose(
        _predict(exported, triples),
        a * _predict(autorec, triples) + (1 - a) * _predict(svdpp, triples),
    )
