#!/usr/bin/env bash
# A private single-node Slurm cluster on loopback, for tests/test_slurm.py and for trying profiles/slurm on one
# machine (install it first: scripts/install-slurm.sh).
#
#   scripts/start-slurm.sh start DIR   # writes DIR/slurm.conf, DIR/gres.conf and a munge key, starts munged,
#                                      # slurmctld and slurmd (node "localhost", partition "local", 2 fake GPUs of
#                                      # type "tiny"), waits until sinfo shows the node idle, and prints
#                                      #   export SLURM_CONF=DIR/slurm.conf
#                                      # (every Slurm command, snakemake's included, needs it in its environment)
#   scripts/start-slurm.sh stop DIR    # cancels every job, stops the three daemons and removes DIR
#
# Everything lives in DIR (config, state, spool, logs, munge key and socket), except one symbolic link,
# /etc/slurm/slurm.conf -> DIR/slurm.conf, made only where no Slurm config is there (and removed by stop): the
# srun that snakemake-executor-plugin-slurm-jobstep (>= 0.6.1) starts inside each job drops SLURM_CONF and reads
# the default path. A system munge keeps running. Ports: SLURMCTLD_PORT (default 6817), SLURMD_PORT (default 6818).
# Needs root (slurmd starts jobs as their user), or password-less sudo. The fake GPUs are /dev/tty1 and /dev/tty2
# (gres.conf File=); jobs that ask for them get CUDA_VISIBLE_DEVICES but no real device.
set -euo pipefail

PARTITION=local
GPU_TYPE=tiny
MARKER=.vqaloop-slurm
ETC_CONF=/etc/slurm/slurm.conf
START_TIMEOUT=${START_TIMEOUT:-60}

die() {
    echo "start-slurm: $*" >&2
    exit 1
}

usage() {
    die "usage: $0 start|stop DIR"
}

sbin() {
    # Debian puts the daemons in /usr/sbin, which a non-login PATH may lack
    command -v "$1" 2>/dev/null || { [ -x "/usr/sbin/$1" ] && echo "/usr/sbin/$1"; } || die "$1 not found: run scripts/install-slurm.sh"
}

write_config() {
    local dir=$1 cpus memory
    cpus=$(nproc)
    memory=$(($(awk '/^MemTotal:/ {print $2}' /proc/meminfo) / 1024 - 1024)) # MB, leaving 1 GiB to the system
    cat >"$dir/slurm.conf" <<CONF
# Written by scripts/start-slurm.sh: one node on loopback, no accounting database.
ClusterName=vqaloop
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=${SLURMCTLD_PORT:-6817}
SlurmdPort=${SLURMD_PORT:-6818}
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge/munge.socket
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MailProg=/bin/true
MinJobAge=3600
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc=$dir/log/jobcomp.txt
GresTypes=gpu
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$memory Gres=gpu:$GPU_TYPE:2 State=UNKNOWN
PartitionName=$PARTITION Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
    cat >"$dir/gres.conf" <<CONF
# Two fake GPUs: Slurm hands them out and sets CUDA_VISIBLE_DEVICES; the files are only placeholders.
AutoDetect=off
NodeName=localhost Name=gpu Type=$GPU_TYPE File=/dev/tty1
NodeName=localhost Name=gpu Type=$GPU_TYPE File=/dev/tty2
CONF
}

launch() {
    # launch NAME LOG CMD...: a daemon in the foreground of its own session, its pid in DIR/run/NAME.pid
    local name=$1 log=$2
    shift 2
    setsid "$@" >>"$log" 2>&1 </dev/null &
    echo $! >"$DIR/run/$name.pid"
}

node_state() {
    SLURM_CONF="$DIR/slurm.conf" sinfo -h -N -n localhost -o %T 2>/dev/null || true
}

