"""What a run shows: the markdown report and the run's picture."""

from __future__ import annotations

import struct
from concurrent.futures import ThreadPoolExecutor

import pandas as pd
import pytest
from matplotlib.patches import Rectangle

from cofi.outputs.report import (
    cost_as_rmse,
    list_concentration,
    metrics_rows,
    plot_run,
    rating_verdict,
    report_markdown,
    run_figure,
)

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
CURVES = {"final model": [(20, 0.95), (40, 0.9)], "held-out model": [(20, 0.93)]}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png_size(path) -> tuple[int, int]:
    """(width, height) in pixels, from the PNG's IHDR chunk."""
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    return struct.unpack(">II", data[16:24])


def _bars(axis) -> list[Rectangle]:
    return [patch for patch in axis.patches if isinstance(patch, Rectangle)]


def test_the_learning_curve_panel_draws_each_curve_as_given() -> None:
    figure = run_figure({**CURVES, "never trained": []}, title="run 7")
    (axis,) = figure.axes[:1]
    assert len(figure.axes) == 1
    assert figure.get_suptitle() == "run 7"
    assert axis.get_title() == "learning curve"
    # one linear scale for training costs (as RMSE) and held-out errors: no scientific notation
    assert (axis.get_xlabel(), axis.get_ylabel(), axis.get_yscale()) == (
        "iteration (or epoch)",
        "error per rating (RMSE)",
        "linear",
    )
    # An empty history draws no line (and no legend entry).
    lines = {line.get_label(): line for line in axis.get_lines()}
    assert sorted(lines) == ["final model", "held-out model"]
    for label, history in CURVES.items():
        steps, costs = zip(*history, strict=True)
        assert list(lines[label].get_xdata()) == list(steps)
        assert list(lines[label].get_ydata()) == list(costs)
    legend = axis.get_legend()
    assert [text.get_text() for text in legend.get_texts()] == ["final model", "held-out model"]


def test_the_curves_panel_marks_the_held_out_rmse_of_the_model_and_the_best_baseline() -> None:
    axis = run_figure(CURVES, evaluation=EVALUATION).axes[0]
    lines = {line.get_label(): line for line in axis.get_lines()}
    assert list(lines["held-out RMSE (test)"].get_ydata()) == [0.85, 0.85]
    assert list(lines["movie_mean held-out RMSE"].get_ydata()) == [0.98, 0.98]


def test_a_cost_history_becomes_an_error_per_rating() -> None:
    # J = 1/2 * sum of squared errors: 4 ratings each off by 1 cost 2, an RMSE of 1
    assert cost_as_rmse([(0, 2.0), (10, 0.5)], 4) == [(0, 1.0), (10, 0.5)]
    assert cost_as_rmse([(0, 2.0)], 0) == []


def test_the_metrics_panel_shows_each_model_rmse_and_mae() -> None:
    figure = run_figure(CURVES, evaluation=EVALUATION)
    assert len(figure.axes) == 2
    bars = figure.axes[1]
    assert bars.get_title() == "held-out metrics (1,000 ratings)"
    names = list(EVALUATION["metrics"])
    assert [label.get_text() for label in bars.get_xticklabels()] == names
    rectangles = _bars(bars)
    # RMSE bars for every model, then MAE bars, each beside its model's tick.
    expected = [EVALUATION["metrics"][name][m] for m in ("rmse", "mae") for name in names]
    assert [r.get_height() for r in rectangles] == pytest.approx(expected)
    centres = [r.get_x() + r.get_width() / 2 for r in rectangles]
    assert centres == pytest.approx([-0.2, 0.8, 1.8, 0.2, 1.2, 2.2])
    assert [t.get_text() for t in bars.texts] == [f"{value:.3f}" for value in expected]
    assert [t.get_text() for t in bars.get_legend().get_texts()] == ["RMSE", "MAE"]


