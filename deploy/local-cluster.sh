#!/usr/bin/env bash
# A whole Quarry cluster as processes on 127.0.0.1: etcd, an S3 server (s3s-fs), two
# schedulers (one leads, elected in etcd) and N executors that follow the leader.
#
#   deploy/local-cluster.sh start [-n N] [--detach] [options]   start; Ctrl-C stops it
#   deploy/local-cluster.sh status                              what runs, who leads
#   deploy/local-cluster.sh shell [quarry options]              the shell, on the leader
#   deploy/local-cluster.sh stop                                stop what start started
#
# Programs: quarry from $QUARRY_BIN, else target/release/quarry, else
# target/debug/quarry (built with --features quarry-client/etcd); etcd from $ETCD or
# PATH; s3s-fs from $QUARRY_S3S_FS or PATH (scripts/test-env.sh installs both; or
# `cargo install --features binary s3s-fs`). Data, logs and pid files go under
# $QUARRY_CLUSTER_DIR (default ./quarry-cluster); the data stays between runs.
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: deploy/local-cluster.sh start [options] | status | shell [quarry options] | stop

start options:
  -n, --executors N    executors to run (default 3)
      --slots N        task slots per executor (default 2)
      --base-port P    the first port (default 31000): etcd P and P+1, S3 P+2, the
                       schedulers P+10..P+13 and P+20..P+23 (Flight SQL, PostgreSQL,
                       Ballista, HTTP), executor J P+100+10J..+2 (Flight, gRPC, HTTP)
      --drain-timeout S  seconds a stopping executor drains (default 10)
      --no-s3          keep the warehouse in a directory instead of an S3 server
  -d, --detach         start in the background and return; `stop` stops it

Without --detach, start runs until Ctrl-C. Either way it restarts a process that
exits (a scheduler that loses the lead exits, as on Kubernetes), and stops them all in
order: executors (which drain), schedulers, S3, etcd.
Environment: QUARRY_BIN, ETCD, QUARRY_S3S_FS, QUARRY_CLUSTER_DIR, QUARRY_LOG.
EOF
}

note() { echo "local-cluster: $*" >&2; }
die() {
    note "$*"
    exit 1
}

state="${QUARRY_CLUSTER_DIR:-$PWD/quarry-cluster}"
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
self="$repo/deploy/local-cluster.sh"
access_key="quarry-local"
secret_key="quarry-local-secret"
bucket="lake"
# Settings that would override what this script gives its processes (QUARRY_SCHEDULER
# would stop executors following the leader in etcd).
unset QUARRY_CONFIG QUARRY_SCHEDULER QUARRY_CATALOG_DB QUARRY_ADVERTISE_HOST

# What `start` chose; saved in cluster.env for status, stop and the supervisor.
executors=3
slots=2
base=31000
drain=10
use_s3=1
quarry=""
etcd_bin=""
s3s_fs=""

load_state() {
    [ -d "$state" ] || die "no cluster in $state (start one: deploy/local-cluster.sh start)"
    state="$(cd "$state" && pwd)"
    if [ -f "$state/cluster.env" ]; then
        # shellcheck source=/dev/null
        . "$state/cluster.env"
    fi
}

# --- ports and processes --------------------------------------------------------------

etcd_port() { echo "$base"; }
s3_port() { echo $((base + 2)); }
# scheduler_port K flight|pg|ballista|http
scheduler_port() {
    local offset=0
    case "$2" in pg) offset=1 ;; ballista) offset=2 ;; http) offset=3 ;; esac
    echo $((base + 10 * $1 + offset))
}
# executor_port J flight|grpc|http
executor_port() {
    local offset=0
    case "$2" in grpc) offset=1 ;; http) offset=2 ;; esac
    echo $((base + 100 + 10 * $1 + offset))
}

executor_names() {
    local j
    for ((j = 1; j <= executors; j++)); do echo "executor-$j"; done
}

# Every process, in the order they start.
names() {
    echo etcd
    if [ "$use_s3" = 1 ]; then echo s3; fi
    echo scheduler-1
    echo scheduler-2
    executor_names
}

all_ports() {
    local k j p
    echo "$base" $((base + 1))
    if [ "$use_s3" = 1 ]; then s3_port; fi
    for k in 1 2; do
        for p in flight pg ballista http; do scheduler_port "$k" "$p"; done
    done
    for ((j = 1; j <= executors; j++)); do
        for p in flight grpc http; do executor_port "$j" "$p"; done
    done
}

