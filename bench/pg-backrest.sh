#!/usr/bin/env bash
# PostgreSQL physical backups, coffer against pgBackRest (issue 18), side by
# side on one throwaway PostgreSQL 15 cluster, in one run:
#
#   1. full backup: `coffer pg backup --type full` / `pgbackrest backup --type=full`
#   2. incremental after a scattered 2% update (rows spread over the table)
#   3. incremental after a skewed 2% update (rows among the newest 5% of ids)
#   4. stored bytes after the three (coffer: the vault; pgBackRest: its repo)
#   5. restore of the latest incremental into an empty directory, start, until
#      the first `select 1` succeeds (its check of the rows, a sequential
#      scan, sets hint bits all over the table), then 5b: an incremental
#      after those reads alone, and one WAL segment's round trip through
#      both archive commands
#   6. archive_command with real WAL: a pgbench write load of MINUTES minutes
#      archived by `coffer wal-push` (its defaults) into a local vault, into
#      Garage (scripts/garage.sh), and by pgBackRest archive-push (async) into
#      its repo; the age of the oldest archive_status/*.ready file sampled
#      every second (max and p95 lag), the segments archived per second, and
#      the archiving's CPU seconds (PostgreSQL's default max_wal_size and
#      checkpoint_timeout). Before the loads, BACKLOG_ROUNDS rounds in which
#      each tool in turn archives a backlog of real WAL made with archiving
#      paused (archive_command = ''): a checkpoint, BACKLOG_SECONDS of pgbench
#      and an update of 5% of the blobs rows. The backlog's drain is the
#      tool's full-speed rate: under the load alone an archiver only has to
#      keep up with what pgbench writes.
#
#   sudo bash bench/pg-backrest.sh                      # the issue's size
#   SCALE=2 BLOB_ROWS=50000 MINUTES=0.5 BACKLOG_SECONDS=5 BACKLOG_ROUNDS=1 sudo bash bench/pg-backrest.sh   # a quick try
#
# Both encrypted (pgBackRest aes-256-cbc with a passphrase; coffer with a key
# file), both zstd level 3 (pgBackRest compress-type=zst compress-level=3;
# coffer's default: `--compression` 3 for backups, level 3 for WAL files,
# coffer-core format/wal.rs), pgBackRest process-max 2 on this 2-core machine
# and coffer with its defaults (it sizes itself to the cores). WAL archiving
# during parts 1-5 goes to both (archive_command = coffer wal-push && pgbackrest
# archive-push), as each one's restore fetches WAL from its own archive.
#
# The database: pgbench at scale SCALE (compressible) plus `blobs`, BLOB_ROWS
# rows of an increasing id and 512 random-looking bytes (eight sha512 digests
# of the id and a generation number: poorly compressible, reproducible). At
# the default 2,240,000 rows `blobs` is about 1.25 GiB, so its heap is two
# files (1 GiB segments) and "the newest 5%" lies in the second one. The
# scattered update rewrites the rows whose id is 0 mod 50 (2%, every part of
# the table); the skewed one 2% of the table's rows, all among the newest 5%
# by id (ids above 95% of the largest, every 5th of 2 out of 5: 40% of them).
#
# Needs root (the cluster and the tools run as the postgres user; part 6 puts
# the archiver in a cpuacct cgroup to count its CPU, "-" when that fails),
# /usr/lib/postgresql/15/bin, pgbackrest (installed with apt-get if missing),
# jq, and for the Garage row scripts/garage.sh, of which it starts its own
# server in BENCH_DIR on free ports from 3930 (S3=0 leaves that row out).
#
# Output: markdown tables on stdout, progress on stderr, raw rows in
# BENCH_DIR/pg-backrest.tsv. Everything made under BENCH_DIR/pg-backrest is
# removed at the end (KEEP=1 keeps it).
#
# Environment: SCALE (30), BLOB_ROWS (2240000), MINUTES (3), BACKLOG_SECONDS
# (30), BACKLOG_ROUNDS (2, 0 for none), CLIENTS (4), JOBS (2), S3 (1), BENCH_DIR (/var/tmp/coffer-bench),
# PG_BIN (/usr/lib/postgresql/15/bin), PGBACKREST (pgbackrest), COFFER_BIN
# (target/release/coffer, built here unless SKIP_BUILD=1), COFFER_BACKUP
# (auto: `pg backup --type` when the binary has it, else `pg basebackup`, a
# full streamed backup every time, flagged in the output; or force
# `basebackup`).
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SCALE=${SCALE:-30}
BLOB_ROWS=${BLOB_ROWS:-2240000}
MINUTES=${MINUTES:-3}
BACKLOG_SECONDS=${BACKLOG_SECONDS:-30}
BACKLOG_ROUNDS=${BACKLOG_ROUNDS:-2}
CLIENTS=${CLIENTS:-4}
JOBS=${JOBS:-2}
S3=${S3:-1}
BENCH_DIR=${BENCH_DIR:-/var/tmp/coffer-bench}
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
PGBACKREST=${PGBACKREST:-pgbackrest}
COFFER_BIN=${COFFER_BIN:-$REPO_ROOT/target/release/coffer}
COFFER_BACKUP=${COFFER_BACKUP:-auto}
DB=bench
work="$BENCH_DIR/pg-backrest"
die() { echo "pg-backrest: $*" >&2; exit 1; }
# shellcheck source=bench/lib-pg.sh
source "$REPO_ROOT/bench/lib-pg.sh"

