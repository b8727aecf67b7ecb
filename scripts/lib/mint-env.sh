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
  # Vault: the sealed server is the one to recover; the transit key lives on the other one.
  export MINT_VAULT_ADDR=$DRKIT_TEST_VAULT_SEALED_ADDR
  export MINT_VAULT_KEY_1=$DRKIT_TEST_VAULT_SEALED_KEY_1
  export MINT_VAULT_KEY_2=$DRKIT_TEST_VAULT_SEALED_KEY_2
  export MINT_VAULT_KEY_3=$DRKIT_TEST_VAULT_SEALED_KEY_3
  export MINT_VAULT_TRANSIT_ADDR=$DRKIT_TEST_VAULT_ADDR
  export MINT_VAULT_TOKEN=$DRKIT_TEST_VAULT_TOKEN
}
