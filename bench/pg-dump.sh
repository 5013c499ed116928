#!/usr/bin/env bash
# Logical PostgreSQL backup speed: `coffer backup --postgres` against
# `pg_dump | gzip -9`, `pg_dump` alone and `pg_dump | zstd -3 -T0`, on a
# database of realistic, poorly compressible data (issue 3):
# pgbench at scale 50 plus a table of 3 million rows of random md5 tokens,
# timestamps, integers and text.
#
#   bash bench/pg-dump.sh
#
# Environment: PGHOST/PGPORT/PGUSER (default 127.0.0.1, 5432, postgres),
# DB (default coffer_bench; created, and dropped at the end unless KEEP=1;
# an existing one is reused), SCALE (default 50), ROWS (default 3000000),
# BENCH_DIR (default /var/tmp/coffer-bench), COFFER_BIN, SKIP_BUILD=1.
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PGHOST=${PGHOST:-127.0.0.1} PGPORT=${PGPORT:-5432} PGUSER=${PGUSER:-postgres}
DB=${DB:-coffer_bench}
SCALE=${SCALE:-50}
ROWS=${ROWS:-3000000}
BENCH_DIR=${BENCH_DIR:-/var/tmp/coffer-bench}
COFFER_BIN=${COFFER_BIN:-$REPO_ROOT/target/release/coffer}
TIME=/usr/bin/time
log() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }

if [[ ${SKIP_BUILD:-0} != 1 ]]; then
    (cd "$REPO_ROOT" && cargo build --release -p coffer-cli) >&2
fi
for t in pg_dump pgbench psql gzip zstd; do command -v $t >/dev/null || { echo "$t missing" >&2; exit 1; }; done

if [[ -z $(psql -d postgres -Atc "select 1 from pg_database where datname = '$DB'") ]]; then
    log "creating $DB: pgbench -i -s $SCALE, then $ROWS rows of tokens"
    createdb "$DB"
    pgbench -i -q -s "$SCALE" "$DB" >&2
    psql -q -d "$DB" -v ON_ERROR_STOP=1 >&2 <<SQL
create table tokens (id bigserial primary key, token text, seen timestamptz, n bigint, note text);
insert into tokens (token, seen, n, note)
select md5(random()::text), now() - random() * interval '365 days', (random() * 1e12)::bigint,
       md5(random()::text) || ' ' || substr(md5(random()::text), 1, (random() * 32)::int)
from generate_series(1, $ROWS);
analyze;
SQL
fi
size=$(psql -d "$DB" -Atc "select pg_database_size('$DB')")
log "database $DB: $((size / 1048576)) MiB"

work="$BENCH_DIR/pg-dump"
rm -rf "$work" && mkdir -p "$work"
measure() { # label, shell command
    local label=$1 cmd=$2
    "$TIME" -f '%e %M' -o "$work/t" bash -c "$cmd" > "$work/out" 2> "$work/err" || { cat "$work/err" >&2; exit 1; }
    read -r wall rss < "$work/t"
    printf '| %s | %s s | %s MiB | %s |\n' "$label" "$wall" "$((rss / 1024))" "$(cat "$work/out")"
}
echo "Database: $((size / 1048576)) MiB (pgbench scale $SCALE + $ROWS token rows)"
echo
echo "| command | wall | peak RSS | output |"
echo "|---|---|---|---|"
measure "pg_dump -Fc -Z0 > /dev/null" "pg_dump -Fc -Z0 -d $DB | wc -c | awk '{printf \"%.0f MiB dump\", \$1/1048576}'"
measure "pg_dump \| gzip -9" "pg_dump -d $DB | gzip -9 | wc -c | awk '{printf \"%.0f MiB\", \$1/1048576}'"
measure "pg_dump \| zstd -3 -T0" "pg_dump -d $DB | zstd -q -3 -T0 | wc -c | awk '{printf \"%.0f MiB\", \$1/1048576}'"
"$COFFER_BIN" init --vault "$work/vault" --key-file "$work/key" -q
measure "coffer backup --postgres (first)" "'$COFFER_BIN' backup --vault '$work/vault' --key-file '$work/key' -q --postgres postgres://$PGUSER@$PGHOST:$PGPORT/$DB && du -sb '$work/vault' | awk '{printf \"vault %.0f MiB\", \$1/1048576}'"
measure "coffer backup --postgres (again, unchanged)" "'$COFFER_BIN' backup --vault '$work/vault' --key-file '$work/key' -q --postgres postgres://$PGUSER@$PGHOST:$PGPORT/$DB && du -sb '$work/vault' | awk '{printf \"vault %.0f MiB\", \$1/1048576}'"

rm -rf "$work"
if [[ ${KEEP:-0} != 1 ]]; then dropdb "$DB"; fi
