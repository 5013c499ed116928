#!/usr/bin/env bash
# Issue 7 benchmark: backup and restore of the Linux 6.1 source tree into and
# from the three-node Garage cluster of scripts/garage-cluster.sh (loopback,
# replication factor 3), coffer against restic and rustic on the same store,
# coffer on a local disk for reference; then copy throughput from the cluster
# vault to a local vault, and the bytes an incremental copy sends after a 1%
# change.
#
#   bash bench/cluster.sh
#
# Environment:
#   BENCH_DIR      work directory (default /tmp/coffer-bench-cluster)
#   LINUX_TARBALL  default /usr/src/linux-source-6.1.tar.xz (Debian package
#                  linux-source-6.1)
#   TOOLS          default "coffer restic rustic"; rustic comes from
#                  `cargo install rustic-rs --locked`, restic from Debian
#   RUNS           rounds (default 3); each round runs every tool, the tool
#                  order rotating from round to round
#   RESTORE_FS     loop (default): every restore goes to a fresh ext4 file
#                  system on a loop device (needs root), so that no tool
#                  restores into a file system where the previous restore was
#                  just deleted or is still being written back; dir: a plain
#                  directory
# Each step starts after `sync`, with the source tree in the page cache.
# Needs GNU time. Only loopback addresses are used.
set -euo pipefail
REPO_ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH_DIR=${BENCH_DIR:-/tmp/coffer-bench-cluster}
LINUX_TARBALL=${LINUX_TARBALL:-/usr/src/linux-source-6.1.tar.xz}
TOOLS=${TOOLS:-"coffer restic rustic"}
RUNS=${RUNS:-3}
RESTORE_FS=${RESTORE_FS:-loop}
TIME=/usr/bin/time
export RESTIC_PASSWORD=coffer-bench
log() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }
die() { echo "cluster.sh: $*" >&2; exit 1; }

for t in $TOOLS; do
    case $t in
        coffer) ;;
        restic) command -v restic >/dev/null || die "restic missing: apt-get install -y restic" ;;
        rustic) command -v rustic >/dev/null || die "rustic missing: cargo install rustic-rs --locked" ;;
        *) die "unknown tool $t (coffer, restic, rustic)" ;;
    esac
done
[[ -x $TIME ]] || die "GNU time missing: apt-get install -y time"

