#!/usr/bin/env bash
# A three-node Garage cluster on loopback (replication factor 3, one zone
# per node), with a bucket and a key, for coffer's tests of a replicated
# object store (crates/coffer-cli/tests/e2e/cluster.rs).
#
#   scripts/garage-cluster.sh start        # prints the env file to source
#   scripts/garage-cluster.sh stop         # stops every node, deletes the state
#   scripts/garage-cluster.sh stop-node N  # stops node N (1-3), keeps its data
#   scripts/garage-cluster.sh start-node N # starts node N again
#   scripts/garage-cluster.sh env
#
# Node N listens on 127.0.0.1: S3 40N0, RPC 40N1, admin 40N3 (base port
# COFFER_CLUSTER_PORT, default 4000). Clients use node 1's S3 endpoint;
# node loss tests stop nodes 2 and 3. The garage binary comes from
# scripts/garage.sh (installed with cargo if missing).
set -euo pipefail

DIR="${COFFER_CLUSTER_DIR:-/tmp/coffer-garage-cluster}"
BASE="${COFFER_CLUSTER_PORT:-4000}"
TIMEOUT="${COFFER_CLUSTER_TIMEOUT:-90}"
BUCKET=coffer-cluster
KEY_NAME=coffer-cluster-key
NODES=(1 2 3)

say() { echo "garage-cluster.sh: $*" >&2; }
die() { say "ERROR: $*"; exit 1; }

port() { echo $((BASE + 10 * $1 + $2)); } # node, offset (0 s3, 1 rpc, 3 admin)
toml() { echo "$DIR/node$1/garage.toml"; }
pidfile() { echo "$DIR/node$1/garage.pid"; }
g() { "$GARAGE" -c "$(toml 1)" "$@"; }
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

is_running() {
    local pf pid
    pf="$(pidfile "$1")"
    [[ -s "$pf" ]] || return 1
    pid="$(<"$pf")"
    kill -0 "$pid" 2>/dev/null || return 1
    [[ "$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" == *garage*server* ]]
}

write_config() {
    local n=$1 secret=$2
    mkdir -p "$DIR/node$n/meta" "$DIR/node$n/data"
    (
        umask 077
        cat >"$(toml "$n")" <<EOT
metadata_dir = "$DIR/node$n/meta"
data_dir = "$DIR/node$n/data"
db_engine = "sqlite"
replication_factor = 3

rpc_bind_addr = "127.0.0.1:$(port "$n" 1)"
rpc_public_addr = "127.0.0.1:$(port "$n" 1)"
rpc_secret = "$secret"

[s3_api]
api_bind_addr = "127.0.0.1:$(port "$n" 0)"
s3_region = "garage"
root_domain = ".s3.garage.localhost"

[admin]
api_bind_addr = "127.0.0.1:$(port "$n" 3)"
admin_token = "$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')"
EOT
    )
}

start_node() {
    local n=$1
    is_running "$n" && return 0
    local p
    for p in 0 1 3; do
        port_in_use "$(port "$n" "$p")" && die "port 127.0.0.1:$(port "$n" "$p") is already in use (run: $0 stop)"
    done
    NO_COLOR=1 RUST_LOG="${COFFER_GARAGE_RUST_LOG:-garage=warn}" \
        nohup "$GARAGE" -c "$(toml "$n")" server >>"$DIR/node$n/garage.log" 2>&1 </dev/null &
    echo $! >"$(pidfile "$n")"
    local deadline=$((SECONDS + TIMEOUT))
    until "$GARAGE" -c "$(toml "$n")" status >/dev/null 2>&1; do
        kill -0 "$(<"$(pidfile "$n")")" 2>/dev/null || { tail -n 15 "$DIR/node$n/garage.log" >&2; die "node $n exited during start-up"; }
        ((SECONDS < deadline)) || die "node $n did not answer within ${TIMEOUT}s (log: $DIR/node$n/garage.log)"
        sleep 0.3
    done
}

