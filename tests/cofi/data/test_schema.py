"""Tests of cofi.data.schema: rating scales and the required-columns check."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pytest

from cofi.data.schema import HALF_STARS, WHOLE_STARS, require_columns
from cofi.errors import CofiError


def test_rating_scale_says_which_values_it_allows() -> None:
    values = [0.5, 5.0, 4.5, 0.0, 5.5, 3.25, float("nan"), 3.0000001]
    assert HALF_STARS.in_range(values).tolist() == [1, 1, 1, 0, 0, 1, 0, 1]
    assert HALF_STARS.on_step(values).tolist() == [1, 1, 1, 1, 1, 0, 0, 1]
    assert HALF_STARS.contains(values).tolist() == [1, 1, 1, 0, 0, 0, 0, 1]
    assert not HALF_STARS.contains(3.0000001, tolerance=1e-9)
    assert WHOLE_STARS.contains([1.0, 5.0]).all() and not WHOLE_STARS.contains([4.5]).any()


@pytest.mark.parametrize("make", [pd.DataFrame, pa.table], ids=["pandas", "arrow"])
def test_require_columns_names_what_lacks_which_columns(make) -> None:
    frame = make({"user_id": [1], "title": ["A (1995)"]})
    require_columns(frame, ("user_id",), "ratings")  # extra columns are fine
    with pytest.raises(CofiError) as caught:
        require_columns(frame, ("user_id", "rating", "movie_id"), "the ratings table")
    assert str(caught.value) == (
        "the ratings table lacks column(s) ['rating', 'movie_id']; it has ['user_id', 'title']"
    )
