"""What a run shows people: the metrics table, a markdown report and a learning-curve picture."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from cofi.evaluation.comparison import LIST_METRICS

if TYPE_CHECKING:
    from matplotlib.figure import Figure

_PLOT_LOCK = threading.Lock()


def metrics_rows(report: dict, published_list: dict | None = None) -> list[dict]:
    """One row per model (the model, then each baseline) with its metrics, for a table.

    With ``published_list`` (a :func:`cofi.evaluation.comparison.published_list_report`), two
    more rows, ``published list`` and ``popularity``, hold its ranking metrics; every row has
    every column (None where a metric does not apply).
    """
    ranking = {metric: None for metric in LIST_METRICS} if published_list else {}
    rows = []
    for name, values in report["metrics"].items():
        rows.append(
            {
                "model": name,
                **{metric: round(value, 4) for metric, value in values.items()},
                **ranking,
            }
        )
    if published_list:
        rating = {metric: None for metric in next(iter(report["metrics"].values()))}
        for label, name in (("published list", "list"), ("popularity", "popularity")):
            values = published_list[name]
            rows.append(
                {
                    "model": label,
                    **rating,
                    **{metric: _rounded(values[metric]) for metric in LIST_METRICS},
                }
            )
    return rows


def _rounded(value: float | None) -> float | None:
    return None if value is None or value != value else round(value, 4)


def list_verdict(published_list: dict) -> str:
    """The sentence the report opens with: does the published list beat the most-popular one."""
    from cofi.evaluation.comparison import format_list_verdict

    return format_list_verdict(published_list) + "."


def report_markdown(
    *,
    counts: dict,
    parameters: dict,
    evaluation: dict | None,
    sample_user: int | None,
    sample_picks: pd.DataFrame | None,
    paths: dict,
    published_list: dict | None = None,
    predicts_ratings: bool = True,
) -> str:
    """The run report: data counts, parameters, metrics against baselines, a user's top picks.

    Args:
        counts: ``n_ratings``, ``n_users``, ``n_movies``.
        parameters: the flow's parameters.
        evaluation: a :func:`cofi.evaluation.holdout.evaluate` report, or None when there was no hold-out.
        sample_user: the user whose picks are shown.
        sample_picks: that user's rows of the recommendations table (``rank``, ``title``,
            ``predicted_rating``).
        paths: label -> path of the run's outputs.
        published_list: a :func:`cofi.evaluation.comparison.published_list_report`; the report
            opens with its verdict.
        predicts_ratings: whether the table's ``predicted_rating`` is a rating (else a score).
    """
    lines = ["# cofi run report", ""]
    if published_list:
        lines += [list_verdict(published_list), ""]
    if not predicts_ratings:
        lines += [
            "Note: the rating model does not predict ratings, so `predicted_rating` holds its "
            "preference score, not a rating on the dataset's scale.",
            "",
        ]
    lines += [
        f"**Data**: {counts['n_ratings']:,} ratings from {counts['n_users']:,} users on "
        f"{counts['n_movies']:,} movies.",
        "",
        "## Parameters",
        "",
        "| parameter | value |",
        "|---|---|",
        *[f"| {name} | {value} |" for name, value in parameters.items()],
        "",
    ]
    if evaluation:
        verdict = "beats" if all(evaluation["beats_baselines"].values()) else "does **not** beat"
        lines += [
            f"## Held-out evaluation ({evaluation['n_test']:,} ratings)",
            "",
            "| model | RMSE | MAE |",
            "|---|---|---|",
            *[
                f"| {name} | {values['rmse']:.4f} | {values['mae']:.4f} |"
                for name, values in evaluation["metrics"].items()
            ],
            "",
            f"The model {verdict} the global-mean and movie-mean baselines.",
            "",
        ]
    if published_list:
        relevant = (
            "every held-out movie"
            if published_list["threshold"] is None
            else f"rated >= {published_list['threshold']:g}"
        )
        names = ("P", "R", "NDCG", "MAP", "hit rate")
        k = published_list["k"]
        gains = published_list["improvement"]
        lines += [
            f"## The published list against popularity (top {k}; relevant: {relevant})",
            "",
            "| list | " + " | ".join(f"{name}@{k}" for name in names) + " | coverage |",
            "|---|" + "---|" * (len(names) + 1),
            *[
                f"| {label} | "
                + " | ".join(_cell(published_list[name][metric]) for metric in LIST_METRICS)
                + " |"
                for label, name in (("published list", "list"), ("popularity", "popularity"))
            ],
            "| change | "
            + " | ".join(
                "-" if gains[metric] is None else f"{gains[metric]:+.0%}" for metric in LIST_METRICS
            )
            + " |",
            "",
        ]
    if sample_user is not None and sample_picks is not None and len(sample_picks):
        lines += [
            f"## Top picks for user {sample_user}",
            "",
            "| rank | title | predicted |",
            "|---|---|---|",
            *[
                f"| {row.rank} | {row.title} | {row.predicted_rating:.2f} |"
                for row in sample_picks.itertuples()
            ],
            "",
        ]
    lines += ["## Outputs", "", *[f"- {label}: `{path}`" for label, path in paths.items()], ""]
    return "\n".join(lines)


def _cell(value: float | None) -> str:
    return "-" if value is None or value != value else f"{value:.4f}"


def plot_run(
    curves: dict[str, list[tuple[int, float]]],
    path: Path,
    *,
    evaluation: dict | None = None,
    title: str = "cofi run",
) -> Path:
    """Write :func:`run_figure`'s picture as a PNG at ``path``; returns ``path``."""
    with _PLOT_LOCK:
        figure = _run_figure(curves, evaluation=evaluation, title=title)
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path)
    return path


