//! The router: a signal in; for each capability this engine guards, the scopes the signal
//! concerns, then observe → plan → (mode, limits) → apply → report, the same way for every
//! capability. The Lambda functions and the CLI all run this.

use crate::approvals::{self, Gate};
use crate::aws::{Clients, Waits};
pub use crate::capability::Capabilities;
use crate::capability::{Capability, Context};
use crate::database::observe::RegionDatabases;
use crate::database::Databases;
use crate::instances::Instances;
use crate::parameters::Parameters;
use crate::security_groups::SecurityGroups;
use chrono::Utc;
use domain::approvals::Subject;
use domain::ids::{DocumentName, StackName};
use domain::outcome::{ActionOutcome, Outcome};
use domain::report::{Execution, Report, Section, StackReport};
use domain::signal::{AlarmNotice, Signal, SignalKind};
use domain::stack::{Mode, StackFile};
use domain::Error;
use std::collections::HashMap;
use tokio::sync::OnceCell;

/// The engine for one stack file.
#[derive(Debug)]
pub struct Engine {
    clients: Clients,
    file: StackFile,
    capabilities: Capabilities,
    waits: Waits,
    filesystem_document: Option<DocumentName>,
    approval_url: Option<String>,
}

impl Engine {
    pub fn new(clients: Clients, file: StackFile, capabilities: Capabilities) -> Self {
        Self {
            clients,
            file,
            capabilities,
            waits: Waits::default(),
            filesystem_document: None,
            approval_url: None,
        }
    }

    /// The approval handler's URL (its Lambda function URL): approval links point there.
    /// Without one, a request carries the bare tokens.
    pub fn with_approval_url(mut self, url: Option<String>) -> Self {
        self.approval_url = url.filter(|u| !u.trim().is_empty());
        self
    }

    /// The stack's SSM document that grows a partition and filesystem (its one parameter, the
    /// mount path, checked by SSM against the planner's rule). Without one, a disk growth grows
    /// the volume and reports that the filesystem must be extended by hand.
    pub fn with_filesystem_document(mut self, document: Option<DocumentName>) -> Self {
        self.filesystem_document = document;
        self
    }

    /// How long instance steps wait for AWS (tests make it short).
    pub fn with_waits(mut self, waits: Waits) -> Self {
        self.waits = waits;
        self
    }

    /// The same engine acting through other clients: a member account's, in an organisation.
    pub fn in_target(&self, clients: Clients) -> Engine {
        Engine {
            clients,
            file: self.file.clone(),
            capabilities: self.capabilities,
            waits: self.waits,
            filesystem_document: self.filesystem_document.clone(),
            approval_url: self.approval_url.clone(),
        }
    }

    pub fn stack_file(&self) -> &StackFile {
        &self.file
    }

