#!/usr/bin/env python3
"""Every IAM policy of the deployment templates through parliament, an offline IAM policy
linter that knows each action's resource types and condition keys (from the Service
Authorization Reference): no finding, or each one justified in infra/iam-lint-allowed.toml.

    iam_lint.py --resolver dist/test/resolve.js --allowed infra/iam-lint-allowed.toml \
        --template sam=sam-transformed.json --template cdk=ChainlinkRemediator-demo.template.json

Policies: each role's inline policies, AWS::IAM::Policy and AWS::IAM::ManagedPolicy documents
(what the functions may do), each role's trust policy, and the resource policies of the topic,
queue, report-page bucket and keys. Templates are read as deployed (the template tests' own
resolver, infra/cdk/test/resolve.ts, compiled) with their defaults; the SAM template also with
every optional parameter set (an existing topic and its key, the SSM key, the stack file in
Parameter Store, the node's instance role, the approval key, report pages), and with the
approval key alone, so both branches of its conditions are linted. What the
resolver leaves symbolic becomes a plausible value: pseudo parameters an example account and
region, a reference to a resource of the template the ARN (or name) that resource would have.

A finding is allowed by an entry with the same `issue` whose `template`, `policy` (`<resource
id>/<policy>`), `sid` (the statement) and `detail` (parliament's text) patterns, shell-style and
each optional, all match it; an entry that matched nothing fails the check too, so the list
stays true. Last line:
`iam-lint: N policies, N findings, N allowed, N failed`.
"""

import argparse
import fnmatch
import json
import pathlib
import re
import subprocess
import sys
import tomllib

from parliament import analyze_policy_string, enhance_finding

RESOLVE = (
    "const { resolveTemplate } = require(process.argv[1]);"
    "const fs = require('fs');"
    "const template = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));"
    "process.stdout.write(JSON.stringify(resolveTemplate(template, JSON.parse(process.argv[3]))));"
)

PARTITION, REGION, ACCOUNT = "aws", "us-east-1", "123456789012"
KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"

# Every optional SAM parameter set: the other branch of each condition.
SAM_OPTIONS = {
    "NotificationTopicArn": f"arn:{PARTITION}:sns:{REGION}:{ACCOUNT}:ops-reports",
    "NotificationTopicKmsKeyArn": f"arn:{PARTITION}:kms:{REGION}:{ACCOUNT}:key/{KEY_ID}",
    "SsmKmsKeyArn": f"arn:{PARTITION}:kms:{REGION}:{ACCOUNT}:key/{KEY_ID}",
    "LogKmsKeyArn": f"arn:{PARTITION}:kms:{REGION}:{ACCOUNT}:key/{KEY_ID}",
    "StackFileSource": "ssm",
    "NodeInstanceRoleArn": f"arn:{PARTITION}:iam::{ACCOUNT}:role/chainlink-node",
    "CreateAlarms": "true",
    "AutoScalingGroupName": "demo-nodes",
    "ApprovalKeyParameter": "/chainlink-remediator/demo/approval-key",
    "ReportPages": "true",
}
# Approvals with the AWS-managed SSM key (the options above give a key of their own): the other
# branch of the approval key's kms:Decrypt.
SAM_APPROVALS = {"ApprovalKeyParameter": SAM_OPTIONS["ApprovalKeyParameter"]}

# Severities parliament's own CLI shows by default (it hides INFO and MUTE).
SHOWN = ("LOW", "MEDIUM", "HIGH", "CRITICAL")


def resolved(resolver, path, overrides):
    out = subprocess.run(
        ["node", "-e", RESOLVE, str(pathlib.Path(resolver).resolve()), path, json.dumps(overrides)],
        check=True, capture_output=True, text=True,
    )
    return json.loads(out.stdout)