def run_figure(
    curves: dict[str, list[tuple[int, float]]],
    *,
    evaluation: dict | None = None,
    title: str = "cofi run",
) -> Figure:
    """The run's picture: learning curves, and held-out metrics beside them.

    Args:
        curves: label -> (step, cost) pairs, one line each (e.g. the held-out and final models).
        evaluation: a :func:`cofi.evaluation.holdout.evaluate` report; when given, a second panel
            shows RMSE and MAE of the model and each baseline as bars.
        title: the figure's title.
    """
    with _PLOT_LOCK:
        return _run_figure(curves, evaluation=evaluation, title=title)


def _run_figure(
    curves: dict[str, list[tuple[int, float]]], *, evaluation: dict | None, title: str
) -> Figure:
    # Matplotlib is not thread-safe (its mathtext parser, used for log-axis labels, keeps shared
    # state): runs in threads of one process, as Prefect's thread pool runs them, take turns.
    # A bare Figure, not pyplot's, so no global figure list is kept or needs closing; matplotlib
    # is imported only when a picture is drawn.
    from matplotlib.figure import Figure

    panels = 2 if evaluation else 1
    figure = Figure(figsize=(6 * panels, 3.8), dpi=100)
    axes = figure.subplots(1, panels, squeeze=False)
    curve_axis = axes[0][0]
    for label, history in curves.items():
        if history:
            steps, costs = zip(*history, strict=True)
            curve_axis.plot(steps, costs, marker="o", markersize=3, label=label)
    curve_axis.set_xlabel("iteration (or epoch)")
    curve_axis.set_ylabel("cost J")
    curve_axis.set_yscale("log")
    curve_axis.set_title("learning curve")
    curve_axis.legend()
    if evaluation:
        bars = axes[0][1]
        names = list(evaluation["metrics"])
        positions = range(len(names))
        for offset, metric in ((-0.2, "rmse"), (0.2, "mae")):
            values = [evaluation["metrics"][name][metric] for name in names]
            drawn = bars.bar(
                [p + offset for p in positions], values, width=0.4, label=metric.upper()
            )
            bars.bar_label(drawn, fmt="%.3f", fontsize=7)
        bars.set_xticks(list(positions), names)
        bars.set_ylabel("error on held-out ratings")
        bars.set_title(f"held-out metrics ({evaluation['n_test']:,} ratings)")
        bars.legend(loc="lower right")
    figure.suptitle(title)
    figure.tight_layout()
    return figure
