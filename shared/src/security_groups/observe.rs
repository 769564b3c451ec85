//! AWS reads: the stacks' security groups, instances, the network interfaces wearing their
//! groups, subnets and network ACLs, converted into the observed model in as few calls as AWS
//! allows (tag and group filters, the largest page size).

use aws_sdk_ec2::types::{Filter, IpPermission, SecurityGroup, Tag};
use aws_sdk_ec2::Client;
use domain::ids::{
    InstanceId, NetworkAclId, NetworkInterfaceId, RoleName, SecurityGroupId, StackName, SubnetId,
    VpcId, APPROVAL_TAG, ROLE_TAG, STACK_TAG,
};
use domain::net::{Peer, PortRange, Protocol, Rule};
use domain::security_groups::observed::{
    AclEntry, DatabasePlacement, Direction, NetworkAcl, ObservedGroup, ObservedInstance,
    ObservedInterface, ObservedStack, ObservedSubnet,
};
use domain::stack::StackSelector;
use domain::Error;
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::net::IpAddr;

/// The most results EC2 returns per page for the describe calls used here.
pub(crate) const PAGE_SIZE: i32 = 1000;
/// The most values EC2 accepts in one filter.
const FILTER_VALUES: usize = 200;

/// A security group with the stack it claims to belong to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaggedGroup {
    pub stack: Option<StackName>,
    pub group: ObservedGroup,
}

/// Which groups to read.
#[derive(Clone, Copy, Debug)]
pub enum GroupScope<'a> {
    Stacks(&'a StackSelector),
    Ids(&'a [SecurityGroupId]),
}

/// Reads groups by stack tag or by ID. Unknown IDs are simply absent from the result (a filter,
/// unlike `GroupIds`, does not fail the whole call for one deleted group).
pub async fn describe_groups(
    ec2: &Client,
    scope: GroupScope<'_>,
) -> Result<Vec<TaggedGroup>, Error> {
    let filters: Vec<Vec<Filter>> = match scope {
        GroupScope::Stacks(selector) => vec![vec![filter(
            &format!("tag:{STACK_TAG}"),
            [selector.tag_filter_value()],
        )]],
        GroupScope::Ids(ids) => ids
            .chunks(FILTER_VALUES)
            .map(|chunk| vec![filter("group-id", chunk.iter().map(|id| id.as_str()))])
            .collect(),
    };
    let mut groups = Vec::new();
    for filters in filters {
        let mut pages = ec2
            .describe_security_groups()
            .set_filters(Some(filters))
            .into_paginator()
            .page_size(PAGE_SIZE)
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| crate::aws::sdk_error("DescribeSecurityGroups", e))?;
            groups.extend(
                page.security_groups()
                    .iter()
                    .filter_map(tagged_group_from_sdk),
            );
        }
    }
    Ok(groups)
}

