"""cofi's scheduled deployments, served by one long-running process.

``python -m flows.serve`` registers and runs, until it is stopped:

- ``cofi-pipeline/nightly``: the pipeline on ml-latest-small, every day at 03:00 UTC
  (``--cron`` or ``COFI_NIGHTLY_CRON`` moves it);
- ``cofi-sweep/weekly``: the default hyperparameter sweep, Sundays at 04:00 UTC.

It needs a Prefect API (``PREFECT_API_URL``, e.g. from ``prefect server start``). The same
deployments for a work pool and ``prefect worker`` are in ``prefect.yaml``.
"""

from __future__ import annotations

import argparse
import os
import sys

from prefect import serve
from prefect.deployments.runner import RunnerDeployment
from prefect.schedules import Cron, Schedule

from flows.parameters import form_schema
from flows.pipeline import cofi_pipeline
from flows.sweep import cofi_sweep

NIGHTLY_CRON_ENV = "COFI_NIGHTLY_CRON"
DEFAULT_NIGHTLY_CRON = "0 3 * * *"
WEEKLY_SWEEP_CRON = "0 4 * * 0"
# Cron times are read in UTC so the schedule does not move with the host's zone or with DST.
TIMEZONE = "UTC"
DATASET = "ml-latest-small"
TAGS = ["cofi"]


def _cron(expression: str) -> Schedule:
    """A cron schedule in UTC; raises ValueError when ``expression`` is not valid cron."""
    return Cron(expression, timezone=TIMEZONE)


def deployments(nightly_cron: str = DEFAULT_NIGHTLY_CRON) -> list[RunnerDeployment]:
    """The nightly pipeline and weekly sweep deployments.

    Args:
        nightly_cron: when the pipeline runs, as a cron expression in UTC.

    Returns:
        ``cofi-pipeline/nightly`` and ``cofi-sweep/weekly``, ready for ``prefect.serve``.
    """
    nightly = cofi_pipeline.to_deployment(
        name="nightly",
        schedules=[_cron(nightly_cron)],
        parameters={"dataset": DATASET},
        tags=[*TAGS, "nightly"],
        description="Recompute every user's recommendations from ml-latest-small.",
    )
    weekly = cofi_sweep.to_deployment(
        name="weekly",
        schedules=[_cron(WEEKLY_SWEEP_CRON)],
        parameters={"dataset": DATASET},
        tags=[*TAGS, "weekly", "sweep"],
        description="Score the default hyperparameter grid on validation ratings.",
    )
    for deployment in (nightly, weekly):
        # The form and the API take an empty optional field (None) as it is.
        deployment._parameter_openapi_schema = form_schema(deployment._parameter_openapi_schema)
    return [nightly, weekly]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m flows.serve",
        description=(
            "Serve cofi's scheduled deployments (cofi-pipeline/nightly, cofi-sweep/weekly) "
            "until stopped. Needs PREFECT_API_URL pointing at a Prefect server."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--cron",
        default=os.environ.get(NIGHTLY_CRON_ENV, "").strip() or DEFAULT_NIGHTLY_CRON,
        help=f"when cofi-pipeline/nightly runs, cron in {TIMEZONE} (env {NIGHTLY_CRON_ENV})",
    )
    args = parser.parse_args(argv)
    try:
        _cron(args.cron)
    except ValueError as error:
        # Refuse a bad expression before anything is registered with the server.
        parser.error(f"--cron {args.cron!r}: {error}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    serve(
        *deployments(args.cron),
        # Prefect's default pauses every schedule when this process stops, so a restart (a
        # deploy, a reboot) would leave a window with no runs scheduled, and a stop that is not
        # followed by a start would leave them paused for good. Kept active, a run due while
        # the process is down waits as Late and starts when it is back.
        pause_on_shutdown=False,
        # One run at a time: a single fit keeps every core busy, and the sweep's Sunday run may
        # overlap the pipeline's; the later one waits instead of slowing both.
        limit=1,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
