"""The ``cofi`` command on a real published ml-latest-small run: every verb, scripted."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from prefect.testing.utilities import prefect_test_harness

from cli.main import main
from cofi import load_model
from cofi.outputs.recommendations import published_recommendations

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory, movielens_dir) -> Path:
    from flows.pipeline import cofi_pipeline

    root = tmp_path_factory.mktemp("data")
    with prefect_test_harness(server_startup_timeout=120):
        cofi_pipeline(
            dataset="ml-latest-small", data_dir=str(root), iterations=40, ranking_iterations=40
        )
    return root


def cofi(data_dir: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    """The installed command's code path, as a user runs it (a fresh process, real stdin)."""
    return subprocess.run(
        [sys.executable, "-m", "cli", "--data-dir", str(data_dir), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=180,
        cwd=ROOT,
    )


def picks(output: str) -> list[str]:
    """The titles of a printed top list (lines "rank  predicted  title")."""
    lines = [line.split(None, 2) for line in output.splitlines()]
    return [parts[2] for parts in lines if len(parts) == 3 and parts[0].isdigit()]


def test_recommend_prints_the_models_top_picks(data_dir, capsys) -> None:
    assert main(["--data-dir", str(data_dir), "recommend", "--user", "42", "-n", "5"]) == 0
    printed = picks(capsys.readouterr().out)
    # ranked by the run's ranking model, with the rating model's predicted ratings
    expected = published_recommendations(
        load_model(data_dir / "latest" / "ranking-model"),
        np.array([42]),
        n=5,
        min_ratings=5,
        min_user_ratings=5,
        rating_model=load_model(data_dir / "latest" / "model"),
    )
    movies = pd.read_parquet(data_dir / "datasets" / "ml-latest-small" / "movies.parquet")
    titles = movies.set_index("movie_id").loc[expected["movie_id"], "title"].tolist()
    assert printed == titles


def test_unknown_user_and_unknown_title_are_clear_one_line_errors(data_dir) -> None:
    result = cofi(data_dir, "recommend", "--user", "999999")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"cofi: error: user 999999 is not in model {load_model(data_dir / 'latest' / 'model').model_id}"
        " (610 users, ids 1 to 610); `cofi rate` adds a new user"
    )
    result = cofi(data_dir, "similar", "--movie", "qqqqqzzz")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "no movie title matches 'qqqqqzzz' (closest:" in result.stderr


