#!/usr/bin/env bash
# Checks the deployment infrastructure in infra/, offline: the SAM template (cfn-lint on it and
# on its plain-CloudFormation transform, checkov, again with report pages and an organisation
# on), the member template of an organisation (cfn-lint, checkov), the CDK app (`cdk synth`
# without building the Rust binaries, with cdk-nag's AwsSolutions checks; again with approvals,
# report pages and an organisation on), the template tests, which read both synthesized
# templates and the member template, parliament (an IAM policy linter) over every policy of
# all three, and every event rule of the central templates against the sample events on moto's
# EventBridge. Installs what it needs itself,
# pinned, under the cache directory (a virtualenv for the Python tools; `npm ci` into
# infra/cdk/node_modules) and reuses it when already there. Prints one line per check and a
# closing "infra: N passed, N failed".
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$REPO_ROOT"

CFN_LINT_VERSION="1.58.0"
CHECKOV_VERSION="3.3.30"
PARLIAMENT_VERSION="1.6.4"
SAM_TRANSLATOR_VERSION="1.115.0"
# (scripts/runtime_test.sh reuses this virtualenv for the SAM translator: keep "-samt-<version>" last.)
INFRA_VENV="$CACHE_DIR/infra-cfnlint-$CFN_LINT_VERSION-checkov-$CHECKOV_VERSION-parliament-$PARLIAMENT_VERSION-samt-$SAM_TRANSLATOR_VERSION"
WORK_DIR="$CACHE_DIR/infra-check"
CDK_DIR="$REPO_ROOT/infra/cdk"
SAM_TEMPLATE="infra/sam/template.yaml"
SAM_TRANSFORMED="$WORK_DIR/sam-transformed.json"
MEMBER_TEMPLATE="infra/member/template.yaml"
# The CDK app synthesized again with its options on (approval-handler, the report pages'
# bucket, an organisation), outside the repository.
CDK_OPTIONS_OUT="$WORK_DIR/cdk.out.options"
APPROVAL_KEY="/chainlink-remediator/demo/approval-key"
ORGANIZATION_ID="o-exampleorgid1"
# The SAM template with ReportPages and OrganizationId on by default, for checkov (below).
SAM_REPORT_PAGES="$WORK_DIR/sam-report-pages.yaml"
# The SAM transform with OrganizationId on by default, and the member template as JSON with
# example values for its required parameters and its role created (below): what parliament
# and the EventBridge check read as deployed.
SAM_ORGANIZATION="$WORK_DIR/sam-organization.json"
MEMBER_LINTED="$WORK_DIR/member-linted.json"

# Nothing here may reach for the network: no CLI notices, version checks or telemetry.
export CDK_DISABLE_VERSION_CHECK=true CDK_DISABLE_CLI_TELEMETRY=true
export BC_SKIP_MAPPING=TRUE CHECKOV_SKIP_DOWNLOAD=true
export npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false

ensure_infra_python_tools() {
  if "$INFRA_VENV/bin/python" -c "import cfnlint, checkov, samtranslator, parliament" 2>/dev/null; then
    return 0
  fi
  log "installing cfn-lint==$CFN_LINT_VERSION checkov==$CHECKOV_VERSION parliament==$PARLIAMENT_VERSION aws-sam-translator==$SAM_TRANSLATOR_VERSION into $INFRA_VENV"
  rm -rf "$INFRA_VENV"
  python3 -m venv "$INFRA_VENV"
  "$INFRA_VENV/bin/pip" install --quiet --disable-pip-version-check \
    "cfn-lint==$CFN_LINT_VERSION" "checkov==$CHECKOV_VERSION" "parliament==$PARLIAMENT_VERSION" \
    "aws-sam-translator==$SAM_TRANSLATOR_VERSION"
}

# `npm ci` wipes node_modules every time: skip it while the installed lockfile is the current one.
ensure_cdk_modules() {
  command -v npm >/dev/null || { echo "npm is required for the CDK app (Node.js 20)" >&2; exit 1; }
  local stamp="$CDK_DIR/node_modules/.installed-lock.sha256" want
  want="$(sha256sum "$CDK_DIR/package-lock.json" | cut -d' ' -f1)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$CDK_DIR/node_modules/.bin/cdk" ]; then
    return 0
  fi
  log "npm ci in infra/cdk"
  (cd "$CDK_DIR" && npm ci --loglevel=error)
  echo "$want" >"$stamp"
}

passed=0
failed=0
summary=()
LAST_LOG=""
# run_check NAME COMMAND...: runs the command with its output in a log, records one line.
run_check() {
  local name="$1"
  shift
  local start=$SECONDS
  LAST_LOG="$WORK_DIR/$(printf '%s' "$name" | tr -c 'a-zA-Z0-9' '-').log"
  log "$name"
  if "$@" >"$LAST_LOG" 2>&1; then
    passed=$((passed + 1))
    summary+=("PASS  $name ($((SECONDS - start))s)")
  else
    failed=$((failed + 1))
    summary+=("FAIL  $name ($((SECONDS - start))s), log: $LAST_LOG")
    tail -n 40 "$LAST_LOG" >&2
  fi
}

