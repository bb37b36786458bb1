"""The benchmark scripts run end to end at a tiny size (their figures come from real runs)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, timeout: int = 300) -> str:
    result = subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def test_scale_benchmark_runs_small(tmp_path) -> None:
    out = run(
        "benchmarks/scale.py", "--ratings", "20000", "--out", str(tmp_path),
        "--", "--iterations", "20", "--ranking-iterations", "20",
    )  # fmt: skip
    assert "20,000 ratings" in out and "peak RSS" in out and "M scores/s per core" in out
    assert "model          RMSE" in out


def test_scoring_benchmark_runs_small() -> None:
    out = run(
        "benchmarks/scoring.py", "--model-users", "2000", "--movies", "3000", "--users", "500"
    )
    assert "M scores/s" in out


def test_fold_in_benchmark_runs(movielens_dir) -> None:
    out = run(
        "benchmarks/fold_in.py", "--dataset", "ml-100k", "--new-users", "5", "--iterations", "30"
    )
    assert "| full retrain |" in out and "correlation" in out


def test_warm_start_benchmark_runs(movielens_dir) -> None:
    out = run("benchmarks/warm_start.py", "--dataset", "ml-100k", "--iterations", "60")
    assert "| warm | 0.02 |" in out and "steps against" in out


def test_choose_ranking_benchmark_runs_tiny(movielens_dir) -> None:
    out = run("benchmarks/choose_ranking.py", "--datasets", "ml-100k", "--tiny")
    assert "ml-100k, validation (k=10)" in out and "Chosen on validation" in out
    assert "  ials: " in out and "  EASE: lambda_=300" in out
