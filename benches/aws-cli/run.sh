#!/usr/bin/env bash
# The aws-CLI vs drkit benchmark (issue #8): the seed's own aws-CLI commands, in the seed's
# order, against the Mint Replica world in a local AWS emulator (moto), timed; then the same
# operations as a drkit runbook (benches/aws-cli/equivalent.toml), timed; repeated, medians
# printed. Results, the seed's commands left out and why, caveats: docs/performance.md
# ("The seed's aws CLI commands vs `drkit run`").
#
#   bash benches/aws-cli/run.sh            # 5 repetitions of each side
#   REPS=3 bash benches/aws-cli/run.sh
#
# Three timed sides, each on a freshly reset world (moto `POST /moto-api/reset`, then
# examples/mint_world.rs; neither is timed), and the price of one near-empty aws command
# (cli-floor: 5 x `aws sts get-caller-identity`):
#   cli-ff     the seed's commands exactly as written (real names substituted), fire and forget:
#              each returns when AWS has accepted the request;
#   cli-wait   the same plus the waits the seed implies (`aws rds wait db-cluster-available`,
#              `aws eks wait nodegroup-active`, `aws route53 wait resource-record-sets-changed`,
#              the CloudFront invalidation polled until completed, the ACM validation record
#              and `aws acm wait certificate-validated`, ...);
#   drkit      `drkit run benches/aws-cli/equivalent.toml`: check, execute, wait, verify per step.
#
# Needs: python3 (the aws CLI v1 from PyPI goes into the git-ignored .venv-awscli, moto into
# .venv-emu, as scripts/lib/peers.sh does), a Rust toolchain (builds drkit and mint_world;
# DRKIT=/path/to/drkit and MINT_WORLD=/path/to/mint_world skip the build).
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=scripts/lib/peers.sh
source scripts/lib/peers.sh
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$DRKIT_CACHE/target}

REPS=${REPS:-5}
AWSCLI_VENV=${AWSCLI_VENV:-$DRKIT_ROOT/.venv-awscli}
AWSCLI_REQUIREMENT=${AWSCLI_REQUIREMENT:-awscli==1.46.*}
RUNBOOK=benches/aws-cli/equivalent.toml
work=$(mktemp -d "${TMPDIR:-/tmp}/aws-cli-bench.XXXXXX")
trap stop_peers EXIT

# --- tools -------------------------------------------------------------------------------------

if [ ! -x "$AWSCLI_VENV/bin/aws" ]; then
  log "installing $AWSCLI_REQUIREMENT into $AWSCLI_VENV"
  python3 -m venv "$AWSCLI_VENV"
  "$AWSCLI_VENV/bin/pip" install --quiet --disable-pip-version-check "$AWSCLI_REQUIREMENT"
fi
AWS_BIN=$AWSCLI_VENV/bin/aws

if [ -z "${DRKIT:-}" ] || [ -z "${MINT_WORLD:-}" ]; then
  log "building drkit and the mint_world example"
  cargo build --quiet -p drkit-cli --bin drkit
  cargo build --quiet -p drkit-examples --example mint_world
fi
DRKIT=${DRKIT:-$CARGO_TARGET_DIR/debug/drkit}
MINT_WORLD=${MINT_WORLD:-$CARGO_TARGET_DIR/debug/examples/mint_world}

start_moto
export AWS_ENDPOINT_URL=$DRKIT_TEST_AWS_ENDPOINT
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-west-2
export AWS_DEFAULT_REGION=us-west-2 AWS_PAGER="" AWS_CLI_AUTO_PROMPT=off
unset AWS_PROFILE AWS_SESSION_TOKEN

# --- the world -----------------------------------------------------------------------------------

