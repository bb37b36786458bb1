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
