//! Builders for observed stacks, used by the planner's tests and benchmarks so that a test reads
//! as the state it describes: `group("sg-db", "db").allow(tcp(5432).from("sg-node"))`.

use chainlink::SecretValue;
use domain::ids::{
    InstanceId, KmsKeyRef, LoadBalancerArn, NetworkAclId, NetworkInterfaceId, RoleName,
    SecurityGroupId, StackName, SubnetId, TargetGroupArn, VpcId,
};
use domain::net::{Peer, PortRange, Protocol, Rule};
use domain::parameters::{ParameterKind, ParameterVersion};
use domain::security_groups::load_balancers::{
    Listener, ObservedLoadBalancer, ObservedTargetGroup, Scheme, Target,
};
use domain::security_groups::observed::{
    AclEntry, Direction, NetworkAcl, ObservedGroup, ObservedInstance, ObservedInterface,
    ObservedStack, ObservedSubnet,
};
use domain::stack::StackFile;
use std::collections::BTreeMap;

/// The demo stack file shipped in `samples/stack.toml`.
pub fn sample_stack_file() -> StackFile {
    match StackFile::parse(
        include_str!("../../../samples/stack.toml"),
        "samples/stack.toml",
    ) {
        Ok(file) => file,
        Err(e) => panic!("the sample stack file must stay valid: {e}"),
    }
}

/// `"sg-…"` names a group; anything else must be a CIDR.
pub fn peer(raw: &str) -> Peer {
    if raw.starts_with("sg-") {
        Peer::Group(SecurityGroupId::new(raw))
    } else {
        match raw.parse() {
            Ok(net) => Peer::Cidr(net),
            Err(e) => panic!("fixture peer {raw:?}: {e}"),
        }
    }
}

/// Protocol and ports, waiting for a peer.
#[derive(Clone, Copy, Debug)]
pub struct RuleShape {
    protocol: Protocol,
    ports: Option<PortRange>,
}

impl RuleShape {
    pub fn from(self, raw_peer: &str) -> Rule {
        Rule {
            protocol: self.protocol,
            ports: self.ports,
            peer: peer(raw_peer),
        }
    }
}

pub fn tcp(port: u16) -> RuleShape {
    tcp_range(port, port)
}

pub fn tcp_range(from: u16, to: u16) -> RuleShape {
    RuleShape {
        protocol: Protocol::Tcp,
        ports: Some(PortRange { from, to }),
    }
}

pub fn all_traffic() -> RuleShape {
    RuleShape {
        protocol: Protocol::All,
        ports: None,
    }
}

pub fn group(id: &str, role: &str) -> ObservedGroup {
    ObservedGroup {
        id: SecurityGroupId::new(id),
        name: id.trim_start_matches("sg-").to_string(),
        vpc: None,
        role: (!role.is_empty()).then(|| RoleName::new(role)),
        ingress: Vec::new(),
        egress: vec![all_traffic().from("0.0.0.0/0")],
        used_approvals: Vec::new(),
    }
}

/// Builder steps on an observed group (a trait: the type is `domain`'s).
pub trait GroupBuilder {
    fn allow(self, rule: Rule) -> Self;
    fn egress_only(self, rules: Vec<Rule>) -> Self;
    /// The group's VPC (`vpc-…`).
    fn in_vpc(self, vpc: &str) -> Self;
}

impl GroupBuilder for ObservedGroup {
    fn allow(mut self, rule: Rule) -> Self {
        self.ingress.push(rule);
        self
    }

    fn egress_only(mut self, rules: Vec<Rule>) -> Self {
        self.egress = rules;
        self
    }

    fn in_vpc(mut self, vpc: &str) -> Self {
        self.vpc = Some(VpcId::new(vpc));
        self
    }
}

pub fn stack(name: &str, groups: Vec<ObservedGroup>) -> ObservedStack {
    ObservedStack {
        name: StackName::new(name),
        groups,
        instances: Vec::new(),
        interfaces: Vec::new(),
        subnets: BTreeMap::new(),
        acls: BTreeMap::new(),
        load_balancers: Vec::new(),
        databases: Vec::new(),
        database_groups: Vec::new(),
        node: None,
    }
}

