//! The stack's Chainlink nodes as the parameter checks need them: how many hold database
//! connections (the instances, running or starting, in the roles the node's configuration
//! speaks for), and which node version their tag says they run. One paged read, made only when
//! the stack file asks for either (a declared connection limit, a version tag). The policy both
//! complete also carries what a look at each secret kept in Secrets Manager found.

use super::secret_places::look_at_places;
use crate::aws::sdk_error;
use crate::capability::Context;
use crate::security_groups::observe::{filter, PAGE_SIZE};
use aws_sdk_ec2::types::Tag;
use aws_sdk_ec2::Client;
use chainlink::{EnvironmentPolicy, NodeVersion};
use domain::ids::{RoleName, StackName, ROLE_TAG, STACK_TAG};
use domain::Error;

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
async fn read_nodes(
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

/// The stack file's environment policy, with what a look at each secret kept in Secrets Manager
/// found, and completed from the stack's node instances when the file asks: the number of nodes that share the database's declared connection limit, and the
/// node version their tag names. Nodes that cannot be read leave both out (the checks they feed
/// find what the node would refuse or overload, never a reason to roll back on a guess), and
/// the log says so. Both steps that judge the configuration (the parameters' and, in the
/// parameter function, the security groups') judge it under this one policy.
pub(crate) async fn stack_policy(cx: &Context<'_>, stack: &StackName) -> EnvironmentPolicy {
    let mut policy = cx.file.environment.clone();
    policy.secrets_elsewhere =
        look_at_places(&cx.clients.secrets, stack, &policy.secrets_elsewhere).await;
    let version_tag = cx.file.node_version_tag.as_deref();
    if policy.database_max_connections.is_none() && version_tag.is_none() {
        return policy;
    }
    let roles = cx.file.node_roles();
    if roles.is_empty() {
        return policy;
    }
    match read_nodes(&cx.clients.ec2, stack, &roles, version_tag).await {
        Ok(nodes) => {
            if !nodes.unreadable.is_empty() {
                tracing::warn!(stack = %stack, values = ?nodes.unreadable, "node version tags that are not versions (major.minor.patch): ignored");
            }
            if version_tag.is_some() {
                policy.node_version = nodes.version;
            }
            policy.with_node_count(nodes.count)
        }
        Err(error) => {
            tracing::warn!(stack = %stack, error = %error, "the stack's nodes could not be read: no node count or tagged version this run");
            policy
        }
    }
}