# --- tools
[[ $(id -u) == 0 ]] || die "run as root: initdb and the servers run as the postgres user through runuser"
id postgres >/dev/null 2>&1 || die "user postgres does not exist: install postgresql-15"
for t in initdb pg_ctl postgres psql pgbench; do
    [[ -x $PG_BIN/$t ]] || die "$PG_BIN/$t is missing: install postgresql-15 (or set PG_BIN)"
done
if ! command -v "$PGBACKREST" >/dev/null; then
    log "installing pgbackrest with apt-get"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q pgbackrest >&2
fi
command -v jq >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q jq >&2
for t in "$PGBACKREST" jq zstd runuser pgrep /usr/bin/time; do command -v "$t" >/dev/null || die "$t is missing"; done
if [[ ${SKIP_BUILD:-0} != 1 ]]; then
    (cd "$REPO_ROOT" && cargo build --release --locked -p coffer-cli) >&2
fi
[[ -x $COFFER_BIN ]] || die "$COFFER_BIN is missing: build it (cargo build --release -p coffer-cli) or set COFFER_BIN"
COFFER_BIN=$(realpath "$COFFER_BIN")
runuser -u postgres -- "$COFFER_BIN" --version >/dev/null 2>&1 ||
    die "the postgres user cannot run $COFFER_BIN (archive_command runs it): make its directories readable"
if [[ $COFFER_BACKUP == auto ]]; then
    if "$COFFER_BIN" pg backup --help 2>/dev/null | grep -q -- '--type'; then
        COFFER_BACKUP=backup
    else
        COFFER_BACKUP=basebackup
        log "this coffer has no 'pg backup --type': parts 1-3 use 'pg basebackup' (a full streamed backup every time)"
    fi
fi
[[ $COFFER_BACKUP == backup || $COFFER_BACKUP == basebackup ]] || die "COFFER_BACKUP=$COFFER_BACKUP: auto, backup or basebackup"
awk -v m="$MINUTES" 'BEGIN { exit !(m > 0) }' || die "MINUTES=$MINUTES: a positive number of minutes"
LOAD_SECONDS=$(awk -v m="$MINUTES" 'BEGIN { printf "%d", m * 60 + 0.5 }')

# --- scratch space, Garage
pgdir="$work/pg" # owned by postgres: data directories, vaults, keys, pgBackRest's repo
data="$pgdir/data"
PG_SOCKET_DIR="$pgdir/sock"
vault="$pgdir/vault"
key="$pgdir/vault.key"
conf="$pgdir/pgbackrest.conf"
repo="$pgdir/pgbr-repo"
tsv="$BENCH_DIR/pg-backrest.tsv"
CG_ROOT=/sys/fs/cgroup/cpuacct
sampler=
garage_started=

