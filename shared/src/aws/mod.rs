//! The AWS plumbing every capability uses: one SDK configuration per process, one
//! classification of SDK errors, and the describe calls' filters and tags.
//!
//! Endpoints, region and credentials come from the standard chain (`AWS_ENDPOINT_URL`,
//! `AWS_REGION`, …), so the same binary talks to AWS or to a local emulator. Retries and
//! timeouts are set explicitly because Lambda bills the time a stuck call waits.

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, ConfigLoader, SdkConfig};
use aws_runtime::retries::classifiers::{THROTTLING_ERRORS, TRANSIENT_ERRORS};
use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ec2::operation::RequestId;
use aws_sdk_ec2::types::{Filter, Tag};
use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use domain::Error;
use std::time::Duration;

/// Attempts per call, first one included, unless `AWS_MAX_ATTEMPTS` says otherwise. Six, not
/// the SDK's three: a throttled batch competing for the account's buckets with other
/// invocations needs the extra tries (see `sdk_config_loader`); a call failing for good still
/// gives up within a few seconds (backoff 0.2 s doubling, jittered).
pub const DEFAULT_MAX_ATTEMPTS: u32 = 6;

/// The SDK configuration shared by every client of a process (built once per cold start).
pub async fn load_sdk_config() -> SdkConfig {
    sdk_config_loader().load().await
}

/// The loader behind `load_sdk_config`: the slim HTTPS client, explicit timeouts and retries.
/// Tests add an endpoint and credentials of their own to it.
///
/// Retries are adaptive. A sweep is a batch of sequential calls against EC2's per-account
/// token buckets (authorize and revoke: 50 requests, then 5 per second), and other invocations
/// draw from the same buckets. In standard mode every call past the first 50 hits an empty
/// bucket and retries on a blind jittered backoff; every retry after a call's first one
/// permanently costs the SDK's process-wide retry quota (500) 5 tokens, so after a hundred or
/// so calls retries stop and actions fail, whatever the number of attempts (measured with
/// `scripts/bench_throttled.sh`, 300 drifted groups, 600 writes: 203 failed actions with 4
/// attempts, 221 with 10; 272 with three processes at once). Adaptive mode adds the SDK's
/// client-side rate limiter: after the first throttling error it paces the process's requests
/// near the rate the buckets grant, so few calls are throttled at all (no failed action, one
/// to ten processes at once). Its cost is the one AWS warns about: the limiter is shared by
/// every call to the service in the process, so throttled writes also slow the reads; a
/// remediation run is latency-tolerant.
pub fn sdk_config_loader() -> ConfigLoader {
    let http_client = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(3))
        .operation_attempt_timeout(Duration::from_secs(10))
        .operation_timeout(Duration::from_secs(45))
        .build();
    let loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http_client)
        .timeout_config(timeouts);
    // An explicit loader setting would override the standard variables; let operators win.
    if ["AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE"]
        .iter()
        .any(|variable| std::env::var_os(variable).is_some())
    {
        return loader;
    }
    loader.retry_config(
        RetryConfig::adaptive()
            .with_max_attempts(DEFAULT_MAX_ATTEMPTS)
            .with_initial_backoff(Duration::from_millis(200)),
    )
}

/// How long to wait for a resource to reach a state: at most `reads` reads of it, `poll`
/// apart. Counted in reads, not by a clock, so a wait gives up after the same number of looks
/// however long each read takes (and a test of a wait that runs out is deterministic).
#[derive(Clone, Copy, Debug)]
pub struct Waits {
    pub poll: Duration,
    pub reads: u32,
}

impl Default for Waits {
    /// A stop or start takes under two minutes: 40 reads 3 s apart. The function's timeout
    /// leaves room for both plus a rollback.
    fn default() -> Self {
        Self {
            poll: Duration::from_secs(3),
            reads: 40,
        }
    }
}

/// The AWS clients of a process, built once per cold start.
#[derive(Clone, Debug)]
pub struct Clients {
    pub ec2: aws_sdk_ec2::Client,
    pub ssm: aws_sdk_ssm::Client,
    pub autoscaling: aws_sdk_autoscaling::Client,
    /// Alarms are re-read before an alarm notification acts.
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    /// Load balancers in front of a stack's instances are read (never changed) on sweeps.
    pub elb: aws_sdk_elasticloadbalancingv2::Client,
    /// Secrets the stack file says live in Secrets Manager are checked to exist, never read.
    pub secrets: aws_sdk_secretsmanager::Client,
    /// The stack's RDS database: read for the parameter checks.
    pub rds: aws_sdk_rds::Client,
    /// The run's own account (`GetCallerIdentity`, which needs no permission), read only when
    /// an approval is issued or checked.
    pub sts: aws_sdk_sts::Client,
    /// The region the clients act in.
    pub region: String,
}

impl Clients {
    /// Clients whose retry quotas and, in adaptive mode, client-side rate limiters are their
    /// own, named `partition`. The SDK keeps both per partition for the whole process, and by
    /// default every client of a service shares one: a member account being throttled would
    /// slow every other account's calls. EC2's buckets are per account and region, so a
    /// target's clients get a partition of their own.
    pub fn partitioned(config: &SdkConfig, partition: &str) -> Self {
        use aws_sdk_ec2::config::retry::RetryPartition;
        let name = |service: &str| RetryPartition::new(format!("{partition}-{service}"));
        macro_rules! client {
            ($sdk:ident, $service:literal) => {
                $sdk::Client::from_conf(
                    $sdk::config::Builder::from(config)
                        .retry_partition(name($service))
                        .build(),
                )
            };
        }
        Self {
            ec2: client!(aws_sdk_ec2, "ec2"),
            ssm: client!(aws_sdk_ssm, "ssm"),
            autoscaling: client!(aws_sdk_autoscaling, "autoscaling"),
            cloudwatch: client!(aws_sdk_cloudwatch, "cloudwatch"),
            elb: client!(aws_sdk_elasticloadbalancingv2, "elb"),
            secrets: client!(aws_sdk_secretsmanager, "secrets"),
            rds: client!(aws_sdk_rds, "rds"),
            sts: client!(aws_sdk_sts, "sts"),
            region: config
                .region()
                .map(|r| r.as_ref().to_string())
                .unwrap_or_default(),
        }
    }

