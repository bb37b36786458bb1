"""The evaluation protocol's splits and their config."""

from __future__ import annotations

import shutil
import zipfile

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from cofi.errors import CofiError, DataError
from cofi.evaluation.holdout import split_random as evaluation_split_random
from cofi.evaluation.splits import (
    PREDEFINED_NAMES,
    SPLITS,
    SplitConfig,
    apply_split,
    k_fold,
    split_per_user_random,
    split_per_user_temporal,
    split_predefined,
    split_random,
    split_time_cutoff,
)


def synthetic_ratings(n_users: int = 60, seed: int = 0) -> pd.DataFrame:
    """Users with 1 to 40 ratings each, typed like ingested ratings, rows in shuffled order."""
    rng = np.random.default_rng(seed)
    frames = []
    for user in range(1, n_users + 1):
        n = int(rng.integers(1, 41))
        frames.append(
            pd.DataFrame(
                {
                    "user_id": user,
                    "movie_id": rng.choice(500, size=n, replace=False) + 1,
                    "rating": rng.integers(1, 6, size=n).astype(np.float32),
                    # few distinct seconds, so equal timestamps within a user are common
                    "timestamp": 900_000_000 + rng.integers(0, 10, size=n) * 86_400,
                }
            )
        )
    ratings = pd.concat(frames, ignore_index=True).astype(
        {"user_id": np.int32, "movie_id": np.int32}
    )
    ratings["timestamp"] = pd.to_datetime(ratings["timestamp"], unit="s", utc=True).astype(
        "datetime64[s, UTC]"
    )
    return ratings.sample(frac=1.0, random_state=seed, ignore_index=True)


RATINGS = synthetic_ratings()


def assert_partition(ratings: pd.DataFrame, train: pd.DataFrame, test: pd.DataFrame) -> None:
    """train and test are disjoint, cover ratings, keep its columns and dtypes."""
    assert list(train.columns) == list(ratings.columns) == list(test.columns)
    assert (train.dtypes == ratings.dtypes).all() and (test.dtypes == ratings.dtypes).all()
    keys = ["user_id", "movie_id"]
    both = pd.concat([train, test])
    assert not both.duplicated(keys).any()
    pd.testing.assert_frame_equal(
        both.sort_values(keys, ignore_index=True), ratings.sort_values(keys, ignore_index=True)
    )


@pytest.mark.parametrize("fraction", [0.1, 0.25, 0.5])
def test_split_random_holds_out_a_seeded_fraction_in_input_order(fraction: float) -> None:
    train, test = split_random(RATINGS, fraction, seed=3)
    assert_partition(RATINGS, train, test)
    assert len(test) == round(fraction * len(RATINGS))

    # Each side keeps the input's row order.
    def keys(frame: pd.DataFrame) -> list[tuple[int, int]]:
        return list(zip(frame["user_id"], frame["movie_id"], strict=True))

    position = {key: i for i, key in enumerate(keys(RATINGS))}
    for side in (train, test):
        rows = [position[key] for key in keys(side)]
        assert rows == sorted(rows)
    again, other = split_random(RATINGS, fraction, seed=3)[1], split_random(RATINGS, fraction, 4)[1]
    pd.testing.assert_frame_equal(again, test)
    assert not other.equals(test)


def test_the_random_split_config_holds_out_what_the_evaluation_holds_out() -> None:
    # A sweep or a benchmark given kind="random" must score on the ratings evaluate() held out.
    config = SplitConfig(kind="random", test_fraction=0.2, seed=5)
    want = evaluation_split_random(RATINGS, 0.2, seed=5)
    for got in (apply_split(config, RATINGS), SPLITS["random"](RATINGS, 0.2, 5)):
        for got_side, want_side in zip(got, want, strict=True):
            pd.testing.assert_frame_equal(got_side, want_side)


def test_apply_split_refuses_a_config_missing_the_option_its_kind_needs() -> None:
    # model_construct skips validation, as a config rebuilt from a stored dict might.
    config = SplitConfig.model_construct(kind="random", seed=0, test_fraction=None)
    with pytest.raises(CofiError, match="'random' needs test_fraction"):
        apply_split(config, RATINGS)


