"""The functions' permissions, proven by the runtime test rather than assumed.

Two halves, both read by scripts/runtime_test/run.py:

- `granted_actions`: the IAM actions each function's role may use, read from the SAM template
  transformed to plain CloudFormation (infra/sam/transform.py): the role's inline policies, the
  managed policies of the template it names, and any AWS::IAM::Policy attached to it. Both
  branches of every `Fn::If` count (a deployment may choose either), resources and conditions
  are dropped: moto's IAM enforcement checks actions only (every request's resource is `*`,
  conditions are ignored), so each function runs as an IAM user allowed exactly these actions
  on `*`. Resource scopes and conditions stay proven by the template tests and the IAM linter.
- `called_actions` and `check_actions`: from the emulator's request recording (moto's
  recorder; each request is signed with the access key of the function that sent it) every
  action each function called, printed as a table, and the verdict: a call the template does
  not grant (moto refused it), or a mutating action the template grants that no run needed and
  infra/unexercised-actions.toml does not justify, fails the test; so does a justification that
  is no longer needed.
"""
import base64
import fnmatch
import json
import re
import tomllib
from collections import Counter
from urllib.parse import parse_qs, urlparse

# Reads: granted without a run that needs them being a risk worth a failure.
READ_PREFIXES = ("Describe", "Get", "List")


class TemplateError(Exception):
    """The template holds something this check cannot evaluate: extend the check, do not skip."""


def is_mutating(action):
    name = action.split(":", 1)[1]
    return not name.startswith(READ_PREFIXES)


def _statements(node):
    """Every statement of a policy document's `Statement`, through `Fn::If` (both branches)."""
    if isinstance(node, list):
        for item in node:
            yield from _statements(item)
    elif isinstance(node, dict):
        if set(node) == {"Fn::If"}:
            _condition, then, otherwise = node["Fn::If"]
            yield from _statements(then)
            yield from _statements(otherwise)
        elif node == {"Ref": "AWS::NoValue"}:
            return
        else:
            yield node
    else:
        raise TemplateError(f"a policy statement that is neither a list nor an object: {node!r}")


def _document_actions(document, where):
    actions = set()
    for statement in _statements(document.get("Statement", [])):
        if "NotAction" in statement:
            raise TemplateError(f"{where}: NotAction cannot be turned into a list of actions")
        if statement.get("Effect") != "Allow":
            raise TemplateError(f"{where}: a {statement.get('Effect')!r} statement: the check knows Allow only")
        listed = statement.get("Action")
        listed = [listed] if isinstance(listed, str) else listed
        if not listed or not all(isinstance(a, str) and ":" in a for a in listed):
            raise TemplateError(f"{where}: statement {statement.get('Sid', '?')} has no plain action list")
        actions.update(listed)
    return actions


def _role_name(role, function):
    if isinstance(role, dict) and "Fn::GetAtt" in role:
        target = role["Fn::GetAtt"]
        target = target.split(".") if isinstance(target, str) else target
        if len(target) == 2 and target[1] == "Arn":
            return target[0]
    raise TemplateError(f"{function}: its Role is not a role of the template ({role!r})")


def granted_actions(template):
    """{binary name: set of IAM actions} for every Lambda function of a transformed template."""
    resources = template["Resources"]
    granted = {}
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::Lambda::Function":
            continue
        binary = resource.get("Metadata", {}).get("BuildProperties", {}).get("Binary")
        if not binary:
            raise TemplateError(f"{logical_id}: no Metadata.BuildProperties.Binary names its binary")
        role_id = _role_name(resource["Properties"].get("Role"), logical_id)
        role = resources[role_id]["Properties"]
        actions = set()
        for policy in role.get("Policies", []):
            actions |= _document_actions(policy["PolicyDocument"], f"{role_id}/{policy.get('PolicyName')}")
        for arn in role.get("ManagedPolicyArns", []):
            if not (isinstance(arn, dict) and set(arn) == {"Ref"} and arn["Ref"] in resources):
                raise TemplateError(f"{role_id}: managed policy {arn!r} is not in the template: "
                                    "its actions cannot be read offline")
            actions |= _document_actions(resources[arn["Ref"]]["Properties"]["PolicyDocument"], arn["Ref"])
        for policy_id, policy in resources.items():
            if policy["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy") \
                    and {"Ref": role_id} in policy["Properties"].get("Roles", []):
                actions |= _document_actions(policy["Properties"]["PolicyDocument"], policy_id)
        granted[binary] = actions
    if not granted:
        raise TemplateError("no AWS::Lambda::Function in the template")
    return granted


def policy_document(actions):
    """What moto is given: the actions, on every resource, without conditions."""
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": sorted(actions), "Resource": "*"}]})


# A REST service's request names no action: its route does (as the emulator maps it for moto's
# enforcement: scripts/emulator/aws_like.py).
REST_ACTIONS = {
    ("securityhub", "POST", "/findings/import"): "BatchImportFindings",
    ("securityhub", "POST", "/findings"): "GetFindings",
}


def _action_of(entry, headers):
    target = headers.get("x-amz-target")
    if target:
        return target.rsplit(".", 1)[-1]
    body = entry.get("body") or ""
    if entry.get("body_encoded"):
        body = base64.b64decode(body).decode(errors="replace")
    for text in (body, urlparse(entry.get("url", "")).query):
        action = parse_qs(text).get("Action")
        if action:
            return action[0]
    return None


