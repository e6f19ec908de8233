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
CONFIGFILE ?=
TARGETS ?=
RUN ?= $(if $(CONFIGFILE),$(shell sed -n 's/^run: *\([^ #]*\).*/\1/p' $(CONFIGFILE)),demo)
REPORT_CONFIG := $(if $(CONFIGFILE),--configfile $(CONFIGFILE),)

.PHONY: venv demo report chromium test test-fast lint format bench clean-results

$(STAMP): envs/requirements.txt envs/requirements-dev.txt envs/constraints.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -c envs/constraints.txt -r envs/requirements.txt -r envs/requirements-dev.txt
	$(BIN)/python -m pip install -q --no-deps -e .
	touch $(STAMP)

venv: $(STAMP)

demo: venv
	$(BIN)/snakemake --cores $(CORES)
	$(MAKE) report

# The HTML report of a built DAG (every table and figure, captions in report/): results/$(RUN)/report.html.
# Another configuration: make report CONFIGFILE=config/tiny.yaml (RUN defaults to that config's `run`).
# Every report() output of the DAG must exist; after a partial run name its targets: make report TARGETS=mds_table6
# Beside it, software_versions.txt: Python, platform and `pip freeze` of .venv (the report names it).
report: venv
	mkdir -p results/$(RUN)
	{ $(BIN)/python -c 'import platform; print("# python", platform.python_version(), platform.platform())'; \
	  $(BIN)/python -m pip freeze --exclude-editable; } > results/$(RUN)/software_versions.txt
	$(BIN)/snakemake --report results/$(RUN)/report.html $(TARGETS) $(REPORT_CONFIG)

# Headless Chromium for tests/test_report.py (Debian's chromium; the test calls this script itself too).
chromium:
	bash scripts/install-chromium.sh

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
