"""Similar movies: hand-checked neighbours, blocks, filters, errors, Parquet, brute force."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import cofi
from cofi.data.matrices import IndexMap
from cofi.data.schema import RatingScale
from cofi.errors import CofiError
from cofi.models.config import TrainConfig
from cofi.outputs.similar import SIMILAR_SCHEMA, iter_similar, similar_movies, write_similar


def model_with(X, movie_count=None, movie_ids=None) -> cofi.Model:
    """A one-user Model whose only meaningful parts are the movie features and counts."""
    X = np.asarray(X, dtype=np.float32)
    n_movies, n_features = X.shape
    return cofi.Model(
        X=X,
        W=np.zeros((1, n_features), np.float32),
        b=np.zeros((1, 1), np.float32),
        movie_offset=np.zeros(n_movies, np.float32),
        movie_count=np.ones(n_movies, np.int32) if movie_count is None else np.asarray(movie_count),
        movies=IndexMap(
            np.arange(1, n_movies + 1, dtype=np.int32) if movie_ids is None else movie_ids
        ),
        users=IndexMap(np.array([1], np.int32)),
        seen_indptr=np.zeros(2, np.int64),
        seen_movies=np.array([], np.int32),
        global_mean=3.0,
        scale=RatingScale(1.0, 5.0, 1.0),
        config=TrainConfig(n_features=n_features),
    )


#: Movies 10..50 in the plane: 10 and 20 point the same way, 50 is the zero vector.
PLANE = model_with(
    [[1, 0], [2, 0], [0, 1], [1, 1], [0, 0]],
    movie_ids=np.array([10, 20, 30, 40, 50], np.int32),
)


def neighbours(table: pd.DataFrame, movie_id: int) -> tuple[list[int], list[float]]:
    rows = table[table["movie_id"] == movie_id].sort_values("rank")
    return rows["similar_movie_id"].tolist(), rows["score"].tolist()


def test_cosine_neighbours_worked_on_paper() -> None:
    table = similar_movies(PLANE, n=4, metric="cosine")
    # from 10 = (1, 0): 20 same direction (1), 40 at 45 degrees (1/sqrt 2), 30 and the zero
    # vector 50 both 0, the tie going to the lower id.
    ids, scores = neighbours(table, 10)
    assert ids == [20, 40, 30, 50]
    np.testing.assert_allclose(scores, [1, 1 / np.sqrt(2), 0, 0], atol=1e-6)
    # the zero vector is similar to nothing: all zeros, in id order
    ids, scores = neighbours(table, 50)
    assert ids == [10, 20, 30, 40] and scores == [0, 0, 0, 0]
    assert list(table.columns) == ["movie_id", "rank", "similar_movie_id", "score"]
    assert table["rank"].tolist() == [1, 2, 3, 4] * 5


def test_squared_distance_neighbours_worked_on_paper() -> None:
    table = similar_movies(PLANE, n=4, metric="distance")
    # from 10 = (1, 0): 20, 40 and 50 all at squared distance 1 (ties: lower id first), 30 at 2
    assert neighbours(table, 10) == ([20, 40, 50, 30], [1, 1, 1, 2])
    # from 40 = (1, 1): 10 and 30 at 1, 20 and 50 at 2
    assert neighbours(table, 40) == ([10, 30, 20, 50], [1, 1, 2, 2])
    # from 20 = (2, 0): 10 at 1, 40 at 2, 50 at 4, 30 at 5
    assert neighbours(table, 20) == ([10, 40, 50, 30], [1, 2, 4, 5])
    assert neighbours(similar_movies(PLANE, [20], n=2, metric="distance"), 20) == (
        [10, 40],
        [1, 2],
    )


def test_identical_movies_are_at_distance_zero_not_themselves() -> None:
    model = model_with([[0.5, -1.75], [0.5, -1.75], [5, 5]])
    table = similar_movies(model, n=1, metric="distance")
    assert table["similar_movie_id"].tolist() == [2, 1, 1]
    assert table["score"].iloc[0] == 0 and not np.signbit(table["score"].iloc[0])


def test_min_ratings_limits_candidates_and_default_queries() -> None:
    model = model_with(PLANE.X, movie_count=[3, 1, 3, 3, 0], movie_ids=PLANE.movies.ids)
    table = similar_movies(model, n=10, min_ratings=2)
    assert sorted(table["movie_id"].unique()) == [10, 30, 40]
    assert neighbours(table, 10)[0] == [40, 30]
    # movies without ratings are never candidates, even with min_ratings below 1
    assert 50 not in similar_movies(model, n=10, min_ratings=0)["similar_movie_id"].values
    # a query given by id is answered whatever its own count
    assert neighbours(similar_movies(model, [20], n=10, min_ratings=2), 20)[0] == [10, 40, 30]


def test_query_order_is_kept_and_a_lone_candidate_has_no_neighbours() -> None:
    table = similar_movies(PLANE, [40, 10], n=1)
    assert table["movie_id"].tolist() == [40, 10]
    alone = model_with(PLANE.X, movie_count=[1, 0, 0, 0, 0], movie_ids=PLANE.movies.ids)
    empty = similar_movies(alone, n=3)
    assert empty.empty and empty.dtypes.to_dict() == {
        "movie_id": np.int32,
        "rank": np.int16,
        "similar_movie_id": np.int32,
        "score": np.float32,
    }


def test_bad_arguments_fail_at_the_call_with_clear_messages() -> None:
    with pytest.raises(CofiError, match="999, 7"):
        iter_similar(PLANE, [10, 999, 7])
    with pytest.raises(ValueError, match="n must be at least 1"):
        iter_similar(PLANE, n=0)
    with pytest.raises(ValueError, match="metric must be one of"):
        iter_similar(PLANE, metric="euclidean")
    with pytest.raises(ValueError, match="block_movies"):
        iter_similar(PLANE, block_movies=0)


@pytest.fixture(scope="module")
def fitted() -> cofi.Model:
    rng = np.random.default_rng(11)
    movie, user = np.nonzero(rng.random((30, 20)) < 0.3)
    ratings = pd.DataFrame(
        {
            "user_id": user + 1,
            "movie_id": movie * 2 + 5,
            "rating": rng.integers(1, 6, len(movie)).astype(float),
        }
    )
    return cofi.fit(ratings, objective="biased", n_features=3, iterations=30, seed=2)


@pytest.mark.parametrize("metric", ["cosine", "distance"])
def test_never_itself_and_blocks_do_not_change_the_table(fitted, metric) -> None:
    whole = similar_movies(fitted, n=7, metric=metric)
    assert (whole["movie_id"] != whole["similar_movie_id"]).all()
    assert len(whole) == 7 * fitted.n_movies
    assert not whole.duplicated(["movie_id", "similar_movie_id"]).any()
    order = 1 if metric == "cosine" else -1
    assert (order * whole.groupby("movie_id")["score"].diff().dropna() <= 0).all()
    one_by_one = pd.concat(
        iter_similar(fitted, n=7, metric=metric, block_movies=1), ignore_index=True
    )
    pd.testing.assert_frame_equal(one_by_one, whole)


@pytest.mark.parametrize("metric", ["cosine", "distance"])
def test_write_similar_writes_the_same_rows_with_the_schema(fitted, tmp_path, metric) -> None:
    ids = fitted.movies.ids
    # one movie left out of the titles table: its title is null, not an error
    movies = pd.DataFrame({"movie_id": ids[1:], "title": [f"movie {i}" for i in ids[1:]]})
    path = tmp_path / "out" / "similar.parquet"
    rows = write_similar(fitted, movies, path, n=4, metric=metric, min_ratings=2)
    assert pq.read_schema(path).equals(SIMILAR_SCHEMA)
    written = pd.read_parquet(path)
    expected = similar_movies(fitted, n=4, metric=metric, min_ratings=2)
    assert rows == len(written) == len(expected)
    pd.testing.assert_frame_equal(written[list(expected.columns)], expected)
    assert (written["model_id"] == fitted.model_id).all()
    missing = written["similar_movie_id"] == ids[0]
    assert written.loc[missing, "similar_title"].isna().all()
    assert (
        written.loc[~missing, "similar_title"]
        == "movie " + written["similar_movie_id"].astype(str)[~missing]
    ).all()
    assert [p.name for p in path.parent.iterdir()] == ["similar.parquet"]


def brute_force(X, candidate, metric) -> np.ndarray:
    """(n_movies, n_movies) float64 scores, higher = more similar; -inf for self and non-candidates."""
    X = X.astype(np.float64)
    if metric == "cosine":
        norm = np.linalg.norm(X, axis=1, keepdims=True)
        unit = X / np.where(norm > 0, norm, 1)
        scores = unit @ unit.T
    else:
        scores = -((X[:, None, :] - X[None, :, :]) ** 2).sum(axis=2)
    scores[:, ~candidate] = -np.inf
    np.fill_diagonal(scores, -np.inf)
    return scores


@settings(max_examples=40, deadline=None)
@given(
    X=hnp.arrays(
        np.float32,
        st.tuples(st.integers(1, 12), st.integers(1, 4)),
        elements=st.integers(-3, 3).map(float),
    ),
    data=st.data(),
    n=st.integers(1, 14),
    min_ratings=st.integers(1, 3),
    metric=st.sampled_from(["cosine", "distance"]),
)
def test_matches_brute_force_numpy(X, data, n, min_ratings, metric) -> None:
    count = data.draw(hnp.arrays(np.int32, len(X), elements=st.integers(0, 3)))
    block = data.draw(st.integers(1, 5))
    model = model_with(X, count)
    candidate = count >= min_ratings
    queries = np.flatnonzero(candidate)
    expected = brute_force(X, candidate, metric)[queries]
    table = pd.concat(
        [
            similar_movies(model, n=n, metric=metric, min_ratings=min_ratings).assign(b=0),
            *(
                frame.assign(b=1)
                for frame in iter_similar(
                    model, n=n, metric=metric, min_ratings=min_ratings, block_movies=block
                )
            ),
        ]
    )
    for blocked in (0, 1):
        part = table[table["b"] == blocked]
        assert set(part["movie_id"]) <= set(queries + 1)
        got = {movie: rows for movie, rows in part.groupby("movie_id")}
        for row, query in zip(expected, queries, strict=True):
            k = min(n, int(np.isfinite(row).sum()))
            rows = got.get(query + 1, part.iloc[:0])
            assert rows["rank"].tolist() == list(range(1, k + 1)), (blocked, query)
            position = rows["similar_movie_id"].to_numpy() - 1
            score = rows["score"].to_numpy(np.float64) * (1 if metric == "cosine" else -1)
            # the chosen movies have the scores claimed, and those are the k best scores
            np.testing.assert_allclose(score, row[position], atol=1e-5)
            np.testing.assert_allclose(score, np.sort(row)[::-1][:k], atol=1e-5)
            if metric == "distance":
                # integer features make float32 distances exact: ties go to the lower row
                assert position.tolist() == np.lexsort((np.arange(len(row)), -row))[:k].tolist()


def test_repeated_query_ids_are_answered_once() -> None:
    ratings = pd.DataFrame(
        {"user_id": [1, 1, 2, 2, 3], "movie_id": [10, 20, 20, 30, 10], "rating": [5.0, 3, 4, 2, 1]}
    )
    model = cofi.fit(ratings, objective="biased", n_features=2, iterations=5)
    table = similar_movies(model, [20, 10, 20], n=1)
    assert table["movie_id"].tolist() == [20, 10]