def test_similar_finds_the_title_fuzzily(data_dir, capsys) -> None:
    assert main(["--data-dir", str(data_dir), "similar", "--movie", "toy story"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Movies like Toy Story (1995) (by cosine similarity")
    titles = picks(out)
    assert len(titles) == 10 and "Toy Story (1995)" not in titles
    assert (
        main(
            [
                "--data-dir",
                str(data_dir),
                "similar",
                "--movie",
                "toy story",
                "--metric",
                "distance",
                "-n",
                "3",
            ]
        )
        == 0
    )
    assert len(picks(capsys.readouterr().out)) == 3


def test_rate_interactively_then_from_the_saved_file(data_dir, tmp_path) -> None:
    script = "\n".join(
        [
            "toy story",
            "",
            "5",  # first match, five stars
            "xyzzy qqq",  # no match: asked again
            "matrix",
            "1",
            "9",
            "4.5",  # a rating off the scale is asked again
            "star wars",
            "",
            "5",
            "notting hill",
            "0",  # none of the matches
            "titanic",
            "",
            "1",
            "heat",
            "",
            "4",
            "",  # done
        ]
    )
    saved = tmp_path / "me.csv"
    result = cofi(data_dir, "rate", "--save-ratings", str(saved), stdin=script + "\n")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "no title matches 'xyzzy qqq'" in out
    assert "a rating is 0.5 to 5 in steps of 0.5" in out
    assert "Folded in as user 611 from 5 rating(s)" in out
    top = picks(out.split("Top 10 for you:")[1])
    assert len(top) == 10
    rated = pd.read_csv(saved)
    assert rated["rating"].tolist() == [5.0, 4.5, 5.0, 1.0, 4.0]
    assert rated["user_id"].unique().tolist() == [611]
    movies = pd.read_parquet(data_dir / "datasets" / "ml-latest-small" / "movies.parquet")
    rated_titles = set(movies.set_index("movie_id").loc[rated["movie_id"], "title"])
    assert "Toy Story (1995)" in rated_titles and not rated_titles & set(top)
    # the same ratings from the file give the same picks
    again = cofi(data_dir, "rate", "--file", str(saved))
    assert again.returncode == 0, again.stderr
    assert picks(again.stdout.split("Top 10 for you:")[1]) == top


def test_rate_without_ratings_falls_back_to_popular_movies(data_dir, monkeypatch, capsys) -> None:
    answers = iter([""])
    monkeypatch.setattr("builtins.input", lambda prompt: next(answers))
    assert main(["--data-dir", str(data_dir), "rate", "-n", "5"]) == 0
    out = capsys.readouterr().out
    assert "No ratings: here are popular, well-rated movies." in out
    assert len(picks(out)) == 5 and "popular, well-rated movies instead" in out


def test_rate_file_errors_name_the_file_and_line(data_dir, tmp_path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("title,rating\nToy Story,4\nThe Matrix,6\n")
    result = cofi(data_dir, "rate", "--file", str(bad))
    assert result.returncode == 2
    assert f"{bad}, line 3: rating 6 is not on the scale 0.5 to 5 in steps of 0.5" in result.stderr
    bad.write_text("name,stars\nToy Story,4\n")
    assert "needs a 'rating' column" in cofi(data_dir, "rate", "--file", str(bad)).stderr


def test_more_bad_input_is_refused_with_the_line(data_dir, tmp_path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("movie_id,rating\n1,4\nabc,3\n")
    assert (
        f"{bad}, line 3: movie_id 'abc' is not a whole number"
        in cofi(data_dir, "rate", "--file", str(bad)).stderr
    )
    bad.write_text("movie_id,title,rating\n1,Heat,4\n")
    assert (
        "line 2: movie_id 1 is 'Toy Story (1995)' but the title says 'Heat'"
        in cofi(data_dir, "rate", "--file", str(bad)).stderr
    )
    # a movie rated once has no meaningful neighbours: say so instead of listing noise
    model = load_model(data_dir / "latest" / "model")
    rare = int(model.movies.ids[model.movie_count == 1][0])
    movies = pd.read_parquet(data_dir / "datasets" / "ml-latest-small" / "movies.parquet")
    title = movies.set_index("movie_id").at[rare, "title"]
    result = cofi(data_dir, "similar", "--movie", title)
    assert result.returncode == 2 and "fewer than the 5 a movie needs" in result.stderr


def test_rate_with_too_few_ratings_says_so(data_dir, tmp_path) -> None:
    few = tmp_path / "few.csv"
    few.write_text("title,rating\nToy Story,5\nHeat,4\n")
    result = cofi(data_dir, "rate", "--file", str(few))
    assert result.returncode == 0, result.stderr
    assert "2 rating(s) are fewer than the 5 the model needs" in result.stdout
    top = picks(result.stdout.split("rated:")[1])
    assert len(top) == 10 and "Toy Story (1995)" not in top and "Heat (1995)" not in top


def test_eval_shows_rating_and_ranking_metrics(data_dir, capsys) -> None:
    assert main(["--data-dir", str(data_dir), "eval"]) == 0
    out = capsys.readouterr().out
    assert "movie_mean" in out and "model beats both baselines" in out
    rows = {
        line.split()[0]: line.split()[1:]
        for line in out.splitlines()
        if line.startswith(("list ", "popularity"))
    }
    # P, R, NDCG, MAP, hit rate and coverage of the published list and of popularity
    assert len(rows["popularity"]) == 6 and all(0 <= float(v) <= 1 for v in rows["popularity"])
    assert len(rows["list"]) == 6
    assert "the most-popular list: P@10" in out
    assert "learning-curve.png" in out


def test_run_passes_options_to_the_pipeline(capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["run", "--help"])
    assert exit_.value.code == 0
    assert "--warm-start" in capsys.readouterr().out


def test_without_a_published_run_the_command_says_what_to_do(tmp_path) -> None:
    result = cofi(tmp_path, "recommend", "--user", "1")
    assert result.returncode == 2
    assert result.stderr.startswith(f"cofi: error: no published run in {tmp_path}")


def test_the_installed_cofi_script_is_this_command(tmp_path) -> None:
    script = Path(sys.executable).with_name("cofi")
    result = subprocess.run(
        [str(script), "--data-dir", str(tmp_path), "eval"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == (
        f"cofi: error: no published run in {tmp_path} (no {tmp_path / 'latest' / 'summary.json'});"
        " run `cofi run` first"
    )


@pytest.mark.parametrize(
    "args, problem",
    [
        (["eval", "--threshold", "nan"], "--threshold: not a finite number: 'nan'"),
        (["eval", "--threshold", "inf"], "--threshold: not a finite number: 'inf'"),
        (["rate", "--user-id", "-5"], "--user-id: must be at least 1"),
        (["rate", "--save-ratings", "/no/such/folder/r.csv"], "no folder '/no/such/folder'"),
        (["recommend", "--user", "1", "-n", "0"], "-n/--n: must be at least 1, got 0"),
        (["recommend", "--user", "7" * 10_000], "--user: too long for a number: '777"),
        (["recommend", "--user", "\x1b[31mred"], r"not a whole number: '\x1b[31mred'"),
        (["recommend"], "the following arguments are required: --user"),
    ],
)
def test_a_bad_option_is_one_short_line_and_status_2(tmp_path, capsys, args, problem) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--data-dir", str(tmp_path), *args])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and problem in err
    assert len(err) < 300


def test_a_disk_error_is_one_line(tmp_path, capsys, monkeypatch) -> None:
    import cli.verbs

    def full_disk(args) -> int:
        raise OSError(28, "No space left on device", str(tmp_path / "ratings.csv"))

    monkeypatch.setattr(cli.verbs, "cmd_eval", full_disk)
    monkeypatch.setattr("cli.main.cmd_eval", full_disk)
    assert main(["--data-dir", str(tmp_path), "eval"]) == 2
    assert capsys.readouterr().err == (
        f"cofi: error: {tmp_path / 'ratings.csv'}: No space left on device\n"
    )


def test_a_reader_that_stops_early_is_no_error(data_dir) -> None:
    # `cofi recommend ... | head -1`: the command stops quietly when its reader goes away
    command = subprocess.Popen(
        [sys.executable, "-m", "cli", "--data-dir", str(data_dir), "recommend", "--user", "42"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    assert command.stdout is not None and command.stderr is not None
    command.stdout.close()  # before it writes a line
    error = command.stderr.read().decode()
    assert command.wait(timeout=180) == 0
    assert error == ""
