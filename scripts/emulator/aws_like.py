"""moto's server (same arguments as `moto_server`), made to behave like AWS where the engine's
safety depends on it. One place, loaded by every run: the tests, the demo, the runtime test and
the benchmarks all start the emulator through `scripts/emulator/moto_server`.

What moto simplifies, and what this extension restores (each switch is read from the server's
environment at start, so a test chooses per emulator):

- Time. moto completes every state change at once. Here a stopped instance is `stopping`, and a
  started one `pending`, for `AWS_LIKE_TRANSITION_READS` reads of its state (default 1:
  DescribeInstances or DescribeInstanceStatus calls, counted on the whole account) before it is
  `stopped` / `running` (`AWS_LIKE_STOP_READS` and `AWS_LIKE_START_READS` set each on its own;
  0 turns a transition off); a volume modification is `modifying`, then `optimizing`, for that many
  DescribeVolumesModifications reads each, then `completed`. Reads, not seconds: a run never
  depends on the machine's speed. And AWS's refusals that follow from time: a type change on an
  instance that is not `stopped`, or a start of an instance that is still `stopping`, is
  `IncorrectInstanceState`; a type AWS does not offer is `InvalidParameterValue`.
- Pages. moto ignores `MaxResults` on most EC2 reads. Here DescribeSecurityGroups,
  DescribeSecurityGroupRules, DescribeNetworkInterfaces, DescribeSubnets, DescribeNetworkAcls,
  DescribeVolumes, DescribeVolumesModifications, DescribeInstanceTypes and
  DescribeInstanceTypeOfferings honour `MaxResults` and `NextToken` (an opaque token, as
  AWS's). AWS may return fewer items than asked with a token for the rest;
  `AWS_LIKE_PAGE_CAP=N` makes every paged answer hold at most N, so a test can cross page
  boundaries without seeding thousands of resources. A read without `MaxResults` returns
  everything, as AWS does for these calls.
- Signatures. With IAM enforcement on (`INITIAL_NO_AUTH_ACTION_COUNT`), moto checks a request's
  SigV4 signature against the form fields it parsed, encoded again by botocore (a space as `+`),
  not the bytes received; the Rust SDK writes a space as `%20` (both valid), so every Rust request
  with a space in a value was refused with SignatureDoesNotMatch, which AWS never does. Here the
  body is read and kept before moto parses it, so the check signs the bytes as sent.
- IAM action names. moto names an action after the request's signing name; CloudWatch signs as
  `monitoring`, and IAM's actions are `cloudwatch:DescribeAlarms`, not `monitoring:…`: renamed
  here, so a policy written for AWS is the one enforced. A REST service's request names no
  action (moto saw `securityhub:None`): its route does, as AWS's model says (Security Hub's
  `POST /findings/import` is `securityhub:BatchImportFindings`). An SQS batch call is
  authorized by its single action, as IAM documents (`SendMessageBatch` needs
  `sqs:SendMessage`).
- Rule identity. AWS knows a security-group rule by its protocol, ports and peer; the
  description is not part of it (a revocation naming the peer alone removes a described rule).
  moto compares a source group's whole entry, Description included, so revoking a rule that
  was authorized with a description failed with InvalidPermission.NotFound. Here a source group
  is compared by its ID, as a CIDR already is by the CIDR alone.
- RDS's event history. moto records no event when a DB instance's storage is modified; AWS
  writes two `configuration change` events (RDS-EVENT-0018 "Applying modification to allocated
  storage.", RDS-EVENT-0017 "Finished applying modification to allocated storage."), which are
  the only trace of the last storage change that the six-hour rule counts from. Here a
  ModifyDBInstance that changes the allocated storage records both, with AWS's messages.
- Identity (not a semantic change): `GET /aws-like/instance` answers the `AWS_LIKE_INSTANCE`
  the server was started with, so a harness that picked a free port can tell its own server from
  another one that took the same port first.
- Speed of the emulator itself (not a semantic change): moto reads one resource's tags by
  scanning every tag in the account, O(N^2) for a describe of N tagged groups; here the lookup of
  one exact resource ID reads that resource's tags directly, with the same result.
"""
import base64
import copy
import io
import os

import flask
from moto.core.utils import convert_to_flask_response

