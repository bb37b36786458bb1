"""The planted model synthetic MovieLens data is drawn from: shapes, popularity, tastes, time.

Everything here is decided from the arguments and the seed alone; :mod:`cofi.data.synthetic`
writes it out. See that module's docstring for the model.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

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


def _check_parameters(rank: int, noise: float, min_user_ratings: int, chunk_ratings: int) -> None:
    if rank < 1:
        raise ValueError(f"rank must be >= 1, got {rank}")
    if not (noise >= 0 and math.isfinite(noise)):
        raise ValueError(f"noise must be a finite number >= 0, got {noise}")
    if min_user_ratings < 1:
        raise ValueError(f"min_user_ratings must be >= 1, got {min_user_ratings}")
    if chunk_ratings < 1:
        raise ValueError(f"chunk_ratings must be >= 1, got {chunk_ratings}")
