//! One invocation of a function: an event in, a report out. The Lambda handler and
//! `remediator handle` both call this, so the CLI runs the exact Lambda code path.
//!
//! Lambda retries an asynchronous invocation on any error, so `Err` means "retrying can help"
//! (throttling, 5xx, timeouts). An unusable event or a refused action is a report, not an error.

use crate::aws::AwsError;
use crate::engine::Engine;
use crate::event::parse_event_value;
use crate::report::{Execution, Report};

/// The event is retried by Lambda when this is returned.
#[derive(Debug, thiserror::Error)]
#[error("retryable failure: {0}")]
pub struct Retryable(pub AwsError);

impl Retryable {
    /// The Lambda error type: the AWS error code, so alarms and logs can group by cause.
    pub fn error_type(&self) -> String {
        format!("Retryable.{}", self.0.code)
    }
}

pub async fn handle_event(engine: &Engine, event: serde_json::Value) -> Result<Report, Retryable> {
    let mode = engine.stack_file().mode;
    let signal = match parse_event_value(event) {
        Ok(signal) => signal,
        Err(error) => {
            tracing::warn!(error = %error, "event rejected");
            return Ok(Report::rejected(Execution::Apply, mode, error.to_string()));
        }
    };
    // Boxed: the engine future is large, and the runtime moves the handler future around.
    match Box::pin(engine.run(signal, Execution::Apply)).await {
        Ok(report) => match report.retryable_failure() {
            Some(error) => Err(Retryable(error.clone())),
            None => Ok(report),
        },
        Err(error) if error.retryable => Err(Retryable(error)),
        Err(error) => {
            tracing::error!(error = %error, "the stacks could not be read");
            Ok(Report::unreadable(Execution::Apply, mode, error))
        }
    }
}