from moto.ec2.exceptions import EC2ClientError
from moto.ec2.models.elastic_block_store import VolumeModification
from moto.ec2.models.instance_types import INSTANCE_TYPES
from moto.ec2.models.instances import Instance
from moto.ec2.models.security_groups import SecurityGroupRule
from moto.ec2.models.tags import TagBackend
from moto.ec2.responses.elastic_block_store import ElasticBlockStore
from moto.ec2.responses.elastic_network_interfaces import ElasticNetworkInterfaces
from moto.ec2.responses.instances import InstanceResponse
from moto.ec2.responses.network_acls import NetworkACLs
from moto.ec2.responses.security_groups import SecurityGroups
from moto.ec2.responses.subnets import Subnets
from moto.ec2.utils import EC2_PREFIX_TO_RESOURCE, get_prefix
from moto.iam.access_control import IAMRequestBase
from moto.moto_server.werkzeug_app import DomainDispatcherApplication
from moto.rds.models import Event as RdsEvent
from moto.rds.models import RDSBackend
from moto.server import main

TRANSITION_READS = int(os.environ.get("AWS_LIKE_TRANSITION_READS", "1"))
STOP_READS = int(os.environ.get("AWS_LIKE_STOP_READS", TRANSITION_READS))
START_READS = int(os.environ.get("AWS_LIKE_START_READS", TRANSITION_READS))
PAGE_CAP = int(os.environ.get("AWS_LIKE_PAGE_CAP", "0")) or None


class IncorrectInstanceState(EC2ClientError):
    def __init__(self, instance_id: str, message: str):
        super().__init__("IncorrectInstanceState", f"The instance '{instance_id}' {message}")


# --- Time: instances ---------------------------------------------------------------------------

# instance id -> [instance, state shown meanwhile, final state, final code, reads left]
_instance_transitions: dict = {}
_moto_start = Instance.start
_moto_stop = Instance.stop


def _start(self):
    if self._state.name == "stopping":
        raise IncorrectInstanceState(self.id, "is not in a state from which it can be started.")
    if self._state.name in ("pending", "running"):
        return copy.copy(self._state)  # AWS answers a start of a started instance with success
    previous = _moto_start(self)
    _begin(self, "pending", 0, "running", 16, START_READS)
    return previous


def _stop(self):
    if self._state.name == "pending":
        raise IncorrectInstanceState(self.id, "is not in a state from which it can be stopped.")
    if self._state.name in ("stopping", "stopped"):
        return copy.copy(self._state)
    previous = _moto_stop(self)
    _begin(self, "stopping", 64, "stopped", 80, STOP_READS)
    return previous


def _begin(instance, name, code, final_name, final_code, reads):
    if reads > 0:
        instance._state.name, instance._state.code = name, code
        _instance_transitions[instance.id] = [instance, name, final_name, final_code, reads]


def _advance_instances():
    """Before each read of instance states: a transition seen by enough reads completes."""
    for instance_id, transition in list(_instance_transitions.items()):
        instance, meanwhile, final_name, final_code, left = transition
        if instance._state.name != meanwhile:  # terminated meanwhile, or reset
            del _instance_transitions[instance_id]
        elif left == 0:
            instance._state.name, instance._state.code = final_name, final_code
            del _instance_transitions[instance_id]
        else:
            transition[4] = left - 1


Instance.start = _start
Instance.stop = _stop


def _advance_then_read(read):
    def wrapped(self):
        _advance_instances()
        return read(self)

    return wrapped


InstanceResponse.describe_instances = _advance_then_read(InstanceResponse.describe_instances)
InstanceResponse.describe_instance_status = _advance_then_read(InstanceResponse.describe_instance_status)

_moto_modify_attribute = InstanceResponse.modify_instance_attribute


def _requested_type(response):
    if response._get_param("InstanceType.Value") is not None:
        return response._get_param("InstanceType.Value")
    if response._get_param("Attribute") == "instanceType":
        return response._get_param("Value")
    return None


def _modify_instance_attribute(self):
    new_type = _requested_type(self)
    if new_type is not None:
        instance = self.ec2_backend.get_instance(self._get_param("InstanceId"))
        if instance._state.name != "stopped":
            raise IncorrectInstanceState(instance.id, "is not in the 'stopped' state.")
        if new_type not in INSTANCE_TYPES:
            raise EC2ClientError(
                "InvalidParameterValue",
                f"Value ({new_type}) for parameter instanceType is invalid. Instance type not supported",
            )
    return _moto_modify_attribute(self)


