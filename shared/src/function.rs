//! A Lambda function's whole life: read the environment, build the clients and load the stack
//! file once per cold start, then serve invocations through `invocation::handle_event`, writing
//! metrics (EMF) and publishing each report that did or found something. Each function binary
//! only names the capability it guards.
//!
//! Environment:
//! - `STACK_FILE`: the bundled stack file (default `stack.toml` in the working directory);
//! - `STACK_FILE_PARAMETER`: an SSM parameter holding the stack file instead;
//! - `REMEDIATOR_MODE`: `report` or `enforce`, overriding the stack file's mode;
//! - `REPORT_TOPIC_ARN`: the SNS topic every notable report is published to;
//! - `CHAT_TOPIC_ARN`: with the report topic, a topic of its own that gets each such report as
//!   an AWS Chatbot custom notification (a Slack or Teams channel subscribes through Chatbot);
//! - `REPORT_BUCKET`: the stack's bucket where each published report is also kept as a page,
//!   linked from the notification (`report_pages`); unset, none is kept;
//! - `SECURITY_HUB_ACCOUNT_ID`: the account (the deployment's own) whose Security Hub gets
//!   each run's findings and unresolved drift; unset, none are sent;
//! - `FILESYSTEM_DOCUMENT`: the stack's SSM document that extends a filesystem after its volume
//!   grew (both templates create it and set this); without it, a person extends it by hand;
//! - `APPROVAL_URL`: the approval handler's function URL, which the approve and deny links of a
//!   remediation that waits for a person point to (without it they carry bare tokens);
//! - `TARGET_QUEUE_URL`: with an `[organization]` stack file, the function's FIFO queue of its
//!   targets' work (required then; see `organization::fleet`);
//! - `MEMBER_FILESYSTEM_DOCUMENT`: with an organisation, the filesystem document's name in
//!   every member account and region (the member template creates it); unset, a member's disk
//!   growth reports that the filesystem must be extended by hand;
//! - `STACK_VPC_IDS`: the deployment's `StackVpcIds` (comma-separated), the VPCs IAM lets the
//!   security-group function write in: a stack file naming other `vpcs` fails the cold start,
//!   one naming none is pinned to them;
//! - `METRICS_NAMESPACE`: the CloudWatch namespace (default `ChainlinkRemediator`);
//! - `AWS_LAMBDA_LOG_FORMAT` / `AWS_LAMBDA_LOG_LEVEL`: Lambda's own logging controls.

use crate::aws::{load_sdk_config, Clients};
use crate::engine::{Capabilities, Engine};
use crate::invocation::{handle_event, Retryable};
use crate::organization::fleet::{Fleet, Intake};
use crate::report_pages::ReportPages;
use crate::security_hub::SecurityHub;
use domain::event::parse_event_value;
use domain::ids::{DocumentName, VpcId};
use domain::metrics::{emf_documents, DEFAULT_NAMESPACE};
use domain::organization::{batch_response, sqs_messages, QueuedMessage, TargetWork};
use domain::report::Execution;
use domain::report::{Report, Status};
use domain::signal::SignalKind;
use domain::stack::Target;
use domain::stack::{Mode, StackFile};
use lambda_runtime::{service_fn, Diagnostic, Error, LambdaEvent};
use std::sync::atomic::{AtomicBool, Ordering};

/// Where the bundled stack file is, unless `STACK_FILE` says otherwise.
const DEFAULT_STACK_FILE: &str = "stack.toml";
/// SNS refuses messages over 256 KiB; a report that large is published as its summary.
pub const MAX_MESSAGE_BYTES: usize = 250 * 1024;

