//! One invocation of a function: an event in, a report out. The Lambda handler and
//! `remediator handle` both call this, so the CLI runs the exact Lambda code path.
//!
//! Lambda retries an asynchronous invocation on any error, so `Err` means "retrying can help"
//! (throttling, 5xx, timeouts). An unusable event or a refused action is a report, not an error.

use crate::engine::Engine;
use domain::event::parse_event_value;
use domain::report::{Execution, Report};
use domain::signal::Signal;
use domain::Error;

/// The event is retried by Lambda when this is returned.
#[derive(Debug, thiserror::Error)]
#[error("retryable failure: {error}")]
pub struct Retryable {
    pub error: Error,
    /// What the run did before the failure, when it got that far: still published and counted.
    pub report: Option<Box<Report>>,
}

impl Retryable {
    /// The Lambda error type: the AWS error code, so alarms and logs can group by cause.
    pub fn error_type(&self) -> String {
        format!("Retryable.{}", self.error.code())
    }
}

/// A function's invocation: its reports are headed `handle`, as `remediator handle`'s are.
pub async fn handle_event(engine: &Engine, event: serde_json::Value) -> Result<Report, Retryable> {
    match run_event(engine, event, Execution::Apply).await {
        Ok(report) => Ok(report.with_command("handle")),
        Err(Retryable { error, report }) => Err(Retryable {
            error,
            report: report.map(|report| Box::new(report.with_command("handle"))),
        }),
    }
}

/// `handle_event`, or its preview: `Execution::Plan` observes and plans only.
pub async fn run_event(
    engine: &Engine,
    event: serde_json::Value,
    execution: Execution,
) -> Result<Report, Retryable> {
    let mode = engine.stack_file().mode;
    let signal = match parse_event_value(event) {
        Ok(signal) => signal,
        Err(error) => {
            tracing::warn!(error = %error, "event rejected");
            return Ok(Report::rejected(execution, mode, error.to_string())
                .with_warnings(&engine.stack_file().warnings));
        }
    };
    run_signal(engine, signal, execution).await
}

/// Runs the engine for a signal, the same way for every caller: `Err` only for a failure a
/// retry can help; any other failure is a report (with a failed status) that says why.
pub async fn run_signal(
    engine: &Engine,
    signal: Signal,
    execution: Execution,
) -> Result<Report, Retryable> {
    let mode = engine.stack_file().mode;
    // Boxed: the engine future is large, and the runtime moves the handler future around.
    match Box::pin(engine.run(signal, execution)).await {
        Ok(report) => match report.retryable_failure().cloned() {
            Some(error) => Err(Retryable {
                error,
                report: Some(Box::new(report)),
            }),
            None => Ok(report),
        },
        Err(error) if error.is_retryable() => Err(Retryable {
            error,
            report: None,
        }),
        Err(error) => {
            tracing::error!(error = %error, "the stacks could not be read");
            Ok(Report::unreadable(execution, mode, error)
                .with_warnings(&engine.stack_file().warnings))
        }
    }
}
