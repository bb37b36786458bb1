"""What a run shows: the markdown report and the run's picture."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from cofi.outputs.report import metrics_rows, plot_run, report_markdown

EVALUATION = {
    "n_test": 1000,
    "n_train": 9000,
    "metrics": {
        "model": {"rmse": 0.85, "mae": 0.65},
        "global_mean": {"rmse": 1.05, "mae": 0.83},
        "movie_mean": {"rmse": 0.98, "mae": 0.76},
    },
    "beats_baselines": {"rmse": True, "mae": True},
}
CURVES = {"final model": [(20, 36000.0), (40, 34000.0)], "held-out model": [(20, 33000.0)]}


def test_the_picture_is_a_png_with_or_without_metrics(tmp_path) -> None:
    for name, evaluation in (("both.png", EVALUATION), ("curve.png", None)):
        path = plot_run(CURVES, tmp_path / name, evaluation=evaluation)
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # two panels are wider than one
    assert (tmp_path / "both.png").stat().st_size != (tmp_path / "curve.png").stat().st_size


def test_runs_in_threads_can_plot_at_once(tmp_path) -> None:
    # Prefect runs overlapping flows in threads of one process; matplotlib is not thread-safe.
    with ThreadPoolExecutor(4) as pool:
        futures = [
            pool.submit(plot_run, CURVES, tmp_path / f"{i}.png", evaluation=EVALUATION)
            for i in range(8)
        ]
        paths = [future.result() for future in futures]
    assert all(path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for path in paths)


@pytest.mark.parametrize("evaluation", [EVALUATION, None])
def test_report_markdown_names_the_metrics_and_outputs(evaluation) -> None:
    text = report_markdown(
        counts={"n_ratings": 10, "n_users": 2, "n_movies": 3},
        parameters={"dataset": "ml-100k"},
        evaluation=evaluation,
        sample_user=None,
        sample_picks=None,
        paths={"similar movies": "/x/similar.parquet"},
    )
    assert "`/x/similar.parquet`" in text
    assert ("| model | 0.8500 | 0.6500 |" in text) == (evaluation is not None)
    assert metrics_rows(EVALUATION)[0] == {"model": "model", "rmse": 0.85, "mae": 0.65}
