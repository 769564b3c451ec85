//! What a person may be asked to approve, as a capability describes its plan.

use domain::approvals::{ApprovalClaim, Subject};
use domain::ids::StackName;

/// One capability's plan for one stack, as an approval sees it.
#[derive(Debug)]
pub struct Approvable {
    pub stack: StackName,
    pub subject: Subject,
    /// What it changes, for people: the instance, group or DB instance, or the stack's rules.
    pub target: String,
    /// The digest of the plan's steps (`approval_digest`, or of the security-group actions).
    pub digest: String,
    /// Whether the stack file's `[approvals]` makes this plan wait.
    pub waits: bool,
    /// The nonces of approvals the target's records say were used.
    pub used: Vec<String>,
}

impl Approvable {
    /// Whether `claim` decides on this plan: the same stack, and the same alarm or the groups.
    pub fn answers(&self, claim: &ApprovalClaim) -> bool {
        claim.stack == self.stack.as_str() && claim.subject.same_as(&self.subject)
    }
}
