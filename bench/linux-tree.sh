#!/usr/bin/env bash
# Side-by-side benchmark of coffer, restic, borg and rustic on the Linux 6.1
# source tree. See BENCHMARKS.md for what is measured and how to read it.
#
#   bash bench/linux-tree.sh
#
# Environment:
#   BENCH_DIR     work directory (default /var/tmp/coffer-bench); needs ~10 GB
#   LINUX_TARBALL source tarball (default /usr/src/linux-source-6.1.tar.xz,
#                 from the Debian package linux-source-6.1)
#   CONFIGS       which runs, space-separated (default: all of
#                 "coffer restic borg borg-zstd3 rustic rustic-zstd3")
#   COFFER_BIN    coffer binary (default: target/release/coffer, built here)
#   SKIP_BUILD=1  do not run cargo build
#   RUSTIC_BIN    rustic binary (default: rustic on PATH, else ~/.cargo/bin/rustic)
#   KEEP=1        keep repositories and restored trees
#   RESTORE_FS    loop (default): restore into a fresh ext4 file system on a
#                 loop device per config (needs root); dir: a plain directory
#   RESULTS_TSV   raw numbers (default bench/results/linux-<date>.tsv)
#   NOTE          free text recorded in every TSV row (e.g. "busy machine")
#
# Needs: restic, borgbackup, time (GNU /usr/bin/time), zstd, xz-utils;
# rustic via `cargo install rustic-rs --locked`.
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_DIR=${BENCH_DIR:-/var/tmp/coffer-bench}
LINUX_TARBALL=${LINUX_TARBALL:-/usr/src/linux-source-6.1.tar.xz}
CONFIGS=${CONFIGS:-"coffer restic borg borg-zstd3 rustic rustic-zstd3"}
COFFER_GIVEN=${COFFER_BIN:+1}
COFFER_BIN=${COFFER_BIN:-$REPO_ROOT/target/release/coffer}
RUSTIC_BIN=${RUSTIC_BIN:-$(command -v rustic || echo "$HOME/.cargo/bin/rustic")}
KEEP=${KEEP:-0}
RESTORE_FS=${RESTORE_FS:-loop}
DATE=$(date -u +%Y-%m-%d)
RESULTS_TSV=${RESULTS_TSV:-$REPO_ROOT/bench/results/linux-$DATE.tsv}
NOTE=${NOTE:-}
CMD=()
TIME=/usr/bin/time

# Passwords for the other tools (benchmark only).
export RESTIC_PASSWORD=coffer-bench RUSTIC_PASSWORD=coffer-bench BORG_PASSPHRASE=coffer-bench
export BORG_DISPLAY_PASSPHRASE=no BORG_RELOCATED_REPO_ACCESS_IS_OK=yes

die() { echo "linux-tree.sh: $*" >&2; exit 1; }
log() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }

[[ -x $TIME ]] || die "$TIME missing: apt-get install -y time"
for t in zstd xz tar diff du mountpoint; do command -v $t >/dev/null || die "$t missing"; done

mkdir -p "$BENCH_DIR"/{repos,restore,logs,cache} "$(dirname "$RESULTS_TSV")"
cd "$BENCH_DIR"