@pytest.mark.parametrize("fraction", [0.1, 0.25, 0.5])
@pytest.mark.parametrize("min_train", [0, 1, 3])
def test_per_user_random_holds_out_exact_counts(fraction: float, min_train: int) -> None:
    train, test = split_per_user_random(RATINGS, fraction, seed=4, min_train=min_train)
    assert_partition(RATINGS, train, test)
    n_user = RATINGS.groupby("user_id").size()
    held_out = test.groupby("user_id").size().reindex(n_user.index, fill_value=0)
    expected = np.clip(
        np.minimum([round(fraction * n) for n in n_user], n_user - min_train), 0, None
    )
    np.testing.assert_array_equal(held_out.to_numpy(), expected)


def test_per_user_random_is_seeded() -> None:
    first = split_per_user_random(RATINGS, 0.2, seed=1)
    again = split_per_user_random(RATINGS, 0.2, seed=1)
    other = split_per_user_random(RATINGS, 0.2, seed=2)
    pd.testing.assert_frame_equal(first[1], again[1])
    pd.testing.assert_frame_equal(first[0], again[0])
    assert not first[1].equals(other[1])
    # Train keeps the input's row order.
    assert (np.diff(RATINGS.reset_index().merge(first[0])["index"]) > 0).all()


def test_a_user_with_few_ratings_keeps_them_in_train() -> None:
    ratings = pd.DataFrame({"user_id": [1, 2, 2, 2, 2], "movie_id": [1, 1, 2, 3, 4], "rating": 3.0})
    train, test = split_per_user_random(ratings, 0.5, seed=0, min_train=3)
    assert set(train.loc[train.user_id == 1, "movie_id"]) == {1}
    assert len(test) == 1 and test.user_id.item() == 2  # round(0.5 * 4) = 2, capped at 4 - 3


@pytest.mark.parametrize(("fraction", "n_test"), [(0.2, None), (None, 1), (None, 3)])
def test_temporal_holds_out_each_users_latest(fraction, n_test) -> None:
    train, test = split_per_user_temporal(RATINGS, test_fraction=fraction, n_test=n_test)
    assert_partition(RATINGS, train, test)
    latest_train = train.groupby("user_id")[["timestamp", "movie_id"]].max()
    for user, group in test.groupby("user_id"):
        # Every held-out rating is at least as late as every train rating of the user, and
        # equal seconds are split by movie id.
        assert (group["timestamp"] >= latest_train.loc[user, "timestamp"]).all()
        before = train[(train.user_id == user) & (train.timestamp == group["timestamp"].min())]
        tied = group[group["timestamp"] == group["timestamp"].min()]
        assert before.empty or before["movie_id"].max() < tied["movie_id"].min()
    n_user = RATINGS.groupby("user_id").size()
    wanted = [round(fraction * n) if fraction else n_test for n in n_user]
    expected = np.clip(np.minimum(wanted, n_user - 1), 0, None)
    held_out = test.groupby("user_id").size().reindex(n_user.index, fill_value=0)
    np.testing.assert_array_equal(held_out.to_numpy(), expected)


def test_temporal_by_hand_with_integer_seconds() -> None:
    ratings = pd.DataFrame(
        {
            "user_id": [1, 1, 1, 1, 2],
            "movie_id": [5, 3, 4, 9, 1],
            "rating": 4.0,
            "timestamp": [100, 300, 300, 200, 50],
        }
    )
    train, test = split_per_user_temporal(ratings, n_test=2)
    # User 1's order: 5 (100), 9 (200), 3 (300), 4 (300, larger id last); user 2 keeps 1 rating.
    assert list(test["movie_id"]) == [3, 4]
    assert list(train["movie_id"]) == [5, 9, 1]
    with pytest.raises(CofiError, match="exactly one"):
        split_per_user_temporal(ratings, test_fraction=0.5, n_test=1)
    with pytest.raises(CofiError, match="exactly one"):
        split_per_user_temporal(ratings)


