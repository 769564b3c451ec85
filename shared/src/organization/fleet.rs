//! A function guarding an organisation. Nothing is remediated where an event arrives: every
//! piece of work for a target goes to the function's own FIFO queue, with the target as its
//! message group, and the queue's consumer (this same function) runs it there. So at most one
//! remediation of a target runs at a time, however many events and sweeps arrive at once, and
//! the function's concurrency serves many targets in parallel.
//!
//! - a schedule fans out: one message per account × region (`SendMessageBatch`, 10 a call);
//! - an event a member forwarded is queued for the account and region its envelope names, if
//!   they are the organisation's (otherwise it is a no-op with the reason);
//! - a batch from the queue is run message by message, in order; the first failure a retry
//!   can help and every message after it are returned for redelivery (FIFO order), and after
//!   the declared attempts SQS moves them to the dead-letter queue.

use super::{accounts, MemberSessions};
use crate::aws::sdk_error;
use domain::event::event_origin;
use domain::ids::DocumentName;
use domain::organization::TargetWork;
use domain::stack::{Organization, Target};
use domain::Error;
use std::time::{Duration, Instant};

/// How long a listing of the organisation's accounts is trusted by a warm function: an event
/// from an account that joined since waits at most this long to be handled.
const ACCOUNTS_FOR: Duration = Duration::from_secs(5 * 60);

/// The organisation a function guards, its queue, and the member sessions.
#[derive(Debug)]
pub struct Fleet {
    pub organization: Organization,
    pub sessions: MemberSessions,
    organizations: aws_sdk_organizations::Client,
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    listed: tokio::sync::Mutex<Option<(Instant, Vec<Target>)>>,
    /// The filesystem document in the members (the member template's name, the same in every
    /// account and region); `None`: a member's disk growth is extended by hand.
    pub filesystem_document: Option<DocumentName>,
}

/// What became of an event that arrived at the function (not from its queue).
#[derive(Debug, PartialEq, Eq)]
pub enum Intake {
    /// Queued for these targets.
    Queued(Vec<Target>),
    /// Not the organisation's, and why.
    Outside(String),
}

impl Fleet {
    pub fn new(
        config: &aws_config::SdkConfig,
        organization: Organization,
        queue_url: String,
    ) -> Self {
        Self {
            sessions: MemberSessions::new(config, &organization),
            organization,
            organizations: aws_sdk_organizations::Client::new(config),
            sqs: aws_sdk_sqs::Client::new(config),
            queue_url,
            listed: tokio::sync::Mutex::new(None),
            filesystem_document: None,
        }
    }

    pub fn with_filesystem_document(mut self, document: Option<DocumentName>) -> Self {
        self.filesystem_document = document;
        self
    }

    /// Every target, from the stack file or (for every account) a listing at most
    /// `ACCOUNTS_FOR` old.
    pub async fn targets(&self) -> Result<Vec<Target>, Error> {
        if let Some(targets) = self.organization.listed_targets() {
            return Ok(targets);
        }
        let mut listed = self.listed.lock().await;
        if let Some((at, targets)) = listed.as_ref() {
            if at.elapsed() < ACCOUNTS_FOR {
                return Ok(targets.clone());
            }
        }
        let targets = accounts::targets(&self.organization, &self.organizations).await?;
        *listed = Some((Instant::now(), targets.clone()));
        Ok(targets)
    }

    /// Why `target` is not one of the organisation's, if it is not.
    pub async fn outside(&self, target: &Target) -> Result<Option<String>, Error> {
        if let Some(reason) = self.organization.outside(&target.account, &target.region) {
            return Ok(Some(reason));
        }
        Ok(self.organization.outside_of(&self.targets().await?, target))
    }

    /// A schedule's sweep: one message per target.
    pub async fn fan_out(&self, event: &serde_json::Value) -> Result<Intake, Error> {
        let targets = self.targets().await?;
        let work: Vec<TargetWork> = targets
            .iter()
            .map(|target| TargetWork::new(target, event.clone()))
            .collect();
        for batch in work.chunks(10) {
            self.send_batch(batch).await?;
        }
        Ok(Intake::Queued(targets))
    }

    /// A member's event: queued for the target its envelope names, if that is the
    /// organisation's.
    pub async fn queue_event(&self, event: serde_json::Value) -> Result<Intake, Error> {
        let Some(target) = event_origin(&event) else {
            return Ok(Intake::Outside(
                "the event names no account and region, so no member of the organisation".into(),
            ));
        };
        if let Some(reason) = self.outside(&target).await? {
            return Ok(Intake::Outside(reason));
        }
        self.send_batch(&[TargetWork::new(&target, event)]).await?;
        Ok(Intake::Queued(vec![target]))
    }

    /// One `SendMessageBatch` (at most 10 messages). Entries SQS refused are sent once more
    /// in a batch of their own; still refused, the whole fan-out fails, and Lambda's retry
    /// sends it again, with the same deduplication IDs, so nothing is queued twice.
    async fn send_batch(&self, work: &[TargetWork]) -> Result<(), Error> {
        use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
        let mut pending: Vec<(String, &TargetWork)> = work
            .iter()
            .enumerate()
            .map(|(i, work)| (i.to_string(), work))
            .collect();
        for attempt in 1..=2 {
            let entries = pending
                .iter()
                .map(|(id, work)| {
                    SendMessageBatchRequestEntry::builder()
                        .id(id)
                        .message_body(serde_json::to_string(work).unwrap_or_default())
                        .message_group_id(work.target().message_group())
                        .message_deduplication_id(work.deduplication_id())
                        .build()
                        .map_err(|e| Error::Aws {
                            operation: "SendMessageBatch",
                            code: "Client".into(),
                            message: e.to_string(),
                            retryable: false,
                        })
                })
                .collect::<Result<Vec<_>, _>>()?;
            let answer = self
                .sqs
                .send_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| sdk_error("SendMessageBatch", e))?;
            let refused: Vec<(String, String)> = answer
                .failed()
                .iter()
                .map(|f| {
                    (
                        f.id().to_string(),
                        format!("{}: {}", f.code(), f.message().unwrap_or_default()),
                    )
                })
                .collect();
            if refused.is_empty() {
                return Ok(());
            }
            if attempt == 2 {
                return Err(Error::Aws {
                    operation: "SendMessageBatch",
                    code: "PartialFailure".into(),
                    message: format!(
                        "{} of the targets' messages were refused: {}",
                        refused.len(),
                        refused
                            .iter()
                            .map(|(_, why)| why.as_str())
                            .collect::<Vec<_>>()
                            .join("; ")
                    ),
                    retryable: true,
                });
            }
            pending.retain(|(id, _)| refused.iter().any(|(failed, _)| failed == id));
        }
        Ok(())
    }
}
