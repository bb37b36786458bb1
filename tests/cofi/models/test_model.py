"""The Model: predictions, fallbacks, recommendations, save/load."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import cofi
from cofi.errors import CofiError


@pytest.fixture(scope="module")
def ratings() -> pd.DataFrame:
    rng = np.random.default_rng(5)
    movie, user = np.nonzero(rng.random((40, 30)) < 0.3)
    return pd.DataFrame(
        {
            "user_id": user * 10 + 7,
            "movie_id": movie * 3 + 1,
            "rating": rng.integers(1, 6, len(movie)).astype(float),
            "other": 0,
        }
    )


@pytest.fixture(scope="module")
def model(ratings) -> cofi.Model:
    return cofi.fit(ratings, objective="biased", n_features=4, iterations=60, seed=1)


def _tiny_model(**config) -> cofi.Model:
    """2 movies (ids 10, 20) x 2 users (ids 1, 2), one feature, numbers to check by hand;
    ``config``: more TrainConfig fields."""
    from cofi.data.matrices import IndexMap

    return cofi.Model(
        X=np.array([[1.0], [2.0]], np.float32),
        W=np.array([[0.5], [-1.0]], np.float32),
        b=np.array([[0.25, 0.0]], np.float32),
        movie_offset=np.array([3.0, 3.0], np.float32),
        movie_count=np.array([1, 1], np.int32),
        movie_bias=np.array([0.5, -0.5], np.float32),
        movies=IndexMap(np.array([10, 20], np.int32)),
        users=IndexMap(np.array([1, 2], np.int32)),
        seen_indptr=np.array([0, 1, 2]),
        seen_movies=np.array([0, 1], np.int32),
        global_mean=3.0,
        scale=cofi.RatingScale(1.0, 5.0, 1.0),
        config=cofi.TrainConfig(n_features=1, **config),
    )


def test_a_model_saved_before_sequence_weight_existed_keeps_its_id() -> None:
    # The id this model had at commit b20b469, before TrainConfig had sequence_weight.
    assert _tiny_model().model_id == "9d8ae1b35aaa3a67"
    assert _tiny_model(sequence_weight=0.5).model_id != "9d8ae1b35aaa3a67"


def test_predict_by_hand_and_clipped_to_the_scale() -> None:
    model = _tiny_model()
    # user 1, movie 10: 1 * 0.5 + 0.25 + 3 + 0.5 = 4.25; user 1, movie 20: 2 * 0.5 + 0.25 + 3 - 0.5
    # = 3.75; user 2, movie 10: -1 + 0 + 3 + 0.5 = 2.5; user 2, movie 20: -2 + 3 - 0.5 = 0.5 -> 1
    predicted = model.predict([1, 1, 2, 2], [10, 20, 10, 20])
    np.testing.assert_allclose(predicted, [4.25, 3.75, 2.5, 1.0])
    # user 1 rated movie 10, so their one recommendation is movie 20 at 3.75
    table = model.recommend([1], n=5)
    assert table[["movie_id", "predicted_rating"]].values.tolist() == [[20, 3.75]]


def test_unknown_users_and_movies_get_documented_fallbacks(model, ratings) -> None:
    known_user, known_movie = int(ratings["user_id"].iloc[0]), int(ratings["movie_id"].iloc[0])
    j, i = model.users.position_of([known_user])[0], model.movies.position_of([known_movie])[0]
    predictions = model.predict([999_999, known_user, 999_999], [known_movie, 888_888, 888_888])
    expected = [
        model.movie_offset[i] + model.movie_bias[i],
        model.global_mean + model.b[0, j],
        model.global_mean,
    ]
    np.testing.assert_allclose(predictions, np.clip(expected, 1, 5), rtol=1e-6)


def test_recommend_never_returns_a_rated_movie(model, ratings) -> None:
    table = model.recommend(n=5)
    rated = set(zip(ratings["user_id"], ratings["movie_id"], strict=True))
    assert not any(
        (u, m) in rated for u, m in zip(table["user_id"], table["movie_id"], strict=True)
    )
    assert list(table.columns) == ["user_id", "rank", "movie_id", "predicted_rating", "fallback"]
    assert not table["fallback"].any()
    per_user = table.groupby("user_id")["rank"].apply(list)
    assert all(ranks == list(range(1, len(ranks) + 1)) for ranks in per_user)
    assert set(per_user.index) == set(ratings["user_id"])
    # ranks follow the predicted rating, which matches predict()
    again = model.predict(table["user_id"], table["movie_id"])
    np.testing.assert_allclose(again, table["predicted_rating"], rtol=1e-5)
    assert (table.groupby("user_id")["predicted_rating"].diff().dropna() <= 1e-6).all()


@settings(max_examples=10, deadline=None)
@given(block=st.integers(1, 40), n=st.integers(1, 50), min_ratings=st.integers(1, 4))
def test_blocks_do_not_change_the_result(model, block, n, min_ratings) -> None:
    whole = pd.concat(model.iter_recommendations(n=n, min_ratings=min_ratings, block_users=10_000))
    blocked = pd.concat(model.iter_recommendations(n=n, min_ratings=min_ratings, block_users=block))
    pd.testing.assert_frame_equal(whole.reset_index(drop=True), blocked.reset_index(drop=True))
    allowed = set(model.movies.ids[model.movie_count >= min_ratings])
    assert set(blocked["movie_id"]) <= allowed


def test_recommend_for_some_users_and_unknown_ones(model, ratings) -> None:
    user = int(ratings["user_id"].iloc[0])
    table = model.recommend([user, 123_456], n=3)
    assert set(table["user_id"]) == {user} and len(table) == 3


def test_save_and_load_round_trip_without_pickle(model, tmp_path) -> None:
    path = model.save(tmp_path / "model")
    with np.load(path / "arrays.npz", allow_pickle=False) as arrays:
        assert all(arrays[name].dtype != object for name in arrays.files)
    loaded = cofi.load_model(path)
    assert loaded.model_id == model.model_id and loaded.config == model.config
    np.testing.assert_array_equal(loaded.X, model.X)
    pd.testing.assert_frame_equal(loaded.recommend(n=4), model.recommend(n=4))
    # saving again replaces the model in place
    model.save(tmp_path / "model")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_load_rejects_a_folder_without_a_model(tmp_path) -> None:
    with pytest.raises(CofiError, match="does not hold a cofi model"):
        cofi.load_model(tmp_path)


def test_model_checks_shapes_at_the_door(model) -> None:
    from dataclasses import replace

    with pytest.raises(ValueError, match=r"Model.W must have shape \(30, 4\)"):
        replace(model, W=model.W[:, :2], model_id="")


def test_load_names_the_broken_file(model, tmp_path) -> None:
    path = model.save(tmp_path / "m")
    (path / "arrays.npz").write_bytes(b"not a zip")
    with pytest.raises(CofiError, match="arrays.npz: cannot be read"):
        cofi.load_model(path)
    (path / "model.json").write_text("{")
    with pytest.raises(CofiError, match="model.json: not valid JSON"):
        cofi.load_model(path)


def test_fit_errors_name_the_problem() -> None:
    with pytest.raises(CofiError, match=r"lacks column\(s\) \['rating'\]"):
        cofi.fit(pd.DataFrame({"user_id": [1], "movie_id": [2], "stars": [3.0]}))
    with pytest.raises(CofiError, match="all 2 ratings equal 1"):
        cofi.fit(pd.DataFrame({"user_id": [1, 2], "movie_id": [2, 2], "rating": [1.0, 1.0]}))
    with pytest.raises(CofiError, match="fit in int32"):
        cofi.fit(
            pd.DataFrame({"user_id": [3_000_000_000, 2], "movie_id": [2, 2], "rating": [1.0, 2.0]})
        )


def test_cold_start_users_get_the_flagged_popular_list(model, ratings) -> None:
    counts = ratings.groupby("user_id").size()
    light, heavy = int(counts.idxmin()), int(counts.idxmax())
    threshold = int(counts.min()) + 1
    table = model.recommend([heavy, 123_456, light], n=4, min_user_ratings=threshold)
    # users keep the order asked for; the unknown and the light user fall back, flagged
    assert table["user_id"].drop_duplicates().tolist() == [heavy, 123_456, light]
    by_user = {user: rows for user, rows in table.groupby("user_id")}
    assert not by_user[heavy]["fallback"].any()
    assert by_user[123_456]["fallback"].all() and by_user[light]["fallback"].all()
    popular = model.movies.ids[model.popular_movies(4 + threshold)]
    assert by_user[123_456]["movie_id"].tolist() == popular[:4].tolist()
    # the light user's list is the popular order minus what they rated
    rated = set(ratings.loc[ratings["user_id"] == light, "movie_id"])
    expected = [movie for movie in popular if movie not in rated][:4]
    assert by_user[light]["movie_id"].tolist() == expected
    # their scores are the unknown-user prediction, in the list's order
    unknown = model.predict([123_456] * 4, expected)
    np.testing.assert_allclose(by_user[light]["predicted_rating"], unknown, rtol=1e-6)
    assert np.all(np.diff(unknown) <= 1e-6)
    # without the option the unknown id is skipped and the light user is scored by the model
    plain = model.recommend([heavy, 123_456, light], n=4)
    assert set(plain["user_id"]) == {heavy, light} and not plain["fallback"].any()


def test_popular_movies_are_frequent_and_ordered_by_the_movie_effect(model) -> None:
    popular = model.popular_movies(5)
    effect = (model.movie_offset + model.movie_bias)[popular]
    assert np.all(np.diff(effect) <= 1e-7)
    cutoff = np.sort(model.movie_count)[::-1][
        max(5, -(-np.count_nonzero(model.movie_count) // 10)) - 1
    ]
    assert (model.movie_count[popular] >= cutoff).all()


def test_fit_names_the_first_bad_row() -> None:
    ratings = pd.DataFrame(
        {"user_id": [1, 1, 2, 1], "movie_id": [1, 2, 1, 2], "rating": [4.0, 3.0, 5.0, 2.0]}
    )
    with pytest.raises(CofiError, match=r"row 3: user 1 rates movie 2 twice \(1 duplicate"):
        cofi.fit(ratings, iterations=1)
    with pytest.raises(
        CofiError, match=r"row 1: missing rating \(1 missing rating value\(s\) in all\)"
    ):
        cofi.fit(ratings.iloc[:3].assign(rating=[4.0, None, 5.0]), iterations=1)
    with pytest.raises(CofiError, match="no ratings to train on"):
        cofi.fit(ratings.iloc[:0], iterations=1)


def _tamper(saved, arrays=None, meta=None):
    """Rewrite a saved model's arrays and/or metadata in place."""
    import json

    if arrays:
        with np.load(saved / "arrays.npz") as stored:
            data = {name: stored[name] for name in stored.files}
        for name, change in arrays.items():
            data[name] = change(data[name])
        np.savez(saved / "arrays.npz", **data)
    if meta:
        values = json.loads((saved / "model.json").read_text())
        meta(values)
        (saved / "model.json").write_text(json.dumps(values))