cleanup() {
    local rc=$?
    [[ -n $sampler ]] && kill "$sampler" 2>/dev/null
    pg_stop_all "$rc"
    [[ -n $garage_started ]] && "$REPO_ROOT/scripts/garage.sh" stop >/dev/null 2>&1
    for g in "$CG_ROOT"/coffer-bench-pgbr-*; do
        [[ -d $g ]] || continue
        while read -r p; do echo "$p" >"$CG_ROOT/cgroup.procs" 2>/dev/null || true; done <"$g/cgroup.procs"
        rmdir "$g" 2>/dev/null || true
    done
    if [[ ${KEEP:-0} == 1 ]]; then log "kept $work"; else rm -rf "$work"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

rm -rf "$work"
mkdir -p "$work" "$pgdir" "$PG_SOCKET_DIR"
chown postgres:postgres "$pgdir" "$PG_SOCKET_DIR"
chmod 700 "$pgdir"
as_pg test -w "$pgdir" || die "the postgres user cannot write $pgdir: choose a BENCH_DIR whose parents it can enter"
cd "$work"
if [[ $S3 == 1 ]]; then
    # A Garage of its own (the shared one in /tmp/coffer-garage is stopped by
    # other runs' tests), started before the cluster: archive_command
    # inherits the server's environment.
    export COFFER_GARAGE_DIR=$work/garage
    COFFER_GARAGE_S3_PORT=$(free_port 3930)
    COFFER_GARAGE_RPC_PORT=$(free_port $((COFFER_GARAGE_S3_PORT + 1)))
    COFFER_GARAGE_ADMIN_PORT=$(free_port $((COFFER_GARAGE_RPC_PORT + 1)))
    export COFFER_GARAGE_S3_PORT COFFER_GARAGE_RPC_PORT COFFER_GARAGE_ADMIN_PORT
    garage_started=1
    env_file=$("$REPO_ROOT/scripts/garage.sh" start) || die "scripts/garage.sh start failed (S3=0 leaves the Garage row out)"
    # shellcheck source=/dev/null
    source "$env_file"
fi

printf 'part\tstep\ttool\twall_s\tcpu_s\tpeak_rss_mib\tbytes\textra\n' >"$tsv"
row() { local IFS=$'\t'; echo "$*" >>"$tsv"; }

load_start=$(cut -d' ' -f1-3 /proc/loadavg)

# --- the cluster and the data, loaded without WAL archiving (wal_level minimal)
PORT=$(free_port 55432)
log "initdb in $data, port $PORT"
as_pg "$PG_BIN/initdb" -D "$data" -U postgres --auth=trust -E UTF8 >/dev/null
cat >>"$data/postgresql.conf" <<CONF

# bench/pg-backrest.sh
max_wal_size = 4GB
checkpoint_timeout = 15min
CONF
pg_start "$data" "$PORT" "-c wal_level=minimal -c max_wal_senders=0 -c archive_mode=off"
"$PG_BIN/createdb" -h 127.0.0.1 -p "$PORT" -U postgres "$DB"
log "loading: pgbench -i -s $SCALE, then $BLOB_ROWS rows of blobs"
t0=$(now)
"$PG_BIN/pgbench" -i -q -s "$SCALE" -h 127.0.0.1 -p "$PORT" -U postgres "$DB" >"$work/err" 2>&1 ||
    { cat "$work/err" >&2; die "pgbench -i -s $SCALE failed"; }
# payload(id, generation): 512 bytes, eight sha512 digests.
q "$PORT" >/dev/null <<SQL
create function payload(i bigint, g int) returns bytea language sql immutable parallel safe as \$\$
    select sha512(convert_to(i || ':' || g || ':0', 'UTF8')) || sha512(convert_to(i || ':' || g || ':1', 'UTF8'))
        || sha512(convert_to(i || ':' || g || ':2', 'UTF8')) || sha512(convert_to(i || ':' || g || ':3', 'UTF8'))
        || sha512(convert_to(i || ':' || g || ':4', 'UTF8')) || sha512(convert_to(i || ':' || g || ':5', 'UTF8'))
        || sha512(convert_to(i || ':' || g || ':6', 'UTF8')) || sha512(convert_to(i || ':' || g || ':7', 'UTF8'))
\$\$;
create table blobs (id bigint primary key, gen int not null, payload bytea not null);
insert into blobs select i, 0, payload(i, 0) from generate_series(1, $BLOB_ROWS) i;
vacuum (freeze, analyze);
checkpoint;
SQL
load_s=$(secs "$t0" "$(now)")
db_size=$(q "$PORT" -c "select pg_database_size('$DB')")
blobs_size=$(q "$PORT" -c "select pg_table_size('blobs')")
fp="$data/$(q "$PORT" -c "select pg_relation_filepath('blobs')")"
files=("$fp")
for f in "$fp".[0-9]*; do [[ -e $f ]] && files+=("$f"); done
compressed=$(cat "${files[@]}" | zstd -q -3 -T2 | wc -c)
log "database $DB: $(mib "$db_size") (blobs $(mib "$blobs_size"), $(mib "$compressed") at zstd -3), loaded in $load_s s"
row load database "" "$load_s" "" "" "$db_size" "blobs=$blobs_size blobs_zstd3=$compressed"

# --- both tools' archives, archiving on (a restart)
as_pg "$COFFER_BIN" --vault "$vault" --key-file "$key" -q init
cat >"$conf" <<CONF
[global]
repo1-path=$repo
repo1-cipher-type=aes-256-cbc
repo1-cipher-pass=bench-cipher-pass-not-secret-$(head -c 12 /dev/urandom | base64 | tr -d '/+=')
repo1-retention-full=9
compress-type=zst
compress-level=3
process-max=2
archive-async=y
start-fast=y
spool-path=$pgdir/pgbr-spool
lock-path=$pgdir/pgbr-lock
log-path=$pgdir/pgbr-log
log-level-console=warn
log-level-file=off

[bench]
pg1-path=$data
pg1-port=$PORT
pg1-socket-path=$PG_SOCKET_DIR
CONF
chown postgres: "$conf"
chmod 600 "$conf"
coffer_push="$COFFER_BIN --vault $vault --key-file $key --quiet wal-push %p"
pgbr_push="$PGBACKREST --config=$conf --stanza=bench archive-push %p"
cat >>"$data/postgresql.conf" <<CONF
wal_level = replica
max_wal_senders = 5
archive_mode = on
archive_command = '$coffer_push && $pgbr_push'
CONF
pg_stop "$data"
pg_start "$data" "$PORT" ""
as_pg "$PGBACKREST" --config="$conf" --stanza=bench stanza-create >&2
as_pg "$PGBACKREST" --config="$conf" --stanza=bench check >&2

url="postgres://postgres@127.0.0.1:$PORT/"
declare -A WALL_OF CPU_OF RSS_OF STORED_OF LAST_OF
coffer_backup() { # TYPE
    if [[ $COFFER_BACKUP == backup ]]; then
        measure "coffer pg backup --type $1" runuser -u postgres -- "$COFFER_BIN" --vault "$vault" --key-file "$key" \
            --json pg backup --postgres "$url" --pgdata "$data" --pg-bin-dir "$PG_BIN" --type "$1"
    else
        measure "coffer pg basebackup" runuser -u postgres -- "$COFFER_BIN" --vault "$vault" --key-file "$key" \
            --json pg basebackup --postgres "$url" --pg-bin-dir "$PG_BIN"
    fi
    coffer_snap=$(jq -r '.id // .snapshot // empty' "$work/out")
    [[ -n $coffer_snap ]] || die "no snapshot id in coffer's --json output: $(head -c 400 "$work/out")"
}
pgbr_backup() { # TYPE
    measure "pgbackrest backup --type=$1" runuser -u postgres -- "$PGBACKREST" --config="$conf" --stanza=bench \
        backup --type="$1"
}
# drain: a checkpoint, then the WAL so far archived (pg_switch_wal() until
# pg_stat_archiver names the segment), so that a backup's stop waits only for
# its own WAL, not for the backlog of an update made before it (whichever tool
# ran first would otherwise pay for archiving it through both commands).
drain() {
    local seg
    q "$PORT" -c checkpoint >/dev/null
    seg=$(q "$PORT" -c "select pg_walfile_name(pg_switch_wal())")
    until [[ $(q "$PORT" -c "select coalesce(last_archived_wal, '') >= '$seg' from pg_stat_archiver") == t ]]; do sleep 0.02; done
}
backup_pair() { # PART TYPE
    local part=$1 type=$2
    drain
    log "part $part: coffer ($COFFER_BACKUP) --type $type"
    coffer_backup "$type"
    WALL_OF[$part.coffer]=$WALL CPU_OF[$part.coffer]=$CPU RSS_OF[$part.coffer]=$RSS
    STORED_OF[$part.coffer]=$(($(bytes "$vault") - ${LAST_OF[coffer]:-0})) LAST_OF[coffer]=$(bytes "$vault")
    row "$part" "backup $type" coffer "$WALL" "$CPU" "$RSS" "${LAST_OF[coffer]}" "snapshot=$coffer_snap mode=$COFFER_BACKUP"
    drain
    log "part $part: pgbackrest --type=$type"
    pgbr_backup "$type"
    WALL_OF[$part.pgbr]=$WALL CPU_OF[$part.pgbr]=$CPU RSS_OF[$part.pgbr]=$RSS
    STORED_OF[$part.pgbr]=$(($(bytes "$repo") - ${LAST_OF[pgbr]:-0})) LAST_OF[pgbr]=$(bytes "$repo")
    row "$part" "backup $type" pgbackrest "$WALL" "$CPU" "$RSS" "${LAST_OF[pgbr]}" ""
    log "part $part: coffer ${WALL_OF[$part.coffer]} s (${CPU_OF[$part.coffer]} CPU s), pgBackRest ${WALL_OF[$part.pgbr]} s (${CPU_OF[$part.pgbr]} CPU s)"
}

# --- 1-3: backups
backup_pair 1 full
log "scattered update: the rows whose id is 0 mod 50"
changed=$(q "$PORT" -c "with u as (update blobs set gen = 1, payload = payload(id, 1) where id % 50 = 0 returning 1)
    select count(*) from u")
log "scattered update: $changed rows"
row 2 update scattered "" "" "" "" "rows=$changed"
backup_pair 2 incr
log "skewed update: 2% of the rows, all among the newest 5% of ids"
# An index scan: a sequential one would also set the hint bits of the rows the
# scattered update replaced, all over the table (the threshold is a bigint so
# that the index can be used at all).
changed_skew=$(q "$PORT" -c "set enable_seqscan = off" -c "with u as (update blobs set gen = 2, payload = payload(id, 2)
        where id > (select max(id) * 95 / 100 from blobs) and id % 5 in (1, 3) returning 1)
    select count(*) from u")
log "skewed update: $changed_skew rows"
row 3 update skewed "" "" "" "" "rows=$changed_skew"
backup_pair 3 incr

# --- 4: stored bytes
coffer_bytes=$(bytes "$vault") coffer_wal=$(bytes "$vault/wal")
pgbr_bytes=$(bytes "$repo") pgbr_wal=$(bytes "$repo/archive")
row 4 stored coffer "" "" "" "$coffer_bytes" "wal=$coffer_wal"
row 4 stored pgbackrest "" "" "" "$pgbr_bytes" "wal=$pgbr_wal"

# --- 5: restores of the latest incremental, until `select 1`
restore_pair() {
    local rdir port t0 t1
    for tool in coffer pgbr; do
        rdir="$pgdir/restore-$tool"
        port=$(free_port $((PORT + 1)))
        as_pg mkdir -m 700 "$rdir"
        sync
        log "part 5: $tool restore into $rdir, server on port $port"
        t0=$(now)
        if [[ $tool == coffer ]]; then
            measure "coffer restore --pgdata" runuser -u postgres -- "$COFFER_BIN" --vault "$vault" --key-file "$key" \
                restore "$coffer_snap" --pgdata "$rdir"
        else
            measure "pgbackrest restore" runuser -u postgres -- "$PGBACKREST" --config="$conf" --stanza=bench \
                --pg1-path="$rdir" --archive-mode=off restore
        fi
        t1=$(now)
        pg_start "$rdir" "$port" "-c archive_mode=off"
        wait_sql "$port"
        RTO_OF[$tool]=$(secs "$t0" "$(now)")
        START_OF[$tool]=$(secs "$t1" "$(now)")
        WALL_OF[5.$tool]=$WALL CPU_OF[5.$tool]=$CPU RSS_OF[5.$tool]=$RSS
        ROWS_OF[$tool]=$(DB=$DB q "$port" -c "select count(*) || ' ' || sum(gen) from blobs")
        row 5 restore "$tool" "$WALL" "$CPU" "$RSS" "" "to_queries=${RTO_OF[$tool]} start=${START_OF[$tool]}"
        log "part 5: $tool: restore ${WALL} s, to queries ${RTO_OF[$tool]} s; blobs rows, sum(gen): ${ROWS_OF[$tool]}"
        pg_stop "$rdir"
        rm -rf "$rdir" "$rdir.log"
    done
}
declare -A RTO_OF START_OF ROWS_OF
expect_rows=$(q "$PORT" -c "select count(*) || ' ' || sum(gen) from blobs")
restore_pair
for tool in coffer pgbr; do
    [[ ${ROWS_OF[$tool]} == "$expect_rows" ]] ||
        die "the $tool restore has blobs rows, sum(gen) = ${ROWS_OF[$tool]}, the cluster $expect_rows"
done

# --- 5b: an incremental after nothing but reads: part 5's check (a sequential
# scan of blobs) set the hint bits of every row the two updates replaced, so
# pages all over the table are dirty again and both heap files have a new
# mtime, though no row changed. Then the WAL round trip every backup's stop
# waits for: pg_switch_wal() until pg_stat_archiver names the segment, through
# both archive commands.
declare -A FLOOR_OF
for tool in coffer pgbr; do
    drain
    log "5b: $tool incr after the reads (hint bits)"
    if [[ $tool == coffer ]]; then coffer_backup incr; else pgbr_backup incr; fi
    WALL_OF[floor.$tool]=$WALL CPU_OF[floor.$tool]=$CPU RSS_OF[floor.$tool]=$RSS
    row 5b "backup incr after hint bits" "$tool" "$WALL" "$CPU" "$RSS" "" ""
done
trips=()
for i in 1 2 3; do
    q "$PORT" -c "create table if not exists trip (i int)" -c "insert into trip values ($i)" >/dev/null
    t0=$(now)
    seg=$(q "$PORT" -c "select pg_walfile_name(pg_switch_wal())")
    until [[ $(q "$PORT" -c "select coalesce(last_archived_wal, '') >= '$seg' from pg_stat_archiver") == t ]]; do sleep 0.02; done
    trips+=("$(secs "$t0" "$(now)")")
done
trip=$(printf '%s\n' "${trips[@]}" | sort -n | sed -n 2p)
row 5b "wal round trip (median of 3)" both "$trip" "" "" "" "${trips[*]}"
log "5b: coffer ${WALL_OF[floor.coffer]} s, pgBackRest ${WALL_OF[floor.pgbr]} s; one segment through both archive commands: $trip s (${trips[*]})"

# --- 6: archive_command with a pgbench write load
ready_count() { find "$data/pg_wal/archive_status" -name '*.ready' | wc -l; }
archived() { q "$PORT" -c "select archived_count || ' ' || failed_count from pg_stat_archiver"; }
set_archive() { # COMMAND ('' pauses archiving)
    q "$PORT" -c "alter system set archive_command = '${1//\'/\'\'}'" -c "select pg_reload_conf()" >/dev/null
}
wait_drained() { # LIMIT_S: until no .ready file is left
    local i
    for ((i = 0; i < $1 * 10; i++)); do
        (($(ready_count) == 0)) && return 0
        sleep 0.1
    done
    die "$(ready_count) WAL files still not archived after $1 s (archiver: $(archived))"
}
# cpuacct cgroup around the archiver process: its archive_command children
# (and anything they detach, such as pgBackRest's async process) are counted.
cg_begin() { # NAME
    CG="$CG_ROOT/coffer-bench-pgbr-$1"
    local pm arch
    pm=$(head -1 "$data/postmaster.pid")
    arch=$(pgrep -P "$pm" -f 'archiver' | head -1)
    if [[ -n $arch ]] && mkdir "$CG" 2>/dev/null && echo "$arch" >"$CG/cgroup.procs" 2>/dev/null; then
        return 0
    fi
    CG=
}
cg_end() { # prints the CPU seconds counted, or -
    if [[ -z $CG ]]; then echo -; return; fi
    local ns p
    ns=$(cat "$CG/cpuacct.usage")
    while read -r p; do echo "$p" >"$CG_ROOT/cgroup.procs" 2>/dev/null || true; done <"$CG/cgroup.procs"
    rmdir "$CG" 2>/dev/null || true
    awk -v n="$ns" 'BEGIN { printf "%.1f", n / 1e9 }'
}
pgbench_run() { # SECONDS: the write load; prints tps
    "$PG_BIN/pgbench" -h 127.0.0.1 -p "$PORT" -U postgres -c "$CLIENTS" -j "$JOBS" -T "$1" -n "$DB" >"$work/pgbench" 2>&1 ||
        { cat "$work/pgbench" >&2; die "pgbench -T $1 failed"; }
    awk '/^tps/ { printf "%.0f", $3 }' "$work/pgbench"
}

declare -A A_TPS A_SEGS A_RATE A_MAX A_P95 A_DRAIN A_CPU B_SEGS B_SECS B_CPU B_ROUNDS CMD_OF
# backlog NAME: a backlog of real WAL made with archiving paused, then the
# time until the tool has archived all of it (its full-speed rate).
backlog() {
    local name=$1 n t0 secs cpu
    wait_drained 600
    set_archive ''
    sleep 1
    q "$PORT" -c checkpoint
    pgbench_run "$BACKLOG_SECONDS" >/dev/null
    ((++backlog_gen))
    q "$PORT" -c "update blobs set gen = $((backlog_gen + 2)), payload = payload(id, $((backlog_gen + 2)))
        where id % 20 = $((backlog_gen % 20))" -c "select pg_switch_wal()" >/dev/null
    n=$(ready_count)
    cg_begin "$name-backlog"
    t0=$(now)
    set_archive "${CMD_OF[$name]}"
    wait_drained 3600
    secs=$(secs "$t0" "$(now)")
    cpu=$(cg_end)
    B_SEGS[$name]=$((${B_SEGS[$name]:-0} + n))
    B_SECS[$name]=$(awk -v a="${B_SECS[$name]:-0}" -v b="$secs" 'BEGIN { printf "%.2f", a + b }')
    B_CPU[$name]=$(awk -v a="${B_CPU[$name]:-0}" -v b="$cpu" 'BEGIN { if (b == "-" || a == "-") print "-"; else printf "%.1f", a + b }')
    B_ROUNDS[$name]+="${B_ROUNDS[$name]:+, }$(awk -v n="$n" -v t="$secs" 'BEGIN { printf "%.1f", n / t }')"
    row 6 backlog "$name" "$secs" "$cpu" "" "$((n << 24))" "segments=$n"
    log "part 6, $name: backlog of $n segments archived in $secs s ($cpu CPU s)"
}
# load NAME: MINUTES of pgbench with the tool as archive_command, the age of
# the oldest .ready file sampled every second.
load() {
    local name=$1 t0 t1 before after
    wait_drained 600
    set_archive "${CMD_OF[$name]}"
    sleep 1
    log "part 6, $name: pgbench -c $CLIENTS -j $JOBS -T $LOAD_SECONDS, sampling the archive lag every second"
    before=$(archived)
    cg_begin "$name-load"
    (
        while :; do
            o=$(find "$data/pg_wal/archive_status" -name '*.ready' -printf '%T@\n' 2>/dev/null | sort -n | head -1)
            n=$(find "$data/pg_wal/archive_status" -name '*.ready' 2>/dev/null | wc -l)
            awk -v t="$(now)" -v o="$o" -v n="$n" 'BEGIN { printf "%.2f %.2f %d\n", t, (o == "" ? 0 : t - o), n }'
            sleep 1
        done >"$work/lag-$name"
    ) &
    sampler=$!
    t0=$(now)
    A_TPS[$name]=$(pgbench_run "$LOAD_SECONDS")
    t1=$(now)
    q "$PORT" -c "select pg_switch_wal()" >/dev/null
    wait_drained 3600
    A_DRAIN[$name]=$(secs "$t1" "$(now)")
    kill "$sampler" 2>/dev/null || true
    wait "$sampler" 2>/dev/null || true
    sampler=
    A_CPU[$name]=$(cg_end)
    after=$(archived)
    [[ ${after##* } == "${before##* }" ]] || log "part 6, $name: the archiver counted $((${after##* } - ${before##* })) failed calls"
    A_SEGS[$name]=$((${after%% *} - ${before%% *}))
    A_RATE[$name]=$(awk -v n="${A_SEGS[$name]}" -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.2f", n / (b - a) }')
    read -r A_MAX[$name] A_P95[$name] < <(awk '{ print $2 }' "$work/lag-$name" | sort -n |
        awk '{ v[NR] = $1 } END { if (NR == 0) { print "- -"; exit } i = int(NR * 0.95 + 0.999); if (i > NR) i = NR
              printf "%.1f %.1f\n", v[NR], v[i] }')
    row 6 load "$name" "$LOAD_SECONDS" "${A_CPU[$name]}" "" "$((A_SEGS[$name] << 24))" \
        "tps=${A_TPS[$name]} segments=${A_SEGS[$name]} rate=${A_RATE[$name]} lag_max=${A_MAX[$name]} lag_p95=${A_P95[$name]} drain=${A_DRAIN[$name]}"
    log "part 6, $name: ${A_TPS[$name]} tps, ${A_SEGS[$name]} segments, lag max ${A_MAX[$name]} s, p95 ${A_P95[$name]} s, drained ${A_DRAIN[$name]} s after the load"
}

# PostgreSQL's defaults from here (more checkpoints, more full-page images).
q "$PORT" -c "alter system set max_wal_size = '1GB'" -c "alter system set checkpoint_timeout = '5min'" \
    -c "select pg_reload_conf()" >/dev/null
backlog_gen=0
as_pg "$COFFER_BIN" --vault "$pgdir/vault-wal" --key-file "$pgdir/vault-wal.key" -q init
phases=(coffer-local)
CMD_OF[coffer-local]="$COFFER_BIN --vault $pgdir/vault-wal --key-file $pgdir/vault-wal.key --quiet wal-push %p"
if [[ $S3 == 1 ]]; then
    s3_vault="s3://$COFFER_TEST_S3_BUCKET/pg-backrest-$(date +%s)"
    as_pg "$COFFER_BIN" --vault "$s3_vault" --key-file "$pgdir/vault-s3.key" -q init
    phases+=(coffer-garage)
    CMD_OF[coffer-garage]="$COFFER_BIN --vault $s3_vault --key-file $pgdir/vault-s3.key --quiet wal-push %p"
fi
phases+=(pgbackrest)
CMD_OF[pgbackrest]=$pgbr_push
# Rounds of backlogs, the tools taking turns (the machine's other load
# varies from minute to minute), then one load per tool.
for ((round = 1; round <= BACKLOG_ROUNDS; round++)); do
    for p in "${phases[@]}"; do
        log "part 6, $p: backlog round $round: pgbench -T $BACKLOG_SECONDS and a 5% blobs update with archiving paused"
        backlog "$p"
    done
done
for p in "${phases[@]}"; do load "$p"; done
set_archive "$coffer_push && $pgbr_push"

# --- tables
# The last commit that changed the code (bench/ commits do not change the binary).
rev=$(git -C "$REPO_ROOT" log -1 --format=%h -- crates Cargo.lock Cargo.toml 2>/dev/null || echo '?')
echo "Database: $(mib "$db_size") (pgbench scale $SCALE + $BLOB_ROWS blobs rows, blobs $(mib "$blobs_size"), $(mib "$compressed") at zstd -3). PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}'), $("$PGBACKREST" version), coffer $("$COFFER_BIN" --version | awk '{print $2}') at $rev (${COFFER_BIN}). Load average (1, 5, 15 min) at the start: $load_start; at the end: $(cut -d' ' -f1-3 /proc/loadavg)."
echo
[[ $COFFER_BACKUP == backup ]] || echo "coffer rows 1-3 are \`pg basebackup\` (full, streamed), not \`pg backup --type\`: that binary has no such command."
echo
pr() { # label wall/cpu keys
    local c=$2 p=$3
    echo "| $1 | ${WALL_OF[$c]} s (${CPU_OF[$c]} CPU s, ${RSS_OF[$c]} MiB) | ${WALL_OF[$p]} s (${CPU_OF[$p]} CPU s, ${RSS_OF[$p]} MiB) | $(ratio "${WALL_OF[$p]}" "${WALL_OF[$c]}")× | $(ratio "${CPU_OF[$p]}" "${CPU_OF[$c]}")× |"
}
echo "| step | coffer: wall (CPU user+sys, peak RSS) | pgBackRest | pgBackRest ÷ coffer, wall | CPU |"
echo "|---|---|---|---|---|"
pr "1. full backup" 1.coffer 1.pgbr
pr "2. incr after a scattered 2% update ($changed rows)" 2.coffer 2.pgbr
pr "3. incr after a skewed 2% update ($changed_skew rows, newest 5%)" 3.coffer 3.pgbr
for part in 1 2 3; do
    echo "| 4. stored by backup $part (with the WAL archived since the step before) | $(mib "${STORED_OF[$part.coffer]}") | $(mib "${STORED_OF[$part.pgbr]}") | $(ratio "${STORED_OF[$part.pgbr]}" "${STORED_OF[$part.coffer]}")× | - |"
done
echo "| 4. stored after 1-3 (of which WAL) | $(mib "$coffer_bytes") ($(mib "$coffer_wal")) | $(mib "$pgbr_bytes") ($(mib "$pgbr_wal")) | $(ratio "$pgbr_bytes" "$coffer_bytes")× | - |"
echo "| 4. stored, backups only | $(mib $((coffer_bytes - coffer_wal))) | $(mib $((pgbr_bytes - pgbr_wal))) | $(ratio $((pgbr_bytes - pgbr_wal)) $((coffer_bytes - coffer_wal)))× | - |"
echo "| 5. restore of the latest incr to the first \`select 1\` | ${RTO_OF[coffer]} s (restore ${WALL_OF[5.coffer]} s, ${CPU_OF[5.coffer]} CPU s; start ${START_OF[coffer]} s) | ${RTO_OF[pgbr]} s (restore ${WALL_OF[5.pgbr]} s, ${CPU_OF[5.pgbr]} CPU s; start ${START_OF[pgbr]} s) | $(ratio "${RTO_OF[pgbr]}" "${RTO_OF[coffer]}")× | $(ratio "${CPU_OF[5.pgbr]}" "${CPU_OF[5.coffer]}")× |"
pr "5b. incr after only reads (the check's scan set hint bits all over blobs)" floor.coffer floor.pgbr
echo
echo "One WAL segment through archive_command = coffer wal-push && pgbackrest archive-push (pg_switch_wal() until pg_stat_archiver names it, median of 3): $trip s (${trips[*]}). Every backup's stop waits for such a trip."
echo
echo "Archiving (pgbench -c $CLIENTS -j $JOBS, scale $SCALE; lag = age of the oldest archive_status/*.ready, sampled every second; CPU = the archiver's cpuacct cgroup):"
echo
echo "| archive_command | backlogs ($BACKLOG_ROUNDS × ${BACKLOG_SECONDS} s of pgbench + 5% of blobs): segments, time | full-speed rate (each round) | CPU s | CPU s per segment | load of $LOAD_SECONDS s: tps | segments | archived/s | lag max | lag p95 | drained after the load | CPU s |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
declare -A B_RATE
for p in "${phases[@]}"; do
    B_RATE[$p]=$(awk -v n="${B_SEGS[$p]:-0}" -v t="${B_SECS[$p]:-0}" 'BEGIN { if (t > 0) printf "%.1f", n / t; else print "-" }')
    mbs=$(awk -v n="${B_SEGS[$p]:-0}" -v t="${B_SECS[$p]:-0}" 'BEGIN { if (t > 0) printf "%.0f", n * 16.777216 / t; else print "-" }')
    per=$(awk -v c="${B_CPU[$p]:--}" -v n="${B_SEGS[$p]:-0}" 'BEGIN { if (c == "-" || n == 0) print "-"; else printf "%.3f", c / n }')
    echo "| $p | ${B_SEGS[$p]:--} in ${B_SECS[$p]:--} s | ${B_RATE[$p]}/s, $mbs MB/s (${B_ROUNDS[$p]:--}) | ${B_CPU[$p]:--} | $per | ${A_TPS[$p]} | ${A_SEGS[$p]} | ${A_RATE[$p]} | ${A_MAX[$p]} s | ${A_P95[$p]} s | ${A_DRAIN[$p]} s | ${A_CPU[$p]} |"
done
if ((BACKLOG_ROUNDS > 0)); then
    echo
    echo "Full-speed rate, coffer (local) ÷ pgBackRest: $(ratio "${B_RATE[coffer-local]}" "${B_RATE[pgbackrest]}")× (target ≥ 2×)."
fi
log "raw rows in $tsv"
