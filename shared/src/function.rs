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
//! - `FILESYSTEM_DOCUMENT`: the stack's SSM document that extends a filesystem after its volume
//!   grew (both templates create it and set this); without it, a person extends it by hand;
//! - `METRICS_NAMESPACE`: the CloudWatch namespace (default `ChainlinkRemediator`);
//! - `AWS_LAMBDA_LOG_FORMAT` / `AWS_LAMBDA_LOG_LEVEL`: Lambda's own logging controls.

use crate::aws::{load_sdk_config, Clients};
use crate::engine::{Capabilities, Engine};
use crate::invocation::{handle_event, Retryable};
use domain::ids::DocumentName;
use domain::metrics::{emf_documents, DEFAULT_NAMESPACE};
use domain::report::{Report, Status};
use domain::stack::{Mode, StackFile};
use lambda_runtime::{service_fn, Diagnostic, Error, LambdaEvent};
use std::sync::atomic::{AtomicBool, Ordering};

/// Where the bundled stack file is, unless `STACK_FILE` says otherwise.
const DEFAULT_STACK_FILE: &str = "stack.toml";
/// SNS refuses messages over 256 KiB; a report that large is published as its summary.
const MAX_MESSAGE_BYTES: usize = 250 * 1024;

/// What the environment asks of the function, read once per cold start.
#[derive(Debug)]
struct Settings {
    stack_file: String,
    stack_file_parameter: Option<String>,
    mode: Option<Mode>,
    report_topic: Option<String>,
    filesystem_document: Option<DocumentName>,
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
        Ok(Self {
            stack_file: var("STACK_FILE").unwrap_or_else(|| DEFAULT_STACK_FILE.into()),
            stack_file_parameter: var("STACK_FILE_PARAMETER"),
            mode,
            report_topic: var("REPORT_TOPIC_ARN"),
            filesystem_document,
            namespace: var("METRICS_NAMESPACE").unwrap_or_else(|| DEFAULT_NAMESPACE.into()),
        })
    }
}

/// lambda_runtime's default subscriber (honouring `AWS_LAMBDA_LOG_FORMAT` and
/// `AWS_LAMBDA_LOG_LEVEL`), minus colour: with tracing-subscriber's `ansi` feature on (the CLI
/// enables it), text lines would reach CloudWatch Logs full of escape codes.
fn init_logging() {
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

/// The function's state between invocations.
#[derive(Debug)]
struct Function {
    engine: Engine,
    sns: Option<(aws_sdk_sns::Client, String)>,
    namespace: String,
    cold: AtomicBool,
}

/// Runs the function until the runtime stops it. A bad environment or an invalid stack file
/// fails the cold start: the function is misconfigured, and Lambda reports an init error
/// rather than serving.
pub async fn serve(capabilities: Capabilities) -> Result<(), Error> {
    init_logging();
    let settings = Settings::from_env()?;
    let config = load_sdk_config().await;
    let clients = Clients::new(&config);
    let mut file = load_stack_file(&settings, &clients.ssm).await?;
    if let Some(mode) = settings.mode {
        file.mode = mode;
    }
    for warning in &file.warnings {
        tracing::warn!(field = %warning.field, warning = %warning.message, "stack file warning");
    }
    tracing::info!(stack = %file.selector, mode = %file.mode, "function ready");
    let function = Function {
        engine: Engine::new(clients, file, capabilities)
            .with_filesystem_document(settings.filesystem_document),
        sns: settings
            .report_topic
            .map(|topic| (aws_sdk_sns::Client::new(&config), topic)),
        namespace: settings.namespace,
        cold: AtomicBool::new(true),
    };
    lambda_runtime::run(service_fn(|event: LambdaEvent<serde_json::Value>| {
        handle(&function, event)
    }))
    .await
}

async fn load_stack_file(
    settings: &Settings,
    ssm: &aws_sdk_ssm::Client,
) -> Result<StackFile, Error> {
    let Some(name) = &settings.stack_file_parameter else {
        return Ok(StackFile::load(settings.stack_file.as_ref())?);
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

async fn handle(
    function: &Function,
    event: LambdaEvent<serde_json::Value>,
) -> Result<Report, Diagnostic> {
    let result = handle_event(&function.engine, event.payload).await;
    let report = match &result {
        Ok(report) => Some(report),
        Err(Retryable { report, .. }) => report.as_deref(),
    };
    let cold = function.cold.swap(false, Ordering::Relaxed);
    if let Some(report) = report {
        emit_metrics(function, report, cold);
        publish(function, report).await;
    }
    result.map_err(|e| Diagnostic {
        error_type: e.error_type(),
        error_message: e.to_string(),
    })
}

/// EMF documents go to stdout, where CloudWatch Logs extracts the metrics.
fn emit_metrics(function: &Function, report: &Report, cold: bool) {
    let now = chrono::Utc::now().timestamp_millis();
    let selector = function.engine.stack_file().selector.to_string();
    for document in emf_documents(report, &function.namespace, &selector, now, cold) {
        println!("{document}");
    }
}

/// Publishes reports that did or found something; a quiet sweep is not worth a message.
async fn publish(function: &Function, report: &Report) {
    let Some((sns, topic)) = &function.sns else {
        return;
    };
    let quiet = report.status == Status::Converged
        && report.count(|_| true) == 0
        && report.stacks.iter().all(|s| s.instances.is_none());
    if quiet {
        return;
    }
    let stacks: Vec<String> = report.stacks.iter().map(|s| s.stack.to_string()).collect();
    let subject = format!(
        "chainlink-remediator: {:?} · {}",
        report.status,
        if stacks.is_empty() {
            function.engine.stack_file().selector.to_string()
        } else {
            stacks.join(", ")
        }
    );
    let message = message_for(report);
    // Subscribers filter on the status (e.g. only `failed` pages someone).
    let status = aws_sdk_sns::types::MessageAttributeValue::builder()
        .data_type("String")
        .string_value(format!("{:?}", report.status).to_lowercase())
        .build()
        .ok()
        .map(|status| std::collections::HashMap::from([("status".to_string(), status)]));
    let published = sns
        .publish()
        .topic_arn(topic)
        .subject(subject.chars().take(100).collect::<String>())
        .message(message)
        .set_message_attributes(status)
        .send()
        .await;
    if let Err(e) = published {
        // The remediation itself is done and in the log; a lost notification must not make
        // Lambda run it again.
        let error = crate::aws::sdk_error("Publish", e);
        tracing::error!(error = %error, "the report could not be published");
    }
}

/// The report as JSON, or its summary when it would not fit in one SNS message.
fn message_for(report: &Report) -> String {
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
        "note": "the full report is larger than an SNS message: see the function's log",
    })
    .to_string()
}