# The command line of process NAME, one argument a line.
args_of() {
    local name="$1" n warehouse
    local etcd_url="http://127.0.0.1:$base" peer="http://127.0.0.1:$((base + 1))"
    local -a args s3=()
    if [ "$use_s3" = 1 ]; then
        s3=(--s3-endpoint "http://127.0.0.1:$(s3_port)" --s3-region us-east-1)
    fi
    case "$name" in
    etcd)
        args=("$etcd_bin" --name quarry-local --data-dir "$state/etcd"
            --listen-client-urls "$etcd_url" --advertise-client-urls "$etcd_url"
            --listen-peer-urls "$peer" --initial-advertise-peer-urls "$peer"
            --initial-cluster "quarry-local=$peer")
        ;;
    s3)
        args=("$s3s_fs" --host 127.0.0.1 --port "$(s3_port)"
            --access-key "$access_key" --secret-key "$secret_key" "$state/s3")
        ;;
    scheduler-*)
        n="${name#scheduler-}"
        warehouse="$state/warehouse"
        if [ "$use_s3" = 1 ]; then warehouse="s3://$bucket/quarry"; fi
        args=("$quarry" scheduler --bind 127.0.0.1 --advertise-host 127.0.0.1
            --warehouse "$warehouse" --etcd "$etcd_url"
            --flight-port "$(scheduler_port "$n" flight)" --pg-port "$(scheduler_port "$n" pg)"
            --ballista-port "$(scheduler_port "$n" ballista)"
            --http-port "$(scheduler_port "$n" http)" "${s3[@]}")
        ;;
    executor-*)
        n="${name#executor-}"
        args=("$quarry" executor --bind 127.0.0.1 --advertise-host 127.0.0.1 --etcd "$etcd_url"
            --flight-port "$(executor_port "$n" flight)" --grpc-port "$(executor_port "$n" grpc)"
            --http-port "$(executor_port "$n" http)" --slots "$slots"
            --work-dir "$state/work/$name" --drain-timeout "$drain" "${s3[@]}")
        ;;
    *) die "no process $name" ;;
    esac
    printf '%s\n' "${args[@]}"
}

# What the log of NAME says since its last start.
last_run() {
    awk '/^== .* local-cluster starts: /{run = ""} {run = run $0 "\n"} END {printf "%s", run}' \
        "$state/logs/$1.log"
}

pid_of() { cat "$state/pids/$1.pid" 2>/dev/null || true; }

# Whether PID runs (the supervisor asks this of its own children).
alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }

# Whether PID runs and belongs to this cluster, not a process that reused a pid of a
# pid file: this cluster's processes carry QUARRY_CLUSTER_DIR. (A process in the middle
# of exec shows no environment for a moment: ask thrice.)
ours() {
    local pid="$1" try
    alive "$pid" || return 1
    [ -e "/proc/$pid/environ" ] || return 0
    for try in 1 2 3; do
        if tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -qxF "QUARRY_CLUSTER_DIR=$state"; then
            return 0
        fi
        [ "$try" = 3 ] || sleep 0.2
    done
    return 1
}

supervisor_pid() {
    local pid
    pid="$(cat "$state/supervisor.pid" 2>/dev/null || true)"
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null &&
        { [ ! -r "/proc/$pid/cmdline" ] || tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q local-cluster; }; then
        echo "$pid"
    fi
}

declare -A started_at=()

# Starts process NAME in the background, in a session of its own: Ctrl-C reaches this
# script only, which stops the processes in order.
spawn() {
    local name="$1"
    local -a cmd
    mapfile -t cmd < <(args_of "$name")
    case "$name" in
    scheduler-* | executor-*)
        if [ "$use_s3" = 1 ]; then
            cmd=(env "QUARRY_S3_ACCESS_KEY_ID=$access_key" "QUARRY_S3_SECRET_ACCESS_KEY=$secret_key" "${cmd[@]}")
        fi
        ;;
    esac
    echo "== $(date '+%F %T') local-cluster starts: ${cmd[*]}" >>"$state/logs/$name.log"
    if command -v setsid >/dev/null; then
        setsid "${cmd[@]}" >>"$state/logs/$name.log" 2>&1 </dev/null &
    else
        "${cmd[@]}" >>"$state/logs/$name.log" 2>&1 </dev/null &
    fi
    echo "$!" >"$state/pids/$name.pid"
    started_at["$name"]=$SECONDS
}

