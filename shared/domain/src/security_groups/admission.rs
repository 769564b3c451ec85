//! Which of the groups tagged into a stack the stack file admits: only groups in the stack's
//! VPCs, and in a role that lists its accepted groups, only those.
//!
//! The tags find a stack's groups, but anyone allowed to tag a group of their own can tag it
//! into the stack with a role, and a flow would then open the database or node ports to it.
//! The stack file is reviewed and deployed; the tags are not. So a group the file does not
//! admit is never a flow's source or target and is never changed: it is reported, with why.

use super::observed::{ObservedGroup, ObservedStack};
use crate::ids::{RoleName, SecurityGroupId, VpcId};
use crate::stack::StackFile;
use serde::Serialize;
use std::fmt;

/// A group tagged into the stack that the stack file does not admit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RefusedGroup {
    pub group: SecurityGroupId,
    /// The group's name, which a person knows it by.
    pub name: String,
    pub vpc: Option<VpcId>,
    pub role: Option<RoleName>,
    pub reason: String,
}

impl fmt::Display for RefusedGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let vpc = self.vpc.as_ref().map_or("no VPC", |v| v.as_str());
        write!(f, "{} (", self.group)?;
        if !self.name.is_empty() {
            write!(f, "{}, ", self.name)?;
        }
        write!(f, "{vpc}")?;
        if let Some(role) = &self.role {
            write!(f, ", role {role}")?;
        }
        write!(f, "): {}", self.reason)
    }
}

/// Why the stack file does not admit `group`, or `None` when it does.
pub fn refusal(file: &StackFile, group: &ObservedGroup) -> Option<RefusedGroup> {
    let refused = |reason: String| RefusedGroup {
        group: group.id.clone(),
        name: group.name.clone(),
        vpc: group.vpc.clone(),
        role: group.role.clone(),
        reason,
    };
    if !file.vpcs.is_empty() && !group.vpc.as_ref().is_some_and(|v| file.vpcs.contains(v)) {
        let vpcs: Vec<&str> = file.vpcs.iter().map(VpcId::as_str).collect();
        let place = group
            .vpc
            .as_ref()
            .map_or("no VPC".to_string(), |v| format!("VPC {v}"));
        return Some(refused(format!(
            "carries the stack tag but is in {place}, not in the stack's VPCs ({}); never admitted, never changed",
            vpcs.join(", ")
        )));
    }
    let role = group.role.as_ref()?;
    let accepted = &file.roles.get(role)?.groups;
    if !accepted.is_empty() && !accepted.contains(&group.id) {
        return Some(refused(format!(
            "carries role {role} but is not one of its accepted groups (roles.{role}.groups); never admitted, never changed"
        )));
    }
    None
}

/// The admitted groups of `role` in `stack`: the peers and targets of the role's flows.
pub(crate) fn admitted_with_role<'a>(
    file: &'a StackFile,
    stack: &'a ObservedStack,
    role: &'a RoleName,
) -> impl Iterator<Item = &'a ObservedGroup> + 'a {
    stack
        .groups_with_role(role)
        .filter(move |group| refusal(file, group).is_none())
}
