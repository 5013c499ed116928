#!/usr/bin/env bash
# A year of daily backups through a chain of tiers (issue 17): hot -> warm
# -> cold -> archive, local-directory vaults, then a prune of each vault.
#
#   bash bench/tiers-year.sh                          # the default size
#   DAYS=120 FILES=300 bash bench/tiers-year.sh       # a quick try
#
# The tree is FILES files of FILE_KB KiB of random bytes under
# BENCH_DIR/tree. Every day CHANGE_PCT percent of the files (picked at
# random, reproducibly) get new contents and one new file is added; then
# `coffer plan run p/daily` runs with COFFER_NOW at that day's 02:00 UTC.
# Snapshots carry that time, so they age by the simulated days and move
# down the chain of the seeds' layout:
#
#   hot      0-30 days    (S3 Standard in production)  keep_daily = 31, delete_after_days = 60
#   warm     31-90 days   (STANDARD_IA)                keep_weekly = 13, delete_after_days = 120
#   cold     91-365 days  (GLACIER_IR)                 keep_monthly = 12, delete_after_days = 400
#   archive  > 365 days   (DEEP_ARCHIVE)               keep_yearly = 7
#
# Each move is a copy job verified in the tier's vault, then a forget job in
# the tier before (see crates/coffer-server/src/runner/tiers.rs). DAYS
# defaults to 400 so that the first snapshots reach the archive (after 365
# days). At the end each vault is pruned once (`coffer prune`) under
# /usr/bin/time -v.
#
# COFFER_NOW is read only by a binary built with the `test-clock` feature,
# which only a debug build may have: this script builds
# `cargo build -p coffer-cli --features test-clock` (unless SKIP_BUILD=1)
# and runs target/debug/coffer (or COFFER_BIN). Debug-build times are
# slower than a release build's; the bytes and counts are the same.
#
# Output: a markdown table on stdout (per vault: tier, snapshots, bytes by
# du -sb, prune seconds and peak RSS), the total time of the daily runs, and
# progress on stderr.
#
# Environment: DAYS (400), FILES (2000), FILE_KB (32), CHANGE_PCT (3),
# START (2025-01-01), BENCH_DIR (/var/tmp/coffer-bench/tiers-year; removed
# first, kept at the end), COFFER_BIN, SKIP_BUILD.
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DAYS=${DAYS:-400}
FILES=${FILES:-2000}
FILE_KB=${FILE_KB:-32}
CHANGE_PCT=${CHANGE_PCT:-3}
START=${START:-2025-01-01}
BENCH_DIR=${BENCH_DIR:-/var/tmp/coffer-bench/tiers-year}
TARGET=${CARGO_TARGET_DIR:-$REPO_ROOT/target}
COFFER_BIN=${COFFER_BIN:-$TARGET/debug/coffer}
TIME=/usr/bin/time
log() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }
die() { echo "tiers-year: $*" >&2; exit 1; }

[[ -x $TIME ]] || die "$TIME is missing: apt-get install time"
command -v python3 >/dev/null || die "python3 is missing"
if [[ ${SKIP_BUILD:-0} != 1 ]]; then
    (cd "$REPO_ROOT" && cargo build -p coffer-cli --features test-clock) >&2
fi
[[ -x $COFFER_BIN ]] || die "$COFFER_BIN is missing: build it (cargo build -p coffer-cli --features test-clock) or set COFFER_BIN"
COFFER_NOW=2000-01-01T00:00:00Z "$COFFER_BIN" --version >/dev/null

rm -rf "$BENCH_DIR"
mkdir -p "$BENCH_DIR/tree" "$BENCH_DIR/state"
cd "$BENCH_DIR"
export COFFER_STATE_DIR=$BENCH_DIR/state XDG_DATA_HOME=$BENCH_DIR/xdg
unset COFFER_VAULT COFFER_KEY_FILE COFFER_PASSWORD COFFER_PASSWORD_FILE

cat >coffer.toml <<EOF
state_dir = "state"

[[vault]]
name = "hot"
url = "hot"
key_file = "hot.key"

[[vault]]
name = "warm"
url = "warm"
key_file = "warm.key"
tier = "warm"

[[vault]]
name = "cold"
url = "cold"
key_file = "cold.key"
tier = "cold"

[[vault]]
name = "archive"
url = "archive"
key_file = "archive.key"
tier = "archive"

[[source]]
name = "tree"
kind = "files"
paths = ["tree"]

[[plan]]
name = "p"

[[plan.rule]]
name = "daily"
vault = "hot"
sources = ["tree"]
schedule = "@daily"
retention = { keep_daily = 31, delete_after_days = 60 }
tiers = [
  { after_days = 30, vault = "warm", retention = { keep_weekly = 13, delete_after_days = 120 } },
  { after_days = 90, vault = "cold", retention = { keep_monthly = 12, delete_after_days = 400 } },
  { after_days = 365, vault = "archive", retention = { keep_yearly = 7 } },
]
EOF
export COFFER_CONFIG=$BENCH_DIR/coffer.toml
for v in hot warm cold archive; do
    "$COFFER_BIN" init --vault "$BENCH_DIR/$v" --key-file "$BENCH_DIR/$v.key" >/dev/null 2>&1
done
"$COFFER_BIN" config check -q >&2 || die "config check failed"

# The tree and its daily changes (reproducible: seeded by the day).
python3 - "$FILES" "$FILE_KB" <<'EOF'
import os, random, sys
n, kb = int(sys.argv[1]), int(sys.argv[2])
r = random.Random(0)
for i in range(n):
    d = f"tree/d{i % 50:02}"
    os.makedirs(d, exist_ok=True)
    with open(f"{d}/f{i:06}.bin", "wb") as f:
        f.write(r.randbytes(kb * 1024))
