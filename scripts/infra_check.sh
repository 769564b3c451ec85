#!/usr/bin/env bash
# Checks the deployment infrastructure in infra/, offline: the SAM template (cfn-lint on it and
# on its plain-CloudFormation transform, checkov, again with report pages on), the CDK app (`cdk
# synth` without building the Rust binaries, with cdk-nag's AwsSolutions checks; again with
# approvals and report pages on), the template tests, which read both synthesized templates,
# parliament (an IAM policy linter) over every policy of both templates, and every event rule
# of both against the sample events on moto's EventBridge. Installs what it needs itself,
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
# The CDK app synthesized again with its options on (approval-handler, the report pages'
# bucket), outside the repository.
CDK_OPTIONS_OUT="$WORK_DIR/cdk.out.options"
APPROVAL_KEY="/chainlink-remediator/demo/approval-key"
# The SAM template with ReportPages on by default, for checkov (below).
SAM_REPORT_PAGES="$WORK_DIR/sam-report-pages.yaml"

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
# is checked in a copy of the template whose ReportPages defaults to "true".
checkov_sam_report_pages() {
  sed '/^  ReportPages:$/,/^    Default:/ s/^    Default: "false"$/    Default: "true"/' "$SAM_TEMPLATE" >"$SAM_REPORT_PAGES" \
    && ! cmp -s "$SAM_TEMPLATE" "$SAM_REPORT_PAGES" \
    && grep -q '^  ReportPagesBucket:$' "$SAM_REPORT_PAGES" \
    && "$INFRA_VENV/bin/checkov" -f "$SAM_REPORT_PAGES" --framework cloudformation --compact --quiet --skip-download
}

cdk_synth() (
  cd "$CDK_DIR" \
    && rm -rf cdk.out dist \
    && node_modules/.bin/tsc -p . \
    && node_modules/.bin/cdk synth --quiet --no-notices -c skipBundling=true
)

# cdk-nag sees approval-handler and the report pages' bucket only in a synthesis with them on.
cdk_synth_options() (
  cd "$CDK_DIR" \
    && rm -rf "$CDK_OPTIONS_OUT" \
    && node_modules/.bin/cdk synth --quiet --no-notices -c skipBundling=true \
      -c approvalKeyParameter="$APPROVAL_KEY" -c reportPages=true -o "$CDK_OPTIONS_OUT"
)

template_tests() (
  cd "$CDK_DIR" \
    && SAM_TRANSFORMED_TEMPLATE="$SAM_TRANSFORMED" node --test dist/test/templates.test.js
)

# parliament over every policy of both templates (the SAM one also with its optional parameters
# set), and of the CDK app's with approvals and report pages on; each finding it may report is
# justified in infra/iam-lint-allowed.toml.
iam_lint() {
  "$INFRA_VENV/bin/python" scripts/iam_lint.py --resolver "$CDK_DIR/dist/test/resolve.js" \
    --allowed infra/iam-lint-allowed.toml \
    --template "sam=$SAM_TRANSFORMED" \
    --template "cdk=$CDK_DIR/cdk.out/ChainlinkRemediator-demo.template.json" \
    --template "cdk-options=$CDK_OPTIONS_OUT/ChainlinkRemediator-demo.template.json"
}

# Every rule's pattern of both templates against every sample event, with moto's real
# EventBridge matcher (PutRule + SQS targets + PutEvents), on a moto server of its own.
eventbridge_check() (
  ensure_moto && start_moto || return 1
  "$MOTO_VENV/bin/python" scripts/eventbridge_check.py --endpoint "$AWS_ENDPOINT_URL" \
    --resolver "$CDK_DIR/dist/test/resolve.js" \
    --template "sam=$SAM_TRANSFORMED" \
    --template "cdk=$CDK_DIR/cdk.out/ChainlinkRemediator-demo.template.json"
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
run_check "checkov infra/sam/template.yaml with ReportPages on (the report pages' bucket)" checkov_sam_report_pages
add_counts "$(grep -o 'Passed checks: [0-9]*, Failed checks: [0-9]*, Skipped checks: [0-9]*' "$LAST_LOG" || true)"
run_check "cdk synth (bundling skipped, cdk-nag AwsSolutions)" cdk_synth
run_check "cdk synth with approvals and report pages on (cdk-nag AwsSolutions)" cdk_synth_options
run_check "template tests (CDK and SAM templates)" template_tests
add_counts "$(awk '/^# pass /{p=$3} /^# fail /{f=$3} END{if (p != "") printf "%d passed, %d failed", p, f}' "$LAST_LOG")"
run_check "parliament (IAM policy linter) over every policy of both templates" iam_lint
add_counts "$(sed -n 's/^iam-lint: //p' "$LAST_LOG")"
run_check "EventBridge rules of both templates against every sample event (moto's matcher)" eventbridge_check
add_counts "$(grep -o '[0-9]* samples x [0-9]* templates, [0-9]* failed' "$LAST_LOG" || true)"

printf '%s\n' "${summary[@]}"
echo "infra: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
