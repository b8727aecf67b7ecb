#!/usr/bin/env bash
# The dark-region drill (issue "Region loss"): the Mint Replica Lite runbook
# (examples/runbooks/mint-replica.toml) with us-east-1 dark. Every AWS request goes through
# drkit-testkit's fault proxy, which holds forever every request signed for us-east-1's
# regional services (Route 53, CloudFront, IAM and STS sign for us-east-1 and pass, as they are
# global), answers the Route 53 ARC cluster's requests from its fake cluster, and counts the
# requests by the region of their signature.
#
# 1. ungraceful: `drkit run --mode ungraceful --impaired-region us-east-1` must exit 0 in
#    under 2 minutes, send nothing to us-east-1's regional services, leave the secondary Aurora
#    cluster a standalone writer, the standby node group scaled, the ARC routing controls
#    pointing at us-west-2, and a report with the RTO verdicts and every skipped step's reason;
# 2. reprotect and fail back, on the world part 1 left, us-east-1 answering again:
#    examples/runbooks/mint-replica-failback.toml must exit 0, and the world must have its
#    original shape again (the shape read before the outage: the global database's writer and
#    secondary Regions, S3 replication's directions, the ARC routing controls, CloudFront's
#    origin, the standby node group's size);
# 3. graceful meets the dark region: `drkit run` (graceful) must fail naming the region and
#    the way out, then `drkit resume JOURNAL --mode ungraceful --impaired-region us-east-1`
#    must finish the recovery (exit 0).
# The graceful run with every region answering is README's main job (scripts/mint-drill.sh).
#
#   bash tests/region-drill.sh
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
# A dark region costs a step the SDK's time-outs per attempt: short ones, as the fault drill's.
export DRKIT_AWS_CONNECT_TIMEOUT=${DRKIT_AWS_CONNECT_TIMEOUT:-2s}
export DRKIT_AWS_ATTEMPT_TIMEOUT=${DRKIT_AWS_ATTEMPT_TIMEOUT:-3s}
export DRKIT_AWS_OPERATION_TIMEOUT=${DRKIT_AWS_OPERATION_TIMEOUT:-8s}
UNGRACEFUL_BOUND=${REGION_DRILL_BOUND:-120}

work=$(mktemp -d "${TMPDIR:-/tmp}/region-drill.XXXXXX")
trap 'stop_proxy; stop_peers' EXIT

drill_peers

failures=0
fail() {
  failures=$((failures + 1))
  echo "  FAILED: $*"
}

# dark_world DIR: a fresh world, and the proxy with us-east-1 dark and the fake ARC cluster.
dark_world() {
  fresh_world "$1"
  start_proxy "$1" --rate 0 --dark-region us-east-1 "${ARC_ARGS[@]}"
  export MINT_ARC_ENDPOINT=$PROXY_URL
}

# run_drkit DIR BOUND ARGS...: drkit through the proxy; sets RC and TOOK (seconds).
run_drkit() {
  local dir=$1 bound=$2 t0
  shift 2
  t0=$(date +%s.%N)
  RC=0
  AWS_ENDPOINT_URL=$PROXY_URL timeout --signal=TERM --kill-after=10 "$bound" \
    "$drkit" "$@" --auto-approve --report "$dir/report.md" --incident-start 10m \
    >>"$dir/run.out" 2>>"$dir/run.err" || RC=$?
  TOOK=$(python3 -c "import time; print(f'{time.time() - $t0:.1f}')")
}

# check_world DIR: the recovered world, read from moto directly (not through the dark proxy)
# and from the fake ARC cluster; prints one line per fact and exits 1 if one does not hold.
check_world() {
  "$MOTO_VENV/bin/python" - "$MOTO" "$PROXY_URL" <<'PY'
import json, sys, urllib.request
import boto3
moto, proxy = sys.argv[1], sys.argv[2]
def client(service, region):
    return boto3.client(service, region_name=region, endpoint_url=moto,
                        aws_access_key_id="test", aws_secret_access_key="test")
ok = True
def fact(holds, text):
    global ok
    ok = ok and holds
    print(f"  {'ok' if holds else 'FAILED'}: {text}")
rds = client("rds", "us-west-2")
c = rds.describe_db_clusters(DBClusterIdentifier="mint-replica-cluster")["DBClusters"][0]
writers = [m["DBInstanceIdentifier"] for m in c["DBClusterMembers"] if m["IsClusterWriter"]]
members = [m["DBClusterArn"] for g in rds.describe_global_clusters()["GlobalClusters"]
           for m in g["GlobalClusterMembers"]]
fact(c["DBClusterArn"] not in members and c["Status"] == "available" and len(writers) == 1,
     f"mint-replica-cluster is a standalone writer (writer {writers}, status {c['Status']}, "
     f"global members now {members})")
ng = client("eks", "us-west-2").describe_nodegroup(
    clusterName="mint-replica-standby", nodegroupName="primary-nodes")["nodegroup"]
fact(ng["scalingConfig"]["desiredSize"] == 4,
     f"node group primary-nodes scaled to {ng['scalingConfig']}")
states = json.load(urllib.request.urlopen(proxy + "/__fake-arc/states", timeout=10))
use1 = next(v for k, v in states.items() if k.endswith("/use1"))
usw2 = next(v for k, v in states.items() if k.endswith("/usw2"))
fact(use1 == "Off" and usw2 == "On", f"ARC routing controls: use1 {use1}, usw2 {usw2} (DNS to us-west-2)")
sys.exit(0 if ok else 1)
PY
}