    pub fn new(config: &SdkConfig) -> Self {
        Self {
            ec2: aws_sdk_ec2::Client::new(config),
            ssm: aws_sdk_ssm::Client::new(config),
            autoscaling: aws_sdk_autoscaling::Client::new(config),
            cloudwatch: aws_sdk_cloudwatch::Client::new(config),
            elb: aws_sdk_elasticloadbalancingv2::Client::new(config),
            secrets: aws_sdk_secretsmanager::Client::new(config),
            rds: aws_sdk_rds::Client::new(config),
            sts: aws_sdk_sts::Client::new(config),
            region: config
                .region()
                .map(|r| r.as_ref().to_string())
                .unwrap_or_default(),
        }
    }
}

/// Codes the SDK's own classifiers treat as throttling or transient, plus the codes services
/// give server-side failures (normally with a 5xx status, which also counts on its own).
fn is_retryable_code(code: &str) -> bool {
    const SERVER_FAILURES: &[&str] = &[
        "ServiceUnavailable",
        "Unavailable",
        "InternalError",
        "InternalFailure",
    ];
    THROTTLING_ERRORS.contains(&code)
        || TRANSIENT_ERRORS.contains(&code)
        || SERVER_FAILURES.contains(&code)
}

/// An SDK call's failure, after the SDK's own retries, as the engine's error: AWS's own code
/// and message, and whether the whole run may be tried again.
pub fn sdk_error<E>(operation: &'static str, error: SdkError<E, HttpResponse>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let status = error.raw_response().map(|r| r.status().as_u16());
    let request_id = match &error {
        SdkError::ServiceError(service) => service
            .err()
            .meta()
            .request_id()
            .or_else(|| error.request_id()),
        _ => error.request_id(),
    }
    .map(str::to_string);
    let (code, message, retryable) = match &error {
        SdkError::TimeoutError(_) => ("Timeout".into(), "the call timed out".into(), true),
        SdkError::DispatchFailure(failure) => (
            "Dispatch".into(),
            format!("could not reach the endpoint: {failure:?}"),
            true,
        ),
        SdkError::ServiceError(service) => {
            let inner = service.err();
            let code = inner
                .code()
                .filter(|code| !code.is_empty())
                .unwrap_or("Unknown")
                .to_string();
            let retryable = is_retryable_code(&code) || status.is_some_and(|s| s >= 500);
            let message = inner.message().unwrap_or_default();
            (
                code,
                message_or_what_is_known(message, operation, status, request_id.as_deref()),
                retryable,
            )
        }
        SdkError::ResponseError(_) => (
            status.map_or_else(|| "BadResponse".into(), |s| format!("HTTP {s}")),
            "the response could not be read".into(),
            status.is_none_or(|s| s >= 500),
        ),
        _ => ("Client".into(), error.to_string(), false),
    };
    Error::Aws {
        operation,
        code,
        message,
        retryable,
    }
}

/// AWS's message, or, when it gave none (an `Unknown` error with an empty body, say), what is
/// known about the failed call: a report never shows an empty message.
fn message_or_what_is_known(
    message: &str,
    operation: &str,
    status: Option<u16>,
    request_id: Option<&str>,
) -> String {
    if !message.trim().is_empty() {
        return message.to_string();
    }
    let mut known = vec![format!("{operation} answered without a message")];
    if let Some(status) = status {
        known.push(format!("HTTP status {status}"));
    }
    known.push(match request_id {
        Some(id) => format!("request ID {id}"),
        None => "no request ID".to_string(),
    });
    known.join(", ")
}

/// A filter of a describe call.
pub fn filter<'a>(name: &str, values: impl IntoIterator<Item = &'a str>) -> Filter {
    Filter::builder()
        .name(name)
        .set_values(Some(values.into_iter().map(String::from).collect()))
        .build()
}

/// The value of an EC2 resource's tag.
pub fn tag<'a>(tags: &'a [Tag], key: &str) -> Option<&'a str> {
    tags.iter()
        .find(|t| t.key() == Some(key))
        .and_then(|t| t.value())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_message_is_replaced_by_what_is_known() {
        assert_eq!(
            message_or_what_is_known("", "DescribeInstanceRefreshes", Some(400), Some("abc-123")),
            "DescribeInstanceRefreshes answered without a message, HTTP status 400, request ID abc-123"
        );
        assert_eq!(
            message_or_what_is_known(" ", "DescribeInstances", None, None),
            "DescribeInstances answered without a message, no request ID"
        );
        assert_eq!(
            message_or_what_is_known("slow down", "DescribeInstances", Some(503), None),
            "slow down"
        );
    }

    #[test]
    fn the_sdk_classifiers_codes_are_retryable() {
        for code in [
            "EC2ThrottledException",
            "SlowDown",
            "RequestTimeout",
            "RequestLimitExceeded",
            "InternalError",
        ] {
            assert!(is_retryable_code(code), "{code}");
        }
        for code in ["InvalidPermission.Duplicate", "UnauthorizedOperation"] {
            assert!(!is_retryable_code(code), "{code}");
        }
    }
}