/// Builder steps on an observed stack (a trait: the type is `domain`'s).
pub trait StackBuilder {
    /// An instance wearing `groups`, in `subnet`.
    fn with_instance(self, id: &str, role: &str, subnet: &str, groups: &[&str]) -> Self;
    /// A network interface wearing `groups`, with `addresses` (IPv4 or IPv6), in `subnet`.
    fn with_interface(self, id: &str, subnet: &str, groups: &[&str], addresses: &[&str]) -> Self;
    fn with_subnet(self, id: &str, cidr: &str, acl: &str) -> Self;
    fn with_acl(self, id: &str, entries: Vec<AclEntry>) -> Self;
    fn with_group(self, group: ObservedGroup) -> Self;
}

impl StackBuilder for ObservedStack {
    fn with_instance(mut self, id: &str, role: &str, subnet: &str, groups: &[&str]) -> Self {
        self.instances.push(ObservedInstance {
            id: InstanceId::new(id),
            role: Some(RoleName::new(role)),
            subnet: Some(SubnetId::new(subnet)),
            groups: groups.iter().map(|g| SecurityGroupId::new(*g)).collect(),
        });
        self
    }

    fn with_interface(
        mut self,
        id: &str,
        subnet: &str,
        groups: &[&str],
        addresses: &[&str],
    ) -> Self {
        self.interfaces.push(ObservedInterface {
            id: NetworkInterfaceId::new(id),
            subnet: Some(SubnetId::new(subnet)),
            groups: groups.iter().map(|g| SecurityGroupId::new(*g)).collect(),
            addresses: addresses
                .iter()
                .map(|raw| match raw.parse() {
                    Ok(address) => address,
                    Err(e) => panic!("fixture address {raw:?}: {e}"),
                })
                .collect(),
        });
        self
    }

    fn with_subnet(mut self, id: &str, cidr: &str, acl: &str) -> Self {
        self.subnets.insert(
            SubnetId::new(id),
            ObservedSubnet {
                cidr: cidr.parse().ok(),
                acl: Some(NetworkAclId::new(acl)),
            },
        );
        self
    }

    fn with_acl(mut self, id: &str, entries: Vec<AclEntry>) -> Self {
        self.acls
            .insert(NetworkAclId::new(id), NetworkAcl { entries });
        self
    }

    fn with_group(mut self, group: ObservedGroup) -> Self {
        self.groups.push(group);
        self
    }
}