/// What the environment asks of the function, read once per cold start.
#[derive(Debug)]
struct Settings {
    stack_file: StackFileSource,
    mode: Option<Mode>,
    report_topic: Option<String>,
    /// A topic of its own for AWS Chatbot (`CHAT_TOPIC_ARN`), beside the report topic.
    chat_topic: Option<String>,
    /// The bucket report pages go to (`REPORT_BUCKET`); `None`: not kept.
    report_bucket: Option<String>,
    /// The account whose Security Hub gets the findings (`SECURITY_HUB_ACCOUNT_ID`); `None`:
    /// not sent.
    security_hub_account: Option<String>,
    filesystem_document: Option<DocumentName>,
    /// The approval handler's function URL (`APPROVAL_URL`), which approval links point to.
    approval_url: Option<String>,
    /// The deployment's VPCs (`STACK_VPC_IDS`), when it says.
    deployed_vpcs: Option<Vec<VpcId>>,
    /// The function's FIFO queue of targets' work (`TARGET_QUEUE_URL`), for an organisation.
    target_queue: Option<String>,
    /// The filesystem document in each member account and region
    /// (`MEMBER_FILESYSTEM_DOCUMENT`): the member template's, named alike everywhere.
    member_filesystem_document: Option<DocumentName>,
    namespace: String,
}

