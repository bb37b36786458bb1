"""What a run shows people: the metrics table, a markdown report and a learning-curve picture.

Both open with the verdict: the rating model against the baselines, the published list against
popularity (and how concentrated each is), then what the run cost and made; the parameters as
they were used come after.
"""

from __future__ import annotations

import math
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from cofi.evaluation.comparison import LIST_METRICS

if TYPE_CHECKING:
    from matplotlib.figure import Figure

_PLOT_LOCK = threading.Lock()


def metrics_rows(
    report: dict, published_list: dict | None = None, concentration: dict | None = None
) -> list[dict]:
    """One row per model (the model, then each baseline) with its metrics, for a table.

    With ``published_list`` (a :func:`cofi.evaluation.comparison.published_list_report`), two
    more rows, ``published list`` and ``popularity``, hold its ranking metrics, then a
    ``change`` row their relative difference; with ``concentration`` (``list`` and
    ``popularity``, each a :func:`list_concentration`) those rows hold its figures too. Every
    row has every column (None where a metric does not apply).
    """
    ranking = {metric: None for metric in LIST_METRICS} if published_list else {}
    spread = dict.fromkeys(CONCENTRATION, None) if concentration else {}
    ranking = {**ranking, **spread}
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
            spread = concentration[name] if concentration else {}
            rows.append(
                {
                    "model": label,
                    **rating,
                    **{metric: _rounded(values[metric]) for metric in LIST_METRICS},
                    **{figure: _rounded(spread[figure]) for figure in CONCENTRATION if spread},
                }
            )
        gains = published_list["improvement"]
        rows.append(
            {
                "model": "change (relative)",
                **rating,
                **{metric: _rounded(gains.get(metric)) for metric in LIST_METRICS},
                **{
                    figure: _rounded(
                        _relative(concentration["list"], concentration["popularity"], figure)
                    )
                    for figure in CONCENTRATION
                    if concentration
                },
            }
        )
    return rows


#: A list's concentration figures (:func:`list_concentration`), as the metrics table names them.
CONCENTRATION = ("distinct_movies", "share_in_top_50", "share_with_top_movie")


def list_concentration(
    lists: pd.DataFrame,
    ratings: pd.DataFrame,
    n_popular: int = 50,
    titles: pd.Series | None = None,
) -> dict:
    """How much a set of top-N lists leans on a few popular movies.

    Args:
        lists: ``user_id`` and ``movie_id``, a row per recommendation.
        ratings: the ratings that say which movies are most rated (``movie_id``).
        n_popular: how many of the most-rated movies count as "popular".
        titles: movie id -> title, to name the most frequent movie (``top_title``).

    Returns:
        ``rows``; ``distinct_movies``; ``share_in_top_50``: the share of rows that are among the
        ``n_popular`` most-rated movies; ``top_movie``: the movie most lists hold, and
        ``share_with_top_movie``: the share of users whose list holds it; ``top_title``.
    """
    if lists.empty:
        return {
            "rows": 0,
            "distinct_movies": 0,
            "share_in_top_50": None,
            "top_movie": None,
            "share_with_top_movie": None,
            "top_title": None,
        }
    counts = ratings["movie_id"].value_counts()
    ranked = counts.reset_index().sort_values(["count", "movie_id"], ascending=[False, True])
    popular = ranked["movie_id"].to_numpy()[:n_popular]
    movies = lists["movie_id"].to_numpy()
    holders = lists.drop_duplicates(["user_id", "movie_id"])["movie_id"].value_counts()
    top_movie = int(holders.sort_index().idxmax())
    return {
        "rows": int(len(lists)),
        "distinct_movies": int(pd.unique(movies).size),
        "share_in_top_50": float(np.isin(movies, popular).mean()),
        "top_movie": top_movie,
        "share_with_top_movie": float(holders[top_movie] / lists["user_id"].nunique()),
        "top_title": None if titles is None else titles.get(top_movie),
    }


