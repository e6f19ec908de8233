#!/usr/bin/env bash
# Makes a local base image for the Dockerfile without any image registry: Debian bookworm (minbase) with Python 3.11
# (python3, python3-venv) and g++ (libsvm-official, a dependency of brisque, compiles from its sdist), made by
# debootstrap and loaded with `docker import`. Then: docker build --build-arg BASE_IMAGE=TAG -t vqaloop .
#
#   bash scripts/make-base-image.sh TAG      # e.g. local/bookworm-py311; a present TAG is reused
#
# DOCKER_HOST names the engine (see scripts/install-docker.sh); DEBIAN_MIRROR the archive (deb.debian.org by
# default). Needs root (debootstrap); installs Debian's debootstrap when it is missing. Prints TAG on success.
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: make-base-image.sh TAG" >&2; exit 2; }
TAG=$1
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

if docker image inspect "$TAG" >/dev/null 2>&1; then
    echo "$TAG"
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "make-base-image: debootstrap needs root" >&2
    exit 1
fi
if ! command -v debootstrap >/dev/null 2>&1; then
    { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends debootstrap; } >&2 \
        || { echo "make-base-image: apt-get install debootstrap failed" >&2; exit 1; }
fi
ROOTFS=$(mktemp -d "${TMPDIR:-/tmp}/vqaloop-rootfs.XXXXXX")
trap 'rm -rf "$ROOTFS"' EXIT
debootstrap --variant=minbase --include=python3,python3-venv,g++ bookworm "$ROOTFS" "$MIRROR" >&2 \
    || { echo "make-base-image: debootstrap bookworm failed (mirror $MIRROR)" >&2; exit 1; }
rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/*
tar -C "$ROOTFS" -c . | docker import -c 'ENV LANG=C.UTF-8' - "$TAG" >&2
echo "$TAG"
