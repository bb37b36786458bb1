"""Choose the ranking objectives' defaults (and EASE's lambda) on validation ratings only.

Protocol, per dataset: the benchmark split (``split_per_user_random``, 25% of each user's
ratings, ``seed``) is made first and its test part is never read; the validation split is the
same split applied to the training part (seed ``seed + 100``). Every candidate is fitted on
what is left and judged on the validation part: P@10, R@10, NDCG@10 (relevant = every
held-out movie), catalog coverage, and the RMSE of models that predict ratings.

Choice: for each objective, the candidate whose validation P@10, as a share of the best
candidate's on that dataset, is highest in its worst dataset (robust over datasets rather than
best on one). ``mnar`` must also predict ratings: of its candidates whose lists beat
popularity's on every dataset, the one whose validation RMSE is closest to the default biased
MF's in its worst dataset.

    COFI_MOVIELENS_DIR=../shared/movielens python benchmarks/choose_ranking.py \\
        [--datasets ml-100k ml-latest-small] [--seed 0] [--tiny]
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

import cofi  # noqa: E402
from cofi.data.download import resolve_source  # noqa: E402
from cofi.data.ingest import ingest  # noqa: E402
from cofi.data.schema import KNOWN_DATASETS  # noqa: E402
from cofi.evaluation.baselines import fit_ease  # noqa: E402
from cofi.evaluation.metrics import popularity_recommendations, ranking_report  # noqa: E402
from cofi.evaluation.splits import split_per_user_random  # noqa: E402

K = 10
TEST_FRACTION = 0.25

#: The candidates, by objective: TrainConfig fields over the objective's own defaults.
GRID: dict[str, list[dict]] = {
    "ials": [
        # without user weights: the earlier default (lambda 10, w0 0.3) and a lighter one
        *(
            {
                "n_features": 128,
                "iterations": 200,
                "lambda_": lambda_,
                "unobserved_weight": w0,
                "user_weight_power": 0.0,
                "sequence_weight": 0.0,
            }
            for lambda_, w0 in ((10.0, 0.3), (7.0, 0.15))
        ),
        # user weights (m_j / mean m)^-power, then the sequence-neighbour term on the best
        *(
            {
                "n_features": 128,
                "iterations": 200,
                "lambda_": lambda_,
                "unobserved_weight": w0,
                "user_weight_power": power,
                "sequence_weight": sequence,
            }
            for power in (0.3, 0.4)
            for lambda_, w0 in ((10.0, 0.3), (8.5, 0.2), (7.0, 0.15))
            for sequence in ((0.0, 0.2, 0.3) if (power, lambda_) == (0.3, 8.5) else (0.0,))
        ),
        # the frequency-scaled penalty lambda (n + w0 N) of Rendle et al.
        {
            "n_features": 128,
            "iterations": 200,
            "regularization": "weighted",
            "lambda_": 0.02,
            "unobserved_weight": 0.4,
            "user_weight_power": 0.0,
            "sequence_weight": 0.0,
        },
    ],
    "ranking": [
        {
            "n_features": 64,
            "iterations": 100,
            "regularization": "weighted",
            "lambda_": 0.1,
            "unobserved_weight": 0.4,
        },
    ],
    "mnar": [
        {"n_features": 64, "iterations": 100, "lambda_": 10.0, "unobserved_weight": w0}
        for w0 in (0.003, 0.01, 0.03)
    ],
    "biased": [{}],
}
EASE_LAMBDAS = (100.0, 200.0, 300.0, 500.0, 800.0)
#: A grid small enough for the smoke test.
TINY_GRID: dict[str, list[dict]] = {
    "ials": [{"n_features": 8, "iterations": 5}],
    "mnar": [{"n_features": 8, "iterations": 5}],
    "biased": [{"iterations": 5}],
}
TINY_EASE_LAMBDAS = (300.0,)


def validation_split(ratings: pd.DataFrame, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(fit, validation): the benchmark split's training part, split again; test is dropped."""
    train, _ = split_per_user_random(ratings, TEST_FRACTION, seed=seed, min_train=1)
    return split_per_user_random(train, TEST_FRACTION, seed=seed + 100, min_train=1)


def scores(lists: pd.DataFrame, validation: pd.DataFrame, n_catalog: int) -> dict[str, float]:
    report = ranking_report(lists, validation, K, threshold=None, n_catalog=n_catalog)
    return {
        "P@10": report["precision_at_k"],
        "R@10": report["recall_at_k"],
        "NDCG@10": report["ndcg_at_k"],
        "coverage": report["catalog_coverage"],
    }


