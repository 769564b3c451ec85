//! How many Chainlink nodes a stack runs: the instances, running or starting, in the roles the
//! node's configuration speaks for. Read only when the stack declares its database's connection
//! limit, which their connections share.

use crate::aws::sdk_error;
use crate::security_groups::observe::filter;
use aws_sdk_ec2::Client;
use domain::ids::{RoleName, StackName, ROLE_TAG, STACK_TAG};
use domain::Error;

/// AWS's largest page of instances.
const PAGE_SIZE: i32 = 1000;

/// The number of `stack`'s instances in `roles` that hold (or are about to hold) database
/// connections. One paged call.
pub async fn count_nodes(
    ec2: &Client,
    stack: &StackName,
    roles: &[RoleName],
) -> Result<u32, Error> {
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
    let mut count: u32 = 0;
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| sdk_error("DescribeInstances", e))?;
        let found = page
            .reservations()
            .iter()
            .map(|r| r.instances().len())
            .sum::<usize>();
        count = count.saturating_add(u32::try_from(found).unwrap_or(u32::MAX));
    }
    Ok(count)
}
