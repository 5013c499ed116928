#!/usr/bin/env bash
# A fleet on one vault (issue 19): HOSTS simulated hosts (default 200) each
# write one fleet record object a minute (a heartbeat, and a backup job's
# outcome once an hour) for MINUTES simulated minutes (default 60, ending
# now) into one vault on the local Garage (scripts/garage.sh), through
# coffer-core's own fleet code (bench/fleet-sim); then the fleet view is
# read cold (a daemon that starts), warm (its next poll, from its cache),
# after a compaction, and once by `coffer status --fleet --json` under
# /usr/bin/time -v (load time and peak memory of the view a person asks for).
#
#   bash bench/fleet-scale.sh
#   HOSTS=50 MINUTES=30 bash bench/fleet-scale.sh
#
# Environment: HOSTS (200), MINUTES (60), THREADS (16: writers at once, as
# hosts write at once), COFFER_BIN (target/debug/coffer), BENCH_DIR
# (/var/tmp/coffer-bench/fleet-scale), CARGO_TARGET_DIR (the workspace's
# target/, so compiled dependencies are reused).
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HOSTS=${HOSTS:-200}
MINUTES=${MINUTES:-60}
THREADS=${THREADS:-16}
BENCH_DIR=${BENCH_DIR:-/var/tmp/coffer-bench/fleet-scale}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$REPO_ROOT/target}
COFFER_BIN=${COFFER_BIN:-$CARGO_TARGET_DIR/debug/coffer}
log() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }

[[ -x /usr/bin/time ]] || { echo "fleet-scale: /usr/bin/time is missing: apt-get install time" >&2; exit 1; }
[[ -x $COFFER_BIN ]] || { echo "fleet-scale: $COFFER_BIN is missing: cargo build -p coffer-cli" >&2; exit 1; }
(cd "$REPO_ROOT/bench/fleet-sim" && cargo build -q)
SIM=$CARGO_TARGET_DIR/debug/coffer-fleet-sim
# shellcheck source=/dev/null
source "$("$REPO_ROOT/scripts/garage.sh" start)"
rm -rf "$BENCH_DIR" && mkdir -p "$BENCH_DIR"
VAULT="s3://$COFFER_TEST_S3_BUCKET/fleet-scale-$(date +%s)"
"$COFFER_BIN" -q init --vault "$VAULT" --key-file "$BENCH_DIR/vault.key" </dev/null
log "$HOSTS hosts x $MINUTES minutes into $VAULT"
"$SIM" "$VAULT" "$BENCH_DIR/vault.key" "$HOSTS" "$MINUTES" "$THREADS" | tee "$BENCH_DIR/sim.txt"
cat >"$BENCH_DIR/console.toml" <<TOML
state_dir = "state"
[fleet]
host = "console"
enabled = false
[[vault]]
name = "main"
url = "$VAULT"
key_file = "$BENCH_DIR/vault.key"
TOML
COFFER_CONFIG=$BENCH_DIR/console.toml /usr/bin/time -v "$COFFER_BIN" --json status --fleet \
    >"$BENCH_DIR/status.json" 2>"$BENCH_DIR/status.time"
python3 - "$BENCH_DIR/status.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
print("status_fleet_hosts", len(s["hosts"]), "silent", sum(h["silent"] for h in s["hosts"]), "objects", s["objects"])
PY
awk -F': ' '/Elapsed \(wall clock\)/ {print "status_fleet_wall", $2} /Maximum resident set size/ {printf "status_fleet_peak_rss_mib %.1f\n", $2 / 1024}' "$BENCH_DIR/status.time"