def test_time_cutoff() -> None:
    cutoff = pd.Timestamp("1998-07-14", tz="UTC")
    train, test = split_time_cutoff(RATINGS, "1998-07-14")
    assert_partition(RATINGS, train, test)
    assert (train["timestamp"] < cutoff).all() and (test["timestamp"] >= cutoff).all()
    assert len(train) and len(test)
    seconds = int(cutoff.timestamp())
    for same in (seconds, cutoff, cutoff.to_pydatetime(), "1998-07-14T00:00:00+00:00"):
        pd.testing.assert_frame_equal(split_time_cutoff(RATINGS, same)[1], test)
    # A rating exactly at the cutoff goes to test; integer-second timestamps work too.
    ints = pd.DataFrame(
        {"user_id": [1, 1], "movie_id": [1, 2], "timestamp": [seconds - 1, seconds]}
    )
    assert list(split_time_cutoff(ints, cutoff)[1]["movie_id"]) == [2]
    with pytest.raises(CofiError, match="cutoff"):
        split_time_cutoff(RATINGS, "not a date")


def test_k_fold_partitions_into_disjoint_covering_folds() -> None:
    folds = list(k_fold(RATINGS, k=5, seed=3))
    assert len(folds) == 5
    for train, test in folds:
        assert_partition(RATINGS, train, test)
    tests = pd.concat([test for _, test in folds])
    assert not tests.duplicated(["user_id", "movie_id"]).any() and len(tests) == len(RATINGS)
    sizes = [len(test) for _, test in folds]
    assert max(sizes) - min(sizes) <= 1
    again = list(k_fold(RATINGS, k=5, seed=3))
    for (_, first), (_, second) in zip(folds, again, strict=True):
        pd.testing.assert_frame_equal(first, second)
    with pytest.raises(CofiError, match="k must lie"):
        k_fold(RATINGS, k=1)  # fails at the call, not at the first iteration


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 8), st.integers(0, 2**32 - 1), st.floats(0.05, 0.95))
def test_split_properties_on_any_seed(k: int, seed: int, fraction: float) -> None:
    ratings = RATINGS.iloc[: 40 + seed % 50]
    for train, test in k_fold(ratings, k, seed):
        assert len(train) + len(test) == len(ratings)
    train, test = split_per_user_random(ratings, fraction, seed)
    assert_partition(ratings, train, test)
    assert set(test["user_id"]) <= set(train["user_id"])  # min_train=1 keeps everyone in train


