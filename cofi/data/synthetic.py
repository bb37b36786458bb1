"""Seeded synthetic MovieLens data of any size, in the ML-25M layout, with a planted low-rank model.

:func:`generate` writes ``ratings.csv`` (``userId,movieId,rating,timestamp``) and ``movies.csv``
(``movieId,title,genres``), UTF-8 with LF line endings, exactly as GroupLens publishes ML-25M, so
that everything downstream (ingest, training, evaluation) can be measured for accuracy and speed at
any scale. The ratings come from a known model (see :func:`planted_truth`):

    rating = half_stars(clip(mu + user_bias[u] + movie_bias[m] + <user_factors[u], movie_factors[m]>
                             + noise * N(0, 1), 0.5, 5))

Shape, when not given (:func:`default_shape`): ``n_users = n_ratings / 153.8`` (ML-25M's 25,000,095
ratings from 162,541 users), and the catalogue grows with the square root of the ratings,
``n_movies = 62,423 * sqrt(n_ratings / 25,000,095)`` (ML-25M's 62,423 movies at full size; about
12,500 at 1M ratings and 3,950 at 100k), but never fewer than twice the mean ratings per user, so
a typical user never exhausts the catalogue.

Who rates what: user activity is ``min_user_ratings`` (20, as every ML-25M user has) plus a
lognormal share of the rest (median user ~71 ratings and mean ~154 at ML-25M's shape, like ML-25M);
movie popularity is lognormal, and each user picks movies by popularity without replacement, so
(user, movie) pairs are unique by construction. A user's timestamps lie in one window inside
1995-01-09 .. 2019-11-21 and increase in the order the movies were picked (popular first, as the
MovieLens sign-up asks for well-known films first); rows are sorted by user, then movie, as in
ML-25M.

Determinism: the same arguments give byte-identical files, whatever ``chunk_ratings`` is. Users
are generated in fixed blocks, each from its own random stream derived from ``seed`` and the block
number; ``chunk_ratings`` only decides how many blocks are written at once.

Run as ``python -m cofi.data.synthetic OUT_DIR --ratings 25000000``.
"""

from __future__ import annotations

import argparse
import itertools
import math
import shutil
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv

__all__ = [
    "GENRES",
    "PlantedTruth",
    "SyntheticSummary",
    "default_shape",
    "generate",
    "planted_truth",
]

RATINGS_FILE = "ratings.csv"
MOVIES_FILE = "movies.csv"
RATINGS_HEADER = b"userId,movieId,rating,timestamp\n"
MOVIES_HEADER = b"movieId,title,genres\n"

ML25M_RATINGS = 25_000_095
ML25M_USERS = 162_541
ML25M_MOVIES = 62_423

#: MovieLens genres (ML-20M and later) and the share of ml-latest-small's movies that carry each.
GENRES: dict[str, float] = {
    "Action": 0.188,
    "Adventure": 0.130,
    "Animation": 0.063,
    "Children": 0.068,
    "Comedy": 0.386,
    "Crime": 0.123,
    "Documentary": 0.045,
    "Drama": 0.448,
    "Fantasy": 0.080,
    "Film-Noir": 0.009,
    "Horror": 0.100,
    "IMAX": 0.016,
    "Musical": 0.034,
    "Mystery": 0.059,
    "Romance": 0.164,
    "Sci-Fi": 0.101,
    "Thriller": 0.194,
    "War": 0.039,
    "Western": 0.017,
}
NO_GENRES = "(no genres listed)"
# Share of ml-latest-small's movies with 1, 2, ... 6 genres.
_GENRE_COUNT_SHARES = np.array([0.293, 0.330, 0.240, 0.101, 0.028, 0.008])
_NO_GENRES_SHARE = 0.01

# ML-25M's first and last rating (UTC).
FIRST_TIMESTAMP = 789_652_009
LAST_TIMESTAMP = 1_574_327_703