def _relative(mine: dict, theirs: dict, figure: str) -> float | None:
    if mine.get(figure) is None or not theirs.get(figure):
        return None
    return (mine[figure] - theirs[figure]) / theirs[figure]


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
    title: str | None = None,
    run: dict | None = None,
    concentration: dict | None = None,
    configs: dict[str, dict] | None = None,
) -> str:
    """The run report: the verdict first, then what the run made, the detail, the parameters.

    Args:
        counts: ``n_ratings``, ``n_users``, ``n_movies``.
        parameters: the run's own parameters (not the models' configurations), as used.
        evaluation: a :func:`cofi.evaluation.holdout.evaluate` report, or None when there was no hold-out.
        sample_user: the user whose picks are shown.
        sample_picks: that user's rows of the recommendations table (``rank``, ``title``,
            ``predicted_rating``).
        paths: label -> path of the run's outputs (relative to the data folder, as shown).
        published_list: a :func:`cofi.evaluation.comparison.published_list_report`; the report
            opens with its verdict.
        predicts_ratings: whether the table's ``predicted_rating`` is a rating (else a score).
        title: what the run was (dataset, objective, size), after the heading.
        run: ``model_id``, ``fit_seconds``, ``steps``, and optionally ``ranking_model_id``,
            ``fallback_users``, ``warm_start``.
        concentration: ``list`` and ``popularity``, each a :func:`list_concentration` (with
            ``top_title``), shown beside the ranking metrics.
        configs: label (``rating model``, ``ranking model``) -> the configuration it trained
            with, every field resolved.
    """
    lines = [f"# cofi run report: {title}" if title else "# cofi run report", ""]
    if published_list:
        lines += [list_verdict(published_list), ""]
    if evaluation:
        lines += [rating_verdict(evaluation), ""]
    if not predicts_ratings:
        lines += [
            "Note: the rating model does not predict ratings, so `predicted_rating` holds its "
            "preference score, not a rating on the dataset's scale.",
            "",
        ]
    if published_list:
        lines += _verdict_table(published_list, concentration)
    if run:
        lines += [_run_line(run), ""]
    lines += [
        f"**Data**: {counts['n_ratings']:,} ratings from {counts['n_users']:,} users on "
        f"{counts['n_movies']:,} movies.",
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
    lines += [
        "## Parameters",
        "",
        "| parameter | value |",
        "|---|---|",
        *[f"| {name} | {_value(value)} |" for name, value in parameters.items()],
        "",
    ]
    if configs:
        labels = list(configs)
        fields = list(dict.fromkeys(name for config in configs.values() for name in config))
        lines += [
            "| training (as used) | " + " | ".join(labels) + " |",
            "|---|" + "---|" * len(labels),
            *[
                f"| {name} | "
                + " | ".join(_value(configs[label].get(name, "-")) for label in labels)
                + " |"
                for name in fields
            ],
            "",
        ]
    lines += ["## Outputs", "", *[f"- {label}: `{path}`" for label, path in paths.items()], ""]
    return "\n".join(lines)


def rating_verdict(evaluation: dict) -> str:
    """One sentence: the rating model's held-out RMSE against the best baseline's."""
    metrics = evaluation["metrics"]
    baselines = {name: values for name, values in metrics.items() if name != "model"}
    best = min(baselines, key=lambda name: baselines[name]["rmse"])
    mine, theirs = metrics["model"]["rmse"], baselines[best]["rmse"]
    verdict = "beats" if all(evaluation["beats_baselines"].values()) else "does not beat"
    change = f" ({(mine - theirs) / theirs:+.0%})" if theirs else ""
    return (
        f"The rating model {verdict} the baselines on {evaluation['n_test']:,} held-out ratings: "
        f"RMSE {mine:.3f} vs {theirs:.3f} for {best}{change}."
    )


def _verdict_table(published_list: dict, concentration: dict | None) -> list[str]:
    k = published_list["k"]
    mine, theirs, gains = (
        published_list["list"],
        published_list["popularity"],
        published_list["improvement"],
    )
    rows = [
        (f"P@{k}", _cell(mine["precision_at_k"]), _cell(theirs["precision_at_k"]),
         _change(gains["precision_at_k"])),
        (f"NDCG@{k}", _cell(mine["ndcg_at_k"]), _cell(theirs["ndcg_at_k"]),
         _change(gains["ndcg_at_k"])),
        ("catalog coverage", _share(mine["catalog_coverage"]), _share(theirs["catalog_coverage"]),
         _change(gains["catalog_coverage"])),
    ]  # fmt: skip
    if concentration:
        listed, popular = concentration["list"], concentration["popularity"]
        rows += [
            ("distinct movies in the lists", f"{listed['distinct_movies']:,}",
             f"{popular['distinct_movies']:,}",
             _change(_relative(listed, popular, "distinct_movies"))),
            ("rows among the 50 most-rated movies", _share(listed["share_in_top_50"]),
             _share(popular["share_in_top_50"]), "-"),
            ("users whose list holds its most frequent movie",
             _holders(listed), _holders(popular), "-"),
        ]  # fmt: skip
    return [
        "| every user's top " + f"{k} | published list | popularity | change |",
        "|---|---|---|---|",
        *[
            f"| {label} | {ours} | {baseline} | {change} |"
            for label, ours, baseline, change in rows
        ],
        "",
    ]


def _run_line(run: dict) -> str:
    parts = [
        f"model `{run['model_id']}` fitted in {run['fit_seconds']:.1f} s ({run['steps']:,} steps)"
    ]
    if run.get("ranking_model_id"):
        parts.append(f"ranking model `{run['ranking_model_id']}`")
    if run.get("fallback_users") is not None:
        parts.append(f"{run['fallback_users']:,} user(s) got the popular fallback")
    if run.get("warm_start"):
        parts.append(f"warm start: {run['warm_start']}")
    return "**Run**: " + "; ".join(parts) + "."


def _holders(figures: dict) -> str:
    share = figures.get("share_with_top_movie")
    if share is None:
        return "-"
    name = figures.get("top_title") or f"movie {figures['top_movie']}"
    return f"{share:.0%} ({name})"


def _share(value: float | None) -> str:
    return "-" if value is None or value != value else f"{value:.1%}"


def _change(value: float | None) -> str:
    return "-" if value is None or value != value else f"{value:+.0%}"


def _value(value: object) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return "-" if value is None else str(value)


def _cell(value: float | None) -> str:
    return "-" if value is None or value != value else f"{value:.4f}"


def cost_as_rmse(history: list[tuple[int, float]], n_ratings: int) -> list[tuple[int, float]]:
    r"""A training-cost history on the scale of a rating error, so fits on different row counts
    and held-out errors can share an axis.

    With :math:`J = \tfrac12 \sum (\hat y - y)^2 + \text{penalty}` over ``n_ratings``
    ratings, :math:`\sqrt{2J/n}` is the training RMSE plus the penalty's share (an upper bound).
    """
    if n_ratings <= 0:
        return []
    return [(int(step), math.sqrt(max(2.0 * cost, 0.0) / n_ratings)) for step, cost in history]


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
        curves: label -> (step, error per rating) pairs, one line each: training costs as RMSE
            (:func:`cost_as_rmse`) and validation RMSE checks, on one scale.
        evaluation: a :func:`cofi.evaluation.holdout.evaluate` report; when given, the curves'
            panel marks the held-out RMSE of the model and of the best baseline, and a second
            panel shows RMSE and MAE of the model and each baseline as bars.
        title: the figure's title (dataset, objective and size).
    """
    with _PLOT_LOCK:
        return _run_figure(curves, evaluation=evaluation, title=title)


def _run_figure(
    curves: dict[str, list[tuple[int, float]]], *, evaluation: dict | None, title: str
) -> Figure:
    # Matplotlib is not thread-safe (its mathtext parser keeps shared state): runs in threads
    # of one process, as Prefect's thread pool runs them, take turns. A bare Figure, not
    # pyplot's, so no global figure list is kept or needs closing; matplotlib is imported only
    # when a picture is drawn.
    from matplotlib.figure import Figure

    panels = 2 if evaluation else 1
    figure = Figure(figsize=(6 * panels, 3.8), dpi=100)
    axes = figure.subplots(1, panels, squeeze=False)
    curve_axis = axes[0][0]
    for label, history in curves.items():
        if history:
            steps, errors = zip(*history, strict=True)
            curve_axis.plot(steps, errors, marker="o", markersize=3, label=label)
    if evaluation:
        metrics = evaluation["metrics"]
        baselines = {name: values for name, values in metrics.items() if name != "model"}
        curve_axis.axhline(
            metrics["model"]["rmse"], color="black", linewidth=1, label="held-out RMSE (test)"
        )
        if baselines:
            best = min(baselines, key=lambda name: baselines[name]["rmse"])
            curve_axis.axhline(
                baselines[best]["rmse"],
                color="grey",
                linestyle="--",
                linewidth=1,
                label=f"{best} held-out RMSE",
            )
    curve_axis.set_xlabel("iteration (or epoch)")
    curve_axis.set_ylabel("error per rating (RMSE)")
    curve_axis.ticklabel_format(axis="y", style="plain", useOffset=False)
    curve_axis.set_title("learning curve")
    curve_axis.legend(fontsize=7)
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
