//! The one pipeline: a signal in; observe the stacks it concerns, plan each against the stack
//! file, apply when allowed, report. The Lambda functions and the CLI all run this.

use crate::apply::apply_plan;
use crate::aws::AwsError;
use crate::ids::{StackName, STACK_TAG};
use crate::instances::apply::{StepOutcome, Waits};
use crate::instances::observe::InstanceClients;
use crate::instances::{
    apply_instance_actions, observe_target, plan_remediation, Decision, RemediationInputs,
};
use crate::observe::{describe_groups, observe_stacks, GroupScope};
use crate::observed::ObservedStack;
use crate::parameters::{
    apply_parameter_actions, observe_history, observe_parameters, plan_parameters, suspects,
};
use crate::plan::{check_flows, plan_security_groups, Action, FlowStatus};
use crate::probe::{probe_endpoints, PROBE_TIMEOUT};
use crate::report::InstanceReport;
use crate::report::ParameterReport;
use crate::report::{ActionReport, Execution, FlowReport, Outcome, Report, StackReport};
use crate::signal::AlarmNotice;
use crate::signal::{Signal, SignalKind};
use crate::stack::{Mode, ParameterSource, StackFile, StackSelector};
use chrono::Utc;

/// The AWS clients of a process, built once per cold start.
#[derive(Clone, Debug)]
pub struct Clients {
    pub ec2: aws_sdk_ec2::Client,
    pub ssm: aws_sdk_ssm::Client,
    pub autoscaling: aws_sdk_autoscaling::Client,
}

impl Clients {
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        Self {
            ec2: aws_sdk_ec2::Client::new(config),
            ssm: aws_sdk_ssm::Client::new(config),
            autoscaling: aws_sdk_autoscaling::Client::new(config),
        }
    }
}

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
}

/// The engine for one stack file.
#[derive(Debug)]
pub struct Engine {
    ec2: aws_sdk_ec2::Client,
    ssm: aws_sdk_ssm::Client,
    autoscaling: aws_sdk_autoscaling::Client,
    file: StackFile,
    capabilities: Capabilities,
    waits: Waits,
}

impl Engine {
    pub fn new(clients: Clients, file: StackFile, capabilities: Capabilities) -> Self {
        Self {
            ec2: clients.ec2,
            ssm: clients.ssm,
            autoscaling: clients.autoscaling,
            file,
            capabilities,
            waits: Waits::default(),
        }
    }

    /// How long instance steps wait for AWS (tests make it short).
    pub fn with_waits(mut self, waits: Waits) -> Self {
        self.waits = waits;
        self
    }