impl Settings {
    fn from_env() -> Result<Self, String> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let mode = match var("REMEDIATOR_MODE").as_deref() {
            None => None,
            Some("report") => Some(Mode::Report),
            Some("enforce") => Some(Mode::Enforce),
            Some(other) => {
                return Err(format!(
                    "REMEDIATOR_MODE={other:?}: use \"report\" or \"enforce\""
                ))
            }
        };
        let filesystem_document = var("FILESYSTEM_DOCUMENT")
            .map(|raw| {
                DocumentName::parse(raw.trim()).ok_or_else(|| {
                    format!("FILESYSTEM_DOCUMENT={raw:?} is not an SSM document name")
                })
            })
            .transpose()?;
        let deployed_vpcs = var("STACK_VPC_IDS")
            .map(|raw| {
                raw.split(',')
                    .map(|id| {
                        VpcId::parse(id.trim())
                            .ok_or_else(|| format!("STACK_VPC_IDS={raw:?}: {id:?} is not a VPC ID"))
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?;
        Ok(Self {
            stack_file: StackFileSource::from_env(),
            mode,
            report_topic: var("REPORT_TOPIC_ARN"),
            chat_topic: var("CHAT_TOPIC_ARN"),
            report_bucket: var("REPORT_BUCKET"),
            security_hub_account: var("SECURITY_HUB_ACCOUNT_ID")
                .map(|raw| {
                    let account = raw.trim().to_string();
                    if account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()) {
                        Ok(account)
                    } else {
                        Err(format!(
                            "SECURITY_HUB_ACCOUNT_ID={raw:?} is not an account ID (12 digits)"
                        ))
                    }
                })
                .transpose()?,
            filesystem_document,
            approval_url: var("APPROVAL_URL"),
            deployed_vpcs,
            target_queue: var("TARGET_QUEUE_URL"),
            member_filesystem_document: var("MEMBER_FILESYSTEM_DOCUMENT")
                .map(|raw| {
                    DocumentName::parse(raw.trim()).ok_or_else(|| {
                        format!("MEMBER_FILESYSTEM_DOCUMENT={raw:?} is not an SSM document name")
                    })
                })
                .transpose()?,
            namespace: var("METRICS_NAMESPACE").unwrap_or_else(|| DEFAULT_NAMESPACE.into()),
        })
    }
}

/// lambda_runtime's default subscriber (honouring `AWS_LAMBDA_LOG_FORMAT` and
/// `AWS_LAMBDA_LOG_LEVEL`), minus colour: with tracing-subscriber's `ansi` feature on (the CLI
/// enables it), text lines would reach CloudWatch Logs full of escape codes.
pub fn init_logging() {
    use tracing_subscriber::filter::{EnvFilter, LevelFilter};
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .ok()
        .and_then(|level| level.parse::<LevelFilter>().ok())
        .unwrap_or(LevelFilter::INFO);
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_target(false)
        .without_time()
        .with_env_filter(
            EnvFilter::builder()
                .with_default_directive(level.into())
                .from_env_lossy(),
        );
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    if json {
        subscriber.json().init();
    } else {
        subscriber.init();
    }
}

/// The function's state between invocations: the engine, where reports go, and whether the next
/// invocation is the first since the cold start.
#[derive(Debug)]
pub struct Function {
    engine: Engine,
    topic: Option<ReportTopic>,
    security_hub: Option<SecurityHub>,
    pages: Option<ReportPages>,
    /// The organisation it guards, when the stack file has `[organization]`.
    fleet: Option<Fleet>,
    namespace: String,
    cold: AtomicBool,
}

impl Function {
    /// A function whose first invocation counts as the cold start.
    pub fn new(engine: Engine, topic: Option<ReportTopic>, namespace: impl Into<String>) -> Self {
        Self {
            engine,
            topic,
            security_hub: None,
            pages: None,
            fleet: None,
            namespace: namespace.into(),
            cold: AtomicBool::new(true),
        }
    }

    /// Also imports each report's findings into Security Hub.
    pub fn with_security_hub(mut self, security_hub: SecurityHub) -> Self {
        self.security_hub = Some(security_hub);
        self
    }

    /// Also keeps each report that is published as a page in S3, linked from it.
    pub fn with_report_pages(mut self, pages: ReportPages) -> Self {
        self.pages = Some(pages);
        self
    }

    /// Guards an organisation: events and sweeps become work on the function's FIFO queue,
    /// and batches from it are run in their targets (`organization::fleet`).
    pub fn with_fleet(mut self, fleet: Fleet) -> Self {
        self.fleet = Some(fleet);
        self
    }

    /// One invocation, whatever delivered it: the Lambda handler. Without an organisation it is
    /// `invoke`'s report; with one, a queued batch's partial batch response, or what became of
    /// an event (queued for which targets, or why not).
    pub async fn handle(
        &self,
        payload: serde_json::Value,
    ) -> Result<serde_json::Value, Diagnostic> {
        let Some(fleet) = &self.fleet else {
            let report = self.invoke(payload).await?;
            return Ok(serde_json::to_value(&report).unwrap_or_default());
        };
        if let Some(messages) = sqs_messages(&payload) {
            return Ok(self.work(fleet, messages).await);
        }
        let mode = self.engine.stack_file().mode;
        let signal = match parse_event_value(payload.clone()) {
            Ok(signal) => signal,
            Err(error) => {
                tracing::warn!(error = %error, "event rejected");
                let report = Report::rejected(Execution::Apply, mode, error.to_string());
                return Ok(serde_json::to_value(&report).unwrap_or_default());
            }
        };
        let intake = match &signal.kind {
            SignalKind::Ignored { reason } => Ok(Intake::Outside(reason.clone())),
            SignalKind::Sweep => fleet.fan_out(&payload).await,
            _ => fleet.queue_event(payload).await,
        };
        match intake {
            Ok(Intake::Queued(targets)) => {
                tracing::info!(signal = %signal, targets = targets.len(), "queued");
                Ok(serde_json::json!({
                    "queued": targets.iter().map(Target::message_group).collect::<Vec<_>>()
                }))
            }
            Ok(Intake::Outside(reason)) => {
                tracing::info!(signal = %signal, reason = %reason, "not the organisation's");
                Ok(serde_json::json!({"queued": [], "skipped": [reason]}))
            }
            Err(error) => Err(Diagnostic {
                error_type: format!("Retryable.{}", error.code()),
                error_message: error.to_string(),
            }),
        }
    }

    /// A batch from the target queue, message by message in order. Returns the messages to
    /// deliver again: the first whose failure a retry can help, and every one after it.
    async fn work(&self, fleet: &Fleet, messages: Vec<QueuedMessage>) -> serde_json::Value {
        let mut again: Vec<String> = Vec::new();
        for message in messages {
            if !again.is_empty() {
                again.push(message.id);
                continue;
            }
            if !self.work_one(fleet, &message).await {
                again.push(message.id);
            }
        }
        batch_response(&again)
    }

    /// Runs one message in its target; `false` when it must be delivered again.
    async fn work_one(&self, fleet: &Fleet, message: &QueuedMessage) -> bool {
        let work: TargetWork = match serde_json::from_str(&message.body) {
            Ok(work) => work,
            Err(error) => {
                // Redelivered until the dead-letter queue keeps it for a person.
                tracing::error!(message = %message.id, error = %error, "not a target's work");
                return false;
            }
        };
        let target = work.target();
        match fleet.outside(&target).await {
            Ok(None) => {}
            Ok(Some(reason)) => {
                tracing::info!(target = %target, reason = %reason, "not the organisation's");
                return true;
            }
            Err(error) => {
                tracing::error!(target = %target, error = %error, "the organisation's accounts could not be listed");
                return false;
            }
        }
        let clients = match fleet.sessions.clients(&target).await {
            Ok(clients) => clients,
            Err(error) => {
                tracing::error!(target = %target, error = %error, "member role not assumed");
                let mode = self.engine.stack_file().mode;
                let mut report = Report::unreadable(Execution::Apply, mode, error.clone())
                    .with_command("handle");
                report.target = Some(target);
                self.deliver(&mut report, false).await;
                // A role that is missing or refuses stays so: the report says why, and only a
                // throttled or failed STS call is tried again.
                return !error.is_retryable();
            }
        };
        let engine = self
            .engine
            .in_target(clients)
            .with_filesystem_document(fleet.filesystem_document.clone());
        let mut result = handle_event(&engine, work.event).await;
        let done = result.is_ok();
        if let Some(report) = match &mut result {
            Ok(report) => Some(report),
            Err(Retryable { report, .. }) => report.as_deref_mut(),
        } {
            report.target = Some(target);
            let cold = self.cold.swap(false, Ordering::Relaxed);
            self.deliver(report, cold).await;
        }
        done
    }

    /// One invocation: the engine's report, its metrics on stdout, and its publication. Only an
    /// error a retry can help is returned (a failed publication is not one).
    pub async fn invoke(&self, payload: serde_json::Value) -> Result<Report, Diagnostic> {
        let mut result = handle_event(&self.engine, payload).await;
        let report = match &mut result {
            Ok(report) => Some(report),
            Err(Retryable { report, .. }) => report.as_deref_mut(),
        };
        let cold = self.cold.swap(false, Ordering::Relaxed);
        if let Some(report) = report {
            self.deliver(report, cold).await;
        }
        result.map_err(|e| Diagnostic {
            error_type: e.error_type(),
            error_message: e.to_string(),
        })
    }

    /// A report's metrics, page, notification and findings.
    async fn deliver(&self, report: &mut Report, cold: bool) {
        emit_metrics(self, report, cold);
        let selector = self.engine.stack_file().selector.to_string();
        if let (Some(pages), false) = (&self.pages, is_quiet(report)) {
            report.page = pages.store(report, &selector, chrono::Utc::now()).await;
        }
        if let Some(topic) = &self.topic {
            topic.publish(report, &selector).await;
        }
        match (&self.security_hub, &report.target) {
            (Some(security_hub), None) => security_hub.import(report).await,
            // The findings would name the deployment's account, not the member's.
            (Some(_), Some(target)) => {
                tracing::info!(target = %target, "a member's findings are not sent to Security Hub");
            }
            (None, _) => {}
        }
    }
}

/// Where a stack file comes from: a file bundled with the function, or an SSM parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StackFileSource {
    File(String),
    Parameter(String),
}

impl StackFileSource {
    /// `STACK_FILE_PARAMETER`, else `STACK_FILE`, else the bundled `stack.toml`.
    pub fn from_env() -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        match var("STACK_FILE_PARAMETER") {
            Some(name) => Self::Parameter(name),
            None => Self::File(var("STACK_FILE").unwrap_or_else(|| DEFAULT_STACK_FILE.into())),
        }
    }
}

