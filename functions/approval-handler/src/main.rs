//! Lambda behind a function URL: the approve and deny links of a remediation that waits for a
//! person. Opening a link shows a confirmation page; only its POST acts, and only by handing
//! the verified token to the function that owns what it decides (`APPROVAL_TARGET_FUNCTION`
//! for alarm remediations, `APPROVAL_SECURITY_GROUP_FUNCTION` for security-group plans),
//! asynchronously: that function verifies it again, re-plans, and applies only the plan that
//! was approved. The handler holds no write permission of its own. What it answers is
//! `domain::approvals::handler`.
//!
//! Environment: `STACK_FILE` / `STACK_FILE_PARAMETER` (as the other functions), which must have
//! an `[approvals]` section; `APPROVAL_KEY_PARAMETER`, the deployment's key parameter, which
//! must be the one the stack file names; `APPROVAL_TARGET_FUNCTION` (instance-guard);
//! `APPROVAL_SECURITY_GROUP_FUNCTION` (security-group-guard; unset, security-group approvals
//! are answered "not deployed").

use aws_sdk_lambda::types::InvocationType;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use domain::approvals::handler::{answer, page, Owners, Request, HEADERS};
use domain::approvals::Presented;
use domain::event::approval_event;
use domain::stack::StackSelector;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};
use shared::approvals::{account, signing_key, SigningKey};
use shared::function::{init_logging, load_stack_file, StackFileSource};

/// What every invocation needs, read once per cold start.
struct Handler {
    key: SigningKey,
    account: String,
    region: String,
    stacks: StackSelector,
    lambda: aws_sdk_lambda::Client,
    target: String,
    security_groups: Option<String>,
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_logging();
    let required = |name: &str| {
        std::env::var(name)
            .ok()
            .filter(|v| !v.trim().is_empty())
            .ok_or_else(|| format!("{name} is not set"))
    };
    let target = required("APPROVAL_TARGET_FUNCTION")?;
    let security_groups = required("APPROVAL_SECURITY_GROUP_FUNCTION").ok();
    let key_parameter = required("APPROVAL_KEY_PARAMETER")?;
    let config = shared::aws::load_sdk_config().await;
    let ssm = aws_sdk_ssm::Client::new(&config);
    let file = load_stack_file(&StackFileSource::from_env(), &ssm).await?;
    let declared = file.approvals.as_ref().map(|a| a.key_parameter.as_str());
    if declared != Some(key_parameter.as_str()) {
        return Err(format!(
            "the stack file's [approvals] key_parameter ({}) is not the deployment's APPROVAL_KEY_PARAMETER ({key_parameter}): make them the same",
            declared.unwrap_or("none")
        )
        .into());
    }
    let sts = aws_sdk_sts::Client::new(&config);
    let (key, account) = tokio::join!(signing_key(&ssm, &key_parameter), account(&sts));
    let handler = Handler {
        key: key?,
        account: account?,
        region: config
            .region()
            .map(|r| r.as_ref().to_string())
            .unwrap_or_default(),
        stacks: file.selector,
        lambda: aws_sdk_lambda::Client::new(&config),
        target,
        security_groups,
    };
    tracing::info!(target = %handler.target, "approval handler ready");
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        handler.respond(event.payload)
    }))
    .await
}

impl Handler {
    /// One request of the function URL (payload format 2.0), answered with a page.
    async fn respond(&self, event: Value) -> Result<Value, Error> {
        let text = |pointer: &str| event.pointer(pointer).and_then(Value::as_str);
        let body = match (text("/body"), event["isBase64Encoded"].as_bool()) {
            (Some(body), Some(true)) => STANDARD
                .decode(body)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .unwrap_or_default(),
            (Some(body), _) => body.to_string(),
            (None, _) => String::new(),
        };
        let request = Request {
            method: text("/requestContext/http/method").unwrap_or("GET"),
            query: text("/rawQueryString").unwrap_or_default(),
            body: &body,
        };
        let here = Presented {
            account: &self.account,
            region: &self.region,
            stacks: &self.stacks,
            now: chrono::Utc::now(),
        };
        let owners = Owners {
            alarms: &self.target,
            security_groups: self.security_groups.as_deref(),
        };
        let mut answered = answer(request, self.key.bytes(), &here, owners);
        if let Some((token, function)) = answered.dispatch.take() {
            let handed = self
                .lambda
                .invoke()
                .function_name(&function)
                .invocation_type(InvocationType::Event)
                .payload(aws_smithy_types::Blob::new(
                    approval_event(&token, chrono::Utc::now()).to_string(),
                ))
                .send()
                .await;
            match handed {
                Ok(_) => tracing::info!(status = answered.status, "decision handed on"),
                Err(e) => {
                    let error = shared::aws::sdk_error("Invoke", e);
                    tracing::error!(error = %error, "decision not handed on");
                    answered = page(
                        502,
                        "Not handed on",
                        &format!(
                            "{function} could not be reached ({error}): nothing was done; open the link again to retry."
                        ),
                    );
                }
            }
        }
        let headers: serde_json::Map<String, Value> = HEADERS
            .iter()
            .map(|(name, value)| ((*name).to_string(), json!(value)))
            .collect();
        Ok(json!({
            "statusCode": answered.status,
            "headers": headers,
            "body": answered.html,
        }))
    }
}