def test_the_picture_is_a_png_one_panel_wide_per_panel(tmp_path) -> None:
    both = plot_run(CURVES, tmp_path / "nested" / "both.png", evaluation=EVALUATION)
    curve = plot_run(CURVES, tmp_path / "curve.png")
    assert both == tmp_path / "nested" / "both.png"
    assert _png_size(both) == (1200, 380)
    assert _png_size(curve) == (600, 380)


def test_runs_in_threads_can_plot_at_once(tmp_path) -> None:
    # Prefect runs overlapping flows in threads of one process; matplotlib is not thread-safe.
    with ThreadPoolExecutor(4) as pool:
        futures = [
            pool.submit(plot_run, CURVES, tmp_path / f"{i}.png", evaluation=EVALUATION)
            for i in range(8)
        ]
        paths = [future.result() for future in futures]
    assert [_png_size(path) for path in paths] == [(1200, 380)] * 8


def _report(evaluation, sample_picks=None) -> str:
    return report_markdown(
        counts={"n_ratings": 12345, "n_users": 2, "n_movies": 3},
        parameters={"dataset": "ml-100k", "n_features": 10},
        evaluation=evaluation,
        sample_user=7 if sample_picks is not None else None,
        sample_picks=sample_picks,
        paths={"similar movies": "/x/similar.parquet", "model": "/x/model"},
    )


def _section(text: str, heading: str) -> list[str]:
    """The non-empty lines under ``heading`` up to the next heading."""
    lines = text.splitlines()
    start = lines.index(heading) + 1
    end = next((i for i in range(start, len(lines)) if lines[i].startswith("#")), len(lines))
    return [line for line in lines[start:end] if line]


def test_the_report_lists_data_parameters_metrics_and_outputs() -> None:
    text = _report(EVALUATION)
    assert text.splitlines()[0] == "# cofi run report"
    # it opens with the verdict, before any parameter
    assert text.splitlines()[2] == (
        "The rating model beats the baselines on 1,000 held-out ratings: "
        "RMSE 0.850 vs 0.980 for movie_mean (-13%)."
    )
    assert text.index("RMSE") < text.index("## Parameters")
    assert "**Data**: 12,345 ratings from 2 users on 3 movies." in text
    assert _section(text, "## Parameters") == [
        "| parameter | value |",
        "|---|---|",
        "| dataset | ml-100k |",
        "| n_features | 10 |",
    ]
    assert _section(text, "## Held-out evaluation (1,000 ratings)") == [
        "| model | RMSE | MAE |",
        "|---|---|---|",
        "| model | 0.8500 | 0.6500 |",
        "| global_mean | 1.0500 | 0.8300 |",
        "| movie_mean | 0.9800 | 0.7600 |",
        "The model beats the global-mean and movie-mean baselines.",
    ]
    assert _section(text, "## Outputs") == [
        "- similar movies: `/x/similar.parquet`",
        "- model: `/x/model`",
    ]
    assert "Top picks" not in text


def test_the_report_says_when_the_model_loses_to_a_baseline() -> None:
    losing = {**EVALUATION, "beats_baselines": {"rmse": True, "mae": False}}
    text = _report(losing)
    assert "The model does **not** beat the global-mean and movie-mean baselines." in text
    assert "The model beats" not in text


def test_without_a_hold_out_the_report_has_no_metrics_section() -> None:
    text = _report(None)
    assert "Held-out" not in text and "RMSE" not in text
    assert _section(text, "## Outputs")[0] == "- similar movies: `/x/similar.parquet`"


def test_the_report_shows_the_sample_users_picks_in_rank_order() -> None:
    picks = pd.DataFrame(
        {"rank": [1, 2], "title": ["Heat (1995)", "Fargo (1996)"], "predicted_rating": [4.876, 4.5]}
    )
    text = _report(EVALUATION, picks)
    assert _section(text, "## Top picks for user 7") == [
        "| rank | title | predicted |",
        "|---|---|---|",
        "| 1 | Heat (1995) | 4.88 |",
        "| 2 | Fargo (1996) | 4.50 |",
    ]
    # No rows to show: no section.
    assert "Top picks" not in _report(EVALUATION, picks.iloc[:0])


