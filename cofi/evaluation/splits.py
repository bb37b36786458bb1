"""Train/test splits of the evaluation protocol, and a typed config that picks one.

Every split takes a ratings DataFrame with ``user_id``, ``movie_id``, ``rating`` (and
``timestamp`` where time matters: tz-aware or naive UTC ``datetime64``, or integer seconds since
the epoch) and returns ``(train, test)`` with the original columns, each keeping the input's row
order, with a fresh ``RangeIndex``. Every rating lands in exactly one side. Seeded splits draw
from ``numpy.random.default_rng(seed)`` in input row order, so the same seed and the same input
give the same split.

- :func:`split_random`: a fraction of all ratings, drawn without replacement.
- :func:`split_per_user_random`: a fraction of each user's ratings, drawn per user.
- :func:`split_per_user_temporal`: each user's latest ratings (leave-last-out).
- :func:`split_time_cutoff`: everything at or after a moment in time.
- :func:`split_predefined`: ml-100k's own ``u1``..``u5``, ``ua``, ``ub`` files.
- :func:`k_fold`: ``k`` disjoint test folds covering every rating, for cross-validation.

:class:`SplitConfig` names one split and its options; :func:`apply_split` runs it.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, TypeVar

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from cofi.data.folder_or_zip import FolderOrZip
from cofi.data.schema import require_columns
from cofi.errors import CofiError, DataError
from cofi.evaluation.holdout import split_random

__all__ = [
    "PREDEFINED_NAMES",
    "SPLITS",
    "SplitConfig",
    "SplitKind",
    "apply_split",
    "k_fold",
    "split_per_user_random",
    "split_per_user_temporal",
    "split_predefined",
    "split_random",
    "split_time_cutoff",
]

#: ml-100k's predefined splits: u1..u5 are the five folds of a 5-fold cross-validation (each
#: u*.test holds 20,000 ratings, disjoint); ua and ub hold out exactly 10 ratings per user.
PREDEFINED_NAMES = ("u1", "u2", "u3", "u4", "u5", "ua", "ub")

_NS_PER_SECOND = 1_000_000_000

_T = TypeVar("_T")


# --------------------------------------------------------------------------------------------
# Helpers


def _check_fraction(test_fraction: float) -> None:
    if not 0.0 < test_fraction < 1.0:
        raise CofiError(f"test_fraction must lie strictly between 0 and 1, got {test_fraction}")


def _check_min_train(min_train: int) -> None:
    if min_train < 0:
        raise CofiError(f"min_train must be at least 0, got {min_train}")


def _sides(ratings: pd.DataFrame, is_test: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame]:
    return (
        ratings.loc[~is_test].reset_index(drop=True),
        ratings.loc[is_test].reset_index(drop=True),
    )


def timestamps_ns(timestamps: pd.Series) -> np.ndarray:
    """(n,) int64 nanoseconds since the epoch (UTC) of datetimes or integer seconds."""
    if isinstance(timestamps.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(
        timestamps.dtype
    ):
        index = pd.DatetimeIndex(timestamps)
        if index.tz is not None:
            index = index.tz_convert("UTC").tz_localize(None)
        return index.as_unit("ns").to_numpy().view(np.int64)
    if pd.api.types.is_integer_dtype(timestamps.dtype):
        seconds = timestamps.to_numpy(np.int64)
        # int64 nanoseconds reach the year 2262; MovieLens starts in 1995.
        if len(seconds) and np.abs(seconds).max() >= np.iinfo(np.int64).max // _NS_PER_SECOND:
            raise CofiError("timestamp seconds are out of range (beyond the year 2262)")
        return seconds * _NS_PER_SECOND
    raise CofiError(
        f"timestamp must be datetime64 or integer seconds since the epoch, got {timestamps.dtype}"
    )


def _moment_ns(moment: datetime | pd.Timestamp | str | int) -> int:
    """Nanoseconds since the epoch of a datetime, ISO 8601 string or integer seconds.

    A moment without a time zone is taken as UTC, like MovieLens timestamps.
    """
    if isinstance(moment, bool):
        raise CofiError(f"cutoff must be a datetime, an ISO 8601 string or seconds, got {moment}")
    if isinstance(moment, int | np.integer):
        return int(moment) * _NS_PER_SECOND
    try:
        stamp = pd.Timestamp(moment)
    except (ValueError, TypeError) as exc:
        raise CofiError(f"cutoff {moment!r} is not a datetime or an ISO 8601 string") from exc
    if stamp is pd.NaT:
        raise CofiError(f"cutoff {moment!r} is not a moment in time")
    stamp = stamp.tz_localize(UTC) if stamp.tzinfo is None else stamp.tz_convert(UTC)
    return int(stamp.as_unit("ns").value)


def _position_in_user(
    user_ids: np.ndarray, secondary_order: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """0-based position of each row among its user's rows, and the user's count of rows.

    Args:
        user_ids: (n,) user of each row.
        secondary_order: (n,) a permutation of the rows: the order of a user's rows.

    Returns:
        ``(position, n_user)``, both (n,) int64 and in input row order.
    """
    n = len(user_ids)
    # A stable sort by user keeps secondary_order within each user; one int sort is much faster
    # than np.lexsort over the two keys.
    order = secondary_order[np.argsort(user_ids[secondary_order], kind="stable")]
    sorted_users = user_ids[order]
    starts = np.flatnonzero(np.r_[True, sorted_users[1:] != sorted_users[:-1]]) if n else []
    sizes = np.diff(np.r_[starts, n]).astype(np.int64)
    group_start = np.repeat(np.asarray(starts, np.int64), sizes)
    position = np.empty(n, np.int64)
    position[order] = np.arange(n, dtype=np.int64) - group_start
    n_user = np.empty(n, np.int64)
    n_user[order] = np.repeat(sizes, sizes)
    return position, n_user


def _chronological_order(timestamps_ns: np.ndarray, movie_ids: np.ndarray) -> np.ndarray:
    """(n,) row order by timestamp, then movie id."""
    if len(timestamps_ns) == 0:
        return np.arange(0, dtype=np.int64)
    time_key = timestamps_ns - timestamps_ns.min()
    if not (time_key % _NS_PER_SECOND).any():
        time_key //= _NS_PER_SECOND
    movie_key = movie_ids.astype(np.int64) - int(movie_ids.min())
    movie_bits = int(movie_key.max()).bit_length()
    if int(time_key.max()).bit_length() + movie_bits <= 62:
        # Both fit one int64 key: one argsort instead of a (several times slower) lexsort.
        return np.argsort((time_key << movie_bits) | movie_key)
    return np.lexsort((movie_key, time_key))


def _held_out_count(n_user: np.ndarray, wanted: np.ndarray, min_train: int) -> np.ndarray:
    """How many of each user's ratings go to test: ``wanted``, leaving ``min_train`` in train."""
    return np.clip(np.minimum(wanted, n_user - min_train), 0, None)


