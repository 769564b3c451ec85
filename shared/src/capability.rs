//! What every capability gives the router: the same four steps — observe the scope a signal
//! names, plan purely from what was observed, apply the plan's actions in order, describe the
//! result as a report section — so that the router runs them all the same way and a new
//! capability is a folder and one line in `engine`.

use crate::approvals::issuer::Issuer;
use crate::approvals::subject::Approvable;
use crate::aws::{Clients, Waits};
use crate::database::observe::RegionDatabases;
use crate::security_groups::observe::{describe_groups, GroupScope};
use chrono::{DateTime, Utc};
use domain::approvals::{claimed_subject, ApprovalClaim, Subject};
use domain::ids::{DocumentName, StackName};
use domain::instances::alarm::CheckedAlarm;
use domain::outcome::ActionOutcome;
use domain::report::Section;
use domain::signal::{Signal, SignalKind};
use domain::stack::{StackFile, StackSelector};
use domain::Error;
use std::collections::BTreeSet;
use tokio::sync::OnceCell;

/// What an engine takes care of: each function guards one capability, the CLI all of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capabilities {
    pub security_groups: bool,
    pub parameters: bool,
    pub instances: bool,
}

impl Capabilities {
    const NONE: Self = Self {
        security_groups: false,
        parameters: false,
        instances: false,
    };
    pub const ALL: Self = Self {
        security_groups: true,
        parameters: true,
        instances: true,
    };
    pub const SECURITY_GROUPS: Self = Self {
        security_groups: true,
        ..Self::NONE
    };
    pub const PARAMETERS: Self = Self {
        parameters: true,
        ..Self::NONE
    };
    pub const INSTANCES: Self = Self {
        instances: true,
        ..Self::NONE
    };

    /// Why this engine leaves a signal to another function, if it does.
    pub(crate) fn left_to_another(self, kind: &SignalKind) -> Option<&'static str> {
        match kind {
            SignalKind::SecurityGroupsChanged { .. } if !self.security_groups => {
                Some("security-group events are handled by the security-group function")
            }
            SignalKind::ParameterChanged { .. } if !self.parameters => {
                Some("parameter events are handled by the parameter function")
            }
            SignalKind::AlarmFired(_) if !self.instances => {
                Some("alarm events are handled by the instance function")
            }
            SignalKind::Approval { token } => match claimed_subject(token) {
                Some(Subject::Alarm { .. }) if !self.instances => {
                    Some("approvals of alarm remediations are handled by the instance function")
                }
                Some(Subject::SecurityGroups) if !self.security_groups => Some(
                    "approvals of security-group plans are handled by the security-group function",
                ),
                _ => None,
            },
            _ => None,
        }
    }
}

/// What a run shares with every capability it drives.
#[derive(Debug)]
pub(crate) struct Context<'a> {
    pub clients: &'a Clients,
    pub file: &'a StackFile,
    pub waits: Waits,
    /// The stack's SSM document that extends a filesystem, if the deployment has one.
    pub filesystem_document: Option<&'a DocumentName>,
    /// The run's clock, read once: planners take it as an input.
    pub now: DateTime<Utc>,
    /// Whether the security-group capability runs too (and so reports every observed stack).
    pub security_groups: bool,
    /// Whether this engine guards the security groups (the security-group function, the CLI),
    /// rather than only following the node's ports with them (the parameter function).
    pub guards_security_groups: bool,
    /// Whether this engine guards the parameters, and so may decrypt them: it judges a change
    /// of the node's configuration itself.
    pub decrypts_parameters: bool,
    /// The stacks earlier capabilities of this run have reported.
    pub reported: Vec<StackName>,
    /// The region's DB instances, listed once per run however many stacks a sweep checks
    /// (`database::observe::RegionDatabases`).
    pub databases: RegionDatabases,
    /// The alarm the run's signal names, re-read and checked once for the instance and the
    /// database capabilities (`instances::alarm::checked_alarm`): the checked alarm, or why
    /// nothing is done.
    pub alarm: OnceCell<Result<CheckedAlarm, String>>,
    /// The verified approval this run acts on, when its signal is one (`approvals::verified`).
    pub approval: Option<ApprovalClaim>,
    /// Where approval links point: the approval handler's function URL, when deployed.
    pub approval_url: Option<&'a str>,
    /// The approval key and the run's account, read once when first needed.
    pub issuer: OnceCell<Result<Issuer, String>>,
}