/// Runs the function until the runtime stops it. A bad environment or an invalid stack file
/// fails the cold start: the function is misconfigured, and Lambda reports an init error
/// rather than serving.
pub async fn serve(capabilities: Capabilities) -> Result<(), Error> {
    init_logging();
    let settings = Settings::from_env()?;
    let config = load_sdk_config().await;
    let clients = Clients::new(&config);
    let mut file = load_stack_file(&settings.stack_file, &clients.ssm).await?;
    if let Some(mode) = settings.mode {
        file.mode = mode;
    }
    let fleet = match (file.organization.clone(), settings.target_queue) {
        (Some(organization), Some(queue)) => Some(
            Fleet::new(&config, organization, queue)
                .with_filesystem_document(settings.member_filesystem_document),
        ),
        (Some(_), None) => {
            return Err("the stack file has an [organization] section, but TARGET_QUEUE_URL is not set: deploy with OrganizationId, which creates the function's target queue".into())
        }
        // A member's VPCs are its own: StackVpcIds pins only the deployment's account.
        (None, _) => {
            if let Some(deployed) = &settings.deployed_vpcs {
                pin_to_deployed_vpcs(&mut file, deployed)?;
            }
            None
        }
    };
    for warning in &file.warnings {
        tracing::warn!(field = %warning.field, warning = %warning.message, "stack file warning");
    }
    tracing::info!(stack = %file.selector, mode = %file.mode, "function ready");
    let function = Function::new(
        Engine::new(clients, file, capabilities)
            .with_filesystem_document(settings.filesystem_document)
            .with_approval_url(settings.approval_url),
        settings.report_topic.map(|topic| {
            let topic = ReportTopic::new(&config, topic);
            match settings.chat_topic {
                Some(chat) => topic.with_chat_topic(chat),
                None => topic,
            }
        }),
        settings.namespace,
    );
    let function = match settings.security_hub_account {
        Some(account) => function.with_security_hub(SecurityHub::new(&config, account)),
        None => function,
    };
    let function = match settings.report_bucket {
        Some(bucket) => function.with_report_pages(ReportPages::new(&config, bucket)),
        None => function,
    };
    let function = match fleet {
        Some(fleet) => function.with_fleet(fleet),
        None => function,
    };
    lambda_runtime::run(service_fn(|event: LambdaEvent<serde_json::Value>| {
        function.handle(event.payload)
    }))
    .await
}

