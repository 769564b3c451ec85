#!/usr/bin/env python3
"""Every EventBridge rule of the deployment templates, matched against every sample event by a
real EventBridge matcher: each sample must reach exactly the function(s) that handle it.

moto's TestEventPattern is a stub, but a rule created with PutRule and an SQS target runs its
matcher on every PutEvents. So: one rule per event pattern of each template (the SAM template
transformed to CloudFormation, the CDK app's synthesized one), each with its own queue; every
sample with an EventBridge envelope is put on the bus; the queues say which rules matched.

    eventbridge_check.py --endpoint URL --resolver dist/test/resolve.js \
        --template sam=sam-transformed.json --template cdk=ChainlinkRemediator-demo.template.json

Templates are read as deployed with their defaults (stack "demo"), with the template tests' own
resolver (infra/cdk/test/resolve.ts, compiled), so both checks read the same patterns.
"""

import argparse
import json
import pathlib
import subprocess
import sys

import boto3

ROOT = pathlib.Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples" / "events"

# How the template tests tell the functions apart: by their descriptions.
FUNCTIONS = {
    "security-group-guard": "security-group drift",
    "parameter-guard": "node parameters",
    "instance-guard": "CloudWatch alarms",
}

SG, PARAMETERS, INSTANCES = "security-group-guard", "parameter-guard", "instance-guard"
# Where each sample with an EventBridge envelope must go; an empty set: to no function (a kind
# none of them handles, or one their rules filter out). A new sample must be added here.
EXPECTED = {
    "alarm-configuration-change.json": set(),
    "alarm-eventbridge-cpu.json": {INSTANCES},
    "alarm-eventbridge-group-cpu.json": {INSTANCES},
    "alarm-eventbridge-ok.json": set(),
    # The database's alarms go where the instances' do: instance-guard re-reads them and
    # remediates the stack's DB instance.
    "alarm-eventbridge-rds-cpu.json": {INSTANCES},
    "alarm-eventbridge-rds-free-storage.json": {INSTANCES},
    "alarm-eventbridge-status-check.json": {INSTANCES},
    "cloudtrail-authorize-egress.json": {SG},
    "cloudtrail-authorize-ingress-by-name.json": {SG},
    "cloudtrail-authorize-ingress.json": {SG},
    "cloudtrail-create-group.json": {SG},
    # The rule cannot see that the call failed; the function says so and does nothing.
    "cloudtrail-failed-call.json": {SG},
    "cloudtrail-modify-rules.json": {SG},
    "cloudtrail-revoke-egress.json": {SG},
    "cloudtrail-revoke-ingress-by-rule-id.json": {SG},
    "cloudtrail-revoke-ingress.json": {SG},
    "cloudtrail-s3-put-bucket-policy.json": set(),
    "config-rules-compliance-change.json": set(),
    "config-security-group-change.json": {SG},
    "config-security-group-oversized.json": {SG},
    # Schedules reach the functions through schedule rules, which have no pattern.
    "schedule.json": set(),
    "ssm-parameter-create.json": {PARAMETERS},
    "ssm-parameter-delete.json": {PARAMETERS},
    "ssm-parameter-label.json": {PARAMETERS},
    "ssm-parameter-policy-expiration-notification.json": {PARAMETERS},
    "ssm-parameter-policy-expiration.json": {PARAMETERS},
    "ssm-parameter-update.json": {PARAMETERS},
    "ssm-run-command-invocation-status.json": set(),
}

RESOLVE = (
    "const { resolveTemplate } = require(process.argv[1]);"
    "const fs = require('fs');"
    "const template = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));"
    "process.stdout.write(JSON.stringify(resolveTemplate(template)));"
)


def resolved(resolver: str, path: str) -> dict:
    out = subprocess.run(
        ["node", "-e", RESOLVE, str(pathlib.Path(resolver).resolve()), path],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout)


