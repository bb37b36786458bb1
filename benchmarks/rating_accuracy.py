"""Rating accuracy of cofi's rating objectives: chosen on validation data, then tested once.

Validation (``--validate``): on ML-100K, ``u1.base`` less a seeded 10% (``split_random(train,
0.1, seed=1)``) is fitted and the 10% scored; on ml-latest-small, a seeded 90/10 split (seed 0)
gives (train, test) and a second one of train (seed 1) gives (fit, validation). The test parts
are never read. Each candidate is ``cofi.fit(fit_part, **candidate)``.

Test (``--test``): ``cofi.fit(train, **chosen)`` on ML-100K's predefined folds ``u1``..``u5``
(RMSE per fold, mean, fit seconds) and on ml-latest-small's 90/10 split (beside Surprise SVD++
when it is installed).

    COFI_MOVIELENS_DIR=../shared/movielens python benchmarks/rating_accuracy.py --validate
    COFI_MOVIELENS_DIR=../shared/movielens python benchmarks/rating_accuracy.py --test \\
        [--objective blend]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from cofi.runtime import import_tensorflow  # noqa: E402

import_tensorflow()  # quietly, before cofi's objectives import it

import cofi  # noqa: E402
from cofi.data.download import resolve_source  # noqa: E402
from cofi.data.ingest import ingest  # noqa: E402
from cofi.data.schema import KNOWN_DATASETS  # noqa: E402
from cofi.evaluation.holdout import split_random  # noqa: E402
from cofi.evaluation.splits import split_predefined  # noqa: E402

FOLDS = ("u1", "u2", "u3", "u4", "u5")
#: The candidates of the validation table: name -> cofi.fit keywords (objective defaults apply).
CANDIDATES: dict[str, dict] = {
    "biased": {"objective": "biased"},
    "svdpp": {"objective": "svdpp"},
    "autorec": {"objective": "autorec"},
    "blend": {"objective": "blend"},
}
COLUMNS = ["user_id", "movie_id", "rating"]


def rmse(model: cofi.Model, ratings: pd.DataFrame) -> float:
    predicted = model.predict(ratings["user_id"].to_numpy(), ratings["movie_id"].to_numpy())
    return float(np.sqrt(np.mean((predicted - ratings["rating"].to_numpy()) ** 2)))


def timed_fit(train: pd.DataFrame, options: dict) -> tuple[cofi.Model, float]:
    started = time.perf_counter()
    model = cofi.fit(train[COLUMNS], log_every=1_000_000, **options)
    return model, time.perf_counter() - started


def load_small(work: Path) -> pd.DataFrame:
    name = "ml-latest-small"
    result = ingest(resolve_source(dataset=name), work / name, scale=KNOWN_DATASETS[name].scale)
    return pd.read_parquet(result.ratings_path, columns=COLUMNS)


def validation_splits(work: Path) -> dict[str, tuple[pd.DataFrame, pd.DataFrame]]:
    """(fit, validation) per dataset, carved from training parts only."""
    u1_train, _ = split_predefined(resolve_source(dataset="ml-100k"), "u1")
    small_train, _ = split_random(load_small(work), 0.1, seed=0)
    return {
        "ml-100k u1.base": split_random(u1_train[COLUMNS], 0.1, seed=1),
        "ml-latest-small": split_random(small_train, 0.1, seed=1),
    }


def validate(names: list[str], work: Path) -> None:
    for dataset, (fit_part, validation) in validation_splits(work).items():
        print(f"\n{dataset}: {len(fit_part):,} fit / {len(validation):,} validation ratings")
        for name in names:
            model, seconds = timed_fit(fit_part, CANDIDATES[name])
            print(f"  {name:10s} RMSE {rmse(model, validation):.4f}  {seconds:6.1f} s", flush=True)


def test(options: dict, work: Path, surprise: bool) -> None:
    label = ", ".join(f"{k}={v!r}" for k, v in options.items()) or "defaults"
    print(f"cofi.fit(train, {label}) on ML-100K u1..u5:")
    errors, times = [], []
    for fold in FOLDS:
        train, held_out = split_predefined(resolve_source(dataset="ml-100k"), fold)
        model, seconds = timed_fit(train, options)
        errors.append(rmse(model, held_out))
        times.append(seconds)
        print(f"  {fold}: RMSE {errors[-1]:.4f}  fit {seconds:.1f} s", flush=True)
    print(f"  mean RMSE {np.mean(errors):.4f}, mean fit {np.mean(times):.1f} s")
    train, held_out = split_random(load_small(work), 0.1, seed=0)
    model, seconds = timed_fit(train, options)
    print(f"ml-latest-small 90/10 (seed 0): RMSE {rmse(model, held_out):.4f}  fit {seconds:.1f} s")
    model, seconds = timed_fit(train, {"objective": "biased"})
    print(f"  cofi objective='biased': RMSE {rmse(model, held_out):.4f}  fit {seconds:.1f} s")
    if surprise:
        from surprise import Dataset, Reader, SVDpp

        scale = KNOWN_DATASETS["ml-latest-small"].scale
        data = Dataset.load_from_df(
            train[COLUMNS], Reader(rating_scale=(scale.minimum, scale.maximum))
        )
        algo = SVDpp(random_state=0)
        algo.fit(data.build_full_trainset())
        predicted = np.array(
            [
                algo.predict(u, m).est
                for u, m in zip(held_out["user_id"], held_out["movie_id"], strict=True)
            ]
        )
        error = float(np.sqrt(np.mean((predicted - held_out["rating"].to_numpy()) ** 2)))
        print(f"  Surprise SVD++ (defaults, random_state 0): RMSE {error:.4f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").partition("\n")[0])
    parser.add_argument("--validate", nargs="*", choices=list(CANDIDATES), default=None)
    parser.add_argument("--test", action="store_true", help="test the chosen configuration")
    parser.add_argument("--objective", default=None, help="for --test (default: cofi's default)")
    parser.add_argument("--surprise", action="store_true", help="--test: Surprise SVD++ too")
    args = parser.parse_args()
    import tensorflow  # noqa: F401  (its start-up is not charged to the first fit)

    with tempfile.TemporaryDirectory() as work:
        if args.validate is not None:
            validate(args.validate or list(CANDIDATES), Path(work))
        if args.test:
            options = {"objective": args.objective} if args.objective else {}
            test(options, Path(work), args.surprise)


if __name__ == "__main__":
    main()
