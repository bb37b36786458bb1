# cofi: `make run` sets up and runs the pipeline once; `make test` sets up and runs the tests.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# A local folder of GroupLens datasets; without one, datasets are downloaded from GroupLens.
COFI_MOVIELENS_DIR ?= $(wildcard ../shared/movielens)
export COFI_MOVIELENS_DIR
export TF_CPP_MIN_LOG_LEVEL ?= 2
export PREFECT_SERVER_ANALYTICS_ENABLED ?= false

.PHONY: setup run test lint typecheck clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

setup: $(VENV)/.installed

run: setup
	$(BIN)/python -m flows.pipeline $(ARGS)

# Two worker processes, each file's tests in one of them (tests/conftest.py groups them).
PYTEST_WORKERS ?= 2

test: setup
	$(BIN)/python -m pytest -q -n $(PYTEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check cofi cli tasks flows tests benchmarks
	$(BIN)/ruff format --check cofi cli tasks flows tests benchmarks

typecheck: setup
	$(BIN)/pyright

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
