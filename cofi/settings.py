"""Where cofi reads MovieLens from and writes to, taken from the environment.

``COFI_MOVIELENS_DIR``: a local folder of GroupLens datasets, holding ``<name>/`` folders or
``<name>.zip`` archives. Looked at first when a dataset is asked for by name.

``COFI_DATA_DIR``: the folder runs write to (default ``./data``): the download cache, ingested
Parquet datasets and run folders.
"""

from __future__ import annotations

import os
from pathlib import Path

MOVIELENS_DIR_ENV = "COFI_MOVIELENS_DIR"
DATA_DIR_ENV = "COFI_DATA_DIR"


def movielens_dir() -> Path | None:
    """The local MovieLens folder from ``COFI_MOVIELENS_DIR``, or None when it is not set."""
    value = os.environ.get(MOVIELENS_DIR_ENV, "").strip()
    return Path(value).expanduser() if value else None


def data_dir() -> Path:
    """The folder runs write to, from ``COFI_DATA_DIR`` (default ``./data``)."""
    return Path(os.environ.get(DATA_DIR_ENV, "").strip() or "data").expanduser()
