#!/usr/bin/env bash
# Seven "days" of a PostgreSQL database (issue 3): logical dumps stored by
# coffer against restic, daily base backups against one compressed full base
# backup, and the time of a point-in-time restore.
#
#   bash bench/pg-days.sh                    # the issue's size (about 2 GB of data)
#   SCALE=2 ROWS=100000 bash bench/pg-days.sh   # a quick try
#
# The database is pgbench at scale SCALE plus a table `tokens` of ROWS rows of
# random md5 tokens, timestamps, integers and text (as bench/pg-dump.sh).
# Day 0 is the loaded database; each later day inserts ROWS/100 new rows and
# updates ROWS/100 rows picked at random among the newest 5% by id (setseed
# makes the picks and values reproducible). Every day, after the change:
#
# - logical: `coffer backup --postgres` into vault L, and
#   `pg_dump -Fc -Z0 | restic backup --stdin` into a restic repository
#   (coffer's own dump is the same `pg_dump -Fc -Z0`); `du -sb` of both.
# - physical: `coffer pg basebackup` into vault P, which is also the WAL
#   archive (archive_command = coffer wal-push): `restore --pgdata` writes a
#   restore_command that fetches WAL from the vault it restores from, so the
#   base backups and the WAL share one vault. Base backup bytes are
#   `du -sb P` minus `du -sb P/wal` (WAL objects live only under wal/).
#
# On day 6 one `pg_basebackup -Ft -X none | zstd -3 -T0` is the reference
# "compressed full base backup". A timestamp is noted after day 5's backups;
# at the end the cluster is stopped and the day-5 base backup is restored to
# that time into a new data directory, started on another port and waited
# for until it accepts queries and has left recovery (the restore time
# objective); its `tokens` must match the count and checksum noted at the
# timestamp.
#
# It makes its own PostgreSQL 15 cluster (initdb as the postgres user, a free
# port from 55432 up, loopback only, under BENCH_DIR) and removes everything
# it made on exit. WAL archiving is switched on after the initial load (a
# restart), so the WAL column counts the seven days, not the load. Needs
# root, /usr/lib/postgresql/15/bin, restic, zstd and jq (restic and jq are
# installed with apt-get when missing).
#
# Output: a markdown table per part on stdout, progress on stderr, raw rows
# in BENCH_DIR/pg-days.tsv.
#
# Environment: SCALE (default 50), ROWS (default 3000000), BENCH_DIR
# (default /var/tmp/coffer-bench; needs room for about 4x the database),
# PG_BIN (default /usr/lib/postgresql/15/bin), COFFER_BIN (default
# target/release/coffer, built here unless SKIP_BUILD=1).
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SCALE=${SCALE:-50}
ROWS=${ROWS:-3000000}
BENCH_DIR=${BENCH_DIR:-/var/tmp/coffer-bench}
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
COFFER_BIN=${COFFER_BIN:-$REPO_ROOT/target/release/coffer}
DB=coffer_bench
DAYS=7
PITR_DAY=5
DAILY=$((ROWS / 100))
TIME=/usr/bin/time
log() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }
die() { echo "pg-days: $*" >&2; exit 1; }

[[ $(id -u) == 0 ]] || die "run as root: initdb and the servers run as the postgres user through runuser"
id postgres >/dev/null 2>&1 || die "user postgres does not exist: install postgresql-15"
for t in initdb pg_ctl postgres psql pg_dump pg_basebackup pgbench; do
    [[ -x $PG_BIN/$t ]] || die "$PG_BIN/$t is missing: install postgresql-15 (or set PG_BIN)"
