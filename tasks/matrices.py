"""Matrices: the hold-out split, the index maps and the shape of Y/R."""

from __future__ import annotations

import pandas as pd
from prefect import get_run_logger

from cofi.data.matrices import IndexMap, build_triples, matrix_summary
from cofi.evaluation.holdout import split_stable
from tasks.caching import step, step_folder
from tasks.io import read_ratings, write_parquet


@step(name="matrices")
def build_matrices(
    ratings_path: str, movies_path: str, data_dir: str, holdout_fraction: float, seed: int
) -> dict:
    """Split the ratings (seeded, stable as ratings arrive) and describe the rating matrices they fill.

    Writes ``train.parquet`` and ``test.parquet`` (``user_id``, ``movie_id``, ``rating``, and
    ``timestamp`` where the ratings have one: it orders the ranking lists' sequence graph) and
    ``movie_index.parquet`` / ``user_index.parquet`` (row/column -> id) in the step's folder
    under ``data_dir``.
    """
    ratings = read_ratings(ratings_path, timestamps=True)
    movie_ids = pd.read_parquet(movies_path, columns=["movie_id"])["movie_id"]
    movies, users = IndexMap.from_ids(movie_ids), IndexMap.from_ids(ratings["user_id"])
    triples, _, _ = build_triples(ratings, movies=movies, users=users)
    out = step_folder(data_dir)
    summary = matrix_summary(triples)
    if holdout_fraction > 0:
        train, test = split_stable(ratings, holdout_fraction, seed=seed)
        summary["test_path"] = write_parquet(test, out / "test.parquet")
    else:
        train, summary["test_path"] = ratings, None
    summary["train_path"] = write_parquet(train, out / "train.parquet")
    summary["movie_index_path"] = write_parquet(
        pd.DataFrame({"movie_id": movies.ids}), out / "movie_index.parquet"
    )
    write_parquet(pd.DataFrame({"user_id": users.ids}), out / "user_index.parquet")
    summary.update(n_train=len(train), n_test=len(ratings) - len(train))
    get_run_logger().info(
        "Y, R: %s movies x %s users, %s ratings (density %.4f%%); dense float32 Y would take %.1f MB",
        f"{summary['n_movies']:,}",
        f"{summary['n_users']:,}",
        f"{summary['n_ratings']:,}",
        100 * summary["density"],
        summary["dense_bytes"] / 1e6,
    )
    return summary