class Concrete:
    """Turns what the resolver left symbolic into values a deployment would have."""

    def __init__(self, resources):
        self.resources = resources

    def arn(self, logical_id):
        kind = self.resources.get(logical_id, {}).get("Type")
        region = f"{PARTITION}:%s:{REGION}:{ACCOUNT}"
        arns = {
            "AWS::SQS::Queue": f"arn:{region % 'sqs'}:{logical_id}",
            "AWS::SNS::Topic": f"arn:{region % 'sns'}:{logical_id}",
            "AWS::Logs::LogGroup": f"arn:{region % 'logs'}:log-group:{logical_id}:*",
            "AWS::KMS::Key": f"arn:{region % 'kms'}:key/{KEY_ID}",
            "AWS::Lambda::Function": f"arn:{region % 'lambda'}:function:{logical_id}",
            "AWS::IAM::Role": f"arn:{PARTITION}:iam::{ACCOUNT}:role/{logical_id}",
            "AWS::Events::Rule": f"arn:{region % 'events'}:rule/{logical_id}",
            "AWS::S3::Bucket": f"arn:{PARTITION}:s3:::{logical_id.lower()}",
        }
        if kind not in arns:
            raise ValueError(f"no ARN known for {logical_id} ({kind}): extend iam_lint.py")
        return arns[kind]

    def ref(self, logical_id):
        if logical_id.startswith("AWS::"):
            return self.text(f"<{logical_id}>")
        kind = self.resources.get(logical_id, {}).get("Type")
        if kind in ("AWS::SNS::Topic",):
            return self.arn(logical_id)
        if kind == "AWS::KMS::Key":
            return KEY_ID
        if kind == "AWS::SQS::Queue":
            return f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{logical_id}"
        if kind is None:
            raise ValueError(f"a reference to {logical_id}, which is not a resource of the template")
        if kind == "AWS::S3::Bucket":
            return logical_id.lower()  # bucket names are lower case
        return logical_id  # names: documents, log groups, functions, roles

    def attribute(self, logical_id, attribute):
        if attribute == "Arn":
            return self.arn(logical_id)
        if attribute == "QueueName":
            return logical_id
        raise ValueError(f"no value known for {logical_id}.{attribute}: extend iam_lint.py")

    def text(self, text):
        text = (text.replace("<AWS::Partition>", PARTITION).replace("<AWS::Region>", REGION)
                .replace("<AWS::AccountId>", ACCOUNT).replace("<AWS::URLSuffix>", "amazonaws.com")
                .replace("<AWS::StackName>", "ChainlinkRemediator-demo"))

        # The CDK's Fn::Join keeps a resource reference as embedded JSON, SAM's Fn::Sub as ${Id}.
        def embedded(match):
            return self.value(json.loads(match.group(0)))

        text = re.sub(r'\{"(?:Ref|Fn::GetAtt)":(?:"[^"]*"|\[[^\]]*\])\}', embedded, text)
        text = re.sub(r"\$\{([A-Za-z0-9]+)\.([A-Za-z]+)\}", lambda m: self.attribute(m.group(1), m.group(2)), text)
        text = re.sub(r"\$\{([A-Za-z0-9]+)\}", lambda m: self.ref(m.group(1)), text)
        if re.search(r"<AWS::|\$\{|\{\"", text):
            raise ValueError(f"left symbolic: {text}")
        return text

    def value(self, node):
        if isinstance(node, str):
            return self.text(node)
        if isinstance(node, list):
            return [self.value(item) for item in node]
        if isinstance(node, dict):
            if set(node) == {"Ref"}:
                return self.ref(node["Ref"])
            if set(node) == {"Fn::GetAtt"}:
                target = node["Fn::GetAtt"]
                target = target.split(".", 1) if isinstance(target, str) else target
                return self.attribute(*target)
            if len(node) == 1 and next(iter(node)).startswith("Fn::"):
                raise ValueError(f"an intrinsic the resolver left: {json.dumps(node)}")
            return {key: self.value(item) for key, item in node.items()}
        return node


def policies(template):
    """(`<resource id>/<policy>`, document) of every policy of the template."""
    for logical_id, resource in template["Resources"].items():
        kind, props = resource["Type"], resource.get("Properties", {})
        if kind == "AWS::IAM::Role":
            yield f"{logical_id}/trust", props["AssumeRolePolicyDocument"]
            for policy in props.get("Policies", []):
                yield f"{logical_id}/{policy['PolicyName']}", policy["PolicyDocument"]
        elif kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            yield f"{logical_id}/policy", props["PolicyDocument"]
        elif kind in ("AWS::SNS::TopicPolicy", "AWS::SQS::QueuePolicy", "AWS::S3::BucketPolicy"):
            yield f"{logical_id}/policy", props["PolicyDocument"]
        elif kind == "AWS::KMS::Key":
            yield f"{logical_id}/key-policy", props["KeyPolicy"]
        elif "PolicyDocument" in props or "Policy" in props:
            raise ValueError(f"{logical_id} ({kind}) has a policy this check does not read: extend it")


