#!/usr/bin/env bash
# Installs headless Chromium (Debian's `chromium` package) for tests/test_report.py, when it is missing.
# Prints the browser's path on success; exits 1 (with the reason on stderr) when it cannot be installed
# (no apt-get, not root and no sudo, or the package is unavailable). Idempotent: a present browser is reused.
set -euo pipefail
for name in chromium chromium-browser google-chrome; do
    if path=$(command -v "$name" 2>/dev/null); then
        echo "$path"
        exit 0
    fi
done
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-chromium: no apt-get on this machine; install Chromium by hand" >&2
    exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        SUDO="sudo -n"
    else
        echo "install-chromium: not root and no password-less sudo; run: apt-get install -y chromium" >&2
        exit 1
    fi
fi
export DEBIAN_FRONTEND=noninteractive
{
    $SUDO apt-get update -q
    $SUDO apt-get install -y -q --no-install-recommends chromium fonts-dejavu-core
} >&2 || { echo "install-chromium: apt-get install chromium failed" >&2; exit 1; }
command -v chromium
