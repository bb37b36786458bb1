"""What the published run says when there is none, or when its record cannot be read."""

from __future__ import annotations

import pytest

from cofi.errors import CofiError
from cofi.outputs.published import PublishedRun


def test_no_run_says_to_run_the_pipeline(tmp_path) -> None:
    published = PublishedRun(tmp_path)
    with pytest.raises(CofiError) as error:
        published.model  # noqa: B018 - the record is read first, and its absence reported
    assert str(error.value) == (
        f"no published run in {tmp_path} (no {tmp_path / 'latest' / 'summary.json'}); "
        "run `cofi run` first"
    )


@pytest.mark.parametrize("text", ["{}", "not json", '{"dataset": "ml-100k", "surprise": 1}'])
def test_a_record_that_does_not_read_says_to_run_again(tmp_path, text: str) -> None:
    (tmp_path / "latest").mkdir()
    (tmp_path / "latest" / "summary.json").write_text(text)
    with pytest.raises(CofiError, match="not a valid run record") as error:
        PublishedRun(tmp_path).record  # noqa: B018
    assert str(error.value).endswith("; run `cofi run` again")
    assert "\n" not in str(error.value)
