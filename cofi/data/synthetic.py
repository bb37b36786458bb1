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
import shutil
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow.csv as pa_csv

from cofi.data.synthetic_model import (
    FIRST_TIMESTAMP,
    GENRES,
    LAST_TIMESTAMP,
    NO_GENRES,
    PlantedTruth,
    _check_parameters,
    _chunks,
    _Plan,
    _plan,
    _resolve_shape,
    default_shape,
    planted_truth,
)

__all__ = [
    "FIRST_TIMESTAMP",
    "GENRES",
    "LAST_TIMESTAMP",
    "NO_GENRES",
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
