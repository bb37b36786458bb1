"""``cofi rate`` without a file: ask for titles and ratings at the terminal."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TextIO

import pandas as pd

from cofi.data.ratings_file import parse_rating
from cofi.outputs.published import PublishedRun

Ask = Callable[[str], str]


def ask_ratings(published: PublishedRun, ask: Ask, out: TextIO | None = None) -> pd.DataFrame:
    """Ask for titles and ratings until an empty title (or end of input).

    Returns:
        ``movie_id`` and ``rating``, one row per movie rated, in the order given.
    """
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
        matches = published.title_matches(query, limit=5)
        if matches.empty:
            print(f"  no title matches {query!r}; try another spelling", file=out)
            continue
        for number, title in enumerate(matches["title"], start=1):
            print(f"  {number}) {title}", file=out)
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
            rating = parse_rating(text, scale)
            if rating is None:
                print(f"  a rating is {scale.describe()}", file=out)
        if rating is not None:
            movie_ids.append(movie_id)
            ratings.append(rating)
    return pd.DataFrame({"movie_id": movie_ids, "rating": ratings})


def _ask_choice(ask: Ask, n: int, out: TextIO) -> int | None:
    """The 0-based match chosen (Enter: the first), or None for none of them."""
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