def test_config_and_apply() -> None:
    config = SplitConfig(kind="per_user_random", test_fraction=0.2, seed=1)
    for got, want in zip(
        apply_split(config, RATINGS), split_per_user_random(RATINGS, 0.2, 1), strict=True
    ):
        pd.testing.assert_frame_equal(got, want)
    temporal = SplitConfig(kind="per_user_temporal", n_test=2)
    assert len(apply_split(temporal, RATINGS)[1]) == len(
        split_per_user_temporal(RATINGS, n_test=2)[1]
    )
    cutoff = SplitConfig(kind="time_cutoff", cutoff="1998-07-14")
    pd.testing.assert_frame_equal(
        apply_split(cutoff, RATINGS)[1], split_time_cutoff(RATINGS, "1998-07-14")[1]
    )
    # A form that sends every field with its default still validates.
    SplitConfig(kind="random", test_fraction=0.1, n_test=None, min_train=1, cutoff=None, name=None)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"kind": "random"}, "needs test_fraction"),
        ({"kind": "random", "test_fraction": 0.2, "n_test": 3}, "takes no n_test"),
        ({"kind": "random", "test_fraction": 1.5}, "less than 1"),
        ({"kind": "time_cutoff", "cutoff": "2000-01-01", "min_train": 2}, "takes no min_train"),
        ({"kind": "per_user_temporal"}, "exactly one"),
        ({"kind": "per_user_temporal", "test_fraction": 0.2, "n_test": 1}, "exactly one"),
        ({"kind": "predefined", "name": "u9"}, "u1"),
        ({"kind": "time_cutoff", "cutoff": "yesterday"}, "datetime"),
        ({"kind": "random", "test_fraction": 0.2, "fraction": 0.2}, "Extra inputs"),
        ({"kind": "leave_one_out"}, "kind"),
    ],
)
def test_bad_options_fail_at_once(options: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        SplitConfig(**options)


def test_predefined_needs_a_source_and_a_known_name(tmp_path) -> None:
    with pytest.raises(CofiError, match="pass source"):
        apply_split(SplitConfig(kind="predefined", name="u1"), None)
    with pytest.raises(CofiError, match="unknown predefined split"):
        split_predefined(tmp_path, "u9")
    with pytest.raises(DataError, match="missing file: u1.base and u1.test"):
        split_predefined(tmp_path, "u1")


def test_predefined_reports_missing_files_and_bad_lines(tmp_path) -> None:
    folder = tmp_path / "ml-100k"
    folder.mkdir()
    (folder / "u2.base").write_text("1\t10\t5\t881250949\n2\t20\t3\t891717742\n")
    with pytest.raises(DataError, match="missing file: u2.test"):
        split_predefined(tmp_path, "u2")
    (folder / "u2.test").write_text("1\t20\t4\t881250949\n1\t30\tfive\t881250949\n")
    with pytest.raises(DataError, match=r"u2\.test, line 2: expected user") as error:
        split_predefined(tmp_path, "u2")
    assert error.value.line == 2
    (folder / "u2.test").write_text("1\t20\t4\t881250949\n1\t30\t7\t881250949\n")
    with pytest.raises(DataError, match="line 2: rating must be"):
        split_predefined(tmp_path, "u2")
    (folder / "u2.test").write_text("1\t20\t4\t881250949\n1\t20\t3\t881250949\n")
    with pytest.raises(DataError, match="line 2: user 1 rated item 20 more than once"):
        split_predefined(tmp_path, "u2")
    (folder / "u2.test").write_text("3\t30\t4\t881250949\r\n")
    train, test = split_predefined(folder, "u2")  # the folder itself works too
    assert list(train["movie_id"]) == [10, 20] and list(test["user_id"]) == [3]
    assert str(test["timestamp"].dtype) == "datetime64[s, UTC]"
    assert test["rating"].dtype == np.float32 and test["user_id"].dtype == np.int32


def read_u_data(folder) -> pd.DataFrame:
    return pd.read_csv(
        folder / "u.data", sep="\t", names=["user_id", "movie_id", "rating", "timestamp"]
    )


def test_predefined_ml_100k(movielens_dir) -> None:
    folder = movielens_dir / "ml-100k"
    train, test = split_predefined(movielens_dir, "u1")  # found one folder deep
    assert (len(train), len(test)) == (80_000, 20_000)
    assert not pd.concat([train, test]).duplicated(["user_id", "movie_id"]).any()
    _, ua_test = split_predefined(folder, "ua")
    assert len(ua_test) == 9_430
    assert (ua_test.groupby("user_id").size() == 10).all()

    keys = ["user_id", "movie_id", "rating"]
    tests = [split_predefined(folder, f"u{i}")[1] for i in range(1, 6)]
    union = pd.concat(tests, ignore_index=True)
    assert not union.duplicated(["user_id", "movie_id"]).any()
    u_data = read_u_data(folder)
    union["timestamp"] = union["timestamp"].astype("int64")
    pd.testing.assert_frame_equal(
        union.sort_values(keys, ignore_index=True).astype("int64"),
        u_data.sort_values(keys, ignore_index=True).astype("int64"),
    )
    assert set(PREDEFINED_NAMES) == {"u1", "u2", "u3", "u4", "u5", "ua", "ub"}


def test_predefined_from_a_zip(movielens_dir, tmp_path) -> None:
    archive = tmp_path / "ml-100k.zip"
    with zipfile.ZipFile(archive, "w") as out:
        for name in ("ub.base", "ub.test"):
            out.write(movielens_dir / "ml-100k" / name, f"ml-100k/{name}")
    train, test = apply_split(SplitConfig(kind="predefined", name="ub"), None, source=archive)
    from_folder = split_predefined(movielens_dir / "ml-100k", "ub")
    pd.testing.assert_frame_equal(train, from_folder[0])
    pd.testing.assert_frame_equal(test, from_folder[1])
    with pytest.raises(DataError, match=r"ml-100k\.zip: missing file: ua\.base"):
        split_predefined(archive, "ua")
    shutil.copy(archive, tmp_path / "broken.zip")
    (tmp_path / "broken.zip").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="not a readable zip"):
        split_predefined(tmp_path / "broken.zip", "ub")


def test_splits_leave_their_input_untouched() -> None:
    # Runs after the tests above (file order): none of them may have changed the shared frame.
    pd.testing.assert_frame_equal(RATINGS, synthetic_ratings())
