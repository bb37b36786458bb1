"""All-user top-N scoring throughput, in scores per second per core, on an ML-25M-shaped model.

Builds a random model (162,541 users x 62,423 movies by default, 64 features, ~154 seen movies per
user) and times ``Model.iter_recommendations`` over a sample of users; every user is scored
against every movie, seen movies are masked, and the top N kept.

    python benchmarks/scoring.py --features 64 --users 20000
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from cofi.data.matrices import IndexMap  # noqa: E402
from cofi.data.schema import HALF_STARS  # noqa: E402
from cofi.models.config import TrainConfig  # noqa: E402
from cofi.models.model import Model  # noqa: E402
from cofi.runtime import import_tensorflow  # noqa: E402

import_tensorflow()  # quietly, before scoring imports it


def random_model(
    n_users: int, n_movies: int, n_features: int, seen_per_user: int, seed: int = 0
) -> Model:
    rng = np.random.default_rng(seed)
    counts = np.minimum(rng.geometric(1 / seen_per_user, n_users), n_movies)
    indptr = np.zeros(n_users + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    seen = rng.integers(0, n_movies, int(indptr[-1])).astype(np.int32)
    return Model(
        X=rng.normal(0, 0.3, (n_movies, n_features)).astype(np.float32),
        W=rng.normal(0, 0.3, (n_users, n_features)).astype(np.float32),
        b=rng.normal(0, 0.1, (1, n_users)).astype(np.float32),
        movie_offset=rng.uniform(1, 5, n_movies).astype(np.float32),
        movie_count=np.full(n_movies, 10, dtype=np.int32),
        movies=IndexMap(np.arange(1, n_movies + 1, dtype=np.int32)),
        users=IndexMap(np.arange(1, n_users + 1, dtype=np.int32)),
        seen_indptr=indptr,
        seen_movies=seen,
        global_mean=3.5,
        scale=HALF_STARS,
        config=TrainConfig(n_features=n_features),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-users", type=int, default=162_541)
    parser.add_argument("--movies", type=int, default=62_423)
    parser.add_argument("--features", type=int, default=64)
    parser.add_argument(
        "--users", type=int, default=20_000, help="users scored (a sample of the model's)"
    )
    parser.add_argument("--top", type=int, default=10)
    args = parser.parse_args()
    model = random_model(args.model_users, args.movies, args.features, 154)
    users = model.users.ids[: args.users]
    list(model.iter_recommendations(users[:100], n=args.top))  # trace the scoring function once
    started = time.perf_counter()
    rows = sum(len(block) for block in model.iter_recommendations(users, n=args.top))
    seconds = time.perf_counter() - started
    scores = len(users) * args.movies
    cores = os.cpu_count() or 1
    print(
        f"{len(users):,} users x {args.movies:,} movies x {args.features} features, top {args.top}: "
        f"{seconds:.2f} s, {scores / seconds / 1e6:.0f} M scores/s ({scores / seconds / cores / 1e6:.0f} M per core, "
        f"{cores} cores); {rows:,} rows; all {args.model_users:,} users would take {args.model_users / len(users) * seconds:.0f} s"
    )


if __name__ == "__main__":
    main()
