#!/usr/bin/env bash
# Issue 7 benchmark: backup and restore of the Linux 6.1 source tree into and
# from the three-node Garage cluster of scripts/garage-cluster.sh (loopback,
# replication factor 3), coffer against restic on the same store, coffer on a
# local disk for reference; then copy throughput from the cluster vault to a
# local vault, and the bytes an incremental copy sends after a 1% change.
#
#   bash bench/cluster.sh
#
# Environment: BENCH_DIR (default /tmp/coffer-bench-cluster), LINUX_TARBALL
# (default /usr/src/linux-source-6.1.tar.xz from the Debian package
# linux-source-6.1), TOOLS (default "coffer restic"; add "rustic" when
# `rustic` is installed, e.g. `cargo install rustic-rs --locked`).
# Needs: restic (Debian package), GNU time. Only loopback addresses are used.
set -euo pipefail
REPO_ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH_DIR=${BENCH_DIR:-/tmp/coffer-bench-cluster}
LINUX_TARBALL=${LINUX_TARBALL:-/usr/src/linux-source-6.1.tar.xz}
TOOLS=${TOOLS:-"coffer restic"}
TIME=/usr/bin/time
export RESTIC_PASSWORD=coffer-bench RUSTIC_PASSWORD=coffer-bench
log() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }
die() { echo "cluster.sh: $*" >&2; exit 1; }

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

export COFFER_CLUSTER_DIR=$BENCH_DIR/cluster
env_file=$(bash "$REPO_ROOT/scripts/garage-cluster.sh" start)
trap 'bash "$REPO_ROOT/scripts/garage-cluster.sh" stop >/dev/null 2>&1 || true' EXIT
# shellcheck source=/dev/null
source "$env_file"
export AWS_ACCESS_KEY_ID=$COFFER_CLUSTER_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY=$COFFER_CLUSTER_SECRET_ACCESS_KEY
export AWS_ENDPOINT_URL=$COFFER_CLUSTER_ENDPOINT AWS_REGION=garage AWS_DEFAULT_REGION=garage
RUN=$(date +%s)

# measure NAME CMD...: wall seconds and max RSS (MiB) into $WALL and $RSS.
measure() {
    local name=$1; shift
    warm
    "$TIME" -v -o "logs/$name.time" "$@" >"logs/$name.log" 2>&1 || { tail -5 "logs/$name.log" >&2; die "$name failed"; }
    WALL=$(awk -F': ' '/Elapsed \(wall clock\)/{n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; printf "%.1f", s}' "logs/$name.time")
    RSS=$(awk -F': ' '/Maximum resident set size/{printf "%d", $2/1024}' "logs/$name.time")
    log "$name: ${WALL}s, max RSS ${RSS} MiB"
    printf '| %s | %s | %s | %s |\n' "$name" "$WALL" "$(awk -v b="$BYTES" -v s="$WALL" 'BEGIN{printf "%.0f", b/1048576/s}')" "$RSS" >>results.md
}
printf '| step | wall s | MiB/s | max RSS MiB |\n| --- | --- | --- | --- |\n' >results.md

for tool in $TOOLS; do
    case $tool in
        coffer)
            V="s3://$COFFER_CLUSTER_BUCKET/coffer-$RUN"
            "$COFFER" init -q --vault "$V" --key-file "$BENCH_DIR/coffer.key"
            measure "coffer backup (cluster)" "$COFFER" backup -q --vault "$V" --key-file coffer.key linux
            rm -rf restore/coffer
            measure "coffer restore (cluster)" "$COFFER" restore -q latest --vault "$V" --key-file coffer.key --target restore/coffer
            diff -rq linux restore/coffer/"$BENCH_DIR"/linux >/dev/null || die "coffer restore differs"
            rm -rf restore/coffer local-vault
            "$COFFER" init -q --vault ./local-vault --key-file local.key
            measure "coffer backup (local disk)" "$COFFER" backup -q --vault ./local-vault --key-file local.key linux
            measure "coffer restore (local disk)" "$COFFER" restore -q latest --vault ./local-vault --key-file local.key --target restore/coffer
            rm -rf restore/coffer
            # Copy: the cluster vault into a new local vault, then after a 1% change.
            rm -rf copy-vault && "$COFFER" init -q --vault ./copy-vault --key-file copy.key
            measure "coffer copy cluster -> local" "$COFFER" copy latest --vault "$V" --key-file coffer.key --to ./copy-vault --to-key-file copy.key
            find linux -type f | LC_ALL=C sort | awk 'NR % 100 == 0' >change.list
            tar -cf change.orig.tar -T change.list
            while IFS= read -r f; do printf 'coffer-bench: changed\n' >>"$f"; done <change.list
            "$COFFER" backup -q --vault "$V" --key-file coffer.key linux
            "$COFFER" copy latest --json --vault "$V" --key-file coffer.key --to ./copy-vault --to-key-file copy.key >logs/incremental-copy.json
            tar -xf change.orig.tar
            log "incremental copy after a 1% change ($(wc -l <change.list) files): $(tr -d '\n' <logs/incremental-copy.json | head -c 600)"
            ;;
        restic)
            R="s3:$COFFER_CLUSTER_ENDPOINT/$COFFER_CLUSTER_BUCKET/restic-$RUN"
            restic -q -r "$R" init >/dev/null
            measure "restic backup (cluster)" restic -q -r "$R" backup linux
            rm -rf restore/restic
            measure "restic restore (cluster)" restic -q -r "$R" restore latest --target restore/restic
            rr=restore/restic/linux
            [[ -d $rr ]] || rr=restore/restic/$BENCH_DIR/linux
            diff -rq linux "$rr" >/dev/null || die "restic restore differs"
            rm -rf restore/restic
            ;;
        rustic)
            command -v rustic >/dev/null || die "rustic missing: cargo install rustic-rs --locked"
            die "rustic on S3 needs an opendal profile; not scripted yet"
            ;;
    esac
done
log "tree: $FILES files, $BYTES bytes"
cat results.md
