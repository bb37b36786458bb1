"""The command line of ``python -m flows.pipeline``."""

from __future__ import annotations

import subprocess
import sys

from flows.pipeline import parse_args


def test_help_lists_the_options() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "flows.pipeline", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    for option in (
        "--dataset",
        "--source",
        "--n-features",
        "--lambda",
        "--learning-rate",
        "--iterations",
        "--seed",
        "--lab",
    ):
        assert option in result.stdout


def test_lab_flag_sets_the_lab_settings() -> None:
    args = parse_args(["--lab", "--dataset", "ml-100k"])
    assert (args.n_features, args.lambda_, args.learning_rate, args.iterations) == (
        100,
        1.0,
        0.1,
        200,
    )
    assert args.dataset == "ml-100k"


def test_flow_parameters_are_checked_at_once_and_take_objective_defaults() -> None:
    import pytest

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
    _, config = check_parameters({**base, "objective": "ranking", "lambda_": None})
    assert config["lambda_"] == 10.0 and config["unobserved_weight"] == 0.2
    _, config = check_parameters({**base, "objective": "ranking", "lambda_": 3.0})
    assert config["lambda_"] == 3.0
    with pytest.raises(ValueError, match="top_n"):
        check_parameters({**base, "top_n": 0})
    with pytest.raises(ValueError, match="n_features"):
        check_parameters({**base, "n_features": -1})
    with pytest.raises(ValueError, match="unknown dataset"):
        check_parameters({**base, "dataset": "ml-2k"})
    with pytest.raises(ValueError, match="similar_metric"):
        check_parameters({**base, "similar_metric": "euclid"})
    # a warm start takes the warm defaults for what is not given
    _, config = check_parameters(base, warm_start=True)
    assert (config["learning_rate"], config["tolerance"]) == (0.02, 1e-3)
    _, config = check_parameters({**base, "learning_rate": 0.1}, warm_start=True)
    assert (config["learning_rate"], config["tolerance"]) == (0.1, 1e-3)
    _, config = check_parameters(base)
    assert (config["learning_rate"], config["tolerance"]) == (0.05, 0.0)