/// Reads every stack `selector` matches, each with its own groups, instances and network, and
/// the subnets of the stacks' DB instances `databases` reads, awaited only once a stack is found.
pub async fn observe_stacks(
    ec2: &Client,
    selector: &StackSelector,
    databases: impl Future<Output = Result<Vec<(StackName, DatabasePlacement)>, Error>>,
) -> Result<Vec<ObservedStack>, Error> {
    let groups = describe_groups(ec2, GroupScope::Stacks(selector)).await?;
    let mut stacks: BTreeMap<StackName, ObservedStack> = BTreeMap::new();
    for TaggedGroup { stack, group } in groups {
        let Some(name) = stack.filter(|name| selector.matches(name)) else {
            continue;
        };
        stacks
            .entry(name.clone())
            .or_insert_with(|| empty_stack(name))
            .groups
            .push(group);
    }
    if stacks.is_empty() {
        return Ok(Vec::new());
    }
    let instances = describe_instances(ec2, selector).await?;
    // A group is in one stack (one tag): the stack of every interface's groups.
    let stack_of: BTreeMap<SecurityGroupId, StackName> = stacks
        .iter()
        .flat_map(|(name, stack)| {
            stack
                .groups
                .iter()
                .map(move |g| (g.id.clone(), name.clone()))
        })
        .collect();
    let interfaces = describe_interfaces(ec2, stack_of.keys()).await?;
    for (stack_name, database) in databases.await? {
        if let Some(stack) = stacks.get_mut(&stack_name) {
            stack.databases.push(database);
        }
    }
    read_database_groups(ec2, &mut stacks).await?;
    let database_subnets = stacks
        .values()
        .flat_map(|s| &s.databases)
        .flat_map(|d| d.subnets.iter().cloned());
    let subnet_ids: BTreeSet<SubnetId> = instances
        .iter()
        .filter_map(|(_, instance)| instance.subnet.clone())
        .chain(interfaces.iter().filter_map(|i| i.subnet.clone()))
        .chain(database_subnets)
        .collect();
    let subnets = describe_subnets(ec2, &subnet_ids).await?;
    let acls = describe_acls(ec2, &subnet_ids).await?;
    for (stack_name, instance) in instances {
        if let Some(stack) = stacks.get_mut(&stack_name) {
            stack.instances.push(instance);
        }
    }
    for interface in interfaces {
        let owners: BTreeSet<&StackName> = interface
            .groups
            .iter()
            .filter_map(|g| stack_of.get(g))
            .collect();
        for owner in owners {
            if let Some(stack) = stacks.get_mut(owner) {
                stack.interfaces.push(interface.clone());
            }
        }
    }
    for stack in stacks.values_mut() {
        let used: BTreeSet<&SubnetId> = stack
            .instances
            .iter()
            .filter_map(|i| i.subnet.as_ref())
            .chain(stack.interfaces.iter().filter_map(|i| i.subnet.as_ref()))
            .chain(stack.databases.iter().flat_map(|d| &d.subnets))
            .collect();
        for subnet in used {
            if let Some(observed) = subnets.get(subnet) {
                let acl = acls
                    .iter()
                    .find(|(_, (_, associated))| associated.contains(subnet));
                let mut observed = observed.clone();
                observed.acl = acl.map(|(id, _)| id.clone());
                if let Some((id, (acl, _))) = acl {
                    stack.acls.insert(id.clone(), acl.clone());
                }
                stack.subnets.insert(subnet.clone(), observed);
            }
        }
    }
    Ok(stacks.into_values().collect())
}

/// The groups the stacks' DB instances wear that are not their stacks' own, read by ID (one
/// call, none when every database wears only its stack's groups): the flow check judges a
/// database by the groups it really wears.
async fn read_database_groups(
    ec2: &Client,
    stacks: &mut BTreeMap<StackName, ObservedStack>,
) -> Result<(), Error> {
    let foreign = |stack: &ObservedStack| -> BTreeSet<SecurityGroupId> {
        stack
            .databases
            .iter()
            .flat_map(|d| &d.groups)
            .filter(|id| !stack.groups.iter().any(|g| &g.id == *id))
            .cloned()
            .collect()
    };
    let wanted: Vec<SecurityGroupId> = stacks
        .values()
        .flat_map(foreign)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if wanted.is_empty() {
        return Ok(());
    }
    let read = describe_groups(ec2, GroupScope::Ids(&wanted)).await?;
    for stack in stacks.values_mut() {
        let ids = foreign(stack);
        stack.database_groups = read
            .iter()
            .filter(|tagged| ids.contains(&tagged.group.id))
            .map(|tagged| tagged.group.clone())
            .collect();
    }
    Ok(())
}

fn empty_stack(name: StackName) -> ObservedStack {
    ObservedStack {
        name,
        groups: Vec::new(),
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

pub(crate) fn filter<'a>(name: &str, values: impl IntoIterator<Item = &'a str>) -> Filter {
    Filter::builder()
        .name(name)
        .set_values(Some(values.into_iter().map(String::from).collect()))
        .build()
}

pub(crate) fn tag<'a>(tags: &'a [Tag], key: &str) -> Option<&'a str> {
    tags.iter()
        .find(|t| t.key() == Some(key))
        .and_then(|t| t.value())
}

