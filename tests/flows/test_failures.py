"""A failure the user can fix ends in one line: the run's state message, its only error in the
log (no traceback), and the command's last line with exit status 2."""

from __future__ import annotations

import errno
import logging
import re
import sys

import pytest
from prefect import get_client, task

from cofi.errors import DataError
from flows import failures


def _record(
    error: BaseException, message: str = "Task run failed with exception: %r"
) -> logging.LogRecord:
    try:
        raise error
    except BaseException:
        exc_info = sys.exc_info()
    return logging.LogRecord(
        "prefect.task_runs", logging.ERROR, __file__, 1, message, (error,), exc_info
    )


@pytest.mark.parametrize(
    ("error", "told"),
    [
        (DataError("/x/ratings.csv", "rating 9.0 is off the scale", line=2),
         "/x/ratings.csv, line 2: rating 9.0 is off the scale"),
        (OSError(errno.ENOSPC, "No space left on device", "/data/cache/model"),
         "/data/cache/model: No space left on device"),
        (OSError(errno.EROFS, "Read-only file system", "/data"), "/data: Read-only file system"),
        (PermissionError(errno.EACCES, "Permission denied", "/data"), "/data: Permission denied"),
        (OSError("[Errno 28] Error writing bytes to file"), "[Errno 28] Error writing bytes to file"),
    ],
)  # fmt: skip
def test_a_users_failure_has_a_one_line_reason(error, told) -> None:
    assert failures.reason(error) == told


@pytest.mark.parametrize(
    "error", [ValueError("a bug"), OSError(errno.ECONNRESET, "Connection reset"), KeyError("x")]
)
def test_a_bug_has_no_reason_and_keeps_its_traceback(error) -> None:
    assert failures.reason(error) is None
    record = _record(error)
    failures.OneLineFailures().filter(record)
    assert record.exc_info is not None


def test_the_filter_logs_the_reason_once_without_a_traceback() -> None:
    error = DataError("/x/ratings.csv", "rating 9.0 is off the scale", line=2)
    record = _record(error)
    assert failures.OneLineFailures().filter(record)
    assert record.getMessage() == "/x/ratings.csv, line 2: rating 9.0 is off the scale"
    assert record.exc_info is None and record.levelno == logging.ERROR
    # the task's state line that follows says Failed, at INFO, without the reason again
    finished = logging.LogRecord(
        "prefect.task_runs", logging.ERROR, __file__, 1,
        f"Finished in state Failed('Task run encountered an exception DataError: {error}')",
        (), None,
    )  # fmt: skip
    failures.OneLineFailures().filter(finished)
    assert (finished.getMessage(), finished.levelno) == ("Finished in state Failed", logging.INFO)
    assert failures.already_told(error)


def test_importing_the_pipeline_puts_the_filter_on_prefects_run_loggers() -> None:
    import flows.pipeline  # noqa: F401

    for name in failures.RUN_LOGGERS:
        filters = logging.getLogger(name).filters
        assert sum(isinstance(f, failures.OneLineFailures) for f in filters) == 1
    failures.install()
    assert (
        sum(isinstance(f, failures.OneLineFailures) for f in logging.getLogger(name).filters) == 1
    )


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def run_log():
    handler = _Records()
    loggers = [logging.getLogger(name) for name in failures.RUN_LOGGERS]
    for logger in loggers:
        logger.addHandler(handler)
    yield handler.records
    for logger in loggers:
        logger.removeHandler(handler)