# Calibrated so that, with the default noise, the ratings have mean ~3.54 and std ~1.07 (ML-25M:
# 3.53 and 1.06; the mean lies above mu because popular movies rate higher), and whole stars are
# favoured over half stars, as MovieLens users do.
_GLOBAL_MEAN = 3.43
_USER_BIAS_STD = 0.55
_MOVIE_BIAS_STD = 0.55
_INTERACTION_STD = 0.75
_WHOLE_STAR_SHARE = 0.4
# Popular movies are rated a little higher (as in MovieLens), so the movie mean is informative.
_POPULARITY_BIAS_CORRELATION = 0.2
_USER_ACTIVITY_SIGMA = 1.4
_MOVIE_POPULARITY_SIGMA = 2.0
# Median span between a user's first and last rating: about a month, spread over orders of
# magnitude (one sitting to years).
_USER_SPAN_MEDIAN_SECONDS = 30 * 86_400
_USER_SPAN_SIGMA = 2.5

# Users are generated in blocks of about this many ratings; the block layout depends only on the
# shape, never on chunk_ratings, which keeps the output independent of it.
_BLOCK_RATINGS = 200_000
# A user who would need more draws with replacement than this many times the catalogue size is
# sampled with Gumbel-top-k over the whole catalogue instead: same distribution, bounded work.
_MAX_DRAWS_PER_MOVIE = 1.0
_MAX_ROUNDS = 8

_RATING_LABELS = pa.array([f"{0.5 * (i + 1):.1f}" for i in range(10)], pa.string())
_STREAM_PLAN = 0
_STREAM_BLOCK = 1


@dataclass(frozen=True)
class SyntheticSummary:
    """What :func:`generate` wrote.

    Attributes:
        out_dir: the folder holding both files.
        n_ratings: rows of ratings.csv.
        n_users: users (ids 1..n_users); every one has at least one rating.
        n_movies: rows of movies.csv (ids 1..n_movies); some may have no ratings, as in ML-25M.
        ratings_path: out_dir / "ratings.csv".
        movies_path: out_dir / "movies.csv".
        seconds: wall-clock time spent generating and writing.
    """

    out_dir: Path
    n_ratings: int
    n_users: int
    n_movies: int
    ratings_path: Path
    movies_path: Path
    seconds: float

    @property
    def bytes_written(self) -> int:
        """Size of ratings.csv plus movies.csv."""
        return self.ratings_path.stat().st_size + self.movies_path.stat().st_size


@dataclass(frozen=True)
class PlantedTruth:
    """The model the ratings were drawn from; row ``i`` belongs to id ``i + 1``.

    Attributes:
        global_mean: mu.
        user_bias: (n_users,).
        movie_bias: (n_movies,).
        user_factors: (n_users, rank).
        movie_factors: (n_movies, rank).
        noise: standard deviation of the Gaussian noise added before clipping and rounding.
    """

    global_mean: float
    user_bias: np.ndarray
    movie_bias: np.ndarray
    user_factors: np.ndarray
    movie_factors: np.ndarray
    noise: float

    def predict(self, user_ids: np.ndarray, movie_ids: np.ndarray) -> np.ndarray:
        """The noiseless planted rating, clipped to 0.5..5 (not rounded).

        Args:
            user_ids: (n,) ids 1..n_users.
            movie_ids: (n,) ids 1..n_movies.

        Returns:
            (n,) float64.
        """
        users = np.asarray(user_ids, dtype=np.int64) - 1
        movies = np.asarray(movie_ids, dtype=np.int64) - 1
        if users.shape != movies.shape or users.ndim != 1:
            raise ValueError(
                f"user_ids and movie_ids must be 1-D of equal length, got {users.shape} and "
                f"{movies.shape}"
            )
        return np.clip(_planted_value(self, users, movies), 0.5, 5.0)


@dataclass(frozen=True)
class _Plan:
    """Everything decided before any rating is drawn; O(n_users + n_movies) memory."""

    truth: PlantedTruth
    user_counts: np.ndarray  # (n_users,) ratings per user, summing to n_ratings
    movie_cdf: np.ndarray  # (n_movies,) cumulative popularity, last entry 1
    movie_log_weight: np.ndarray  # (n_movies,)
    user_start: np.ndarray  # (n_users,) first timestamp
    user_span: np.ndarray  # (n_users,) seconds between first and last timestamp
    years: np.ndarray  # (n_movies,)
    genres: list[str]  # (n_movies,)
    users_per_block: int


