# vqaloop: the repository's only installer. Two commands on a fresh machine:
#   make demo   # create .venv from envs/, then run the whole DAG on the embedded default (snakemake --cores all)
#   make test   # create .venv from envs/, then run the test suite
PYTHON ?= python3
VENV := .venv
BIN := $(abspath $(VENV))/bin
STAMP := $(VENV)/.installed
export PATH := $(BIN):$(PATH)
export OMP_NUM_THREADS ?= 1
CORES ?= all
PYTEST_ARGS ?=

.PHONY: venv demo test test-fast lint format bench clean-results

$(STAMP): envs/requirements.txt envs/requirements-dev.txt envs/constraints.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -c envs/constraints.txt -r envs/requirements.txt -r envs/requirements-dev.txt
	$(BIN)/python -m pip install -q --no-deps -e .
	touch $(STAMP)

venv: $(STAMP)

demo: venv
	$(BIN)/snakemake --cores $(CORES)

test: venv
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: venv
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/snakefmt --check Snakefile rules
	$(BIN)/snakemake --lint

format: venv
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks
	$(BIN)/snakefmt Snakefile rules

bench: venv
	$(BIN)/python benchmarks/bench_selection.py

clean-results:
	rm -rf results/demo results/tiny logs .snakemake
