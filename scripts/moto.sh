#!/usr/bin/env bash
# moto S3 server on loopback, for coffer's object lock tests (Garage has no
# versioning or object lock; moto implements both).
#
#   scripts/moto.sh start   start (idempotent); prints the path of the env file
#   scripts/moto.sh stop    stop the server and delete its state dir
#   scripts/moto.sh env     print the env file (export lines for the tests)
#
# Settings (environment):
#   COFFER_MOTO_DIR       state dir                       (default /tmp/coffer-moto)
#   COFFER_MOTO_PORT      port (default: a free one from 5000 up)
#   COFFER_MOTO_TIMEOUT   start-up timeout, s             (default 30)
#
# The server is `python3 -m moto.server` from the PyPI package moto[server];
# it is installed with `python3 -m pip install 'moto[server]'` when missing
# (`scripts/moto.sh install` does only that).
set -euo pipefail

DIR="${COFFER_MOTO_DIR:-/tmp/coffer-moto}"
TIMEOUT="${COFFER_MOTO_TIMEOUT:-30}"
LOG="$DIR/moto.log"
PIDFILE="$DIR/moto.pid"
ENVFILE="$DIR/env"

say() { echo "moto.sh: $*" >&2; }
die() { say "ERROR: $*"; exit 1; }

# The Python interpreter that has moto's server (moto[server]: moto + flask),
# installed with pip when missing. Its real path (sys.executable) is used, not
# a pyenv shim: a shim is a chain of execs, and while a process is between two
# execs /proc/PID/cmdline reads empty, which once looked like a dead server.
find_python() {
    local py
    py="$(command -v python3 || command -v python)" || die "moto[server] needs Python 3, and there is no python3 on PATH"
    if ! "$py" -c 'import moto.server, flask' >/dev/null 2>&1; then
        say "moto[server] not importable by $py: installing it with '$py -m pip install moto[server]'"
        "$py" -m pip install -q 'moto[server]' >&2 || die "pip install 'moto[server]' failed"
        "$py" -c 'import moto.server, flask' >/dev/null 2>&1 || die "pip installed moto[server] but $py cannot import moto.server"
    fi
    "$py" -c 'import sys; print(sys.executable)'
}

# alive PID: the process exists and is not a zombie.
alive() {
    local state
    kill -0 "$1" 2>/dev/null || return 1
    state="$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" || return 1
    [[ -n "$state" && "$state" != Z ]]
}

is_running() {
    local pid
    [[ -s "$PIDFILE" ]] || return 1
    pid="$(<"$PIDFILE")"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    local cmdline
    cmdline="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" || return 1
    [[ "$cmdline" == *moto* ]]
}

port_in_use() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

free_port() {
    local p
    for ((p = 5000; p < 5100; p++)); do
        port_in_use "$p" || { echo "$p"; return; }
    done
    die "no free port in 127.0.0.1:5000-5099"
}

cmd_start() {
    if is_running && [[ -s "$ENVFILE" ]]; then
        echo "$ENVFILE"
        return 0
    fi
    local py port pid
    py="$(find_python)"
    port="${COFFER_MOTO_PORT:-$(free_port)}"
    port_in_use "$port" && die "port 127.0.0.1:$port is already in use"
    mkdir -p "$DIR"
    rm -f "$ENVFILE"
    : >"$LOG"
    nohup "$py" -m moto.server -H 127.0.0.1 -p "$port" >>"$LOG" 2>&1 </dev/null &
    pid=$!
    echo "$pid" >"$PIDFILE"
    local deadline=$((SECONDS + TIMEOUT))
    until port_in_use "$port"; do
        if ! alive "$pid"; then
            say "moto_server log:"
            tail -n 40 "$LOG" >&2 || true
            die "moto_server exited during start-up (log: $LOG)"
        fi
        ((SECONDS < deadline)) || die "moto_server did not listen on 127.0.0.1:$port within ${TIMEOUT}s (log: $LOG)"
        sleep 0.3
    done
    (
        umask 077
        cat >"$ENVFILE.tmp" <<EOF
export COFFER_TEST_MOTO_ENDPOINT=http://127.0.0.1:$port
EOF
    )
    mv "$ENVFILE.tmp" "$ENVFILE"
    say "ready: moto S3 at http://127.0.0.1:$port (pid $(<"$PIDFILE"))"
    echo "$ENVFILE"
}

cmd_stop() {
    if is_running; then
        local pid i
        pid="$(<"$PIDFILE")"
        kill "$pid" 2>/dev/null || true
        for ((i = 0; i < 50; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
        say "stopped moto (pid $pid)"
    fi
    if [[ -d "$DIR" && ( -e "$PIDFILE" || -e "$LOG" ) ]]; then
        rm -rf "$DIR"
    fi
}

cmd_env() {
    if [[ -s "$ENVFILE" ]] && is_running; then
        cat "$ENVFILE"
    else
        die "moto is not running (no $ENVFILE or dead server); run: $0 start"
    fi
}

case "${1:-}" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    env) cmd_env ;;
    install) find_python >/dev/null ;;
    *)
        echo "usage: $0 {start|stop|env|install}" >&2
        exit 2
        ;;
esac
