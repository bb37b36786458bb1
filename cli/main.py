"""``cofi``'s argument parsing and dispatch to the verbs (see :mod:`cli`)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from cli.parsing import OneLineParser, finite_number, integer, writable_file  # noqa: E402
from cli.run import cmd_run  # noqa: E402
from cli.verbs import cmd_eval, cmd_rate, cmd_recommend, cmd_similar  # noqa: E402
from cofi import settings  # noqa: E402
from cofi.data.schema import MAX_ID  # noqa: E402
from cofi.errors import CofiError  # noqa: E402


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
    except BrokenPipeError:
        # The reader went away (`cofi recommend ... | head`): stop quietly, as other tools do;
        # stdout goes to /dev/null so that the interpreter's final flush does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
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
