# vqaloop: the repository's only installer. Two commands on a fresh machine:
#   make demo   # create .venv from envs/, then run the whole DAG on the embedded default (snakemake --cores all)
#   make test   # create .venv from envs/, then run the test suite
PYTHON ?= python3
VENV := .venv
BIN := $(abspath $(VENV))/bin
STAMP := $(VENV)/.installed
LOCK := envs/lock.txt
export PATH := $(BIN):$(PATH)
export OMP_NUM_THREADS ?= 1
CORES ?= all
PYTEST_ARGS ?=
CONFIGFILE ?=
TARGETS ?=
RUN ?= $(if $(CONFIGFILE),$(shell sed -n 's/^run: *\([^ #]*\).*/\1/p' $(CONFIGFILE)),demo)
REPORT_CONFIG := $(if $(CONFIGFILE),--configfile $(CONFIGFILE),)
comma := ,

.PHONY: venv lock image demo study report chromium test test-fast lint format bench clean-results

# .venv installs envs/lock.txt as it is (every package pinned with ==, nothing resolved: the Dockerfile installs the
# same file), then the package in editable mode; pip check fails on a lock that misses a dependency.
$(STAMP): $(LOCK) pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --no-deps --use-pep517 -r $(LOCK)
	$(BIN)/python -m pip install -q --no-deps -e .
	$(BIN)/python -m pip check
	touch $(STAMP)

venv: $(STAMP)

# Regenerates envs/lock.txt with uv's resolver (`uv pip compile`, uv pinned in the lock) from envs/requirements*.txt
# and envs/constraints.txt, for Linux x86_64 and Python 3.11. Pins already in the lock are kept while the
# requirements allow them; make lock UPGRADE=1 moves every package to its newest allowed release. uv reads the
# system's trust store (UV_NATIVE_TLS), as pip does. Then `make venv` installs the new lock.
lock: venv
	UV_NATIVE_TLS=1 $(BIN)/uv pip compile envs/requirements.txt envs/requirements-dev.txt -c envs/constraints.txt \
	  --python-version 3.11 --python-platform x86_64-manylinux_2_28 --custom-compile-command "make lock" \
	  $(if $(UPGRADE),--upgrade,) --quiet -o $(LOCK)

# The image (Dockerfile): CUDA, Python 3.11, envs/lock.txt and the package. BASE_IMAGE: another base, e.g. a local one
# from scripts/make-base-image.sh; CA_BUNDLE: a CA bundle handed to pip as a build secret (intercepting proxy).
# BuildKit is needed (RUN --mount): Debian's docker.io client has it built in; Docker CLI 23+ needs its buildx plugin.
DOCKER ?= docker
IMAGE ?= vqaloop
BASE_IMAGE ?=
CA_BUNDLE ?=
image:
	@if [ -n "$(BASE_IMAGE)" ] && ! $(DOCKER) image inspect "$(BASE_IMAGE)" >/dev/null 2>&1 \
	  && ! $(DOCKER) pull -q "$(BASE_IMAGE)" >/dev/null 2>&1; then \
	  echo "make image: base image '$(BASE_IMAGE)' is not on this engine and cannot be pulled (a local one: bash scripts/make-base-image.sh $(BASE_IMAGE))" >&2; \
	  exit 2; fi
	DOCKER_BUILDKIT=1 $(DOCKER) build --network host $(if $(BASE_IMAGE),--build-arg BASE_IMAGE=$(BASE_IMAGE),) \
	  $(if $(CA_BUNDLE),--secret id=ca$(comma)src=$(CA_BUNDLE),) -t $(IMAGE) .

demo: venv
	$(BIN)/snakemake --cores $(CORES)
	$(MAKE) report

# The high-power study (issue 21, README "The high-power study"): the default with 10 seeds per paper and per control
# (config/study.yaml, an overlay), on the demo's corpus and features; results/study/ and its report.
study: venv
	$(BIN)/snakemake --cores $(CORES) --configfile config/config.yaml config/study.yaml
	$(MAKE) report CONFIGFILE="config/config.yaml config/study.yaml" RUN=study

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

# The 25 slowest tests are listed at the end (make test has to stay under 30 minutes on two cores).
test: venv
	$(BIN)/python -m pytest --durations=25 $(PYTEST_ARGS)

test-fast: venv
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/snakefmt --check Snakefile rules
	$(BIN)/snakemake --lint
	$(BIN)/hadolint Dockerfile

format: venv
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks
	$(BIN)/snakefmt Snakefile rules

# Benchmarks (README "Performance"): the pytest-benchmark files, each timed call beside its floor in the same
# session (benchmarks/results/pytest_benchmark.json), then the script benchmarks named in BENCH_SCRIPTS, each writing
# benchmarks/results/<name>.json with the machine and the date. benchmarks/results/ is tracked: the README quotes
# those files. Every script: make bench BENCH_SCRIPTS="$$(ls benchmarks/bench_*.py)" (hours on 2 cores).
BENCH_SCRIPTS ?= benchmarks/bench_dispatch.py benchmarks/bench_selection_scale.py
bench: venv
	$(BIN)/python -m pytest benchmarks --benchmark-enable --benchmark-only \
	  --benchmark-json=benchmarks/results/pytest_benchmark.json
	for script in $(BENCH_SCRIPTS); do $(BIN)/python $$script || exit 1; done

clean-results:
	rm -rf results/demo results/tiny logs .snakemake
