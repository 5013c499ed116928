#!/usr/bin/env bash
# WAL archiving throughput: how fast `coffer wal-push` archives 16 MiB WAL
# segments one after the other, as PostgreSQL's archiver calls it, into a
# local vault and into the loopback Garage S3 server.
#
#   bash bench/wal-push.sh
#
# The segments are synthetic: each is 16 MiB with its first half random and
# its second half zeros (real WAL compresses somewhere between that and
# pgbench's very compressible filler). Every segment is distinct.
#
# Environment: BENCH_DIR (default /var/tmp/coffer-bench), SEGMENTS (default
# 64, i.e. 1 GiB), TARGETS (default "local s3"), COFFER_BIN (default
# target/release/coffer, built here unless SKIP_BUILD=1).
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_DIR=${BENCH_DIR:-/var/tmp/coffer-bench}
SEGMENTS=${SEGMENTS:-64}
TARGETS=${TARGETS:-"local s3"}
COFFER_BIN=${COFFER_BIN:-$REPO_ROOT/target/release/coffer}
SEG=$((16 << 20))

if [[ ${SKIP_BUILD:-0} != 1 ]]; then
    (cd "$REPO_ROOT" && cargo build --release -p coffer-cli) >&2
fi
work="$BENCH_DIR/wal-push"
rm -rf "$work" && mkdir -p "$work/segs"
for i in $(seq 1 "$SEGMENTS"); do
    name=$(printf '0000000100000000%08X' "$i")
    { head -c $((SEG / 2)) /dev/urandom; head -c $((SEG / 2)) /dev/zero; } > "$work/segs/$name"
done
cat "$work"/segs/* > /dev/null  # in the page cache, like a fresh segment

run() { # label vault
    local label=$1 vault=$2 start end
    "$COFFER_BIN" init --vault "$vault" --key-file "$work/key-$label" -q
    start=$(date +%s.%N)
    for f in "$work"/segs/*; do
        "$COFFER_BIN" wal-push --vault "$vault" --key-file "$work/key-$label" -q "$f"
    done
    end=$(date +%s.%N)
    awk -v l="$label" -v n="$SEGMENTS" -v s="$start" -v e="$end" -v seg="$SEG" 'BEGIN {
        t = e - s
        printf "| %s | %d | %.2f s | %.1f segments/s | %.0f MB/s |\n", l, n, t, n / t, n * seg / t / 1e6
    }'
}

echo "| target | segments | total | rate | WAL throughput |"
echo "|---|---|---|---|---|"
for t in $TARGETS; do
    case $t in
        local) run local "$work/vault" ;;
        s3)
            env_file=$("$REPO_ROOT/scripts/garage.sh" start)
            # shellcheck source=/dev/null
            source "$env_file"
            run s3 "s3://$COFFER_TEST_S3_BUCKET/wal-bench-$(date +%s)"
            ;;
        *) echo "unknown target $t" >&2; exit 1 ;;
    esac
done
rm -rf "$work"
