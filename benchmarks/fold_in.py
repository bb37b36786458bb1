"""Fold-in against a full retrain: time, agreement and accuracy for new users.

``--new-users`` users are drawn (seeded) from the dataset. Each one's ratings are split 80/20:
the base model is fitted on everyone else; the new users' 80% are folded in; a full retrain
fits everyone else plus those 80%. Both are scored on the new users' 20%, beside the movie-mean
baseline, and their predictions for the new users are compared over every movie.

    COFI_MOVIELENS_DIR=../shared/movielens python benchmarks/fold_in.py [--dataset ml-100k] \\
        [--iterations N]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

import cofi  # noqa: E402
from cofi.data.download import resolve_source  # noqa: E402
from cofi.data.ingest import ingest  # noqa: E402
from cofi.data.schema import KNOWN_DATASETS  # noqa: E402
from cofi.evaluation.holdout import rmse  # noqa: E402
from cofi.models.foldin import fold_in  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="ml-latest-small")
    parser.add_argument("--new-users", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--iterations", type=int, help="optimizer steps of both fits (default: the objective's)"
    )
    args = parser.parse_args()
    steps = {} if args.iterations is None else {"iterations": args.iterations}
    with tempfile.TemporaryDirectory() as work:
        result = ingest(
            resolve_source(dataset=args.dataset),
            Path(work),
            scale=KNOWN_DATASETS[args.dataset].scale,
        )
        ratings = pd.read_parquet(result.ratings_path, columns=["user_id", "movie_id", "rating"])
    rng = np.random.default_rng(args.seed)
    new_users = rng.choice(ratings["user_id"].unique(), args.new_users, replace=False)
    is_new = ratings["user_id"].isin(new_users).to_numpy()
    is_test = is_new & (rng.random(len(ratings)) < 0.2)
    base_part, new_part, test = ratings[~is_new], ratings[is_new & ~is_test], ratings[is_test]
    # only movies the base model knows can be folded in or scored
    known = new_part["movie_id"].isin(base_part["movie_id"])
    new_part = new_part[known]
    test = test[test["movie_id"].isin(base_part["movie_id"])]
    movie_ids = ratings["movie_id"].unique()

    started = time.perf_counter()
    base = cofi.fit(base_part, movie_ids=movie_ids, **steps)
    base_seconds = time.perf_counter() - started
    fold_in(base, new_part.iloc[:5])  # once, so TensorFlow's first-call costs are not timed below
    folded = fold_in(base, new_part)
    started = time.perf_counter()
    full = cofi.fit(pd.concat([base_part, new_part]), movie_ids=movie_ids, **steps)
    full_seconds = time.perf_counter() - started

    movies = base.movies.ids[base.movie_count > 0]
    users = np.repeat(new_users, len(movies))
    pairs = np.tile(movies, len(new_users))
    a = folded.model.predict(users, pairs)
    b = full.predict(users, pairs)
    movie_mean = base_part.groupby("movie_id")["rating"].mean()
    print(
        f"{args.dataset}: {len(new_users)} new users with {len(new_part):,} ratings folded in "
        f"({len(new_part) / len(new_users):.0f} each on average); {len(test):,} of theirs held out"
    )
    print()
    print("| | seconds | held-out RMSE (new users) |")
    print("|---|---:|---:|")
    print(
        f"| fold-in ({folded.steps} steps) | {folded.seconds:.2f} | "
        f"{rmse(test['rating'], folded.model.predict(test['user_id'], test['movie_id'])):.4f} |"
    )
    print(
        f"| full retrain | {full_seconds:.2f} | "
        f"{rmse(test['rating'], full.predict(test['user_id'], test['movie_id'])):.4f} |"
    )
    print(f"| movie mean | | {rmse(test['rating'], test['movie_id'].map(movie_mean)):.4f} |")
    print()
    print(
        f"fold-in vs retrain predictions over {len(movies):,} movies: mean |difference| "
        f"{np.mean(np.abs(a - b)):.4f} stars, correlation {np.corrcoef(a, b)[0, 1]:.4f}"
    )
    print(f"(base model fit: {base_seconds:.2f} s)")


if __name__ == "__main__":
    main()