reset_world() {
  python3 - "$AWS_ENDPOINT_URL/moto-api/reset" <<'PY'
import sys, urllib.request
urllib.request.urlopen(urllib.request.Request(sys.argv[1], method="POST"), timeout=30).read()
PY
  "$MINT_WORLD" --env-out "$work/world.env" >"$work/world.log"
  # shellcheck source=/dev/null
  source "$work/world.env"
  # The seed's ZONE_ID and DIST_ID are placeholders an operator fills in before the incident:
  # looked up here, untimed.
  ZONE_ID=$("$AWS_BIN" route53 list-hosted-zones-by-name --dns-name mintreplica.com \
    --query 'HostedZones[0].Id' --output text)
  ZONE_ID=${ZONE_ID#/hostedzone/}
}

# The seed's change batches (its dr-dns-changes.json and api-dns-changes.json), with the world's
# names: www. to the DR website bucket, api. to the DR API.
cat >"$work/dr-dns-changes.json" <<'JSON'
{"Comment": "Mint Replica Lite: web to the DR region", "Changes": [{"Action": "UPSERT",
 "ResourceRecordSet": {"Name": "www.mintreplica.com", "Type": "CNAME", "TTL": 60,
 "ResourceRecords": [{"Value": "mint-replica-dr.s3-website-us-west-2.amazonaws.com"}]}}]}
JSON
cat >"$work/api-dns-changes.json" <<'JSON'
{"Comment": "Mint Replica Lite: API to the DR region", "Changes": [{"Action": "UPSERT",
 "ResourceRecordSet": {"Name": "api.mintreplica.com", "Type": "CNAME", "TTL": 60,
 "ResourceRecords": [{"Value": "api-dr.mintreplica.com"}]}}]}
JSON

# --- timing --------------------------------------------------------------------------------------

# Wall-clock microseconds, and seconds between two of them (no process started: the timing of
# one command must not include a timer's start-up).
now() { local t=$EPOCHREALTIME; printf '%s' "${t/./}"; }
elapsed() { local us=$(($2 - $1)); printf '%d.%06d' $((us / 1000000)) $((us % 1000000)); }
# CPU time (user + system, clock ticks of 10 ms) of this shell's finished children — every aws
# command or drkit run — and of the moto server: a measure the machine's load does not inflate
# the way it inflates wall time.
children_cpu() { local f; read -r -a f </proc/$$/stat; echo $((f[15] + f[16])); }
moto_cpu() { local f; read -r -a f <"/proc/$MOTO_PID/stat"; echo $((f[13] + f[14])); }
ticks() { printf '%d.%02d' $(($1 / 100)) $(($1 % 100)); }

# c LABEL CMD...: runs one aws command, records label, exit code and seconds in $log_file;
# prints its standard output (for the ids the waits need). A failing command does not stop the
# sequence (a copy-pasted runbook goes on too); its exit code is recorded.
c() {
  local label=$1 start end rc=0
  shift
  start=$(now)
  "$AWS_BIN" "$@" >"$work/cmd.out" 2>"$work/cmd.err" || rc=$?
  end=$(now)
  printf '%s\t%s\t%s\n' "$label" "$rc" "$(elapsed "$start" "$end")" >>"$log_file"
  if [ "$rc" != 0 ]; then
    printf '%s\t%s\n' "$label" "$(head -c 300 "$work/cmd.err" | tr '\n' ' ')" >>"$work/errors.log"
  fi
  cat "$work/cmd.out"
}

# The seed's aws commands, in its order (docs/performance.md lists the ones left out and why).
# $1 = wait: also the waits the seed implies.
cli_sequence() {
  local wait=${1:-} out id arn name value
  # EKS: verify cluster status (the world's cluster; the seed names mint-replica-prod)
  c eks.describe-cluster eks describe-cluster --name mint-replica-standby >/dev/null
  # EKS: scale up standby node group
  c eks.update-nodegroup-config eks update-nodegroup-config --cluster-name mint-replica-standby \
    --nodegroup-name primary-nodes --scaling-config desiredSize=4 >/dev/null
  [ -n "$wait" ] && c wait.nodegroup-active eks wait nodegroup-active \
    --cluster-name mint-replica-standby --nodegroup-name primary-nodes >/dev/null
  # RDS: verify replication status, failover
  c rds.describe-db-instances rds describe-db-instances \
    --db-instance-identifier mint-replica-primary >/dev/null
  c rds.failover-db-cluster rds failover-db-cluster \
    --db-cluster-identifier mint-replica-cluster >/dev/null
  [ -n "$wait" ] && c wait.db-cluster-available rds wait db-cluster-available \
    --db-cluster-identifier mint-replica-cluster >/dev/null
  # RDS: point-in-time recovery. The seed's restore-db-instance-to-point-in-time of an Aurora
  # member at 2024-01-20 fails (moto: HTTP 500; AWS: Aurora instances are restored through
  # their cluster, and the time is outside the backup window): the cluster form, as drkit does.
  c rds.restore-db-cluster-to-point-in-time rds restore-db-cluster-to-point-in-time \
    --source-db-cluster-identifier mint-replica-cluster \
    --db-cluster-identifier mint-replica-restored --use-latest-restorable-time >/dev/null
  c rds.create-db-instance rds create-db-instance \
    --db-instance-identifier mint-replica-restored-instance-1 \
    --db-cluster-identifier mint-replica-restored --engine aurora-postgresql \
    --db-instance-class db.r6g.large >/dev/null
  if [ -n "$wait" ]; then
    c wait.db-cluster-available rds wait db-cluster-available \
      --db-cluster-identifier mint-replica-restored >/dev/null
    c wait.db-instance-available rds wait db-instance-available \
      --db-instance-identifier mint-replica-restored-instance-1 >/dev/null
  fi
  # ElastiCache: check, promote the replica
  c elasticache.describe-replication-groups elasticache describe-replication-groups \
    --replication-group-id mint-replica-cache >/dev/null
  c elasticache.modify-replication-group elasticache modify-replication-group \
    --replication-group-id mint-replica-cache --primary-cluster-id mint-replica-cache-002 >/dev/null
  [ -n "$wait" ] && c wait.replication-group-available elasticache wait \
    replication-group-available --replication-group-id mint-replica-cache >/dev/null
  # S3: verify replication, website on the replica bucket
  c s3api.get-bucket-replication s3api get-bucket-replication --bucket mint-replica-primary >/dev/null
  c s3.website s3 website s3://mint-replica-dr --index-document index.html >/dev/null
  # Route 53: DNS failover (www.)
  id=$(c route53.change-resource-record-sets route53 change-resource-record-sets \
    --hosted-zone-id "$ZONE_ID" --change-batch "file://$work/dr-dns-changes.json" \
    --query ChangeInfo.Id --output text)
  [ -n "$wait" ] && c wait.resource-record-sets-changed route53 wait \
    resource-record-sets-changed --id "${id#/change/}" >/dev/null
  # Database backup recovery: list available backups
  c rds.describe-db-snapshots rds describe-db-snapshots \
    --db-instance-identifier mint-replica-primary >/dev/null
  # Cross-region replication: verify replication lag
  c rds.describe-db-instances rds describe-db-instances \
    --db-instance-identifier mint-replica-replica >/dev/null
  # Web application: CDN invalidation
  id=$(c cloudfront.create-invalidation cloudfront create-invalidation \
    --distribution-id "$MINT_CDN_DISTRIBUTION" --paths "/*" --query Invalidation.Id --output text)
  # `aws cloudfront wait invalidation-completed` never ends against moto, which answers
  # `COMPLETED` where CloudFront answers `Completed` (the waiter gives up after 30 polls 20 s
  # apart, 10 minutes): the same poll, 20 s apart, with the status compared case-insensitively.
  if [ -n "$wait" ]; then
    for _ in $(seq 1 30); do
      out=$(c wait.invalidation-completed cloudfront get-invalidation \
        --distribution-id "$MINT_CDN_DISTRIBUTION" --id "$id" --query Invalidation.Status \
        --output text)
      [ "${out,,}" = completed ] && break
      sleep 20
    done
  fi
  # Mobile API: DNS (api.)
  id=$(c route53.change-resource-record-sets route53 change-resource-record-sets \
    --hosted-zone-id "$ZONE_ID" --change-batch "file://$work/api-dns-changes.json" \
    --query ChangeInfo.Id --output text)
  [ -n "$wait" ] && c wait.resource-record-sets-changed route53 wait \
    resource-record-sets-changed --id "${id#/change/}" >/dev/null
  # TLS: request the DR API's certificate
  arn=$(c acm.request-certificate acm request-certificate --domain-name api-dr.mintreplica.com \
    --validation-method DNS --query CertificateArn --output text)
  if [ -n "$wait" ]; then
    # DNS validation: the record ACM asks for must be written, else it is never issued.
    out=$(c acm.describe-certificate acm describe-certificate --certificate-arn "$arn" \
      --query 'Certificate.DomainValidationOptions[0].ResourceRecord.[Name,Value]' --output text)
    read -r name value <<<"$out"
    printf '{"Changes":[{"Action":"UPSERT","ResourceRecordSet":{"Name":"%s","Type":"CNAME","TTL":300,"ResourceRecords":[{"Value":"%s"}]}}]}' \
      "$name" "$value" >"$work/acm-validation.json"
    id=$(c route53.change-resource-record-sets route53 change-resource-record-sets \
      --hosted-zone-id "$ZONE_ID" --change-batch "file://$work/acm-validation.json" \
      --query ChangeInfo.Id --output text)
    c wait.resource-record-sets-changed route53 wait resource-record-sets-changed \
      --id "${id#/change/}" >/dev/null
    c wait.certificate-validated acm wait certificate-validated --certificate-arn "$arn" >/dev/null
  fi
  return 0
}

# --- the runs ------------------------------------------------------------------------------------

MINT_CDN_DISTRIBUTION=${MINT_CDN_DISTRIBUTION:-E000000000000} "$DRKIT" validate "$RUNBOOK" >&2
results=$work/results.tsv
: >"$results"
: >"$work/errors.log"
log "load average before: $(cut -d' ' -f1-3 /proc/loadavg); $REPS repetitions; work dir $work"
for rep in $(seq 1 "$REPS"); do
  for side in cli-floor cli-ff cli-wait drkit; do
    [ "$side" = cli-floor ] || reset_world
    log_file=$work/$side.$rep.tsv
    : >"$log_file"
    start=$(now)
    cpu0=$(children_cpu)
    moto0=$(moto_cpu)
    rc=0
    case $side in
      cli-floor)
        # The price of one aws command that does nearly nothing (moto's STS answers at once):
        # interpreter and botocore start-up, credentials, one HTTP round trip. 5 calls.
        for _ in 1 2 3 4 5; do
          c sts.get-caller-identity sts get-caller-identity >/dev/null
        done
        ;;
      cli-ff) cli_sequence ;;
      cli-wait) cli_sequence wait ;;
      drkit)
        rm -rf "$work/journal"
        "$DRKIT" -q run "$RUNBOOK" --journal "$work/journal" --report "$work/report.$rep.md" \
          >"$work/drkit.$rep.out" 2>&1 || rc=$?
        ;;
    esac
    end=$(now)
    secs=$(elapsed "$start" "$end")
    cpu=$(ticks $(($(children_cpu) - cpu0)))
    moto=$(ticks $(($(moto_cpu) - moto0)))
    failed=$(awk -F'\t' '$2 != 0' "$log_file" | wc -l)
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$side" "$rep" "$secs" "$rc" "$failed" "$cpu" "$moto" \
      >>"$results"
    log "rep $rep $side: ${secs}s wall, client CPU ${cpu}s, moto CPU ${moto}s (exit $rc, failed commands $failed)"
  done
