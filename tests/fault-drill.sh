#!/usr/bin/env bash
# The Mint Replica drill under throttling and transient faults, and against an AWS endpoint that
# stops answering.
#
#   bash tests/fault-drill.sh
#
# Starts the peers (scripts/lib/peers.sh: moto, PostgreSQL, OpenBao, the fake Kubernetes API
# server), builds drkit, mint_world
# and the fault proxy (crates/drkit-testkit, binary fault-proxy), then:
#
# 1. one fault-free baseline run of examples/runbooks/mint-replica.toml through the proxy
#    (rate 0), to count the AWS calls the drill makes;
# 2. FAULT_DRILL_RUNS (20) runs through the proxy at FAULT_DRILL_RATE (0.3): a share of the
#    signed AWS requests answered with the protocol's throttling error, an HTTP 500/503, or held
#    without an answer past the SDK attempt time-out (in rotation), seed = run number. Every
#    run must exit 0;
# 3. the blackhole case: a run through a proxy that stops answering after half the baseline's
#    requests must exit 1 within a bound derived from the time-outs, naming the time-out. This
#    run's runbook has a 60 s step time-out (BLACKHOLE_STEP_TIMEOUT) and 2 attempts instead of
#    30 min and 5: the endpoint may die mid-wait, and drkit then waits for the step's time-out.
#
# Each run gets a fresh world, created directly against moto: moto reset (POST /moto-api/reset),
# the sealed OpenBao sealed again, the fake Kubernetes API server restarted empty, the
# `transactions` table recreated, mint_world run again; and
# its own journal directory. Exit 0 only if every faulted run passed and the blackhole run
# failed cleanly in time.
#
# Settings (environment): FAULT_DRILL_RUNS (20; 0: none), FAULT_DRILL_BLACKHOLE (1; 0: no
# blackhole case, so CI can run it as a second drill beside the faulted runs), FAULT_DRILL_RATE (0.3), FAULT_DRILL_SEED (0,
# added to the run number), and the SDK time-outs drkit uses for these runs:
# DRKIT_AWS_CONNECT_TIMEOUT (2s), DRKIT_AWS_ATTEMPT_TIMEOUT (3s), DRKIT_AWS_OPERATION_TIMEOUT
# (20s); FAULT_DRILL_HOLD (how long a time-out fault holds a request: attempt time-out + 3 s).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/peers.sh
source scripts/lib/peers.sh
# shellcheck source=scripts/lib/mint-env.sh
source scripts/lib/mint-env.sh
# shellcheck source=scripts/lib/drill.sh
source scripts/lib/drill.sh
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$DRKIT_CACHE/target}
script_started=$(date +%s)

RUNBOOK=examples/runbooks/mint-replica.toml
RUNS=${FAULT_DRILL_RUNS:-20}
BLACKHOLE=${FAULT_DRILL_BLACKHOLE:-1}
RATE=${FAULT_DRILL_RATE:-0.3}
SEED0=${FAULT_DRILL_SEED:-0}
export DRKIT_AWS_CONNECT_TIMEOUT=${DRKIT_AWS_CONNECT_TIMEOUT:-2s}
export DRKIT_AWS_ATTEMPT_TIMEOUT=${DRKIT_AWS_ATTEMPT_TIMEOUT:-3s}
export DRKIT_AWS_OPERATION_TIMEOUT=${DRKIT_AWS_OPERATION_TIMEOUT:-20s}
secs() { # "3s" / "1500ms" / "2m" -> whole seconds, rounded up
  python3 -c 'import re,sys,math
v=sys.argv[1].strip(); m=re.fullmatch(r"([0-9.]+)\s*(ms|s|m|min)?", v)
n=float(m.group(1)); u=m.group(2) or "s"
print(math.ceil(n/1000 if u=="ms" else n*60 if u in ("m","min") else n))' "$1"
}
ATTEMPT_S=$(secs "$DRKIT_AWS_ATTEMPT_TIMEOUT")
OPERATION_S=$(secs "$DRKIT_AWS_OPERATION_TIMEOUT")
HOLD=${FAULT_DRILL_HOLD:-$((ATTEMPT_S + 3))s}

