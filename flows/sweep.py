"""The ``cofi-sweep`` flow: ingest -> hold-out split -> fit/validation split -> score each trial.

Every trial is fitted on part of the training ratings and scored on the rest; the test ratings
that ``holdout_fraction`` carves out (the same split as ``cofi-pipeline``'s for the same seed)
are never read. Run it ad hoc with ``python -m flows.sweep`` (``--help`` lists the options).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from cofi.runtime import import_tensorflow  # noqa: E402

# TensorFlow first, quietly, so that no later import prints its start-up notice
import_tensorflow()

import pandas as pd  # noqa: E402
from prefect import flow, unmapped  # noqa: E402
from prefect.task_runners import ThreadPoolTaskRunner  # noqa: E402

from cofi import settings  # noqa: E402
from cofi.errors import CofiError  # noqa: E402
from cofi.evaluation.sweep import expand  # noqa: E402
from cofi.outputs.publish import new_run_dir  # noqa: E402
from flows.parameters import (  # noqa: E402
    SweepLaunchOptions,
    SweepParameters,
    add_options,
    parse,
    takes,
)
from tasks.ingest import dataset_key, ingest_movielens  # noqa: E402
from tasks.matrices import build_matrices  # noqa: E402
from tasks.sweep import prepare_sweep_data, score_trial, write_sweep_results  # noqa: E402


# One trial at a time by default: a single fit already keeps every core busy, and trials that
# share the CPUs would report inflated fit seconds (the tie-breaker between equal scores).
@flow(name="cofi-sweep", log_prints=True, task_runner=ThreadPoolTaskRunner(max_workers=1))
@takes(SweepParameters)
def cofi_sweep(**parameters: Any) -> dict:
    """Score hyperparameter configurations on validation ratings and pick the best.

    Takes the fields of :class:`flows.parameters.SweepParameters`.

    Returns:
        A summary: run folder, the split and result paths, the trials' count and the best trial.
    """
    # A bad space fails here, before anything is ingested or trained.
    params = SweepParameters(**parameters)
    space = params.space()
    configs = expand(space, params.seed)
    print(f"{space.kind} sweep of {len(configs)} configuration(s) over {space.fields}")

    root = (Path(params.data_dir) if params.data_dir else settings.data_dir()).resolve()
    ingested = ingest_movielens(params.dataset, params.source, str(root), params.quarantine)
    run_dir = new_run_dir(root, f"sweep-{dataset_key(params.dataset, params.source)}")
    matrices = build_matrices(
        ingested["ratings_path"],
        ingested["movies_path"],
        str(root),
        params.holdout_fraction,
        params.seed,
    )
    split = prepare_sweep_data(
        matrices["train_path"], str(run_dir / "sweep"), params.validation_fraction, params.seed
    )
    trials = score_trial.map(
        unmapped(split["fit_path"]),
        unmapped(split["validation_path"]),
        configs,
        list(range(len(configs))),
        unmapped(params.k),
        unmapped(params.min_movie_ratings),
    )
    written = write_sweep_results(trials.result(), str(run_dir), params.metric, split["n_fit"])
    summary = {
        "run_dir": str(run_dir),
        "space": space.model_dump(mode="json", exclude_none=True),
        "metric": params.metric,
        "n_trials": len(configs),
        "train_path": matrices["train_path"],
        "test_path": matrices.get("test_path"),
        "fit_path": split["fit_path"],
        "validation_path": split["validation_path"],
        "results_path": written["results_path"],
        "best_config_path": written["best_config_path"],
        "best_config_json": written["best_config_json"],
        "best": written["best"],
    }
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2, allow_nan=False))
    return summary


def parse_args(argv: list[str] | None = None) -> tuple[SweepParameters, SweepLaunchOptions]:
    """The command line, made from the fields of SweepParameters and SweepLaunchOptions."""
    parser = argparse.ArgumentParser(
        prog="python -m flows.sweep",
        description=(
            "Sweep cofi's hyperparameters: fit each configuration on part of the training "
            "ratings, score it on the rest, and report the best. Test ratings are never used."
        ),
    )
    add_options(parser, SweepParameters)
    add_options(parser, SweepLaunchOptions)
    params, options = parse(parser, argv, SweepParameters, SweepLaunchOptions)
    return params, options


def format_results(results: pd.DataFrame) -> str:
    """The results table as plain text, scores to four decimals."""
    return results.to_string(
        index=False, float_format=lambda value: f"{value:.4f}", na_rep="-", max_colwidth=40
    )


def main(argv: list[str] | None = None) -> int:
    params, options = parse_args(argv)
    flow_to_run = cofi_sweep
    if options.parallel > 1:
        flow_to_run = cofi_sweep.with_options(
            task_runner=ThreadPoolTaskRunner(max_workers=options.parallel)
        )
    summary = flow_to_run(**params.model_dump())
    best = summary["best"]
    print()
    print(format_results(pd.read_parquet(summary["results_path"])))
    print()
    print(f"best by {summary['metric']}: trial {best['trial']} {json.dumps(best['config'])}")
    scores = ", ".join(
        f"{name} {value:.4f}" if isinstance(value, float) else f"{name} {value}"
        for name, value in best["metrics"].items()
    )
    print(f"scores:          {scores}")
    print(f"best config:     {summary['best_config_json']}")
    print(f"run folder:      {summary['run_dir']}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except CofiError as error:
        # A problem the user can fix: one line, not a traceback.
        sys.exit(f"cofi-sweep: {error}")
