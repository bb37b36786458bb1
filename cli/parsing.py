"""Argument types and a parser whose errors are one short line, for every command of cofi's."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

#: At most this many characters of a bad value are echoed back.
QUOTE_CHARS = 80


def quoted(text: str) -> str:
    """``text`` quoted for an error line: at most :data:`QUOTE_CHARS` characters, escapes shown."""
    shown = repr(text[:QUOTE_CHARS])
    return shown if len(text) <= QUOTE_CHARS else f"{shown}... ({len(text):,} characters)"


def integer(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    """An argparse type: a whole number from ``minimum`` to ``maximum``."""

    def parse(text: str) -> int:
        if len(text) > QUOTE_CHARS:
            raise argparse.ArgumentTypeError(f"too long for a number: {quoted(text)}")
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {quoted(text)}") from None
        if value < minimum or (maximum is not None and value > maximum):
            upper = f" and at most {maximum:,}" if maximum is not None else ""
            raise argparse.ArgumentTypeError(f"must be at least {minimum}{upper}, got {value}")
        return value

    return parse


def finite_number(text: str) -> float:
    """An argparse type: a finite number (not nan or inf)."""
    try:
        value = float(text) if len(text) <= QUOTE_CHARS else math.nan
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"not a finite number: {quoted(text)}")
    return value


def writable_file(text: str) -> Path:
    """An argparse type: a file path whose folder exists, so it can be written after the work."""
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{quoted(text)} is a folder, not a file")
    if not path.parent.is_dir():
        raise argparse.ArgumentTypeError(f"no folder {quoted(str(path.parent))} to write into")
    return path


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (the usage is one ``--help`` away)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")
