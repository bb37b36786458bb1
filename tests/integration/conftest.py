"""A real ``prefect server``, ``python -m flows.serve`` and one finished nightly run, per session.

The fixture starts the server on a free port with a private PREFECT_HOME, serves cofi's
deployments from the repository root, triggers ``cofi-pipeline/nightly`` with the Prefect CLI and
waits for it, then stops the serve process the way an operator would (SIGINT), so tests can check
that stopping it left the schedules active. Every process it starts runs in its own process
group, which is killed at the end whatever happened. Logs go to the test artifacts folder
(``COFI_TEST_ARTIFACTS``, default ``test-artifacts/``).
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
PIPELINE_DEPLOYMENT = "cofi-pipeline/nightly"
SWEEP_DEPLOYMENT = "cofi-sweep/weekly"
# Bounded waits, generous for two shared cores: the server migrates a fresh SQLite database and
# copies the UI; serve imports TensorFlow; the run trains twice on ml-latest-small.
SERVER_START_SECONDS = 90
SERVE_START_SECONDS = 90
RUN_SECONDS = 240
STOP_SECONDS = 30


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "integration: starts a real Prefect server and serve process (slow)"
    )


@dataclass(frozen=True)
class ServedRun:
    """What the session fixture started and ran.

    Attributes:
        base_url: the server's root, where the UI is served (``http://127.0.0.1:<port>``).
        api_url: the REST API (``<base_url>/api``).
        flow_run_id: the ``cofi-pipeline/nightly`` run the fixture triggered and waited for.
        run_output: what ``prefect deployment run --watch`` printed.
        log_dir: where the server and serve logs are written.
    """

    base_url: str
    api_url: str
    flow_run_id: str
    run_output: str
    log_dir: Path

    def get(self, path: str) -> Any:
        """GET ``<api_url><path>`` and return the JSON body; fails on an error status."""
        response = httpx.get(f"{self.api_url}{path}", timeout=30)
        response.raise_for_status()
        return response.json()

    def post(self, path: str, body: dict[str, Any]) -> Any:
        """POST ``body`` to ``<api_url><path>`` and return the JSON body; fails on an error status."""
        response = httpx.post(f"{self.api_url}{path}", json=body, timeout=30)
        response.raise_for_status()
        return response.json()

    def logs(self) -> str:
        """The tail of every log, to explain a failed assertion."""
        return "\n".join(
            f"--- {path.name} ---\n{path.read_text(errors='replace')[-4000:]}"
            for path in sorted(self.log_dir.glob("*.log"))
        )


@pytest.fixture(scope="session")
def test_artifacts_dir() -> Path:
    """Where tests leave screenshots and logs (``COFI_TEST_ARTIFACTS``, default ``test-artifacts``)."""
    path = Path(os.environ.get("COFI_TEST_ARTIFACTS", "").strip() or REPO_ROOT / "test-artifacts")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    # A session of its own, so the whole tree (uvicorn, flow-run subprocesses) can be signalled.
    with log.open("w") as out:
        return subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def _stop(process: subprocess.Popen, first: signal.Signals = signal.SIGTERM) -> int | None:
    """Signal the process group, wait, then kill it; returns the exit code, None if killed."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, first)
            return process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            pass
        except ProcessLookupError:
            return process.poll()
    # Children may outlive a leader that exited on its own; the group id is still theirs.
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        process.wait(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        return None
    return process.returncode


def _wait_for_ok(
    url: str, seconds: float, processes: list[subprocess.Popen], logs: Callable[[], str]
) -> None:
    """Poll ``url`` until it answers 200; fail early if a process we started has exited."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for process in processes:
            if process.poll() is not None:
                pytest.fail(f"{process.args} exited ({process.returncode}) before {url}\n{logs()}")
        try:
            if httpx.get(url, timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    pytest.fail(f"timed out after {seconds}s waiting for {url}\n{logs()}")


@pytest.fixture(scope="session")
def served_run(
    movielens_dir: Path, tmp_path_factory: pytest.TempPathFactory, test_artifacts_dir: Path
) -> Iterator[ServedRun]:
    """A Prefect server with cofi's deployments served and one finished nightly run."""
    home = tmp_path_factory.mktemp("prefect-server")
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    api_url = f"{base_url}/api"
    log_dir = test_artifacts_dir / "logs"
    log_dir.mkdir(exist_ok=True)
    env = {
        **os.environ,
        "PREFECT_HOME": str(home / "prefect"),
        "PREFECT_API_URL": api_url,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        # The root conftest quiets Prefect for in-process tests; these logs are for reading.
        "PREFECT_LOGGING_LEVEL": "INFO",
        "COFI_MOVIELENS_DIR": str(movielens_dir),
        "COFI_DATA_DIR": str(home / "data"),
        "PYTHONUNBUFFERED": "1",
    }
    # The schedules under test are the defaults, whatever the machine running the tests sets.
    env.pop("COFI_NIGHTLY_CRON", None)
    prefect_cli = [sys.executable, "-m", "prefect"]
    started: list[subprocess.Popen] = []
    run = ServedRun(base_url, api_url, "", "", log_dir)
    try:
        server = _start(
            [*prefect_cli, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            env,
            log_dir / "server.log",
        )
        started.append(server)
        _wait_for_ok(f"{api_url}/health", SERVER_START_SECONDS, started, run.logs)

        serve = _start([sys.executable, "-m", "flows.serve"], env, log_dir / "serve.log")
        started.append(serve)
        _wait_for_ok(
            f"{api_url}/deployments/name/{PIPELINE_DEPLOYMENT}",
            SERVE_START_SECONDS,
            started,
            run.logs,
        )

        try:
            finished = subprocess.run(
                [
                    *prefect_cli,
                    "deployment",
                    "run",
                    PIPELINE_DEPLOYMENT,
                    "-p",
                    "dataset=ml-latest-small",
                    # Few steps: this checks the wiring, not the model.
                    "-p",
                    "iterations=20",
                    "-p",
                    "ranking_iterations=20",
                    "--watch",
                    "--watch-timeout",
                    str(RUN_SECONDS),
                ],
                cwd=REPO_ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=RUN_SECONDS + 30,
            )
        except subprocess.TimeoutExpired as error:
            pytest.fail(f"prefect deployment run did not return in time: {error}\n{run.logs()}")
        output = finished.stdout + finished.stderr
        (log_dir / "deployment-run.log").write_text(output)
        found = re.search(r"UUID:\s*([0-9a-f-]{36})", output)
        assert found, f"no flow run id in the CLI's output\n{output}\n{run.logs()}"

        # Stopping serve like an operator would: its shutdown is what could pause the schedules.
        code = _stop(serve, signal.SIGINT)
        assert code is not None, f"flows.serve did not stop on SIGINT\n{run.logs()}"
        yield ServedRun(base_url, api_url, found.group(1), output, log_dir)
    finally:
        for process in reversed(started):
            _stop(process)