    fn instance_clients(&self) -> InstanceClients<'_> {
        InstanceClients {
            ec2: &self.ec2,
            autoscaling: &self.autoscaling,
            ssm: &self.ssm,
        }
    }

    pub fn stack_file(&self) -> &StackFile {
        &self.file
    }

    /// Runs the pipeline for `signal`. `Err` only when the stacks could not be read at all;
    /// failures while applying are outcomes in the report.
    pub async fn run(&self, signal: Signal, execution: Execution) -> Result<Report, AwsError> {
        let mut skipped = Vec::new();
        let apply = execution == Execution::Apply && self.file.mode == Mode::Enforce;
        let mut reports: Vec<StackReport> = Vec::new();

        let selectors = self.selectors_for(&signal, &mut skipped).await?;
        let mut observed = Vec::new();
        for selector in &selectors {
            observed.extend(observe_stacks(&self.ec2, selector).await?);
        }
        if self.capabilities.security_groups {
            if signal.kind == SignalKind::Sweep && observed.is_empty() {
                skipped.push(format!(
                    "no security group carries the tag {STACK_TAG} = {}",
                    self.file.selector
                ));
            }
            reports.reserve_exact(observed.len());
            // Each stack's observed state is dropped once it is reported: a sweep of thousands
            // of stacks never holds both the whole account and the whole report.
            for stack in observed {
                reports.push(self.run_stack(&stack, apply).await);
            }
        }

        if let (true, Some(source)) = (self.capabilities.parameters, &self.file.parameters) {
            let stacks = match &signal.kind {
                SignalKind::ParameterChanged { name, .. } => {
                    self.stack_of_parameter(source, name, &mut skipped)
                }
                SignalKind::Sweep => match &self.file.selector {
                    StackSelector::Exact(name) => vec![name.clone()],
                    // Every observed stack has a report by now.
                    StackSelector::Pattern(_) if self.capabilities.security_groups => {
                        reports.iter().map(|r| r.stack.clone()).collect()
                    }
                    StackSelector::Pattern(_) => self.stack_names().await?,
                },
                _ => Vec::new(),
            };
            for stack in stacks {
                // A read failure here must not hide what the security-group step already did:
                // it becomes part of the report.
                let parameters = Box::pin(self.run_parameters(source, &stack, apply))
                    .await
                    .unwrap_or_else(|error| {
                        ParameterReport::unreadable(source.prefix_for(&stack), error)
                    });
                match reports.iter_mut().find(|r| r.stack == stack) {
                    Some(report) => report.parameters = Some(parameters),
                    None => reports.push(StackReport::parameters_only(stack, parameters)),
                }
            }
        }

        if let SignalKind::AlarmFired(notice) = &signal.kind {
            if self.capabilities.instances {
                if let Some(report) = self.run_alarm(notice, apply, &mut skipped).await? {
                    reports.push(report);
                }
            } else {
                skipped.push("alarm events are handled by the instance function".into());
            }
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

    /// An alarm's remediation: the stack file's rule for it, the target re-read, the plan, and
    /// (when allowed) the steps. `None` when the alarm concerns nothing this file guards.
    async fn run_alarm(
        &self,
        notice: &AlarmNotice,
        apply: bool,
        skipped: &mut Vec<String>,
    ) -> Result<Option<StackReport>, AwsError> {
        let Some(policy) = &self.file.instances else {
            skipped.push(format!(
                "alarm {}: the stack file declares no [[alarms]], so alarms are not handled",
                notice.name
            ));
            return Ok(None);
        };
        let Some(remediation) = policy.remediation_for(&notice.name, &notice.metric_names()) else {
            skipped.push(format!(
                "alarm {} matches no [[alarms]] entry of the stack file",
                notice.name
            ));
            return Ok(None);
        };
        let now = Utc::now();
        let observation = match observe_target(
            self.instance_clients(),
            &self.file,
            notice,
            remediation,
            now,
        )
        .await?
        {
            Ok(observation) => observation,
            Err(no_target) => {
                skipped.push(format!("alarm {}: {no_target}", notice.name));
                return Ok(None);
            }
        };
        let plan = plan_remediation(RemediationInputs {
            policy,
            roles: &self.file.roles,
            notice,
            remediation,
            observation: &observation,
            now,
        });
        let outcomes = if apply && plan.decision == Decision::Act {
            apply_instance_actions(self.instance_clients(), &plan.actions, self.waits).await
        } else {
            plan.actions
                .iter()
                .map(|_| StepOutcome::planned())
                .collect()
        };
        let stack = observation
            .target
            .stack()
            .cloned()
            .unwrap_or_else(|| StackName::new(""));
        tracing::info!(
            stack = %stack,
            alarm = %notice.name,
            incident = %plan.incident,
            remediation = remediation.as_str(),
            target = %plan.target,
            decision = ?plan.decision,
            "alarm planned"
        );
        Ok(Some(StackReport::instances_only(
            stack,
            InstanceReport::new(plan, outcomes),
        )))
    }

    /// The names of the stacks a pattern matches, from their security groups' tags: one call,
    /// where observing the stacks would also read instances, subnets and ACLs.
    async fn stack_names(&self) -> Result<Vec<StackName>, AwsError> {
        let groups = describe_groups(&self.ec2, GroupScope::Stacks(&self.file.selector)).await?;
        let names: std::collections::BTreeSet<StackName> = groups
            .into_iter()
            .filter_map(|tagged| tagged.stack)
            .filter(|stack| self.file.selector.matches(stack))
            .collect();
        Ok(names.into_iter().collect())
    }

    /// The stack a changed parameter belongs to, if it is under a guarded stack's prefix.
    fn stack_of_parameter(
        &self,
        source: &ParameterSource,
        name: &str,
        skipped: &mut Vec<String>,
    ) -> Vec<StackName> {
        let stack = match &self.file.selector {
            StackSelector::Exact(stack) => name
                .starts_with(&source.prefix_for(stack))
                .then(|| stack.clone()),
            StackSelector::Pattern(_) => source
                .stack_of(name)
                .filter(|s| self.file.selector.matches(s)),
        };
        if stack.is_none() {
            skipped.push(format!(
                "{name}: outside the parameter prefix {} of the guarded stacks",
                source.prefix
            ));
        }
        stack.into_iter().collect()
    }

    /// Validates a stack's whole parameter set; labels it when valid, rolls a bad change back
    /// when not (histories are read only then, and only for what changed since last good).
    async fn run_parameters(
        &self,
        source: &ParameterSource,
        stack: &StackName,
        apply: bool,
    ) -> Result<ParameterReport, AwsError> {
        let prefix = source.prefix_for(stack);
        let policy = &self.file.environment;
        let observed = observe_parameters(&self.ssm, &prefix, &source.label).await?;
        let mut plan = plan_parameters(
            &prefix,
            &source.label,
            policy,
            &observed,
            &Default::default(),
        );
        if !plan.valid {
            let mut history = std::collections::BTreeMap::new();
            for suspect in suspects(&observed) {
                history.insert(
                    suspect.name.clone(),
                    observe_history(&self.ssm, &suspect.name).await?,
                );
            }
            plan = plan_parameters(&prefix, &source.label, policy, &observed, &history);
        }
        if source.probes {
            let values: Vec<_> = observed
                .iter()
                .map(|p| (p.key.clone(), p.value.clone()))
                .collect();
            let endpoints = crate::chainlink::endpoints(&values);
            plan.findings
                .extend(probe_endpoints(&endpoints, policy.chain_id, PROBE_TIMEOUT).await);
        }
        let outcomes = if apply {
            apply_parameter_actions(&self.ssm, &plan.actions).await
        } else {
            vec![Outcome::Planned; plan.actions.len()]
        };
        for finding in &plan.findings {
            tracing::info!(stack = %stack, code = finding.code.as_str(), severity = ?finding.severity, target = %finding.parameter, "parameter finding");
        }
        Ok(ParameterReport::new(plan, outcomes))
    }

    /// The stacks a signal concerns. An event names groups; only groups of a stack this file
    /// guards lead anywhere, and then the whole of that stack is re-read, never the event trusted.
    async fn selectors_for(
        &self,
        signal: &Signal,
        skipped: &mut Vec<String>,
    ) -> Result<Vec<StackSelector>, AwsError> {
        let groups = match &signal.kind {
            // Only security-group repair needs the stacks observed; parameters are read apart.
            SignalKind::Sweep if self.capabilities.security_groups => {
                return Ok(vec![self.file.selector.clone()])
            }
            SignalKind::Sweep | SignalKind::AlarmFired(_) => return Ok(Vec::new()),
            SignalKind::Ignored { reason } => {
                skipped.push(reason.clone());
                return Ok(Vec::new());
            }
            SignalKind::ParameterChanged { .. } => {
                if !self.capabilities.parameters {
                    skipped.push("parameter events are handled by the parameter function".into());
                }
                return Ok(Vec::new());
            }
            SignalKind::SecurityGroupsChanged { .. } if !self.capabilities.security_groups => {
                skipped.push(
                    "security-group events are handled by the security-group function".into(),
                );
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
        let before = check_flows(&self.file, stack);
        // Most stacks of a sweep need nothing: their flows after are the flows before, and
        // modelling the stack again would only cost a copy of it.
        let after: Vec<FlowStatus> = if effective.is_empty() {
            before.iter().map(|check| check.status).collect()
        } else {
            check_flows(&self.file, &stack.with_actions(effective))
                .into_iter()
                .map(|check| check.status)
                .collect()
        };
        let flow_check = before
            .into_iter()
            .zip(after)
            .map(|(check, after)| FlowReport { check, after })
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
            parameters: None,
            instances: None,
        }
    }
}
