"""Row-level problems: raised at the first one, or collected and written to quarantine.csv."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

#: The columns of quarantine.csv, one row per rejected source row.
QUARANTINE_COLUMNS = ("file", "line", "problem", "text")


@dataclass(frozen=True)
class BadRow:
    """A row-level problem: raised at once, or written to quarantine.csv.

    Attributes:
        file: the file (or ``archive.zip!member``) the row is in.
        line: its 1-based physical line, counting any header.
        problem: what is wrong with it, as a sentence fragment.
        text: the row as written in the file.
    """

    file: str
    line: int
    problem: str
    text: str


def write_quarantine(path: Path, problems: list[BadRow]) -> None:
    """Writes ``problems`` to the CSV file ``path`` (``QUARANTINE_COLUMNS``), by file and line."""
    with open(path, "w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(QUARANTINE_COLUMNS)
        for problem in sorted(problems, key=lambda p: (p.file, p.line)):
            writer.writerow([problem.file, problem.line, problem.problem, problem.text])