work=$(mktemp -d "${TMPDIR:-/tmp}/fault-drill.XXXXXX")
trap 'stop_proxy; stop_peers' EXIT

drill_peers


# drill DIR BOUND: one drkit run through the proxy, killed after BOUND seconds. Sets RC, TOOK.
drill() {
  local dir=$1 bound=$2 t0
  t0=$(date +%s.%N)
  RC=0
  AWS_ENDPOINT_URL=$PROXY_URL timeout --signal=TERM --kill-after=10 "$bound" \
    "$drkit" run "$RUNBOOK" --auto-approve --journal "$dir/journal" --report "$dir/report.md" \
    --incident-start 10m "${DRILL_EXTRA[@]}" >"$dir/run.out" 2>"$dir/run.err" || RC=$?
  TOOK=$(python3 -c "import time; print(f'{time.time() - $t0:.1f}')")
}

DRILL_EXTRA=()

# start_webhook DIR: a local HTTP server that appends every POST body to DIR/webhook.bodies;
# sets WEBHOOK_URL, WEBHOOK_PID.
start_webhook() {
  local dir=$1
  python3 - "$dir" >"$dir/webhook.out" 2>&1 <<'PY' &
import http.server, sys
out = sys.argv[1] + "/webhook.bodies"
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        with open(out, "ab") as f:
            f.write(body + b"\n")
        self.send_response(200); self.end_headers(); self.wfile.write(b"ok")
    def log_message(self, *a): pass
srv = http.server.HTTPServer(("127.0.0.1", 0), H)
open(sys.argv[1] + "/webhook.addr", "w").write(f"http://127.0.0.1:{srv.server_port}/hook\n")
srv.serve_forever()
PY
  WEBHOOK_PID=$!
  local tries=0
  until [ -s "$dir/webhook.addr" ]; do
    tries=$((tries + 1))
    [ "$tries" -gt 100 ] && return 1
    sleep 0.05
  done
  WEBHOOK_URL=$(cat "$dir/webhook.addr")
}

# One drill may take this long before it counts as hung (generous: the faulted runs are
# expected to take a fraction of it).
RUN_BOUND=${FAULT_DRILL_RUN_BOUND:-300}

echo
log "baseline: one run without faults (debug logs and a webhook on, for the secret scan)"
mkdir -p "$work/baseline"
fresh_world "$work/baseline"
start_proxy "$work/baseline" --rate 0
start_webhook "$work/baseline"
# --webhook takes a secret reference to the URL (the URL is a credential), never the URL.
export DRILL_WEBHOOK_URL=$WEBHOOK_URL
DRILL_EXTRA=(-vv --webhook env:DRILL_WEBHOOK_URL)
drill "$work/baseline" "$RUN_BOUND"
DRILL_EXTRA=()
stop_proxy
kill "$WEBHOOK_PID" 2>/dev/null || true
BASE_REQ=$(pstat "$work/baseline/proxy.json" 's["requests"]')
if [ "$RC" != 0 ]; then
  tail -n 40 "$work/baseline/run.out" "$work/baseline/run.err" >&2
  log "the baseline run failed (exit $RC): the drill itself is broken, not the fault handling"
  exit 1
fi
BASE_TOOK=$TOOK
log "baseline: exit 0 in ${TOOK}s, $BASE_REQ AWS requests"