impl Context<'_> {
    /// The guarded stack a parameter belongs to, if it is under a guarded stack's prefix.
    pub fn stack_of_parameter(&self, name: &str) -> Option<StackName> {
        let source = self.file.parameters.as_ref()?;
        match &self.file.selector {
            StackSelector::Exact(stack) => name
                .starts_with(&source.prefix_for(stack))
                .then(|| stack.clone()),
            StackSelector::Pattern(_) => source
                .stack_of(name)
                .filter(|s| self.file.selector.matches(s)),
        }
    }

    /// The names of the stacks the file's pattern matches, from their security groups' tags
    /// (every stack has groups): one call, where observing the stacks would also read
    /// instances, subnets and ACLs.
    pub async fn stack_names(&self) -> Result<Vec<StackName>, Error> {
        let scope = GroupScope::Stacks(&self.file.selector);
        let groups = describe_groups(&self.clients.ec2, scope).await?;
        let names: BTreeSet<StackName> = groups
            .into_iter()
            .filter_map(|tagged| tagged.stack)
            .filter(|stack| self.file.selector.matches(stack))
            .collect();
        Ok(names.into_iter().collect())
    }
}

/// One capability, as the router drives it. `Scope` is what one observation covers (a stack
/// selector, a stack, an alarm), `Observed` what one plan is made from.
pub(crate) trait Capability {
    type Scope;
    type Observed;
    type Plan;

    /// The scopes `signal` concerns; what it leaves alone goes to `skipped`, with the reason.
    async fn scopes(
        &self,
        cx: &Context<'_>,
        signal: &Signal,
        skipped: &mut Vec<String>,
    ) -> Result<Vec<Self::Scope>, Error>;

    /// AWS reads: the state of the scope, one value per plan to make.
    async fn observe(
        &self,
        cx: &Context<'_>,
        scope: &Self::Scope,
        skipped: &mut Vec<String>,
    ) -> Result<Vec<Self::Observed>, Error>;

    /// Pure: the planner in `domain`, from the stack file, the observed state and the clock.
    fn plan(&self, cx: &Context<'_>, observed: &Self::Observed) -> Self::Plan;

    fn action_count(plan: &Self::Plan) -> usize;

    /// The remediation of `plan` a person may be asked to approve (`[approvals]`); `None`:
    /// this capability's plans never wait.
    fn approvable(
        &self,
        _cx: &Context<'_>,
        _observed: &Self::Observed,
        _plan: &Self::Plan,
    ) -> Option<Approvable> {
        None
    }

    /// Why none of the plan's actions may run, when a limit of the stack file says so.
    fn refusal(_plan: &Self::Plan) -> Option<String> {
        None
    }

    /// AWS writes: the plan's actions in order, one outcome each.
    async fn apply(&self, cx: &Context<'_>, plan: &Self::Plan) -> Vec<ActionOutcome>;

    /// The stack the result belongs to, and its section of that stack's report.
    fn report(
        &self,
        cx: &Context<'_>,
        observed: Self::Observed,
        plan: Self::Plan,
        outcomes: Vec<ActionOutcome>,
    ) -> (StackName, Section);

    /// A scope whose state could not be read: a section that says so, or `None` when the whole
    /// run fails with the error.
    fn unreadable(
        &self,
        _cx: &Context<'_>,
        _scope: &Self::Scope,
        _error: &Error,
    ) -> Option<(StackName, Section)> {
        None
    }
}
