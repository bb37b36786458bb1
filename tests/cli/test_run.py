"""``cofi run``: the pipeline's own command line (``python -m flows.pipeline``), handed on whole."""

from __future__ import annotations

import inspect
import subprocess
import sys

import pytest

import flows.pipeline
from cli.main import main
from cofi import LAB_CONFIG
from cofi.errors import CofiError

FLOW_DEFAULTS = {
    name: parameter.default
    for name, parameter in inspect.signature(flows.pipeline.cofi_pipeline.fn).parameters.items()
}
FLOW_PARAMETERS = set(FLOW_DEFAULTS)


class Stopped(BaseException):
    """Raised in place of running the flow (not an Exception, which the command would tell as a
    failure in one line)."""


@pytest.fixture
def flow_parameters(monkeypatch) -> dict:
    """What `cofi run` starts the flow with; the flow itself does not run."""
    seen: dict = {}

    def record(**parameters):
        seen.update(parameters)
        raise Stopped

    monkeypatch.setattr(flows.pipeline, "cofi_pipeline", record)
    return seen


def run(*argv: str) -> None:
    with pytest.raises(Stopped):
        main(list(argv))


def test_every_flow_parameter_has_an_option(flow_parameters, tmp_path) -> None:
    run("--data-dir", str(tmp_path), "run")
    assert set(flow_parameters) == FLOW_PARAMETERS
    # `cofi --data-dir` reaches the flow, and nothing given means the flow's own defaults
    assert flow_parameters["data_dir"] == str(tmp_path)
    differ = {
        name: (value, FLOW_DEFAULTS[name])
        for name, value in flow_parameters.items()
        if name != "data_dir" and value != FLOW_DEFAULTS[name]
    }
    assert differ == {}


def test_options_after_run_reach_the_flow(flow_parameters, tmp_path) -> None:
    run(
        "run",
        "--data-dir",
        str(tmp_path),
        "--dataset",
        "ml-100k",
        "--n-features",
        "7",
        "--lambda",
        "2.5",
        "--holdout",
        "0",
    )
    assert flow_parameters["data_dir"] == str(tmp_path)
    assert flow_parameters["dataset"] == "ml-100k"
    assert (flow_parameters["n_features"], flow_parameters["lambda_"]) == (7, 2.5)
    assert flow_parameters["holdout_fraction"] == 0.0


def test_lab_flag_gives_the_flow_the_lab_settings(flow_parameters) -> None:
    run("run", "--lab", "--dataset", "ml-100k")
    for name in ("n_features", "lambda_", "learning_rate", "iterations", "init_scale"):
        assert flow_parameters[name] == getattr(LAB_CONFIG, name), name
    assert flow_parameters["dataset"] == "ml-100k"


def test_help_is_the_pipelines() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "cli", "run", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: python -m flows.pipeline")
    for name in FLOW_PARAMETERS - {"lambda_", "holdout_fraction"}:
        assert f"--{name.replace('_', '-')}" in result.stdout, name
    assert "--lambda" in result.stdout and "--holdout" in result.stdout


def test_a_problem_the_flow_reports_ends_cofi_run_like_any_verb(monkeypatch, capsys) -> None:
    def refuse(**parameters):
        raise CofiError("/nowhere: no such folder")

    monkeypatch.setattr(flows.pipeline, "cofi_pipeline", refuse)
    assert main(["run", "--source", "/nowhere"]) == 2
    assert capsys.readouterr().err.splitlines()[-1] == "cofi: error: /nowhere: no such folder"
