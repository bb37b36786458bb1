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
    "Model": "cofi.models.model",
    "load_model": "cofi.models.model",
    "cofi_cost": "cofi.models.cost",
    "cofi_cost_sparse": "cofi.models.cost",
    "normalize_ratings": "cofi.data.matrices",
    "normalize_triples": "cofi.data.matrices",
    "IndexMap": "cofi.data.matrices",
    "RatingTriples": "cofi.data.matrices",
    "build_triples": "cofi.data.matrices",
    "TrainConfig": "cofi.models.config",
    "LAB_CONFIG": "cofi.models.config",
    "train": "cofi.models.trainer",
    "evaluate": "cofi.evaluation.holdout",
    "split_random": "cofi.evaluation.holdout",
    "RatingScale": "cofi.data.schema",
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
    from cofi.data.matrices import (
        IndexMap,
        RatingTriples,
        build_triples,
        normalize_ratings,
        normalize_triples,
    )
    from cofi.data.schema import RatingScale
    from cofi.errors import ChecksumError, CofiError, DataError, TrainingError
    from cofi.evaluation.holdout import evaluate, split_random
    from cofi.models.config import LAB_CONFIG, TrainConfig
    from cofi.models.cost import cofi_cost, cofi_cost_sparse
    from cofi.models.model import Model, load_model
    from cofi.models.trainer import train