done
log "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

# --- the summary ---------------------------------------------------------------------------------

python3 - "$work" "$REPS" <<'PY'
import csv, glob, os, statistics, sys
work, reps = sys.argv[1], int(sys.argv[2])
rows = list(csv.reader(open(os.path.join(work, "results.tsv")), delimiter="\t"))
med = {}
cpu, moto = {}, {}
for side in ("cli-ff", "cli-wait", "drkit"):
    times = [float(r[2]) for r in rows if r[0] == side]
    med[side] = statistics.median(times)
    cpu[side] = statistics.median(float(r[5]) for r in rows if r[0] == side)
    moto[side] = statistics.median(float(r[6]) for r in rows if r[0] == side)
    print(f"{side:9s} wall median {med[side]:7.2f} s   client CPU {cpu[side]:6.2f} s   "
          f"moto CPU {moto[side]:6.2f} s   runs: " + ", ".join(f"{t:.2f}" for t in times))
floor = [float(r[2]) / 5 for r in rows if r[0] == "cli-floor"]
floor_cpu = [float(r[5]) / 5 for r in rows if r[0] == "cli-floor"]
print(f"one near-empty aws command (sts get-caller-identity): wall {statistics.median(floor):.2f} s, "
      f"CPU {statistics.median(floor_cpu):.2f} s")
