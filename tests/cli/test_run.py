"""``cofi run``: the pipeline's own command line (``python -m flows.pipeline``), handed on whole."""

from __future__ import annotations

import inspect
import subprocess
import sys

import pytest

import flows.pipeline
from cli.main import main
from cofi.errors import CofiError
from cofi.models.config import LAB_CONFIG, OBJECTIVE_DEFAULTS, WARM_START_DEFAULTS, TrainConfig

FLOW_DEFAULTS = {
    name: parameter.default
    for name, parameter in inspect.signature(flows.pipeline.cofi_pipeline.fn).parameters.items()
}
FLOW_PARAMETERS = set(FLOW_DEFAULTS)


@pytest.fixture
def flow_parameters(monkeypatch) -> dict:
    """What `cofi run` would start the flow with; the flow itself does not run."""
    seen: dict = {}

    def record(**parameters):
        seen.update(parameters)
        raise CofiError("stopped before the flow ran")

    monkeypatch.setattr(flows.pipeline, "cofi_pipeline", record)
    return seen


def test_every_flow_parameter_has_an_option(flow_parameters, tmp_path, capsys) -> None:
    assert main(["--data-dir", str(tmp_path), "run"]) == 2
    assert capsys.readouterr().err == "cofi: error: stopped before the flow ran\n"
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
    main(
        [
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
        ]
    )
    assert flow_parameters["data_dir"] == str(tmp_path)
    assert flow_parameters["dataset"] == "ml-100k"
    assert (flow_parameters["n_features"], flow_parameters["lambda_"]) == (7, 2.5)
    assert flow_parameters["holdout_fraction"] == 0.0


def test_lab_flag_gives_the_flow_the_lab_settings(flow_parameters) -> None:
    main(["run", "--lab", "--dataset", "ml-100k"])
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


def test_flow_parameters_are_checked_at_once_and_take_objective_defaults() -> None:
    from flows.pipeline import check_parameters

    base = dict(
        dataset="ml-100k",
        source=None,
        holdout_fraction=0.1,
        top_n=10,
        min_movie_ratings=5,
        min_user_ratings=5,
        similar_n=10,
        similar_metric="cosine",
        shards=1,
        warm_start=False,
    )
    # an objective's own defaults fill what is not given; what is given stands
    for objective, own in OBJECTIVE_DEFAULTS.items():
        _, config = check_parameters({**base, "objective": objective, "lambda_": None})
        assert {name: config[name] for name in own} == own
        _, config = check_parameters({**base, "objective": objective, "lambda_": 3.0})
        assert config["lambda_"] == 3.0
    with pytest.raises(ValueError, match="top_n"):
        check_parameters({**base, "top_n": 0})
    with pytest.raises(ValueError, match="n_features"):
        check_parameters({**base, "n_features": -1})
    with pytest.raises(ValueError, match="unknown dataset"):
        check_parameters({**base, "dataset": "ml-2k"})
    with pytest.raises(ValueError, match="similar_metric"):
        check_parameters({**base, "similar_metric": "euclid"})
    # a warm start takes the warm defaults for what is not given, and only then
    _, config = check_parameters(base, warm_start=True)
    assert {name: config[name] for name in WARM_START_DEFAULTS} == WARM_START_DEFAULTS
    _, config = check_parameters({**base, "learning_rate": 0.1}, warm_start=True)
    assert config["learning_rate"] == 0.1
    assert config["tolerance"] == WARM_START_DEFAULTS["tolerance"]
    _, config = check_parameters(base)
    cold = TrainConfig()
    assert (config["learning_rate"], config["tolerance"]) == (cold.learning_rate, cold.tolerance)
    assert (cold.learning_rate, cold.tolerance) != (
        WARM_START_DEFAULTS["learning_rate"],
        WARM_START_DEFAULTS["tolerance"],
    )
