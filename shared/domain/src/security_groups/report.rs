//! The security-groups section of a stack's report: each action with its outcome, what was
//! left alone and why, and every flow before and after the run.

use super::observed::ObservedGroup;
use super::{
    Exemption, Exposure, FlowCheck, FlowStatus, RefusedGroup, SecurityGroupAction, UnmanagedRule,
    Verdict,
};
use crate::ids::{RoleName, SecurityGroupId};
use crate::outcome::{write_numbered, ActionOutcome};
use chainlink::Finding;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;

#[derive(Clone, Debug, Serialize)]
pub struct ActionReport {
    #[serde(flatten)]
    pub action: SecurityGroupAction,
    #[serde(flatten)]
    pub outcome: ActionOutcome,
}

/// A flow as observed at the start of the run, and its status once the run's changes hold.
#[derive(Clone, Debug, Serialize)]
pub struct FlowReport {
    #[serde(flatten)]
    pub check: FlowCheck,
    pub after: FlowStatus,
}

/// The security groups of a stack: each action with its outcome, what was left alone and why,
/// and the flows before and after.
#[derive(Clone, Debug, Default, Serialize)]
pub struct SecurityGroupReport {
    pub actions: Vec<ActionReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refusal: Option<String>,
    pub exempt: Vec<Exemption>,
    pub unmanaged: Vec<UnmanagedRule>,
    /// Groups tagged into the stack that the stack file does not admit, with why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub refused: Vec<RefusedGroup>,
    /// What following the node's configuration found (`CL-NET-*`): a flow whose port the
    /// configuration does not give, a stated port it contradicts.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<Finding>,
    pub flow_check: Vec<FlowReport>,
    /// Forbidden ports of the stack's instances that the world reaches through a load
    /// balancer: reported, never changed (the load balancer is whoever deployed it's).
    pub exposures: Vec<Exposure>,
    /// The name and role of each of the stack's groups, by ID: the report names groups by ID,
    /// which alone tells a person nothing (the text shows them side by side).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub groups: BTreeMap<SecurityGroupId, GroupLabel>,
}

/// What a person knows a security group by.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GroupLabel {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<RoleName>,
}

impl GroupLabel {
    /// The labels of a stack's groups.
    pub fn of<'a>(
        groups: impl IntoIterator<Item = &'a ObservedGroup>,
    ) -> BTreeMap<SecurityGroupId, GroupLabel> {
        groups
            .into_iter()
            .map(|group| {
                let label = GroupLabel {
                    name: group.name.clone(),
                    role: group.role.clone(),
                };
                (group.id.clone(), label)
            })
            .collect()
    }
}

impl SecurityGroupReport {
    /// `sg-… (name, role R)` for a group of the stack; anything else (a CIDR, a group of
    /// another stack, a network ACL) as it is.
    pub fn label(&self, resource: &str) -> String {
        let Some(label) = self
            .groups
            .iter()
            .find(|(id, _)| id.as_str() == resource)
            .map(|(_, label)| label)
        else {
            return resource.to_string();
        };
        let mut known: Vec<String> = Vec::new();
        if !label.name.is_empty() {
            known.push(label.name.clone());
        }
        if let Some(role) = &label.role {
            known.push(format!("role {role}"));
        }
        if known.is_empty() {
            resource.to_string()
        } else {
            format!("{resource} ({})", known.join(", "))
        }
    }
}

/// An action with its group shown by label.
struct Labeled<'a> {
    action: &'a super::SecurityGroupAction,
    group: String,
}

impl fmt::Display for Labeled<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.action.write_on(f, &self.group)
    }
}

impl fmt::Display for SecurityGroupReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.actions.is_empty()
            && self.flow_check.is_empty()
            && self.refused.is_empty()
            && self.exposures.is_empty()
            && self.findings.is_empty()
        {
            return Ok(());
        }
        match self.actions.len() {
            0 => writeln!(f, "  security groups: nothing to do")?,
            n => writeln!(f, "  security groups: {n} action(s)")?,
        }
        let labeled: Vec<Labeled<'_>> = self
            .actions
            .iter()
            .map(|a| Labeled {
                action: &a.action,
                group: self.label(a.action.group().as_str()),
            })
            .collect();
        let actions = labeled
            .iter()
            .zip(&self.actions)
            .map(|(l, a)| (l as &dyn fmt::Display, &a.outcome.outcome));
        write_numbered(f, "  ", actions)?;
        if let Some(refusal) = &self.refusal {
            writeln!(f, "  refused: {refusal}")?;
        }
        for exempt in &self.exempt {
            writeln!(
                f,
                "  exempt: {} on {} ({})",
                exempt.change,
                self.label(exempt.group.as_str()),
                exempt.reason
            )?;
        }
        for refused in &self.refused {
            writeln!(f, "  not admitted: {refused}")?;
        }
        for finding in &self.findings {
            writeln!(
                f,
                "  {} {}: {}",
                finding.severity, finding.code, finding.message
            )?;
        }
        if !self.unmanaged.is_empty() {
            writeln!(
                f,
                "  unmanaged rules (neither required nor forbidden; left alone):"
            )?;
            for unmanaged in &self.unmanaged {
                writeln!(
                    f,
                    "    {}: {}",
                    self.label(unmanaged.group.as_str()),
                    unmanaged.rule
                )?;
            }
        }
        if !self.exposures.is_empty() {
            writeln!(
                f,
                "  exposed to the world through a load balancer (reported, not changed: each load balancer belongs to whoever deployed it):"
            )?;
            for exposure in &self.exposures {
                writeln!(f, "    {exposure}")?;
            }
        }
        writeln!(
            f,
            "  flow check (security groups and network ACLs, now → after this run):"
        )?;
        for flow in &self.flow_check {
            let check = &flow.check;
            let path = format!("{} → {}", check.from, check.to);
            let traffic = format!("{} {}", check.protocol, check.ports);
            let status = check.status.to_string();
            writeln!(
                f,
                "    {:<14} {path:<26} {traffic:<10} {status:>10} → {}",
                check.flow, flow.after
            )?;
            if let Some(note) = &check.note {
                writeln!(f, "        {note}")?;
            }
            // What blocks or leaves a path unverified; on an open path, a rule broader than the
            // flow needs, since that is what an operator narrowing the rules must know.
            for path in &check.paths {
                for hop in &path.hops {
                    let verdict = match hop.verdict {
                        Verdict::Allowed if hop.broader => "open",
                        Verdict::Allowed => continue,
                        Verdict::Denied => "denied",
                        Verdict::Unknown => "unknown",
                    };
                    writeln!(
                        f,
                        "        {} → {}: {verdict} at {}: {}",
                        self.label(&path.source),
                        self.label(path.target.as_str()),
                        self.label(&hop.resource),
                        hop.detail
                    )?;
                }
            }
        }
        Ok(())
    }
}
