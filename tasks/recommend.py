"""Recommend: every user's top-N table as Parquet, in user shards, and publication of the run."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from prefect import get_run_logger, task

from cofi.models.model import load_model
from cofi.outputs.publish import publish
from cofi.outputs.recommendations import combine_parts, shard_users, write_recommendations
from tasks.caching import step, step_folder


@step(name="recommend-shard", retries=1)
def recommend_shard(
    model_dir: str,
    movies_path: str,
    data_dir: str,
    shard: int,
    n_shards: int,
    top_n: int,
    min_ratings: int,
    min_user_ratings: int = 0,
    rating_model_dir: str | None = None,
) -> str:
    """Write the top ``top_n`` unseen movies of the users in one shard; return the part's path.

    The lists are ranked by ``model_dir``'s model; ``predicted_rating`` is
    ``rating_model_dir``'s prediction when given. Users with fewer than ``min_user_ratings``
    ratings get the flagged popular fallback.
    """
    model = load_model(model_dir)
    rating_model = load_model(rating_model_dir) if rating_model_dir else None
    movies = pd.read_parquet(movies_path, columns=["movie_id", "title"])
    users = shard_users(model, shard, n_shards)
    path = step_folder(data_dir) / f"part-{shard:05d}.parquet"
    rows = write_recommendations(
        model,
        movies,
        path,
        n=top_n,
        min_ratings=min_ratings,
        min_user_ratings=min_user_ratings,
        user_ids=users,
        rating_model=rating_model,
    )
    get_run_logger().info(
        "shard %d/%d: %s users, %s rows", shard + 1, n_shards, f"{len(users):,}", f"{rows:,}"
    )
    return str(path)


@step(name="combine-recommendations")
def combine_recommendations(parts: list[str], data_dir: str) -> dict:
    """Concatenate the shards' parts, in shard order, into the step's ``recommendations.parquet``.

    The parts stay: they are the shards' cached outputs.
    """
    out_path = str(step_folder(data_dir) / "recommendations.parquet")
    rows = combine_parts([Path(part) for part in parts], Path(out_path))
    flagged = pd.read_parquet(
        out_path, columns=["user_id", "fallback"], filters=[("fallback", "==", True)]
    )
    fallback_users = int(flagged["user_id"].nunique())
    get_run_logger().info(
        "%s recommendations from %d shard(s) -> %s; %d user(s) got the popular fallback",
        f"{rows:,}",
        len(parts),
        out_path,
        fallback_users,
    )
    return {"path": out_path, "rows": rows, "fallback_users": fallback_users}


@task(name="publish")
def publish_run(run_dir: str, latest: str) -> str:
    """Point ``latest`` at the finished ``run_dir`` in one atomic step."""
    link = publish(Path(run_dir), Path(latest))
    get_run_logger().info("published %s -> %s", link, run_dir)
    return str(link)
