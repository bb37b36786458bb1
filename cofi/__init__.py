"""cofi: collaborative filtering for MovieLens, trained with TensorFlow autodiff.

The public API is imported lazily so that ``import cofi`` stays quick and never pulls in
TensorFlow (or Prefect, which cofi never imports) until it is needed.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

_EXPORTS = {
    "fit": "cofi.api",
    "Model": "cofi.model",
    "load_model": "cofi.model",
    "cofi_cost": "cofi.cost",
    "cofi_cost_sparse": "cofi.cost",
    "normalize_ratings": "cofi.matrices",
    "normalize_triples": "cofi.matrices",
    "IndexMap": "cofi.matrices",
    "RatingTriples": "cofi.matrices",
    "build_triples": "cofi.matrices",
    "TrainConfig": "cofi.training",
    "LAB_CONFIG": "cofi.training",
    "train": "cofi.training",
    "evaluate": "cofi.evaluation",
    "split_random": "cofi.evaluation",
    "RatingScale": "cofi.schema",
    "CofiError": "cofi.errors",
    "DataError": "cofi.errors",
    "ChecksumError": "cofi.errors",
    "TrainingError": "cofi.errors",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'cofi' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])


if TYPE_CHECKING:
    from cofi.api import fit
    from cofi.cost import cofi_cost, cofi_cost_sparse
    from cofi.errors import ChecksumError, CofiError, DataError, TrainingError
    from cofi.evaluation import evaluate, split_random
    from cofi.matrices import (
        IndexMap,
        RatingTriples,
        build_triples,
        normalize_ratings,
        normalize_triples,
    )
    from cofi.model import Model, load_model
    from cofi.schema import RatingScale
    from cofi.training import LAB_CONFIG, TrainConfig, train
