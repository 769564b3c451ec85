//! Why a read or a write did not happen: AWS's own answer with its real code, or one of the few
//! failures that are the engine's to name (a wait that ran out, a resource that vanished, a
//! change that AWS accepted but did not carry out).
//!
//! Each knows whether trying the whole run again later can help; only the functions' boundary
//! turns that into the runtime's error type. Reports carry these values, so they hold no secret:
//! AWS's messages name resources, never parameter values.

use serde::ser::{SerializeStruct, Serializer};
use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// AWS answered with an error, or could not be reached, after the SDK's own retries.
    #[error("{operation} failed: {code}: {message}")]
    Aws {
        operation: &'static str,
        /// AWS's error code (`InvalidPermission.Duplicate`, `RequestLimitExceeded`…), or the
        /// transport's (`Timeout`, `Dispatch`, `HTTP 503`).
        code: String,
        message: String,
        retryable: bool,
    },
    /// A resource did not reach the state a step waits for before the wait ran out.
    #[error("{operation}: {resource} did not become {wanted} in time (last seen {seen})")]
    WaitTimedOut {
        operation: &'static str,
        resource: String,
        wanted: String,
        seen: String,
    },
    /// A resource a step works on no longer exists.
    #[error("{operation}: {resource} no longer exists")]
    Vanished {
        operation: &'static str,
        resource: String,
    },
    /// AWS accepted a write and then did not carry it out, or answered without what the step
    /// needs to go on.
    #[error("{operation}: {message}")]
    NotCarriedOut {
        operation: &'static str,
        message: String,
    },
}

impl Error {
    /// Whether trying the whole run again later can help. Only AWS's answer can say so: after a
    /// wait ran out, the step's own recovery has run, and a retry of the event would act on a
    /// resource whose state the report asks a person to check.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Aws { retryable, .. } => *retryable,
            Self::WaitTimedOut { .. } | Self::Vanished { .. } | Self::NotCarriedOut { .. } => false,
        }
    }

    /// AWS's error code, or the name of the engine's own kind of failure.
    pub fn code(&self) -> &str {
        match self {
            Self::Aws { code, .. } => code,
            Self::WaitTimedOut { .. } => "WaitTimedOut",
            Self::Vanished { .. } => "Vanished",
            Self::NotCarriedOut { .. } => "NotCarriedOut",
        }
    }

    pub fn operation(&self) -> &'static str {
        match self {
            Self::Aws { operation, .. }
            | Self::WaitTimedOut { operation, .. }
            | Self::Vanished { operation, .. }
            | Self::NotCarriedOut { operation, .. } => operation,
        }
    }

    /// Whether AWS answered with this error code.
    pub fn is_aws_code(&self, wanted: &str) -> bool {
        matches!(self, Self::Aws { code, .. } if code == wanted)
    }

    /// AWS's message, or the engine's description of the failure.
    pub fn message(&self) -> String {
        match self {
            Self::Aws { message, .. } => message.clone(),
            other => other.to_string(),
        }
    }
}

/// One shape for every kind in JSON reports: `operation`, `code`, `message`, `retryable`.
impl Serialize for Error {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut out = serializer.serialize_struct("Error", 4)?;
        out.serialize_field("operation", self.operation())?;
        out.serialize_field("code", self.code())?;
        out.serialize_field("message", &self.message())?;
        out.serialize_field("retryable", &self.is_retryable())?;
        out.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_aws_decides_for_its_own_errors() {
        let throttled = Error::Aws {
            operation: "DescribeInstances",
            code: "RequestLimitExceeded".into(),
            message: "slow down".into(),
            retryable: true,
        };
        assert!(throttled.is_retryable());
        assert!(throttled.is_aws_code("RequestLimitExceeded"));
        let gone = Error::Vanished {
            operation: "StartInstances",
            resource: "i-0123".into(),
        };
        assert!(!gone.is_retryable());
        assert!(!gone.is_aws_code("Vanished"), "not an AWS answer");
        assert_eq!(gone.code(), "Vanished");
    }

    #[test]
    fn every_kind_serializes_to_the_same_fields() {
        let waited = Error::WaitTimedOut {
            operation: "StopInstances",
            resource: "i-0123".into(),
            wanted: "stopped".into(),
            seen: "stopping".into(),
        };
        let json = serde_json::to_value(&waited).expect("serializes");
        assert_eq!(json["operation"], "StopInstances");
        assert_eq!(json["code"], "WaitTimedOut");
        assert_eq!(json["retryable"], false);
        assert_eq!(
            json["message"],
            "StopInstances: i-0123 did not become stopped in time (last seen stopping)"
        );
    }
}
