#!/usr/bin/env bash
# Runs coffer's cargo-fuzz targets (fuzz/, see docs/fuzzing.md), each for a
# bounded time, and prints one line of figures per target.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#
# SECONDS defaults to 60 per target; TARGETs default to all of them. Each
# run grows fuzz/corpus/TARGET (git-ignored) from the committed seeds in
# fuzz/seeds/TARGET, logs to fuzz/logs/TARGET.log, and has libFuzzer's
# memory limit (FUZZ_RSS_LIMIT_MB, default 2048) and a per-input timeout
# (FUZZ_TIMEOUT, default 30 s). Exits 1 when a target crashed, panicked,
# ran out of memory or timed out, and prints where the input that did it
# is (fuzz/artifacts/TARGET/). Needs the nightly toolchain; installs
# cargo-fuzz if it is missing. Not part of CI: run it by hand.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
all=(tree snapshot index pack_header blob key_slot vault_config server_config)

usage() {
  echo "usage: scripts/fuzz.sh [SECONDS] [TARGET...]; targets: ${all[*]}" >&2
  exit 2
}

secs=60
if [[ $# -gt 0 && $1 =~ ^[0-9]+$ ]]; then
  secs=$1
  shift
fi
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=("${all[@]}")
core=()
server=0
for t in "${targets[@]}"; do
  case " ${all[*]} " in
    *" $t "*) ;;
    *) echo "fuzz.sh: no target named '$t'" >&2; usage ;;
  esac
  if [[ $t == server_config ]]; then server=1; else core+=("$t"); fi
done

# Only server_config needs the server crate (and its much longer build): it
# is built with --features server in a target directory of its own, so
# that the two feature sets never rebuild each other's binaries.
opts_for() {
  if [[ $1 == server_config ]]; then
    echo "--features server --target-dir fuzz/target/server"
  fi
}

rustup run nightly true 2>/dev/null || {
  echo "fuzz.sh: the nightly toolchain is needed: rustup toolchain install nightly" >&2
  exit 2
}
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked

cd "$root"
# Build first, so that a build error stops everything and no run's time
# goes to compiling.
if [[ ${#core[@]} -eq 1 ]]; then
  cargo +nightly fuzz build "${core[0]}"
elif [[ ${#core[@]} -gt 1 ]]; then
  cargo +nightly fuzz build
fi
if [[ $server -eq 1 ]]; then
  # shellcheck disable=SC2046 # opts_for's words are meant to split
  cargo +nightly fuzz build $(opts_for server_config) server_config
fi

mkdir -p fuzz/logs
failed=0
printf '%-14s %12s %8s %8s %16s %s\n' target executions cov features corpus result
for t in "${targets[@]}"; do
  mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t"
  dirs=("fuzz/corpus/$t")
  [[ ! -d fuzz/seeds/$t ]] || dirs+=("fuzz/seeds/$t")
  log="fuzz/logs/$t.log"
  rc=0
  # shellcheck disable=SC2046 # opts_for's words are meant to split
  cargo +nightly fuzz run $(opts_for "$t") "$t" "${dirs[@]}" -- \
    -max_total_time="$secs" \
    -rss_limit_mb="${FUZZ_RSS_LIMIT_MB:-2048}" \
    -timeout="${FUZZ_TIMEOUT:-30}" \
    -print_final_stats=1 >"$log" 2>&1 || rc=$?
  # libFuzzer's last status line: "#N DONE cov: C ft: F corp: K/Sb ...".
  last="$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)"
  execs="$(grep -oE 'stat::number_of_executed_units: [0-9]+' "$log" | grep -oE '[0-9]+$' || true)"
  [[ -n $execs ]] || execs="$(sed -nE 's/^#([0-9]+).*/\1/p' <<<"$last")"
  cov="$(grep -oE 'cov: [0-9]+' <<<"$last" | grep -oE '[0-9]+' || true)"
  ft="$(grep -oE 'ft: [0-9]+' <<<"$last" | grep -oE '[0-9]+' || true)"
  corp="$(grep -oE 'corp: [0-9]+/[0-9]+[a-zA-Z]*' <<<"$last" | cut -d' ' -f2 || true)"
  if [[ $rc -eq 0 ]]; then
    result=ok
  else
    failed=1
    # The newest file libFuzzer left (crash-…, oom-…, timeout-…).
    artifact="$(find "fuzz/artifacts/$t" -type f -printf '%T@ %p\n' | sort -rn | head -n 1 | cut -d' ' -f2-)"
    result="FAILED (exit $rc): ${artifact:-no artifact}, see $log"
  fi
  printf '%-14s %12s %8s %8s %16s %s\n' "$t" "${execs:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$result"
done
exit "$failed"