# ---------------------------------------------------------------- the tree
if [[ ! -d linux ]]; then
    [[ -f $LINUX_TARBALL ]] || die "$LINUX_TARBALL missing: apt-get install -y linux-source-6.1"
    log "unpacking $LINUX_TARBALL"
    rm -rf linux.tmp && mkdir linux.tmp
    tar -C linux.tmp -xf "$LINUX_TARBALL"
    mv linux.tmp/* linux && rmdir linux.tmp
fi

# The 1% change set: every 100th regular file in C-sorted order. Its original
# content is kept in a tar so the tree is reset before every tool.
if [[ ! -s change-set.list ]]; then
    find linux -type f -print0 | LC_ALL=C sort -z | tr '\0' '\n' | awk 'NR % 100 == 0' > change-set.list
    rm -f change-set.orig.tar
fi
[[ -s change-set.orig.tar ]] || tar -cf change-set.orig.tar --verbatim-files-from -T change-set.list
reset_tree() { tar -xf change-set.orig.tar; }
change_tree() {
    local f
    while IFS= read -r f; do printf 'coffer-bench: changed\n' >> "$f"; done < change-set.list
}
reset_tree

FILES=$(find linux -type f | wc -l)
DIRS=$(find linux -type d | wc -l)
ENTRIES=$(find linux | wc -l)
TREE_BYTES=$(du -sb --apparent-size linux | cut -f1)
CHANGED=$(wc -l < change-set.list)
log "tree: $FILES files, $DIRS dirs, $ENTRIES entries, $TREE_BYTES bytes; change set $CHANGED files"

# Warm the page cache; done again before every config, since the kernel may
# reclaim cold page cache between runs (this VM runs DAMON reclaim). Nothing
# is ever dropped on purpose. (`tar cf - linux > /dev/null` would read
# nothing: GNU tar notices /dev/null and skips file contents, hence the cat.)
warm() { tar cf - linux | cat > /dev/null; }
warm

# ------------------------------------------------------------ bookkeeping
HOSTINFO="$(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -r)"
GIT_REV=$(git -C "$REPO_ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ -n $(git -C "$REPO_ROOT" status --porcelain -- crates Cargo.toml Cargo.lock 2>/dev/null) ]]; then
    GIT_REV="$GIT_REV+dirty"
fi
if [[ ! -s $RESULTS_TSV ]]; then
    printf 'date\ttool\tversion\tconfig\tstep\twall_s\tuser_s\tsys_s\tmax_rss_kib\texit\tvalue\tnote\n' > "$RESULTS_TSV"
fi
declare -A R  # R[config/step/field]
row() { # tool version config step wall user sys rss exit value
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$DATE" "$@" "$NOTE" >> "$RESULTS_TSV"
}
FAILURES=0

# measure CONFIG STEP DIR CMD... : runs CMD in DIR under /usr/bin/time -v.
measure() {
    local cfg=$1 step=$2 dir=$3; shift 3
    local tf="$BENCH_DIR/logs/$cfg-$step.time" lf="$BENCH_DIR/logs/$cfg-$step.log" rc=0
    log "$cfg: $step: $*"
    (cd "$dir" && "$TIME" -v -o "$tf" "$@") > "$lf" 2>&1 || rc=$?
    local wall user sys rss
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/{n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; printf "%.2f", s}' "$tf")
    user=$(awk -F': ' '/User time/{print $2}' "$tf")
    sys=$(awk -F': ' '/System time/{print $2}' "$tf")
    rss=$(awk -F': ' '/Maximum resident set size/{print $2}' "$tf")
    R[$cfg/$step/wall]=$wall R[$cfg/$step/rss]=$rss R[$cfg/$step/rc]=$rc
    row "${TOOL[$cfg]}" "${VERSION[$cfg]}" "$cfg" "$step" "$wall" "$user" "$sys" "$rss" "$rc" ""
    log "$cfg: $step: ${wall}s, max RSS $((rss / 1024)) MiB, exit $rc"
    # borg exits 1 for warnings, coffer 3; anything else is a failure.
    if [[ $rc -ne 0 && ! ( ${TOOL[$cfg]} == borg && $rc -eq 1 ) && ! ( ${TOOL[$cfg]} == coffer && $rc -eq 3 ) ]]; then
        echo "!!! $cfg $step FAILED (exit $rc); last lines of $lf:" >&2
        tail -n 20 "$lf" >&2
        R[$cfg/$step/wall]="FAILED(exit $rc) ${wall}"
        FAILURES=$((FAILURES + 1))
    fi
}

# ----------------------------------------------------------------- tools
declare -A TOOL VERSION
for c in $CONFIGS; do
    case $c in
        coffer*) TOOL[$c]=coffer ;;
        restic*) TOOL[$c]=restic ;;
        borg*) TOOL[$c]=borg ;;
        rustic*) TOOL[$c]=rustic ;;
        *) die "unknown config $c" ;;
    esac
done
if [[ " $CONFIGS " == *" coffer"* ]]; then
    if [[ ${SKIP_BUILD:-0} != 1 ]]; then
        log "building coffer (cargo build --release -p coffer-cli)"
        (cd "$REPO_ROOT" && cargo build --release -p coffer-cli) >&2
    fi
    [[ -x $COFFER_BIN ]] || die "$COFFER_BIN missing"
fi
[[ " $CONFIGS " != *" rustic"* || -x $RUSTIC_BIN ]] || die "rustic missing: cargo install rustic-rs --locked"
for c in $CONFIGS; do
    case ${TOOL[$c]} in
        coffer) VERSION[$c]="$("$COFFER_BIN" --version | awk '{print $2}') (${COFFER_GIVEN:+COFFER_BIN=$COFFER_BIN, tree }$GIT_REV)" ;;
        restic) VERSION[$c]=$(restic version | awk '{print $2}') ;;
        borg) VERSION[$c]=$(borg --version | awk '{print $2}') ;;
        rustic) VERSION[$c]=$("$RUSTIC_BIN" --version | awk '{print $2}') ;;
    esac
done

# Each config: init (untimed), then the four timed steps. The repository is
# $BENCH_DIR/repos/$cfg; every tool backs up the relative path `linux` from
# $BENCH_DIR. Caches of restic/borg/rustic go to $BENCH_DIR/cache/$cfg, fresh
# per config, and are not counted in the repository size.
tool_init() {
    local cfg=$1 repo=$2
    case $cfg in
        coffer) "$COFFER_BIN" init --vault "$repo" --key-file "$repo.key" --quiet ;;
        restic) restic init --repo "$repo" --quiet ;;
        borg) borg init --encryption repokey-blake2 "$repo" ;;
        borg-zstd3) borg init --encryption repokey-blake2 "$repo" ;;
        rustic) "$RUSTIC_BIN" --repository "$repo" init ;;
        rustic-zstd3) "$RUSTIC_BIN" --repository "$repo" init --set-compression 3 ;;
    esac
}
# shellcheck disable=SC2054  # `zstd,3` is one argument, not an array separator
tool_backup() { # cfg repo n  -> CMD
    local cfg=$1 repo=$2 n=$3
    case $cfg in
        coffer) CMD=("$COFFER_BIN" backup --vault "$repo" --key-file "$repo.key" --quiet linux) ;;
        restic) CMD=(restic --repo "$repo" backup --quiet linux) ;;
        borg) CMD=(borg create "$repo::b$n" linux) ;;
        borg-zstd3) CMD=(borg create --compression zstd,3 "$repo::b$n" linux) ;;
        rustic*) CMD=("$RUSTIC_BIN" --repository "$repo" backup linux) ;;
    esac
}
tool_restore() { # cfg repo out -> CMD  (borg extracts into its working directory)
    local cfg=$1 repo=$2 out=$3
    case $cfg in
        coffer) CMD=("$COFFER_BIN" restore latest --vault "$repo" --key-file "$repo.key" --quiet --target "$out") ;;
        restic) CMD=(restic --repo "$repo" restore latest --quiet --target "$out") ;;
        borg*) CMD=(borg extract "$repo::b3") ;;
        rustic*) CMD=("$RUSTIC_BIN" --repository "$repo" restore latest "$out") ;;
    esac
}

# Compares a restored tree with the source: content (diff -r) and metadata
# (type, mode, owner, size, mtime of files and dirs; link targets).
verify() {
    local cfg=$1 out=$2 found root
    found=$(find "$out" -type d -name linux -prune -print)
    if [[ $(printf '%s\n' "$found" | grep -c .) -ne 1 ]]; then
        echo "!!! $cfg: RESTORE MISMATCH: cannot find one restored 'linux' below $out: [$found]" >&2
        R[$cfg/verify]="MISMATCH (no tree)"
        return
    fi
    root=$found
    local content=ok meta=ok
    if ! diff -r --no-dereference -q linux "$root" > "logs/$cfg-verify.diff" 2>&1; then
        content="MISMATCH ($(wc -l < "logs/$cfg-verify.diff") diffs)"
        echo "!!! $cfg: RESTORE CONTENT MISMATCH: see $BENCH_DIR/logs/$cfg-verify.diff" >&2
        FAILURES=$((FAILURES + 1))
        head -n 10 "logs/$cfg-verify.diff" >&2
    fi
    # A directory's size depends on its file system's history, not on its
    # content, so it is left out; symlinks: type, target, name.
    meta_list() {
        find . \( -type l -printf '%y %l %P\n' \) -o \( -type d -printf '%y %m %U %G %T@ %P\n' \) \
            -o -printf '%y %m %U %G %s %T@ %P\n' | LC_ALL=C sort
    }
    (cd linux && meta_list) > "logs/$cfg-meta.src"
    (cd "$root" && meta_list) > "logs/$cfg-meta.dst"
    if ! cmp -s "logs/$cfg-meta.src" "logs/$cfg-meta.dst"; then
        local n
        n=$(diff "logs/$cfg-meta.src" "logs/$cfg-meta.dst" | grep -c '^>' || true)
        meta="$n entries differ"
        echo "!!! $cfg: restored metadata differs for $n entries (diff $BENCH_DIR/logs/$cfg-meta.src $BENCH_DIR/logs/$cfg-meta.dst)" >&2
        # coffer promises full fidelity; for the others this is information.
        if [[ ${TOOL[$cfg]} == coffer ]]; then FAILURES=$((FAILURES + 1)); fi
    fi
    R[$cfg/verify]="content $content; metadata $meta"
}

# Restores go to a fresh ext4 file system per config: restoring 84k files
# into a file system where another 84k were just deleted is much slower
# (ext4 skips recently freed inodes when allocating), which would penalise
# whichever tool runs soon after the previous restore was removed.
restore_fs_make() {
    local out=$1
    mkdir -p "$out"
    if [[ $RESTORE_FS == loop ]]; then
        rm -f "$out.img"
        truncate -s 6G "$out.img"
        mkfs.ext4 -q -F "$out.img"
        mount -o loop "$out.img" "$out" || die "cannot mount a loop file system (run as root or set RESTORE_FS=dir)"
        rmdir "$out/lost+found"
    fi
}
restore_fs_drop() {
    local out=$1
    if mountpoint -q "$out"; then umount "$out"; fi
    rm -rf "$out" "$out.img"
}
cleanup() {
    local m
    for m in "$BENCH_DIR"/restore/*; do
        if mountpoint -q "$m" 2>/dev/null; then umount "$m" || true; fi
    done
}
trap cleanup EXIT

run_config() {
    local cfg=$1 tool=${TOOL[$1]}
    local repo="$BENCH_DIR/repos/$cfg" out="$BENCH_DIR/restore/$cfg"
    reset_tree
    restore_fs_drop "$out"
    rm -rf "$repo" "$repo.key" "$BENCH_DIR/cache/$cfg"
    mkdir -p "$BENCH_DIR/cache/$cfg"
    restore_fs_make "$out"
    export XDG_CACHE_HOME="$BENCH_DIR/cache/$cfg"
    tool_init "$cfg" "$repo" > "logs/$cfg-init.log" 2>&1 || { tail "logs/$cfg-init.log" >&2; die "$cfg: init failed"; }
    warm
    tool_backup "$cfg" "$repo" 1; measure "$cfg" first "$BENCH_DIR" "${CMD[@]}"
    tool_backup "$cfg" "$repo" 2; measure "$cfg" unchanged "$BENCH_DIR" "${CMD[@]}"
    change_tree
    tool_backup "$cfg" "$repo" 3; measure "$cfg" changed "$BENCH_DIR" "${CMD[@]}"
    R[$cfg/size]=$(du -sb "$repo" | cut -f1)
    row "$tool" "${VERSION[$cfg]}" "$cfg" repo_bytes "" "" "" "" 0 "${R[$cfg/size]}"
    tool_restore "$cfg" "$repo" "$out"; measure "$cfg" restore "$out" "${CMD[@]}"
    verify "$cfg" "$out"
    row "$tool" "${VERSION[$cfg]}" "$cfg" verify "" "" "" "" 0 "${R[$cfg/verify]}"
    reset_tree
    if [[ $KEEP != 1 ]]; then
        restore_fs_drop "$out"
        rm -rf "$repo" "$repo.key" "$BENCH_DIR/cache/$cfg"
    elif mountpoint -q "$out"; then
        umount "$out"  # the restored tree stays in $out.img
    fi
    unset XDG_CACHE_HOME
}

# --------------------------------------------------------- machine limit
log "machine limit: tar cf - linux | zstd -3 -T0"
"$TIME" -f '%e' -o logs/machine-limit.time bash -c 'tar cf - linux | zstd -q -3 -T0 -c | wc -c' > logs/machine-limit.out
LIMIT_S=$(tail -n 1 logs/machine-limit.time)
LIMIT_BYTES=$(cat logs/machine-limit.out)
row machine "zstd $(zstd -V | grep -o 'v[0-9.]*' | head -n 1)" tar-zstd3 limit "$LIMIT_S" "" "" "" 0 "$LIMIT_BYTES bytes out; $HOSTINFO"
row machine "" tree files "" "" "" "" 0 "$FILES files, $DIRS dirs, $ENTRIES entries, $TREE_BYTES bytes; $CHANGED in the change set"

for c in $CONFIGS; do run_config "$c"; done

# ----------------------------------------------------------------- report
mib() { awk -v k="$1" 'BEGIN{printf "%.0f", k/1024}'; }
echo
echo "Linux $(basename "$LINUX_TARBALL" .tar.xz) tree: $FILES files, $DIRS directories, $(awk -v b="$TREE_BYTES" 'BEGIN{printf "%.0f", b/1048576}') MiB; 1% change = $CHANGED files"
echo "Machine: $HOSTINFO. Machine limit (tar | zstd -3 -T0): ${LIMIT_S}s, $(awk -v b="$LIMIT_BYTES" 'BEGIN{printf "%.0f", b/1048576}') MiB out. ${NOTE:+Note: $NOTE}"
echo
echo "| tool | config | first backup | unchanged | 1% changed | restore | repo size | restore check |"
echo "|---|---|---|---|---|---|---|---|"
for c in $CONFIGS; do
    cell() { echo "${R[$c/$1/wall]}s / $(mib "${R[$c/$1/rss]}") MiB"; }
    printf '| %s %s | %s | %s | %s | %s | %s | %s MiB | %s |\n' "${TOOL[$c]}" "${VERSION[$c]}" "$c" \
        "$(cell first)" "$(cell unchanged)" "$(cell changed)" "$(cell restore)" \
        "$(awk -v b="${R[$c/size]}" 'BEGIN{printf "%.1f", b/1048576}')" "${R[$c/verify]}"
done
echo
echo "Cells: wall seconds / peak RSS. Raw numbers: $RESULTS_TSV"
if [[ $FAILURES -gt 0 ]]; then echo "!!! $FAILURES steps or checks FAILED (see above)" >&2; exit 1; fi
