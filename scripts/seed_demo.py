"""Seeds the emulated account with a drifted `demo` Chainlink stack, for scripts/demo.sh.

Uses boto3 (installed with moto) against AWS_ENDPOINT_URL, the way an operator's tooling would
have built the stack, then breaks it the way the origin article describes.
"""
import boto3

ec2 = boto3.client("ec2")


def tags(resource_type, **pairs):
    return [{"ResourceType": resource_type, "Tags": [{"Key": k.replace("_", ":"), "Value": v} for k, v in pairs.items()]}]


def group(name, vpc, **tag_pairs):
    spec = tags("security-group", **tag_pairs) if tag_pairs else []
    return ec2.create_security_group(GroupName=name, Description=name, VpcId=vpc, TagSpecifications=spec)["GroupId"]


def allow(group_id, protocol, ports, cidr=None, cidr6=None, source=None):
    permission = {"IpProtocol": protocol}
    if ports:
        permission.update(FromPort=ports[0], ToPort=ports[1])
    if cidr:
        permission["IpRanges"] = [{"CidrIp": cidr}]
    if cidr6:
        permission["Ipv6Ranges"] = [{"CidrIpv6": cidr6}]
    if source:
        permission["UserIdGroupPairs"] = [{"GroupId": source}]
    ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=[permission])


vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
# The zone is pinned: without one the emulator picks a zone at random, and us-east-1e offers
# no m6i type (as in AWS), so the demo's resize would be refused one run in six.
ZONE = "us-east-1a"
app = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24", AvailabilityZone=ZONE)["Subnet"]["SubnetId"]
data = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.2.0/24", AvailabilityZone=ZONE)["Subnet"]["SubnetId"]

node = group("demo-node", vpc, chainlink_stack="demo", chainlink_role="node")
db = group("demo-db", vpc, chainlink_stack="demo", chainlink_role="db")
bastion = group("legacy-bastion", vpc)  # not part of any stack

# The node group: UI for operators, P2P between nodes... and two kinds of drift.
allow(node, "tcp", (6688, 6688), cidr="10.20.0.0/16")
allow(node, "tcp", (6690, 6690), source=node)
allow(node, "tcp", (6688, 6688), cidr="0.0.0.0/0")     # drift: the UI/API open to the world
allow(node, "-1", None, cidr6="::/0")                   # drift: all traffic from ::/0 ...
allow(node, "tcp", (0, 65535), cidr="0.0.0.0/0")        # ... and a wide range that also carries OCR P2P
allow(node, "tcp", (443, 443), cidr="10.30.0.0/16")     # someone's rule: neither required nor forbidden
# The db group: the node -> Postgres rule is missing (the article's first incident).
allow(db, "tcp", (5432, 5432), cidr="10.0.2.0/24")
# Outside the stack: left alone whatever it allows.
allow(bastion, "tcp", (22, 22), cidr="0.0.0.0/0")

for subnet, sg, role in ((app, node, "node"), (data, db, "db")):
    ec2.run_instances(
        ImageId="ami-12c6146b", InstanceType="m6i.large", MinCount=1, MaxCount=1, SubnetId=subnet,
        SecurityGroupIds=[sg], TagSpecifications=tags("instance", chainlink_stack="demo", chainlink_role=role),
    )

# The data subnet's network ACL denies Postgres from the app subnet: the flow check will find it.
acl = ec2.create_network_acl(VpcId=vpc)["NetworkAcl"]["NetworkAclId"]
ec2.create_network_acl_entry(NetworkAclId=acl, RuleNumber=90, Protocol="6", RuleAction="deny", Egress=False,
                             CidrBlock="10.0.1.0/24", PortRange={"From": 5432, "To": 5432})
for egress in (False, True):
    ec2.create_network_acl_entry(NetworkAclId=acl, RuleNumber=100, Protocol="-1", RuleAction="allow", Egress=egress,
                                 CidrBlock="0.0.0.0/0")
current = ec2.describe_network_acls(Filters=[{"Name": "association.subnet-id", "Values": [data]}])["NetworkAcls"][0]
association = next(a for a in current["Associations"] if a["SubnetId"] == data)
ec2.replace_network_acl_association(AssociationId=association["NetworkAclAssociationId"], NetworkAclId=acl)

# The database's password: the node's DATABASE_URL below carries it.
PASSWORD = "demo-db-passw0rd-" + "x" * 8
# The stack's RDS for PostgreSQL database ([database]): in the data subnet, wearing the db group,
# its parameter group setting the max_connections the stack file declares.
rds = boto3.client("rds")
rds.create_db_subnet_group(DBSubnetGroupName="demo-data", DBSubnetGroupDescription="the demo's data subnet",
                           SubnetIds=[data])
rds.create_db_parameter_group(DBParameterGroupName="demo-postgres16", DBParameterGroupFamily="postgres16",
                              Description="the demo database's settings")
rds.modify_db_parameter_group(DBParameterGroupName="demo-postgres16", Parameters=[
    {"ParameterName": "max_connections", "ParameterValue": "100", "ApplyMethod": "pending-reboot"}])
rds.create_db_instance(
    DBInstanceIdentifier="demo-db", Engine="postgres", EngineVersion="16.4", DBInstanceClass="db.m6i.large",
    AllocatedStorage=100, MaxAllocatedStorage=400, MasterUsername="chainlink",
    MasterUserPassword=PASSWORD,
    DBSubnetGroupName="demo-data", VpcSecurityGroupIds=[db], DBParameterGroupName="demo-postgres16",
    Tags=[{"Key": "chainlink:stack", "Value": "demo"}, {"Key": "chainlink:role", "Value": "db"}])

print(f"seeded stack demo: node group {node}, db group {db}; outside the stack: {bastion}")
print("seeded DB instance demo-db: db.m6i.large, 100 GiB, storage autoscaling up to 400 GiB")

# The node's parameters in Parameter Store: a valid production set, marked last-known-good by
# the first apply, and then the origin article's incident: production pointed at the dev database.
ssm = boto3.client("ssm")
PREFIX = "/chainlink/demo/"
VALID = {
    "DATABASE_URL": f"postgresql://chainlink:{PASSWORD}@db.prod.demo.internal:5432/chainlink?sslmode=require",
    "ETH_URL": "wss://eth-1.rpc.prod.demo.internal",
    "ETH_CHAIN_ID": "1",
    "LINK_CONTRACT_ADDRESS": "0x514910771AF9Ca656af840dff83E8264EcF986CA",
    "KEYSTORE_PASSWORD": "demo-keystore-passw0rd",
    "API_EMAIL": "ops@demo.internal",
    "API_PASSWORD": "demo-api-passw0rd-long",
    "P2P_LISTEN_PORT": "6690",  # the port the stack file's P2P flows state and cross-check
}
# Tagged into the stack, as the templates require: parameter-guard may only write parameters
# that exist and carry chainlink:stack (PutParameter refuses Tags together with Overwrite).
for key, value in VALID.items():
    ssm.put_parameter(Name=PREFIX + key, Value=value, Type="SecureString", Overwrite=True)
    ssm.add_tags_to_resource(ResourceType="Parameter", ResourceId=PREFIX + key, Tags=[{"Key": "chainlink:stack", "Value": "demo"}])
print(f"seeded {len(VALID)} parameters under {PREFIX}")
