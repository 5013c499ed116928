#!/usr/bin/env bash
# Issue 16 benchmark: what the release profile costs to build and what it
# ships. Builds `coffer` from an empty target directory once per variant of
# the release profile (set through CARGO_PROFILE_RELEASE_* so Cargo.toml is
# not edited) and prints CPU seconds (user + system), wall seconds and the
# binary's size. CPU seconds are what to compare on a busy machine; wall
# seconds only on an idle one.
#
#   bash bench/release-build.sh            # every variant
#   VARIANTS="current thin" bash bench/release-build.sh
#
# Environment:
#   BENCH_DIR  work directory (default /tmp/coffer-bench-release); each
#              variant gets its own target directory below it, removed after
#   NICE       niceness of the builds (default 0)
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH_DIR="${BENCH_DIR:-/tmp/coffer-bench-release}"
NICE="${NICE:-0}"
VARIANTS="${VARIANTS:-line-tables current thin abort}"
mkdir -p "$BENCH_DIR"

# name -> the profile settings over Cargo.toml's [profile.release]
settings() {
    case "$1" in
        line-tables) echo "CARGO_PROFILE_RELEASE_DEBUG=line-tables-only CARGO_PROFILE_RELEASE_STRIP=none" ;;
        current) echo "" ;;
        thin) echo "CARGO_PROFILE_RELEASE_LTO=thin" ;;
        fat) echo "CARGO_PROFILE_RELEASE_LTO=fat" ;;
        abort) echo "CARGO_PROFILE_RELEASE_PANIC=abort" ;;
        *) echo "unknown variant $1" >&2; exit 2 ;;
    esac
}

printf '%-12s %8s %8s %10s\n' variant cpu_s wall_s size_MB
for v in $VARIANTS; do
    t="$BENCH_DIR/target-$v"
    rm -rf "$t"
    # shellcheck disable=SC2046 # the settings are words on purpose
    env $(settings "$v") CARGO_TARGET_DIR="$t" nice -n "$NICE" \
        /usr/bin/time -f '%U %S %e' -o "$BENCH_DIR/$v.time" \
        cargo build --release --locked -p coffer-cli >"$BENCH_DIR/$v.log" 2>&1
    read -r user sys wall <"$BENCH_DIR/$v.time"
    size=$(stat -c %s "$t/release/coffer")
    printf '%-12s %8.0f %8.0f %10.1f\n' "$v" "$(echo "$user + $sys" | bc)" "$wall" "$(echo "scale=1; $size / 1000000" | bc)"
    rm -rf "$t"
done
