# shellcheck shell=bash
# mint_env: what examples/runbooks/mint-replica.toml reads (`${env.NAME}` and `env:` secret
# references), from the peers scripts/lib/peers.sh started (start_postgres, start_openbao).
# Used by scripts/mint-drill.sh, tests/fault-drill.sh and tests/secret-scan.sh.
mint_env() {
  local pg_port=${DRKIT_TEST_PG_URL##*:}
  pg_port=${pg_port%%/*}
  # PostgreSQL: the private test server, on its free port.
  export MINT_PG_HOST=127.0.0.1 MINT_PG_PORT=$pg_port MINT_PG_DBNAME=drkit MINT_PG_USER=drkit
  export MINT_PG_PASSWORD=$DRKIT_TEST_PG_PASSWORD
  # The server takes TLS only (as RDS with rds.force_ssl); its certificate's CA.
  export MINT_PG_SSLROOTCERT=$DRKIT_TEST_TLS_CA
  # Vault: the sealed server is the one to recover; the transit key lives on the other one.
  export MINT_VAULT_ADDR=$DRKIT_TEST_VAULT_SEALED_ADDR
  export MINT_VAULT_KEY_1=$DRKIT_TEST_VAULT_SEALED_KEY_1
  export MINT_VAULT_KEY_2=$DRKIT_TEST_VAULT_SEALED_KEY_2
  export MINT_VAULT_KEY_3=$DRKIT_TEST_VAULT_SEALED_KEY_3
  export MINT_VAULT_TRANSIT_ADDR=$DRKIT_TEST_VAULT_ADDR
  export MINT_VAULT_TOKEN=$DRKIT_TEST_VAULT_TOKEN
}

# The routing controls of the drill's Route 53 ARC cluster: drkit-testkit's fake
# (crates/drkit-testkit/src/fake_arc.rs; moto has no ARC), served by a fault proxy. The
# us-east-1 cell's control starts On, the us-west-2 cell's Off.
export MINT_ARC_CONTROL_USE1=arn:aws:route53-recovery-control::123456789012:controlpanel/mint/routingcontrol/use1
export MINT_ARC_CONTROL_USW2=arn:aws:route53-recovery-control::123456789012:controlpanel/mint/routingcontrol/usw2
ARC_ARGS=(--arc-control "$MINT_ARC_CONTROL_USE1=On" --arc-control "$MINT_ARC_CONTROL_USW2=Off")

# The standby cluster's nodes in drkit-testkit's fake Kubernetes API server (start_fake_kube):
# the 4 nodes of the EKS managed node group `primary-nodes` (labelled as EKS labels them) that
# the runbook's scale-up to 4 stands for — the fake cannot see moto's node group, so they are
# registered at start; each is NotReady (`KubeletNotReady`) for the fake's rollout delay, then
# Ready. What `standby-nodes-ready` (k8s.wait_nodes_ready) waits for.
FAKE_KUBE_ARGS=()
for ip in 10-0-1-10 10-0-2-11 10-0-3-12 10-0-1-13; do
  FAKE_KUBE_ARGS+=(--node "ip-$ip.us-west-2.compute.internal,eks.amazonaws.com/nodegroup=primary-nodes")
done

# start_arc: a fault proxy without faults in front of moto whose ARC requests the fake cluster
# answers (its states at $MINT_ARC_ENDPOINT/__fake-arc/states); exports MINT_ARC_ENDPOINT.
# Needs the binaries built (build_binaries) and moto started.
start_arc() {
  local target=${CARGO_TARGET_DIR:-$DRKIT_CACHE/target} addr=$PEERS_DIR/arc.addr
  rm -f "$addr"
  "$target/debug/fault-proxy" --upstream "$DRKIT_TEST_AWS_ENDPOINT" --addr-file "$addr" \
    "${ARC_ARGS[@]}" >"$PEERS_DIR/arc.log" 2>&1 &
  register_pid $!
  wait_http_file "$addr" 10 "$PEERS_DIR/arc.log"
  MINT_ARC_ENDPOINT=$(cat "$addr")
  export MINT_ARC_ENDPOINT
  log "fake Route 53 ARC cluster (routing controls use1 On, usw2 Off) at $MINT_ARC_ENDPOINT (log: $PEERS_DIR/arc.log)"
}

# start_status_page: the drill's status-page API (scripts/lib/status_page.py: a local server
# that records what it receives and needs a bearer token), for the runbook's communication
# steps. Exports MINT_STATUSPAGE_URL, MINT_STATUSPAGE_TOKEN (a fresh random one),
# MINT_STATUSPAGE_BEARER ("Bearer <token>", what the runbook's secret reference reads) and
# STATUSPAGE_LOG (one JSON line per request received).
start_status_page() {
  local port
  port=$(free_port)
  MINT_STATUSPAGE_TOKEN=sp-$(python3 -c 'import secrets; print(secrets.token_hex(16))')
  STATUSPAGE_LOG=$PEERS_DIR/status-page.jsonl
  : >"$STATUSPAGE_LOG"
  MINT_STATUSPAGE_BEARER="Bearer $MINT_STATUSPAGE_TOKEN"
  export MINT_STATUSPAGE_TOKEN MINT_STATUSPAGE_BEARER STATUSPAGE_LOG
  python3 "$DRKIT_ROOT/scripts/lib/status_page.py" --port "$port" \
    --token-env MINT_STATUSPAGE_TOKEN --log "$STATUSPAGE_LOG" >"$PEERS_DIR/status-page.log" 2>&1 &
  register_pid $!
  export MINT_STATUSPAGE_URL=http://127.0.0.1:$port
  wait_http "$MINT_STATUSPAGE_URL/__received" 10 "$PEERS_DIR/status-page.log"
  log "status-page API at $MINT_STATUSPAGE_URL (requests: $STATUSPAGE_LOG)"
}

# wait_http_file FILE SECONDS LOGFILE: until FILE exists and is not empty.
wait_http_file() {
  local file=$1 seconds=$2 logfile=$3 tries=0
  until [ -s "$file" ]; do
    tries=$((tries + 1))
    if [ "$tries" -gt $((seconds * 20)) ]; then
      log "no address in $file after ${seconds}s; the end of $logfile:"
      tail -n 20 "$logfile" >&2
      return 1
    fi
    sleep 0.05
  done
}