/// The stack file's VPCs against the deployment's: IAM lets the function write only in the
/// deployment's (`ec2:Vpc`), so a file that names others would plan changes IAM refuses, and a
/// file that names none is pinned to them (groups elsewhere are never admitted).
fn pin_to_deployed_vpcs(file: &mut StackFile, deployed: &[VpcId]) -> Result<(), String> {
    if file.vpcs.is_empty() {
        file.vpcs = deployed.to_vec();
        return Ok(());
    }
    fn sorted(ids: &[VpcId]) -> Vec<&str> {
        let mut ids: Vec<&str> = ids.iter().map(VpcId::as_str).collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }
    if sorted(&file.vpcs) == sorted(deployed) {
        return Ok(());
    }
    Err(format!(
        "the stack file's [stack] vpcs ({}) are not the deployment's StackVpcIds ({}): the function may change security groups only in the deployment's; make them the same",
        sorted(&file.vpcs).join(", "),
        sorted(deployed).join(", ")
    ))
}

/// The stack file, read once per cold start. An unreadable or invalid one is an error: the
/// function must not serve with a guess.
pub async fn load_stack_file(
    source: &StackFileSource,
    ssm: &aws_sdk_ssm::Client,
) -> Result<StackFile, Error> {
    let name = match source {
        StackFileSource::File(path) => return Ok(StackFile::load(path.as_ref())?),
        StackFileSource::Parameter(name) => name,
    };
    let found = ssm
        .get_parameter()
        .name(name)
        .with_decryption(true)
        .send()
        .await
        .map_err(|e| crate::aws::sdk_error("GetParameter", e))?;
    let text = found
        .parameter()
        .and_then(|p| p.value())
        .ok_or_else(|| format!("SSM parameter {name} has no value"))?;
    Ok(StackFile::parse(text, &format!("ssm:{name}"))?)
}

