"""moto's server (same arguments as `moto_server`), with one lookup made O(1) for the benchmark.

moto reads the tags of one EC2 resource by scanning every tag of every resource in the account
(`TagBackend.describe_tags` with a `resource-id` filter, called per group for every filter and
every response). Describing N tagged groups therefore costs O(N^2) inside the emulator: minutes
at 5,000 groups, for any client, which would measure moto rather than the tools (and exceed the
remediator's fixed 10 s per-attempt timeout). Here the lookup of one exact resource ID reads that
resource's tags directly, with the same result in the same order; every other query takes moto's
own path. Nothing about what a client sends or receives changes.
"""
from moto.ec2.models.tags import TagBackend
from moto.ec2.utils import EC2_PREFIX_TO_RESOURCE, get_prefix
from moto.server import main

_WILDCARDS = set("*?[]\\")
_scan = TagBackend.describe_tags


def describe_tags(self, filters=None):
    ids = (filters or {}).get("resource-id") if filters is not None and list(filters) == ["resource-id"] else None
    if not ids or len(ids) != 1 or _WILDCARDS & set(ids[0]):
        return _scan(self, filters)
    resource_id = ids[0]
    resource_type = EC2_PREFIX_TO_RESOURCE.get(get_prefix(resource_id), "")
    return [
        {"resource_id": resource_id, "key": key, "value": value, "resource_type": resource_type}
        for key, value in dict(self.tags.get(resource_id, {})).items()
    ]


TagBackend.describe_tags = describe_tags

if __name__ == "__main__":
    main()
