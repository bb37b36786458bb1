"""What a run shows people: the metrics table, a markdown report and a learning-curve picture."""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def metrics_rows(report: dict) -> list[dict]:
    """One row per model (the model, then each baseline) with its metrics, for a table."""
    rows = []
    for name, values in report["metrics"].items():
        rows.append(
            {"model": name, **{metric: round(value, 4) for metric, value in values.items()}}
        )
    return rows


def report_markdown(
    *,
    counts: dict,
    parameters: dict,
    evaluation: dict | None,
    sample_user: int | None,
    sample_picks: pd.DataFrame | None,
    paths: dict,
) -> str:
    """The run report: data counts, parameters, metrics against baselines, a user's top picks.

    Args:
        counts: ``n_ratings``, ``n_users``, ``n_movies``.
        parameters: the flow's parameters.
        evaluation: a :func:`cofi.evaluation.evaluate` report, or None when there was no hold-out.
        sample_user: the user whose picks are shown.
        sample_picks: that user's rows of the recommendations table (``rank``, ``title``,
            ``predicted_rating``).
        paths: label -> path of the run's outputs.
    """
    lines = [
        "# cofi run report",
        "",
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


def plot_learning_curve(
    loss_history: list[tuple[int, float]],
    path: Path,
    *,
    validation_history: list[tuple[int, float]] | None = None,
    title: str = "training cost",
) -> Path:
    """Write the cost (and validation RMSE, if any) against the step as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 3.5), dpi=100)
    steps, costs = zip(*loss_history, strict=True) if loss_history else ((), ())
    axis.plot(steps, costs, marker="o", markersize=3, label="cost J")
    axis.set_xlabel("iteration (or epoch)")
    axis.set_ylabel("cost J")
    axis.set_yscale("log")
    axis.set_title(title)
    if validation_history:
        other = axis.twinx()
        v_steps, v_rmse = zip(*validation_history, strict=True)
        other.plot(
            v_steps, v_rmse, color="tab:orange", marker="s", markersize=3, label="validation RMSE"
        )
        other.set_ylabel("validation RMSE")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return path