EOF
change() {
    python3 - "$1" "$FILES" "$FILE_KB" "$CHANGE_PCT" <<'EOF'
import os, random, sys
day, n, kb, pct = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
r = random.Random(1000 + day)
for i in r.sample(range(n), max(1, int(n * pct / 100))):
    with open(f"tree/d{i % 50:02}/f{i:06}.bin", "wb") as f:
        f.write(r.randbytes(kb * 1024))
os.makedirs("tree/new", exist_ok=True)
with open(f"tree/new/day{day:04}.bin", "wb") as f:
    f.write(r.randbytes(kb * 1024))
EOF
}

log "$DAYS daily runs of $FILES files of $FILE_KB KiB, $CHANGE_PCT% changed a day"
t0=$(date +%s.%N)
for ((d = 0; d < DAYS; d++)); do
    ((d == 0)) || change "$d"
    now=$(date -u -d "$START + $d days 02:00" +%Y-%m-%dT%H:%M:%SZ)
    COFFER_NOW=$now "$COFFER_BIN" -q plan run p/daily >/dev/null ||
        die "plan run at $now failed (see: $COFFER_BIN jobs list --state FAILED)"
    ((d % 30 == 29)) && log "day $((d + 1)) ($now)"
done
t1=$(date +%s.%N)
failed=$("$COFFER_BIN" --json jobs list --limit 0 --state FAILED | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
jobs=$("$COFFER_BIN" --json jobs list --limit 0 | python3 -c '
import json, sys, collections
c = collections.Counter(j["kind"] for j in json.load(sys.stdin))
print(", ".join(f"{k} {v}" for k, v in sorted(c.items())))')

echo "| vault | tier | snapshots | bytes before prune | bytes after prune | prune s | prune peak RSS MiB |"
echo "|---|---|---:|---:|---:|---:|---:|"
for v in hot warm cold archive; do
    n=$("$COFFER_BIN" --vault "$BENCH_DIR/$v" --key-file "$BENCH_DIR/$v.key" --json snapshots | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
    before=$(du -sb "$v" | cut -f1)
    COFFER_NOW=$now $TIME -v "$COFFER_BIN" --vault "$BENCH_DIR/$v" --key-file "$BENCH_DIR/$v.key" -q prune >/dev/null 2>"prune-$v.time" ||
        die "prune of $v failed: $(tail -30 "prune-$v.time")"
    after=$(du -sb "$v" | cut -f1)
    secs=$(awk -F': ' '/Elapsed \(wall clock\)/ {n = split($2, a, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + a[i]; print s}' "prune-$v.time")
    rss=$(awk -F': ' '/Maximum resident set size/ {printf "%.1f", $2 / 1024}' "prune-$v.time")
    echo "| $v | $v | $n | $before | $after | $secs | $rss |"
done
# The cost: each tier's vault priced by `coffer vault usage` at the price
# of the storage class that tier has in the seeds' layout (the defaults of
# coffer's [prices]: crates/coffer-server/src/config/prices.rs; a local
# directory is class `local`, so each tier's config prices `local` at its
# class). Against it: every snapshot kept at the end, in all four tiers,
# copied into one vault ("flat", deduplicated as one vault is) priced as
# S3 Standard, which is what keeping everything in Standard would store.
"$COFFER_BIN" init --vault "$BENCH_DIR/flat" --key-file "$BENCH_DIR/flat.key" >/dev/null 2>&1
for v in hot warm cold archive; do
    "$COFFER_BIN" --vault "$BENCH_DIR/$v" --key-file "$BENCH_DIR/$v.key" -q copy --all \
        --to "$BENCH_DIR/flat" --to-key-file "$BENCH_DIR/flat.key" >/dev/null ||
        die "copy of $v into flat failed"
done
echo
echo "| vault | storage class (seeds' layout) | bytes (coffer vault usage) | USD / month |"
echo "|---|---|---:|---:|"
total=0
for pair in hot:STANDARD warm:STANDARD_IA cold:GLACIER_IR archive:DEEP_ARCHIVE flat:STANDARD; do
    v=${pair%%:*} class=${pair#*:}
    cfg=$BENCH_DIR/usage-$v.toml
    price=$(python3 -c "
import re,sys
t=open('$REPO_ROOT/crates/coffer-server/src/config/prices.rs').read()
m=re.search(r'\(\"$class\", Some\(([0-9.]+)\)\)', t); print(m.group(1))")
    printf '[[vault]]\nname = "%s"\nurl = "%s"\nkey_file = "%s"\n[prices]\nlocal = %s\n' \
        "$v" "$BENCH_DIR/$v" "$BENCH_DIR/$v.key" "$price" >"$cfg"
    read -r bytes usd < <(COFFER_CONFIG=$cfg "$COFFER_BIN" --json vault usage --vault-name "$v" | python3 -c '
import json, sys
u = json.load(sys.stdin)["vaults"][0]
print(u["bytes"], u["usd_per_month"])') || die "vault usage of $v failed"
    [[ $v == flat ]] && label="flat (all kept snapshots, one vault)" || label=$v
    printf '| %s | %s ($%s/GB-month) | %s | %.6f |\n' "$label" "$class" "$price" "$bytes" "$usd"
done

printf '\n%s daily runs in %.1f s (%.2f s a run); jobs: %s; FAILED jobs: %s\n' \
    "$DAYS" "$(echo "$t1 - $t0" | bc)" "$(echo "($t1 - $t0) / $DAYS" | bc -l)" "$jobs" "$failed"
echo "source tree: $(du -sb tree | cut -f1) bytes; last day: $now"