@pytest.mark.parametrize(
    ("error", "told"),
    [
        (DataError("/x/ratings.csv", "rating 9.0 is off the scale", line=2),
         "/x/ratings.csv, line 2: rating 9.0 is off the scale"),
        (OSError(errno.ENOSPC, "No space left on device", "/d/cache/m"), "/d/cache/m: No space left on device"),
        (OSError(errno.EROFS, "Read-only file system", "/d/datasets"), "/d/datasets: Read-only file system"),
        (PermissionError(errno.EACCES, "Permission denied", "/d/datasets"), "/d/datasets: Permission denied"),
    ],
)  # fmt: skip
def test_a_failing_step_fails_the_run_with_its_reason_and_the_command_with_one_line(
    harness, monkeypatch, tmp_path, capsys, run_log, error, told
) -> None:
    import flows.pipeline as pipeline

    @task(name="ingest")
    def failing_ingest(*args, **kwargs) -> dict:
        raise error

    monkeypatch.setattr(pipeline, "ingest_movielens", failing_ingest)
    state = pipeline.cofi_pipeline(data_dir=str(tmp_path), return_state=True)
    # the header of the run: its one-line reason
    assert state.is_failed() and state.message == told
    # named for what it ran, with a stamp that tells it from the next run of the same parameters
    with get_client(sync_client=True) as client:
        name = client.read_flow_run(state.state_details.flow_run_id).name
    assert re.fullmatch(r"ml-latest-small-auto-\d{4}-\d{4}-[0-9a-f]{4}", name), name
    errors = [r for r in run_log if r.levelno >= logging.ERROR]
    assert [r.getMessage() for r in errors] == [told]
    assert not any(r.exc_info for r in run_log)
    # the command: one line, status 2, no traceback
    run_log.clear()
    capsys.readouterr()
    assert pipeline.main(["--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1] == f"cofi-pipeline: {told}"
    assert "Traceback" not in err


def test_a_data_folder_that_is_a_file_ends_the_command_with_one_line(
    harness, tmp_path, capsys
) -> None:
    from flows.pipeline import main

    taken = tmp_path / "data"
    taken.write_text("not a folder")
    assert main(["--data-dir", str(taken)]) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1] == (
        f"cofi-pipeline: {taken}: the data folder is a file, not a folder"
    )


def test_debug_shows_the_traceback(harness, tmp_path) -> None:
    from flows.pipeline import main

    taken = tmp_path / "data"
    taken.write_text("not a folder")
    with pytest.raises(DataError.__mro__[1], match="the data folder is a file"):
        main(["--data-dir", str(taken), "--debug"])


def test_a_state_line_naming_a_users_failure_is_info_even_when_unseen() -> None:
    for text in (
        "Task run encountered an exception ChecksumError: cannot verify https://x/a.zip",
        "Task run encountered an exception OSError: [Errno 28] No space left on device: '/d'",
    ):
        record = logging.LogRecord(
            "prefect.task_runs", logging.ERROR, __file__, 1, f"Finished in state Failed('{text}')",
            (), None,
        )  # fmt: skip
        failures.OneLineFailures().filter(record)
        assert record.levelno == logging.INFO, text
    bug = "Task run encountered an exception ValueError: a bug"
    record = logging.LogRecord(
        "prefect.task_runs",
        logging.ERROR,
        __file__,
        1,
        f"Finished in state Failed('{bug}')",
        (),
        None,
    )
    failures.OneLineFailures().filter(record)
    assert record.levelno == logging.ERROR


def test_bad_ratings_fail_the_run_with_one_error_line(harness, tmp_path, run_log) -> None:
    from flows.pipeline import cofi_pipeline

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,1,9.0,0\n")
    (broken / "movies.csv").write_text("movieId,title,genres\n1,Toy Story (1995),Comedy\n")
    state = cofi_pipeline(source=str(broken), data_dir=str(tmp_path / "data"), return_state=True)
    assert state.is_failed() and state.message.startswith(f"{broken / 'ratings.csv'}, line 2: ")
    errors = [r.getMessage() for r in run_log if r.levelno >= logging.ERROR]
    assert errors == [state.message]
    assert not any(r.exc_info for r in run_log)


def test_a_bug_ends_the_command_with_one_line_and_status_1(
    harness, monkeypatch, tmp_path, capsys
) -> None:
    import flows.pipeline as pipeline

    @task(name="ingest")
    def buggy_ingest(*args, **kwargs) -> dict:
        raise ValueError("a bug")

    monkeypatch.setattr(pipeline, "ingest_movielens", buggy_ingest)
    capsys.readouterr()
    assert pipeline.main(["--data-dir", str(tmp_path)]) == 1
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last == "cofi-pipeline: unexpected ValueError: a bug (--debug shows the traceback)"
