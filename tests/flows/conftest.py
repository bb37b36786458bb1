"""Ratings for the flow and task tests: the real MovieLens folder when there is one, else synthetic."""

from __future__ import annotations

from pathlib import Path

import pytest
from prefect.testing.utilities import prefect_test_harness

from cofi.data.synthetic import generate
from cofi.settings import movielens_dir


@pytest.fixture(scope="session")
def synthetic_source(tmp_path_factory) -> Path:
    """A small synthetic MovieLens folder (20,000 ratings, seeded), the same bytes every time."""
    folder = tmp_path_factory.mktemp("movielens") / "synthetic-20k"
    generate(folder, n_ratings=20_000, seed=0)
    return folder


@pytest.fixture(scope="session")
def ratings_source(synthetic_source) -> dict:
    """Where a flow reads ratings from: ``dataset="ml-100k"`` when COFI_MOVIELENS_DIR holds it,
    else the synthetic folder as ``source``."""
    local = movielens_dir()
    if local is not None and (local / "ml-100k").is_dir():
        return {"dataset": "ml-100k"}
    return {"source": str(synthetic_source)}


@pytest.fixture(scope="module")
def harness():
    with prefect_test_harness(server_startup_timeout=120):
        yield
