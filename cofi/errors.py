"""Errors raised by cofi. Each one says what went wrong in words a user can act on."""

from __future__ import annotations

import errno
from pathlib import Path


class CofiError(Exception):
    """Base class of every error cofi raises on purpose."""


class DataError(CofiError):
    """Input data is missing, malformed or breaks a rule of the schema.

    The message names the file, the line (1-based, counting any header) when one applies,
    and the problem.

    Args:
        file: the file (or archive member) at fault.
        problem: what is wrong, as a sentence fragment.
        line: the 1-based physical line number in ``file``, when known.
    """

    def __init__(self, file: str | Path, problem: str, line: int | None = None) -> None:
        self.file = str(file)
        self.problem = problem
        self.line = line
        where = f"{self.file}, line {line}" if line is not None else self.file
        super().__init__(f"{where}: {problem}")


class ChecksumError(CofiError):
    """A downloaded or cached archive does not match its published checksum."""


class TrainingError(CofiError):
    """Training could not produce a usable model (for example, the loss became NaN)."""


#: The errno values of a disk or folder that the user, not the code, has to fix.
DISK_ERRNOS = frozenset(
    {
        errno.ENOSPC,  # full
        errno.EDQUOT,  # over quota
        errno.EROFS,  # read-only
        errno.EACCES,  # not writable by this user
        errno.EPERM,
        errno.ENOTDIR,  # a file where a folder should be
        errno.EEXIST,  # a folder cannot be made over a file
    }
)