# shape: the world's shape, read from moto directly and from the running proxy's fake ARC
# cluster, as JSON: what the failback must restore (Regions and directions, not names).
shape() {
  "$MOTO_VENV/bin/python" - "$MOTO" "$PROXY_URL" <<'PY'
import json, sys, urllib.request
import boto3
moto, arc = sys.argv[1], sys.argv[2]
def client(service, region):
    return boto3.client(service, region_name=region, endpoint_url=moto,
                        aws_access_key_id="test", aws_secret_access_key="test")
s3 = client("s3", "us-east-1")
def replication(bucket):
    try:
        rules = s3.get_bucket_replication(Bucket=bucket)["ReplicationConfiguration"]["Rules"]
    except s3.exceptions.ClientError:
        return []
    return sorted(r["Destination"]["Bucket"].split(":")[-1] for r in rules if r["Status"] == "Enabled")
dist = client("cloudfront", "us-east-1").list_distributions()["DistributionList"]["Items"][0]
config = client("cloudfront", "us-east-1").get_distribution_config(Id=dist["Id"])["DistributionConfig"]
ng = client("eks", "us-west-2").describe_nodegroup(
    clusterName="mint-replica-standby", nodegroupName="primary-nodes")["nodegroup"]
states = json.load(urllib.request.urlopen(arc + "/__fake-arc/states", timeout=10))
print(json.dumps({
    "global databases": {
        g["GlobalClusterIdentifier"]: sorted(
            ("writer" if m["IsWriter"] else "secondary") + " in " + m["DBClusterArn"].split(":")[3]
            for m in g["GlobalClusterMembers"])
        for g in client("rds", "us-east-1").describe_global_clusters()["GlobalClusters"]},
    "S3 replication": {b: replication(b) for b in ("mint-replica-primary", "mint-replica-dr")},
    "ARC routing controls": {k.rsplit("/", 1)[-1]: v for k, v in sorted(states.items())},
    "CloudFront origin": config["DefaultCacheBehavior"]["TargetOriginId"],
    "standby node group": ng["scalingConfig"],
}, indent=1, sort_keys=True))
PY
}

# no_request_to_us_east_1 DIR: the proxy's counts show no request signed for a regional
# service in us-east-1, and nothing held.
no_request_to_us_east_1() {
  python3 - "$1/proxy.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
glob = {"route53", "cloudfront", "iam", "sts"}
east = {k: v for k, v in s["by_region"].items()
        if k.startswith("us-east-1/") and k.split("/", 1)[1] not in glob}
print(f"  requests by region/service: {s['by_region']}")
print(f"  regional requests to us-east-1: {east or 'none'}; held by the dark region: {s['dark']}")
sys.exit(1 if east or s["dark"] else 0)
PY
}

echo
log "1. ungraceful: drkit run --mode ungraceful --impaired-region us-east-1, us-east-1 dark"
dir=$work/ungraceful
mkdir -p "$dir"
dark_world "$dir"
shape >"$dir/shape-before.json"
run_drkit "$dir" "$UNGRACEFUL_BOUND" run "$RUNBOOK" --mode ungraceful \
  --impaired-region us-east-1 --journal "$dir/journal"
echo "ungraceful run: exit $RC in ${TOOK}s (bound ${UNGRACEFUL_BOUND}s)"
[ "$RC" = 0 ] || { fail "exit $RC"; tail -n 30 "$dir/run.out" "$dir/run.err"; }
python3 -c "import sys; sys.exit(0 if float('$TOOK') < 120 else 1)" ||
  fail "took ${TOOK}s, not under 2 minutes"
check_world || fail "the recovered world is not as expected"
stop_proxy
no_request_to_us_east_1 "$dir" || fail "a request went to us-east-1's regional services"
# The report: the RTO verdicts, and every skipped step with its reason.
for want in "RTO" "| s3-replication | non-critical | s3 | skipped: region us-east-1 impaired |" \
  "| db-primary-before | critical | rds | skipped: not run in ungraceful mode" \
  "| db-switchover | critical | rds | skipped: not run in ungraceful mode" \
  "| dns-failover | critical | route53 | skipped: not run in ungraceful mode" \
  "| db-detach | critical | rds | succeeded |" "| dns-arc | critical | arc | succeeded |"; do
  grep -qF -- "$want" "$dir/report.md" && echo "  ok: report has \"$want\"" ||
    fail "the report lacks \"$want\""