def test_metrics_rows_give_one_row_per_model_rounded_to_four_places() -> None:
    evaluation = {
        "metrics": {"model": {"rmse": 0.123456, "mae": 0.1}, "global_mean": {"rmse": 1.0}}
    }
    assert metrics_rows(evaluation) == [
        {"model": "model", "rmse": 0.1235, "mae": 0.1},
        {"model": "global_mean", "rmse": 1.0},
    ]


def _ranking(precision: float, ndcg: float) -> dict:
    return {
        "k": 10,
        "threshold": None,
        "n_users": 5,
        "n_users_without_recommendations": 0,
        "precision_at_k": precision,
        "recall_at_k": 0.2,
        "ndcg_at_k": ndcg,
        "map_at_k": 0.1,
        "hit_rate_at_k": 0.5,
        "catalog_coverage": 0.25,
    }


PUBLISHED_LIST = {
    "k": 10,
    "threshold": None,
    "list": _ranking(0.3, 0.4),
    "popularity": _ranking(0.2, 0.3),
    "improvement": {
        "precision_at_k": 0.5,
        "recall_at_k": 0.0,
        "ndcg_at_k": 1 / 3,
        "map_at_k": 0.0,
        "hit_rate_at_k": 0.0,
        "catalog_coverage": 0.0,
    },
    "beats_popularity": True,
}


def test_the_report_opens_with_whether_the_list_beats_popularity() -> None:
    text = report_markdown(
        counts={"n_ratings": 1, "n_users": 1, "n_movies": 1},
        parameters={},
        evaluation=EVALUATION,
        sample_user=None,
        sample_picks=None,
        paths={},
        published_list=PUBLISHED_LIST,
    )
    assert text.splitlines()[2] == (
        "The published list beats the most-popular list: P@10 0.300 vs 0.200 (+50%)."
    )
    section = _section(
        text, "## The published list against popularity (top 10; relevant: every held-out movie)"
    )
    assert section[2] == "| published list | 0.3000 | 0.2000 | 0.4000 | 0.1000 | 0.5000 | 0.2500 |"
    losing = {**PUBLISHED_LIST, "beats_popularity": False}
    text = report_markdown(
        counts={"n_ratings": 1, "n_users": 1, "n_movies": 1},
        parameters={},
        evaluation=EVALUATION,
        sample_user=None,
        sample_picks=None,
        paths={},
        published_list=losing,
        predicts_ratings=False,
    )
    assert "The published list does not beat the most-popular list" in text
    assert "`predicted_rating` holds its preference score" in text


def test_metrics_rows_add_the_list_and_popularity_with_every_column() -> None:
    rows = metrics_rows(EVALUATION, PUBLISHED_LIST)
    assert [row["model"] for row in rows] == [
        "model",
        "global_mean",
        "movie_mean",
        "published list",
        "popularity",
        "change (relative)",
    ]
    assert all(row.keys() == rows[0].keys() for row in rows)
    assert rows[3]["precision_at_k"] == 0.3 and rows[3]["rmse"] is None
    assert rows[0]["ndcg_at_k"] is None


def test_concentration_counts_distinct_movies_popular_rows_and_the_most_held_movie() -> None:
    # movie 1 is rated 3 times, 2 twice, 3 and 4 once: with n_popular=2, {1, 2} are popular
    ratings = pd.DataFrame({"user_id": [1, 2, 3, 1, 2, 3, 4], "movie_id": [1, 1, 1, 2, 2, 3, 4]})
    lists = pd.DataFrame({"user_id": [1, 1, 2, 2, 3, 3], "movie_id": [3, 4, 3, 1, 3, 2]})
    titles = pd.Series({3: "Heat (1995)"})
    figures = list_concentration(lists, ratings, n_popular=2, titles=titles)
    assert figures == {
        "rows": 6,
        "distinct_movies": 4,
        "share_in_top_50": pytest.approx(2 / 6),
        "top_movie": 3,
        "share_with_top_movie": 1.0,
        "top_title": "Heat (1995)",
    }
    assert list_concentration(lists.iloc[:0], ratings)["share_in_top_50"] is None


