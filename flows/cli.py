"""The ``cofi`` command: the pipeline and the published model, ad hoc.

    cofi run [pipeline options]        run the cofi-pipeline flow once (python -m flows.pipeline)
    cofi recommend --user 42           a user's top picks from the published model
    cofi rate [--file my-ratings.csv]  rate movies as a new user (or from a file), see your picks
    cofi similar --movie "Toy Story"   movies like one, by learned features
    cofi eval                          the published run's held-out metrics, rating and ranking

Everything but ``run`` reads the last published run (``<data>/latest``) and needs only the
cofi library; ``run`` loads Prefect. Titles are matched fuzzily (:mod:`cofi.outputs.titles`). A problem
is reported in one line and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from cofi import settings  # noqa: E402
from cofi.errors import CofiError  # noqa: E402

Ask = Callable[[str], str]


@dataclass
class Published:
    """The last published run of a data folder: its model, movies and summary."""

    root: Path

    @cached_property
    def summary(self) -> dict:
        path = self.root / "latest" / "summary.json"
        if not path.is_file():
            raise CofiError(f"no published run in {self.root} (no {path}); run `cofi run` first")
        return json.loads(path.read_text())

    @cached_property
    def model(self):
        from cofi.models.model import load_model

        self.summary  # noqa: B018 - a missing run is reported before a missing model
        return load_model(self.root / "latest" / "model")

    @cached_property
    def movies(self) -> pd.DataFrame:
        if "movies_path" not in self.summary:
            raise CofiError("the published run predates the cofi command; run `cofi run` again")
        path = Path(self.summary["movies_path"])
        if not path.is_file():
            raise CofiError(f"the published run's movies table {path} is gone; run `cofi run`")
        return pd.read_parquet(path, columns=["movie_id", "title"])

    @cached_property
    def titles(self):
        from cofi.outputs.titles import TitleIndex

        model = self.model
        counts = pd.Series(model.movie_count, index=model.movies.ids)
        # Only movies the model knows can be rated or looked up.
        known = self.movies[self.movies["movie_id"].isin(model.movies.ids)]
        return TitleIndex(known, counts)

    def title_of(self, movie_ids) -> pd.Series:
        return pd.Series(movie_ids).map(self.movies.set_index("movie_id")["title"])

    @property
    def min_user_ratings(self) -> int:
        return int(self.summary.get("min_user_ratings", 5))

    @property
    def min_movie_ratings(self) -> int:
        return int(self.summary.get("min_movie_ratings", 5))


def print_picks(published: Published, table: pd.DataFrame, out=None, *, note: bool = True) -> None:
    """Print a recommendations table as rank, predicted rating and title.

    ``note``: say below the list when it is the cold-start fallback.
    """
    out = out or sys.stdout
    for row in table.itertuples():
        title = published.title_of([row.movie_id]).iloc[0]
        print(f"{row.rank:>4}  {row.predicted_rating:>5.2f}  {title}", file=out)
    if note and len(table) and table["fallback"].any():
        print(
            f"      (too few ratings for the model, under {published.min_user_ratings}: "
            "popular, well-rated movies instead)",
            file=out,
        )


# Verbs -------------------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace) -> int:
    from flows.pipeline import main as run_pipeline

    argv = list(args.pipeline_args)
    if args.data_dir and "--data-dir" not in argv:
        argv = ["--data-dir", str(args.data_dir), *argv]
    return run_pipeline(argv)


def cmd_recommend(args: argparse.Namespace) -> int:
    published = Published(args.data_dir)
    model = published.model
    if model.users.position_of([args.user])[0] < 0:
        ids = model.users.ids
        raise CofiError(
            f"user {args.user} is not in model {model.model_id} ({len(ids):,} users, ids "
            f"{ids.min()} to {ids.max()}); `cofi rate` adds a new user"
        )
    table = model.recommend(
        [args.user],
        n=args.n,
        min_ratings=published.min_movie_ratings,
        min_user_ratings=published.min_user_ratings,
    )
    published.movies  # noqa: B018 - fail before printing anything
    print(f"Top {len(table)} for user {args.user} (model {model.model_id}):")
    print_picks(published, table)
    return 0


def read_ratings_file(path: Path, published: Published) -> pd.DataFrame:
    """A new user's ratings from CSV: a ``rating`` column and ``movie_id`` or ``title``.

    With both, each line's title must match its movie id. Other columns (``user_id``, as
    ``--save-ratings`` writes) are ignored: ``--user-id`` names the new user.
    """
    try:
        table = pd.read_csv(path, dtype={"title": str})
    except FileNotFoundError:
        raise CofiError(f"{path}: no such file") from None
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as error:
        raise CofiError(f"{path}: not a readable CSV file ({error})") from None
    if "rating" not in table.columns or not {"movie_id", "title"} & set(table.columns):
        raise CofiError(
            f"{path}: needs a 'rating' column and a 'movie_id' or 'title' column; "
            f"it has {list(table.columns)}"
        )
    scale = published.model.scale
    movie_ids, ratings = [], []
    for line, row in zip(range(2, len(table) + 2), table.itertuples(), strict=True):
        where = f"{path}, line {line}"
        title = getattr(row, "title", None) if "title" in table.columns else None
        if "movie_id" in table.columns and pd.notna(row.movie_id):
            movie_id = _parse_movie_id(row.movie_id)
            if movie_id is None:
                raise CofiError(f"{where}: movie_id {row.movie_id!r} is not a whole number")
            if published.model.movies.position_of([movie_id])[0] < 0:
                raise CofiError(f"{where}: movie id {movie_id} is not in the model")
            named = published.title_of([movie_id]).iloc[0]
            if isinstance(title, str) and title.strip() and not _same_movie(title, named):
                raise CofiError(
                    f"{where}: movie_id {movie_id} is {named!r} but the title says {title!r}"
                )
        elif isinstance(title, str):
            try:
                movie_id, _ = published.titles.find(row.title)
            except CofiError as error:
                raise CofiError(f"{where}: {error}") from None
        else:
            raise CofiError(f"{where}: no movie_id or title")
        rating = _parse_rating(str(row.rating), scale)
        if rating is None:
            raise CofiError(
                f"{where}: rating {row.rating!r} is not on the scale {scale.describe()}"
            )
        if movie_id in movie_ids:
            raise CofiError(f"{where}: movie {movie_id} is rated twice")
        movie_ids.append(movie_id)
        ratings.append(rating)
    return pd.DataFrame({"movie_id": movie_ids, "rating": ratings})


def _same_movie(typed: str, title) -> bool:
    """Whether ``typed`` names ``title``: the same words, give or take year and article."""
    from cofi.outputs.titles import exact_forms, normalize_title

    return isinstance(title, str) and bool(
        exact_forms(normalize_title(typed)) & exact_forms(normalize_title(title))
    )


def _parse_movie_id(value) -> int | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return int(number) if number.is_integer() else None


def _parse_rating(text: str, scale) -> float | None:
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return value if scale.contains(value, tolerance=1e-9) else None


def ask_ratings(published: Published, ask: Ask, out=None) -> pd.DataFrame:
    """Ask for titles and ratings until an empty title (or end of input)."""
    from cofi.outputs.titles import MIN_SCORE

    out = out or sys.stdout
    scale = published.model.scale
    print(f"Rate movies you have seen ({scale.describe()}). An empty title finishes.", file=out)
    movie_ids: list[int] = []
    ratings: list[float] = []
    while True:
        try:
            query = ask("title> ").strip()
        except EOFError:
            break
        if not query:
            break
        matches = published.titles.search(query, limit=5)
        matches = matches[matches["score"] >= MIN_SCORE]
        if matches.empty:
            print(f"  no title matches {query!r}; try another spelling", file=out)
            continue
        for number, row in enumerate(matches.itertuples(), start=1):
            print(f"  {number}) {row.title}", file=out)
        choice = _ask_choice(ask, len(matches), out)
        if choice is None:
            continue
        movie_id, title = int(matches["movie_id"].iloc[choice]), matches["title"].iloc[choice]
        if movie_id in movie_ids:
            print(f"  {title} is rated already", file=out)
            continue
        rating = None
        while rating is None:
            try:
                text = ask(f"rating for {title}> ")
            except EOFError:
                text = ""
            if not text.strip():
                break
            rating = _parse_rating(text, scale)
            if rating is None:
                print(f"  a rating is {scale.describe()}", file=out)
        if rating is not None:
            movie_ids.append(movie_id)
            ratings.append(rating)
    return pd.DataFrame({"movie_id": movie_ids, "rating": ratings})


def _ask_choice(ask: Ask, n: int, out) -> int | None:
    while True:
        try:
            text = ask(f"which one [1-{n}, Enter = 1, 0 = none]> ").strip()
        except EOFError:
            return None
        if not text:
            return 0
        if text.isdigit() and 0 <= int(text) <= n:
            return int(text) - 1 if int(text) else None
        print(f"  type a number from 0 to {n}", file=out)


def cmd_rate(args: argparse.Namespace, ask: Ask | None = None) -> int:
    from cofi.models.foldin import fold_in

    published = Published(args.data_dir)
    model = published.model
    if args.file:
        ratings = read_ratings_file(args.file, published)
    else:
        ratings = ask_ratings(published, ask or input)
    published.movies  # noqa: B018 - fail before printing anything
    user = args.user_id if args.user_id is not None else int(model.users.ids.max()) + 1
    if model.users.position_of([user])[0] >= 0:
        raise CofiError(f"user {user} is already in the model; choose a new --user-id")
    print()
    if ratings.empty:
        print("No ratings: here are popular, well-rated movies.")
        table = model.recommend(
            [user], n=args.n, min_ratings=published.min_movie_ratings, min_user_ratings=1
        )
        print_picks(published, table)
        return 0
    print("Your ratings:")
    for row in ratings.itertuples():
        print(f"  {row.rating:>4g}  {published.title_of([row.movie_id]).iloc[0]}")
    import tensorflow  # noqa: F401 - loaded first, so the timings below are the work itself

    started = time.perf_counter()
    result = fold_in(model, ratings.assign(user_id=user))
    folded = time.perf_counter() - started
    started = time.perf_counter()
    table = result.model.recommend(
        [user],
        n=args.n,
        min_ratings=published.min_movie_ratings,
        min_user_ratings=published.min_user_ratings,
    )
    scored = time.perf_counter() - started
    print(
        f"\nFolded in as user {user} from {len(ratings)} rating(s): {result.steps} Adam steps, "
        f"{folded:.2f} s; top {args.n} scored in {scored:.2f} s."
    )
    if len(ratings) < published.min_user_ratings:
        print(
            f"{len(ratings)} rating(s) are fewer than the {published.min_user_ratings} the model "
            "needs to go by your taste: popular, well-rated movies you have not rated:"
        )
    else:
        print(f"Top {len(table)} for you:")
    print_picks(published, table, note=False)
    if args.save_ratings:
        ratings.assign(user_id=user)[["user_id", "movie_id", "rating"]].to_csv(
            args.save_ratings, index=False
        )
        print(f"\nratings saved to {args.save_ratings} (`cofi rate --file` reads them)")
    return 0


def cmd_similar(args: argparse.Namespace) -> int:
    from cofi.outputs.similar import similar_movies

    published = Published(args.data_dir)
    movie_id, title = published.titles.find(args.movie)
    count = int(published.model.movie_count[published.model.movies.position_of([movie_id])[0]])
    if count < published.min_movie_ratings:
        # Features learned from a rating or two are mostly the prior: their neighbours are noise.
        raise CofiError(
            f"{title} has {count} rating(s), fewer than the {published.min_movie_ratings} a movie "
            "needs for its features to mean something"
        )
    table = similar_movies(
        published.model,
        [movie_id],
        n=args.n,
        metric=args.metric,
        min_ratings=published.min_movie_ratings,
    )
    label = "cosine similarity" if args.metric == "cosine" else "squared distance"
    print(f"Movies like {title} (by {label} of learned features):")
    for row in table.itertuples():
        print(
            f"{row.rank:>4}  {row.score:>7.3f}  {published.title_of([row.similar_movie_id]).iloc[0]}"
        )
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from cofi.evaluation.holdout import format_report
    from cofi.evaluation.metrics import popularity_recommendations, ranking_report
    from cofi.models.model import load_model

    published = Published(args.data_dir)
    summary = published.summary
    if not summary.get("evaluation"):
        raise CofiError("the published run held nothing out (--holdout 0): nothing to evaluate")
    print(f"Run {summary['run_dir']}")
    print(format_report(summary["evaluation"]))
    model = load_model(summary["holdout_model_dir"])
    train = pd.read_parquet(summary["train_path"], columns=["user_id", "movie_id"])
    test = pd.read_parquet(summary["test_path"], columns=["user_id", "movie_id", "rating"])
    users = np.unique(test["user_id"].to_numpy())
    lists = {
        "model": model.recommend(users, n=args.k, min_ratings=published.min_movie_ratings),
        "popularity": popularity_recommendations(
            train, users, args.k, min_ratings=published.min_movie_ratings
        ),
    }
    print(
        f"\nranking on the same held-out ratings (relevant: rated >= {args.threshold:g}), k={args.k}"
    )
    print(f"{'':<12}{'P@k':>8}{'R@k':>8}{'NDCG@k':>8}{'MAP@k':>8}")
    for name, table in lists.items():
        report = ranking_report(table, test, k=args.k, threshold=args.threshold)
        print(
            f"{name:<12}{report['precision_at_k']:>8.4f}{report['recall_at_k']:>8.4f}"
            f"{report['ndcg_at_k']:>8.4f}{report['map_at_k']:>8.4f}"
        )
    plot = Path(summary["run_dir"]) / "learning-curve.png"
    if plot.is_file():
        print(f"\nlearning curve and metrics: {plot}")
    return 0


# Parsing -----------------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="cofi",
        description="Movie recommendations from MovieLens: run the pipeline, ask the model.",
    )
    top.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="the data folder (default: $COFI_DATA_DIR or ./data)",
    )
    verbs = top.add_subparsers(dest="verb", required=True, metavar="VERB")
    run = verbs.add_parser(
        "run",
        help="run the pipeline once (options as python -m flows.pipeline --help)",
        add_help=False,
    )
    run.add_argument("pipeline_args", nargs=argparse.REMAINDER)
    run.set_defaults(handler=cmd_run)

    recommend = verbs.add_parser("recommend", help="a user's top picks")
    recommend.add_argument("--user", type=int, required=True, help="a user id of the dataset")
    recommend.add_argument("-n", "--n", type=int, default=10, help="how many picks")
    recommend.set_defaults(handler=cmd_recommend)

    rate = verbs.add_parser("rate", help="rate movies as a new user, then see your top picks")
    rate.add_argument(
        "--file", type=Path, help="CSV with rating and title or movie_id (default: ask)"
    )
    rate.add_argument("--user-id", type=int, help="the new user's id (default: the largest + 1)")
    rate.add_argument("-n", "--n", type=int, default=10, help="how many picks")
    rate.add_argument("--save-ratings", type=Path, help="write the ratings given to this CSV")
    rate.set_defaults(handler=cmd_rate)

    similar = verbs.add_parser("similar", help="movies like a movie")
    similar.add_argument("--movie", required=True, help="a title; matched fuzzily")
    similar.add_argument("-n", "--n", type=int, default=10, help="how many movies")
    similar.add_argument("--metric", choices=["cosine", "distance"], default="cosine")
    similar.set_defaults(handler=cmd_similar)

    evaluate = verbs.add_parser("eval", help="held-out rating and ranking metrics of the run")
    evaluate.add_argument("-k", type=int, default=10, help="list length for ranking metrics")
    evaluate.add_argument(
        "--threshold", type=float, default=4.0, help="a held-out rating this high is relevant"
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
    for name in ("n", "k"):
        if getattr(args, name, 1) < 1:
            flag = "-k" if name == "k" else "--n"
            print(f"cofi: error: {flag} must be at least 1", file=sys.stderr)
            return 2
    try:
        return args.handler(args)
    except CofiError as error:
        print(f"cofi: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ncofi: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