def evaluate(
    fit: pd.DataFrame, validation: pd.DataFrame, grid: dict[str, list[dict]], lambdas, seed: int
) -> pd.DataFrame:
    """One row per candidate (objective, settings) on one dataset's validation split."""
    users = pd.unique(validation["user_id"].to_numpy())
    n_catalog = fit["movie_id"].nunique()
    rows = []
    started = time.perf_counter()
    popular = popularity_recommendations(fit, users, k=K, min_ratings=1)
    rows.append(
        {"objective": "popularity", "settings": "", **scores(popular, validation, n_catalog),
         "fit seconds": time.perf_counter() - started}
    )  # fmt: skip
    for lambda_ in lambdas:
        started = time.perf_counter()
        model = fit_ease(fit, lambda_)
        seconds = time.perf_counter() - started
        lists = model.recommend(users, n=K)
        rows.append(
            {"objective": "EASE", "settings": f"lambda_={lambda_:g}",
             **scores(lists, validation, n_catalog), "fit seconds": seconds}
        )  # fmt: skip
    for objective, candidates in grid.items():
        for settings in candidates:
            started = time.perf_counter()
            model = cofi.fit(fit, objective=objective, seed=seed, log_every=10**6, **settings)
            seconds = time.perf_counter() - started
            lists = model.recommend(users, n=K, min_ratings=1)
            row = {
                "objective": objective,
                "settings": ", ".join(f"{key}={value}" for key, value in settings.items()),
                **scores(lists, validation, n_catalog),
                "fit seconds": seconds,
            }
            if model.predicts_ratings:
                error = (
                    model.predict(validation["user_id"], validation["movie_id"])
                    - validation["rating"].to_numpy()
                )
                row["RMSE"] = float(np.sqrt(np.mean(np.square(error))))
            rows.append(row)
            print(
                f"  {objective} {row['settings']}: P@10 {row['P@10']:.4f}"
                + (f", RMSE {row['RMSE']:.4f}" if "RMSE" in row else "")
                + f" ({seconds:.1f} s)",
                flush=True,
            )
    return pd.DataFrame(rows)


def choose(tables: dict[str, pd.DataFrame]) -> dict[str, str]:
    """Per objective, the settings whose worst-dataset share of the best P@10 is highest; for
    mnar, of the settings whose lists beat popularity's on every dataset, the one whose RMSE
    is closest to biased MF's in its worst dataset."""
    combined = pd.concat(
        [table.assign(dataset=name) for name, table in tables.items()], ignore_index=True
    )
    by_dataset = combined.groupby("dataset")
    combined["share"] = combined["P@10"] / by_dataset["P@10"].transform("max")
    baseline = {
        name: table.set_index("objective")[["P@10", "RMSE"]] for name, table in tables.items()
    }
    combined["above popularity"] = [
        row["P@10"] > baseline[row["dataset"]].loc["popularity", "P@10"]
        for _, row in combined.iterrows()
    ]
    combined["RMSE excess"] = [
        row["RMSE"] - baseline[row["dataset"]].loc["biased", "RMSE"]
        for _, row in combined.iterrows()
    ]
    candidates = combined.groupby(["objective", "settings"])
    worst_share = candidates["share"].min()
    chosen = {
        objective: str(shares.droplevel(0).idxmax())
        for objective, shares in worst_share.groupby(level=0)
        if objective not in ("popularity", "biased", "mnar")
    }
    mnar = combined[combined["objective"] == "mnar"].groupby("settings")
    ranks = mnar["above popularity"].all()
    excess = mnar["RMSE excess"].max()[ranks]
    if len(excess):
        chosen["mnar"] = str(excess.idxmin())
    return chosen


def load(name: str, work: Path) -> pd.DataFrame:
    result = ingest(resolve_source(dataset=name), work / name, scale=KNOWN_DATASETS[name].scale)
    return pd.read_parquet(
        result.ratings_path, columns=["user_id", "movie_id", "rating", "timestamp"]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    choices = ["ml-100k", "ml-latest-small"]
    parser.add_argument("--datasets", nargs="+", default=choices, choices=choices)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tiny", action="store_true", help="a one-candidate grid (smoke test)")
    args = parser.parse_args()
    grid, lambdas = (TINY_GRID, TINY_EASE_LAMBDAS) if args.tiny else (GRID, EASE_LAMBDAS)
    from cofi.runtime import import_tensorflow

    import_tensorflow()  # quietly; its start-up is not charged to the first fit

    tables = {}
    with tempfile.TemporaryDirectory() as work:
        for name in args.datasets:
            fit, validation = validation_split(load(name, Path(work)), args.seed)
            print(f"\n{name}: {len(fit):,} ratings to fit, {len(validation):,} to validate")
            tables[name] = evaluate(fit, validation, grid, lambdas, args.seed)
            shown = tables[name].copy()
            print(f"\n{name}, validation (k={K}):\n" + shown.to_string(
                index=False, float_format=lambda value: f"{value:.4f}"
            ), flush=True)  # fmt: skip
    print("\nChosen on validation (see the module docstring for the rule):")
    for objective, settings in choose(tables).items():
        print(f"  {objective}: {settings}")


if __name__ == "__main__":
    main()
