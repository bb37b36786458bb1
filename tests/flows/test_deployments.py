"""The deployments of flows.serve and prefect.yaml: names, entrypoints, schedules, parameters."""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

import pytest
import yaml

from flows import serve

REPO_ROOT = Path(__file__).resolve().parents[2]
EXPECTED = {
    "cofi-pipeline/nightly": ("0 3 * * *", {"cofi", "nightly"}),
    "cofi-sweep/weekly": ("0 4 * * 0", {"cofi", "weekly"}),
}


def _flow_at(entrypoint: str):
    path, function = entrypoint.split(":")
    assert (REPO_ROOT / path).is_file(), entrypoint
    module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
    return getattr(module, function)


def test_served_deployments_run_daily_and_weekly_in_utc() -> None:
    served = {f"{d.flow_name}/{d.name}": d for d in serve.deployments()}

    assert set(served) == set(EXPECTED)
    for name, (cron, tags) in EXPECTED.items():
        deployment = served[name]
        [schedule] = deployment.schedules
        assert (schedule.schedule.cron, schedule.schedule.timezone) == (cron, "UTC"), name
        assert schedule.active is True
        assert deployment.parameters == {"dataset": "ml-latest-small"}
        assert tags <= set(deployment.tags)
        assert deployment.paused is not True
        flow = _flow_at(deployment.entrypoint)
        assert flow.name == deployment.flow_name


def test_the_nightly_cron_comes_from_the_option_then_the_environment(monkeypatch) -> None:
    monkeypatch.delenv(serve.NIGHTLY_CRON_ENV, raising=False)
    assert serve.parse_args([]).cron == "0 3 * * *"
    monkeypatch.setenv(serve.NIGHTLY_CRON_ENV, "30 1 * * *")
    assert serve.parse_args([]).cron == "30 1 * * *"
    assert serve.parse_args(["--cron", "0 5 * * 1-5"]).cron == "0 5 * * 1-5"
    [nightly, _] = serve.deployments("30 1 * * *")
    assert nightly.schedules[0].schedule.cron == "30 1 * * *"


def test_a_bad_cron_is_refused_before_anything_is_served(capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        serve.parse_args(["--cron", "every night"])
    assert exited.value.code == 2
    assert "--cron 'every night'" in capsys.readouterr().err


def test_prefect_yaml_matches_the_served_deployments() -> None:
    config = yaml.safe_load((REPO_ROOT / "prefect.yaml").read_text())
    served = {f"{d.flow_name}/{d.name}": d for d in serve.deployments()}

    [pull] = config["pull"]
    assert list(pull) == ["prefect.deployments.steps.set_working_directory"]
    assert pull["prefect.deployments.steps.set_working_directory"]["directory"]
    declared = {}
    for deployment in config["deployments"]:
        flow = _flow_at(deployment["entrypoint"])
        declared[f"{flow.name}/{deployment['name']}"] = deployment
        # A parameter the flow does not take, or a bad value, would fail every scheduled run.
        assert set(deployment["parameters"]) <= set(inspect.signature(flow.fn).parameters)
        flow.validate_parameters(deployment["parameters"])
        assert deployment["work_pool"]["name"] == "cofi-process"
    assert set(declared) == set(served)
    for name, deployment in declared.items():
        [schedule] = deployment["schedules"]
        expected = served[name].schedules[0]
        assert schedule["cron"] == expected.schedule.cron, name
        assert schedule["timezone"] == expected.schedule.timezone, name
        assert schedule.get("active", True) is True
        assert deployment["parameters"] == served[name].parameters
        assert set(deployment["tags"]) == set(served[name].tags)


def test_the_served_forms_refuse_bad_values_and_take_empty_optional_fields() -> None:
    from prefect.utilities.schema_tools.validation import validate

    [nightly, weekly] = serve.deployments()
    schema = nightly._parameter_openapi_schema.model_dump()
    # what the API (and so the form) checks before a run exists
    refused = {"n_features": 0, "holdout_fraction": 1.5, "dataset": "ml-nope", "top_n": 0}
    for name, value in refused.items():
        assert validate({name: value}, schema, preprocess=True, ignore_required=True), name
    taken = {
        "lambda_": None,
        "source": None,
        "ranking_n_features": None,
        "ranking_iterations": None,
        "ranking_sequence_weight": None,
        "n_features": 8,
    }
    assert validate(taken, schema, preprocess=True, ignore_required=True) == []
    for deployment in (nightly, weekly):
        properties = deployment._parameter_openapi_schema.model_dump()["properties"]
        for name, field in properties.items():
            assert "anyOf" not in field and field.get("default", 0) is not None, name
            assert field["description"], name