/// A security group in domain terms; `None` for a response without an ID.
pub fn tagged_group_from_sdk(group: &SecurityGroup) -> Option<TaggedGroup> {
    let id = SecurityGroupId::new(group.group_id()?);
    Some(TaggedGroup {
        stack: tag(group.tags(), STACK_TAG).map(StackName::new),
        group: ObservedGroup {
            id,
            name: group.group_name().unwrap_or_default().to_string(),
            vpc: group.vpc_id().map(VpcId::new),
            role: tag(group.tags(), ROLE_TAG).and_then(RoleName::parse),
            ingress: group
                .ip_permissions()
                .iter()
                .flat_map(rules_from_permission)
                .collect(),
            egress: group
                .ip_permissions_egress()
                .iter()
                .flat_map(rules_from_permission)
                .collect(),
            used_approvals: tag(group.tags(), APPROVAL_TAG)
                .map(|nonces| nonces.split_whitespace().map(String::from).collect())
                .unwrap_or_default(),
        },
    })
}

/// The ports of a permission as EC2 states them: none for protocols without ports, every port
/// when a bound is missing or out of range.
fn permission_ports(protocol: Protocol, from: Option<i32>, to: Option<i32>) -> Option<PortRange> {
    if !protocol.has_ports() {
        return None;
    }
    let port = |p: Option<i32>| p.and_then(|p| u16::try_from(p).ok());
    match (port(from), port(to)) {
        (Some(from), Some(to)) => PortRange::new(from, to),
        _ => Some(PortRange::ALL),
    }
}

/// Flattens one `IpPermission` into single-peer rules.
pub fn rules_from_permission(permission: &IpPermission) -> Vec<Rule> {
    let Some(protocol) = permission.ip_protocol().and_then(Protocol::from_aws) else {
        return Vec::new();
    };
    let ports = permission_ports(protocol, permission.from_port(), permission.to_port());
    let cidrs_v4 = permission.ip_ranges().iter().filter_map(|r| r.cidr_ip());
    let cidrs_v6 = permission
        .ipv6_ranges()
        .iter()
        .filter_map(|r| r.cidr_ipv6());
    let cidrs = cidrs_v4
        .chain(cidrs_v6)
        .filter_map(|raw| raw.parse().ok())
        .map(Peer::Cidr);
    let groups = permission
        .user_id_group_pairs()
        .iter()
        .filter_map(|pair| pair.group_id())
        .map(|id| Peer::Group(SecurityGroupId::new(id)));
    let prefix_lists = permission
        .prefix_list_ids()
        .iter()
        .filter_map(|p| p.prefix_list_id())
        .map(|id| Peer::PrefixList(id.to_string()));
    cidrs
        .chain(groups)
        .chain(prefix_lists)
        .map(|peer| Rule {
            protocol,
            ports,
            peer,
        })
        .collect()
}

async fn describe_instances(
    ec2: &Client,
    selector: &StackSelector,
) -> Result<Vec<(StackName, ObservedInstance)>, Error> {
    let mut pages = ec2
        .describe_instances()
        .filters(filter(
            &format!("tag:{STACK_TAG}"),
            [selector.tag_filter_value()],
        ))
        .filters(filter(
            "instance-state-name",
            ["pending", "running", "stopping", "stopped"],
        ))
        .into_paginator()
        .page_size(PAGE_SIZE)
        .send();
    let mut instances = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| crate::aws::sdk_error("DescribeInstances", e))?;
        for instance in page.reservations().iter().flat_map(|r| r.instances()) {
            let (Some(id), Some(stack)) = (instance.instance_id(), tag(instance.tags(), STACK_TAG))
            else {
                continue;
            };
            instances.push((
                StackName::new(stack),
                ObservedInstance {
                    id: InstanceId::new(id),
                    role: tag(instance.tags(), ROLE_TAG).and_then(RoleName::parse),
                    subnet: instance.subnet_id().map(SubnetId::new),
                    groups: instance
                        .security_groups()
                        .iter()
                        .filter_map(|g| g.group_id())
                        .map(SecurityGroupId::new)
                        .collect(),
                },
            ));
        }
    }
    Ok(instances)
}

