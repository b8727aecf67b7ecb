# shellcheck shell=bash
# What the drills share (tests/fault-drill.sh, tests/region-drill.sh): a fresh Mint world, a
# fault proxy in front of moto, its counts. Expects scripts/lib/peers.sh and mint-env.sh
# sourced; drill_peers starts the peers and sets what the rest reads.

# drill_peers: builds the binaries, starts the peers (moto, PostgreSQL, OpenBao, the fake
# Kubernetes API server, the fake ARC cluster), sets the AWS and Mint environment, and sets
# MOTO (moto's URL) and drkit, mint_world, fault_proxy, psql (paths).
drill_peers() {
  log "building drkit, mint_world, fault-proxy and the fake Kubernetes API server"
  build_binaries
  start_moto
  start_postgres
  start_openbao_pair
  start_fake_kube
  start_arc
  start_status_page
  MOTO=$DRKIT_TEST_AWS_ENDPOINT
  export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-west-2
  unset AWS_PROFILE AWS_SESSION_TOKEN
  mint_env
  drkit=$CARGO_TARGET_DIR/debug/drkit
  mint_world=$CARGO_TARGET_DIR/debug/examples/mint_world
  fault_proxy=$CARGO_TARGET_DIR/debug/fault-proxy
  psql=$(_pg_bindir)/psql
}

PROXY_PID=
stop_proxy() {
  if [ -n "$PROXY_PID" ]; then
    kill -TERM "$PROXY_PID" 2>/dev/null || true
    wait "$PROXY_PID" 2>/dev/null || true
    PROXY_PID=
  fi
}

# fresh_world DIR: the world as mint-drill.sh creates it, from scratch, directly against moto.
fresh_world() {
  local dir=$1
  python3 - "$MOTO" "$DRKIT_TEST_VAULT_SEALED_ADDR" <<'PY'
import json, os, sys, time, urllib.request, urllib.error
moto, vault = sys.argv[1], sys.argv[2]
urllib.request.urlopen(urllib.request.Request(moto + "/moto-api/reset", method="POST"), timeout=30)
# Seal the Vault the drill unsealed (a sealed one answers 503 to seal: nothing to do).
status = json.load(urllib.request.urlopen(vault + "/v1/sys/seal-status", timeout=10))
if not status["sealed"]:
    deadline = time.time() + 30
    while True:
        req = urllib.request.Request(vault + "/v1/sys/seal", method="PUT")
        req.add_header("X-Vault-Token", os.environ["DRKIT_TEST_VAULT_SEALED_TOKEN"])
        try:
            urllib.request.urlopen(req, timeout=10)
            break
        except urllib.error.HTTPError as e:  # a standby not yet active answers 5xx/429
            if time.time() > deadline:
                raise
            time.sleep(0.2)
    status = json.load(urllib.request.urlopen(vault + "/v1/sys/seal-status", timeout=10))
    assert status["sealed"], status
PY
  start_fake_kube
  PGPASSWORD=$MINT_PG_PASSWORD PGSSLMODE=verify-full PGSSLROOTCERT=$MINT_PG_SSLROOTCERT \
    "$psql" -q -h 127.0.0.1 -p "$MINT_PG_PORT" -U drkit -d drkit \
    -c 'DROP TABLE IF EXISTS transactions' >/dev/null
  AWS_ENDPOINT_URL=$MOTO "$mint_world" --env-out "$dir/world.env" >"$dir/world.out" 2>&1 || {
    cat "$dir/world.out" >&2
    return 1
  }
  # shellcheck source=/dev/null
  source "$dir/world.env"
}

# start_proxy DIR ARGS...: a fault proxy in front of moto; sets PROXY_URL, PROXY_PID.
start_proxy() {
  local dir=$1
  shift
  rm -f "$dir/proxy.addr"
  "$fault_proxy" --upstream "$MOTO" --addr-file "$dir/proxy.addr" --stats "$dir/proxy.json" \
    "$@" >"$dir/proxy.out" 2>&1 &
  PROXY_PID=$!
  local tries=0
  until [ -s "$dir/proxy.addr" ]; do
    tries=$((tries + 1))
    if [ "$tries" -gt 100 ]; then
      cat "$dir/proxy.out" >&2
      return 1
    fi
    sleep 0.05
  done
  PROXY_URL=$(cat "$dir/proxy.addr")
}

# pstat FILE EXPR: a value of the proxy's JSON counts.
pstat() {
  python3 - "$1" "$2" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
print(eval(sys.argv[2], {}, {"s": s, "f": s.get("faults", {})}))
PY
}
