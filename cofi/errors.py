"""Errors raised by cofi. Each one says what went wrong in words a user can act on."""

from __future__ import annotations

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