/// Every network interface wearing one of `groups`, whatever it belongs to (an instance, an RDS
/// cluster, a load balancer, tagged or not): where the groups' traffic really is. One paged call
/// per 200 groups, rather than a call per kind of owner.
async fn describe_interfaces<'a>(
    ec2: &Client,
    groups: impl Iterator<Item = &'a SecurityGroupId>,
) -> Result<Vec<ObservedInterface>, Error> {
    let ids: Vec<&str> = groups.map(SecurityGroupId::as_str).collect();
    let mut interfaces = Vec::new();
    for chunk in ids.chunks(FILTER_VALUES) {
        let mut pages = ec2
            .describe_network_interfaces()
            .filters(filter("group-id", chunk.iter().copied()))
            .into_paginator()
            .page_size(PAGE_SIZE)
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| crate::aws::sdk_error("DescribeNetworkInterfaces", e))?;
            interfaces.extend(
                page.network_interfaces()
                    .iter()
                    .filter_map(interface_from_sdk),
            );
        }
    }
    Ok(interfaces)
}

/// A network interface in domain terms; `None` for a response without an ID.
pub fn interface_from_sdk(
    interface: &aws_sdk_ec2::types::NetworkInterface,
) -> Option<ObservedInterface> {
    let id = NetworkInterfaceId::new(interface.network_interface_id()?);
    // The primary address leads; it is also among the private addresses, listed once.
    let primary = interface.private_ip_address().into_iter();
    let private = interface
        .private_ip_addresses()
        .iter()
        .filter_map(|a| a.private_ip_address());
    let ipv6 = interface
        .ipv6_addresses()
        .iter()
        .filter_map(|a| a.ipv6_address());
    let mut addresses: Vec<IpAddr> = Vec::new();
    for address in primary
        .chain(private)
        .chain(ipv6)
        .filter_map(|raw| raw.parse::<IpAddr>().ok())
    {
        if !addresses.contains(&address) {
            addresses.push(address);
        }
    }
    Some(ObservedInterface {
        id,
        subnet: interface.subnet_id().map(SubnetId::new),
        groups: interface
            .groups()
            .iter()
            .filter_map(|g| g.group_id())
            .map(SecurityGroupId::new)
            .collect(),
        addresses,
    })
}

async fn describe_subnets(
    ec2: &Client,
    ids: &BTreeSet<SubnetId>,
) -> Result<BTreeMap<SubnetId, ObservedSubnet>, Error> {
    let ids: Vec<&str> = ids.iter().map(SubnetId::as_str).collect();
    let mut subnets = BTreeMap::new();
    for chunk in ids.chunks(FILTER_VALUES) {
        let mut pages = ec2
            .describe_subnets()
            .filters(filter("subnet-id", chunk.iter().copied()))
            .into_paginator()
            .page_size(PAGE_SIZE)
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| crate::aws::sdk_error("DescribeSubnets", e))?;
            for subnet in page.subnets() {
                let Some(id) = subnet.subnet_id() else {
                    continue;
                };
                subnets.insert(
                    SubnetId::new(id),
                    ObservedSubnet {
                        cidr: subnet.cidr_block().and_then(|c| c.parse().ok()),
                        acl: None,
                    },
                );
            }
        }
    }
    Ok(subnets)
}

/// Each ACL with the subnets it is associated with.
async fn describe_acls(
    ec2: &Client,
    subnets: &BTreeSet<SubnetId>,
) -> Result<BTreeMap<NetworkAclId, (NetworkAcl, Vec<SubnetId>)>, Error> {
    let ids: Vec<&str> = subnets.iter().map(SubnetId::as_str).collect();
    let mut acls = BTreeMap::new();
    for chunk in ids.chunks(FILTER_VALUES) {
        let mut pages = ec2
            .describe_network_acls()
            .filters(filter("association.subnet-id", chunk.iter().copied()))
            .into_paginator()
            .page_size(PAGE_SIZE)
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| crate::aws::sdk_error("DescribeNetworkAcls", e))?;
            for acl in page.network_acls() {
                let Some(id) = acl.network_acl_id() else {
                    continue;
                };
                let entries = acl
                    .entries()
                    .iter()
                    .filter_map(acl_entry_from_sdk)
                    .collect();
                let associated = acl
                    .associations()
                    .iter()
                    .filter_map(|a| a.subnet_id())
                    .map(SubnetId::new)
                    .collect();
                acls.insert(NetworkAclId::new(id), (NetworkAcl { entries }, associated));
            }
        }
    }
    Ok(acls)
}