stop_node() {
    local n=$1 pid i
    is_running "$n" || return 0
    pid="$(<"$(pidfile "$n")")"
    kill "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
    say "stopped node $n (pid $pid)"
}

wait_healthy() {
    local deadline=$((SECONDS + TIMEOUT))
    while :; do
        g health 2>/dev/null | grep -q "Cluster health:[[:space:]]*HEALTHY" && break
        ((SECONDS < deadline)) || die "the cluster is not healthy after ${TIMEOUT}s: $(g health 2>&1 | tr '\n' ' ')"
        sleep 0.5
    done
}

cmd_start() {
    if is_running 1 && is_running 2 && is_running 3 && [[ -s "$DIR/env" ]]; then
        echo "$DIR/env"
        return 0
    fi
    GARAGE="$(bash "$(dirname "$0")/garage.sh" path)"
    local t0=$SECONDS secret n
    secret="$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')"
    if [[ ! -f "$(toml 1)" ]]; then
        for n in "${NODES[@]}"; do write_config "$n" "$secret"; done
    fi
    for n in "${NODES[@]}"; do start_node "$n"; done
    # Connect the nodes and give each its own zone: replication factor 3
    # puts one copy on each.
    local ids=()
    for n in "${NODES[@]}"; do
        ids+=("$("$GARAGE" -c "$(toml "$n")" node id -q)")
    done
    for n in 2 3; do g node connect "${ids[$((n - 1))]}" >/dev/null; done
    local version
    version="$(g layout show | sed -n 's/^Current cluster layout version: \([0-9][0-9]*\)$/\1/p')"
    if [[ "$version" == 0 ]]; then
        for n in "${NODES[@]}"; do
            g layout assign -z "dc$n" -c 1G "${ids[$((n - 1))]%%@*}" >/dev/null
        done
        g layout apply --version 1 >/dev/null
    fi
    wait_healthy
    g key info "$KEY_NAME" >/dev/null 2>&1 || g key create "$KEY_NAME" >/dev/null
    g bucket info "$BUCKET" >/dev/null 2>&1 || g bucket create "$BUCKET" >/dev/null
    g bucket allow --read --write --owner "$BUCKET" --key "$KEY_NAME" >/dev/null
    local key_id key_secret
    key_id="$(g key info --key-id "$KEY_NAME")"
    key_secret="$(g key info --secret-key "$KEY_NAME")"
    (
        umask 077
        cat >"$DIR/env.tmp" <<EOT
export COFFER_CLUSTER_ACCESS_KEY_ID=$key_id
export COFFER_CLUSTER_SECRET_ACCESS_KEY=$key_secret
export COFFER_CLUSTER_ENDPOINT=http://127.0.0.1:$(port 1 0)
export COFFER_CLUSTER_BUCKET=$BUCKET
export COFFER_CLUSTER_SCRIPT=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
EOT
    )
    mv "$DIR/env.tmp" "$DIR/env"
    say "ready in $((SECONDS - t0))s: 3 nodes, S3 at http://127.0.0.1:$(port 1 0), bucket $BUCKET"
    echo "$DIR/env"
}

cmd_stop() {
    local n
    for n in "${NODES[@]}"; do stop_node "$n"; done
    [[ -d "$DIR" && -e "$DIR/node1" ]] && rm -rf "$DIR"
    return 0
}

node_arg() {
    [[ "${1:-}" =~ ^[123]$ ]] || die "give a node number 1, 2 or 3"
}

case "${1:-}" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    stop-node) node_arg "${2:-}"; stop_node "$2" ;;
    start-node)
        node_arg "${2:-}"
        GARAGE="$(bash "$(dirname "$0")/garage.sh" path)"
        start_node "$2"
        ;;
    env) [[ -s "$DIR/env" ]] && cat "$DIR/env" || die "the cluster is not running; run: $0 start" ;;
    *)
        echo "usage: $0 {start|stop|stop-node N|start-node N|env}" >&2
        exit 2
        ;;
esac
