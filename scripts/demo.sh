#!/usr/bin/env bash
# The demo: starts a local AWS emulator, seeds a drifted `demo` Chainlink stack, shows the plan
# and the flow check, applies it, shows that nothing is left to do; then breaks a node parameter
# the way the origin article describes and shows it rolled back; then fires a CPU alarm on the
# node and shows it resized, once; then fires the database's free-storage alarm and shows its
# storage grown by the stack file's step; then makes its class change wait for approval, approves
# it, and shows a second use refused; and stops the emulator.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$REPO_ROOT"

ensure_rust_tools
ensure_moto
# The same package selection as the tests (`cargo test --workspace --all-targets`) and the
# runtime test: one build of the AWS SDK crates serves all three (a narrower `-p shared --bin`
# resolves other features and compiles the SDK again).
log "building remediator (the first build compiles the AWS SDK: about 20-25 minutes on 2 cores)"
cargo build --quiet --workspace --all-targets
REMEDIATOR="$CARGO_TARGET_DIR/debug/remediator"

start_moto
trap stop_moto EXIT
log "emulator listening at $AWS_ENDPOINT_URL"

log "seeding a drifted demo stack"
"$MOTO_VENV/bin/python" scripts/seed_demo.py

step() { printf '\n\033[1;36m### %s\033[0m\n$ %s\n' "$1" "${*:2}"; }

step "1. Plan: what is wrong and what apply would do (changes nothing)" remediator plan --stack samples/stack.toml
"$REMEDIATOR" plan --stack samples/stack.toml

step "2. Apply: authorize first, then revoke (make before break)" remediator apply --stack samples/stack.toml
"$REMEDIATOR" apply --stack samples/stack.toml || true

step "3. Plan again: nothing left to do" remediator plan --stack samples/stack.toml
"$REMEDIATOR" plan --stack samples/stack.toml

step "4. A bad parameter change: production pointed at the dev database" python3 scripts/break_demo_parameters.py
"$MOTO_VENV/bin/python" scripts/break_demo_parameters.py

step "5. The parameter function receives the Parameter Store change event" remediator handle --stack samples/stack.toml --event samples/events/ssm-parameter-update.json
"$REMEDIATOR" handle --stack samples/stack.toml --event samples/events/ssm-parameter-update.json || true

step "6. Validate again: the last good value is back, as a new version" remediator validate --stack samples/stack.toml
"$REMEDIATOR" validate --stack samples/stack.toml

NODE=$("$MOTO_VENV/bin/python" -c '
import boto3
found = boto3.client("ec2").describe_instances(Filters=[{"Name": "tag:chainlink:role", "Values": ["node"]}])
print(found["Reservations"][0]["Instances"][0]["InstanceId"])')
ALARM="$CACHE_DIR/demo-alarm-cpu.json"
step "7. The node's CPU alarm fires (the remediator re-reads the alarm and its metric before acting)" python3 scripts/fire_demo_alarm.py
"$MOTO_VENV/bin/python" scripts/fire_demo_alarm.py samples/events/alarm-eventbridge-cpu.json "$ALARM" "$NODE"

step "8. A CPU alarm on the node ($NODE): the plan for it" remediator plan --stack samples/stack.toml --event alarm-eventbridge-cpu.json
"$REMEDIATOR" plan --stack samples/stack.toml --event "$ALARM"

step "9. The instance function resizes it one step up its ladder: stop, change, start" remediator handle --stack samples/stack.toml --event alarm-eventbridge-cpu.json
"$REMEDIATOR" handle --stack samples/stack.toml --event "$ALARM" || true

step "10. The same alarm delivered again (EventBridge delivers at least once): nothing happens" remediator handle --stack samples/stack.toml --event alarm-eventbridge-cpu.json
"$REMEDIATOR" handle --stack samples/stack.toml --event "$ALARM" || true

DB_ALARM="$CACHE_DIR/demo-alarm-rds-free-storage.json"
step "11. The database's free-storage alarm fires" python3 scripts/fire_demo_alarm.py alarm-eventbridge-rds-free-storage.json
"$MOTO_VENV/bin/python" scripts/fire_demo_alarm.py samples/events/alarm-eventbridge-rds-free-storage.json "$DB_ALARM"

step "12. Its plan: one ModifyDBInstance, re-checked against the instance just before it is sent" remediator plan --stack samples/stack.toml --event alarm-eventbridge-rds-free-storage.json
"$REMEDIATOR" plan --stack samples/stack.toml --event "$DB_ALARM"

step "13. The instance function grows the database's storage by the stack file's step, once, applied immediately" remediator handle --stack samples/stack.toml --event alarm-eventbridge-rds-free-storage.json
"$REMEDIATOR" handle --stack samples/stack.toml --event "$DB_ALARM" || true

# Approvals: the same stack file, its database class changes waiting for a person (and no
# cooldown: the demo's steps are seconds apart, and the storage grew in step 13).
APPROVALS_STACK="$CACHE_DIR/demo-stack-approvals.toml"
{ sed 's/^cooldown_minutes = 60 /cooldown_minutes = 0  /' samples/stack.toml; printf '\n[approvals]\nkey_parameter = "/chainlink-remediator/demo/approval-key"\nrequire = ["scale_class"]\nvalid_for_minutes = 30\n'; } > "$APPROVALS_STACK"
"$MOTO_VENV/bin/python" -c '
import base64, boto3, os
boto3.client("ssm").put_parameter(Name="/chainlink-remediator/demo/approval-key", Type="SecureString",
    Value=base64.b64encode(os.urandom(48)).decode(), Overwrite=True)'
DB_CPU_ALARM="$CACHE_DIR/demo-alarm-rds-cpu.json"
step "14. With [approvals] require = [\"scale_class\"]: the database's CPU alarm fires" python3 scripts/fire_demo_alarm.py alarm-eventbridge-rds-cpu.json
"$MOTO_VENV/bin/python" scripts/fire_demo_alarm.py samples/events/alarm-eventbridge-rds-cpu.json "$DB_CPU_ALARM"

step "15. The class change waits for a person: nothing changes, the report carries an approve and a deny link (here bare tokens: no handler URL)" remediator handle --stack demo-stack-approvals.toml --event alarm-eventbridge-rds-cpu.json
WAITING=$("$REMEDIATOR" handle --stack "$APPROVALS_STACK" --event "$DB_CPU_ALARM" || true)
printf '%s\n' "$WAITING"
APPROVE=$(printf '%s\n' "$WAITING" | sed -n 's/^    approve: //p' | head -1)

step "16. A person approves: the token is verified, the alarm and database re-read, the plan re-made, and applied because it is the one approved" 'remediator decide --stack demo-stack-approvals.toml "<approve token>"'
"$REMEDIATOR" decide --stack "$APPROVALS_STACK" "$APPROVE" || true

step "17. The same approval again: refused, an approval acts once" 'remediator decide --stack demo-stack-approvals.toml "<approve token>"'
"$REMEDIATOR" decide --stack "$APPROVALS_STACK" "$APPROVE" || true

cat <<'NOTE'

The node-db flow stays BLOCKED: the data subnet's network ACL denies Postgres from the app
subnet. The flow check traces and reports ACLs but never changes them (they belong to whoever
owns the network); fix it there. The legacy bastion group is outside the stack and was left alone.
No secret value appeared above: parameter values stay in memory, URLs are shown without passwords.
NOTE