# Appends what the last check counted to its summary line.
add_counts() {
  [ -n "$1" ] && summary[-1]="${summary[-1]}: $1"
  return 0
}

cfn_lint_sam() { "$INFRA_VENV/bin/cfn-lint" "$SAM_TEMPLATE"; }

# (The checks run as `if` conditions, where `set -e` is off: each chains its steps with &&.)
cfn_lint_transformed() {
  "$INFRA_VENV/bin/python" infra/sam/transform.py "$SAM_TEMPLATE" "$SAM_TRANSFORMED" \
    && "$INFRA_VENV/bin/cfn-lint" "$SAM_TRANSFORMED"
}

# Every skip is in the template, on its resource, with its reason (Metadata checkov skip).
checkov_sam() {
  "$INFRA_VENV/bin/checkov" -f "$SAM_TEMPLATE" --framework cloudformation --compact --quiet --skip-download
}

# checkov evaluates a resource's Condition with the parameters' defaults where it can, and
# skips the resource when it is false: the report pages' bucket (ReportPages, default "false")
# and the organisation's queues, bus and rules (OrganizationId, default "") are checked in a
# copy of the template whose ReportPages defaults to "true" and OrganizationId to an example.
checkov_sam_report_pages() {
  sed -e '/^  ReportPages:$/,/^    Default:/ s/^    Default: "false"$/    Default: "true"/' \
    -e "/^  OrganizationId:\$/,/^    Default:/ s/^    Default: \"\"\$/    Default: \"$ORGANIZATION_ID\"/" \
    "$SAM_TEMPLATE" >"$SAM_REPORT_PAGES" \
    && grep -q '^    Default: "true"$' "$SAM_REPORT_PAGES" \
    && grep -q "^    Default: \"$ORGANIZATION_ID\"\$" "$SAM_REPORT_PAGES" \
    && grep -q '^  ReportPagesBucket:$' "$SAM_REPORT_PAGES" \
    && "$INFRA_VENV/bin/checkov" -f "$SAM_REPORT_PAGES" --framework cloudformation --compact --quiet --skip-download
}

cfn_lint_member() { "$INFRA_VENV/bin/cfn-lint" "$MEMBER_TEMPLATE"; }

checkov_member() {
  "$INFRA_VENV/bin/checkov" -f "$MEMBER_TEMPLATE" --framework cloudformation --compact --quiet --skip-download
}

# What parliament and the EventBridge check read as deployed, which the resolver they share
# reads with the parameters' defaults: the SAM transform with OrganizationId set, and the member
# template (YAML read by cfn-lint's CloudFormation decoder) with example values for its
# required parameters and the stack instance of RoleRegion's condition true (the resolver
# knows no AWS::Region), so that its role and policies are there.
organization_templates() {
  "$INFRA_VENV/bin/python" - "$SAM_TRANSFORMED" "$SAM_ORGANIZATION" "$MEMBER_TEMPLATE" "$MEMBER_LINTED" "$ORGANIZATION_ID" <<'PYTHON'
import json, sys
from cfnlint.decode import cfn_yaml

sam, sam_out, member, member_out, organization = sys.argv[1:]
template = json.load(open(sam))
template["Parameters"]["OrganizationId"]["Default"] = organization
json.dump(template, open(sam_out, "w"))

template = json.loads(json.dumps(cfn_yaml.load(member)))
examples = {
    "CentralEventBusArn": "arn:aws:events:us-east-1:123456789012:event-bus/ChainlinkRemediator-demo-members",
    "GuardRoleArns": ",".join(f"arn:aws:iam::123456789012:role/demo-{role}GuardRole"
                              for role in ("SecurityGroup", "Parameter", "Instance")),
    "StackVpcIds": "vpc-0a1b2c3d4e5f60718",
    "LadderInstanceTypes": "m6i.large,m6i.xlarge,m6i.2xlarge",
    "NodeInstanceRoleName": "chainlink-node",
}
for name, value in examples.items():
    template["Parameters"][name]["Default"] = value
assert template["Conditions"]["RoleHere"] == {"Fn::Equals": [{"Ref": "AWS::Region"}, {"Ref": "RoleRegion"}]}
template["Conditions"]["RoleHere"] = True
json.dump(template, open(member_out, "w"))
PYTHON
}

cdk_synth() (
  cd "$CDK_DIR" \
    && rm -rf cdk.out dist \
    && node_modules/.bin/tsc -p . \
    && node_modules/.bin/cdk synth --quiet --no-notices -c skipBundling=true
)

