"""Recommend: every user's top-N table as Parquet, and publication of the run."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from prefect import get_run_logger, task

from cofi.model import load_model
from cofi.publish import publish
from cofi.recommend import write_recommendations


@task(name="recommend")
def recommend_all(
    model_dir: str, movies_path: str, out_path: str, top_n: int, min_ratings: int
) -> dict:
    """Write the top ``top_n`` unseen movies of every user to ``out_path``."""
    model = load_model(model_dir)
    movies = pd.read_parquet(movies_path, columns=["movie_id", "title"])
    rows = write_recommendations(model, movies, Path(out_path), n=top_n, min_ratings=min_ratings)
    get_run_logger().info(
        "%s recommendations for %s users -> %s", f"{rows:,}", f"{model.n_users:,}", out_path
    )
    return {"path": out_path, "rows": rows, "users": model.n_users, "model_id": model.model_id}


@task(name="publish")
def publish_run(run_dir: str, latest: str) -> str:
    """Point ``latest`` at the finished ``run_dir`` in one atomic step."""
    link = publish(Path(run_dir), Path(latest))
    get_run_logger().info("published %s -> %s", link, run_dir)
    return str(link)
