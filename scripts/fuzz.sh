#!/usr/bin/env bash
# Fuzzes drkit's hostile-input surfaces with cargo-fuzz (libFuzzer), one target after the other:
#
#   runbook_parse   arbitrary bytes through `drkit validate`'s parse + validate path
#   action_params   every registered action kind built from hostile parameters
#
#   bash scripts/fuzz.sh [SECONDS]     # each target for SECONDS (default 600)
#   FUZZ_SMOKE=1 bash scripts/fuzz.sh  # CI smoke: the seed corpus, then 30 s per target
#   FUZZ_ENGINE=stable bash scripts/fuzz.sh [SECONDS]   # without libFuzzer (see below)
#
# Only a stable toolchain is needed: RUSTC_BOOTSTRAP=1 lets it take cargo-fuzz's nightly flags
# (-Zsanitizer=address, sancov passes). cargo-fuzz is installed if missing. Builds go to
# ~/.cache/drkit/target-fuzz (override with CARGO_TARGET_DIR); the corpus grows in fuzz/corpus/
# (git-ignored; the committed seeds are in fuzz/seeds/, see fuzz/make_seeds.py); a crash is
# written to fuzz/artifacts/<target>/ and the script exits 1, naming it.
#
# FUZZ_TARGETS="runbook_parse" picks targets; FUZZ_SANITIZER=none builds without ASan (faster,
# still catches panics); FUZZ_JOBS is cargo's -j for the build.
#
# FUZZ_ENGINE=stable runs the same targets (fuzz/src/lib.rs) under fuzz/examples/stress.rs, a
# mutational fuzzer without coverage feedback, built in the dev profile into the main target
# directory (~/.cache/drkit/target), so it reuses the workspace's build: a minute instead of the
# instrumented build of every crate (AWS SDK included, -Ccodegen-units=1), which takes more than
# 50 minutes on the project's 2-core machine. Crashes go to fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
DRKIT_CACHE=${DRKIT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/drkit}
targets=${FUZZ_TARGETS:-runbook_parse action_params}
seconds=${1:-600}
if [ -n "${FUZZ_SMOKE:-}" ]; then
  seconds=${1:-30}
fi

if [ "${FUZZ_ENGINE:-libfuzzer}" = stable ]; then
  export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$DRKIT_CACHE/target}
  start=$(date +%s)
  cargo build --quiet --manifest-path fuzz/Cargo.toml --example stress
  printf '[fuzz] stable engine, %s, built in %s s\n' "$(rustc --version)" "$(($(date +%s) - start))" >&2
  status=0
  for target in $targets; do
    dict=fuzz/seeds/runbook.dict
    if [ "$target" = action_params ]; then dict=fuzz/seeds/params.dict; fi
    mkdir -p "fuzz/artifacts/$target"
    # A runaway allocation is a finding, not a reason to take the machine down.
    (ulimit -v 6000000
      "$CARGO_TARGET_DIR/debug/examples/stress" "$target" "$seconds" "fuzz/seeds/$target" \
        "$dict" "fuzz/artifacts/$target" "${FUZZ_RNG_SEED:-$(date +%s)}") || status=1
  done
  printf '[fuzz] total %s s\n' "$(($(date +%s) - start))" >&2
  exit "$status"
fi

CARGO_FUZZ_VERSION=${CARGO_FUZZ_VERSION:-0.13.2}
export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$DRKIT_CACHE/target-fuzz}
sanitizer=${FUZZ_SANITIZER:-address}

log() { printf '[fuzz] %s\n' "$*" >&2; }

if ! cargo fuzz --version >/dev/null 2>&1; then
  log "installing cargo-fuzz $CARGO_FUZZ_VERSION"
  cargo install --locked cargo-fuzz --version "$CARGO_FUZZ_VERSION"
fi
log "$(cargo fuzz --version), $(rustc --version), sanitizer $sanitizer, target dir $CARGO_TARGET_DIR"

fuzz_args=(--fuzz-dir fuzz --sanitizer "$sanitizer" -O)
build_args=()
if [ -n "${FUZZ_JOBS:-}" ]; then build_args+=(--jobs "$FUZZ_JOBS"); fi
start=$(date +%s)
cargo fuzz build "${fuzz_args[@]}" "${build_args[@]}"
log "built in $(($(date +%s) - start)) s"

logs=$CARGO_TARGET_DIR/fuzz-logs
mkdir -p "$logs"
status=0
for target in $targets; do
  corpus=fuzz/corpus/$target
  seeds=fuzz/seeds/$target
  dict=fuzz/seeds/runbook.dict
  if [ "$target" = action_params ]; then dict=fuzz/seeds/params.dict; fi
  mkdir -p "$corpus" "fuzz/artifacts/$target"
  common=(-dict="$root/$dict" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
    -artifact_prefix="$root/fuzz/artifacts/$target/")
  if [ -n "${FUZZ_SMOKE:-}" ]; then
    # Every seed once (the regressions among them), then a short run.
    log "$target: the seeds once"
    cargo fuzz run "${fuzz_args[@]}" "$target" "$seeds" -- "${common[@]}" -runs=0 \
      >"$logs/$target.seeds.log" 2>&1 || {
      status=1
      tail -n 30 "$logs/$target.seeds.log" >&2
    }
  fi
  log "$target: ${seconds} s (log: $logs/$target.log)"
  rc=0
  cargo fuzz run "${fuzz_args[@]}" "$target" "$corpus" "$seeds" -- "${common[@]}" \
    -max_total_time="$seconds" >"$logs/$target.log" 2>&1 || rc=$?
  runs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$logs/$target.log" | tail -1 |
    awk '{print $2}')
  speed=$(grep -o 'stat::average_exec_per_sec: [0-9]*' "$logs/$target.log" | tail -1 |
    awk '{print $2}')
  cov=$(grep -o 'cov: [0-9]*' "$logs/$target.log" | tail -1 | awk '{print $2}')
  crashes=$(find "fuzz/artifacts/$target" -type f | wc -l)
  log "$target: exit $rc, ${runs:-?} executions (${speed:-?}/s), coverage ${cov:-?} edges," \
    "corpus $(find "$corpus" -type f | wc -l) inputs, artifacts $crashes"
  if [ "$rc" != 0 ] || [ "$crashes" != 0 ]; then
    status=1
    grep -A 15 -m 1 -E 'panicked|ERROR: libFuzzer|ERROR: AddressSanitizer|SUMMARY' \
      "$logs/$target.log" >&2 || tail -n 30 "$logs/$target.log" >&2
    find "fuzz/artifacts/$target" -type f -printf '  %p\n' >&2
    log "reproduce: RUSTC_BOOTSTRAP=1 cargo fuzz run --fuzz-dir fuzz -O $target <artifact>;" \
      "minimize: cargo fuzz tmin --fuzz-dir fuzz -O $target <artifact>"
  fi
done
log "total $(($(date +%s) - start)) s"
exit "$status"