/// A target group's name, protocol and `(instance, port)` targets.
pub type TargetGroupShape<'a> = (&'a str, &'a str, &'a [(&'a str, u16)]);

/// A load balancer named `name` with `groups`, listeners `(protocol, port, target group)` and
/// target groups `(name, protocol, [(instance, port)])`; ARNs are made from the names.
pub fn load_balancer(
    name: &str,
    scheme: Scheme,
    groups: Vec<ObservedGroup>,
    listeners: &[(&str, u16, &str)],
    target_groups: &[TargetGroupShape],
) -> ObservedLoadBalancer {
    ObservedLoadBalancer {
        arn: LoadBalancerArn::new(format!(
            "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/{name}/0123"
        )),
        name: name.to_string(),
        scheme,
        groups,
        listeners: listeners
            .iter()
            .map(|(protocol, port, target_group)| Listener {
                protocol: protocol.to_string(),
                port: *port,
                forwards_to: vec![target_group_arn(target_group)],
            })
            .collect(),
        target_groups: target_groups
            .iter()
            .map(|(name, protocol, targets)| ObservedTargetGroup {
                arn: target_group_arn(name),
                name: name.to_string(),
                protocol: protocol.to_string(),
                targets: targets
                    .iter()
                    .map(|(instance, port)| Target {
                        instance: InstanceId::new(*instance),
                        port: *port,
                    })
                    .collect(),
            })
            .collect(),
    }
}

fn target_group_arn(name: &str) -> TargetGroupArn {
    TargetGroupArn::new(format!(
        "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/{name}/0123"
    ))
}

/// A network ACL entry; `ports: None` means every port.
pub fn acl_entry(
    rule_number: i32,
    direction: Direction,
    ports: Option<(u16, u16)>,
    cidr: &str,
    allow: bool,
) -> AclEntry {
    AclEntry {
        rule_number,
        direction,
        protocol: if ports.is_some() {
            Protocol::Tcp
        } else {
            Protocol::All
        },
        ports: ports.map(|(from, to)| PortRange { from, to }),
        cidr: match cidr.parse() {
            Ok(net) => net,
            Err(e) => panic!("fixture ACL CIDR {cidr:?}: {e}"),
        },
        allow,
    }
}

/// The demo stack with every required flow in place and nothing forbidden open.
pub fn healthy_demo() -> ObservedStack {
    stack(
        "demo",
        vec![
            group("sg-node", "node")
                .allow(tcp(6688).from("10.20.0.0/16"))
                .allow(tcp(6690).from("sg-node"))
                .allow(tcp(6690).from("0.0.0.0/0")),
            group("sg-db", "db").allow(tcp(5432).from("sg-node")),
        ],
    )
}

/// `count` stacks of a node and a db group each, every tenth node group drifted (UI open to
/// the world, database rule missing), each group carrying ten rules: the planner benchmark.
pub fn many_stacks(count: usize) -> Vec<ObservedStack> {
    (0..count)
        .map(|i| {
            let node_id = format!("sg-{i:08x}a");
            let db_id = format!("sg-{i:08x}b");
            let mut node = group(&node_id, "node")
                .allow(tcp(6688).from("10.20.0.0/16"))
                .allow(tcp(6690).from(&node_id))
                .allow(tcp(6690).from("0.0.0.0/0"));
            let mut db = group(&db_id, "db");
            for extra in 0..7u16 {
                node = node.allow(tcp(9000 + extra).from("10.30.0.0/16"));
            }
            for extra in 0..9u16 {
                db = db.allow(tcp(9100 + extra).from("10.30.0.0/16"));
            }
            if i % 10 == 0 {
                node = node.allow(tcp(6688).from("0.0.0.0/0"));
                db = db.allow(tcp(9200).from("10.30.0.0/16"));
            } else {
                db = db.allow(tcp(5432).from(&node_id));
            }
            stack(&format!("demo-{i}"), vec![node, db])
        })
        .collect()
}

/// A production database URL of the demo stack (password long enough, TLS on).
pub const GOOD_DATABASE_URL: &str =
    "postgresql://chainlink:Str0ng-enough-passw0rd@db.prod.demo.internal:5432/chainlink?sslmode=require";
/// The same URL pointing at the development database: the origin article's incident.
pub const DEV_DATABASE_URL: &str =
    "postgresql://chainlink:Str0ng-enough-passw0rd@db.dev.demo.internal:5432/chainlink?sslmode=require";

/// A valid legacy (v1) parameter set for the demo stack's production mainnet environment,
/// as (name under the prefix, value).
pub fn valid_legacy_parameters() -> Vec<(&'static str, &'static str)> {
    vec![
        ("DATABASE_URL", GOOD_DATABASE_URL),
        ("ETH_URL", "wss://eth-1.rpc.prod.demo.internal"),
        ("ETH_CHAIN_ID", "1"),
        (
            "LINK_CONTRACT_ADDRESS",
            "0x514910771AF9Ca656af840dff83E8264EcF986CA",
        ),
        ("KEYSTORE_PASSWORD", "keystore-passw0rd-long-enough"),
        ("API_EMAIL", "ops@demo.internal"),
        ("API_PASSWORD", "api-passw0rd-long-enough"),
        // The node's P2P port (the legacy default stack is V1): the port the sample stack file's
        // P2P flows state.
        ("P2P_LISTEN_PORT", "6690"),
    ]
}

/// The KMS key a stack's SecureStrings are meant to be under (declared as `kms_key`).
pub const STACK_KMS_KEY: &str = "alias/chainlink-demo";
/// A key someone else holds: an attacker who may write the parameter, or a careless operator.
pub const OTHER_KMS_KEY: &str = "alias/someone-else";

/// An earlier version of a parameter: a SecureString under `kms_key`, or a plain String
/// (`None`).
pub fn parameter_version(version: i64, value: &str, kms_key: Option<&str>) -> ParameterVersion {
    ParameterVersion {
        version,
        value: SecretValue::new(value),
        kind: if kms_key.is_some() {
            ParameterKind::SecureString
        } else {
            ParameterKind::String
        },
        kms_key: kms_key.map(KmsKeyRef::new),
    }
}