/// EMF documents go to stdout, where CloudWatch Logs extracts the metrics.
fn emit_metrics(function: &Function, report: &Report, cold: bool) {
    let now = chrono::Utc::now().timestamp_millis();
    let selector = function.engine.stack_file().selector.to_string();
    for document in emf_documents(report, &function.namespace, &selector, now, cold) {
        println!("{document}");
    }
}

/// The SNS topic reports are published to.
#[derive(Debug, Clone)]
pub struct ReportTopic {
    sns: aws_sdk_sns::Client,
    arn: String,
    /// A topic of its own for AWS Chatbot, which gets the same reports as custom notifications
    /// (`domain::outputs::chatbot_notification`). Of its own, not a per-protocol message on the
    /// report topic: every HTTPS subscriber of that topic would get the chat format too.
    chat: Option<String>,
}

impl ReportTopic {
    pub fn new(config: &aws_config::SdkConfig, arn: impl Into<String>) -> Self {
        Self {
            sns: aws_sdk_sns::Client::new(config),
            arn: arn.into(),
            chat: None,
        }
    }

    /// Also publishes each report, as a Chatbot custom notification, to `arn`.
    pub fn with_chat_topic(mut self, arn: impl Into<String>) -> Self {
        self.chat = Some(arn.into());
        self
    }

    /// Publishes a report that did or found something (a quiet sweep is not worth a message),
    /// with `status` as a message attribute; `selector` names the stacks when the report names
    /// none. A failure is logged, not returned: the remediation itself is done and in the log,
    /// and a lost notification must not make Lambda run it again.
    pub async fn publish(&self, report: &Report, selector: &str) {
        if is_quiet(report) {
            return;
        }
        let stacks: Vec<String> = report.stacks.iter().map(|s| s.stack.to_string()).collect();
        let subject = format!(
            "chainlink-remediator: {:?} · {}{}",
            report.status,
            if stacks.is_empty() {
                selector.to_string()
            } else {
                stacks.join(", ")
            },
            report
                .target
                .as_ref()
                .map(|target| format!(" · {target}"))
                .unwrap_or_default()
        );
        // Subscribers filter on the status (e.g. only `failed` pages someone).
        let status = aws_sdk_sns::types::MessageAttributeValue::builder()
            .data_type("String")
            .string_value(domain::outputs::status_name(report.status))
            .build()
            .ok()
            .map(|status| std::collections::HashMap::from([("status".to_string(), status)]));
        let published = self
            .sns
            .publish()
            .topic_arn(&self.arn)
            .subject(subject.chars().take(100).collect::<String>())
            .message(message_for(report))
            .set_message_attributes(status)
            .send()
            .await;
        if let Err(e) = published {
            let error = crate::aws::sdk_error("Publish", e);
            tracing::error!(error = %error, "the report could not be published");
        }
        if let Some(chat) = &self.chat {
            let notification = domain::outputs::chatbot_notification(report).to_string();
            let published = self
                .sns
                .publish()
                .topic_arn(chat)
                .message(notification)
                .send()
                .await;
            if let Err(e) = published {
                let error = crate::aws::sdk_error("Publish", e);
                tracing::error!(error = %error, "the chat notification could not be published");
            }
        }
    }
}

