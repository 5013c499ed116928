#!/usr/bin/env bash
# coffer's whole test command: installs what the tests need, starts a local
# Garage S3 server, runs the workspace tests, and stops Garage again.
set -euo pipefail

cd "$(dirname "$0")/.."
GARAGE_SH="$PWD/scripts/garage.sh"

say() { echo "test.sh: $*" >&2; }

# --- 1. Test dependencies -----------------------------------------------------
# Debian packages the tests need, as "command:package" pairs. A package is
# installed (one `apt-get update`, then `apt-get install -y`) only if its
# command is missing. The database tests (crates/coffer-cli/tests/databases.rs)
# need the client tools, and redis-server for a scratch server; the servers
# themselves (PostgreSQL on 5432, MariaDB on 3306, Redis on 6379) must run.
APT_DEPS=(
    "psql:postgresql-client"
    "pg_dump:postgresql-client"
    "mariadb:mariadb-client"
    "mariadb-dump:mariadb-client"
    "redis-cli:redis-tools"
    "redis-server:redis-server"
    # promtool checks and tests deploy/prometheus/alerts.yml (tests/metrics.rs).
    "promtool:prometheus"
    # headless Chromium and its WebDriver for the dashboard (tests/dashboard.rs).
    "chromium:chromium"
    "chromedriver:chromium-driver"
)

missing=()
for dep in "${APT_DEPS[@]}"; do
    command -v "${dep%%:*}" >/dev/null 2>&1 || missing+=("${dep#*:}")
done
if ((${#missing[@]})); then
    say "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# Other (non-apt) dependencies go here.
# moto[server]: an S3 server with versioning and object lock, for
# crates/coffer-cli/tests/object_lock.rs (scripts/moto.sh starts it); pip
# installs it when python3 cannot import it.
MOTO_SH="$PWD/scripts/moto.sh"
"$MOTO_SH" install

# --- 2. Garage ----------------------------------------------------------------
# Installs garage if needed (slow the first time), starts it, writes the env file.
# shellcheck disable=SC2317 # invoked by the trap
cleanup() {
    "$GARAGE_SH" stop || true
    "$MOTO_SH" stop || true
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

env_file="$("$GARAGE_SH" start)"
# shellcheck source=/dev/null
source "$env_file"
moto_env="$("$MOTO_SH" start)"
# shellcheck source=/dev/null
source "$moto_env"

# --- 3. Tests -----------------------------------------------------------------
say "running cargo test --workspace --locked --no-fail-fast"
status=0
CARGO_TERM_COLOR=never cargo test --workspace --locked --no-fail-fast || status=$?
if ((status == 0)); then say "tests passed"; else say "tests FAILED (exit $status)"; fi
exit "$status"