printf 'run\texit\tseconds\trequests\tfaults\tthrottle\t5xx\ttimeout\textra\n' >"$work/table.tsv"
printf 'base\t%s\t%s\t%s\t0\t0\t0\t0\t0\n' "$RC" "$BASE_TOOK" "$BASE_REQ" >>"$work/table.tsv"
failed=0
for run in $(seq 1 "$RUNS"); do
  dir=$work/run-$run
  mkdir -p "$dir"
  fresh_world "$dir"
  start_proxy "$dir" --rate "$RATE" --seed $((SEED0 + run)) --hold "$HOLD"
  drill "$dir" "$RUN_BOUND"
  stop_proxy
  req=$(pstat "$dir/proxy.json" 's["requests"]')
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$run" "$RC" "$TOOK" "$req" \
    "$(pstat "$dir/proxy.json" 's["faults_total"]')" \
    "$(pstat "$dir/proxy.json" 'f.get("throttle", 0)')" \
    "$(pstat "$dir/proxy.json" 'f.get("5xx", 0)')" \
    "$(pstat "$dir/proxy.json" 'f.get("timeout", 0)')" \
    "$((req - BASE_REQ))" >>"$work/table.tsv"
  printf '  run %2s: exit %s in %6ss, %s requests\n' "$run" "$RC" "$TOOK" "$req" >&2
  if [ "$RC" != 0 ]; then
    failed=$((failed + 1))
    echo "--- run $run failed (exit $RC); the end of its output ($dir):" >&2
    tail -n 30 "$dir/run.out" "$dir/run.err" >&2 || true
  fi
done

if [ "$RUNS" -gt 0 ]; then
echo
echo "Mint Replica drill, $RUNS runs through the fault proxy at rate $RATE (attempt time-out $DRKIT_AWS_ATTEMPT_TIMEOUT, hold $HOLD):"
python3 - "$work/table.tsv" <<'PY'
import csv, sys
rows = list(csv.reader(open(sys.argv[1]), delimiter="\t"))
head, body = rows[0], rows[1:]
fmt = "{:>5} {:>4} {:>8} {:>8} {:>6} {:>8} {:>5} {:>7} {:>6}"
print(fmt.format(*head))
for r in body:
    print(fmt.format(*r))
runs = [r for r in body if r[0] != "base"]
if runs:
    tot = lambda i: sum(int(r[i]) for r in runs)
    secs = [float(r[2]) for r in runs]
    print(fmt.format("total", sum(r[1] == "0" for r in runs), f"{sum(secs):.1f}", tot(3), tot(4),
                     tot(5), tot(6), tot(7), tot(8)))
    print(f"passed {sum(r[1] == '0' for r in runs)}/{len(runs)}; duration min/avg/max "
          f"{min(secs):.1f}/{sum(secs)/len(secs):.1f}/{max(secs):.1f} s; "
          f"extra calls per run avg {tot(8)/len(runs):.1f}")
PY
fi

blackhole_ok=1
if [ "$BLACKHOLE" = 1 ]; then
# The blackhole case: the emulator stops answering mid-drill.
echo
AFTER=$((BASE_REQ / 2))
# The blackhole run uses the runbook with a step time-out of BLACKHOLE_STEP_TIMEOUT (60 s)
# instead of 30 min, 2 attempts instead of 5: where the endpoint dies mid-wait, drkit waits
# (reporting the failing probe) until the step's time-out, as it should for a transient outage,
# and a 30-minute wait has no place in CI. Everything else is the drill's runbook.
STEP_S=${BLACKHOLE_STEP_TIMEOUT:-60}
sed -e "s/^timeout = \"[0-9]*[smh]\"/timeout = \"${STEP_S}s\"/" \
  -e 's/max_attempts = 5/max_attempts = 2/' "$RUNBOOK" >"$work/blackhole.toml"
