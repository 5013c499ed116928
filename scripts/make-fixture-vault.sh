#!/usr/bin/env bash
# Writes the fixture vault that holds every object kind of format 2:
#   scripts/make-fixture-vault.sh BIN OUT
# BIN: a coffer binary (the release being fixed in a fixture); OUT: a new
# directory that receives vault/, key and expected/ (the bytes each object
# must give back). crates/coffer-cli/tests/fixtures/vault-v2-full was made
# by this script; tests/e2e/format_compat.rs reads it on every run. Run it
# again only for a new format version (into a new fixture directory): a
# fixture is never rewritten, it is the evidence that old vaults stay
# readable.
#
# What it writes, in order (each kind named as in docs/format.md):
#   config, keys/          init with a key file
#   packs/, index/,        a files snapshot (tag `files`) and a stream
#   snapshots/             snapshot (tag `stream`)
#   epochs/                key rotate; then a second files snapshot
#                          (tag `after-rotate`) under epoch 1
#   wal/                   two WAL segments and a timeline history file
#   sessions/, prune/      a backup that was killed while it streamed, after a
#                          prune ran beside it: the prune forgot nothing it
#                          needed, wrote its plan for the forgotten snapshot
#                          (tag `forgotten`) and left the delete phase to a
#                          later prune, because the backup's session was live
#   copymap/               copy of a snapshot from a second vault (tag `copied`)
#   locks/                 a governance vault lock (1 to 3650 days)
#   holds/                 a legal hold on the `files` snapshot
set -euo pipefail

bin="$(realpath "$1")"
out="$2"
[[ -x "$bin" ]] || { echo "usage: $0 BIN OUT (BIN: a coffer binary)" >&2; exit 2; }
[[ -e "$out" ]] && { echo "$out exists: a fixture is never rewritten; pick a new directory" >&2; exit 2; }
mkdir -p "$out/expected"
out="$(realpath "$out")"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

export COFFER_VAULT="$out/vault" COFFER_KEY_FILE="$out/key"
export XDG_DATA_HOME="$work/xdg" COFFER_STATE_DIR="$work/state"
unset COFFER_PASSWORD COFFER_PASSWORD_FILE COFFER_CONFIG COFFER_NOW
c() { "$bin" -q "$@" </dev/null; }
# The id of the newest snapshot tagged $1.
id_of() { "$bin" --json snapshots --tag "$1" </dev/null | sed -n 's/^ *"id": *"\([0-9a-f]*\)".*/\1/p' | tail -1; }

# Deterministic contents, so the test can compare without the script.
src="$work/src"
mkdir -p "$src/sub"
printf 'hello coffer, format 2 with every object kind\n' >"$src/hello.txt"
seq 1 20000 >"$src/numbers.txt"
ln -s ../hello.txt "$src/sub/link"

c init
c backup --tag files "$src"
seq 1 5000 | sed 's/^/stream line /' | "$bin" -q backup --stdin --stdin-name stream.txt --tag stream
seq 1 5000 | sed 's/^/stream line /' >"$out/expected/stream.txt"

c key rotate
printf 'written under key epoch 1\n' >"$src/after.txt"
c backup --tag after-rotate "$src"

# WAL: two segments and a history file (their bytes are what wal-fetch must
# give back; a vault does not parse WAL).
mkdir -p "$work/wal" "$out/expected/wal"
for name in 000000010000000000000001 000000010000000000000002; do
    { printf 'fixture WAL %s\n' "$name"; seq 1 3000; } >"$work/wal/$name"
    cp "$work/wal/$name" "$out/expected/wal/$name"
    c wal-push "$work/wal/$name"
done
printf '1\t0/2000000\tno recovery target specified\n' >"$work/wal/00000002.history"
cp "$work/wal/00000002.history" "$out/expected/wal/"
c wal-push "$work/wal/00000002.history"

# A snapshot to forget, then a prune beside a running backup: the backup's
# session holds the delete phase back, so the plan stays in prune/.
mkdir -p "$work/forget"
printf 'this snapshot is forgotten; prune deletes its data\n' >"$work/forget/gone.txt"
c backup --tag forgotten "$work/forget"
fifo="$work/slow"
mkfifo "$fifo"
"$bin" -q backup --stdin --stdin-name interrupted.bin --tag interrupted <"$fifo" &
slow=$!
exec 3>"$fifo"
head -c 1048576 /dev/urandom >&3
for _ in $(seq 1 50); do
    [[ -n "$(ls "$out/vault/sessions" 2>/dev/null)" ]] && break
    sleep 0.1
done
[[ -n "$(ls "$out/vault/sessions" 2>/dev/null)" ]] || { echo "the slow backup wrote no session" >&2; exit 1; }
c forget "$(id_of forgotten)"
c prune
kill -9 "$slow"
exec 3>&-
wait "$slow" 2>/dev/null || true
[[ -n "$(ls "$out/vault/prune" 2>/dev/null)" ]] || { echo "prune left no plan" >&2; exit 1; }

# A snapshot copied in from a second vault leaves a copy map (after the
# prune, which drops copy maps: they are a cache).
other="$work/other"
COFFER_VAULT="$other/vault" COFFER_KEY_FILE="$other/key" "$bin" -q init </dev/null
mkdir -p "$work/copied"
printf 'copied from another vault\n' >"$work/copied/copied.txt"
COFFER_VAULT="$other/vault" COFFER_KEY_FILE="$other/key" "$bin" -q backup --tag copied "$work/copied" </dev/null
COFFER_VAULT="$other/vault" COFFER_KEY_FILE="$other/key" \
    "$bin" -q copy latest --to "$out/vault" --to-key-file "$out/key" </dev/null

c vault lock --min-retention-days 1 --max-retention-days 3650
c snapshot hold "$(id_of files)" --reason "fixture: every object kind"

"$bin" --json snapshots </dev/null >"$out/expected/snapshots.json"
for kind in config keys index packs snapshots epochs copymap wal sessions prune locks holds; do
    [[ -e "$out/vault/$kind" ]] || { echo "no $kind in the fixture" >&2; exit 1; }
done
echo "wrote $out"
