#!/usr/bin/env bash
# Runs every test of drkit: starts the real test peers (moto server...) on free 127.0.0.1 ports,
# runs `cargo test` on the whole workspace with their addresses in the environment, and stops
# them. Extra arguments go to `cargo test` (e.g. `bash scripts/test.sh -p drkit-rds`).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/peers.sh
source scripts/lib/peers.sh
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$DRKIT_CACHE/target}
trap stop_peers EXIT

start_moto
start_postgres
start_redis
start_openbao

args=("$@")
if [ ${#args[@]} -eq 0 ]; then
  args=(--workspace)
fi
cargo test --all-features --locked "${args[@]}"