done
((DAILY > 0)) || die "ROWS=$ROWS is too small: each day changes ROWS/100 rows"
missing=()
for t in restic jq; do command -v $t >/dev/null || missing+=("$t"); done
if ((${#missing[@]})); then
    log "installing ${missing[*]} with apt-get"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >&2
fi
for t in restic jq zstd runuser "$TIME"; do command -v "$t" >/dev/null || die "$t is missing"; done
if [[ ${SKIP_BUILD:-0} != 1 ]]; then
    (cd "$REPO_ROOT" && cargo build --release -p coffer-cli) >&2
fi
[[ -x $COFFER_BIN ]] || die "$COFFER_BIN is missing: build it (cargo build --release -p coffer-cli) or set COFFER_BIN"
COFFER_BIN=$(realpath "$COFFER_BIN")
runuser -u postgres -- "$COFFER_BIN" --version >/dev/null 2>&1 ||
    die "the postgres user cannot run $COFFER_BIN (archive_command runs it): make its directories readable"

work="$BENCH_DIR/pg-days"
pgdir="$work/pg"            # owned by postgres: data directories, vault P and its key
data="$pgdir/data"
restored="$pgdir/restored"
vault_p="$pgdir/vault-p"
key_p="$pgdir/vault-p.key"
vault_l="$work/vault-l"
key_l="$work/vault-l.key"
repo="$work/restic"
tsv="$BENCH_DIR/pg-days.tsv"
started=()

cleanup() {
    local rc=$?
    for d in "${started[@]}"; do
        if [[ -e $d/postmaster.pid ]]; then
            runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$d" -m immediate -w stop >/dev/null 2>&1 || true
        fi
        if ((rc != 0)) && [[ -e $d.log ]]; then
            echo "--- last lines of the server log $d.log" >&2
            tail -n 30 "$d.log" >&2 || true
        fi
    done
    rm -rf "$work"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

rm -rf "$work"
mkdir -p "$work" "$pgdir"
chown postgres:postgres "$pgdir"
chmod 700 "$pgdir"
runuser -u postgres -- test -w "$pgdir" ||
    die "the postgres user cannot write $pgdir: choose a BENCH_DIR whose parents it can enter"
cd "$work"

as_pg() { runuser -u postgres -- "$@" </dev/null; }
port_taken() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() { # first port from $1 up that nothing on 127.0.0.1 listens on
    local p=$1
    while port_taken "$p"; do p=$((p + 1)); done
    echo "$p"
}
# psql on database $DB (or -d) of the server on port $1, unaligned, no headers.
q() {
    local port=$1
    shift
    "$PG_BIN/psql" -X -w -q -A -t -v ON_ERROR_STOP=1 -h 127.0.0.1 -U postgres -p "$port" -d "$DB" "$@"
}
pg_start() { # data dir, port, extra server options
    started+=("$1")
    as_pg "$PG_BIN/pg_ctl" -D "$1" -l "$1.log" -w -t 3600 \
        -o "-p $2 -c listen_addresses=127.0.0.1 -c unix_socket_directories='' $3" start >/dev/null
}
bytes() { if [[ -e $1 ]]; then du -sb "$1" | cut -f1; else echo 0; fi; }
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }

# measure STEP CMD...: runs CMD under /usr/bin/time, its stdout into $work/out;
# sets WALL (s) and RSS (MiB, the largest process).
measure() {
    local step=$1
    shift
    if ! "$TIME" -f '%e %M' -o "$work/time" "$@" >"$work/out" 2>"$work/err" </dev/null; then
        echo "$step failed:" >&2
        cat "$work/err" >&2
        exit 1
    fi
    read -r WALL RSS <"$work/time"
    RSS=$((RSS / 1024))
}
printf 'part\tday\tstep\twall_s\tpeak_rss_mib\tstored_bytes\tinput_bytes\textra\n' >"$tsv"
row() { local IFS=$'\t'; echo "$*" >>"$tsv"; }

# --- the cluster and the database
PORT=$(free_port 55432)
log "initdb in $data, port $PORT"
as_pg "$PG_BIN/initdb" -D "$data" -U postgres --auth=trust -E UTF8 >/dev/null
pg_start "$data" "$PORT" ""
"$PG_BIN/createdb" -h 127.0.0.1 -p "$PORT" -U postgres "$DB"
log "loading $DB: pgbench -i -s $SCALE, then $ROWS rows of tokens"
"$PG_BIN/pgbench" -i -q -s "$SCALE" -h 127.0.0.1 -p "$PORT" -U postgres "$DB" >"$work/err" 2>&1 ||
    { cat "$work/err" >&2; die "pgbench -i -s $SCALE failed"; }
q "$PORT" >/dev/null <<SQL
select setseed(0.5);
create table tokens (id bigserial primary key, token text, seen timestamptz, n bigint, note text);
insert into tokens (token, seen, n, note)
select md5(random()::text), now() - random() * interval '365 days', (random() * 1e12)::bigint,
       md5(random()::text) || ' ' || substr(md5(random()::text), 1, (random() * 32)::int)
from generate_series(1, $ROWS);
vacuum analyze;
checkpoint;
SQL
db_size=$(q "$PORT" -c "select pg_database_size('$DB')")
log "database $DB: $(mib "$db_size")"

# WAL archiving from here on: into vault P, by the postgres user.
as_pg "$COFFER_BIN" --vault "$vault_p" --key-file "$key_p" -q init
"$COFFER_BIN" --vault "$vault_l" --key-file "$key_l" -q init
cat >>"$data/postgresql.conf" <<CONF

# bench/pg-days.sh
wal_level = replica
max_wal_senders = 5
archive_mode = on
archive_command = '$COFFER_BIN --vault $vault_p --key-file $key_p --quiet wal-push %p'
CONF
as_pg "$PG_BIN/pg_ctl" -D "$data" -l "$data.log" -w -t 3600 -m fast restart >/dev/null
RESTIC_PASSWORD=$(head -c 24 /dev/urandom | base64)
export RESTIC_PASSWORD RESTIC_CACHE_DIR="$work/restic-cache"
restic -r "$repo" init -q >/dev/null

url="postgres://postgres@127.0.0.1:$PORT/$DB"
declare -a L_DUMP L_CW L_CR L_CB R_W R_R R_B CH_W P_TAR P_W P_R P_B P_WAL
for ((day = 0; day < DAYS; day++)); do
    if ((day > 0)); then
        log "day $day: insert $DAILY rows, update $DAILY of the newest 5%"
        measure "day $day change" "$PG_BIN/psql" -X -w -q -A -t -v ON_ERROR_STOP=1 \
            -h 127.0.0.1 -U postgres -p "$PORT" -d "$DB" -c "select setseed($day / 10.0)" -c "
            with i as (
                insert into tokens (token, seen, n, note)
                select md5(random()::text), now() - random() * interval '1 day', (random() * 1e12)::bigint,
                       md5(random()::text) || ' ' || substr(md5(random()::text), 1, (random() * 32)::int)
                from generate_series(1, $DAILY)
                returning 1)
            select count(*) from i" -c "
            with newest as (select id from tokens order by id desc limit (select count(*) / 20 from tokens)),
                 pick as (select id from newest order by random() limit $DAILY),
                 u as (update tokens t set token = md5(random()::text), seen = now(),
                                           n = (random() * 1e12)::bigint
                       from pick where t.id = pick.id returning 1)
            select count(*) from u"
        changed=$(grep -v '^$' "$work/out" | paste -sd' ')
        [[ $changed == "$DAILY $DAILY" ]] || die "day $day: inserted and updated $changed rows, not $DAILY each"
        CH_W[day]=$WALL
        row change "$day" insert_update "$WALL" "$RSS" "" "" "rows=$DAILY+$DAILY"
    fi

    log "day $day: coffer backup --postgres"
    measure "day $day coffer backup" "$COFFER_BIN" --vault "$vault_l" --key-file "$key_l" --json \
        backup --postgres "$url" --pg-bin-dir "$PG_BIN"
    L_DUMP[day]=$(jq -r '.summary.total_bytes' "$work/out")
    L_CW[day]=$WALL L_CR[day]=$RSS L_CB[day]=$(bytes "$vault_l")
    row logical "$day" coffer_backup "$WALL" "$RSS" "${L_CB[$day]}" "${L_DUMP[$day]}" ""

    log "day $day: pg_dump | restic backup --stdin"
    # shellcheck disable=SC2016 # expanded by the inner bash
    measure "day $day restic backup" bash -o pipefail -c \
        '"$1/pg_dump" -Fc -Z0 -h 127.0.0.1 -p "$2" -U postgres -d "$3" |
         restic -r "$4" backup --stdin --stdin-filename "$3.dump" --json' \
        _ "$PG_BIN" "$PORT" "$DB" "$repo"
    restic_in=$(jq -r 'select(.message_type == "summary") | .total_bytes_processed' "$work/out")
    R_W[day]=$WALL R_R[day]=$RSS R_B[day]=$(bytes "$repo")
    row logical "$day" restic_backup "$WALL" "$RSS" "${R_B[$day]}" "$restic_in" ""

    log "day $day: coffer pg basebackup"
    measure "day $day coffer pg basebackup" runuser -u postgres -- \
        "$COFFER_BIN" --vault "$vault_p" --key-file "$key_p" --json \
        pg basebackup --postgres "postgres://postgres@127.0.0.1:$PORT/" --pg-bin-dir "$PG_BIN"
    P_TAR[day]=$(jq -r '.summary.total_bytes' "$work/out")
    snap=$(jq -r '.id' "$work/out")
    P_W[day]=$WALL P_R[day]=$RSS
    P_WAL[day]=$(bytes "$vault_p/wal")
    P_B[day]=$(($(bytes "$vault_p") - P_WAL[day]))
    row physical "$day" coffer_basebackup "$WALL" "$RSS" "${P_B[$day]}" "${P_TAR[$day]}" "wal_bytes=${P_WAL[$day]} snapshot=$snap"

    if ((day == PITR_DAY)); then
        pitr_snap=$snap
        pitr_ts=$(q "$PORT" -c "select clock_timestamp()::text")
        pitr_rows=$(q "$PORT" -c "select count(*) from tokens")
        pitr_sum=$(q "$PORT" -c "select sum(hashtext(t::text)::bigint) from tokens t")
        log "target time $pitr_ts: $pitr_rows token rows (day-$day base backup ${snap:0:12})"
        sleep 2
    fi
done

log "reference: pg_basebackup -Ft -X none | zstd -3 -T0"
# shellcheck disable=SC2016 # expanded by the inner bash
measure "reference pg_basebackup" bash -o pipefail -c \
    '"$1/pg_basebackup" -D - -Ft -X none --checkpoint=fast -d "host=127.0.0.1 port=$2 user=postgres" |
     zstd -q -3 -T0 | wc -c' _ "$PG_BIN" "$PORT"
ref_bytes=$(tr -d ' \n' <"$work/out")
ref_wall=$WALL ref_rss=$RSS
row reference $((DAYS - 1)) pg_basebackup_zstd3 "$WALL" "$RSS" "$ref_bytes" "" ""

# --- point-in-time restore
log "archiving the last WAL segment, stopping the cluster"
last=$(q "$PORT" -c "select pg_walfile_name(pg_switch_wal())")
for ((i = 0; ; i++)); do
    st=$(q "$PORT" -c "select coalesce(last_archived_wal, '') || ' ' || failed_count from pg_stat_archiver")
    [[ ${st%% *} > $last || ${st%% *} == "$last" ]] && break
    ((i < 6000)) || die "segment $last not archived after 10 minutes (archiver: $st)"
    sleep 0.1
done
log "archiver: last $last, ${st##* } failed attempts"
as_pg "$PG_BIN/pg_ctl" -D "$data" -w -m fast stop >/dev/null
as_pg "$COFFER_BIN" --vault "$vault_p" --key-file "$key_p" pg wal-verify >&2 ||
    die "coffer pg wal-verify reports the WAL archive in $vault_p unusable"

PORT2=$(free_port $((PORT + 1)))
log "restore of ${pitr_snap:0:12} to '$pitr_ts', server on port $PORT2"
t0=$(now)
measure "coffer restore --pgdata" "$COFFER_BIN" --vault "$vault_p" --key-file "$key_p" \
    restore "$pitr_snap" --pgdata "$restored" --target-time "$pitr_ts"
restore_wall=$WALL restore_rss=$RSS
t1=$(now)
pg_start "$restored" "$PORT2" "-c archive_mode=off"
for ((i = 0; ; i++)); do
    [[ $(q "$PORT2" -c "select pg_is_in_recovery()" 2>/dev/null) == f ]] && break
    ((i < 36000)) || die "the restored server is still in recovery after an hour"
    sleep 0.1
done
t2=$(now)
start_wall=$(secs "$t1" "$t2") total=$(secs "$t0" "$t2")
row pitr "$PITR_DAY" coffer_restore_pgdata "$restore_wall" "$restore_rss" "" "" "snapshot=$pitr_snap"
row pitr "$PITR_DAY" start_until_promoted "$start_wall" "" "" "" "port=$PORT2"
row pitr "$PITR_DAY" total_rto "$total" "" "" "" "target_time=$pitr_ts"
sed 's/^/restored server: /' "$restored.log" >&2
got_rows=$(q "$PORT2" -c "select count(*) from tokens")
got_sum=$(q "$PORT2" -c "select sum(hashtext(t::text)::bigint) from tokens t")
as_pg "$PG_BIN/pg_ctl" -D "$restored" -w -m fast stop >/dev/null

# --- tables
last_day=$((DAYS - 1))
echo "Database: $(mib "$db_size") after loading (pgbench scale $SCALE + $ROWS token rows); each day +$DAILY rows, $DAILY updated among the newest 5%. PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}'), $(restic version | awk '{print $1, $2}'), coffer $("$COFFER_BIN" --version | awk '{print $2}')."
echo
echo "Logical dumps (pg_dump -Fc -Z0), stored bytes after each day:"
echo
echo "| day | dump | coffer backup | peak RSS | coffer vault | restic backup | peak RSS | restic repo |"
echo "|---|---|---|---|---|---|---|---|"
for ((day = 0; day < DAYS; day++)); do
    echo "| $day | $(mib "${L_DUMP[$day]}") | ${L_CW[$day]} s | ${L_CR[$day]} MiB | $(mib "${L_CB[$day]}") | ${R_W[$day]} s | ${R_R[$day]} MiB | $(mib "${R_B[$day]}") |"
done
echo
echo "After $DAYS dumps: coffer $(mib "${L_CB[$last_day]}"), restic $(mib "${R_B[$last_day]}"): coffer/restic = $(ratio "${L_CB[$last_day]}" "${R_B[$last_day]}") (target: below 1)."
echo
echo "Physical base backups (coffer pg basebackup; the WAL archive is the same vault, counted apart):"
echo
echo "| day | change | base backup tar | coffer pg basebackup | peak RSS | base backups stored | WAL archived |"
echo "|---|---|---|---|---|---|---|"
for ((day = 0; day < DAYS; day++)); do
    change=${CH_W[$day]:+${CH_W[$day]} s}
    echo "| $day | ${change:--} | $(mib "${P_TAR[$day]}") | ${P_W[$day]} s | ${P_R[$day]} MiB | $(mib "${P_B[$day]}") | $(mib "${P_WAL[$day]}") |"
done
echo
echo "Reference, one pg_basebackup -Ft -X none | zstd -3 -T0 on day $last_day: $(mib "$ref_bytes") ($ref_wall s, $ref_rss MiB)."
echo "$DAYS base backups stored / reference = $(ratio "${P_B[$last_day]}" "$ref_bytes") (target: at most 1.5); with the WAL archive: $(ratio "$((P_B[last_day] + P_WAL[last_day]))" "$ref_bytes")."
echo
echo "Point-in-time restore of the day-$PITR_DAY base backup to '$pitr_ts' (between day $PITR_DAY and day $((PITR_DAY + 1))):"
echo
echo "| step | wall | peak RSS |"
echo "|---|---|---|"
echo "| coffer restore --pgdata --target-time | $restore_wall s | $restore_rss MiB |"
echo "| pg_ctl start until out of recovery (WAL fetched by coffer wal-fetch) | $start_wall s | - |"
echo "| total, command to a promoted server accepting queries | $total s | - |"
echo
echo "tokens rows: $got_rows restored, $pitr_rows at the target time; checksum $([[ $got_sum == "$pitr_sum" ]] && echo equal || echo DIFFERENT)."
[[ $got_rows == "$pitr_rows" && $got_sum == "$pitr_sum" ]] ||
    die "the restored tokens table differs from the one at $pitr_ts ($got_rows rows against $pitr_rows)"
log "raw rows in $tsv"
