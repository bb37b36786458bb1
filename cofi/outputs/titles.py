"""Finding movies by title as people type them: fuzzy, forgiving of case, years and articles.

MovieLens titles read ``"Matrix, The (1999)"``; people type ``the matrix``. Titles and queries
are normalized (lower case, the trailing article moved to the front, punctuation dropped, the
year kept as a last word) and compared with RapidFuzz's ``WRatio``; a whole title typed with or
without its year or leading article is an exact match. Equal scores go to the title holding more
of the typed words, then to the movie with more ratings.
"""

from __future__ import annotations

import re
import unicodedata

import numpy as np
import pandas as pd
from rapidfuzz import fuzz, process

from cofi.data.schema import require_columns
from cofi.errors import CofiError

#: Below this score (0-100) a title does not count as a match.
MIN_SCORE = 70.0
#: :meth:`TitleIndex.find`, which picks without asking, also needs the typed words to make up
#: this much of the title's (RapidFuzz ``token_set_ratio``): "leon" is not "Leonard Part 6".
MIN_WORDS_SCORE = 80.0
_FILLER = {"the", "a", "an"}

_TRAILING_ARTICLE = re.compile(
    r"^(?P<rest>.*), (?P<article>the|a|an|les|la|le|l'|il|el|der|die|das|los|las)"
    r"(?P<year>\s*\(\d{4}(?:[-–]\d{0,4})?\))?$",
    re.IGNORECASE,
)
_YEAR = re.compile(r"\((\d{4})(?:[-–]\d{0,4})?\)\s*$")


def normalize_title(title: str) -> str:
    """``"Matrix, The (1999)"`` -> ``"the matrix 1999"``: what both sides are compared as."""
    title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    title = title.strip()
    moved = _TRAILING_ARTICLE.match(title)
    if moved:
        title = f"{moved['article']} {moved['rest']}{moved['year'] or ''}"
    year = _YEAR.search(title)
    if year:
        title = f"{title[: year.start()]} {year.group(1)}"
    # "sorcerer's" and "sorcerers" are the same word to a typist.
    title = re.sub(r"[^0-9a-z ]+", " ", title.lower().replace("'", ""))
    return " ".join(title.split())


def exact_forms(key: str) -> set[str]:
    """A normalized title with and without its year and leading article."""
    forms = {key}
    if re.search(r" \d{4}$", key):
        forms.add(key[:-5])
    for form in list(forms):
        article, _, rest = form.partition(" ")
        if article in {"the", "a", "an"} and rest:
            forms.add(rest)
    return forms


class TitleIndex:
    """Fuzzy lookup of movies by title.

    Args:
        movies: ``movie_id`` and ``title`` of the searchable movies.
        popularity: ``movie_id`` -> number of ratings, to break ties (optional).
    """

    def __init__(self, movies: pd.DataFrame, popularity: pd.Series | None = None) -> None:
        require_columns(movies, ("movie_id", "title"), "movies")
        self.movies = movies[["movie_id", "title"]].reset_index(drop=True)
        self.keys = [normalize_title(title) for title in self.movies["title"]]
        # Typing the whole title, with or without its year or leading article, is an exact match.
        self.exact_keys = [exact_forms(key) for key in self.keys]
        self.bare_keys = [re.sub(r" \d{4}$", "", key) for key in self.keys]
        counts = self.movies["movie_id"].map(popularity) if popularity is not None else None
        self.popularity = (
            np.zeros(len(self.movies)) if counts is None else counts.fillna(0).to_numpy(float)
        )

    def search(self, query: str, limit: int = 5) -> pd.DataFrame:
        """The best ``limit`` matches of ``query``.

        Returns:
            ``movie_id``, ``title``, ``score`` (WRatio, 0-100) and ``words`` (how much of the
            title the typed words make up, 0-100), best first; empty for a query without a word
            of two letters or more besides "the", "a" and "an".
        """
        key = normalize_title(query)
        # A query needs a real word: "a", "x" or "the" would match something by accident.
        if len("".join(word for word in key.split() if word not in _FILLER)) < 2:
            return self.movies.iloc[:0].assign(score=np.array([], float), words=np.array([], float))
        # Scores for every title, then the top by (score, popularity): cheap for ~100k titles.
        scores = process.cdist([key], self.keys, scorer=fuzz.WRatio, workers=1)[0].astype(float)
        exact = np.array([key in forms for forms in self.exact_keys], dtype=bool)
        scores = np.where(exact, 100.0, scores)
        # WRatio scores partial matches alike. Ties go to the title holding more of the typed
        # words ("harry potter sorcerers stone"), then to the more-rated movie ("star wars").
        words = process.cdist([key], self.bare_keys, scorer=fuzz.token_set_ratio, workers=1)[0]
        order = np.lexsort((-self.popularity, -words, -scores))[:limit]
        return (
            self.movies.iloc[order]
            .assign(score=scores[order], words=words[order])
            .reset_index(drop=True)
        )

    def find(self, query: str) -> tuple[int, str]:
        """The ``(movie_id, title)`` best matching ``query``.

        Raises:
            CofiError: no title scores at least :data:`MIN_SCORE` with its words at least
                :data:`MIN_WORDS_SCORE`; the message lists the closest titles.
        """
        matches = self.search(query, limit=3)
        if (
            matches.empty
            or matches["score"].iloc[0] < MIN_SCORE
            or matches["words"].iloc[0] < MIN_WORDS_SCORE
        ):
            closest = "; ".join(f"{title!r}" for title in matches["title"]) or "none"
            raise CofiError(f"no movie title matches {query!r} (closest: {closest})")
        best = matches.iloc[0]
        return int(best["movie_id"]), str(best["title"])
