"""``cofi recommend``, ``rate``, ``similar`` and ``eval``: questions to the published run, printed."""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

import pandas as pd

from cli.ask import Ask, ask_ratings
from cofi.data.ratings_file import write_ratings_file
from cofi.evaluation.comparison import format_list_report
from cofi.evaluation.holdout import format_report
from cofi.outputs.published import PublishedRun


def print_picks(
    published: PublishedRun, table: pd.DataFrame, out: TextIO | None = None, *, note: bool = True
) -> None:
    """Print a recommendations table (with titles) as rank, predicted rating and title.

    ``note``: say below the list when it is the cold-start fallback.
    """
    out = out or sys.stdout
    for row in table.itertuples():
        print(f"{row.rank:>4}  {row.predicted_rating:>5.2f}  {row.title}", file=out)
    if note and len(table) and table["fallback"].any():
        print(
            f"      (too few ratings for the model, under {published.min_user_ratings}: "
            "popular, well-rated movies instead)",
            file=out,
        )


def cmd_recommend(args: argparse.Namespace) -> int:
    published = PublishedRun(args.data_dir)
    table = published.recommend(args.user, n=args.n)
    print(f"Top {len(table)} for user {args.user} (model {published.model.model_id}):")
    print_picks(published, table)
    return 0


def cmd_rate(args: argparse.Namespace, ask: Ask | None = None) -> int:
    published = PublishedRun(args.data_dir)
    if args.file:
        ratings = published.read_ratings_file(args.file)
    else:
        ratings = ask_ratings(published, ask or input)
    user = published.new_user_id(args.user_id)
    print()
    if ratings.empty:
        print("No ratings: here are popular, well-rated movies.")
        print_picks(published, published.popular(user, n=args.n))
        return 0
    print("Your ratings:")
    for row in published.with_titles(ratings).itertuples():
        print(f"  {row.rating:>4g}  {row.title}")
    result = published.fold_in(user, ratings, n=args.n)
    print(
        f"\nFolded in as user {user} from {len(ratings)} rating(s): {result.steps} Adam steps, "
        f"{result.fold_seconds:.2f} s; top {args.n} scored in {result.score_seconds:.2f} s."
    )
    if len(ratings) < published.min_user_ratings:
        print(
            f"{len(ratings)} rating(s) are fewer than the {published.min_user_ratings} the model "
            "needs to go by your taste: popular, well-rated movies you have not rated:"
        )
    else:
        print(f"Top {len(result.picks)} for you:")
    print_picks(published, result.picks, note=False)
    if args.save_ratings:
        write_ratings_file(args.save_ratings, user, ratings)
        print(f"\nratings saved to {args.save_ratings} (`cofi rate --file` reads them)")
    return 0


def cmd_similar(args: argparse.Namespace) -> int:
    published = PublishedRun(args.data_dir)
    title, table = published.similar(args.movie, n=args.n, metric=args.metric)
    label = "cosine similarity" if args.metric == "cosine" else "squared distance"
    print(f"Movies like {title} (by {label} of learned features):")
    for row in table.itertuples():
        print(f"{row.rank:>4}  {row.score:>7.3f}  {row.title}")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    published = PublishedRun(args.data_dir)
    report = published.rating_evaluation()
    print(f"Run {published.record.run_dir}")
    print(format_report(report))
    print()
    print(format_list_report(published.list_evaluation(k=args.k, threshold=args.threshold)))
    if published.learning_curve:
        print(f"\nlearning curve and metrics: {published.learning_curve}")
    return 0
