"""The registry of objectives: each one a cost function, declared once in its own module.

Adding an objective is one new module (a subclass of :class:`~cofi.models.objectives.base.Objective`)
and one line in :data:`REGISTRY`; the trainer, fold-in, warm start and the pipeline's choices
ask the objective object, never its name. Importing this package does not import TensorFlow.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cofi.models.config import TrainConfig
    from cofi.models.objectives.base import Objective

#: name -> "module:class". The order is the order choices are listed in.
REGISTRY: dict[str, str] = {
    "lab": "cofi.models.objectives.lab:LabObjective",
    "biased": "cofi.models.objectives.biased:BiasedObjective",
    "svdpp": "cofi.models.objectives.svdpp:SVDppObjective",
    "ranking": "cofi.models.objectives.ranking:RankingObjective",
    "ials": "cofi.models.objectives.ials:IALSObjective",
    "mnar": "cofi.models.objectives.mnar:MNARObjective",
    "autorec": "cofi.models.objectives.autorec:AutoRecObjective",
    "blend": "cofi.models.objectives.blend:BlendObjective",
}

OBJECTIVE_NAMES: tuple[str, ...] = tuple(REGISTRY)


def objective_class(name: str) -> type[Objective]:
    """The class registered as ``name``.

    Raises:
        KeyError: ``name`` is not registered (TrainConfig refuses such names first).
    """
    from cofi.runtime import import_tensorflow

    import_tensorflow()  # objectives are written in TensorFlow: load it here, quietly, once
    module, _, attribute = REGISTRY[name].partition(":")
    cls = getattr(importlib.import_module(module), attribute)
    if cls.name != name:
        raise RuntimeError(f"{REGISTRY[name]} declares name {cls.name!r}, registered as {name!r}")
    return cls


def objective_for(config: TrainConfig) -> Objective:
    """The objective ``config.objective`` names, bound to ``config``'s hyperparameters."""
    return objective_class(config.objective)(config)
