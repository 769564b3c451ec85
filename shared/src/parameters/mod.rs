//! A stack's node parameters in SSM Parameter Store: read with their history (`observe`), the
//! node's endpoints probed live (`probe`), and a plan's labels and rollbacks carried out
//! (`apply`). The model, the planner and the report section are `domain::parameters`.

pub mod apply;
pub(crate) mod nodes;
pub mod observe;
pub mod probe;
mod secret_places;

use crate::capability::{Capability, Context};
use apply::apply_parameter_actions;
use chainlink::{EnvironmentPolicy, Finding};
use domain::database::{check_database, ObservedDatabase};
use domain::ids::{KmsKeyRef, ParameterName, StackName};
use domain::outcome::ActionOutcome;
use domain::parameters::ParameterVersion;
use domain::parameters::{histories_needed, plan_parameters, ObservedParameter, ParameterPlan};
use domain::report::{ParameterReport, Section};
use domain::signal::{Signal, SignalKind};
use domain::stack::{ParameterSource, StackSelector};
use domain::Error;
use nodes::stack_facts;
pub(crate) use nodes::stack_policy;
use observe::{observe_history, observe_parameters};
use probe::{probe_endpoints, PROBE_TIMEOUT};
use std::collections::BTreeMap;

#[derive(Debug)]
pub(crate) struct Parameters;

/// A stack's parameter set as read: the current versions, the histories an invalid set needs,
/// and what the live probes found.
#[derive(Debug)]
pub(crate) struct ObservedSet {
    stack: StackName,
    prefix: String,
    label: String,
    kms_key: Option<KmsKeyRef>,
    parameters: Vec<ObservedParameter>,
    history: BTreeMap<ParameterName, Vec<ParameterVersion>>,
    probe_findings: Vec<Finding>,
    /// The stack's database against the node's URL and the stack's rules (`[database]`), and
    /// how its connection limit was chosen: reported, never a reason to roll back.
    database_findings: Vec<Finding>,
    /// The stack's environment policy, with the number of its nodes when it matters.
    policy: EnvironmentPolicy,
}

/// The checks of the stack's database (`domain::database::check_database`), when it was read.
fn database_findings(
    cx: &Context<'_>,
    database: Option<&ObservedDatabase>,
    endpoints: &[chainlink::Endpoint],
) -> Vec<Finding> {
    match (database, &cx.file.database) {
        (Some(database), Some(declared)) => check_database(
            database,
            endpoints,
            declared,
            cx.file.environment.production,
        ),
        _ => Vec::new(),
    }
}

fn source<'a>(cx: &Context<'a>) -> Option<&'a ParameterSource> {
    cx.file.parameters.as_ref()
}

impl Capability for Parameters {
    type Scope = StackName;
    type Observed = ObservedSet;
    type Plan = ParameterPlan;

    async fn scopes(
        &self,
        cx: &Context<'_>,
        signal: &Signal,
        skipped: &mut Vec<String>,
    ) -> Result<Vec<StackName>, Error> {
        let Some(source) = source(cx) else {
            return Ok(Vec::new());
        };
        Ok(match &signal.kind {
            SignalKind::ParameterChanged { name, .. } => {
                let stack = cx.stack_of_parameter(name);
                if stack.is_none() {
                    skipped.push(format!(
                        "{name}: outside the parameter prefix {} of the guarded stacks",
                        source.prefix
                    ));
                }
                stack.into_iter().collect()
            }
            SignalKind::Sweep => match &cx.file.selector {
                StackSelector::Exact(name) => vec![name.clone()],
                // Every observed stack has a report by now.
                StackSelector::Pattern(_) if cx.security_groups => cx.reported.clone(),
                StackSelector::Pattern(_) => cx.stack_names().await?,
            },
            _ => Vec::new(),
        })
    }

    async fn observe(
        &self,
        cx: &Context<'_>,
        stack: &StackName,
        _skipped: &mut Vec<String>,
    ) -> Result<Vec<ObservedSet>, Error> {
        let Some(source) = source(cx) else {
            return Ok(Vec::new());
        };
        let ssm = &cx.clients.ssm;
        let prefix = source.prefix_for(stack);
        let parameters = observe_parameters(ssm, &prefix, &source.label).await?;
        let values: Vec<_> = parameters
            .iter()
            .map(|p| (p.key.clone(), p.value.clone()))
            .collect();
        let endpoints = chainlink::endpoints(&values);
        let facts = stack_facts(cx, stack, &endpoints).await;
        let policy = facts.policy;
        let mut history = BTreeMap::new();
        for suspect in histories_needed(&policy, &parameters) {
            history.insert(
                suspect.name.clone(),
                observe_history(ssm, suspect.name.as_str()).await?,
            );
        }
        let probe_findings = if source.probes {
            probe_endpoints(&endpoints, cx.file.environment.chain_id, PROBE_TIMEOUT).await
        } else {
            Vec::new()
        };
        Ok(vec![ObservedSet {
            stack: stack.clone(),
            prefix,
            label: source.label.clone(),
            kms_key: source.kms_key.clone(),
            parameters,
            history,
            probe_findings,
            database_findings: database_findings(cx, facts.database.as_ref(), &endpoints)
                .into_iter()
                .chain(facts.findings)
                .collect(),
            policy,
        }])
    }

    fn plan(&self, _cx: &Context<'_>, observed: &ObservedSet) -> ParameterPlan {
        let mut plan = plan_parameters(
            &observed.prefix,
            &observed.label,
            &observed.policy,
            &observed.parameters,
            &observed.history,
            observed.kms_key.as_ref(),
        );
        plan.findings
            .extend(observed.probe_findings.iter().cloned());
        plan.findings
            .extend(observed.database_findings.iter().cloned());
        plan
    }

    fn action_count(plan: &ParameterPlan) -> usize {
        plan.actions.len()
    }

    async fn apply(&self, cx: &Context<'_>, plan: &ParameterPlan) -> Vec<ActionOutcome> {
        apply_parameter_actions(&cx.clients.ssm, &plan.actions).await
    }

    fn report(
        &self,
        _cx: &Context<'_>,
        observed: ObservedSet,
        plan: ParameterPlan,
        outcomes: Vec<ActionOutcome>,
    ) -> (StackName, Section) {
        for finding in &plan.findings {
            tracing::info!(stack = %observed.stack, code = finding.code.as_str(), severity = ?finding.severity, target = %finding.parameter, "parameter finding");
        }
        let report = ParameterReport::new(plan, outcomes);
        (observed.stack, Section::Parameters(report))
    }

    /// A read failure must not hide what the security-group step already did for the stack:
    /// it becomes part of the report.
    fn unreadable(
        &self,
        cx: &Context<'_>,
        stack: &StackName,
        error: &Error,
    ) -> Option<(StackName, Section)> {
        let prefix = source(cx)?.prefix_for(stack);
        Some((
            stack.clone(),
            Section::Parameters(ParameterReport::unreadable(prefix, error.clone())),
        ))
    }
}