    /// Runs every guarded capability for `signal`. `Err` only when the state could not be read
    /// at all; failures while applying are outcomes in the report.
    pub async fn run(&self, signal: Signal, execution: Execution) -> Result<Report, Error> {
        let apply = execution == Execution::Apply && self.file.mode == Mode::Enforce;
        // The parameter function moves a stack's rules with the node's ports: the flows that
        // follow the configuration are repaired in the run that judges a change of it.
        let follows_ports = self.capabilities.parameters
            && !self.capabilities.security_groups
            && self.file.moves_with_node_config();
        let security_groups = self.capabilities.security_groups || follows_ports;
        let mut run = Run {
            cx: Context {
                clients: &self.clients,
                file: &self.file,
                waits: self.waits,
                filesystem_document: self.filesystem_document.as_ref(),
                now: Utc::now(),
                security_groups,
                guards_security_groups: self.capabilities.security_groups,
                decrypts_parameters: self.capabilities.parameters,
                reported: Vec::new(),
                databases: RegionDatabases::default(),
                alarm: OnceCell::new(),
                approval: None,
                approval_url: self.approval_url.as_deref(),
                issuer: OnceCell::new(),
            },
            apply,
            reports: Vec::new(),
            index: HashMap::new(),
            skipped: Vec::new(),
            approval_acted_on: false,
        };
        match &signal.kind {
            SignalKind::Ignored { reason } => run.skipped.push(reason.clone()),
            kind => {
                if let Some(reason) = self.capabilities.left_to_another(kind) {
                    run.skipped.push(reason.into());
                }
            }
        }
        // An approval names what it decides; that is re-read, re-checked and re-planned from
        // there, exactly as when the alarm was first notified or the stack swept.
        let acting = match &signal.kind {
            SignalKind::Approval { token }
                if self.capabilities.left_to_another(&signal.kind).is_none() =>
            {
                match approvals::verified(&run.cx, token).await {
                    Ok(claim) => {
                        let kind = match &claim.subject {
                            Subject::Alarm {
                                alarm, changed_at, ..
                            } => SignalKind::AlarmFired(AlarmNotice {
                                name: alarm.clone(),
                                arn: None,
                                changed_at: changed_at.clone(),
                                metrics: Vec::new(),
                            }),
                            Subject::SecurityGroups => SignalKind::Sweep,
                        };
                        run.cx.approval = Some(claim);
                        Signal {
                            kind,
                            ..signal.clone()
                        }
                    }
                    Err(reason) => {
                        tracing::warn!(reason = %reason, "approval refused");
                        run.skipped.push(reason);
                        Signal {
                            kind: SignalKind::Ignored {
                                reason: String::new(),
                            },
                            ..signal.clone()
                        }
                    }
                }
            }
            _ => signal.clone(),
        };
        let signal_for_report = signal;
        let signal = acting;
        // The order matters: parameters reuse the stacks the security-group step found, and a
        // moved port's rules follow the configuration before its change is labeled.
        if self.capabilities.security_groups {
            run.capability(&SecurityGroups, &signal).await?;
        } else if follows_ports {
            // A failure here must not keep the parameter step from rolling a bad change back.
            if let Err(error) = run.capability(&SecurityGroups, &signal).await {
                tracing::error!(error = %error, "security groups not brought to the node's ports");
                run.skipped.push(format!(
                    "the security groups were not brought to the node's ports: {error}"
                ));
                // The stacks it reported are not all the stacks: the parameter step finds its own.
                run.cx.security_groups = false;
            }
        }
        if self.capabilities.parameters {
            Box::pin(run.capability(&Parameters, &signal)).await?;
        }
        if self.capabilities.instances {
            Box::pin(run.capability(&Instances, &signal)).await?;
            // After the instances: they re-read and check the alarm, and say why it is left.
            Box::pin(run.capability(&Databases, &signal)).await?;
        }
        if let Some(claim) = &run.cx.approval {
            if !run.approval_acted_on {
                run.skipped.push(format!(
                    "the approved {} of stack {} no longer applies (the reason is above): nothing was done",
                    claim.subject.what(),
                    claim.stack
                ));
            }
        }
        let report = Report::new(
            execution,
            self.file.mode,
            signal_for_report,
            run.reports,
            run.skipped,
        )
        .with_warnings(&self.file.warnings);
        tracing::info!(
            signal_id = %report.signal.id,
            origin = %report.signal.origin,
            status = ?report.status,
            stacks = report.stacks.len(),
            "run finished"
        );
        Ok(report)
    }
}

/// One run's state as it goes through the capabilities.
struct Run<'a> {
    cx: Context<'a>,
    apply: bool,
    reports: Vec<StackReport>,
    /// Where each stack's report is in `reports`.
    index: HashMap<StackName, usize>,
    skipped: Vec<String>,
    /// Whether a plan of the run's approval was found (applied, refused or asked again).
    approval_acted_on: bool,
}

