"""cofi's served deployments against a real ``prefect server``: schedule, run, artifacts."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import ServedRun

pytestmark = pytest.mark.integration

PIPELINE_DEPLOYMENT = "cofi-pipeline/nightly"
SWEEP_DEPLOYMENT = "cofi-sweep/weekly"


def test_the_nightly_run_completes(served_run: ServedRun) -> None:
    flow_run = served_run.get(f"/flow_runs/{served_run.flow_run_id}")

    assert flow_run["state"]["type"] == "COMPLETED", (
        f"{flow_run['state']}\n{served_run.run_output}\n{served_run.logs()}"
    )
    deployment = served_run.get(f"/deployments/name/{PIPELINE_DEPLOYMENT}")
    assert flow_run["deployment_id"] == deployment["id"]
    assert flow_run["parameters"] == {
        "dataset": "ml-latest-small",
        "iterations": 20,
        "ranking_iterations": 20,
    }


@pytest.mark.parametrize(
    ("name", "cron", "tags"),
    [
        (PIPELINE_DEPLOYMENT, "0 3 * * *", {"cofi", "nightly"}),
        (SWEEP_DEPLOYMENT, "0 4 * * 0", {"cofi", "weekly"}),
    ],
)
def test_schedules_stay_active_after_serve_stops(
    served_run: ServedRun, name: str, cron: str, tags: set[str]
) -> None:
    # The fixture has already stopped flows.serve with SIGINT.
    deployment = served_run.get(f"/deployments/name/{name}")

    assert deployment["paused"] is False
    assert [
        (item["active"], item["schedule"]["cron"], item["schedule"]["timezone"])
        for item in deployment["schedules"]
    ] == [(True, cron, "UTC")]
    assert deployment["parameters"] == {"dataset": "ml-latest-small"}
    assert tags <= set(deployment["tags"])


def test_the_nightly_run_publishes_its_artifacts(served_run: ServedRun) -> None:
    artifacts = served_run.post(
        "/artifacts/filter",
        {"artifacts": {"flow_run_id": {"any_": [served_run.flow_run_id]}}},
    )
    keys = {artifact["key"] for artifact in artifacts}

    assert {"cofi-eval-metrics", "cofi-report"} <= keys, f"artifact keys of the run: {keys}"