# A request's SigV4 signing name is its IAM action prefix, except where IAM differs (as the
# emulator extension does for moto's enforcement: scripts/emulator/aws_like.py).
IAM_PREFIX = {"monitoring": "cloudwatch"}
# A batch call is authorized by its single action (as scripts/emulator/aws_like.py maps it).
BATCH_ACTIONS = {
    ("sqs", "SendMessageBatch"): "SendMessage",
    ("sqs", "DeleteMessageBatch"): "DeleteMessage",
    ("sqs", "ChangeMessageVisibilityBatch"): "ChangeMessageVisibility",
}


# Actions AWS answers without any permission ("No permissions are required to perform this
# operation"), as moto does: a call to one is never a missing grant.
NEEDS_NO_PERMISSION = {"sts:GetCallerIdentity"}


def called_actions(recording, owners):
    """{function: Counter of IAM actions} from moto's recording (one JSON request per line),
    for the requests signed with a key in `owners` ({access key id: function})."""
    called = {function: Counter() for function in set(owners.values())}
    for line in recording.splitlines():
        if not line.strip():
            continue
        entry = json.loads(line)
        headers = {k.lower(): v for k, v in entry.get("headers", {}).items()}
        match = re.search(r"Credential=([^/]+)/[^/]+/[^/]+/([^/]+)/", headers.get("authorization", ""))
        if not match or match.group(1) not in owners:
            continue
        key, service = match.groups()
        service = IAM_PREFIX.get(service, service)
        path = urlparse(entry.get("url", "")).path.rstrip("/") or "/"
        action = REST_ACTIONS.get((service, entry.get("method"), path)) or _action_of(entry, headers)
        action = BATCH_ACTIONS.get((service, action), action)
        called[owners[key]][f"{service}:{action}" if action else f"{service}:? {entry.get('method')} "
                            f"{urlparse(entry.get('url', '')).path}"] += 1
    return called


def load_justified(path):
    """{(function, action): reason} from the TOML list of granted but unexercised actions."""
    with open(path, "rb") as f:
        entries = tomllib.load(f).get("unexercised", [])
    justified = {}
    for entry in entries:
        functions = entry.get("functions") or []
        missing = [k for k in ("action", "reason") if not str(entry.get(k, "")).strip()]
        if not functions or not all(isinstance(f, str) and f for f in functions):
            missing.append("functions")
        if missing:
            raise TemplateError(f"{path}: an entry without {', '.join(missing)}: {entry}")
        for function in functions:
            if (function, entry["action"]) in justified:
                raise TemplateError(f"{path}: {entry['action']} of {function} is justified twice")
            justified[(function, entry["action"])] = " ".join(entry["reason"].split())
    return justified


def action_matches(granted_action, called_action):
    return fnmatch.fnmatchcase(called_action.lower(), granted_action.lower())


def allowed(function, granted, extras):
    """What the function's IAM user may do: its template actions and the emulator-only ones."""
    return granted.get(function, set()) | set(extras.get(function, {}))


def refused(granted, called, extras):
    """(function, action) of each call the function's IAM user is not allowed: moto refused it."""
    return [(function, action) for function in sorted(called) for action in sorted(called[function])
            if action not in NEEDS_NO_PERMISSION
            and not any(action_matches(g, action) for g in allowed(function, granted, extras))]


def refusal(function, action):
    return (f"{function} called {action}, which its role in the SAM template does not grant "
            f"(moto answered AccessDenied: is not authorized to perform: {action})")


def check_actions(granted, called, justified, extras=None):
    """The table (lines to print) and the failures (lines naming function and action).

    `extras` ({function: {action: why}}) are actions the emulator asks for although AWS would
    not: given to the function's user, never counted as the template's."""
    extras = extras or {}
    lines, failures = [], []
    for function in sorted(granted):
        calls = called.get(function, Counter())
        grants = granted[function]
        lines.append(f"{function}: {sum(calls.values())} requests, "
                     f"{len(calls)} actions called, {len(grants)} granted")
        denied = refused(granted, {function: calls}, extras)
        for action in sorted(calls):
            if (function, action) in denied:
                verdict = "NOT GRANTED: the emulator refused it"
                failures.append(refusal(function, action))
            elif action in NEEDS_NO_PERMISSION and not any(action_matches(g, action) for g in grants):
                verdict = "needs no permission"
            elif action in extras.get(function, {}) and not any(action_matches(g, action) for g in grants):
                verdict = f"emulator only: {extras[function][action]}"
            else:
                verdict = "granted"
            lines.append(f"    {calls[action]:5d}  {action:48s} {verdict}")
        for action in sorted(grants):
            if any(action_matches(action, c) for c in calls):
                continue
            if (function, action) in justified:
                verdict = "never called, justified (infra/unexercised-actions.toml)"
            elif is_mutating(action):
                verdict = "never called: UNJUSTIFIED"
                failures.append(f"{function} is granted {action}, which no run of it needed and "
                                "infra/unexercised-actions.toml does not justify: exercise it or drop it")
            else:
                verdict = "never called (a read)"
            lines.append(f"    {0:5d}  {action:48s} {verdict}")
    for (function, action), _reason in sorted(justified.items()):
        if function not in granted or action not in granted[function]:
            failures.append(f"infra/unexercised-actions.toml justifies {action} for {function}, "
                            "which its role does not grant: remove the entry")
        elif any(action_matches(action, c) for c in called.get(function, ())):
            failures.append(f"infra/unexercised-actions.toml justifies {action} for {function} as never "
                            "exercised, but the runtime test called it: remove the entry")
    return lines, failures
