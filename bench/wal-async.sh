#!/usr/bin/env bash
# WAL archiving, asynchronous (issue 18): archive_command throughput with
# real WAL, as PostgreSQL's archiver calls it (one file at a time, in order,
# each `.ready` renamed `.done` after a zero exit), into a local repository:
#
#   - coffer (new): `wal-push %p` with its defaults (--parallel 4,
#     --max-batch 32: the next ready files pushed ahead, later calls
#     answered from markers);
#   - coffer --max-batch 1: the same binary pushing one file per call;
#   - coffer (old): COFFER_OLD, e.g. a build of main (one file per call);
#   - pgBackRest archive-push, asynchronous (archive-async, process-max 2,
#     zstd level 3, aes-256-cbc, a local repo).
#
#   sudo bash bench/wal-async.sh
#
# The WAL is real: a PostgreSQL 15 cluster with archiving paused
# (archive_command = '') runs `pgbench -i` until SEGMENTS segments are
# ready, is stopped, and its pg_wal is put back before each run, so every
# tool archives the same files. Needs root (the cluster and the tools run
# as the postgres user).
#
# TARGET=s3 archives the coffer rows into the loopback Garage S3 server
# instead (scripts/garage.sh; pgBackRest is left out: its S3 client needs TLS).
#
# Environment: BENCH_DIR (default /var/tmp/coffer-bench), SEGMENTS (default
# 100), COFFER_NEW (default target/release/coffer, built here unless
# SKIP_BUILD=1), COFFER_OLD (default none: that row is left out), PG_BIN
# (default /usr/lib/postgresql/15/bin), PGBACKREST (default pgbackrest).
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_DIR=${BENCH_DIR:-/var/tmp/coffer-bench}
SEGMENTS=${SEGMENTS:-100}
COFFER_NEW=${COFFER_NEW:-$REPO_ROOT/target/release/coffer}
COFFER_OLD=${COFFER_OLD:-}
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
PGBACKREST=${PGBACKREST:-pgbackrest}
TARGET=${TARGET:-local}
SEG=$((16 << 20))

if [[ ${SKIP_BUILD:-0} != 1 ]]; then
    (cd "$REPO_ROOT" && cargo build --release -p coffer-cli) >&2
fi
work="$BENCH_DIR/wal-async"
rm -rf "$work" && mkdir -p "$work"
chown postgres: "$BENCH_DIR" "$work"
as_pg() { runuser -u postgres -- "$@"; }
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
data="$work/data"

# 1. Real WAL: a cluster with archiving paused, pgbench -i until enough is ready.
as_pg "$PG_BIN/initdb" -D "$data" -U postgres --auth=trust --no-sync >/dev/null
cat >> "$data/postgresql.conf" <<EOF
wal_level = replica
archive_mode = on
archive_command = ''
max_wal_size = 8GB
listen_addresses = '127.0.0.1'
unix_socket_directories = '$work'
port = $port
EOF
as_pg "$PG_BIN/pg_ctl" -D "$data" -l "$work/pg.log" -w start >/dev/null
ready() { find "$data/pg_wal/archive_status" -name '*.ready' | wc -l; }
while (( $(ready) < SEGMENTS )); do
    as_pg "$PG_BIN/pgbench" -h "$work" -p "$port" -U postgres -i -s 10 -q postgres >/dev/null 2>&1
done
# pgBackRest's stanza needs the running cluster.
cat > "$work/pgbackrest.conf" <<EOF
[global]
repo1-path=$work/pgbr-repo
repo1-cipher-type=aes-256-cbc
repo1-cipher-pass=bench-cipher-pass-not-secret
compress-type=zst
compress-level=3
archive-async=y
process-max=2
spool-path=$work/pgbr-spool
lock-path=$work/pgbr-lock
log-path=$work/pgbr-log
log-level-console=warn
log-level-file=off

[bench]
pg1-path=$data
pg1-port=$port
pg1-socket-path=$work
EOF
chown postgres: "$work/pgbackrest.conf"
as_pg "$PGBACKREST" --config="$work/pgbackrest.conf" --stanza=bench stanza-create >/dev/null
as_pg "$PG_BIN/pg_ctl" -D "$data" -m fast -w stop >/dev/null
n=$(ready)
wal_bytes=$((n * SEG))
cp -a "$data/pg_wal" "$work/pg_wal.orig"

# 2. The archiver: each ready file in order, `.ready` -> `.done` on exit 0.
run() { # label command-with-%p
    local label=$1 cmd=$2 start end
    rm -rf "$data/pg_wal" && cp -a "$work/pg_wal.orig" "$data/pg_wal"
    sync
    start=$(date +%s.%N)
    as_pg bash -c '
        cd "$1"; cmd=$2
        for r in $(ls pg_wal/archive_status | grep "\.ready$" | sort); do
            name=${r%.ready}
            c=${cmd//%p/pg_wal/$name}
            eval "$c" || { echo "archive_command failed for $name" >&2; exit 1; }
            mv "pg_wal/archive_status/$r" "pg_wal/archive_status/$name.done"
        done' _ "$data" "$cmd"
    end=$(date +%s.%N)
    awk -v l="$label" -v n="$n" -v s="$start" -v e="$end" -v b="$wal_bytes" 'BEGIN {
        t = e - s
        printf "| %s | %d | %.2f s | %.1f segments/s | %.0f MB/s |\n", l, n, t, n / t, b / t / 1e6
    }'
}

coffer_run() { # label binary flags
    local label=$1 bin=$2 flags=$3 vault="$work/vault-$1"
    if [[ $TARGET == s3 ]]; then
        vault="s3://$COFFER_TEST_S3_BUCKET/wal-async-$1-$(date +%s)"
        label="$label (S3)"
    fi
    as_pg "$bin" init --vault "$vault" --key-file "$work/key-$1" -q
    run "$label" "$bin --vault $vault --key-file $work/key-$1 --quiet wal-push %p $flags"
    local got
    # (wal-verify exits 1 here: the vault has WAL but no base backup.)
    got=$({ as_pg "$bin" --vault "$vault" --key-file "$work/key-$1" pg wal-verify --json 2>/dev/null || true; } |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["segments"])')
    [[ $got == "$n" ]] || { echo "$label: $got segments in the vault, $n expected" >&2; exit 1; }
}

if [[ $TARGET == s3 ]]; then
    env_file=$("$REPO_ROOT/scripts/garage.sh" start)
    # shellcheck source=/dev/null
    source "$env_file"
fi
echo "| archive_command | segments | total | rate | WAL throughput |"
echo "|---|---|---|---|---|"
coffer_run coffer-new "$COFFER_NEW" ""
coffer_run coffer-new-max-batch-1 "$COFFER_NEW" "--max-batch 1"
if [[ -n $COFFER_OLD ]]; then
    coffer_run coffer-old "$COFFER_OLD" ""
fi
if [[ $TARGET == local ]]; then
    run pgbackrest-async "$PGBACKREST --config=$work/pgbackrest.conf --stanza=bench archive-push %p"
    got=$(find "$work/pgbr-repo/archive" -name '0000*' -type f | wc -l)
    [[ $got == "$n" ]] || { echo "pgbackrest: $got segments in the repo, $n expected" >&2; exit 1; }
fi
rm -rf "$work"