# http_status PORT PATH: the HTTP status code of GET PATH on 127.0.0.1:PORT, 000 if none.
http_status() {
    local line code
    # shellcheck disable=SC2016 # expanded by the inner shell
    line="$(timeout 3 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" &&
        printf "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n" "$2" >&3 &&
        head -n 1 <&3' _ "$1" "$2" 2>/dev/null || true)"
    read -r _ code _ <<<"$line" || true
    echo "${code:-000}"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

stopping=0

# wait_until NAME SECONDS COMMAND...: waits until COMMAND succeeds, while NAME runs.
wait_until() {
    local name="$1" seconds="$2"
    shift 2
    local deadline=$((SECONDS + seconds))
    until "$@"; do
        if [ "$stopping" = 1 ]; then return 1; fi
        if ! alive "$(pid_of "$name")"; then
            note "$name exited; the end of $state/logs/$name.log:"
            last_run "$name" | tail -n 20 >&2
            return 1
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            note "$name not ready after ${seconds}s; see $state/logs/$name.log"
            return 1
        fi
        sleep 0.5
    done
}

# The scheduler that leads (scheduler-1 or scheduler-2), or nothing.
leader() {
    local k
    for k in 1 2; do
        if [ "$(http_status "$(scheduler_port "$k" http)" /readyz)" = 200 ]; then
            echo "scheduler-$k"
            return
        fi
    done
}

leader_ready() { [ -n "$(leader)" ]; }
executor_ready() { [ "$(http_status "$(executor_port "$1" http)" /readyz)" = 200 ]; }
scheduler_up() { [ "$(http_status "$(scheduler_port "$1" http)" /healthz)" = 200 ]; }

# Stops the processes of NAMES... (SIGTERM, then SIGKILL after SECONDS).
stop_group() {
    local seconds="$1" name pid
    shift
    local -a pids=()
    for name in "$@"; do
        pid="$(pid_of "$name")"
        if ours "$pid"; then
            kill -TERM "$pid" 2>/dev/null || true
            pids+=("$pid")
        fi
        rm -f "$state/pids/$name.pid"
    done
    local deadline=$((SECONDS + seconds))
    for pid in "${pids[@]}"; do
        while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.2; done
        if kill -0 "$pid" 2>/dev/null; then
            note "process $pid did not stop in ${seconds}s: killing it"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    done
}

# Whether a process of this cluster runs (by the pid files of every possible process).
leftovers() {
    local file
    for file in "$state"/pids/*.pid; do
        if [ -f "$file" ] && ours "$(cat "$file")"; then return 0; fi
    done
    return 1
}

stop_all() {
    local -a executors_names
    local file
    mapfile -t executors_names < <(executor_names)
    for file in "$state"/pids/executor-*.pid; do # of an earlier run with more executors
        if [ -f "$file" ]; then executors_names+=("$(basename "$file" .pid)"); fi
    done
    note "stopping: executors (draining up to ${drain}s), schedulers, S3, etcd"
    stop_group $((drain + 10)) "${executors_names[@]}"
    stop_group 20 scheduler-1 scheduler-2
    stop_group 10 s3 etcd
    rm -f "$state/ready"
}

print_connect() {
    local lead k
    lead="$(leader)"
    if [ -z "$lead" ]; then
        echo "No scheduler leads yet: see deploy/local-cluster.sh status."
        return
    fi
    k="${lead#scheduler-}"
    cat <<EOF
Quarry cluster on 127.0.0.1: schedulers 2 ($lead leads), executors $executors; state in $state.
Connect to the leader:
  deploy/local-cluster.sh shell
  $quarry --host 127.0.0.1 --port $(scheduler_port "$k" flight)
  psql -h 127.0.0.1 -p $(scheduler_port "$k" pg) -U me quarry
Metrics: http://127.0.0.1:$(scheduler_port "$k" http)/metrics. After a failover the
other scheduler leads, on its own ports: deploy/local-cluster.sh status tells which.
EOF
}

# Starts every process, waits until they are ready, then restarts any that exits
# until SIGTERM (stop) or Ctrl-C; then stops them all.
supervise() {
    trap 'stopping=1' INT TERM HUP
    echo "$$" >"$state/supervisor.pid"
    local name k j ok=1
    spawn etcd
    wait_until etcd 30 port_open "$(etcd_port)" || ok=0
    if [ "$ok" = 1 ] && [ "$use_s3" = 1 ]; then
        spawn s3
        wait_until s3 30 port_open "$(s3_port)" || ok=0
    fi
    if [ "$ok" = 1 ]; then
        spawn scheduler-1
        spawn scheduler-2
        for k in 1 2; do
            wait_until "scheduler-$k" 60 scheduler_up "$k" || { ok=0; break; }
        done
    fi
    if [ "$ok" = 1 ]; then
        wait_until scheduler-1 60 leader_ready || ok=0
    fi
    if [ "$ok" = 1 ]; then
        for ((j = 1; j <= executors; j++)); do spawn "executor-$j"; done
        for ((j = 1; j <= executors; j++)); do
            wait_until "executor-$j" 60 executor_ready "$j" || { ok=0; break; }
        done
    fi
    if [ "$ok" = 0 ]; then
        stopping=1
        stop_all
        rm -f "$state/supervisor.pid"
        note "the cluster did not start"
        return 1
    fi
    touch "$state/ready"
    print_connect
    [ "${detached:-0}" = 1 ] || echo "Ctrl-C stops the cluster."
    while [ "$stopping" = 0 ]; do
        sleep 1 &
        wait "$!" || true
        [ "$stopping" = 0 ] || break
        while read -r name; do
            if ! alive "$(pid_of "$name")" && [ $((SECONDS - ${started_at[$name]:-0})) -ge 5 ]; then
                note "$name exited; restarting it (log: $state/logs/$name.log)"
                spawn "$name"
            fi
        done < <(names)
    done
    stop_all
    rm -f "$state/supervisor.pid"
    note "stopped"
}

find_program() { # find_program VARIABLE-VALUE NAME CANDIDATES...: an absolute path
    local given="$1" name="$2" candidate
    shift 2
    for candidate in "$given" "$@"; do
        [ -n "$candidate" ] || continue
        if [ -x "$candidate" ] && [ -f "$candidate" ]; then
            echo "$(cd "$(dirname "$candidate")" && pwd)/$(basename "$candidate")"
            return
        fi
    done
    if [ -z "$given" ] && command -v "$name" >/dev/null; then
        command -v "$name"
        return
    fi
    return 1
}

cmd_start() {
    local detach=0
    while [ $# -gt 0 ]; do
        case "$1" in
        -n | --executors) executors="${2:?$1 needs a number}"; shift ;;
        --slots) slots="${2:?$1 needs a number}"; shift ;;
        --base-port) base="${2:?$1 needs a port}"; shift ;;
        --drain-timeout) drain="${2:?$1 needs seconds}"; shift ;;
        --no-s3) use_s3=0 ;;
        -d | --detach) detach=1 ;;
        -h | --help) usage; exit 0 ;;
        *) usage >&2; die "unknown option $1" ;;
        esac
        shift
    done
    local value
    for value in "$executors" "$slots" "$base" "$drain"; do
        [[ "$value" =~ ^[0-9]+$ ]] || die "not a number: $value"
    done
    if [ "$executors" -lt 1 ] || [ "$executors" -gt 50 ]; then die "--executors: 1 to 50"; fi
    if [ "$base" -lt 1024 ] || [ $((base + 100 + 10 * executors + 2)) -gt 65535 ]; then
        die "--base-port: from 1024, and low enough for the executors' ports"
    fi

    mkdir -p "$state"
    state="$(cd "$state" && pwd)"
    export QUARRY_CLUSTER_DIR="$state"
    if [ -n "$(supervisor_pid)" ]; then
        die "a cluster already runs in $state (deploy/local-cluster.sh status; stop)"
    fi
    if leftovers; then
        die "processes of an earlier run still run in $state: deploy/local-cluster.sh stop"
    fi

    quarry="$(find_program "${QUARRY_BIN:-}" quarry \
        "${CARGO_TARGET_DIR:+$CARGO_TARGET_DIR/release/quarry}" "$repo/target/release/quarry" \
        "${CARGO_TARGET_DIR:+$CARGO_TARGET_DIR/debug/quarry}" "$repo/target/debug/quarry")" ||
        die "no quarry binary: build it (cargo build --release --bin quarry --features quarry-client/etcd) or set QUARRY_BIN"
    etcd_bin="$(find_program "${ETCD:-}" etcd)" ||
        die "no etcd: install it (Debian: etcd-server) or set ETCD"
    if [ "$use_s3" = 1 ]; then
        s3s_fs="$(find_program "${QUARRY_S3S_FS:-}" s3s-fs)" ||
            die "no s3s-fs: scripts/test-env.sh installs it (or cargo install --features binary s3s-fs), or set QUARRY_S3S_FS; --no-s3 does without"
    fi
    local port
    for port in $(all_ports); do
        if port_open "$port"; then
            die "port $port is in use: choose other ports with --base-port"
        fi
    done

    mkdir -p "$state/logs" "$state/pids" "$state/etcd" "$state/s3/$bucket" "$state/warehouse"
    chmod 700 "$state/etcd"
    local name
    while read -r name; do mkdir -p "$state/work/$name"; done < <(executor_names)
    {
        echo "# Written by deploy/local-cluster.sh start."
        printf 'executors=%q\nslots=%q\nbase=%q\ndrain=%q\nuse_s3=%q\n' \
            "$executors" "$slots" "$base" "$drain" "$use_s3"
        printf 'quarry=%q\netcd_bin=%q\ns3s_fs=%q\n' "$quarry" "$etcd_bin" "$s3s_fs"
    } >"$state/cluster.env"
    rm -f "$state/ready"

    note "starting etcd, $([ "$use_s3" = 1 ] && echo "S3, ")2 schedulers and $executors executor(s) (logs in $state/logs)"
    if [ "$detach" = 0 ]; then
        supervise
        return
    fi
    if command -v setsid >/dev/null; then
        setsid "$self" _supervise </dev/null >>"$state/logs/supervisor.log" 2>&1 &
    else
        nohup "$self" _supervise </dev/null >>"$state/logs/supervisor.log" 2>&1 &
    fi
    local pid=$!
    until [ -f "$state/ready" ]; do
        if ! kill -0 "$pid" 2>/dev/null; then
            tail -n 30 "$state/logs/supervisor.log" >&2
            die "the cluster did not start"
        fi
        sleep 0.5
    done
    print_connect
    echo "It runs in the background: deploy/local-cluster.sh stop stops it."
}

cmd_status() {
    load_state
    local supervisor name pid line k j
    supervisor="$(supervisor_pid)"
    if [ -n "$supervisor" ]; then
        echo "cluster in $state: running (supervisor $supervisor)"
    else
        echo "cluster in $state: not running"
    fi
    while read -r name; do
        pid="$(pid_of "$name")"
        if ! ours "$pid"; then
            printf '  %-12s stopped\n' "$name"
            continue
        fi
        case "$name" in
        etcd) line="http://127.0.0.1:$(etcd_port)" ;;
        s3) line="http://127.0.0.1:$(s3_port) (access key $access_key, secret $secret_key)" ;;
        scheduler-*)
            k="${name#scheduler-}"
            case "$(http_status "$(scheduler_port "$k" http)" /readyz)" in
            200) line="LEADER: Flight SQL $(scheduler_port "$k" flight), PostgreSQL $(scheduler_port "$k" pg)" ;;
            503) line="standby" ;;
            *) line="not answering on HTTP $(scheduler_port "$k" http)" ;;
            esac
            line="$line; HTTP $(scheduler_port "$k" http)"
            ;;
        executor-*)
            j="${name#executor-}"
            case "$(http_status "$(executor_port "$j" http)" /readyz)" in
            200) line="ready" ;;
            *) line="not ready" ;;
            esac
            line="$line; HTTP $(executor_port "$j" http)"
            ;;
        esac
        printf '  %-12s pid %-8s %s\n' "$name" "$pid" "$line"
    done < <(names)
    [ -n "$supervisor" ]
}

cmd_stop() {
    if [ ! -d "$state" ]; then
        echo "no cluster in $state"
        return
    fi
    load_state
    export QUARRY_CLUSTER_DIR="$state"
    local supervisor
    supervisor="$(supervisor_pid)"
    if [ -n "$supervisor" ]; then
        kill -TERM "$supervisor"
        local deadline=$((SECONDS + drain + 60))
        while kill -0 "$supervisor" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.5; done
        if kill -0 "$supervisor" 2>/dev/null; then
            die "the supervisor ($supervisor) did not stop; see $state/logs/supervisor.log"
        fi
    fi
    # Whatever is left (a supervisor that died, a foreground run that was killed).
    if leftovers; then stop_all; fi
    rm -f "$state/supervisor.pid"
    echo "stopped the cluster in $state"
}

cmd_shell() {
    load_state
    local lead
    lead="$(leader)"
    [ -n "$lead" ] || die "no scheduler leads (deploy/local-cluster.sh status)"
    exec "$quarry" --host 127.0.0.1 --port "$(scheduler_port "${lead#scheduler-}" flight)" "$@"
}

case "${1:-}" in
start) shift; cmd_start "$@" ;;
status) cmd_status ;;
stop) cmd_stop ;;
shell) shift; cmd_shell "$@" ;;
_supervise)
    load_state
    export QUARRY_CLUSTER_DIR="$state"
    detached=1
    supervise
    ;;
-h | --help | help) usage ;;
*) usage >&2; exit 2 ;;
esac