def _drop(key):
    return lambda values: values.pop(key)


def _set(key, value):
    return lambda values: values.__setitem__(key, value)


@pytest.mark.parametrize(
    "arrays, meta, message",
    [
        ({"X": lambda X: X * np.nan}, None, r"X holds \d+ NaN or infinite"),
        ({"X": lambda X: -X}, None, "hash to .* not to the model_id"),
        ({"movie_bias": lambda c: c + 0.5}, None, "the files were changed or damaged"),
        ({"movie_count": lambda c: c + 1}, None, "the files were changed or damaged"),
        ({"seen_movies": lambda seen: seen[::-1].copy()}, None, "changed or damaged"),
        (None, _set("global_mean", 4.0), "the files were changed or damaged"),
        ({"W": lambda W: W[:-1]}, None, "Model.W must have shape"),
        ({"X": lambda X: X.astype(str)}, None, "X has dtype <U"),
        ({"user_ids": lambda ids: ids[::-1].copy()}, None, "user_ids must be strictly increasing"),
        ({"seen_movies": lambda seen: seen + 10_000}, None, "seen_movies names movie rows outside"),
        ({"seen_indptr": lambda p: p[:-1]}, None, "seen_indptr is not a CSR index"),
        (
            {"movie_count": lambda c: c.astype(np.float64)},
            None,
            "movie_count must be a 1-D integer",
        ),
        (None, _set("model_id", "0123456789abcdef"), "not to the model_id 0123456789abcdef"),
        (None, _drop("model_id"), "lacks the model_id"),
        (None, _drop("scale"), "lacks 'scale'"),
        (None, _set("scale", {"minimum": 5, "maximum": 1, "step": 1}), "invalid rating scale"),
        (None, _set("config", {"n_features": 0}), "not a valid cofi model"),
        (None, _set("global_mean", float("nan")), "global_mean is nan"),
    ],
)
def test_a_tampered_model_is_refused_at_load_with_a_clear_error(
    model, tmp_path, arrays, meta, message
) -> None:
    saved = model.save(tmp_path / "model")
    _tamper(saved, arrays, meta)
    with pytest.raises(CofiError, match=message):
        cofi.load_model(saved)


def test_a_format_1_model_still_loads_and_is_checked_by_its_own_digest(model, tmp_path) -> None:
    saved = model.save(tmp_path / "v1")
    _tamper(
        saved,
        meta=lambda values: values.update(format_version=1, model_id=model._content_id(1)),
    )
    with np.load(saved / "arrays.npz") as stored:
        data = {name: stored[name] for name in stored.files}
    data["movie_mean"] = data.pop("movie_offset")
    np.savez(saved / "arrays.npz", **data)
    loaded = cofi.load_model(saved)
    np.testing.assert_array_equal(loaded.movie_offset, model.movie_offset)
    pd.testing.assert_frame_equal(loaded.recommend(n=3), model.recommend(n=3))
    _tamper(saved, arrays={"X": lambda X: -X})
    with pytest.raises(CofiError, match="changed or damaged"):
        cofi.load_model(saved)
