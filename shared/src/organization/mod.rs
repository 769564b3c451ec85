//! An organisation from one deployment: the targets (account × region) of the stack file's
//! `[organization]`, the member role assumed in each, and the engine run in each target as it
//! runs in a single account. The CLI fans a run out in-process with bounded concurrency; the
//! functions fan a sweep out through a FIFO queue (`fan_out`), one message per target.
//!
//! One target is never run twice at once: each appears once in a fan-out, and the queue's
//! message group is the target.

pub mod accounts;
#[cfg(feature = "lambda")]
pub mod fleet;
pub mod sessions;

use crate::aws::Clients;
use crate::engine::Engine;
use crate::invocation::{run_signal, Retryable};
use domain::organization::TargetReport;
use domain::report::{Execution, Report};
use domain::signal::Signal;
use domain::stack::{Mode, Target};
use futures_util::stream::{self, StreamExt};
pub use sessions::MemberSessions;

/// How many targets the CLI runs at once unless told otherwise. Each target's calls go to its
/// own account's buckets, so more at once costs no target its rate budget; the bound is the
/// process's connections and memory.
pub const DEFAULT_CONCURRENCY: usize = 16;

/// How a run reaches each target: the member sessions, the engine for a target's clients, and
/// what the run does there.
pub struct Runner<'a> {
    pub sessions: &'a MemberSessions,
    pub engine_for: &'a (dyn Fn(Clients) -> Engine + Sync),
    pub execution: Execution,
    /// The stack file's, for a target that could not be reached.
    pub mode: Mode,
}

impl std::fmt::Debug for Runner<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner")
            .field("execution", &self.execution)
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

impl Runner<'_> {
    /// Runs `signal` in one target: assumes the member role there, builds the engine, and
    /// reports. A role that cannot be assumed, or AWS that cannot be read there, is that
    /// target's failed report, never the others'.
    pub async fn run_target(&self, target: Target, signal: Signal) -> TargetReport {
        let (execution, mode) = (self.execution, self.mode);
        let report = match self.sessions.clients(&target).await {
            Err(error) => {
                tracing::warn!(target = %target, error = %error, "member role not assumed");
                Report::unreadable(execution, mode, error)
            }
            Ok(clients) => {
                let engine = (self.engine_for)(clients);
                match run_signal(&engine, signal, execution).await {
                    Ok(report) => report,
                    // What was done before the failure still counts; the target failed.
                    Err(Retryable {
                        report: Some(report),
                        ..
                    }) => *report,
                    Err(Retryable { error, .. }) => Report::unreadable(execution, mode, error),
                }
            }
        };
        TargetReport { target, report }
    }

    /// Runs `signal` in every target, at most `concurrency` at once, each target once.
    /// `progress` is called after each target with (done, total).
    pub async fn run_all(
        &self,
        targets: Vec<Target>,
        concurrency: usize,
        signal: &Signal,
        mut progress: impl FnMut(usize, usize),
    ) -> Vec<TargetReport> {
        let total = targets.len();
        let mut reports = Vec::with_capacity(total);
        let mut running = stream::iter(targets)
            .map(|target| self.run_target(target, signal.clone()))
            .buffer_unordered(concurrency.max(1));
        while let Some(report) = running.next().await {
            reports.push(report);
            progress(reports.len(), total);
        }
        reports
    }
}
