//! The stack's Chainlink nodes as the parameter checks need them: how many hold database
//! connections (the instances, running or starting, in the roles the node's configuration
//! speaks for), and which node version their tag says they run. One paged read, made only when
//! the stack file asks for either (a declared connection limit, a version tag).

use crate::aws::sdk_error;
use crate::security_groups::observe::filter;
use aws_sdk_ec2::types::Tag;
use aws_sdk_ec2::Client;
use chainlink::NodeVersion;
use domain::ids::{RoleName, StackName, ROLE_TAG, STACK_TAG};
use domain::Error;

/// AWS's largest page of instances.
const PAGE_SIZE: i32 = 1000;

/// What the stack's node instances say.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Nodes {
    pub count: u32,
    /// The newest version the nodes' tags name: during a rolling upgrade the configuration must
    /// suit the version being rolled out. `None`: no node carries a version that parses.
    pub version: Option<NodeVersion>,
    /// Values of the version tag that are not versions, for the log.
    pub unreadable: Vec<String>,
}

/// Reads `stack`'s instances in `roles`; `version_tag`, when given, is the tag whose value is
/// the node version.
pub async fn read_nodes(
    ec2: &Client,
    stack: &StackName,
    roles: &[RoleName],
    version_tag: Option<&str>,
) -> Result<Nodes, Error> {
    let mut pages = ec2
        .describe_instances()
        .filters(filter(&format!("tag:{STACK_TAG}"), [stack.as_str()]))
        .filters(filter(
            &format!("tag:{ROLE_TAG}"),
            roles.iter().map(RoleName::as_str),
        ))
        .filters(filter("instance-state-name", ["pending", "running"]))
        .into_paginator()
        .page_size(PAGE_SIZE)
        .send();
    let mut nodes = Nodes::default();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| sdk_error("DescribeInstances", e))?;
        for instance in page.reservations().iter().flat_map(|r| r.instances()) {
            nodes.count = nodes.count.saturating_add(1);
            let Some(value) = version_tag.and_then(|key| tag_value(instance.tags(), key)) else {
                continue;
            };
            match value.parse::<NodeVersion>() {
                Ok(version) => nodes.version = nodes.version.max(Some(version)),
                Err(_) => nodes.unreadable.push(value.to_string()),
            }
        }
    }
    Ok(nodes)
}

fn tag_value<'a>(tags: &'a [Tag], key: &str) -> Option<&'a str> {
    tags.iter()
        .find(|t| t.key() == Some(key))
        .and_then(|t| t.value())
}
