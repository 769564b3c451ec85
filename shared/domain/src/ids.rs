//! Identifiers of the things the engine reasons about.
//!
//! Each is a newtype so a security-group ID can never be passed where a role or a stack name is
//! expected. Each has its own rule: `parse` (and `TryFrom`, which serde uses) accepts only what
//! AWS or the operator could really have written, so input from outside — events, tags, stack
//! files — is validated once, where it enters the program. `new` is for values that already are
//! such IDs: AWS's own answers, and the builders of tests.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A value that is not an identifier of the kind asked for.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a valid {kind}")]
pub struct IdError {
    pub kind: &'static str,
    pub value: String,
}

macro_rules! string_id {
    ($(#[$meta:meta])* $name:ident, $kind:literal, $valid:expr) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        // Read through the rule; written as the plain string, without a copy (`into` would
        // clone every ID a report serializes).
        #[serde(try_from = "String")]
        pub struct $name(String);

        impl $name {
            pub fn new(raw: impl Into<String>) -> Self {
                Self(raw.into())
            }

            /// `None` unless `raw` follows this kind of identifier's rule.
            pub fn parse(raw: &str) -> Option<Self> {
                Self::try_from(raw).ok()
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;

            fn try_from(raw: String) -> Result<Self, IdError> {
                let valid: fn(&str) -> bool = $valid;
                if valid(&raw) {
                    Ok(Self(raw))
                } else {
                    Err(IdError {
                        kind: $kind,
                        value: raw,
                    })
                }
            }
        }

        impl TryFrom<&str> for $name {
            type Error = IdError;

            fn try_from(raw: &str) -> Result<Self, IdError> {
                Self::try_from(raw.to_string())
            }
        }

        impl std::str::FromStr for $name {
            type Err = IdError;

            fn from_str(raw: &str) -> Result<Self, IdError> {
                Self::try_from(raw)
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

/// `prefix-` and up to 17 lowercase hex digits: the shape of every EC2 resource ID.
fn ec2_id(raw: &str, prefix: &str) -> bool {
    raw.strip_prefix(prefix).is_some_and(|hex| {
        !hex.is_empty() && hex.len() <= 17 && hex.bytes().all(|b| b.is_ascii_hexdigit())
    })
}

/// What AWS accepts as a tag value: letters, digits, spaces and `_ . : / = + - @`, at most 256.
fn tag_value(raw: &str) -> bool {
    !raw.is_empty()
        && raw.chars().count() <= 256
        && raw
            .chars()
            .all(|c| c.is_alphanumeric() || " _.:/=+-@".contains(c))
}

string_id!(
    /// `sg-…`: an EC2 security group. Only the shape AWS gives group IDs, so event payloads
    /// cannot smuggle filters in.
    SecurityGroupId,
    "security group ID",
    |raw| ec2_id(raw, "sg-")
);
string_id!(
    /// An SSM document's name: 3 to 128 letters, digits and `_ - .`, as SSM allows for the
    /// documents of an account (shared documents, named by ARN, are not used).
    DocumentName,
    "SSM document name",
    |raw| (3..=128).contains(&raw.len())
        && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
);
string_id!(
    /// `vpc-…`.
    VpcId,
    "VPC ID",
    |raw| ec2_id(raw, "vpc-")
);
string_id!(
    /// `subnet-…`.
    SubnetId,
    "subnet ID",
    |raw| ec2_id(raw, "subnet-")
);
string_id!(
    /// `acl-…`: a network ACL.
    NetworkAclId,
    "network ACL ID",
    |raw| ec2_id(raw, "acl-")
);
string_id!(
    /// `i-…`: an EC2 instance.
    InstanceId,
    "instance ID",
    |raw| ec2_id(raw, "i-")
);
string_id!(
    /// `vol-…`: an EBS volume.
    VolumeId,
    "volume ID",
    |raw| ec2_id(raw, "vol-")
);
string_id!(
    /// `lt-…`: an EC2 launch template.
    LaunchTemplateId,
    "launch template ID",
    |raw| ec2_id(raw, "lt-")
);
string_id!(
    /// An Auto Scaling group's name: 1 to 255 characters, none of them a control character.
    AutoScalingGroupName,
    "Auto Scaling group name",
    |raw| !raw.is_empty() && raw.chars().count() <= 255 && !raw.chars().any(char::is_control)
);
string_id!(
    /// A Parameter Store name: a path of letters, digits and `_ . -`, as SSM allows.
    ParameterName,
    "parameter name",
    |raw| {
        !raw.is_empty()
            && raw.len() <= 2048
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.-/".contains(&b))
    }
);
string_id!(
    /// The value of the `chainlink:stack` tag: one Chainlink deployment.
    StackName,
    "stack name",
    tag_value
);
string_id!(
    /// The value of the `chainlink:role` tag (`node`, `db`, `bootstrap`…). Chosen by the
    /// operator; kept simple so they read well in reports and cannot be confused with a CIDR.
    RoleName,
    "role name",
    |raw| {
        !raw.is_empty()
            && raw.len() <= 64
            && raw.starts_with(|c: char| c.is_ascii_lowercase())
            && raw
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
    }
);

/// The tag that says which stack a resource belongs to.
pub const STACK_TAG: &str = "chainlink:stack";
/// The tag that says what a resource is within its stack.
pub const ROLE_TAG: &str = "chainlink:role";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn security_group_ids_must_look_like_aws_ids() {
        assert!(SecurityGroupId::parse("sg-0123abcd").is_some());
        assert!(SecurityGroupId::parse("sg-0123456789abcdef0").is_some());
        for bad in [
            "",
            "sg-",
            "sg-xyz",
            "0123abcd",
            "sg-0123*",
            "sg-0123456789abcdef01234",
        ] {
            assert!(SecurityGroupId::parse(bad).is_none(), "{bad:?} accepted");
        }
    }

    #[test]
    fn every_kind_has_its_own_rule() {
        assert!(InstanceId::parse("i-0123456789abcdef0").is_some());
        assert!(InstanceId::parse("sg-0123").is_none());
        assert!(VolumeId::parse("vol-0abc").is_some());
        assert!(VolumeId::parse("vol-").is_none());
        assert!(LaunchTemplateId::parse("lt-0abc").is_some());
        assert!(AutoScalingGroupName::parse("chainlink-nodes").is_some());
        assert!(AutoScalingGroupName::parse("").is_none());
        assert!(AutoScalingGroupName::parse("a\nb").is_none());
        assert!(ParameterName::parse("/chainlink/demo/DATABASE_URL").is_some());
        assert!(ParameterName::parse("/chainlink/demo/DATABASE URL").is_none());
        assert!(StackName::parse("prod-eth_1").is_some());
        assert!(
            StackName::parse("").is_none(),
            "never a fallback for a missing stack"
        );
        assert!(StackName::parse("a;b").is_none());
    }

    #[test]
    fn serde_goes_through_the_rule() {
        let id: SecurityGroupId = serde_json::from_str("\"sg-0123abcd\"").expect("valid");
        assert_eq!(id.as_str(), "sg-0123abcd");
        let error = serde_json::from_str::<SecurityGroupId>("\"sg-*\"")
            .expect_err("a filter is not an ID")
            .to_string();
        assert!(error.contains("not a valid security group ID"), "{error}");
        assert_eq!(
            serde_json::to_string(&id).ok().as_deref(),
            Some("\"sg-0123abcd\"")
        );
    }

    #[test]
    fn role_names_are_lowercase_words() {
        assert!(RoleName::parse("node").is_some());
        assert!(RoleName::parse("db-replica_2").is_some());
        for bad in ["", "Node", "10.0.0.0", "1node", "no de"] {
            assert!(RoleName::parse(bad).is_none(), "{bad:?} accepted");
        }
    }
}