CONCENTRATION = {
    "list": {
        "rows": 20,
        "distinct_movies": 12,
        "share_in_top_50": 0.485,
        "top_movie": 3,
        "share_with_top_movie": 0.47,
        "top_title": "Heat (1995)",
    },
    "popularity": {
        "rows": 20,
        "distinct_movies": 4,
        "share_in_top_50": 1.0,
        "top_movie": 1,
        "share_with_top_movie": 1.0,
        "top_title": None,
    },
}


def test_the_report_leads_with_the_verdict_then_the_run_then_the_parameters_as_used() -> None:
    text = report_markdown(
        counts={"n_ratings": 1, "n_users": 1, "n_movies": 1},
        parameters={"dataset": "ml-100k", "holdout_fraction": 0.1},
        evaluation=EVALUATION,
        sample_user=None,
        sample_picks=None,
        paths={"model": "runs/ml-100k-1/model"},
        published_list=PUBLISHED_LIST,
        title="ml-100k: biased, 30 features, 100,000 ratings",
        run={"model_id": "abc123", "fit_seconds": 5.44, "steps": 120, "fallback_users": 3},
        concentration=CONCENTRATION,
        configs={"rating model": {"objective": "biased", "lambda_": 15.0}, "ranking model": {}},
    )
    lines = text.splitlines()
    assert lines[0] == "# cofi run report: ml-100k: biased, 30 features, 100,000 ratings"
    assert lines[2].startswith("The published list beats the most-popular list")
    assert lines[4].startswith("The rating model beats the baselines")
    verdict = _section(text, "## Held-out evaluation (1,000 ratings)")
    assert verdict  # the detail follows the verdict table
    table = text[text.index("| every user's top 10") : text.index("**Run**")]
    assert "| P@10 | 0.3000 | 0.2000 | +50% |" in table
    assert "| distinct movies in the lists | 12 | 4 | +200% |" in table
    assert "| rows among the 50 most-rated movies | 48.5% | 100.0% | - |" in table
    assert (
        "| users whose list holds its most frequent movie | 47% (Heat (1995)) | 100% (movie 1) | - |"
        in table
    )
    assert (
        "**Run**: model `abc123` fitted in 5.4 s (120 steps); "
        "3 user(s) got the popular fallback." in text
    )
    assert text.index("**Run**") < text.index("## Parameters")
    # the objective's default lambda, resolved, is shown; a field a model lacks is "-"
    assert "| training (as used) | rating model | ranking model |" in text
    assert "| lambda_ | 15 | - |" in text
    assert _section(text, "## Outputs") == ["- model: `runs/ml-100k-1/model`"]


def test_metrics_rows_carry_the_concentration_and_the_relative_change() -> None:
    rows = metrics_rows(EVALUATION, PUBLISHED_LIST, CONCENTRATION)
    assert [row["model"] for row in rows][-3:] == [
        "published list",
        "popularity",
        "change (relative)",
    ]
    assert all(row.keys() == rows[0].keys() for row in rows)
    assert rows[-3]["share_in_top_50"] == 0.485 and rows[-2]["distinct_movies"] == 4
    assert rows[-1]["precision_at_k"] == 0.5 and rows[-1]["distinct_movies"] == 2.0
    assert rows[0]["share_in_top_50"] is None


def test_the_rating_verdict_says_when_the_model_loses() -> None:
    losing = {**EVALUATION, "beats_baselines": {"rmse": False, "mae": True}}
    assert rating_verdict(losing).startswith("The rating model does not beat the baselines")
