#!/usr/bin/env bash
# Resident memory of coffer's in-memory index per indexed chunk.
#
#   bash bench/index-memory.sh
#
# For each N (default 2,000,000 and 4,000,000 chunks):
#   synthetic  Index::add + Index::finish in one process, from synthetic index
#              objects made one at a time (the index's own cost);
#   load_index a local vault holding N chunks' worth of real, sealed index
#              objects is written, then a fresh process opens it and calls
#              Vault::load_index (the path `coffer backup` and `restore` take).
# bytes/chunk = (VmRSS after - VmRSS before) / N; peak/chunk uses VmHWM;
# "after malloc_trim(0)" is VmRSS once glibc has returned free heap memory,
# i.e. the memory the index really keeps alive.
#
# The program sets the same glibc malloc parameters as `coffer` does at start
# (COFFER_BENCH_MALLOC=glibc: glibc's defaults instead).
#
# Environment: BENCH_DIR (default /var/tmp/coffer-bench), COUNTS (default
# "2000000 4000000"), BLOBS_PER_PACK (default 16: 1 MiB average chunks in
# 16 MiB packs, coffer's defaults), CARGO_TARGET_DIR (default: the coffer
# workspace's target/, so its compiled dependencies are reused),
# RESULTS_TSV (default bench/results/index-memory-<date>.tsv).
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_DIR=${BENCH_DIR:-/var/tmp/coffer-bench}
COUNTS=${COUNTS:-"2000000 4000000"}
BLOBS_PER_PACK=${BLOBS_PER_PACK:-16}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$REPO_ROOT/target}
DATE=$(date -u +%Y-%m-%d)
RESULTS_TSV=${RESULTS_TSV:-$REPO_ROOT/bench/results/index-memory-$DATE.tsv}
TARGET_BYTES=50
GIT_REV=$(git -C "$REPO_ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ -n $(git -C "$REPO_ROOT" status --porcelain -- crates 2>/dev/null) ]]; then GIT_REV="$GIT_REV+dirty"; fi

cargo build --release --manifest-path "$REPO_ROOT/bench/index-memory/Cargo.toml" >&2
BIN=$CARGO_TARGET_DIR/release/coffer-index-memory
mkdir -p "$BENCH_DIR" "$(dirname "$RESULTS_TSV")"
[[ -s $RESULTS_TSV ]] || printf 'date\tmode\tchunks\tblobs_per_pack\trss_per_chunk\tpeak_per_chunk\ttrimmed_per_chunk\trss_before\trss_after\trss_peak\tseconds\tcoffer_rev\tmalloc\n' > "$RESULTS_TSV"

get() { sed -n "s/^$1=//p" <<< "$2"; }
declare -a LINES
for n in $COUNTS; do
    out=$("$BIN" synthetic "$n" "$BLOBS_PER_PACK")
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$DATE" synthetic "$n" "$BLOBS_PER_PACK" \
        "$(get rss_per_chunk "$out")" "$(get peak_per_chunk "$out")" "$(get trimmed_per_chunk "$out")" "$(get rss_before "$out")" \
        "$(get rss_after "$out")" "$(get rss_peak "$out")" "$(get seconds "$out")" "$GIT_REV" "$(get malloc "$out")" >> "$RESULTS_TSV"
    LINES+=("| Index::add + finish | $n | $(get rss_per_chunk "$out") | $(get peak_per_chunk "$out") | $(get trimmed_per_chunk "$out") | $(get seconds "$out") |")

    vault="$BENCH_DIR/index-vault-$n"
    rm -rf "$vault" "$vault.key"
    "$BIN" write "$vault" "$n" "$BLOBS_PER_PACK" >&2
    out=$("$BIN" load "$vault")
    [[ $(get chunks "$out") == "$n" ]] || { echo "load_index found $(get chunks "$out") chunks, wrote $n" >&2; exit 1; }
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$DATE" load_index "$n" "$BLOBS_PER_PACK" \
        "$(get rss_per_chunk "$out")" "$(get peak_per_chunk "$out")" "$(get trimmed_per_chunk "$out")" "$(get rss_before "$out")" \
        "$(get rss_after "$out")" "$(get rss_peak "$out")" "$(get seconds "$out")" "$GIT_REV" "$(get malloc "$out")" >> "$RESULTS_TSV"
    LINES+=("| Vault::load_index (fresh process, local vault) | $n | $(get rss_per_chunk "$out") | $(get peak_per_chunk "$out") | $(get trimmed_per_chunk "$out") | $(get seconds "$out") |")
    rm -rf "$vault" "$vault.key"
done

echo "Index memory, $BLOBS_PER_PACK chunks per pack, malloc: $(get malloc "$out"); target: <= $TARGET_BYTES bytes RSS per indexed chunk"
echo
echo "| path | chunks | RSS bytes/chunk after | peak bytes/chunk | after malloc_trim(0) | seconds |"
echo "|---|---|---|---|---|---|"
printf '%s\n' "${LINES[@]}"
echo
echo "Raw numbers: $RESULTS_TSV"
