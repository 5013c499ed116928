#!/usr/bin/env bash
# Soak: WRITERS coffer processes back up their own sources into one S3 vault
# (the loopback Garage of scripts/garage.sh), ROUNDS times each, while prune
# and forget run in a loop; then check --read-data and restore every kept
# snapshot, comparing it with its source. Exits non-zero on any loss.
#
#   bench/soak-writers.sh [WRITERS=8] [ROUNDS=20] [FILE_MB=8]
#
# The test suite runs a short version (crates/coffer-cli/tests/e2e/prune.rs,
# eight_writers_and_prunes_in_parallel_on_s3); this runs for as long as you
# ask. Only loopback addresses are used.
set -euo pipefail
cd "$(dirname "$0")/.."
WRITERS="${1:-8}" ROUNDS="${2:-20}" FILE_MB="${3:-8}"
say() { echo "soak: $*" >&2; }

cargo build --release -q -p coffer-cli
BIN="$PWD/target/release/coffer"
env_file="$(scripts/garage.sh start)"
# shellcheck source=/dev/null
source "$env_file"
WORK="$(mktemp -d /tmp/coffer-soak.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
export COFFER_VAULT="s3://$COFFER_TEST_S3_BUCKET/soak-$(date +%s)" COFFER_KEY_FILE="$WORK/key"
"$BIN" init -q

writer() {
    local w=$1 i dir id
    for ((i = 0; i < ROUNDS; i++)); do
        dir="$WORK/src-$w-$i"
        mkdir -p "$dir"
        head -c $((FILE_MB << 20)) /dev/urandom >"$dir/own"
        # Shared by all writers, changing every 4 rounds: dedup across writers.
        head -c $((FILE_MB << 20)) <(yes "shared $((i / 4))") >"$dir/shared"
        id="$("$BIN" backup --json "$dir" | sed -n 's/.*"id": *"\([0-9a-f]*\)".*/\1/p' | head -1)"
        [[ -n "$id" ]] || { say "writer $w round $i: backup failed"; return 1; }
        echo "$id $dir" >>"$WORK/done-$w"
    done
}

start=$SECONDS
pids=()
for ((w = 0; w < WRITERS; w++)); do
    writer "$w" &
    pids+=($!)
done
prunes=0 forgotten=0
while :; do
    running=0
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && running=1; done
    ((running)) || break
    # Forget one random finished snapshot now and then.
    if ((RANDOM % 3 == 0)) && cat "$WORK"/done-* >/dev/null 2>&1; then
        line="$(cat "$WORK"/done-* | shuf -n 1)"
        id="${line%% *}"
        if "$BIN" forget -q "$id" 2>/dev/null; then
            echo "$id" >>"$WORK/forgotten"
            for f in "$WORK"/done-*; do grep -v "^$id " "$f" >"$f.tmp" || true; mv "$f.tmp" "$f"; done
            forgotten=$((forgotten + 1))
        fi
    fi
    "$BIN" prune -q
    prunes=$((prunes + 1))
done
for p in "${pids[@]}"; do wait "$p"; done
"$BIN" prune -q
say "$((WRITERS * ROUNDS)) backups by $WRITERS writers, $prunes prunes, $forgotten forgotten, in $((SECONDS - start)) s"
"$BIN" check --read-data
n=0
while read -r id dir; do
    out="$WORK/restore-$id"
    "$BIN" restore -q "$id" --target "$out"
    diff -r "$dir" "$out$dir" >/dev/null || { say "snapshot $id does not restore $dir exactly"; exit 1; }
    n=$((n + 1))
done < <(cat "$WORK"/done-*)
say "all $n kept snapshots restore exactly; check --read-data passed"
