#!/usr/bin/env bash
# Readiness between disasters: `drkit check` on the Mint world, healthy and then broken one
# layer at a time. Every AWS request goes through the fault proxy (no faults), which counts them
# by operation: the check must send no mutating request.
#
#   bash tests/readiness-drill.sh
#
# 1. The healthy world (graceful mode, and ungraceful with us-east-1 impaired): exit 0, every
#    evaluated step ready; `--metrics` writes OpenMetrics; `--journal` keeps the result.
# 2. One thing broken per layer, each on a fresh world, each named by the check (exit 1):
#    - storage: the source bucket's replication deleted          -> `s3-replication`
#    - DNS:     the runbook's us-west-2 routing control not in the cluster (ungraceful)
#                                                                 -> `dns-arc-preflight`
#    - IAM:     the DR role deleted                               -> `restore-dr-role-policy`
#    - Vault:   the Vault to unseal unreachable                   -> `vault-unseal`
#      (a sealed Vault is this runbook's starting point: `vault-unseal` unseals it, so sealed is
#      ready)
#    - compute: the standby node group deleted                    -> `scale-standby-nodes`
#    - permissions: the operator's role policy loses rds:CreateDBClusterSnapshot
#                                                                 -> `safety-snapshot`
#      (`drkit check` runs as an operator role whose policy is what `drkit iam-policy` prints;
#      IAM's policy simulator, drkit's fake in moto, says what the role may do)
#    and the journal's drift lists the step that was ready and is not.
# Exit 0 only if all of this holds.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/peers.sh
source scripts/lib/peers.sh
# shellcheck source=scripts/lib/mint-env.sh
source scripts/lib/mint-env.sh
# shellcheck source=scripts/lib/drill.sh
source scripts/lib/drill.sh
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$DRKIT_CACHE/target}
started=$(date +%s)

RUNBOOK=examples/runbooks/mint-replica.toml
export DRKIT_AWS_CONNECT_TIMEOUT=${DRKIT_AWS_CONNECT_TIMEOUT:-2s}
export DRKIT_AWS_ATTEMPT_TIMEOUT=${DRKIT_AWS_ATTEMPT_TIMEOUT:-3s}
export DRKIT_AWS_OPERATION_TIMEOUT=${DRKIT_AWS_OPERATION_TIMEOUT:-8s}

work=$(mktemp -d "${TMPDIR:-/tmp}/readiness-drill.XXXXXX")
trap 'stop_proxy; stop_peers' EXIT

drill_peers

failures=0
fail() {
  failures=$((failures + 1))
  echo "  FAILED: $*"
}

# world DIR: a fresh world, its AWS and ARC requests through a counting proxy; drkit's
# credentials those of the operator role (see `operator`).
world() {
  fresh_world "$1"
  operator
  start_proxy "$1" --rate 0 "${ARC_ARGS[@]}"
  export MINT_ARC_ENDPOINT=$PROXY_URL
}

