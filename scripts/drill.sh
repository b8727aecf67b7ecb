#!/usr/bin/env bash
# drkit's main job, on a fresh machine and without an AWS account: starts a local AWS emulator
# (moto server), creates the "production" Aurora cluster of Mint Replica Lite in it, fails it
# over with drkit and prints what happened and how long each phase took.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/peers.sh
source scripts/lib/peers.sh
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$DRKIT_CACHE/target}
trap stop_peers EXIT

start_moto
# The standard AWS variables: the example reads them exactly as it would against real AWS.
export AWS_ENDPOINT_URL=$DRKIT_TEST_AWS_ENDPOINT
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1
unset AWS_PROFILE AWS_SESSION_TOKEN
cargo run --quiet --locked -p drkit-examples --example aurora_failover -- "$@"
