"""The ``cofi`` command without MovieLens: ``cofi run`` on synthetic ratings, then every verb.

The synthetic data (:mod:`cofi.data.synthetic`) has a planted low-rank model and titles
``Synthetic Movie <id> (<year>)``; the printed lists are checked against cofi's API directly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from prefect.testing.utilities import prefect_test_harness

from cli.main import main
from cofi import load_model
from cofi.data.synthetic import generate
from cofi.evaluation.comparison import compare_rankings
from cofi.models.foldin import fold_in
from cofi.outputs.recommendations import published_recommendations
from cofi.outputs.record import RunRecord
from cofi.outputs.similar import similar_movies


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    source = tmp_path_factory.mktemp("movielens") / "synthetic-20k"
    generate(source, n_ratings=20_000, seed=0)
    root = tmp_path_factory.mktemp("data")
    with prefect_test_harness(server_startup_timeout=120):
        status = main(
            [
                "--data-dir",
                str(root),
                "run",
                "--source",
                str(source),
                "--iterations",
                "60",
                "--ranking-iterations",
                "60",
            ]
        )
    assert status == 0
    return root


@pytest.fixture(scope="module")
def record(data_dir) -> RunRecord:
    return RunRecord.read(data_dir / "latest")


@pytest.fixture(scope="module")
def titles(record) -> pd.Series:
    return pd.read_parquet(record.movies_path).set_index("movie_id")["title"]


def printed_rows(output: str) -> list[list[str]]:
    """The rows of a printed list ("rank  number  title"), split in three."""
    rows = [line.split(None, 2) for line in output.splitlines()]
    return [row for row in rows if len(row) == 3 and row[0].isdigit()]


def test_recommend_prints_the_models_picks_with_their_predictions(
    data_dir, record, titles, capsys
) -> None:
    model = load_model(data_dir / "latest" / "model")
    ranking_model = load_model(data_dir / "latest" / "ranking-model")
    user = int(model.users.ids[3])
    assert main(["--data-dir", str(data_dir), "recommend", "--user", str(user), "-n", "4"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"Top 4 for user {user} (model {record.model_id}):\n")
    # ranked by the ranking model, with the rating model's predicted ratings
    expected = published_recommendations(
        ranking_model,
        np.array([user]),
        n=4,
        min_ratings=record.min_movie_ratings,
        min_user_ratings=record.min_user_ratings,
        rating_model=model,
    )
    table = pd.read_parquet(record.recommendations)
    assert table[table["user_id"] == user]["movie_id"].head(4).tolist() == (
        expected["movie_id"].tolist()
    )
    rows = printed_rows(out)
    assert [row[2] for row in rows] == titles.loc[expected["movie_id"]].tolist()
    assert [float(row[1]) for row in rows] == pytest.approx(
        expected["predicted_rating"].tolist(), abs=0.005
    )


def test_similar_lists_the_nearest_movies_by_features(data_dir, record, titles, capsys) -> None:
    model = load_model(data_dir / "latest" / "model")
    movie = int(model.movies.ids[np.argmax(model.movie_count)])
    typed = titles[movie].rsplit(" (", 1)[0].lower()  # "synthetic movie 7": no year, any case
    assert main(["--data-dir", str(data_dir), "similar", "--movie", typed, "-n", "5"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"Movies like {titles[movie]} (by cosine similarity")
    expected = similar_movies(model, [movie], n=5, min_ratings=record.min_movie_ratings)
    rows = printed_rows(out)
    assert [row[2] for row in rows] == titles.loc[expected["similar_movie_id"]].tolist()
    assert [float(row[1]) for row in rows] == pytest.approx(expected["score"].tolist(), abs=5e-4)


def test_rate_from_a_file_folds_in_a_new_user_and_saves_what_it_read(
    data_dir, record, titles, tmp_path, capsys
) -> None:
    model = load_model(data_dir / "latest" / "model")
    popular = model.movies.ids[np.argsort(-model.movie_count, kind="stable")[:6]]
    given = tmp_path / "given.csv"
    pd.DataFrame(
        {
            "movie_id": popular,
            "title": [titles[m] for m in popular],
            "rating": [5, 4.5, 1, 2, 4, 3],
        }
    ).to_csv(given, index=False)
    saved = tmp_path / "saved.csv"
    argv = ["--data-dir", str(data_dir), "rate", "--file", str(given), "-n", "5"]
    assert main([*argv, "--save-ratings", str(saved)]) == 0
    out = capsys.readouterr().out
    new_user = int(model.users.ids.max()) + 1
    assert f"Folded in as user {new_user} from 6 rating(s)" in out
    picks = [row[2] for row in printed_rows(out.split("Top 5 for you:")[1])]
    assert len(picks) == 5 and not set(picks) & {titles[m] for m in popular}
    written = pd.read_csv(saved)
    assert written.columns.tolist() == ["user_id", "movie_id", "rating"]
    assert written["user_id"].unique().tolist() == [new_user]
    assert written["movie_id"].tolist() == popular.tolist()
    # the file it saved gives the same picks
    assert main(["--data-dir", str(data_dir), "rate", "--file", str(saved), "-n", "5"]) == 0
    again = capsys.readouterr().out
    assert [row[2] for row in printed_rows(again.split("Top 5 for you:")[1])] == picks
    # the new user went into both models: the ranking model picks, the rating model rates
    ratings = written[["movie_id", "rating"]]
    rated = fold_in(model, ratings.assign(user_id=new_user)).model
    ranked = fold_in(
        load_model(data_dir / "latest" / "ranking-model"), ratings.assign(user_id=new_user)
    )
    expected = published_recommendations(
        ranked.model,
        np.array([new_user]),
        n=5,
        min_ratings=record.min_movie_ratings,
        min_user_ratings=record.min_user_ratings,
        rating_model=rated,
    )
    assert picks == titles.loc[expected["movie_id"]].tolist()
    printed = [float(row[1]) for row in printed_rows(again.split("Top 5 for you:")[1])]
    assert printed == pytest.approx(expected["predicted_rating"].tolist(), abs=0.005)


def test_rate_with_one_rating_gets_the_fallback_without_it(
    data_dir, record, titles, monkeypatch, capsys
) -> None:
    model = load_model(data_dir / "latest" / "model")
    movie = int(model.movies.ids[np.argmax(model.movie_count)])
    answers = iter([titles[movie], "", "4", ""])
    monkeypatch.setattr("builtins.input", lambda prompt: next(answers))
    argv = ["--data-dir", str(data_dir), "rate", "--user-id", "900000", "-n", "3"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert f"  1) {titles[movie]}" in out
    assert "Folded in as user 900000 from 1 rating(s)" in out
    assert f"1 rating(s) are fewer than the {record.min_user_ratings} the model needs" in out
    picks = [row[2] for row in printed_rows(out.split("you have not rated:")[1])]
    assert len(picks) == 3 and titles[movie] not in picks


def _printed_list(out: str) -> dict[str, list[str]]:
    table = out.split("published list vs popularity on the held-out ratings")[1]
    return {line.split()[0]: line.split()[1:] for line in table.splitlines()[2:5]}


def test_eval_judges_the_published_list_on_the_test_split(data_dir, record, capsys) -> None:
    assert main(["--data-dir", str(data_dir), "eval", "-k", "5", "--threshold", "3.5"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"Run {record.run_dir}\n")
    # the planted low-rank ratings are there to be learned
    assert "model beats both baselines (RMSE and MAE)" in out
    assert "relevant: rated >= 3.5), k=5" in out
    rows = _printed_list(out)
    assert record.ranking_holdout_model_dir is not None and record.test_path is not None
    assert record.holdout_model_dir is not None
    test = pd.read_parquet(record.test_path)
    expected = compare_rankings(
        load_model(record.ranking_holdout_model_dir),
        pd.read_parquet(record.train_path),
        test,
        k=5,
        threshold=3.5,
        min_ratings=record.min_movie_ratings,
        min_user_ratings=record.min_user_ratings,
        rating_model=load_model(record.holdout_model_dir),
    )
    keys = ("precision_at_k", "recall_at_k", "ndcg_at_k", "map_at_k", "hit_rate_at_k")
    for label, name in (("list", "model"), ("popularity", "popularity")):
        assert [float(value) for value in rows[label][:5]] == pytest.approx(
            [expected[name][key] for key in keys], abs=5e-5
        )
    assert "the most-popular list: P@5" in out


def test_eval_reads_the_runs_own_list_metrics_from_its_record(data_dir, record, capsys) -> None:
    assert main(["--data-dir", str(data_dir), "eval"]) == 0
    out = capsys.readouterr().out
    assert "(relevant: every held-out movie), k=10" in out
    stored = record.published_list
    assert stored is not None
    rows = _printed_list(out)
    assert float(rows["list"][0]) == pytest.approx(stored.list.precision_at_k, abs=5e-5)
    assert float(rows["popularity"][2]) == pytest.approx(stored.popularity.ndcg_at_k, abs=5e-5)
    verdict = "beats" if stored.beats_popularity else "does not beat"
    assert f"The published list {verdict} the most-popular list: P@10" in out


def test_eval_of_a_run_that_held_nothing_out_says_so(data_dir, tmp_path, capsys) -> None:
    # the same record, as a run with --holdout 0 writes it
    record = RunRecord.read(data_dir / "latest")
    bare = record.model_copy(update={"evaluation": None, "holdout_model_dir": None})
    (tmp_path / "latest").mkdir()
    bare.write(tmp_path / "latest")
    assert main(["--data-dir", str(tmp_path), "eval"]) == 2
    assert capsys.readouterr().err == (
        "cofi: error: the published run held nothing out (--holdout 0): nothing to evaluate\n"
    )
