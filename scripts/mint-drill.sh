#!/usr/bin/env bash
# The whole Mint Replica Lite recovery, on a fresh machine and without an AWS account: starts a
# local AWS emulator (moto server, with drkit's fake of the Aurora global-database operations
# it lacks), PostgreSQL, OpenBao (one server sealed, for drkit to unseal; one with a transit
# engine), drkit-testkit's fake Kubernetes API server (no real one can run here; with the
# standby node group's nodes, scripts/lib/mint-env.sh) and its fake Route 53 ARC cluster (moto
# has none), creates the "production" world in them
# (examples/mint_world.rs), then validates, plans and runs examples/runbooks/mint-replica.toml
# with drkit and prints the report. Exit code: drkit's (0 success, 1 the run failed, 2 bad
# input, 3 interrupted), or 1 when a step recorded an output its action does not declare.
#
#   bash scripts/mint-drill.sh
#
# The journal and the report stay in the directory printed at the end (`drkit report` reads it).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/peers.sh
source scripts/lib/peers.sh
# shellcheck source=scripts/lib/mint-env.sh
source scripts/lib/mint-env.sh
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$DRKIT_CACHE/target}
trap stop_peers EXIT

RUNBOOK=examples/runbooks/mint-replica.toml
work=$(mktemp -d "${TMPDIR:-/tmp}/mint-drill.XXXXXX")

log "building drkit, mint_world and the test peers' binaries (the first build on a machine takes minutes)"
build_binaries

start_moto
start_postgres
start_openbao_pair
start_fake_kube
start_arc
start_status_page

# The standard AWS variables: drkit and the example read them exactly as against real AWS.
export AWS_ENDPOINT_URL=$DRKIT_TEST_AWS_ENDPOINT
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-west-2
unset AWS_PROFILE AWS_SESSION_TOKEN

# What the runbook reads (`${env.NAME}` and `env:` secret references).
mint_env

drkit=$CARGO_TARGET_DIR/debug/drkit

"$CARGO_TARGET_DIR/debug/examples/mint_world" --env-out "$work/world.env"
# shellcheck source=/dev/null
source "$work/world.env"

# The DR team's inbox: a queue subscribed to the notice topic, read after the run.
"$MOTO_VENV/bin/python" - "$DRKIT_TEST_AWS_ENDPOINT" "$MINT_DR_TOPIC_ARN" <<'PY'
import sys, boto3
moto, arn = sys.argv[1], sys.argv[2]
kw = dict(region_name="us-west-2", endpoint_url=moto,
          aws_access_key_id="test", aws_secret_access_key="test")
sqs, sns = boto3.client("sqs", **kw), boto3.client("sns", **kw)
url = sqs.create_queue(QueueName="mint-dr-team-inbox")["QueueUrl"]
queue = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=queue)
PY

echo
"$drkit" validate "$RUNBOOK"
echo
"$drkit" plan "$RUNBOOK"
echo
rc=0
"$drkit" run "$RUNBOOK" --auto-approve --journal "$work/journal" --report "$work/report.md" \
  --incident-start 10m >"$work/run.out" || rc=$?
echo
if [ -s "$work/report.md" ]; then
  cat "$work/report.md"
else
  cat "$work/run.out"
fi
echo
echo "drkit run exited $rc; journal in $work/journal, report $work/report.md"

# Every output a step recorded must be one its action declares (`drkit actions`): the
# declarations are what `${steps.<id>.outputs.<name>}` references and the docs rely on.
"$drkit" actions --output json >"$work/actions.json"
if ! python3 - "$work/actions.json" "$work"/journal/*.journal.jsonl <<'PY'
import json, sys
declared = {a["kind"]: {o["name"] for o in a["outputs"]} for a in json.load(open(sys.argv[1]))}
# A kind whose outputs are named by its parameters (`<field>` of a custom step) declares a
# placeholder: any name is its own.
open_ended = {k for k, names in declared.items() if any(n.startswith("<") for n in names)}
kinds, bad = {}, []
for line in open(sys.argv[2]):
    r = json.loads(line)
    if r.get("event") == "step_started":
        kinds[r["step"]] = r.get("kind")
    outputs = r.get("outputs") or {}
    kind = kinds.get(r.get("step"))
    if kind in declared and kind not in open_ended:
        extra = sorted(set(outputs) - declared[kind])
        if extra:
            bad.append(f"{r['step']} ({kind}): {', '.join(extra)}")
for b in sorted(set(bad)):
    print(f"undeclared output: {b}", file=sys.stderr)
print(f"outputs checked against the actions' declarations: {len(kinds)} steps, "
      f"{len(set(bad))} with undeclared outputs")
sys.exit(1 if bad else 0)
PY
then
  [ "$rc" = 0 ] && rc=1
fi

# The DR team's notice: what the queue subscribed to the topic (before the run) received.
if ! "$MOTO_VENV/bin/python" - "$DRKIT_TEST_AWS_ENDPOINT" "$MINT_DR_TOPIC_ARN" <<'PY'
import json, sys, boto3
moto, arn = sys.argv[1], sys.argv[2]
sqs = boto3.client("sqs", region_name="us-west-2", endpoint_url=moto,
                   aws_access_key_id="test", aws_secret_access_key="test")
url = sqs.get_queue_url(QueueName="mint-dr-team-inbox")["QueueUrl"]
got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
notes = [json.loads(m["Body"]) for m in got]
ok = len(notes) == 1 and notes[0].get("Subject") == "Mint Replica: DR failover to us-west-2 started"
print(f"DR team notice: {len(notes)} message(s) delivered from {arn}: "
      + ("as planned" if ok else f"NOT as planned: {notes}"))
sys.exit(0 if ok else 1)
PY
then
  [ "$rc" = 0 ] && rc=1
fi

# The communication plan: what the status-page API received. One incident opened (POST, with
# an Idempotency-Key, status degraded) and updated once (PATCH, status monitoring), every
# request with the right token.
if ! python3 - "$STATUSPAGE_LOG" <<'PY'
import json, sys
got = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
posts = [r for r in got if r["method"] == "POST"]
patches = [r for r in got if r["method"] == "PATCH"]
problems = []
if len(posts) != 1 or (posts[0]["body"] or {}).get("status") != "degraded":
    problems.append(f"expected one POST with status degraded, got {posts}")
elif not posts[0]["idempotency_key"]:
    problems.append("the POST had no Idempotency-Key")
if len(patches) != 1 or patches[0]["path"] != "/api/v1/incidents/inc-1" \
        or (patches[0]["body"] or {}).get("status") != "monitoring":
    problems.append(f"expected one PATCH of inc-1 with status monitoring, got {patches}")
if not all(r["authorized"] for r in got):
    problems.append("a request came without the status-page token")
for p in problems:
    print(f"status page: {p}", file=sys.stderr)
print(f"status page: {len(got)} requests received ({len(posts)} POST, {len(patches)} PATCH): "
      + ("as planned" if not problems else "NOT as planned"))
sys.exit(1 if problems else 0)
PY
then
  [ "$rc" = 0 ] && rc=1
fi
exit "$rc"