# cdk-nag sees approval-handler, the report pages' bucket and the organisation's queues and
# bus only in a synthesis with them on.
cdk_synth_options() (
  cd "$CDK_DIR" \
    && rm -rf "$CDK_OPTIONS_OUT" \
    && node_modules/.bin/cdk synth --quiet --no-notices -c skipBundling=true \
      -c approvalKeyParameter="$APPROVAL_KEY" -c reportPages=true -c organizationId="$ORGANIZATION_ID" \
      -o "$CDK_OPTIONS_OUT"
)

template_tests() (
  cd "$CDK_DIR" \
    && SAM_TRANSFORMED_TEMPLATE="$SAM_TRANSFORMED" node --test dist/test/templates.test.js
)

# parliament over every policy of both templates (the SAM one also with its optional parameters
# set, and with an organisation), of the CDK app's with approvals, report pages and an
# organisation on, and of the member template; each finding it may report is justified in
# infra/iam-lint-allowed.toml.
iam_lint() {
  organization_templates \
    && "$INFRA_VENV/bin/python" scripts/iam_lint.py --resolver "$CDK_DIR/dist/test/resolve.js" \
      --allowed infra/iam-lint-allowed.toml \
      --template "sam=$SAM_TRANSFORMED" \
      --template "sam-organization=$SAM_ORGANIZATION" \
      --template "cdk=$CDK_DIR/cdk.out/ChainlinkRemediator-demo.template.json" \
      --template "cdk-options=$CDK_OPTIONS_OUT/ChainlinkRemediator-demo.template.json" \
      --template "member=$MEMBER_LINTED"
}

# Every rule's pattern of both templates against every sample event, with moto's real
# EventBridge matcher (PutRule + SQS targets + PutEvents), on a moto server of its own; again
# with an organisation on, whose rules on the members' bus must route each sample as the
# default bus's do. (The member template's rules have the same patterns: the template tests.)
eventbridge_check() (
  { ensure_moto && organization_templates && start_moto; } || return 1
  "$MOTO_VENV/bin/python" scripts/eventbridge_check.py --endpoint "$AWS_ENDPOINT_URL" \
    --resolver "$CDK_DIR/dist/test/resolve.js" \
    --template "sam=$SAM_TRANSFORMED" \
    --template "cdk=$CDK_DIR/cdk.out/ChainlinkRemediator-demo.template.json" \
    --template "sam-organization=$SAM_ORGANIZATION" \
    --template "cdk-options=$CDK_OPTIONS_OUT/ChainlinkRemediator-demo.template.json"
  local status=$?
  stop_moto
  return "$status"
)

mkdir -p "$WORK_DIR"
rm -f "$SAM_TRANSFORMED"
ensure_infra_python_tools
ensure_cdk_modules

run_check "cfn-lint infra/sam/template.yaml" cfn_lint_sam
run_check "cfn-lint of the SAM template transformed to CloudFormation" cfn_lint_transformed
run_check "checkov infra/sam/template.yaml" checkov_sam
add_counts "$(grep -o 'Passed checks: [0-9]*, Failed checks: [0-9]*, Skipped checks: [0-9]*' "$LAST_LOG" || true)"
run_check "checkov infra/sam/template.yaml with ReportPages and OrganizationId on (the bucket, the organisation's queues and bus)" checkov_sam_report_pages
add_counts "$(grep -o 'Passed checks: [0-9]*, Failed checks: [0-9]*, Skipped checks: [0-9]*' "$LAST_LOG" || true)"
run_check "cfn-lint infra/member/template.yaml" cfn_lint_member
run_check "checkov infra/member/template.yaml" checkov_member
add_counts "$(grep -o 'Passed checks: [0-9]*, Failed checks: [0-9]*, Skipped checks: [0-9]*' "$LAST_LOG" || true)"
run_check "cdk synth (bundling skipped, cdk-nag AwsSolutions)" cdk_synth
run_check "cdk synth with approvals, report pages and an organisation on (cdk-nag AwsSolutions)" cdk_synth_options
run_check "template tests (CDK, SAM and member templates)" template_tests
add_counts "$(awk '/^# pass /{p=$3} /^# fail /{f=$3} END{if (p != "") printf "%d passed, %d failed", p, f}' "$LAST_LOG")"
run_check "parliament (IAM policy linter) over every policy of the central and member templates" iam_lint
add_counts "$(sed -n 's/^iam-lint: //p' "$LAST_LOG")"
run_check "EventBridge rules of both templates, also with an organisation, against every sample event (moto's matcher)" eventbridge_check
add_counts "$(grep -o '[0-9]* samples x [0-9]* templates, [0-9]* failed' "$LAST_LOG" || true)"

printf '%s\n' "${summary[@]}"
echo "infra: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
