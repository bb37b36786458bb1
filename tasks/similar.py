"""Similar movies: each movie's nearest movies in the model's feature space, as Parquet."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from prefect import get_run_logger

from cofi.models.model import load_model
from cofi.outputs.similar import write_similar
from tasks.caching import step, step_folder


@step(name="similar-movies")
def similar_movies_table(
    model_dir: str, movies_path: str, data_dir: str, top_n: int, metric: str, min_ratings: int
) -> dict:
    """Write every movie's ``top_n`` most similar movies by ``metric`` to ``similar.parquet``.

    Args:
        model_dir: the saved model.
        movies_path: Parquet with ``movie_id`` and ``title``.
        data_dir: the data folder; the table (:data:`cofi.data.schema.SIMILAR_SCHEMA`) goes in
            the step's folder.
        top_n: neighbours per movie.
        metric: ``"cosine"`` or ``"distance"`` (squared Euclidean).
        min_ratings: movies need at least this many training ratings to appear.

    Returns:
        A summary: ``path``, ``rows``, ``metric``.
    """
    model = load_model(model_dir)
    movies = pd.read_parquet(movies_path, columns=["movie_id", "title"])
    out_path = str(step_folder(data_dir) / "similar.parquet")
    rows = write_similar(
        model, movies, Path(out_path), n=top_n, metric=metric, min_ratings=min_ratings
    )
    get_run_logger().info(
        "%s similar-movie rows (%s, top %d) -> %s", f"{rows:,}", metric, top_n, out_path
    )
    return {"path": out_path, "rows": rows, "metric": metric}