def rules_of(template: dict) -> list[tuple[str, dict, set[str]]]:
    """(rule id, event pattern, functions it targets) of every rule with a pattern."""
    resources = template["Resources"]
    by_id = {}
    for name, words in FUNCTIONS.items():
        found = [
            rid
            for rid, r in resources.items()
            if r["Type"] == "AWS::Lambda::Function"
            and words in str(r.get("Properties", {}).get("Description", ""))
        ]
        if len(found) != 1:
            raise SystemExit(f"expected one function described with {words!r}, found {found}")
        by_id[found[0]] = name
    rules = []
    for rid, r in resources.items():
        props = r.get("Properties", {})
        if r["Type"] != "AWS::Events::Rule" or "EventPattern" not in props:
            continue
        pattern = props["EventPattern"]
        text = json.dumps(pattern)
        if '"Ref"' in text or '"Fn::' in text:
            raise SystemExit(f"{rid}: the pattern is not resolved: {text}")
        targets = set()
        for target in props.get("Targets", []):
            arn = target.get("Arn")
            fn = arn.get("Fn::GetAtt", [None])[0] if isinstance(arn, dict) else None
            if fn not in by_id:
                raise SystemExit(f"{rid}: a target that is not one of the functions: {arn}")
            targets.add(by_id[fn])
        rules.append((rid, pattern, targets))
    return rules


def envelope_samples() -> dict[str, dict]:
    """Every sample that arrives as an EventBridge event (not SNS, not an alarm's direct action)."""
    samples = {}
    for path in sorted(SAMPLES.glob("*.json")):
        event = json.loads(path.read_text())
        if "detail-type" in event:
            samples[path.name] = event
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", required=True, help="the moto server")
    parser.add_argument("--resolver", required=True, help="infra/cdk's compiled test/resolve.js")
    parser.add_argument("--template", action="append", required=True, help="NAME=PATH")
    args = parser.parse_args()

    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )
    events = session.client("events", endpoint_url=args.endpoint)
    sqs = session.client("sqs", endpoint_url=args.endpoint)

    samples = envelope_samples()
    missing = sorted(set(samples) - set(EXPECTED))
    stale = sorted(set(EXPECTED) - set(samples))
    if missing or stale:
        print(f"EXPECTED is out of date: samples not in it {missing}, entries without a sample {stale}")
        return 1

    # (template, rule id) -> (queue URL, functions the rule targets)
    queues = {}
    for spec in args.template:
        name, _, path = spec.partition("=")
        rules = rules_of(resolved(args.resolver, path))
        if not rules:
            print(f"{name}: no EventBridge rule with a pattern in {path}")
            return 1
        for n, (rid, pattern, targets) in enumerate(rules):
            rule = f"{name}-{n}-{rid}"[:64]
            url = sqs.create_queue(QueueName=f"{name}-{n}")["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
            events.put_rule(Name=rule, EventPattern=json.dumps(pattern), State="ENABLED")
            events.put_targets(
                Rule=rule, Targets=[{"Id": "queue", "Arn": arn["Attributes"]["QueueArn"]}]
            )
            queues[(name, rid)] = (url, targets)

    sent = {}
    for sample, event in samples.items():
        answer = events.put_events(
            Entries=[
                {
                    "Time": event["time"],
                    "Source": event["source"],
                    "DetailType": event["detail-type"],
                    "Detail": json.dumps(event["detail"]),
                    "Resources": event.get("resources", []),
                }
            ]
        )
        entry = answer["Entries"][0]
        if "EventId" not in entry:
            print(f"{sample}: PutEvents refused it: {entry}")
            return 1
        sent[entry["EventId"]] = sample

    # template -> sample -> functions it reached
    reached = {name: {sample: set() for sample in samples} for name, _ in queues}
    for (name, rid), (url, targets) in queues.items():
        while True:
            batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
            if not batch:
                break
            for message in batch:
                sample = sent[json.loads(message["Body"])["id"]]
                reached[name][sample] |= targets
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])

    failures = 0
    for name, by_sample in reached.items():
        for sample, functions in by_sample.items():
            want = EXPECTED[sample]
            ok = functions == want
            failures += not ok
            print(
                f"{'ok  ' if ok else 'FAIL'} {name}: {sample} -> {sorted(functions) or 'no function'}"
                + ("" if ok else f" (expected {sorted(want) or 'no function'})")
            )
    print(f"eventbridge: {len(samples)} samples x {len(reached)} templates, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