impl Run<'_> {
    async fn capability<C: Capability>(
        &mut self,
        capability: &C,
        signal: &Signal,
    ) -> Result<(), Error> {
        let scopes = capability
            .scopes(&self.cx, signal, &mut self.skipped)
            .await?;
        for scope in scopes {
            let observed = match capability
                .observe(&self.cx, &scope, &mut self.skipped)
                .await
            {
                Ok(observed) => observed,
                Err(error) => match capability.unreadable(&self.cx, &scope, &error) {
                    Some((stack, section)) => {
                        self.add(stack, section);
                        continue;
                    }
                    None => return Err(error),
                },
            };
            self.reports.reserve(observed.len());
            // Each observed state is dropped once it is reported: a sweep of thousands of
            // stacks never holds both the whole account and the whole report.
            for observed in observed {
                let plan = capability.plan(&self.cx, &observed);
                let count = C::action_count(&plan);
                let mut would_wait = None;
                let gate = match self.apply {
                    true => {
                        let subject = capability.approvable(&self.cx, &observed, &plan);
                        self.approval_acted_on |= self.cx.approval.as_ref().is_some_and(|claim| {
                            subject.as_ref().is_some_and(|s| s.answers(claim))
                        });
                        approvals::gate(&self.cx, subject, count).await
                    }
                    false => {
                        // A plan shows what apply would do: that this plan would wait.
                        let waiting = capability
                            .approvable(&self.cx, &observed, &plan)
                            .filter(|subject| subject.waits && count > 0);
                        if let Some(subject) = waiting {
                            self.skipped.push(format!(
                                "{} of {} on stack {} would wait for approval: apply asks with approve and deny links",
                                subject.subject.what(),
                                subject.target,
                                subject.stack
                            ));
                            would_wait = self
                                .cx
                                .file
                                .approvals
                                .as_ref()
                                .map(|policy| self.cx.now + policy.valid_for);
                        }
                        Gate::Open
                    }
                };
                let (mut request, mut held) = (None, None);
                let outcomes = match (self.apply, C::refusal(&plan), gate) {
                    // The plan shows what apply would do: wait (until about then), not run
                    // and not be refused.
                    (false, _, _) => match would_wait {
                        Some(until) => vec![Outcome::PendingApproval { until }.into(); count],
                        None => vec![ActionOutcome::from(Outcome::Planned); count],
                    },
                    // A person approved exactly this plan, over the limit if that is why it
                    // waited.
                    (true, _, Gate::Approved) => capability.apply(&self.cx, &plan).await,
                    (
                        true,
                        _,
                        Gate::Wait {
                            request: asked,
                            note,
                        },
                    ) => {
                        let until = asked.expires_at;
                        self.skipped.extend(note);
                        request = Some(asked);
                        vec![Outcome::PendingApproval { until }.into(); count]
                    }
                    (true, _, Gate::Closed(reason)) if count == 0 => {
                        self.skipped.push(reason);
                        Vec::new()
                    }
                    (true, _, Gate::Closed(reason)) => {
                        held = Some(reason.clone());
                        vec![Outcome::Skipped { reason }.into(); count]
                    }
                    (true, Some(reason), Gate::Open) => {
                        vec![Outcome::Skipped { reason }.into(); count]
                    }
                    (true, None, Gate::Open) => capability.apply(&self.cx, &plan).await,
                };
                let (stack, section) = capability.report(&self.cx, observed, plan, outcomes);
                let at = self.add(stack, section);
                self.reports[at].approvals.extend(request);
                self.reports[at].held.extend(held);
            }
        }
        Ok(())
    }

    /// One stack, one report: a capability's section joins the stack's report if it has one.
    /// Where that report is.
    fn add(&mut self, stack: StackName, section: Section) -> usize {
        if let Some(&at) = self.index.get(&stack) {
            self.reports[at].add(section);
            return at;
        }
        let at = self.reports.len();
        self.index.insert(stack.clone(), at);
        self.cx.reported.push(stack.clone());
        self.reports.push(StackReport::with_section(stack, section));
        at
    }
}
