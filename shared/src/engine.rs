//! The one pipeline: a signal in; observe the stacks it concerns, plan each against the stack
//! file, apply when allowed, report. The Lambda functions and the CLI all run this.

use crate::apply::apply_plan;
use crate::aws::AwsError;
use crate::ids::STACK_TAG;
use crate::observe::{describe_groups, observe_stacks, GroupScope};
use crate::observed::ObservedStack;
use crate::plan::{check_flows, plan_security_groups, Action};
use crate::report::{ActionReport, Execution, FlowReport, Outcome, Report, StackReport};
use crate::signal::{Signal, SignalKind};
use crate::stack::{Mode, StackFile, StackSelector};

/// The engine for one stack file, with the clients of the process (built once per cold start).
#[derive(Debug)]
pub struct Engine {
    ec2: aws_sdk_ec2::Client,
    file: StackFile,
}

impl Engine {
    pub fn new(ec2: aws_sdk_ec2::Client, file: StackFile) -> Self {
        Self { ec2, file }
    }

    pub fn stack_file(&self) -> &StackFile {
        &self.file
    }

    /// Runs the pipeline for `signal`. `Err` only when the stacks could not be read at all;
    /// failures while applying are outcomes in the report.
    pub async fn run(&self, signal: Signal, execution: Execution) -> Result<Report, AwsError> {
        let mut skipped = Vec::new();
        let selectors = self.selectors_for(&signal, &mut skipped).await?;
        let mut stacks = Vec::new();
        for selector in &selectors {
            stacks.extend(observe_stacks(&self.ec2, selector).await?);
        }
        if signal.kind == SignalKind::Sweep && stacks.is_empty() {
            skipped.push(format!(
                "no security group carries the tag {STACK_TAG} = {}",
                self.file.selector
            ));
        }
        let apply = execution == Execution::Apply && self.file.mode == Mode::Enforce;
        let mut reports = Vec::with_capacity(stacks.len());
        for stack in &stacks {
            reports.push(self.run_stack(stack, apply).await);
        }
        let report = Report::new(execution, self.file.mode, signal, reports, skipped);
        tracing::info!(
            signal_id = %report.signal.id,
            origin = %report.signal.origin,
            status = ?report.status,
            stacks = report.stacks.len(),
            "run finished"
        );
        Ok(report)
    }

    /// The stacks a signal concerns. An event names groups; only groups of a stack this file
    /// guards lead anywhere, and then the whole of that stack is re-read, never the event trusted.
    async fn selectors_for(
        &self,
        signal: &Signal,
        skipped: &mut Vec<String>,
    ) -> Result<Vec<StackSelector>, AwsError> {
        let groups = match &signal.kind {
            SignalKind::Sweep => return Ok(vec![self.file.selector.clone()]),
            SignalKind::Ignored { reason } => {
                skipped.push(reason.clone());
                return Ok(Vec::new());
            }
            SignalKind::SecurityGroupsChanged { groups } => groups,
        };
        let found = describe_groups(&self.ec2, GroupScope::Ids(groups)).await?;
        for id in groups
            .iter()
            .filter(|id| !found.iter().any(|t| &t.group.id == *id))
        {
            skipped.push(format!(
                "{id}: no such security group here (deleted, or in another account or region)"
            ));
        }
        let mut selectors: Vec<StackSelector> = Vec::new();
        for tagged in found {
            match tagged.stack {
                Some(stack) if self.file.selector.matches(&stack) => {
                    let selector = StackSelector::Exact(stack);
                    if !selectors.contains(&selector) {
                        selectors.push(selector);
                    }
                }
                Some(stack) => skipped.push(format!(
                    "{}: belongs to stack {stack}, which this stack file ({}) does not guard",
                    tagged.group.id, self.file.selector
                )),
                None => skipped.push(format!(
                    "{}: carries no {STACK_TAG} tag, so it is outside every stack",
                    tagged.group.id
                )),
            }
        }
        Ok(selectors)
    }

    async fn run_stack(&self, stack: &ObservedStack, apply: bool) -> StackReport {
        let plan = plan_security_groups(&self.file, stack);
        let outcomes = match (&plan.refusal, apply) {
            (_, false) => vec![Outcome::Planned; plan.actions.len()],
            (Some(refusal), true) => vec![
                Outcome::Skipped {
                    reason: refusal.clone()
                };
                plan.actions.len()
            ],
            (None, true) => apply_plan(&self.ec2, &plan).await,
        };
        // "After" assumes what was planned (plan) or what took effect (apply).
        let effective: Vec<&Action> = plan
            .actions
            .iter()
            .zip(&outcomes)
            .filter(|(_, outcome)| {
                matches!(
                    outcome,
                    Outcome::Planned | Outcome::Applied | Outcome::AlreadyConverged
                )
            })
            .map(|(action, _)| action)
            .collect();
        let after = check_flows(&self.file, &stack.with_actions(effective));
        let flow_check = check_flows(&self.file, stack)
            .into_iter()
            .zip(after)
            .map(|(check, after)| FlowReport {
                check,
                after: after.status,
            })
            .collect();
        tracing::info!(
            stack = %stack.name,
            actions = plan.actions.len(),
            changes = plan.change_count(),
            refused = plan.refusal.is_some(),
            "stack planned"
        );
        StackReport {
            stack: plan.stack,
            actions: plan
                .actions
                .into_iter()
                .zip(outcomes)
                .map(|(action, outcome)| ActionReport { action, outcome })
                .collect(),
            refusal: plan.refusal,
            exempt: plan.exempt,
            unmanaged: plan.unmanaged,
            flow_check,
        }
    }
}