print()
print(f"ratio cli-ff / drkit   = {med['cli-ff'] / med['drkit']:.2f}")
print(f"ratio cli-wait / drkit = {med['cli-wait'] / med['drkit']:.2f}")
print(f"client CPU ratio cli-ff / drkit = {cpu['cli-ff'] / max(cpu['drkit'], 0.01):.1f}, "
      f"cli-wait / drkit = {cpu['cli-wait'] / max(cpu['drkit'], 0.01):.1f}")
for side in ("cli-ff", "cli-wait"):
    n = [sum(1 for _ in open(f)) for f in glob.glob(os.path.join(work, f"{side}.*.tsv"))]
    print(f"{side}: {statistics.median(n):.0f} aws commands per run")
for side in ("cli-ff", "cli-wait"):
    per = {}
    order = []
    for f in sorted(glob.glob(os.path.join(work, f"{side}.*.tsv"))):
        for label, rc, secs in csv.reader(open(f), delimiter="\t"):
            if label not in per:
                order.append(label)
            per.setdefault(label, []).append((float(secs), int(rc)))
    print(f"\n{side}: per command (median s over calls; exit codes seen)")
    for label in order:
        calls = per[label]
        print(f"  {label:42s} {statistics.median(s for s, _ in calls):6.2f}  "
              f"calls {len(calls):2d}  exit {sorted(set(rc for _, rc in calls))}")
errors = open(os.path.join(work, "errors.log")).read().strip()
if errors:
    print("\nfailed commands (first lines):")
    for line in sorted(set(errors.splitlines()))[:10]:
        print("  " + line)
PY
echo
echo "drkit: what each step did (last report): $work/report.$REPS.md"
grep -E '^\| [a-z0-9-]+ \| (critical|non-critical|full) \|' "$work/report.$REPS.md" || true
echo "work dir: $work"