/// A quiet sweep (nothing done, nothing found) is not worth a message, nor a page.
fn is_quiet(report: &Report) -> bool {
    report.status == Status::Converged
        && report.count(|_| true) == 0
        && report
            .stacks
            .iter()
            .all(|s| s.instances.is_none() && s.database.is_none())
}

/// The report as JSON, or its summary when it would not fit in one SNS message.
pub fn message_for(report: &Report) -> String {
    let json = report.to_json();
    if json.len() <= MAX_MESSAGE_BYTES {
        return json;
    }
    // Kept whole in the log, on one line.
    println!("{}", serde_json::to_string(report).unwrap_or_default());
    serde_json::json!({
        "status": report.status,
        "signal": report.signal,
        "stacks": report.stacks.iter().map(|s| s.stack.to_string()).collect::<Vec<_>>(),
        "actions": report.count(|_| true),
        "page": report.page,
        "note": "the full report is larger than an SNS message: see the function's log, or its page",
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::report::Execution;

    #[test]
    fn the_stack_files_vpcs_must_be_the_deployments_or_none() {
        let ids = |raw: &[&str]| raw.iter().map(|id| VpcId::new(*id)).collect::<Vec<_>>();
        let deployed = ids(&["vpc-0a1b2c3d4e5f60718", "vpc-0b1b2c3d4e5f60718"]);
        let load = |vpcs: &str| {
            let text = include_str!("../../samples/stack.toml").replacen(
                "name = \"demo\"",
                &format!("name = \"demo\"\n{vpcs}"),
                1,
            );
            StackFile::parse(&text, "samples/stack.toml").unwrap_or_else(|e| panic!("{e}"))
        };
        let mut silent = load("");
        assert_eq!(pin_to_deployed_vpcs(&mut silent, &deployed), Ok(()));
        assert_eq!(silent.vpcs, deployed, "a file naming none is pinned");
        let mut same = load(r#"vpcs = ["vpc-0b1b2c3d4e5f60718", "vpc-0a1b2c3d4e5f60718"]"#);
        assert_eq!(pin_to_deployed_vpcs(&mut same, &deployed), Ok(()));
        let mut other = load(r#"vpcs = ["vpc-0c1b2c3d4e5f60718"]"#);
        let error = pin_to_deployed_vpcs(&mut other, &deployed).unwrap_err();
        assert!(
            error.contains("(vpc-0c1b2c3d4e5f60718) are not the deployment's StackVpcIds (vpc-0a1b2c3d4e5f60718, vpc-0b1b2c3d4e5f60718)"),
            "{error}"
        );
    }
    use domain::signal::Signal;

    /// What the summary tells a subscriber.
    #[derive(serde::Deserialize)]
    struct Summary {
        status: String,
        actions: usize,
        note: String,
    }

    fn report_with(skipped: Vec<String>) -> Report {
        Report::new(
            Execution::Apply,
            Mode::Enforce,
            Signal::sweep("schedule"),
            Vec::new(),
            skipped,
        )
    }

    #[test]
    fn a_report_that_fits_is_published_whole() {
        let report = report_with(vec!["a group outside the stack".into()]);
        assert_eq!(message_for(&report), report.to_json());
    }

    #[test]
    fn a_report_over_the_limit_is_published_as_its_summary() {
        // Just over the limit, then far over it: both become the summary.
        for count in [MAX_MESSAGE_BYTES / 1000 + 1, 2_000] {
            let report = report_with(vec!["x".repeat(1000); count]);
            assert!(report.to_json().len() > MAX_MESSAGE_BYTES);
            let message = message_for(&report);
            assert!(message.len() <= MAX_MESSAGE_BYTES, "{}", message.len());
            let summary: Summary = serde_json::from_str(&message).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(summary.status, "converged");
            assert_eq!(summary.actions, 0);
            assert!(
                summary.note.contains("larger than an SNS message"),
                "{message}"
            );
        }
    }
}
