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
MOTO_REQUIREMENT=${MOTO_REQUIREMENT:-moto[server]==5.2.*}
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

free_port() {
  python3 - <<'PY'
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
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

ensure_moto() {
  if [ -x "$MOTO_VENV/bin/moto_server" ]; then
    return 0
  fi
  log "installing $MOTO_REQUIREMENT into $MOTO_VENV"
  python3 -m venv "$MOTO_VENV"
  "$MOTO_VENV/bin/pip" install --quiet --disable-pip-version-check "$MOTO_REQUIREMENT"
}

# start_moto: exports DRKIT_TEST_AWS_ENDPOINT (and MOTO_PID).
start_moto() {
  ensure_moto
  local port
  port=$(free_port)
  MOTO_ACM_VALIDATION_WAIT=${MOTO_ACM_VALIDATION_WAIT:-1} \
    "$MOTO_VENV/bin/moto_server" -H 127.0.0.1 -p "$port" >"$PEERS_DIR/moto.log" 2>&1 &
  MOTO_PID=$!
  register_pid "$MOTO_PID"
  wait_http "http://127.0.0.1:$port/moto-api/" 30 "$PEERS_DIR/moto.log"
  export DRKIT_TEST_AWS_ENDPOINT="http://127.0.0.1:$port"
  log "moto server $("$MOTO_VENV/bin/python" -c 'import moto; print(moto.__version__)') at $DRKIT_TEST_AWS_ENDPOINT (log: $PEERS_DIR/moto.log)"
}
