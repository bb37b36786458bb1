"""``cofi``'s argument parsing and dispatch to the verbs (see :mod:`cli`)."""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

from cli.run import cmd_run  # noqa: E402
from cli.verbs import cmd_eval, cmd_rate, cmd_recommend, cmd_similar  # noqa: E402
from cofi import settings  # noqa: E402
from cofi.data.schema import MAX_ID  # noqa: E402
from cofi.errors import CofiError  # noqa: E402

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


def parser() -> argparse.ArgumentParser:
    top = OneLineParser(
        prog="cofi",
        description="Movie recommendations from MovieLens: run the pipeline, ask the model.",
    )
    top.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="the data folder (default: $COFI_DATA_DIR or ./data)",
    )
    verbs = top.add_subparsers(
        dest="verb", required=True, metavar="VERB", parser_class=OneLineParser
    )
    run = verbs.add_parser(
        "run",
        help="run the pipeline once (options as python -m flows.pipeline --help)",
        add_help=False,
    )
    run.add_argument("pipeline_args", nargs=argparse.REMAINDER)
    run.set_defaults(handler=cmd_run)

    recommend = verbs.add_parser("recommend", help="a user's top picks")
    recommend.add_argument(
        "--user", type=integer(0), required=True, help="a user id of the dataset"
    )
    recommend.add_argument("-n", "--n", type=integer(1), default=10, help="how many picks")
    recommend.set_defaults(handler=cmd_recommend)

    rate = verbs.add_parser("rate", help="rate movies as a new user, then see your top picks")
    rate.add_argument(
        "--file", type=Path, help="CSV with rating and title or movie_id (default: ask)"
    )
    rate.add_argument(
        "--user-id",
        type=integer(1, MAX_ID),
        help="the new user's id (default: the largest + 1)",
    )
    rate.add_argument("-n", "--n", type=integer(1), default=10, help="how many picks")
    rate.add_argument(
        "--save-ratings", type=writable_file, help="write the ratings given to this CSV"
    )
    rate.set_defaults(handler=cmd_rate)

    similar = verbs.add_parser("similar", help="movies like a movie")
    similar.add_argument("--movie", required=True, help="a title; matched fuzzily")
    similar.add_argument("-n", "--n", type=integer(1), default=10, help="how many movies")
    similar.add_argument("--metric", choices=["cosine", "distance"], default="cosine")
    similar.set_defaults(handler=cmd_similar)

    evaluate = verbs.add_parser("eval", help="held-out rating and ranking metrics of the run")
    evaluate.add_argument(
        "-k",
        type=integer(1),
        default=None,
        help="list length for ranking metrics (default: the run's)",
    )
    evaluate.add_argument(
        "--threshold",
        type=finite_number,
        default=None,
        help="a held-out rating this high is relevant (default: every held-out movie is)",
    )
    evaluate.set_defaults(handler=cmd_eval)
    return top


def main(argv: list[str] | None = None) -> int:
    top = parser()
    # `cofi run` hands everything after it to the pipeline's own parser, options included.
    args, extra = top.parse_known_args(argv)
    if args.verb == "run":
        args.pipeline_args = [*extra, *args.pipeline_args]
    elif extra:
        top.error(f"unrecognized arguments: {' '.join(extra)}")
    args.data_dir = args.data_dir or settings.data_dir()
    try:
        return args.handler(args)
    except CofiError as error:
        print(f"cofi: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        # A full or read-only disk, a folder where a file should be: one line, not a traceback.
        where = f"{error.filename}: " if error.filename else ""
        print(f"cofi: error: {where}{error.strerror or error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ncofi: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