def load_allowed(path):
    with open(path, "rb") as f:
        entries = tomllib.load(f).get("allowed", [])
    for entry in entries:
        if not entry.get("issue") or not str(entry.get("reason", "")).strip():
            raise ValueError(f"{path}: every entry needs an issue and a reason: {entry}")
    return entries


def statement_at(document, text, line):
    """The Sid (or `#<index>`) of the statement a finding's line is in: `text` is `document` as
    dumped here, one statement opening per line `  {`."""
    starts = [n for n, content in enumerate(text.splitlines(), start=1) if content == "  {"]
    before = [i for i, start in enumerate(starts) if start <= line]
    statements = document.get("Statement", [])
    statements = statements if isinstance(statements, list) else [statements]
    if not before or len(starts) != len(statements):
        return "?"
    index = before[-1]
    return statements[index].get("Sid") or f"#{index}"


def matches(entry, found):
    """Whether an allow-list entry covers a finding: the same issue, and every pattern the entry
    gives (`template`, `policy`, `sid`, `detail`; shell-style) matches."""
    return entry["issue"] == found["issue"] and all(
        fnmatch.fnmatchcase(found[key], entry[key]) for key in ("template", "policy", "sid", "detail") if key in entry
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--resolver", required=True, help="infra/cdk's compiled test/resolve.js")
    parser.add_argument("--allowed", required=True, help="infra/iam-lint-allowed.toml")
    parser.add_argument("--template", action="append", required=True, metavar="NAME=PATH")
    args = parser.parse_args()
    allowed = load_allowed(args.allowed)
    used = [0] * len(allowed)
    counted = {"policies": 0, "findings": 0, "allowed": 0, "failed": 0}
    for spec in args.template:
        name, path = spec.split("=", 1)
        raw = json.loads(pathlib.Path(path).read_text())
        variants = [("defaults", {})]
        if name == "sam":
            variants += [("options", SAM_OPTIONS), ("approvals", SAM_APPROVALS)]
        seen = set()
        for variant, overrides in variants:
            template = resolved(args.resolver, path, overrides)
            concrete = Concrete(template["Resources"])
            for policy_name, document in policies(template):
                document = concrete.value(document)
                text = json.dumps(document, indent=1, sort_keys=True)
                if (policy_name, text) in seen:
                    continue  # the same policy in both variants
                seen.add((policy_name, text))
                counted["policies"] += 1
                for finding in map(enhance_finding, analyze_policy_string(text).findings):
                    if finding.severity not in SHOWN:
                        continue
                    counted["findings"] += 1
                    sid = statement_at(document, text, finding.location.get("line", 0))
                    found = {"issue": finding.issue, "template": name, "policy": policy_name, "sid": sid,
                             "detail": str(finding.detail)}
                    where = f"{name} ({variant}) {policy_name} {sid}"
                    hits = [i for i, entry in enumerate(allowed) if matches(entry, found)]
                    for i in hits:
                        used[i] += 1
                    if hits:
                        counted["allowed"] += 1
                        print(f"allowed  {where}: {finding.issue}")
                    else:
                        counted["failed"] += 1
                        print(f"FINDING  {where}: {finding.issue} ({finding.severity}) {finding.title}: "
                              f"{finding.detail}")
    for entry, count in zip(allowed, used):
        if count == 0:
            counted["failed"] += 1
            print(f"UNUSED   {args.allowed}: the entry for {entry['issue']} ({entry.get('policy', '*')} "
                  f"{entry.get('sid', '*')}) matched no finding: remove it")
    print(f"iam-lint: {counted['policies']} policies, {counted['findings']} findings, "
          f"{counted['allowed']} allowed, {counted['failed']} failed")
    return 1 if counted["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
