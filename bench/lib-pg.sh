# shellcheck shell=bash
# Helpers shared by the PostgreSQL benchmarks (sourced, not run): throwaway
# clusters made with initdb as the postgres user on a free loopback port,
# psql one-liners, timed steps. The caller sets PG_BIN and work (a scratch
# directory), defines die(), and calls pg_stop_all from its EXIT trap.
#
#   source "$REPO_ROOT/bench/lib-pg.sh"

PG_STARTED=()

log() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }
as_pg() { runuser -u postgres -- "$@" </dev/null; }
port_taken() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() { # first port from $1 up that nothing on 127.0.0.1 listens on
    local p=$1
    while port_taken "$p"; do p=$((p + 1)); done
    echo "$p"
}
# q PORT [psql args...]: psql on database ${DB:-postgres} of the server on
# PORT, unaligned, no headers, stopping at the first error.
q() {
    local port=$1
    shift
    "$PG_BIN/psql" -X -w -q -A -t -v ON_ERROR_STOP=1 -h 127.0.0.1 -U postgres -p "$port" -d "${DB:-postgres}" "$@"
}
# pg_start DATADIR PORT [server options]: starts a cluster, log in
# DATADIR.log; loopback TCP only, and a Unix socket in PG_SOCKET_DIR if set.
pg_start() {
    PG_STARTED+=("$1")
    as_pg "$PG_BIN/pg_ctl" -D "$1" -l "$1.log" -w -t 3600 \
        -o "-p $2 -c listen_addresses=127.0.0.1 -c unix_socket_directories='${PG_SOCKET_DIR:-}' ${3:-}" start >/dev/null
}
pg_stop() { as_pg "$PG_BIN/pg_ctl" -D "$1" -m fast -w -t 600 stop >/dev/null; }
# pg_stop_all RC: stops every cluster pg_start started (immediate), and on a
# failure shows the end of each one's log.
pg_stop_all() {
    local rc=$1 d
    for d in "${PG_STARTED[@]}"; do
        if [[ -e $d/postmaster.pid ]]; then
            as_pg "$PG_BIN/pg_ctl" -D "$d" -m immediate -w stop >/dev/null 2>&1 || true
        fi
        if ((rc != 0)) && [[ -e $d.log ]]; then
            echo "--- last lines of the server log $d.log" >&2
            tail -n 30 "$d.log" >&2 || true
        fi
    done
}
# wait_sql PORT: until `select 1` succeeds (an hour at most).
wait_sql() {
    local i
    for ((i = 0; i < 360000; i++)); do
        [[ $(q "$1" -c "select 1" 2>/dev/null) == 1 ]] && return 0
        sleep 0.01
    done
    die "the server on port $1 did not accept queries within an hour"
}
bytes() { if [[ -e $1 ]]; then du -sb "$1" | cut -f1; else echo 0; fi; }
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }

# measure STEP CMD...: runs CMD under /usr/bin/time -v (stdout into
# $work/out, stderr into $work/err); sets WALL (s), CPU (user + sys s),
# USER_S, SYS_S and RSS (MiB, the largest process). /usr/bin/time counts the
# children CMD waited for, not daemons it detached.
measure() {
    local step=$1
    shift
    if ! /usr/bin/time -v -o "$work/time" "$@" >"$work/out" 2>"$work/err" </dev/null; then
        echo "$step failed:" >&2
        cat "$work/err" >&2
        tail -n 25 "$work/time" >&2
        exit 1
    fi
    USER_S=$(awk -F': ' '/User time/ {print $2}' "$work/time")
    SYS_S=$(awk -F': ' '/System time/ {print $2}' "$work/time")
    RSS=$(awk -F': ' '/Maximum resident/ {printf "%d", $2 / 1024}' "$work/time")
    WALL=$(awk -F': ' '/Elapsed \(wall clock\)/ {
        n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; printf "%.2f", s }' "$work/time")
    CPU=$(awk -v u="$USER_S" -v s="$SYS_S" 'BEGIN { printf "%.2f", u + s }')
}