done
if grep -qE '^\| critical \([0-9]+ steps\) \| 1h \| [^|]* \| met \|' "$dir/report.md"; then
  grep -E '^\| (critical|non-critical|full) \(' "$dir/report.md" | sed 's/^/  RTO: /'
else
  fail "the report has no RTO verdict \"met\" for the critical tier"
fi

echo
log "2. us-east-1 answers again: reprotect, then a planned failback (mint-replica-failback.toml)"
failback=$work/ungraceful/failback
mkdir -p "$failback"
# Each proxy holds its own fake ARC cluster: this one starts where the outage left it.
start_proxy "$failback" --rate 0 --arc-control "$MINT_ARC_CONTROL_USE1=Off" \
  --arc-control "$MINT_ARC_CONTROL_USW2=On"
export MINT_ARC_ENDPOINT=$PROXY_URL
run_drkit "$failback" 300 run examples/runbooks/mint-replica-failback.toml \
  --journal "$failback/journal"
echo "failback run: exit $RC in ${TOOK}s"
[ "$RC" = 0 ] || { fail "the failback run: exit $RC"; tail -n 30 "$failback/run.out" "$failback/run.err"; }
shape >"$failback/shape-after.json"
stop_proxy
if diff -u "$dir/shape-before.json" "$failback/shape-after.json" >"$failback/shape.diff"; then
  echo "  ok: the world has its original shape again:"
  tr -d '\n' <"$failback/shape-after.json" | tr -s ' ' | fold -w 160 | sed 's/^/    /'
  echo
else
  fail "the world's shape after the failback differs from before the outage:"
  cat "$failback/shape.diff"
fi
# The stale old primary is kept, standalone, for forensics (its unreplicated writes).
"$MOTO_VENV/bin/python" - "$MOTO" <<'PY' || fail "the old us-east-1 primary is not kept standalone"
import sys, boto3
rds = boto3.client("rds", region_name="us-east-1", endpoint_url=sys.argv[1],
                   aws_access_key_id="test", aws_secret_access_key="test")
old = rds.describe_db_clusters(DBClusterIdentifier="mint-replica-east")["DBClusters"][0]
members = [m["DBClusterArn"] for g in rds.describe_global_clusters()["GlobalClusters"]
           for m in g["GlobalClusterMembers"]]
kept = old["DBClusterArn"] not in members
print(f"  {'ok' if kept else 'FAILED'}: the old primary mint-replica-east is kept standalone "
      f"({old['Status']}); the global database's members: {members}")
sys.exit(0 if kept else 1)
PY

echo
log "3. graceful meets the dark region, then resumed in ungraceful mode"
dir=$work/graceful-then-ungraceful
mkdir -p "$dir"
dark_world "$dir"
# A bound per step instead of the runbook's 30 minutes: a graceful step whose region is dark
# fails after its retries, each bounded by the SDK's time-outs (DRKIT_AWS_*).
sed -e 's/^timeout = "[0-9]*[smh]"/timeout = "60s"/' -e 's/max_attempts = 5/max_attempts = 2/' \
  "$RUNBOOK" >"$work/graceful.toml"
run_drkit "$dir" 300 run "$work/graceful.toml" --journal "$dir/journal"
first_rc=$RC first_took=$TOOK
echo "graceful run: exit $RC in ${TOOK}s"
[ "$RC" = 1 ] || fail "the graceful run should fail (exit 1), got $RC"
if grep -qF -- "--mode ungraceful --impaired-region us-east-1" "$dir/run.out" "$dir/run.err" "$dir/report.md"; then
  echo "  ok: the failure names the region and the way out"
  grep -hoF -- "no answer from us-east-1; if us-east-1 is down, go on without it" "$dir/report.md" | head -1 | sed 's/^/  said: /'
else
  fail "the graceful failure does not say --mode ungraceful --impaired-region us-east-1"
fi
journal=$(ls "$dir"/journal/*.journal.jsonl | head -1)
run_drkit "$dir" 300 resume "$journal" --mode ungraceful --impaired-region us-east-1
echo "resumed ungraceful: exit $RC in ${TOOK}s"
[ "$RC" = 0 ] || { fail "the ungraceful resume: exit $RC"; tail -n 30 "$dir/run.out" "$dir/run.err"; }
check_world || fail "the world after the resume is not as expected"
stop_proxy

echo
echo "region-drill: ungraceful, failback, graceful-then-resumed: $([ "$failures" = 0 ] && echo passed || echo "$failures FAILED") (graceful part failed in ${first_took}s with exit $first_rc as expected); total $(( $(date +%s) - started ))s; files in $work"
[ "$failures" = 0 ]
