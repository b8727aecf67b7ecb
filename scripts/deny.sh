#!/usr/bin/env bash
# Supply-chain checks with cargo-deny: licences, banned crates, sources. Offline-safe (the
# advisory database needs the network, so advisories are not checked here). Installs cargo-deny
# into the drkit cache the first time (a few minutes of building, once per machine).
set -euo pipefail
cd "$(dirname "$0")/.."
cache=${DRKIT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/drkit}
deny=$cache/tools/bin/cargo-deny
if [ ! -x "$deny" ]; then
  echo "installing cargo-deny into $cache/tools" >&2
  CARGO_TARGET_DIR=$cache/target-tools cargo install --quiet --locked cargo-deny --root "$cache/tools"
fi
# cargo-deny reads the whole graph, every platform's crates included: fetch them first (from
# the registry, like any build), then check without touching the network.
cargo fetch --locked --quiet
"$deny" --offline --log-level warn check licenses bans sources
