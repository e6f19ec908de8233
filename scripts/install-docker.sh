#!/usr/bin/env bash
# Installs the Docker engine (Debian's `docker.io`) when it is missing and starts a private `dockerd` that leaves the
# host as it found it: its own socket, data and state under STATE_DIR, no bridge (docker0), no iptables/NAT rules
# and no change to net.ipv4.ip_forward. Containers and builds then use `--network host` (or `--network none`).
#
#   bash scripts/install-docker.sh STATE_DIR          # install if needed, start, wait; prints DOCKER_HOST
#   bash scripts/install-docker.sh --stop STATE_DIR   # stop that daemon, unmount and delete STATE_DIR
#
# Used by tests/test_container_image.py. Exits 1 with the reason on stderr when the engine cannot be installed or
# does not answer within 60 s (the last lines of STATE_DIR/dockerd.log are printed).
set -euo pipefail

usage() { echo "usage: install-docker.sh [--stop] STATE_DIR" >&2; exit 2; }

stop_daemon() {
    local dir=$1 pid
    if [ -f "$dir/docker.pid" ]; then
        pid=$(cat "$dir/docker.pid")
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid"
            for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
            kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
        fi
    fi
    # dockerd's own containerd (started with --exec-root) ends with it; a leftover is named by its pid file
    if [ -f "$dir/exec/containerd/containerd.pid" ]; then
        pid=$(cat "$dir/exec/containerd/containerd.pid")
        kill -0 "$pid" 2>/dev/null && kill -TERM "$pid" || true
    fi
    # overlay and shm mounts left under the state folder (deepest first), then the folder itself
    if [ -d "$dir" ]; then
        awk -v d="$(realpath "$dir")" '$2 ~ "^"d {print $2}' /proc/mounts | sort -r | while read -r m; do
            umount -l "$m" || true
        done
        rm -rf "$dir"
    fi
}

[ $# -ge 1 ] || usage
if [ "$1" = "--stop" ]; then
    [ $# -eq 2 ] || usage
    stop_daemon "$2"
    exit 0
fi
[ $# -eq 1 ] || usage
STATE=$(mkdir -p "$1" && realpath "$1")

if ! command -v dockerd >/dev/null 2>&1; then
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "install-docker: no dockerd and no apt-get on this machine; install the Docker engine by hand" >&2
        exit 1
    fi
    if [ "$(id -u)" -ne 0 ]; then
        echo "install-docker: the engine needs root (dockerd, mounts); run as root: apt-get install -y docker.io" >&2
        exit 1
    fi
    # policy-rc.d keeps the package's init script from starting a default daemon (with docker0 and NAT rules)
    policy=/usr/sbin/policy-rc.d
    added_policy=0
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy" && added_policy=1
    fi
    export DEBIAN_FRONTEND=noninteractive
    status=0
    { apt-get update -q && apt-get install -y -q --no-install-recommends docker.io; } >&2 || status=$?
    [ "$added_policy" = 1 ] && rm -f "$policy"
    if [ "$status" -ne 0 ]; then
        echo "install-docker: apt-get install docker.io failed" >&2
        exit 1
    fi
fi

SOCK="unix://$STATE/docker.sock"
if [ -f "$STATE/docker.pid" ] && kill -0 "$(cat "$STATE/docker.pid")" 2>/dev/null; then
    echo "$SOCK"
    exit 0
fi
mkdir -p "$STATE/data" "$STATE/exec"
# --bridge=none: no docker0; --iptables/--ip6tables/--ip-masq=false: no NAT or filter rules; --ip-forward=false:
# ip_forward untouched. setsid: the daemon outlives this script and is stopped with --stop.
setsid dockerd --host "$SOCK" --data-root "$STATE/data" --exec-root "$STATE/exec" --pidfile "$STATE/docker.pid" \
    --bridge=none --iptables=false --ip6tables=false --ip-masq=false --ip-forward=false \
    --storage-driver overlay2 > "$STATE/dockerd.log" 2>&1 < /dev/null &
for _ in $(seq 1 120); do
    if DOCKER_HOST=$SOCK docker version >/dev/null 2>&1; then
        echo "$SOCK"
        exit 0
    fi
    sleep 0.5
done
echo "install-docker: dockerd did not answer on $SOCK within 60 s; last lines of $STATE/dockerd.log:" >&2
tail -n 20 "$STATE/dockerd.log" >&2
exit 1