def default_shape(n_ratings: int) -> tuple[int, int]:
    """ML-25M's shape scaled to ``n_ratings``: returns ``(n_users, n_movies)``.

    Users scale linearly (ML-25M's 153.8 ratings per user); movies with the square root of the
    ratings (62,423 at ML-25M's size), but at least twice the mean ratings per user.
    """
    if n_ratings < 1:
        raise ValueError(f"n_ratings must be >= 1, got {n_ratings}")
    n_users = max(1, round(n_ratings * ML25M_USERS / ML25M_RATINGS))
    return n_users, _default_movies(n_ratings, n_users)


def _default_movies(n_ratings: int, n_users: int) -> int:
    by_sqrt = round(ML25M_MOVIES * math.sqrt(n_ratings / ML25M_RATINGS))
    return max(by_sqrt, min(n_ratings, 2 * math.ceil(n_ratings / n_users)))


def _resolve_shape(n_ratings: int, n_users: int | None, n_movies: int | None) -> tuple[int, int]:
    if n_ratings < 1:
        raise ValueError(f"n_ratings must be >= 1, got {n_ratings}")
    if n_users is None:
        n_users = default_shape(n_ratings)[0]
        if n_movies is not None:
            n_users = max(n_users, math.ceil(n_ratings / n_movies))
    if n_movies is None:
        n_movies = _default_movies(n_ratings, n_users)
    if n_users < 1 or n_movies < 1:
        raise ValueError(f"n_users and n_movies must be >= 1, got {n_users} and {n_movies}")
    if n_users > n_ratings:
        raise ValueError(
            f"n_users={n_users} is more than n_ratings={n_ratings}: every user needs a rating"
        )
    if n_ratings > n_users * n_movies:
        raise ValueError(
            f"n_ratings={n_ratings} is more than n_users * n_movies = {n_users * n_movies}: "
            "(user, movie) pairs must be unique"
        )
    return n_users, n_movies


def _apportion(total: int, weights: np.ndarray, caps: np.ndarray) -> np.ndarray:
    """Integers summing to ``total``, proportional to ``weights``, none above its cap.

    Water-filling: whoever's share exceeds its cap gets the cap and the rest is shared again; the
    last fractions go by largest remainder. Requires ``total <= caps.sum()``.
    """
    result = np.zeros(len(weights), dtype=np.int64)
    free = np.ones(len(weights), dtype=bool)
    remaining = total
    while remaining > 0:
        free_index = np.flatnonzero(free)
        share = remaining * weights[free_index] / weights[free_index].sum()
        over = share >= caps[free_index]
        if over.any():
            capped = free_index[over]
            result[capped] = caps[capped]
            remaining -= int(caps[capped].sum())
            free[capped] = False
            continue
        whole = np.floor(share).astype(np.int64)
        result[free_index] = whole
        leftover = remaining - int(whole.sum())
        by_fraction = np.argsort(-(share - whole), kind="stable")[:leftover]
        result[free_index[by_fraction]] += 1
        break
    return result