# The bound: the steps in flight when the endpoint dies end within their time-out; then the
# rollback of every completed mutating step, one after the other, each within the same
# time-out; plus the baseline run and slack.
MUTATING=$(python3 - "$work/blackhole.toml" <(AWS_ENDPOINT_URL= "$drkit" actions) <<'PY'
import re, sys, tomllib
steps = tomllib.load(open(sys.argv[1], "rb"))["steps"]
read_only = {m.group(1) for m in re.finditer(r"^(\S+) — .*\(read-only\)$", open(sys.argv[2]).read(), re.M)}
print(sum(1 for s in steps if s["action"] not in read_only))
PY
)
BLACKHOLE_BOUND=${FAULT_DRILL_BLACKHOLE_BOUND:-$(((1 + MUTATING) * STEP_S + ${BASE_TOOK%.*} + 30))}
log "blackhole: the proxy stops answering after $AFTER of the baseline's $BASE_REQ requests; step time-out ${STEP_S}s, $MUTATING mutating steps; bound ${BLACKHOLE_BOUND}s"
dir=$work/blackhole
mkdir -p "$dir"
fresh_world "$dir"
start_proxy "$dir" --rate 0 --blackhole-after "$AFTER"
RUNBOOK_SAVED=$RUNBOOK
RUNBOOK=$work/blackhole.toml
drill "$dir" "$BLACKHOLE_BOUND"
RUNBOOK=$RUNBOOK_SAVED
stop_proxy
blackholed=$(pstat "$dir/proxy.json" 's["blackholed"]')
echo "blackhole run: exit $RC after ${TOOK}s (bound ${BLACKHOLE_BOUND}s), $blackholed requests never answered"
if [ "$RC" != 1 ]; then
  blackhole_ok=0
  echo "  FAILED: expected exit 1, got $RC$([ "$RC" = 124 ] && echo ' (killed by timeout: the run hung)')"
fi
if ! grep -qiE 'timed out|time-out|timeout' "$dir/run.out" "$dir/run.err"; then
  blackhole_ok=0
  echo "  FAILED: the output does not name the time-out"
fi
echo "  what the run said:"
{ grep -ihE 'timed out|time-out|timeout' "$dir/run.out" "$dir/run.err" || true; } |
  sed -n '1,5s/^\(.\{0,300\}\).*/    \1/p'
fi

# Secrets: the values the drill was given (PostgreSQL password, Vault unseal keys, Vault token,
# the status-page token)
# must appear nowhere drkit wrote: stdout, stderr (debug logs in the baseline), journals,
# reports and the webhook bodies of every run above.
echo
secrets_ok=1
if [ ! -s "$work/baseline/webhook.bodies" ]; then
  secrets_ok=0
  echo "secret scan: FAILED: the webhook received nothing, so its bodies were not scanned"
fi
scanned=$(find "$work" -type f \( -name 'run.out' -o -name 'run.err' -o -name 'report.md' \
  -o -name '*.journal.jsonl' -o -name 'webhook.bodies' \) | sort)
hits=0
for name in MINT_PG_PASSWORD MINT_VAULT_KEY_1 MINT_VAULT_KEY_2 MINT_VAULT_KEY_3 MINT_VAULT_TOKEN MINT_STATUSPAGE_TOKEN; do
  value=${!name}
  n=$(printf '%s\n' "$scanned" | xargs grep -lF -- "$value" 2>/dev/null | wc -l || true)
  if [ "$n" != 0 ]; then
    secrets_ok=0
    echo "secret scan: FAILED: the value of $name is in $n file(s):"
    printf '%s\n' "$scanned" | xargs grep -lF -- "$value" | sed 's/^/    /'
  fi
  hits=$((hits + n))
done
echo "secret scan: 6 secret values searched in $(printf '%s\n' "$scanned" | wc -l) files ($(cat $scanned | wc -c) bytes; webhook bodies: $(wc -l <"$work/baseline/webhook.bodies" 2>/dev/null || echo 0)): $hits hit(s)"

echo
echo "fault-drill: $((RUNS - failed))/$RUNS faulted runs passed; blackhole $([ "$BLACKHOLE" != 1 ] && echo 'not run' || { [ "$blackhole_ok" = 1 ] && echo 'failed cleanly' || echo 'NOT clean'; }); total $(( $(date +%s) - script_started ))s; files in $work"
[ "$failed" = 0 ] && [ "$blackhole_ok" = 1 ] && [ "$secrets_ok" = 1 ]
