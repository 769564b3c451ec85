//! The member role's sessions: one `AssumeRole` per account, kept until shortly before its
//! credentials expire and shared by every region of that account, so a sweep of an account in
//! four regions assumes its role once, and a warm function assumes it once an hour.

use crate::aws::{sdk_error, Clients};
use aws_config::SdkConfig;
use aws_sdk_sts::config::{Credentials, Region, SharedCredentialsProvider};
use domain::stack::{Organization, Target};
use domain::Error;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

/// A session this close to its expiry is renewed first: a run must not start with credentials
/// that die halfway through a resize.
const RENEW_BEFORE: Duration = Duration::from_secs(15 * 60);
/// The session's length: the member role's `MaxSessionDuration` (the templates set one hour).
const SESSION_SECONDS: i32 = 3600;

/// Per account, the last session (`None` until assumed), behind a lock of its own so the
/// regions of one account wait for one `AssumeRole` instead of each making theirs.
type Slot = Arc<tokio::sync::Mutex<Option<Credentials>>>;

/// Assumes the member role in each account, and builds the engine's clients for a target.
#[derive(Debug)]
pub struct MemberSessions {
    base: SdkConfig,
    sts: aws_sdk_sts::Client,
    organization: Organization,
    partition: &'static str,
    slots: Mutex<HashMap<String, Slot>>,
}

impl MemberSessions {
    /// `base` is the deployment's own configuration (its credentials assume the roles; its
    /// endpoint, timeouts and retries carry over to every member client).
    pub fn new(base: &SdkConfig, organization: &Organization) -> Self {
        let region = base.region().map(|r| r.as_ref()).unwrap_or_default();
        Self {
            base: base.clone(),
            sts: aws_sdk_sts::Client::new(base),
            organization: organization.clone(),
            partition: partition_of(region),
            slots: Mutex::new(HashMap::new()),
        }
    }

    /// The engine's clients in `target`, acting as the member role there. `Err` (with STS's
    /// reason) when the role cannot be assumed.
    pub async fn clients(&self, target: &Target) -> Result<Clients, Error> {
        let credentials = self.credentials(&target.account).await?;
        let config = self
            .base
            .to_builder()
            .region(Region::new(target.region.clone()))
            .credentials_provider(SharedCredentialsProvider::new(credentials))
            .build();
        Ok(Clients::partitioned(&config, &target.message_group()))
    }

    async fn credentials(&self, account: &str) -> Result<Credentials, Error> {
        let slot = {
            let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            Arc::clone(slots.entry(account.to_string()).or_default())
        };
        let mut session = slot.lock().await;
        let fresh = session.as_ref().filter(|credentials| {
            credentials
                .expiry()
                .is_none_or(|expiry| expiry > SystemTime::now() + RENEW_BEFORE)
        });
        if let Some(credentials) = fresh {
            return Ok(credentials.clone());
        }
        let credentials = self.assume(account).await?;
        *session = Some(credentials.clone());
        Ok(credentials)
    }

    async fn assume(&self, account: &str) -> Result<Credentials, Error> {
        let role = self.organization.role_arn(self.partition, account);
        let answer = self
            .sts
            .assume_role()
            .role_arn(&role)
            .role_session_name("chainlink-remediator")
            .duration_seconds(SESSION_SECONDS)
            .set_external_id(self.organization.external_id.clone())
            .send()
            .await
            .map_err(|e| match sdk_error("AssumeRole", e) {
                Error::Aws {
                    operation,
                    code,
                    message,
                    retryable,
                } => Error::Aws {
                    operation,
                    code,
                    message: format!("cannot assume {role}: {message}"),
                    retryable,
                },
                other => other,
            })?;
        let issued = answer.credentials().ok_or_else(|| Error::Aws {
            operation: "AssumeRole",
            code: "NoCredentials".into(),
            message: format!("STS assumed {role} but returned no credentials"),
            retryable: true,
        })?;
        Ok(Credentials::new(
            issued.access_key_id(),
            issued.secret_access_key(),
            Some(issued.session_token().to_string()),
            SystemTime::try_from(*issued.expiration()).ok(),
            "chainlink-remediator-member",
        ))
    }
}

/// The partition of a region's ARNs.
pub fn partition_of(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_regions_partition_names_its_arns() {
        assert_eq!(partition_of("us-east-1"), "aws");
        assert_eq!(partition_of("cn-north-1"), "aws-cn");
        assert_eq!(partition_of("us-gov-west-1"), "aws-us-gov");
    }
}