def _plan(
    n_ratings: int,
    n_users: int,
    n_movies: int,
    rank: int,
    noise: float,
    seed: int,
    min_user_ratings: int,
) -> _Plan:
    rng = np.random.default_rng([seed, _STREAM_PLAN])

    # Activity: everyone gets the minimum, the rest is shared by lognormal weights.
    floor_count = min(min_user_ratings, n_ratings // n_users)
    activity = rng.lognormal(0.0, _USER_ACTIVITY_SIGMA, n_users)
    extra = _apportion(
        n_ratings - floor_count * n_users, activity, np.full(n_users, n_movies - floor_count)
    )
    user_counts = floor_count + extra

    movie_log_weight = rng.normal(0.0, _MOVIE_POPULARITY_SIGMA, n_movies)
    weight = np.exp(movie_log_weight - movie_log_weight.max())
    movie_cdf = np.cumsum(weight / weight.sum())
    movie_cdf[-1] = 1.0

    popularity_z = (movie_log_weight / _MOVIE_POPULARITY_SIGMA).clip(-3, 3)
    movie_bias = _MOVIE_BIAS_STD * (
        _POPULARITY_BIAS_CORRELATION * popularity_z
        + math.sqrt(1 - _POPULARITY_BIAS_CORRELATION**2) * rng.standard_normal(n_movies)
    )
    user_bias = rng.normal(0.0, _USER_BIAS_STD, n_users)
    # Each factor entry has std s with rank * s^4 = interaction variance, so the planted
    # interaction has the same spread whatever the rank.
    factor_std = (_INTERACTION_STD**2 / rank) ** 0.25
    user_factors = rng.normal(0.0, factor_std, (n_users, rank))
    movie_factors = rng.normal(0.0, factor_std, (n_movies, rank))

    full_span = LAST_TIMESTAMP - FIRST_TIMESTAMP
    user_span = np.minimum(
        rng.lognormal(math.log(_USER_SPAN_MEDIAN_SECONDS), _USER_SPAN_SIGMA, n_users), full_span
    ).astype(np.int64)
    user_start = FIRST_TIMESTAMP + np.floor(rng.random(n_users) * (full_span - user_span)).astype(
        np.int64
    )

    years = (2019 - np.floor(rng.exponential(18.0, n_movies))).clip(1902, 2019).astype(np.int64)
    genres = _draw_genres(rng, n_movies)

    truth = PlantedTruth(
        global_mean=_GLOBAL_MEAN,
        user_bias=user_bias,
        movie_bias=movie_bias,
        user_factors=user_factors,
        movie_factors=movie_factors,
        noise=noise,
    )
    mean_per_user = n_ratings / n_users
    return _Plan(
        truth=truth,
        user_counts=user_counts,
        movie_cdf=movie_cdf,
        movie_log_weight=movie_log_weight,
        user_start=user_start,
        user_span=user_span,
        years=years,
        genres=genres,
        users_per_block=max(1, math.ceil(_BLOCK_RATINGS / mean_per_user)),
    )


def _draw_genres(rng: np.random.Generator, n_movies: int) -> list[str]:
    names = np.array(sorted(GENRES))
    frequency = np.array([GENRES[name] for name in names])
    counts = 1 + rng.choice(
        len(_GENRE_COUNT_SHARES), n_movies, p=_GENRE_COUNT_SHARES / _GENRE_COUNT_SHARES.sum()
    )
    # Gumbel-top-k: each movie's genres, weighted by frequency and without repeats.
    keys = np.log(frequency) + rng.gumbel(size=(n_movies, len(names)))
    chosen_rank = np.argsort(np.argsort(-keys, axis=1), axis=1)
    chosen = chosen_rank < counts[:, None]
    no_genres = rng.random(n_movies) < _NO_GENRES_SHARE
    # Columns are in alphabetical order, so genres come out sorted as in MovieLens.
    return [
        NO_GENRES if empty else "|".join(names[row])
        for row, empty in zip(chosen, no_genres, strict=True)
    ]


def planted_truth(
    *,
    n_ratings: int,
    n_users: int | None = None,
    n_movies: int | None = None,
    rank: int = 8,
    noise: float = 0.5,
    seed: int = 0,
    min_user_ratings: int = 20,
) -> PlantedTruth:
    """The planted model behind :func:`generate` called with the same arguments.

    Cheap (O(n_users + n_movies)): no rating is drawn.
    """
    _check_parameters(rank, noise, min_user_ratings, 1)
    n_users, n_movies = _resolve_shape(n_ratings, n_users, n_movies)
    return _plan(n_ratings, n_users, n_movies, rank, noise, seed, min_user_ratings).truth


def _planted_value(truth: PlantedTruth, users: np.ndarray, movies: np.ndarray) -> np.ndarray:
    interaction = np.einsum(
        "ij,ij->i", truth.user_factors[users], truth.movie_factors[movies], optimize=False
    )
    return truth.global_mean + truth.user_bias[users] + truth.movie_bias[movies] + interaction


def _pick_movies(
    rng: np.random.Generator, plan: _Plan, counts: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Each user's movies, drawn by popularity without replacement, in the order picked.

    Draws with replacement and keeps first occurrences, which is the same distribution as drawing
    without replacement one at a time; users for whom that would take too many draws (they want
    most of the catalogue) use Gumbel-top-k over the whole catalogue, which is again the same
    distribution.

    Returns:
        (local_user, movie): both (counts.sum(),), sorted by user then pick order.
    """
    n_movies = len(plan.movie_cdf)
    n_users = len(counts)
    probability = np.diff(plan.movie_cdf, prepend=0.0)
    max_draws = _MAX_DRAWS_PER_MOVIE * n_movies
    by_gumbel = counts > max_draws / 2
    user = np.empty(0, dtype=np.int64)
    movie = np.empty(0, dtype=np.int64)
    order = np.empty(0, dtype=np.int64)
    have = np.zeros(n_users, dtype=np.int64)
    picked_weight = np.zeros(n_users)
    next_order = 0
    for _ in range(_MAX_ROUNDS):
        deficit = np.where(by_gumbel, 0, counts - have)
        if not deficit.any():
            break
        # Expected draws to find `deficit` new movies when a draw is new with probability
        # 1 - picked_weight; a little extra so one round usually suffices.
        hit_rate = np.maximum(1.0 - picked_weight, 1e-9)
        n_draws = np.where(deficit > 0, np.ceil(1.2 * deficit / hit_rate) + 4, 0).astype(np.int64)
        too_many = n_draws > max_draws
        by_gumbel |= too_many
        n_draws[too_many] = 0
        total = int(n_draws.sum())
        if total == 0:
            break
        drawn = np.searchsorted(plan.movie_cdf, rng.random(total), side="right")
        drawn = np.minimum(drawn, n_movies - 1)
        drawn_user = np.repeat(np.arange(n_users), n_draws)
        # Earlier picks come first in the concatenation, so np.unique's first index keeps them.
        keep = ~by_gumbel[user]
        user = np.concatenate([user[keep], drawn_user])
        movie = np.concatenate([movie[keep], drawn])
        order = np.concatenate([order[keep], next_order + np.arange(total)])
        next_order += total
        _, first = np.unique(user * n_movies + movie, return_index=True)
        user, movie, order = user[first], movie[first], order[first]
        have = np.bincount(user, minlength=n_users)
        picked_weight = np.bincount(user, weights=probability[movie], minlength=n_users)
    by_gumbel |= have < counts
    keep = ~by_gumbel[user]
    user, movie, order = user[keep], movie[keep], order[keep]

    gumbel_users = np.flatnonzero(by_gumbel)
    user_parts = [user]
    movie_parts = [movie]
    order_parts = [order]
    for local_user in gumbel_users:
        count = int(counts[local_user])
        keys = plan.movie_log_weight + rng.gumbel(size=n_movies)
        top = np.argpartition(-keys, count - 1)[:count] if count < n_movies else np.arange(n_movies)
        top = top[np.argsort(-keys[top], kind="stable")]
        user_parts.append(np.full(count, local_user, dtype=np.int64))
        movie_parts.append(top.astype(np.int64))
        order_parts.append(next_order + np.arange(count))
        next_order += count
    user = np.concatenate(user_parts)
    movie = np.concatenate(movie_parts)
    order = np.concatenate(order_parts)

    by_pick = np.lexsort((order, user))
    user, movie = user[by_pick], movie[by_pick]
    starts = np.concatenate([[0], np.cumsum(np.bincount(user, minlength=n_users))[:-1]])
    rank_in_user = np.arange(len(user)) - starts[user]
    keep = rank_in_user < counts[user]
    return user[keep], movie[keep]


def _block_table(plan: _Plan, seed: int, block: int) -> pa.Table:
    """Ratings of one block of users, sorted by user then movie."""
    n_users = len(plan.user_counts)
    first_user = block * plan.users_per_block
    last_user = min(first_user + plan.users_per_block, n_users)
    counts = plan.user_counts[first_user:last_user]
    rng = np.random.default_rng([seed, _STREAM_BLOCK, block])
    local_user, movie = _pick_movies(rng, plan, counts)
    user = first_user + local_user

    # Sorted offsets within the user's window, given out in pick order.
    fraction = rng.random(len(user))
    fraction = fraction[np.lexsort((fraction, user))]
    timestamp = plan.user_start[user] + np.floor(fraction * plan.user_span[user]).astype(np.int64)

    value = _planted_value(plan.truth, user, movie)
    value += plan.truth.noise * rng.standard_normal(len(user))
    value = np.clip(value, 0.5, 5.0)
    half_steps = np.where(
        rng.random(len(user)) < _WHOLE_STAR_SHARE,
        2 * np.clip(np.round(value), 1, 5),
        np.round(2 * value),
    ).astype(np.int64)

    by_movie = np.lexsort((movie, user))
    return pa.table(
        {
            "userId": pa.array(user[by_movie] + 1, pa.int32()),
            "movieId": pa.array(movie[by_movie] + 1, pa.int32()),
            "rating": _RATING_LABELS.take(pa.array(half_steps[by_movie] - 1)),
            "timestamp": pa.array(timestamp[by_movie], pa.int64()),
        }
    )


def _chunks(plan: _Plan, seed: int, chunk_ratings: int) -> Iterator[pa.Table]:
    """Blocks of users, gathered into tables of at least ``chunk_ratings`` rows (but the last)."""
    n_blocks = math.ceil(len(plan.user_counts) / plan.users_per_block)
    pending: list[pa.Table] = []
    pending_rows = 0
    for block in range(n_blocks):
        table = _block_table(plan, seed, block)
        pending.append(table)
        pending_rows += table.num_rows
        if pending_rows >= chunk_ratings:
            yield pa.concat_tables(pending)
            pending, pending_rows = [], 0
    if pending:
        yield pa.concat_tables(pending)


def _write_movies(path: Path, plan: _Plan) -> None:
    lines = [
        f"{index + 1},Synthetic Movie {index + 1} ({year}),{genres}\n"
        for index, (year, genres) in enumerate(zip(plan.years.tolist(), plan.genres, strict=True))
    ]
    with path.open("wb") as handle:
        handle.write(MOVIES_HEADER)
        handle.write("".join(lines).encode("utf-8"))


def _write_ratings(path: Path, plan: _Plan, seed: int, chunk_ratings: int) -> int:
    n_written = 0
    options = pa_csv.WriteOptions(include_header=False, quoting_style="none")
    chunks = _chunks(plan, seed, chunk_ratings)
    with path.open("wb") as handle:
        handle.write(RATINGS_HEADER)
        first = next(chunks, None)
        if first is None:
            return 0
        with pa_csv.CSVWriter(handle, first.schema, write_options=options) as writer:
            for table in itertools.chain([first], chunks):
                writer.write_table(table)
                n_written += table.num_rows
    return n_written


_OUR_FILES = {RATINGS_FILE, MOVIES_FILE}


def _check_parameters(rank: int, noise: float, min_user_ratings: int, chunk_ratings: int) -> None:
    if rank < 1:
        raise ValueError(f"rank must be >= 1, got {rank}")
    if not (noise >= 0 and math.isfinite(noise)):
        raise ValueError(f"noise must be a finite number >= 0, got {noise}")
    if min_user_ratings < 1:
        raise ValueError(f"min_user_ratings must be >= 1, got {min_user_ratings}")
    if chunk_ratings < 1:
        raise ValueError(f"chunk_ratings must be >= 1, got {chunk_ratings}")


def generate(
    out_dir: Path,
    *,
    n_ratings: int,
    n_users: int | None = None,
    n_movies: int | None = None,
    rank: int = 8,
    noise: float = 0.5,
    seed: int = 0,
    min_user_ratings: int = 20,
    chunk_ratings: int = 2_000_000,
) -> SyntheticSummary:
    """Writes a synthetic MovieLens folder (ML-25M layout) to ``out_dir``.

    The folder is written as a temporary sibling and renamed into place at the end, so a reader
    never sees half a dataset. An existing ``out_dir`` is replaced only when it holds nothing but
    ratings.csv and movies.csv.

    Args:
        out_dir: folder to create or replace.
        n_ratings: rows of ratings.csv, exactly.
        n_users: users; by default ML-25M's ratio (see :func:`default_shape`).
        n_movies: movies in movies.csv; by default ~sqrt(n_ratings) (see :func:`default_shape`).
        rank: rank of the planted user-movie interaction.
        noise: standard deviation of the Gaussian noise on each rating, before clipping and
            rounding to half stars.
        seed: the only source of randomness; same arguments and seed give identical bytes.
        min_user_ratings: every user gets at least this many ratings when
            ``n_ratings >= min_user_ratings * n_users``; otherwise ratings are spread evenly.
        chunk_ratings: ratings gathered before each write; bounds memory, does not change output.

    Returns:
        A SyntheticSummary.

    Raises:
        ValueError: a parameter out of range, n_users > n_ratings or n_ratings > n_users * n_movies.
        FileExistsError: out_dir exists and holds other files.
    """
    started = time.perf_counter()
    _check_parameters(rank, noise, min_user_ratings, chunk_ratings)
    n_users, n_movies = _resolve_shape(n_ratings, n_users, n_movies)
    out_dir = Path(out_dir)
    if out_dir.exists() and (
        not out_dir.is_dir() or {p.name for p in out_dir.iterdir()} - _OUR_FILES
    ):
        raise FileExistsError(f"{out_dir} exists and is not a synthetic MovieLens folder")
    plan = _plan(n_ratings, n_users, n_movies, rank, noise, seed, min_user_ratings)

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = out_dir.parent / f".{out_dir.name}.tmp-{uuid.uuid4().hex}"
    staging.mkdir()
    try:
        _write_movies(staging / MOVIES_FILE, plan)
        written = _write_ratings(staging / RATINGS_FILE, plan, seed, chunk_ratings)
        if written != n_ratings:
            raise AssertionError(f"wrote {written} ratings, planned {n_ratings}")
        if out_dir.exists():
            retired = out_dir.parent / f".{out_dir.name}.old-{uuid.uuid4().hex}"
            out_dir.rename(retired)
            staging.rename(out_dir)
            shutil.rmtree(retired)
        else:
            staging.rename(out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return SyntheticSummary(
        out_dir=out_dir,
        n_ratings=n_ratings,
        n_users=n_users,
        n_movies=n_movies,
        ratings_path=out_dir / RATINGS_FILE,
        movies_path=out_dir / MOVIES_FILE,
        seconds=time.perf_counter() - started,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """The command line: ``python -m cofi.data.synthetic OUT_DIR --ratings N``."""
    parser = argparse.ArgumentParser(
        prog="python -m cofi.data.synthetic",
        description="Write a seeded synthetic MovieLens folder (ML-25M layout).",
    )
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--ratings", type=int, required=True, help="rows of ratings.csv")
    parser.add_argument("--users", type=int, default=None, help="default: ML-25M's ratio")
    parser.add_argument("--movies", type=int, default=None, help="default: ~sqrt(ratings)")
    parser.add_argument("--rank", type=int, default=8)
    parser.add_argument("--noise", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--min-user-ratings", type=int, default=20)
    parser.add_argument("--chunk-ratings", type=int, default=2_000_000)
    args = parser.parse_args(argv)
    try:
        summary = generate(
            args.out_dir,
            n_ratings=args.ratings,
            n_users=args.users,
            n_movies=args.movies,
            rank=args.rank,
            noise=args.noise,
            seed=args.seed,
            min_user_ratings=args.min_user_ratings,
            chunk_ratings=args.chunk_ratings,
        )
    except (ValueError, FileExistsError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    megabytes = summary.bytes_written / 1e6
    print(
        f"{summary.out_dir}: {summary.n_ratings:,} ratings, {summary.n_users:,} users, "
        f"{summary.n_movies:,} movies; {megabytes:,.1f} MB in {summary.seconds:.1f} s "
        f"({summary.n_ratings / max(summary.seconds, 1e-9):,.0f} ratings/s)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