start() {
    [ -e "$DIR/run/slurmctld.pid" ] && die "$DIR already holds a running cluster: $0 stop $DIR first"
    mkdir -p "$DIR"
    DIR=$(cd "$DIR" && pwd)
    [ -z "$(ls -A "$DIR")" ] || [ -e "$DIR/$MARKER" ] || die "$DIR is not empty: give a new or empty folder"
    touch "$DIR/$MARKER"
    mkdir -p "$DIR/state" "$DIR/spool" "$DIR/run" "$DIR/log" "$DIR/munge"
    chmod 0700 "$DIR/munge"
    local munged mungekey slurmctld slurmd
    munged=$(sbin munged)
    slurmctld=$(sbin slurmctld)
    slurmd=$(sbin slurmd)
    write_config "$DIR"
    if [ -e "$ETC_CONF" ] || [ -L "$ETC_CONF" ]; then
        [ "$(readlink "$ETC_CONF")" = "$DIR/slurm.conf" ] ||
            die "$ETC_CONF exists (another Slurm is configured here); jobs' srun would read it instead of $DIR/slurm.conf"
    else
        mkdir -p "$(dirname "$ETC_CONF")"
        ln -s "$DIR/slurm.conf" "$ETC_CONF"
    fi
    # a private munge key (1 KiB of random bytes), socket and seed: a system munged is left alone
    [ -s "$DIR/munge/munge.key" ] || { head -c 1024 /dev/urandom >"$DIR/munge/munge.key" && chmod 0600 "$DIR/munge/munge.key"; }
    launch munged "$DIR/log/munged.out" "$munged" -F --force --key-file="$DIR/munge/munge.key" \
        --socket="$DIR/munge/munge.socket" --pid-file="$DIR/munge/munged.pid" \
        --log-file="$DIR/log/munged.log" --seed-file="$DIR/munge/munged.seed"
    for _ in $(seq 50); do [ -S "$DIR/munge/munge.socket" ] && break; sleep 0.1; done
    [ -S "$DIR/munge/munge.socket" ] || die "munged did not start; see $DIR/log/munged.log"
    launch slurmctld "$DIR/log/slurmctld.out" "$slurmctld" -D -c -i -f "$DIR/slurm.conf"
    launch slurmd "$DIR/log/slurmd.out" "$slurmd" -D -N localhost -f "$DIR/slurm.conf"
    local waited=0 state=""
    while [ "$waited" -lt $((START_TIMEOUT * 10)) ]; do
        state=$(node_state)
        [ "$state" = idle ] && break
        for name in munged slurmctld slurmd; do
            kill -0 "$(cat "$DIR/run/$name.pid")" 2>/dev/null || {
                stop_daemons
                die "$name exited at start; see $DIR/log/$name.log and $DIR/log/$name.out"
            }
        done
        sleep 0.1
        waited=$((waited + 1))
    done
    if [ "$state" != idle ]; then
        stop_daemons
        die "node not idle after ${START_TIMEOUT}s (state: '${state}'); see $DIR/log/"
    fi
    echo "export SLURM_CONF=$DIR/slurm.conf"
}

stop_daemons() {
    local name pid
    for name in slurmd slurmctld munged; do
        [ -e "$DIR/run/$name.pid" ] || continue
        pid=$(cat "$DIR/run/$name.pid")
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        rm -f "$DIR/run/$name.pid"
    done
}

stop() {
    [ -d "$DIR" ] || exit 0
    DIR=$(cd "$DIR" && pwd)
    [ -e "$DIR/$MARKER" ] || die "$DIR was not made by $0 start: not touching it"
    if [ -e "$DIR/run/slurmctld.pid" ] && kill -0 "$(cat "$DIR/run/slurmctld.pid")" 2>/dev/null; then
        # cancel every job of this private cluster and wait (up to 30 s) until no job step runs any more
        SLURM_CONF="$DIR/slurm.conf" scancel --partition="$PARTITION" 2>/dev/null || true
        for _ in $(seq 300); do
            [ -z "$(SLURM_CONF="$DIR/slurm.conf" squeue -h -t RUNNING,COMPLETING -o %i 2>/dev/null)" ] && break
            sleep 0.1
        done
    fi
    stop_daemons
    [ "$(readlink "$ETC_CONF" 2>/dev/null)" = "$DIR/slurm.conf" ] && rm -f "$ETC_CONF"
    rm -rf "$DIR"
}

[ $# -eq 2 ] || usage
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        exec sudo -n -E "$0" "$@"
    fi
    die "needs root (slurmd starts jobs as their user) or password-less sudo"
fi
DIR=$2
case "$1" in
start) start ;;
stop) stop ;;
*) usage ;;
esac
