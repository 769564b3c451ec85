//! Security groups: the observed model, the pure planner (from a stack file and an observed
//! stack to a `SecurityGroupPlan`: a list of actions and everything a person needs to judge
//! them), the flow check, and the exposures through load balancers (reported, never changed).
//!
//! No AWS, no clock, no environment: the same inputs always give the same plan, which is what
//! makes `plan` an exact preview of `apply` and lets a sweep of thousands of groups be computed
//! in milliseconds.

mod addresses;
mod admission;
mod flow_check;
mod flow_checks;
pub mod load_balancers;
mod node_flows;
pub mod observed;
mod outbound_check;
mod plan;
pub mod report;
mod simulate;

pub use admission::{refusal, RefusedGroup};
pub use flow_check::{FlowCheck, FlowStatus, Hop, HopLayer, PathCheck, Verdict};
pub use flow_checks::check_flows;
pub use load_balancers::{world_exposures, Exposure};
pub use node_flows::{stack_flows, ConfigBasis, MovedFlow, NodeConfig, StackFlows};
pub use plan::plan_security_groups;

use crate::ids::{SecurityGroupId, StackName};
use crate::net::{PortRange, Rule};
use chainlink::Finding;
use serde::Serialize;
use std::fmt;

/// What the engine intends to do to one stack, and why.
#[derive(Clone, Debug, Serialize)]
pub struct SecurityGroupPlan {
    pub stack: StackName,
    /// In execution order: every authorization comes before any revocation (make before break).
    pub actions: Vec<SecurityGroupAction>,
    /// Set when the plan exceeds the stack file's limits: nothing may be applied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refusal: Option<String>,
    pub exempt: Vec<Exemption>,
    pub unmanaged: Vec<UnmanagedRule>,
    /// Groups tagged into the stack that the stack file does not admit: never changed.
    pub refused: Vec<RefusedGroup>,
    /// What following the node's configuration found (`CL-NET-*`).
    pub findings: Vec<Finding>,
}

impl SecurityGroupPlan {
    /// How many rule changes the plan makes; what the blast-radius limit counts.
    pub fn change_count(&self) -> usize {
        self.actions
            .iter()
            .map(SecurityGroupAction::change_count)
            .sum()
    }
}

/// One API call's worth of change to one security group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind")]
pub enum SecurityGroupAction {
    /// Open the rules required flows need.
    AuthorizeIngress {
        group: SecurityGroupId,
        rules: Vec<RequiredRule>,
    },
    /// Close rules that expose forbidden ports to the world.
    RevokeIngress {
        group: SecurityGroupId,
        rules: Vec<ExposingRule>,
    },
}

impl SecurityGroupAction {
    pub fn group(&self) -> &SecurityGroupId {
        match self {
            Self::AuthorizeIngress { group, .. } | Self::RevokeIngress { group, .. } => group,
        }
    }

    pub fn change_count(&self) -> usize {
        match self {
            Self::AuthorizeIngress { rules, .. } => rules.len(),
            Self::RevokeIngress { rules, .. } => rules.len(),
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Self::AuthorizeIngress { .. } => "AuthorizeIngress",
            Self::RevokeIngress { .. } => "RevokeIngress",
        }
    }
}

impl fmt::Display for SecurityGroupAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_on(f, self.group().as_str())
    }
}

impl SecurityGroupAction {
    /// The action with its group shown as `group` (a report adds the group's name and role).
    pub(crate) fn write_on(&self, f: &mut fmt::Formatter<'_>, group: &str) -> fmt::Result {
        match self {
            Self::AuthorizeIngress { rules, .. } => {
                write!(f, "authorize on {group}:")?;
                for required in rules {
                    write!(
                        f,
                        "\n       + {} (flow {})",
                        required.rule,
                        required.flows.join(", ")
                    )?;
                }
                Ok(())
            }
            Self::RevokeIngress { rules, .. } => {
                write!(f, "revoke on {group}:")?;
                for exposing in rules {
                    let ports: Vec<String> =
                        exposing.exposes.iter().map(|p| p.to_string()).collect();
                    match &exposing.moved {
                        Some(moved) => write!(f, "\n       - {} ({moved})", exposing.rule)?,
                        None => write!(
                            f,
                            "\n       - {} (exposes {})",
                            exposing.rule,
                            ports.join(", ")
                        )?,
                    }
                    if !exposing.replaced_by.is_empty() {
                        write!(
                            f,
                            "; carried flow {}, re-authorized narrowly first",
                            exposing.replaced_by.join(", ")
                        )?;
                    }
                }
                Ok(())
            }
        }
    }
}

/// A rule to authorize, with the flows that need it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RequiredRule {
    pub rule: Rule,
    pub flows: Vec<String>,
}

/// A rule to revoke, with the forbidden ports it exposes and the flows it also carried (whose
/// narrower rules the same plan authorizes first); or a rule a flow needed on a port the node's
/// configuration moved away from (`moved` says where to; the new port's rule comes first).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ExposingRule {
    pub rule: Rule,
    pub exposes: Vec<PortRange>,
    pub replaced_by: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub moved: Option<String>,
}

/// Something the plan would have changed but the stack file exempts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Exemption {
    pub group: SecurityGroupId,
    pub change: String,
    pub reason: String,
}

/// A rule that is neither required nor forbidden: left alone, listed for review.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct UnmanagedRule {
    pub group: SecurityGroupId,
    pub rule: Rule,
}