InstanceResponse.modify_instance_attribute = _modify_instance_attribute


# --- Time: volume modifications ----------------------------------------------------------------

_STAGES = ("modifying", "optimizing", "completed")


def _modification_state(self):
    if TRANSITION_READS <= 0:
        return "completed"
    # Counted before the answer is written: read 1 sees `modifying`, read N+1 `optimizing`.
    reads = getattr(self, "_aws_like_reads", 0)
    return _STAGES[min(max(reads - 1, 0) // TRANSITION_READS, 2)]


def _modification_progress(self):
    return {"modifying": 0, "optimizing": 50, "completed": 100}[_modification_state(self)]


VolumeModification.modification_state = property(_modification_state)
VolumeModification.progress = property(_modification_progress)
_moto_describe_modifications = ElasticBlockStore.describe_volumes_modifications


def _describe_volumes_modifications(self):
    answer = _moto_describe_modifications(self)
    for modification in answer.result["VolumesModifications"]:
        modification._aws_like_reads = getattr(modification, "_aws_like_reads", 0) + 1
    return answer


ElasticBlockStore.describe_volumes_modifications = _describe_volumes_modifications


# --- Pages -------------------------------------------------------------------------------------


def _token(action: str, offset: int) -> str:
    return base64.urlsafe_b64encode(f"{action}:{offset}".encode()).decode()


def _offset(action: str, token) -> int:
    if not token:
        return 0
    try:
        name, offset = base64.urlsafe_b64decode(token.encode()).decode().rsplit(":", 1)
        if name == action and int(offset) >= 0:
            return int(offset)
    except (ValueError, UnicodeDecodeError):
        pass
    raise EC2ClientError("InvalidParameterValue", f"Invalid value '{token}' for NextToken")


def _paged(read, action: str, key: str):
    def wrapped(self):
        answer = read(self)
        max_results = self._get_param("MaxResults")
        if max_results is None:
            return answer  # no MaxResults: AWS returns every item
        size = int(max_results)
        if PAGE_CAP:
            size = min(size, PAGE_CAP)
        items = list(answer.result[key])
        start = _offset(action, self._get_param("NextToken"))
        answer.result[key] = items[start : start + size]
        if start + size < len(items):
            answer.result["NextToken"] = _token(action, start + size)
        return answer

    return wrapped


for response, method, action, key in [
    (SecurityGroups, "describe_security_groups", "DescribeSecurityGroups", "SecurityGroups"),
    (SecurityGroups, "describe_security_group_rules", "DescribeSecurityGroupRules", "SecurityGroupRules"),
    (ElasticNetworkInterfaces, "describe_network_interfaces", "DescribeNetworkInterfaces", "NetworkInterfaces"),
    (Subnets, "describe_subnets", "DescribeSubnets", "Subnets"),
    (NetworkACLs, "describe_network_acls", "DescribeNetworkAcls", "NetworkAcls"),
    (ElasticBlockStore, "describe_volumes", "DescribeVolumes", "Volumes"),
    (ElasticBlockStore, "describe_volumes_modifications", "DescribeVolumesModifications", "VolumesModifications"),
    (InstanceResponse, "describe_instance_types", "DescribeInstanceTypes", "InstanceTypes"),
    (InstanceResponse, "describe_instance_type_offerings", "DescribeInstanceTypeOfferings", "InstanceTypeOfferings"),
]:
    setattr(response, method, _paged(getattr(response, method), action, key))


# --- Signatures ------------------------------------------------------------------------------


def _keep_signed_bytes(call):
    def __call__(self, *args, **kwargs):
        raw = flask.request.get_data(cache=True)
        # The recorder reads the WSGI stream itself: give it the bytes again.
        flask.request.environ["wsgi.input"] = io.BytesIO(raw)
        return call(self, *args, **kwargs)

    return __call__


convert_to_flask_response.__call__ = _keep_signed_bytes(convert_to_flask_response.__call__)


# --- IAM action names -----------------------------------------------------------------------------

# moto names the action after the request's SigV4 signing name; IAM does not always: CloudWatch
# signs as `monitoring` and its actions are `cloudwatch:*`. A REST service's request names no
# action at all (moto sees `securityhub:None`): its action is the route's, as AWS's model says.
_IAM_PREFIX = {"monitoring": "cloudwatch"}
_REST_ACTIONS = {
    ("securityhub", "POST", "/findings/import"): "BatchImportFindings",
    ("securityhub", "POST", "/findings"): "GetFindings",
}
# A batch call is authorized by its single action's permission (SQS: "SendMessageBatch …
# permission: sqs:SendMessage"); there is no `sqs:SendMessageBatch` action to grant.
_BATCH_ACTIONS = {
    ("sqs", "SendMessageBatch"): "SendMessage",
    ("sqs", "DeleteMessageBatch"): "DeleteMessage",
    ("sqs", "ChangeMessageVisibilityBatch"): "ChangeMessageVisibility",
}
_moto_iam_request_init = IAMRequestBase.__init__


def _iam_request_init(self, *args, **kwargs):
    _moto_iam_request_init(self, *args, **kwargs)
    service, _, operation = self._action.partition(":")
    route = _REST_ACTIONS.get((service, self._method, self._path.split("?")[0].rstrip("/") or "/"))
    if route:
        operation = route
    operation = _BATCH_ACTIONS.get((service, operation), operation)
    self._action = f"{_IAM_PREFIX.get(service, service)}:{operation}"


IAMRequestBase.__init__ = _iam_request_init


# --- Rule identity -----------------------------------------------------------------------------


def _same_rule(self, other):
    """moto's SecurityGroupRule.__eq__, with a source group known by its ID (and name) alone."""
    if self.ip_protocol != other.ip_protocol:
        return False
    for key in ("CidrIp", "CidrIpv6"):
        if key in self.ip_range and self.ip_range.get(key) != other.ip_range.get(key):
            return False
    peer = ("GroupId", "GroupName")
    if {k: self.source_group.get(k) for k in peer} != {k: other.source_group.get(k) for k in peer}:
        return False
    if self.prefix_list_id != other.prefix_list_id:
        return False
    if self.ip_protocol != "-1" and (self.from_port, self.to_port) != (other.from_port, other.to_port):
        return False
    return True


SecurityGroupRule.__eq__ = _same_rule


# --- RDS's event history --------------------------------------------------------------------------

RdsEvent.EVENT_MAP["AWS_LIKE_STORAGE_MODIFYING"] = {
    "Categories": ["configuration change"],
    "Message": "Applying modification to allocated storage.",
}
RdsEvent.EVENT_MAP["AWS_LIKE_STORAGE_MODIFIED"] = {
    "Categories": ["configuration change"],
    "Message": "Finished applying modification to allocated storage.",
}
_modify_db_instance = RDSBackend.modify_db_instance


def _modify_db_instance_with_events(self, db_instance_identifier, db_kwargs):
    before = self.describe_db_instances(db_instance_identifier)[0].allocated_storage
    database = _modify_db_instance(self, db_instance_identifier, db_kwargs)
    if int(database.allocated_storage) != int(before):
        database.add_event("AWS_LIKE_STORAGE_MODIFYING")
        database.add_event("AWS_LIKE_STORAGE_MODIFIED")
    return database


RDSBackend.modify_db_instance = _modify_db_instance_with_events


# --- The emulator's own speed ------------------------------------------------------------------

_WILDCARDS = set("*?[]\\")
_scan_tags = TagBackend.describe_tags


def _describe_tags(self, filters=None):
    ids = (filters or {}).get("resource-id") if filters is not None and list(filters) == ["resource-id"] else None
    if not ids or len(ids) != 1 or _WILDCARDS & set(ids[0]):
        return _scan_tags(self, filters)
    resource_id = ids[0]
    resource_type = EC2_PREFIX_TO_RESOURCE.get(get_prefix(resource_id), "")
    return [
        {"resource_id": resource_id, "key": key, "value": value, "resource_type": resource_type}
        for key, value in dict(self.tags.get(resource_id, {})).items()
    ]


TagBackend.describe_tags = _describe_tags


# --- Identity ------------------------------------------------------------------------------------

_dispatch = DomainDispatcherApplication.__call__


def _answer_identity(self, environ, start_response):
    if environ.get("PATH_INFO") == "/aws-like/instance":
        body = os.environ.get("AWS_LIKE_INSTANCE", "").encode()
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
        return [body]
    return _dispatch(self, environ, start_response)


DomainDispatcherApplication.__call__ = _answer_identity

if __name__ == "__main__":
    main()
