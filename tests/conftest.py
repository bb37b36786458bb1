"""Test settings: quiet TensorFlow, a private Prefect home, and the shared MovieLens folder."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

_HOME = Path(tempfile.mkdtemp(prefix="cofi-tests-"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ["PREFECT_HOME"] = str(_HOME / "prefect")
os.environ["KERAS_HOME"] = str(_HOME / "keras")
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
# A command run as a subprocess starts its own temporary Prefect server; on a loaded machine
# that took over Prefect's 20 s default once (tests/benchmarks/test_benchmarks_run.py).
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")


@pytest.hookimpl(tryfirst=True)  # before xdist reads the marks
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under pytest-xdist's ``--dist loadgroup`` (``make test``) each file's tests run in one
    worker, so its module fixtures are built once; the integration files share one worker, as
    they share the session's served run."""
    root = config.rootpath
    for item in items:
        relative = item.path.relative_to(root) if item.path.is_relative_to(root) else item.path
        group = "integration" if relative.parts[:2] == ("tests", "integration") else str(relative)
        item.add_marker(pytest.mark.xdist_group(group))


def pytest_configure(config: pytest.Config) -> None:
    # pytest-xdist registers the mark; without it (-p no:xdist) the mark is still known.
    config.addinivalue_line("markers", "xdist_group(name): run these tests in one xdist worker")


@pytest.fixture(scope="session")
def movielens_dir() -> Path:
    """The local MovieLens folder from COFI_MOVIELENS_DIR; skips the test when it is not set."""
    from cofi.settings import movielens_dir

    path = movielens_dir()
    if path is None or not path.is_dir():
        pytest.skip("COFI_MOVIELENS_DIR is not set to a folder (CI sets it to ../shared/movielens)")
    return path