cargo build --release -q -p coffer-cli --manifest-path "$REPO_ROOT/Cargo.toml"
COFFER=$REPO_ROOT/target/release/coffer
mkdir -p "$BENCH_DIR"/{logs,restore}
cd "$BENCH_DIR"
if [[ ! -d linux ]]; then
    [[ -f $LINUX_TARBALL ]] || die "$LINUX_TARBALL missing: apt-get install -y linux-source-6.1"
    log "unpacking $LINUX_TARBALL"
    rm -rf linux.tmp && mkdir linux.tmp && tar -C linux.tmp -xf "$LINUX_TARBALL"
    mv linux.tmp/* linux && rmdir linux.tmp
fi
BYTES=$(du -sb --apparent-size linux | cut -f1)
FILES=$(find linux -type f | wc -l)
warm() { tar cf - linux | cat >/dev/null; }

# A fresh file system for one restore (see RESTORE_FS).
fs_make() {
    local out=$1
    fs_drop "$out"
    mkdir -p "$out"
    if [[ $RESTORE_FS == loop ]]; then
        truncate -s 4G "$out.img"
        mkfs.ext4 -q -F "$out.img"
        mount -o loop "$out.img" "$out" || die "cannot mount a loop file system (run as root or set RESTORE_FS=dir)"
        rmdir "$out/lost+found"
    fi
}
fs_drop() {
    local out=$1
    if mountpoint -q "$out" 2>/dev/null; then umount "$out"; fi
    rm -rf "$out" "$out.img"
}

export COFFER_CLUSTER_DIR=$BENCH_DIR/cluster
env_file=$(bash "$REPO_ROOT/scripts/garage-cluster.sh" start)
cleanup() {
    local m
    for m in "$BENCH_DIR"/restore/*; do
        if mountpoint -q "$m" 2>/dev/null; then umount "$m" || true; fi
    done
    bash "$REPO_ROOT/scripts/garage-cluster.sh" stop >/dev/null 2>&1 || true
}
trap cleanup EXIT
# shellcheck source=/dev/null
source "$env_file"
export AWS_ACCESS_KEY_ID=$COFFER_CLUSTER_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY=$COFFER_CLUSTER_SECRET_ACCESS_KEY
export AWS_ENDPOINT_URL=$COFFER_CLUSTER_ENDPOINT AWS_REGION=garage AWS_DEFAULT_REGION=garage
STAMP=$(date +%s)

# rustic reaches S3 through OpenDAL; its repository and keys live in a
# profile (rustic -P cluster), written per round into a private config dir.
rustic_profile() {
    local root=$1
    mkdir -p "$BENCH_DIR/rustic-config/rustic"
    chmod 700 "$BENCH_DIR/rustic-config"
    cat >"$BENCH_DIR/rustic-config/rustic/cluster.toml" <<EOF
[global]
no-progress = true

[repository]
repository = "opendal:s3"
password = "coffer-bench"

[repository.options]
bucket = "$COFFER_CLUSTER_BUCKET"
root = "/$root"
endpoint = "$COFFER_CLUSTER_ENDPOINT"
region = "garage"
access_key_id = "$COFFER_CLUSTER_ACCESS_KEY_ID"
secret_access_key = "$COFFER_CLUSTER_SECRET_ACCESS_KEY"
EOF
    chmod 600 "$BENCH_DIR/rustic-config/rustic/cluster.toml"
}
RUSTIC=(env "XDG_CONFIG_HOME=$BENCH_DIR/rustic-config" rustic -P cluster)

# measure NAME CMD...: wall seconds and max RSS (MiB) of one step, into
# results.tsv (round, step, wall, MiB/s, RSS).
ROUND=0
measure() {
    local name=$1; shift
    warm
    sync
    "$TIME" -v -o "logs/$name.time" "$@" >"logs/$name.log" 2>&1 || { tail -5 "logs/$name.log" >&2; die "$name failed"; }
    local wall rss
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/{n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; printf "%.2f", s}' "logs/$name.time")
    rss=$(awk -F': ' '/Maximum resident set size/{printf "%d", $2/1024}' "logs/$name.time")
    log "round $ROUND: $name: ${wall}s, max RSS ${rss} MiB"
    printf '%s\t%s\t%s\t%s\t%s\n' "$ROUND" "$name" "$wall" "$(awk -v b="$BYTES" -v s="$wall" 'BEGIN{printf "%.0f", b/1048576/s}')" "$rss" >>results.tsv
}

# same_tree DIR: the restored tree equals the source.
same_tree() {
    local d=$1
    [[ -d $d/linux ]] && d=$d/linux
    [[ -d $d/$BENCH_DIR/linux ]] && d=$d/$BENCH_DIR/linux
    diff -rq linux "$d" >/dev/null
}

run_tool() {
    local tool=$1 out=restore/$1
    case $tool in
        coffer)
            local v="s3://$COFFER_CLUSTER_BUCKET/coffer-$STAMP-$ROUND"
            "$COFFER" init -q --vault "$v" --key-file "$BENCH_DIR/coffer.key"
            measure "coffer backup (cluster)" "$COFFER" backup -q --vault "$v" --key-file coffer.key linux
            fs_make "$out"
            measure "coffer restore (cluster)" "$COFFER" restore -q latest --vault "$v" --key-file coffer.key --target "$out"
            same_tree "$out" || die "coffer restore differs"
            fs_drop "$out"
            ;;
        restic)
            local r="s3:$COFFER_CLUSTER_ENDPOINT/$COFFER_CLUSTER_BUCKET/restic-$STAMP-$ROUND"
            restic -q -r "$r" init >/dev/null
            measure "restic backup (cluster)" restic -q -r "$r" backup linux
            fs_make "$out"
            measure "restic restore (cluster)" restic -q -r "$r" restore latest --target "$out"
            same_tree "$out" || die "restic restore differs"
            fs_drop "$out"
            ;;
        rustic)
            rustic_profile "rustic-$STAMP-$ROUND"
            "${RUSTIC[@]}" init >logs/rustic-init.log 2>&1 || { tail -5 logs/rustic-init.log >&2; die "rustic init failed"; }
            measure "rustic backup (cluster)" "${RUSTIC[@]}" backup linux
            fs_make "$out"
            measure "rustic restore (cluster)" "${RUSTIC[@]}" restore latest "$out"
            same_tree "$out" || die "rustic restore differs"
            fs_drop "$out"
            ;;
    esac
}

: >results.tsv
read -r -a tools <<<"$TOOLS"
for ((ROUND = 1; ROUND <= RUNS; ROUND++)); do
    n=${#tools[@]}
    for ((i = 0; i < n; i++)); do
        run_tool "${tools[$(((i + ROUND - 1) % n))]}"
    done
done

# coffer on a local disk for reference, then copy cluster -> local.
if [[ " $TOOLS " == *" coffer "* ]]; then
    ROUND=local
    rm -rf local-vault && "$COFFER" init -q --vault ./local-vault --key-file local.key
    measure "coffer backup (local disk)" "$COFFER" backup -q --vault ./local-vault --key-file local.key linux
    fs_make restore/coffer
    measure "coffer restore (local disk)" "$COFFER" restore -q latest --vault ./local-vault --key-file local.key --target restore/coffer
    fs_drop restore/coffer
    rm -rf local-vault
    V="s3://$COFFER_CLUSTER_BUCKET/coffer-$STAMP-1"
    rm -rf copy-vault && "$COFFER" init -q --vault ./copy-vault --key-file copy.key
    measure "coffer copy cluster -> local" "$COFFER" copy latest --vault "$V" --key-file coffer.key --to ./copy-vault --to-key-file copy.key
    find linux -type f | LC_ALL=C sort | awk 'NR % 100 == 0' >change.list
    tar -cf change.orig.tar -T change.list
    while IFS= read -r f; do printf 'coffer-bench: changed\n' >>"$f"; done <change.list
    "$COFFER" backup -q --vault "$V" --key-file coffer.key linux
    "$COFFER" copy latest --json --vault "$V" --key-file coffer.key --to ./copy-vault --to-key-file copy.key >logs/incremental-copy.json
    tar -xf change.orig.tar
    rm -rf copy-vault
    log "incremental copy after a 1% change ($(wc -l <change.list) files): $(tr -d '\n' <logs/incremental-copy.json | head -c 600)"
fi

log "tree: $FILES files, $BYTES bytes"
# Per step: every round's wall time, the median, and the RSS range.
echo "| step | wall s per round | median s | max RSS MiB |"
echo "| --- | --- | --- | --- |"
awk -F'\t' '
    { walls[$2] = walls[$2] (walls[$2] == "" ? "" : ", ") $3; w[$2, ++n[$2]] = $3
      if (!($2 in lo) || $5 < lo[$2]) lo[$2] = $5; if ($5 > hi[$2]) hi[$2] = $5
      if (!($2 in seen)) { seen[$2] = 1; order[++k] = $2 } }
    END {
        for (j = 1; j <= k; j++) {
            s = order[j]; m = n[s]
            for (a = 1; a <= m; a++) v[a] = w[s, a]
            for (a = 1; a <= m; a++) for (b = a + 1; b <= m; b++) if (v[b] < v[a]) { t = v[a]; v[a] = v[b]; v[b] = t }
            med = (m % 2) ? v[(m + 1) / 2] : (v[m / 2] + v[m / 2 + 1]) / 2
            printf "| %s | %s | %.2f | %s |\n", s, walls[s], med, (lo[s] == hi[s] ? lo[s] : lo[s] "-" hi[s])
        }
    }' results.tsv
