#!/usr/bin/env bash
# Installs a single-node Slurm (Debian's `slurm-wlm`: slurmctld + slurmd + client commands) and `munge`, for
# tests/test_slurm.py and scripts/start-slurm.sh. Prints the sbatch path on success; exits 1 (with the reason on
# stderr) when it cannot install (no apt-get, not root and no password-less sudo, or the packages are unavailable).
# Idempotent: installed daemons and commands are reused.
set -euo pipefail
have_all() {
    for cmd in sbatch squeue sinfo slurmctld slurmd munged; do
        command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || return 1
    done
}
if have_all; then
    command -v sbatch
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-slurm: no apt-get on this machine; install slurm-wlm and munge by hand" >&2
    exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        SUDO="sudo -n"
    else
        echo "install-slurm: not root and no password-less sudo; run: apt-get install -y slurm-wlm munge" >&2
        exit 1
    fi
fi
export DEBIAN_FRONTEND=noninteractive
{
    $SUDO apt-get update -q
    # munge's postinst makes /etc/munge/munge.key; slurm-wlm pulls slurmctld, slurmd and slurm-client
    $SUDO apt-get install -y -q --no-install-recommends slurm-wlm munge
} >&2 || { echo "install-slurm: apt-get install slurm-wlm munge failed" >&2; exit 1; }
have_all || { echo "install-slurm: slurm-wlm installed but sbatch/slurmctld/slurmd/munged are missing" >&2; exit 1; }
command -v sbatch
