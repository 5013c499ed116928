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
# command is missing. The database tests (crates/coffer-cli/tests/e2e/databases.rs)
# need the client tools, and redis-server for a scratch server; the servers
# themselves (PostgreSQL on 5432, MariaDB on 3306, Redis on 6379) must run.
APT_DEPS=(
    "psql:postgresql-client"
    "pg_dump:postgresql-client"
    "mariadb:mariadb-client"
    "mariadb-dump:mariadb-client"
    "redis-cli:redis-tools"
    "redis-server:redis-server"
    # promtool checks and tests deploy/prometheus/alerts.yml (tests/e2e/metrics.rs).
    "promtool:prometheus"
    # headless Chromium and its WebDriver for the dashboard (tests/e2e/dashboard.rs).
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
# crates/coffer-cli/tests/e2e/object_lock.rs (scripts/moto.sh starts it); pip
# installs it when python3 cannot import it.
MOTO_SH="$PWD/scripts/moto.sh"
"$MOTO_SH" install
# kubernetes-validate (PyPI): validates deploy/kubernetes/ against the
# Kubernetes schemas (scripts/check-kubernetes.py, tests/e2e/deploy.rs).
if ! command -v kubernetes-validate >/dev/null 2>&1 \
    || ! python3 -c 'import kubernetes_validate' >/dev/null 2>&1; then
    say "installing kubernetes-validate with pip"
    python3 -m pip install -q kubernetes-validate >&2
fi

# --- 2. Garage ----------------------------------------------------------------
# Installs garage if needed (slow the first time), starts it, writes the env file.
# shellcheck disable=SC2317 # invoked by the trap
cleanup() {
    "$GARAGE_SH" stop || true
    "$MOTO_SH" stop || true
    # tests/e2e/aws_identity.rs runs a moto of its own (it turns moto's
    # authentication on, which the other tests must not see).
    COFFER_MOTO_DIR=/tmp/coffer-moto-aws-identity "$MOTO_SH" stop || true
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
# The end-to-end tests move "now" with COFFER_NOW, which only a coffer built
# with the coffer-cli feature `test-clock` reads; the `coffer` binary the
# integration tests run is built with the same features.
TEST_FEATURES=coffer-cli/test-clock
# Four tests at a time on any machine: the end-to-end tests spend most of
# their time waiting on servers, daemons and schedules, not computing (the
# end-to-end binary took 160 s with two at a time on 2 cores, 79 s with four).
export RUST_TEST_THREADS="${RUST_TEST_THREADS:-4}"
say "running cargo test --workspace --locked --no-fail-fast --features $TEST_FEATURES"
status=0
CARGO_TERM_COLOR=never cargo test --workspace --locked --no-fail-fast --features "$TEST_FEATURES" || status=$?
if ((status == 0)); then say "tests passed"; else say "tests FAILED (exit $status)"; fi

# --- 4. No test clock in a release build ---------------------------------------
# A binary without test-clock (what README's quick start builds) must ignore
# COFFER_NOW: under a compliance lock, `COFFER_NOW=2099-… coffer forget latest`
# refuses and the snapshot stays. The test build from step 3 is run the same
# way and must remove the snapshot, which shows that the check can fail.

# Prints how many snapshots are left after a forged-time forget under a
# compliance lock, run with the binary $1 in a scratch vault.
forged_forget_leaves() {
    local bin="$1" d
    d="$(mktemp -d)"
    (
        export COFFER_VAULT="$d/vault" COFFER_KEY_FILE="$d/vault.key" XDG_DATA_HOME="$d/xdg"
        unset COFFER_PASSWORD COFFER_PASSWORD_FILE COFFER_CONFIG COFFER_NOW
        mkdir -p "$d/data" && echo precious >"$d/data/f.txt"
        "$bin" -q init </dev/null
        "$bin" -q backup "$d/data" </dev/null
        "$bin" -q vault lock --min-retention-days 30 --max-retention-days 60 --changeable-for-days 3 </dev/null
        COFFER_NOW=2099-01-01T00:00:00Z "$bin" -q forget latest </dev/null >/dev/null 2>&1 || true
        "$bin" --json snapshots </dev/null | grep -c '"short_id"' || true
    )
    rm -rf "$d"
}

target_dir="${CARGO_TARGET_DIR:-$PWD/target}"
# The test build's binary first (it is replaced below): it must obey the
# forged clock, which shows that the check can fail.
test_left="$(forged_forget_leaves "$target_dir/debug/coffer")" || test_left="error"
# A build without the feature has no clock hook: `test-clock` is the only
# thing that compiles the COFFER_NOW override in, and coffer-cli refuses to
# compile with it in an optimised build (a compile_error! guard), so what a
# plain debug build shows here holds for `cargo build --release` too. This
# reuses the test build's dependencies instead of compiling all of them a
# second time with the release profile.
say "building coffer without test-clock (cargo build --locked -p coffer-cli) to check it ignores COFFER_NOW"
clock_status=0
if CARGO_TERM_COLOR=never cargo build --locked -p coffer-cli; then
    plain_left="$(forged_forget_leaves "$target_dir/debug/coffer")" || plain_left="error"
    if [[ "$plain_left" == 1 && "$test_left" == 0 ]]; then
        say "a build without test-clock ignores COFFER_NOW (a forged forget under a compliance lock was refused)"
    else
        say "FAILED: after COFFER_NOW=2099-… coffer forget latest under a compliance lock, the build without test-clock left $plain_left snapshot(s) (want 1) and the test build $test_left (want 0)"
        clock_status=1
    fi
else
    say "FAILED: cargo build --locked -p coffer-cli"
    clock_status=1
fi
if ((status == 0)); then status=$clock_status; fi

# --- 5. Layout ------------------------------------------------------------------
# No import cycle between the files of the server or the CLI (DESIGN.md: the
# server's model at the bottom, the daemon at the top; the CLI's main only
# dispatches). scripts/import-cycles.py prints the edges of any cycle.
say "checking for import cycles in coffer-server and coffer-cli"
if ! python3 scripts/import-cycles.py crates/coffer-server/src crates/coffer-cli/src >&2; then
    say "FAILED: import cycles (see above)"
    if ((status == 0)); then status=1; fi
fi
exit "$status"