# operator [DROP]: the role `mint-dr-operator`, allowed what `drkit iam-policy` prints for the
# runbook (less the action DROP) and the simulator's own calls; assumed, its credentials
# exported for drkit.
operator() {
  local policy creds
  policy=$("$drkit" iam-policy "$RUNBOOK") || { fail "drkit iam-policy failed"; return 1; }
  creds=$(POLICY=$policy DROP=${1:-} boto iam us-east-1 "
import json, os
policy = json.loads(os.environ['POLICY'])
statement = policy['Statement'][0]
statement['Action'] = [a for a in statement['Action'] if a != os.environ['DROP']]
policy['Statement'].append({'Effect': 'Allow', 'Resource': '*',
    'Action': ['iam:SimulatePrincipalPolicy', 'iam:GetRole']})
try:
    c.create_role(RoleName='mint-dr-operator', Path='/dr/', AssumeRolePolicyDocument=json.dumps(
        {'Version': '2012-10-17', 'Statement': [{'Effect': 'Allow', 'Action': 'sts:AssumeRole',
         'Principal': {'AWS': 'arn:aws:iam::123456789012:root'}}]}))
except c.exceptions.EntityAlreadyExistsException:
    pass
c.put_role_policy(RoleName='mint-dr-operator', PolicyName='drkit-recovery',
                  PolicyDocument=json.dumps(policy))
sts = boto3.client('sts', region_name='us-east-1', endpoint_url=moto,
                   aws_access_key_id='test', aws_secret_access_key='test')
k = sts.assume_role(RoleArn='arn:aws:iam::123456789012:role/dr/mint-dr-operator',
                    RoleSessionName='readiness-drill')['Credentials']
print(k['AccessKeyId'], k['SecretAccessKey'], k['SessionToken'])")
  read -r AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN <<<"$creds"
  export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN
}

# check DIR ARGS...: drkit check through the proxy; sets RC.
check() {
  local dir=$1
  shift
  RC=0
  AWS_ENDPOINT_URL=$PROXY_URL timeout --signal=TERM --kill-after=10 120 \
    "$drkit" check "$RUNBOOK" "$@" >>"$dir/check.out" 2>>"$dir/check.err" || RC=$?
}

# only_reads DIR: the proxy saw no mutating operation (reads: Describe/Get/List/Head..., GET).
only_reads() {
  python3 - "$1/proxy.json" <<'PY'
import json, re, sys
ops = json.load(open(sys.argv[1]))["by_operation"]
read = re.compile(r"^(Describe|Get|List|Head|Search|Simulate|GET |HEAD )")
# A JSON/CBOR operation on a path (CloudWatch's .../operation/GetMetricStatistics) by its name.
name = lambda op: op.rsplit("/", 1)[-1] if "/operation/" in op else op
writes = {op: n for op, n in ops.items() if not read.match(name(op))}
print(f"  {sum(ops.values())} requests, {len(ops)} operations; mutating: {writes or 'none'}")
sys.exit(1 if writes else 0)
PY
}

# broken NAME STEP ARGS... -- COMMAND: a fresh world, COMMAND breaks it, the check must exit 1
# naming STEP.
broken() {
  local name=$1 step=$2
  shift 2
  local args=()
  while [ "$1" != "--" ]; do
    args+=("$1")
    shift
  done
  shift
  echo
  log "broken $name: $*"
  local dir=$work/$name
  mkdir -p "$dir"
  world "$dir"
  check "$dir" "${args[@]}" --journal "$dir"
  [ "$RC" = 0 ] || { fail "$name: the world was not ready before breaking it (exit $RC)"; cat "$dir/check.err"; }
  "$@"
  check "$dir" "${args[@]}" --journal "$dir"
  stop_proxy
  if [ "$RC" = 1 ] && grep -q "^not ready: $step: " "$dir/check.err"; then
    echo "  ok: exit 1, $(grep "^not ready: $step: " "$dir/check.err" | head -1 | cut -c1-220)"
  else
    fail "$name: expected exit 1 naming $step, got exit $RC"
    cat "$dir/check.err"
  fi
  if grep -q "\`$step\`: was ready, now not_ready" "$dir/check.out"; then
    echo "  ok: the drift since the last check names $step"
  else
    fail "$name: no drift line for $step"
  fi
  only_reads "$dir" || fail "$name: the check sent a mutating request"
}

boto() { # boto SERVICE REGION PYTHON: runs PYTHON with `c` a boto3 client against moto.
  "$MOTO_VENV/bin/python" - "$MOTO" "$1" "$2" "$3" <<'PY'
import sys, boto3
moto, service, region, code = sys.argv[1:5]
c = boto3.client(service, region_name=region, endpoint_url=moto,
                 aws_access_key_id="test", aws_secret_access_key="test")
exec(code)
PY
}

echo
log "1. the healthy world: ready, nothing changed"
dir=$work/healthy
mkdir -p "$dir"
world "$dir"
check "$dir" --metrics "$dir/drkit.prom" --journal "$dir"
echo "  graceful: exit $RC"
[ "$RC" = 0 ] || { fail "graceful check: exit $RC"; cat "$dir/check.out" "$dir/check.err"; }
grep -E '^# Readiness|^[0-9]+ ready' "$dir/check.out" | sed 's/^/  /'
if grep -q '^Permissions: all [0-9]* actions the plan needs are allowed for `arn:aws:iam::123456789012:role/dr/mint-dr-operator`' "$dir/check.out"; then
  echo "  ok: $(grep '^Permissions:' "$dir/check.out" | head -1 | cut -c1-150)"
else
  fail "the permissions were not simulated as allowed for the operator role"
  grep '^Permissions' "$dir/check.out"
fi
check "$dir" --mode ungraceful --impaired-region us-east-1
echo "  ungraceful, us-east-1 impaired: exit $RC"
[ "$RC" = 0 ] || { fail "ungraceful check: exit $RC"; cat "$dir/check.err"; }
grep -q "^Permissions: not checked: IAM's API is served from us-east-1, which is impaired" \
  "$dir/check.out" || fail "with us-east-1 impaired, the check did not say IAM was left alone"
# A check with another identity (moto's default) simulating the operator role (--principal).
AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_SESSION_TOKEN='' \
  check "$dir" --principal arn:aws:iam::123456789012:role/dr/mint-dr-operator
[ "$RC" = 0 ] && [ "$(grep -c '^Permissions: all [0-9]* actions .* allowed for `arn:aws:iam::123456789012:role/dr/mint-dr-operator`' "$dir/check.out")" = 2 ] &&
  echo "  ok: --principal simulates the operator role for another caller" ||
  fail "--principal: exit $RC, or the operator role's permissions not simulated"
stop_proxy
only_reads "$dir" || fail "the healthy checks sent a mutating request"
if grep -q '^drkit_plan_ready{plan="mint-replica-regional-failover"} 1$' "$dir/drkit.prom" &&
  tail -n 1 "$dir/drkit.prom" | grep -q '^# EOF$'; then
  echo "  ok: OpenMetrics written ($(grep -c '^drkit_step_ready' "$dir/drkit.prom") step samples)"
else
  fail "the metrics file is not as expected"
  cat "$dir/drkit.prom"
fi
[ -s "$dir/mint-replica-regional-failover.readiness.json" ] ||
  fail "--journal kept no result"

broken storage s3-replication -- \
  boto s3 us-east-1 "c.delete_bucket_replication(Bucket='mint-replica-primary')"
broken iam restore-dr-role-policy -- \
  boto iam us-east-1 "
for p in c.list_role_policies(RoleName='mint-replica-dr-role')['PolicyNames']:
    c.delete_role_policy(RoleName='mint-replica-dr-role', PolicyName=p)
for p in c.list_attached_role_policies(RoleName='mint-replica-dr-role')['AttachedPolicies']:
    c.detach_role_policy(RoleName='mint-replica-dr-role', PolicyArn=p['PolicyArn'])
c.delete_role(RoleName='mint-replica-dr-role')"
broken compute scale-standby-nodes -- \
  boto eks us-west-2 "c.delete_nodegroup(clusterName='mint-replica-standby', nodegroupName='primary-nodes')"
broken permissions safety-snapshot -- operator rds:CreateDBClusterSnapshot
vault_down() { export MINT_VAULT_ADDR=http://127.0.0.1:$(free_port); }
broken vault vault-unseal -- vault_down
export MINT_VAULT_ADDR=$DRKIT_TEST_VAULT_SEALED_ADDR
arc_missing() { export MINT_ARC_CONTROL_USW2=${MINT_ARC_CONTROL_USW2}-deleted; }
broken dns dns-arc-preflight --mode ungraceful --impaired-region us-east-1 -- arc_missing

echo
echo "readiness-drill: $failures failure(s) in $(( $(date +%s) - started ))s; files in $work"
[ "$failures" = 0 ]