fn acl_entry_from_sdk(entry: &aws_sdk_ec2::types::NetworkAclEntry) -> Option<AclEntry> {
    let protocol = Protocol::from_aws(entry.protocol()?)?;
    let ports = entry.port_range().and_then(|range| {
        let from = u16::try_from(range.from()?).ok()?;
        let to = u16::try_from(range.to()?).ok()?;
        PortRange::new(from, to)
    });
    let cidr = entry
        .cidr_block()
        .or(entry.ipv6_cidr_block())?
        .parse()
        .ok()?;
    Some(AclEntry {
        rule_number: entry.rule_number()?,
        direction: if entry.egress()? {
            Direction::Outbound
        } else {
            Direction::Inbound
        },
        protocol,
        ports: if protocol.has_ports() { ports } else { None },
        cidr,
        allow: entry.rule_action()?.as_str() == "allow",
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ec2::types::{IpRange, Ipv6Range, UserIdGroupPair};

    #[test]
    fn permissions_flatten_to_one_rule_per_peer() {
        let permission = IpPermission::builder()
            .ip_protocol("tcp")
            .from_port(5432)
            .to_port(5432)
            .ip_ranges(IpRange::builder().cidr_ip("10.0.0.0/16").build())
            .ipv6_ranges(Ipv6Range::builder().cidr_ipv6("::/0").build())
            .user_id_group_pairs(UserIdGroupPair::builder().group_id("sg-0abc").build())
            .build();
        let rules: Vec<String> = rules_from_permission(&permission)
            .iter()
            .map(Rule::to_string)
            .collect();
        assert_eq!(
            rules,
            [
                "tcp 5432 from 10.0.0.0/16",
                "tcp 5432 from ::/0",
                "tcp 5432 from sg-0abc"
            ]
        );
    }

    #[test]
    fn an_interface_keeps_every_private_address_once_primary_first() {
        use aws_sdk_ec2::types::{
            GroupIdentifier, NetworkInterface, NetworkInterfaceIpv6Address,
            NetworkInterfacePrivateIpAddress,
        };
        let private = |raw: &str| {
            NetworkInterfacePrivateIpAddress::builder()
                .private_ip_address(raw)
                .build()
        };
        let sdk = NetworkInterface::builder()
            .network_interface_id("eni-0abc")
            .subnet_id("subnet-0abc")
            .groups(GroupIdentifier::builder().group_id("sg-0db").build())
            .private_ip_address("10.0.2.20")
            .private_ip_addresses(private("10.0.2.21"))
            .private_ip_addresses(private("10.0.2.20"))
            .ipv6_addresses(
                NetworkInterfaceIpv6Address::builder()
                    .ipv6_address("fd00::20")
                    .build(),
            )
            .build();
        let Some(interface) = interface_from_sdk(&sdk) else {
            panic!("an interface with an ID is read")
        };
        let addresses: Vec<String> = interface.addresses.iter().map(|a| a.to_string()).collect();
        assert_eq!(addresses, ["10.0.2.20", "10.0.2.21", "fd00::20"]);
        assert_eq!(interface.groups, [SecurityGroupId::new("sg-0db")]);
        assert_eq!(interface.subnet, Some(SubnetId::new("subnet-0abc")));
    }

    #[test]
    fn all_traffic_and_icmp_carry_no_ports() {
        let all = IpPermission::builder()
            .ip_protocol("-1")
            .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
            .build();
        assert_eq!(
            rules_from_permission(&all)[0].to_string(),
            "all traffic from 0.0.0.0/0"
        );
        let icmp = IpPermission::builder()
            .ip_protocol("icmp")
            .from_port(8)
            .to_port(-1)
            .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
            .build();
        assert_eq!(rules_from_permission(&icmp)[0].ports, None);
    }
}