# --------------------------------------------------------------------------------------------
# Splits


def split_per_user_random(
    ratings: pd.DataFrame, test_fraction: float, seed: int = 0, min_train: int = 1
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Hold out a random ``test_fraction`` of each user's ratings.

    A user with ``n`` ratings gets ``min(round(test_fraction * n), n - min_train)`` of them in
    test (never fewer than 0), chosen uniformly at random: the rows are shuffled by
    ``numpy.random.default_rng(seed).permutation`` and each user's first ones are held out.
    ``round`` is Python's (halves to even), as in :func:`split_random`. So a user with at most
    ``min_train`` ratings, or so few that the fraction rounds to 0, keeps everything in train.

    Args:
        ratings: one row per rating, with ``user_id``.
        test_fraction: share of each user's ratings held out, in (0, 1).
        seed: seeds the draw.
        min_train: ratings each user keeps in train at least (0 lets a user go entirely to test).

    Returns:
        ``(train, test)`` with the original columns and row order.
    """
    _check_fraction(test_fraction)
    _check_min_train(min_train)
    require_columns(ratings, ("user_id",), "ratings table")
    user_ids = ratings["user_id"].to_numpy()
    shuffled = np.random.default_rng(seed).permutation(len(ratings))
    position, n_user = _position_in_user(user_ids, shuffled)
    n_test = _held_out_count(n_user, np.rint(test_fraction * n_user).astype(np.int64), min_train)
    return _sides(ratings, position < n_test)


def split_per_user_temporal(
    ratings: pd.DataFrame,
    test_fraction: float | None = None,
    n_test: int | None = None,
    min_train: int = 1,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Hold out each user's latest ratings ("leave last out"); no randomness.

    Give exactly one of ``test_fraction`` (``round(test_fraction * n)`` of a user's ``n``
    ratings, halves to even) or ``n_test`` (that many per user). Either way a user keeps at least
    ``min_train`` ratings in train, so users with few ratings hold out fewer or none. A user's
    ratings are ordered by ``timestamp`` then ``movie_id``; the last ones go to test, so every
    test rating of a user is at least as late as each of their train ratings, and ratings made in
    the same second are split by movie id, deterministically.

    Args:
        ratings: one row per rating, with ``user_id``, ``movie_id`` and ``timestamp``.
        test_fraction: share of each user's ratings held out, in (0, 1).
        n_test: number of each user's ratings held out, at least 1.
        min_train: ratings each user keeps in train at least.

    Returns:
        ``(train, test)`` with the original columns and row order.
    """
    if (test_fraction is None) == (n_test is None):
        raise CofiError(
            f"give exactly one of test_fraction and n_test, got {test_fraction=} and {n_test=}"
        )
    if test_fraction is not None:
        _check_fraction(test_fraction)
    if n_test is not None and n_test < 1:
        raise CofiError(f"n_test must be at least 1, got {n_test}")
    _check_min_train(min_train)
    require_columns(ratings, ("user_id", "movie_id", "timestamp"), "ratings table")
    user_ids = ratings["user_id"].to_numpy()
    chronological = _chronological_order(
        timestamps_ns(ratings["timestamp"]), ratings["movie_id"].to_numpy()
    )
    position, n_user = _position_in_user(user_ids, chronological)
    if test_fraction is not None:
        wanted = np.rint(test_fraction * n_user).astype(np.int64)
    else:
        wanted = np.full(len(ratings), n_test, np.int64)
    held_out = _held_out_count(n_user, wanted, min_train)
    return _sides(ratings, position >= n_user - held_out)


def split_time_cutoff(
    ratings: pd.DataFrame, cutoff: datetime | pd.Timestamp | str | int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Everything rated at or after ``cutoff`` goes to test, everything before to train.

    This is the split a deployed recommender lives with: it is trained on the past and judged on
    the future, and users or movies that first appear after the cutoff are cold starts.

    Args:
        ratings: one row per rating, with ``timestamp``.
        cutoff: a datetime or ``pandas.Timestamp``, an ISO 8601 string (``"2000-01-01"``), or
            integer seconds since the epoch. Without a time zone it is taken as UTC.

    Returns:
        ``(train, test)`` with the original columns and row order; either may be empty.
    """
    require_columns(ratings, ("timestamp",), "ratings table")
    return _sides(ratings, timestamps_ns(ratings["timestamp"]) >= _moment_ns(cutoff))


def k_fold(
    ratings: pd.DataFrame, k: int = 5, seed: int = 0
) -> Iterator[tuple[pd.DataFrame, pd.DataFrame]]:
    """``k`` ``(train, test)`` splits whose test folds are disjoint and cover every rating.

    The ratings are shuffled by ``numpy.random.default_rng(seed)`` and dealt round-robin into
    ``k`` folds, so fold sizes differ by at most one. Split ``i`` tests on fold ``i`` and trains
    on the rest. Arguments are checked at the call, not at the first iteration.

    Args:
        ratings: one row per rating.
        k: number of folds, from 2 to ``len(ratings)``.
        seed: seeds the shuffle.

    Returns:
        An iterator of ``k`` ``(train, test)`` pairs, with the original columns and row order.
    """
    if not 2 <= k <= len(ratings):
        raise CofiError(f"k must lie between 2 and the number of ratings ({len(ratings)}), got {k}")
    n = len(ratings)
    fold = np.empty(n, np.int64)
    fold[np.random.default_rng(seed).permutation(n)] = np.arange(n) % k

    def folds() -> Iterator[tuple[pd.DataFrame, pd.DataFrame]]:
        for index in range(k):
            yield _sides(ratings, fold == index)

    return folds()


# --------------------------------------------------------------------------------------------
# ml-100k's predefined splits


def _predefined_members(container: FolderOrZip, name: str) -> dict[str, str]:
    """Where ``<name>.base`` and ``<name>.test`` are: at the top level or one folder deep."""
    wanted = (f"{name}.base", f"{name}.test")
    found: dict[str, str] = {}
    # The shallowest copy wins, so "ml-100k/u1.base" is used only when there is no "u1.base".
    for member in sorted(container.names, key=lambda m: (m.count("/"), m)):
        base = posixpath.basename(member)
        if base in wanted and base not in found:
            found[base] = member
    missing = [w for w in wanted if w not in found]
    if missing:
        raise DataError(
            container.path,
            f"missing file: {' and '.join(missing)} (looked at the top level and one folder deep)",
        )
    return found


def _parse_predefined(data: bytes, label: str) -> pd.DataFrame:
    """Parse ``user<TAB>item<TAB>rating<TAB>timestamp`` lines; a bad line raises DataError."""
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise DataError(label, "is not plain ASCII text", line=line) from exc
    lines = pd.Series(text.split("\n"), dtype=object)
    if len(lines) and lines.iloc[-1] == "":  # the newline that ends the last line
        lines = lines.iloc[:-1]
    lines = lines.str.removesuffix("\r")
    good = lines.str.fullmatch(r"[0-9]{1,9}\t[0-9]{1,9}\t[0-9]{1,2}\t[0-9]{1,12}").to_numpy(bool)
    if not good.all():
        index = int(np.flatnonzero(~good)[0])
        raise DataError(
            label,
            f"expected user, item, rating and timestamp as whole numbers separated by tabs, "
            f"got {lines.iloc[index]!r}",
            line=index + 1,
        )
    fields = lines.str.split("\t", expand=True).astype(np.int64) if len(lines) else None
    if fields is None:
        raise DataError(label, "holds no ratings")
    user_ids, movie_ids, ratings, seconds = (fields[c].to_numpy() for c in range(4))
    problems = [
        (user_ids < 1, "user id must be at least 1"),
        (movie_ids < 1, "item id must be at least 1"),
        ((ratings < 1) | (ratings > 5), "rating must be a whole number from 1 to 5"),
    ]
    for bad, problem in problems:
        if bad.any():
            index = int(np.flatnonzero(bad)[0])
            raise DataError(label, f"{problem}, got {lines.iloc[index]!r}", line=index + 1)
    duplicate = pd.DataFrame({"u": user_ids, "m": movie_ids}).duplicated().to_numpy()
    if duplicate.any():
        index = int(np.flatnonzero(duplicate)[0])
        raise DataError(
            label,
            f"user {user_ids[index]} rated item {movie_ids[index]} more than once",
            line=index + 1,
        )
    return pd.DataFrame(
        {
            "user_id": user_ids.astype(np.int32),
            "movie_id": movie_ids.astype(np.int32),
            "rating": ratings.astype(np.float32),
            "timestamp": pd.to_datetime(seconds, unit="s", utc=True).as_unit("s"),
        }
    )


def split_predefined(
    folder_or_zip: str | os.PathLike[str], name: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read one of ml-100k's predefined splits: ``<name>.base`` (train) and ``<name>.test``.

    ``u1``..``u5`` are GroupLens's 5-fold cross-validation (80,000 / 20,000 ratings, the five
    test files disjoint); ``ua`` and ``ub`` hold out exactly 10 ratings of every user. The files
    are tab-separated ``user item rating timestamp`` lines without a header.

    Args:
        folder_or_zip: ml-100k as a folder or a ``.zip``; the files may sit one folder deep
            (``ml-100k/u1.base``).
        name: one of :data:`PREDEFINED_NAMES`.

    Returns:
        ``(train, test)``, typed like ingested ratings: ``user_id`` int32, ``movie_id`` int32,
        ``rating`` float32, ``timestamp`` ``datetime64[s, UTC]``; rows in file order.

    Raises:
        CofiError: ``name`` is not a predefined split.
        DataError: a file is missing (named in the message), or a line is malformed, out of
            range or repeats a (user, item) pair (file and 1-based line in the message).
    """
    if name not in PREDEFINED_NAMES:
        raise CofiError(f"unknown predefined split {name!r}; expected one of {PREDEFINED_NAMES}")
    with FolderOrZip(Path(folder_or_zip)) as container:
        members = _predefined_members(container, name)
        train, test = (
            _parse_predefined(container.read_bytes(member), container.label(member))
            for member in (members[f"{name}.base"], members[f"{name}.test"])
        )
    return train, test


# --------------------------------------------------------------------------------------------
# Configuration

SplitKind = Literal["random", "per_user_random", "per_user_temporal", "time_cutoff", "predefined"]

#: The splits by kind. Their options differ; :func:`apply_split` passes each its own.
SPLITS: dict[str, Callable[..., tuple[pd.DataFrame, pd.DataFrame]]] = {
    "random": split_random,
    "per_user_random": split_per_user_random,
    "per_user_temporal": split_per_user_temporal,
    "time_cutoff": split_time_cutoff,
    "predefined": split_predefined,
}

# The options each kind takes, and those it requires; ``seed`` is allowed everywhere so one seed
# can flow through a whole pipeline.
_OPTIONS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "random": (frozenset({"test_fraction"}), frozenset({"test_fraction"})),
    "per_user_random": (frozenset({"test_fraction", "min_train"}), frozenset({"test_fraction"})),
    "per_user_temporal": (frozenset({"test_fraction", "n_test", "min_train"}), frozenset()),
    "time_cutoff": (frozenset({"cutoff"}), frozenset({"cutoff"})),
    "predefined": (frozenset({"name"}), frozenset({"name"})),
}


class SplitConfig(BaseModel):
    """Which split to make, with its options. Unknown fields and misplaced options fail at once.

    - ``random``: ``test_fraction``.
    - ``per_user_random``: ``test_fraction``, optionally ``min_train``.
    - ``per_user_temporal``: exactly one of ``test_fraction`` or ``n_test``, optionally
      ``min_train``.
    - ``time_cutoff``: ``cutoff``; an ISO 8601 string or a datetime (UTC when naive). Integer
      seconds are accepted too, as pydantic reads them (numbers above 2e10 are taken as ms).
    - ``predefined``: ``name`` (``u1``..``u5``, ``ua``, ``ub``); :func:`apply_split` needs the
      ml-100k ``source``.

    ``seed`` is accepted by every kind and used by the random ones.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: SplitKind
    test_fraction: float | None = Field(default=None, gt=0.0, lt=1.0)
    n_test: int | None = Field(default=None, ge=1, description="ratings held out per user")
    min_train: int = Field(default=1, ge=0, description="ratings each user keeps in train")
    cutoff: datetime | None = Field(default=None, description="first moment of the test period")
    name: Literal["u1", "u2", "u3", "u4", "u5", "ua", "ub"] | None = None
    seed: int = 0

    @model_validator(mode="after")
    def _options_fit_kind(self) -> SplitConfig:
        allowed, required = _OPTIONS[self.kind]
        # An option counts as given when it differs from its default, so a form that sends
        # every field with its default still validates.
        given = {
            f
            for f, info in type(self).model_fields.items()
            if f not in ("kind", "seed") and getattr(self, f) != info.default
        }
        extra = sorted(given - allowed)
        if extra:
            raise ValueError(f"split kind {self.kind!r} takes no {', '.join(extra)}")
        missing = sorted(required - given)
        if missing:
            raise ValueError(f"split kind {self.kind!r} needs {', '.join(missing)}")
        if self.kind == "per_user_temporal" and (self.test_fraction is None) == (
            self.n_test is None
        ):
            raise ValueError(
                "split kind 'per_user_temporal' needs exactly one of test_fraction and n_test"
            )
        return self


def apply_split(
    config: SplitConfig,
    ratings: pd.DataFrame | None,
    source: str | os.PathLike[str] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Make the split ``config`` describes.

    Args:
        config: the split and its options.
        ratings: the ratings to split; not used (and may be None) for ``predefined``, whose
            ratings come from the files.
        source: the ml-100k folder or zip, for ``predefined`` only.

    Returns:
        ``(train, test)``.
    """
    if config.kind == "predefined":
        if source is None:
            raise CofiError("the 'predefined' split reads ml-100k's files: pass source")
        return split_predefined(source, _given(config, "name", config.name))
    if source is not None:
        raise CofiError(f"split kind {config.kind!r} takes ratings, not a source")
    if ratings is None:
        raise CofiError(f"split kind {config.kind!r} needs ratings")
    if config.kind == "random":
        test_fraction = _given(config, "test_fraction", config.test_fraction)
        return split_random(ratings, test_fraction, config.seed)
    if config.kind == "per_user_random":
        test_fraction = _given(config, "test_fraction", config.test_fraction)
        return split_per_user_random(ratings, test_fraction, config.seed, config.min_train)
    if config.kind == "per_user_temporal":
        return split_per_user_temporal(
            ratings, config.test_fraction, config.n_test, config.min_train
        )
    return split_time_cutoff(ratings, _given(config, "cutoff", config.cutoff))


def _given(config: SplitConfig, option: str, value: _T | None) -> _T:
    """``value``, which the validator requires for ``config.kind`` (unless it was skipped)."""
    if value is None:
        raise CofiError(f"split kind {config.kind!r} needs {option}")
    return value
