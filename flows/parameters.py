"""The flows' parameters, declared once: :class:`PipelineParameters` and :class:`SweepParameters`.

A flow's signature (and so the Prefect UI form and the deployments' parameters) and its
``python -m flows...`` command line are both made from its model: :func:`takes` gives a flow
function the model's fields as its parameters, :func:`add_options` turns fields into options.
The pipeline's training fields are :class:`cofi.models.config.TrainConfig`'s own.
"""

from __future__ import annotations

import argparse
import inspect
import json
import types
from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeVar, Union, get_args, get_origin

from prefect.utilities.callables import ParameterSchema
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic.json_schema import SkipJsonSchema

from cofi.data.schema import KNOWN_DATASETS
from cofi.errors import CofiError
from cofi.evaluation.sweep import Metric, SweepSpace
from cofi.models.config import (
    LAB_CONFIG,
    LARGE_DATA_OBJECTIVE,
    LARGE_DATA_RATINGS,
    MINIBATCH_MIN_RATINGS,
    OBJECTIVE_DEFAULTS,
    SMALL_DATA_OBJECTIVE,
    WARM_START_DEFAULTS,
    TrainConfig,
    make_config,
)
from cofi.models.objectives import OBJECTIVE_NAMES, objective_class

#: A field left empty means "not given": its type, or None. The form shows the type alone (a
#: bare null would render as 'Property is type "None"'); the description says what empty means.
Unset = SkipJsonSchema[None]


class Option:
    """Field metadata: the command-line names of a field (default ``--field-name``)."""

    def __init__(self, *names: str) -> None:
        self.names = names


Model = TypeVar("Model", bound=BaseModel)

#: The TrainConfig fields the flow takes, in the order the form and ``--help`` list them.
TRAINING_FIELDS = (
    "objective",
    "n_features",
    "lambda_",
    "regularization",
    "learning_rate",
    "tolerance",
    "iterations",
    "init_scale",
    "seed",
    "method",
    "dtype",
    "epochs",
    "batch_size",
    "validation_fraction",
)


def _filled_later() -> dict[str, str]:
    """What an empty field means, for the fields left empty by default (None): the objective is
    chosen by size, and a field some objective (or a warm start) sets has that value there,
    else TrainConfig's (make_config fills them in)."""
    described = {
        "objective": f"empty: {SMALL_DATA_OBJECTIVE} below {MINIBATCH_MIN_RATINGS:,} ratings, "
        f"{LARGE_DATA_OBJECTIVE} from there on"
    }
    for name in TRAINING_FIELDS:
        cases = [
            f"{defaults[name]:g} for {objective}"
            for objective, defaults in OBJECTIVE_DEFAULTS.items()
            if name in defaults
        ]
        if name in WARM_START_DEFAULTS:
            cases.append(f"{WARM_START_DEFAULTS[name]:g} for a warm start")
        if cases:
            described[name] = f"empty: {getattr(TrainConfig(), name):g}; " + ", ".join(cases)
    return described


_FILLED_LATER = _filled_later()


def _training_fields() -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for name in TRAINING_FIELDS:
        info = TrainConfig.model_fields[name]
        if name in _FILLED_LATER:
            described = f"{info.description} ({_FILLED_LATER[name]})"
            # The bounds on the value itself, so that None (empty) is not checked against them.
            bounded = (
                Annotated[(info.annotation, *info.metadata)]  # type: ignore[valid-type]
                if info.metadata
                else info.annotation
            )
            fields[name] = (bounded | Unset, Field(default=None, description=described))
        else:
            fields[name] = (info.annotation, FieldInfo.merge_field_infos(info))
    return fields


_TrainingParameters = create_model(
    "_TrainingParameters",
    __config__=ConfigDict(extra="forbid", frozen=True),
    **_training_fields(),
)


