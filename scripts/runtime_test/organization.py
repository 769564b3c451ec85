"""An organisation on the real Lambda runtime path, for run.py.

The emulator's account stands for a member: its role `ChainlinkRemediatorMember` is created as
infra/member/template.yaml declares it, allowed exactly the actions of every policy the template
may attach to it (on `*`: moto enforces actions, not resources or conditions). security-group-guard
runs with an `[organization]` stack file naming that account and region and with
`TARGET_QUEUE_URL`, as the templates deploy it with `OrganizationId`:

- a schedule makes it fan out: one message on its FIFO queue, grouped by account and region;
- the message, read back from the queue and sent as Lambda's event source mapping delivers it,
  makes it assume the member role and repair the drift seeded meanwhile (SSH open to the world on
  the node group), its calls signed with the member role's session, not the function's key;
- the answer is the partial batch response, with nothing to deliver again.

So the function's grants for the organisation (sts:AssumeRole, sqs:SendMessage) are exercised
under IAM enforcement, and so is the member role's sufficiency for a security-group sweep.
"""
import base64
import json
import os
import re

import boto3
import yaml

import permissions

ROLE = "ChainlinkRemediatorMember"
ACCOUNT = "123456789012"
REGION = "us-east-1"


class _CloudFormationLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short tags (`!Ref x` is `{"Ref": x}`, `!If` is `{"Fn::If": …}`)."""


def _intrinsic(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {"Ref": value} if suffix == "Ref" else {f"Fn::{suffix}": value}


_CloudFormationLoader.add_multi_constructor("!", _intrinsic)


def member_role_actions(template_path):
    """Every action a policy of the member role may grant (both branches of each `Fn::If`)."""
    with open(template_path) as f:
        template = yaml.load(f, Loader=_CloudFormationLoader)
    resources = template["Resources"]
    roles = [r for r in resources.values()
             if r["Type"] == "AWS::IAM::Role" and r["Properties"].get("RoleName") == {"Ref": "MemberRoleName"}]
    if len(roles) != 1:
        raise permissions.TemplateError(f"{template_path}: not exactly one role named MemberRoleName")
    role = roles[0]["Properties"]
    actions = set()
    for policy in role.get("Policies", []):
        actions |= permissions._document_actions(policy["PolicyDocument"], "member role")
    arns = list(permissions._statements(role.get("ManagedPolicyArns", [])))
    for arn in arns:
        if not (isinstance(arn, dict) and set(arn) == {"Ref"} and arn["Ref"] in resources):
            raise permissions.TemplateError(f"member role: managed policy {arn!r} is not in the template")
        actions |= permissions._document_actions(resources[arn["Ref"]]["Properties"]["PolicyDocument"], arn["Ref"])
    return actions


def stack_file(test):
    """The sample stack file over the emulator's account and region."""
    with open(test.stack_file) as f:
        text = f.read()
    path = os.path.join(test.work, "organization-stack.toml")
    with open(path, "w") as f:
        f.write(text + f'\n[organization]\naccounts = ["{ACCOUNT}"]\nregions = ["{REGION}"]\nrole_name = "{ROLE}"\n')
    return path


def lambda_sqs_event(messages, queue_arn):
    """The messages as the event source mapping hands them to the function."""
    return {"Records": [{
        "messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
        "attributes": m.get("Attributes", {}), "messageAttributes": {}, "md5OfBody": m["MD5OfBody"],
        "eventSource": "aws:sqs", "eventSourceARN": queue_arn, "awsRegion": REGION,
    } for m in messages]}


def signers_of(recording, action):
    """The access keys that signed each request of `action` (a query-protocol call)."""
    keys = []
    for line in recording.splitlines():
        if not line.strip():
            continue
        entry = json.loads(line)
        body = entry.get("body") or ""
        if entry.get("body_encoded"):
            body = base64.b64decode(body).decode(errors="replace")
        if f"Action={action}" not in body:
            continue
        headers = {k.lower(): v for k, v in entry.get("headers", {}).items()}
        match = re.search(r"Credential=([^/]+)/", headers.get("authorization", ""))
        if match:
            keys.append(match.group(1))
    return keys
