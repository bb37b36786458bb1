"""Ingest retries a flaky download, never a mistake the user has to fix."""

from __future__ import annotations

import errno

import pytest

from cofi.errors import ChecksumError, DataError
from tasks.ingest import not_a_user_error


class _State:
    def __init__(self, error: BaseException) -> None:
        self.error = error

    def result(self, raise_on_failure: bool = True) -> BaseException:
        return self.error


@pytest.mark.parametrize(
    ("error", "retried"),
    [
        (ConnectionResetError(errno.ECONNRESET, "reset by peer"), True),
        (TimeoutError("timed out"), True),
        (DataError("ratings.csv", "rating 9 is off the scale", line=2), False),
        (ChecksumError("x.zip: SHA-256 mismatch"), False),
        (OSError(errno.ENOSPC, "No space left on device"), False),
        (OSError(errno.EROFS, "Read-only file system"), False),
        (PermissionError(errno.EACCES, "Permission denied"), False),
    ],
)
def test_only_errors_that_may_pass_are_retried(error: BaseException, retried: bool) -> None:
    assert not_a_user_error(None, None, _State(error)) is retried
