//! A security-group approval's single use, recorded on the groups it changes the way an alarm
//! remediation's is recorded on its incident: before any rule changes, each group the approved
//! plan touches gets the approval's nonce in its `chainlink:approval` tag. The next run on the
//! same approval finds it there and refuses, even if the very same drift came back.

use crate::aws::{filter, sdk_error};
use aws_sdk_ec2::types::Tag;
use aws_sdk_ec2::Client;
use domain::ids::{SecurityGroupId, APPROVALS_KEPT, APPROVAL_TAG};
use domain::security_groups::SecurityGroupPlan;
use domain::Error;
use std::collections::{BTreeMap, BTreeSet};

/// Adds `nonce` to the tag of every group `plan` changes, keeping the last `APPROVALS_KEPT`.
/// One `DescribeTags` for the current values, then one `CreateTags` per group.
pub(crate) async fn record_approval(
    ec2: &Client,
    plan: &SecurityGroupPlan,
    nonce: &str,
) -> Result<(), Error> {
    let groups: BTreeSet<&SecurityGroupId> = plan.actions.iter().map(|a| a.group()).collect();
    if groups.is_empty() {
        return Ok(());
    }
    let current = ec2
        .describe_tags()
        .filters(filter("resource-id", groups.iter().map(|g| g.as_str())))
        .filters(filter("key", [APPROVAL_TAG]))
        .send()
        .await
        .map_err(|e| sdk_error("DescribeTags", e))?;
    let mut used: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for tag in current.tags() {
        if let (Some(group), Some(value)) = (tag.resource_id(), tag.value()) {
            used.entry(group)
                .or_default()
                .extend(value.split_whitespace());
        }
    }
    for group in groups {
        let mut nonces: Vec<&str> = used.get(group.as_str()).cloned().unwrap_or_default();
        nonces.retain(|n| *n != nonce);
        nonces.push(nonce);
        let kept = &nonces[nonces.len().saturating_sub(APPROVALS_KEPT)..];
        ec2.create_tags()
            .resources(group.as_str())
            .tags(
                Tag::builder()
                    .key(APPROVAL_TAG)
                    .value(kept.join(" "))
                    .build(),
            )
            .send()
            .await
            .map_err(|e| sdk_error("CreateTags", e))?;
    }
    Ok(())
}