class DataParameters(BaseModel):
    """Where a flow reads ratings and writes its outputs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dataset: DatasetName = Field(  # pyright: ignore[reportInvalidTypeForm]
        default="ml-latest-small",
        description="a GroupLens dataset, found in $COFI_MOVIELENS_DIR or downloaded "
        "(ignored when source is given)",
    )
    source: str | Unset = Field(
        default=None,
        description="a local folder, .zip or URL holding a GroupLens dataset (empty: dataset)",
    )
    data_dir: str | Unset = Field(
        default=None, description="output folder (empty: $COFI_DATA_DIR or ./data)"
    )
    quarantine: bool = Field(
        default=False, description="set bad rows aside in quarantine.csv instead of failing"
    )
    sha256: Annotated[str, Field(pattern=r"^[0-9a-fA-F]{64}$")] | Unset = Field(
        default=None,
        description="SHA-256 a downloaded source must have (needed for an http URL, or an "
        "https one with no .md5 beside it; GroupLens releases are pinned in cofi)",
    )
    allow_http: bool = Field(
        default=False, description="accept a plain http:// source URL (needs sha256)"
    )

    @field_validator("source", "data_dir", "sha256", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        # A text field cleared in the form may come back as "".
        return None if isinstance(value, str) and not value.strip() else value


#: What ``dataset`` may name: a GroupLens dataset cofi knows (``source`` takes any other).
DatasetName = Literal[tuple(KNOWN_DATASETS)]  # type: ignore[valid-type]

#: What ``ranking_objective`` may name: a registered objective, or none (the rating model ranks).
RankingObjectiveName = Literal[(*OBJECTIVE_NAMES, "none")]  # type: ignore[valid-type]

#: The training fields the ranking model shares with the rating model (how, not what, it fits).
SHARED_TRAINING_FIELDS = ("seed", "method", "dtype", "epochs", "batch_size")
#: The objective of the ranking model unless one is named: the best top-N lists on validation
#: splits of ML-100K and ml-latest-small (benchmarks/choose_ranking.py).
DEFAULT_RANKING_OBJECTIVE = "ials"


def _ranking_default(name: str) -> str:
    """What an empty ``ranking_*`` field means: TrainConfig field ``name`` as make_config fills
    it for the default ranking objective, and from its large-data size on where that differs."""
    chosen = {"objective": DEFAULT_RANKING_OBJECTIVE}
    large_from = objective_class(DEFAULT_RANKING_OBJECTIVE).large_data_from or LARGE_DATA_RATINGS
    value = getattr(make_config(None, chosen), name)
    large = getattr(make_config(None, chosen, n_ratings=large_from), name)
    said = f"empty: its objective's, {value:g} for {DEFAULT_RANKING_OBJECTIVE}"
    return said if large == value else f"{said}; {large:g} from {large_from:,} ratings"


#: The ranking model's own fields, each set over its objective's defaults where given.
RANKING_FIELDS = {
    "ranking_n_features": "n_features",
    "ranking_iterations": "iterations",
    "ranking_sequence_weight": "sequence_weight",
}


class PipelineParameters(_TrainingParameters, DataParameters):
    """Every parameter of one ``cofi-pipeline`` run. Unknown names and bad values fail at once."""

    ranking_objective: RankingObjectiveName = Field(  # pyright: ignore[reportInvalidTypeForm]
        default=DEFAULT_RANKING_OBJECTIVE,
        description="the objective of the model that ranks the published lists (none: the "
        "rating model ranks them); predicted_rating stays the rating model's",
    )
    ranking_n_features: Annotated[int, Field(ge=1, le=4096)] | Unset = Field(
        default=None,
        description=f"length of the ranking model's vectors ({_ranking_default('n_features')})",
    )
    ranking_iterations: Annotated[int, Field(ge=1, le=1_000_000)] | Unset = Field(
        default=None,
        description="the ranking model's optimizer steps, full batch (mini-batches take "
        f"--epochs) ({_ranking_default('iterations')})",
    )
    ranking_sequence_weight: Annotated[float, Field(ge=0.0, le=10.0)] | Unset = Field(
        default=None,
        description="share of the sequence-neighbour term in the published order (0: off; "
        f"{_ranking_default('sequence_weight')})",
    )

    holdout_fraction: Annotated[float, Option("--holdout")] = Field(
        default=0.1, ge=0.0, lt=1.0, description="share of ratings held out (0: no evaluation)"
    )
    top_n: int = Field(default=10, ge=1, le=1000, description="recommendations per user")
    min_movie_ratings: int = Field(
        default=5, ge=1, description="ratings a movie needs to be recommended"
    )
    min_user_ratings: int = Field(
        default=5,
        ge=0,
        description="users with fewer ratings get the popular fallback (flagged in the table)",
    )
    similar_n: int = Field(
        default=10, ge=0, le=1000, description="similar movies per movie (0: none)"
    )
    similar_metric: Literal["cosine", "distance"] = Field(
        default="cosine", description="cosine similarity or squared feature distance"
    )
    warm_start: bool = Field(
        default=False, description="start training from the last published model of this dataset"
    )
    shards: int = Field(default=1, ge=1, le=10_000, description="score users in this many shards")
    refresh: bool = Field(
        default=False, description="recompute every step even when its inputs are unchanged"
    )

    @model_validator(mode="after")
    def _consistent(self) -> PipelineParameters:
        if self.warm_start and self.validation_fraction:
            raise ValueError(
                "warm_start with validation_fraction > 0 would stop early on ratings the "
                "starting model was trained on; use one or the other"
            )
        try:
            self.train_config(warm_start=self.warm_start)
        except CofiError as error:
            raise ValueError(str(error)) from None
        given = [field for field in RANKING_FIELDS if getattr(self, field) is not None]
        if self.ranking_objective == "none" and given:
            raise ValueError(
                f"{', '.join(given)} set(s) the ranking model, and ranking_objective none has "
                "none (the rating model ranks the lists)"
            )
        try:
            self.ranking_config(warm_start=self.warm_start)
        except CofiError as error:
            raise ValueError(f"the ranking model ({self.ranking_objective}): {error}") from None
        return self

    def _given(self, names: tuple[str, ...]) -> dict[str, Any]:
        """The fields of ``names`` given: not empty and, for a field with a default of its own
        (TrainConfig's), other than it. The others are left to the objective's own defaults (at
        ``n_ratings``' size). A field some objective sets is empty by default, so any value given
        counts, TrainConfig's default included."""
        fields = type(self).model_fields
        values = {name: getattr(self, name) for name in names}
        return {
            name: value
            for name, value in values.items()
            if value is not None and value != fields[name].default
        }

    def train_config(self, warm_start: bool = False, n_ratings: int | None = None) -> TrainConfig:
        """The training configuration: the fields given, the objective's (and a warm start's)
        defaults for the others, its large-data defaults from ``n_ratings`` ratings on."""
        hyperparameters = {"objective": self.objective, **self._given(TRAINING_FIELDS)}
        return make_config(None, hyperparameters, warm_start=warm_start, n_ratings=n_ratings)

    def ranking_config(
        self, warm_start: bool = False, n_ratings: int | None = None
    ) -> TrainConfig | None:
        """The ranking model's configuration: its objective's defaults (large-data ones from
        ``n_ratings`` ratings on), the ``ranking_*`` fields given and the fields it shares with the
        rating model where given; None when the rating model ranks."""
        if self.ranking_objective == "none":
            return None
        hyperparameters = {
            "objective": self.ranking_objective,
            **self._given(SHARED_TRAINING_FIELDS),
        }
        for field, name in RANKING_FIELDS.items():
            if (value := getattr(self, field)) is not None:
                hyperparameters[name] = value
        return make_config(None, hyperparameters, warm_start=warm_start, n_ratings=n_ratings)


class LaunchOptions(BaseModel):
    """Options of ``python -m flows.pipeline`` that are not flow parameters."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    lab: bool = Field(
        default=False,
        description=(
            f"the lab's settings ({LAB_CONFIG.n_features} features, lambda {LAB_CONFIG.lambda_:g}, "
            f"lr {LAB_CONFIG.learning_rate:g}, {LAB_CONFIG.iterations} iterations)"
        ),
    )
    dask_workers: int | None = Field(
        default=None,
        ge=1,
        description="run the scoring shards on a local Dask cluster of this many worker processes",
    )
    dask_address: str | None = Field(
        default=None, description="run the scoring shards on an existing Dask cluster (tcp://...)"
    )
    debug: bool = Field(
        default=False, description="on a failure, show the traceback, not only its one line"
    )


#: The grid swept when none is given: the two hyperparameters that matter most.
DEFAULT_GRID: dict[str, list[Any]] = {"n_features": [10, 30], "lambda_": [5.0, 15.0]}


class SweepParameters(DataParameters):
    """Every parameter of one ``cofi-sweep`` run. Unknown names and bad values fail at once."""

    grid: dict[str, list[Any]] | Unset = Field(
        default=None,
        description=(
            "TrainConfig field -> values, every combination tried, e.g. "
            f"'{{\"n_features\": [10, 30]}}' (without grid or random: {json.dumps(DEFAULT_GRID)})"
        ),
    )
    random: dict[str, list[Any] | dict[str, Any]] | Unset = Field(
        default=None,
        description=(
            'TrainConfig field -> a list of choices or {"low", "high", "log"}, for a seeded '
            "random search of n_samples configurations"
        ),
    )
    n_samples: Annotated[int, Field(ge=1)] | Unset = Field(
        default=None, description="configurations a random search draws (random only)"
    )
    seed: int = Field(default=0, ge=0, description="seeds the splits, the search and training")
    metric: Metric = Field(
        default="rmse",
        description="what picks the best trial: rmse, mae (lower is better), precision_at_k, "
        "ndcg_at_k (higher is better)",
    )
    validation_fraction: float = Field(
        default=0.1,
        gt=0.0,
        lt=1.0,
        description="share of the training ratings each trial is scored on",
    )
    holdout_fraction: Annotated[float, Option("--holdout")] = Field(
        default=0.1,
        ge=0.0,
        lt=1.0,
        description="share of all ratings kept out as test ratings (never read by the sweep)",
    )
    k: int = Field(default=10, ge=1, description="list length for precision and nDCG")
    min_movie_ratings: int = Field(
        default=5, ge=1, description="ratings a movie needs to be recommended"
    )

    @model_validator(mode="after")
    def _valid_space(self) -> SweepParameters:
        self.space()
        return self

    def space(self) -> SweepSpace:
        """The configurations to try: ``grid`` or ``random``, else :data:`DEFAULT_GRID`."""
        grid = DEFAULT_GRID if self.grid is None and self.random is None else self.grid
        return SweepSpace(grid=grid, random=self.random, n_samples=self.n_samples)


class SweepLaunchOptions(BaseModel):
    """Options of ``python -m flows.sweep`` that are not flow parameters."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    parallel: int = Field(
        default=1, ge=1, description="trials fitted at once (threads of this process)"
    )


#: The TrainConfig fields ``--lab`` sets.
LAB_FIELDS = ("n_features", "lambda_", "learning_rate", "iterations", "init_scale")


def takes(model: type[BaseModel]) -> Callable[[Callable], Callable]:
    """Give a ``def f(**parameters)`` the fields of ``model`` as its keyword parameters.

    Prefect reads a flow's parameters (UI form, deployment schema, validation) from its
    signature and docstring, so this makes each field a flow parameter with its type, bounds,
    default and description.
    """

    def decorate(function: Callable) -> Callable:
        parameters = [
            inspect.Parameter(
                name,
                inspect.Parameter.KEYWORD_ONLY,
                default=info.default,
                annotation=Annotated[info.annotation, FieldInfo.merge_field_infos(info)],
            )
            for name, info in model.model_fields.items()
        ]
        function.__signature__ = inspect.Signature(
            parameters, return_annotation=inspect.signature(function).return_annotation
        )
        # Prefect takes each parameter's description in the UI form from the docstring.
        described = [
            f"    {name}: {info.description or name.replace('_', ' ')}"
            for name, info in model.model_fields.items()
        ]
        function.__doc__ = "\n".join(
            [inspect.cleandoc(function.__doc__ or ""), "", "Args:", *described]
        )
        return function

    return decorate


def form_schema(schema: ParameterSchema) -> ParameterSchema:
    """A flow's parameter schema as a deployment should hold it: a field that may be left empty
    (default None) shows its type alone, without ``"default": null``.

    Prefect's validation (the API's, the form's) lets a field without a default be null, but
    refuses null where the schema's default is null and the type is not; left in, a form that
    sends the defaults back would be refused.
    """
    properties = {
        name: {
            key: value for key, value in field.items() if not (key == "default" and value is None)
        }
        for name, field in schema.properties.items()
    }
    return schema.model_copy(update={"properties": properties})


def add_options(parser: argparse.ArgumentParser, model: type[BaseModel]) -> None:
    """An option for each field of ``model``: ``--field-name`` (or its :class:`Option` names).

    Booleans are flags; Literal fields list their choices; an option left out is not passed, so
    the model's default (or a default filled later, for None) applies.
    """
    for name, info in model.model_fields.items():
        names = next((m.names for m in info.metadata if isinstance(m, Option)), None)
        names = names or (f"--{name.rstrip('_').replace('_', '-')}",)
        kind = _without_none(info.annotation)
        default = "" if info.default is None else f" (default: {info.default})"
        options: dict[str, Any] = {"dest": name, "default": argparse.SUPPRESS}
        described = info.description or name.replace("_", " ")
        if kind is bool:
            options.update(action="store_true", help=described)
        elif get_origin(kind) is dict:
            options.update(type=_json_object, metavar="JSON", help=described)
        elif get_origin(kind) is Literal:
            options.update(choices=get_args(kind), help=f"{described}{default}")
        else:
            metavar = name.rstrip("_").upper()
            options.update(type=kind, metavar=metavar, help=f"{described}{default}")
        parser.add_argument(*names, **options)


def parse(
    parser: argparse.ArgumentParser,
    argv: list[str] | None,
    *models: type[BaseModel],
    adjust: Callable[[dict[str, Any]], None] | None = None,
) -> list[Any]:
    """Parse ``argv`` into one instance of each model; a bad value ends the command (status 2).

    ``parser`` has the options of every model (:func:`add_options`); each option goes to the
    model that declares its field. ``adjust`` may change the options given before they do.
    """
    values = vars(parser.parse_args(argv))
    if adjust is not None:
        adjust(values)
    try:
        return [
            model(**{name: values[name] for name in model.model_fields if name in values})
            for model in models
        ]
    except ValidationError as error:
        parser.error(problems(error))


def validated(model: type[Model], values: dict[str, Any]) -> Model:
    """``model(**values)``, or a CofiError that lists each problem on one line."""
    try:
        return model(**values)
    except ValidationError as error:
        raise CofiError(f"bad parameters: {problems(error)}") from None


def problems(error: ValidationError) -> str:
    """One line naming each bad field and what is wrong with it."""
    items = error.errors()
    # A value that may be empty fails both branches of its union; "should be None" says nothing.
    told = [item for item in items if item["type"] != "none_required"] or items
    lines = dict.fromkeys(_problem(item) for item in told)
    return "; ".join(lines)


def _problem(item: Any) -> str:
    # The field's name, without the union branch pydantic adds (lambda_.constrained-float).
    where = str(item["loc"][0]) if item["loc"] else ""
    message = item["msg"].removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


def _json_object(text: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise argparse.ArgumentTypeError(f"not valid JSON: {error}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object, got {text!r}")
    return value


def _without_none(annotation: Any) -> Any:
    if get_origin(annotation) in (Union, types.UnionType):
        [inner] = [arg for arg in get_args(annotation) if not _is_none(arg)]
        return inner
    return annotation


def _is_none(annotation: Any) -> bool:
    if get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    return annotation is type(None)
