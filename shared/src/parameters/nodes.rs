//! The stack's Chainlink nodes as the parameter checks need them: how many hold database
//! connections (the instances, running or starting, in the roles the node's configuration
//! speaks for), and which node version their tag says they run. One paged read, made only when
//! the stack file asks for either (a connection limit, a version tag). The parameter step's
//! policy also carries what a look at each secret kept in Secrets Manager found, and the
//! connection limit of the stack's database.

use super::secret_places::look_at_places;
use crate::aws::sdk_error;
use crate::capability::Context;
use crate::database::observe::read_stack_databases;
use crate::security_groups::observe::{filter, PAGE_SIZE};
use aws_sdk_ec2::types::Tag;
use aws_sdk_ec2::Client;
use chainlink::{Endpoint, EndpointKind, EnvironmentPolicy, Finding, NodeVersion};
use domain::database::{resolve_connection_limit, ObservedDatabase};
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
pub(crate) async fn read_nodes(
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

/// What the parameter step knows of the stack beyond its file.
pub(crate) struct StackFacts {
    /// The policy the parameters are judged under.
    pub policy: EnvironmentPolicy,
    /// The stack's DB instance the node's database URL points at (or, when it points at none,
    /// the first of them), with `[database]`; `None` without, or when none could be read.
    pub database: Option<ObservedDatabase>,
    /// What choosing the connection limit found (CL-RDS-007, CL-RDS-008).
    pub findings: Vec<Finding>,
}

/// The stack file's environment policy for the parameter step: with what a look at each secret
/// kept in Secrets Manager found; with the connection limit of the stack's database
/// (`[database]`) when it can be evaluated (`domain::database::resolve_connection_limit` says
/// which of it and the file's wins); and completed from the stack's nodes (`stack_policy`).
/// `endpoints` are the node's, from its parameters. A database that cannot be read is left out,
/// and the log says so: the checks it feeds never decide a rollback.
pub(crate) async fn stack_facts(
    cx: &Context<'_>,
    stack: &StackName,
    endpoints: &[Endpoint],
) -> StackFacts {
    let mut policy = cx.file.environment.clone();
    policy.secrets_elsewhere =
        look_at_places(&cx.clients.secrets, stack, &policy.secrets_elsewhere).await;
    let database = match &cx.file.database {
        Some(declared) => stack_database(cx, stack, &declared.role, endpoints).await,
        None => None,
    };
    let mut findings = Vec::new();
    if let Some(database) = &database {
        let resolved = resolve_connection_limit(database, policy.database_max_connections);
        policy.database_max_connections = resolved.connections;
        findings = resolved.findings;
    }
    StackFacts {
        policy: with_nodes(cx, stack, policy).await,
        database,
        findings,
    }
}

/// The stack's DB instance in `role` that the node's primary database URL names (by its
/// endpoint's host), else the first one RDS lists.
async fn stack_database(
    cx: &Context<'_>,
    stack: &StackName,
    role: &RoleName,
    endpoints: &[Endpoint],
) -> Option<ObservedDatabase> {
    let databases = match read_stack_databases(&cx.clients.rds, &cx.databases, stack, role).await {
        Ok(databases) => databases,
        Err(error) => {
            tracing::warn!(stack = %stack, error = %error, "the stack's database could not be read: its checks and connection limit are left out this run");
            return None;
        }
    };
    let named = endpoints
        .iter()
        .filter(|e| e.kind == EndpointKind::Database && !e.backup)
        .find_map(|url| {
            databases.iter().position(|db| {
                db.endpoint
                    .as_ref()
                    .is_some_and(|e| e.host.eq_ignore_ascii_case(&url.host))
            })
        });
    databases.into_iter().nth(named.unwrap_or(0))
}

/// The stack file's environment policy, completed from the stack's node instances when the file
/// asks: the number of nodes that share the database's connection limit, and the node version
/// their tag names. Nodes that cannot be read leave both out (the checks they feed find what
/// the node would refuse or overload, never a reason to roll back on a guess), and the log says
/// so. Both steps that judge the configuration (the parameters' and, in the parameter function,
/// the security groups') judge its validity under this policy.
pub(crate) async fn stack_policy(cx: &Context<'_>, stack: &StackName) -> EnvironmentPolicy {
    with_nodes(cx, stack, cx.file.environment.clone()).await
}

async fn with_nodes(
    cx: &Context<'_>,
    stack: &StackName,
    mut policy: EnvironmentPolicy,
) -> EnvironmentPolicy {
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
