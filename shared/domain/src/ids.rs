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

/// An Elastic Load Balancing ARN whose resource starts with `resource` (`loadbalancer/`,
/// `targetgroup/`).
fn elb_arn(raw: &str, resource: &str) -> bool {
    let fields: Vec<&str> = raw.splitn(6, ':').collect();
    matches!(fields.as_slice(), ["arn", partition, "elasticloadbalancing", _, _, rest]
        if partition.starts_with("aws") && rest.starts_with(resource))
        && !raw.chars().any(char::is_control)
}

/// What AWS accepts as a tag value: letters, digits, spaces and `_ . : / = + - @`, at most 256.
fn tag_value(raw: &str) -> bool {
    !raw.is_empty()
        && raw.chars().count() <= 256
        && raw
            .chars()
            .all(|c| c.is_alphanumeric() || " _.:/=+-@".contains(c))
}

/// A KMS key ID: a UUID (`1234abcd-12ab-34cd-56ef-1234567890ab`), or a multi-Region key's
/// `mrk-` and 32 hex digits.
fn kms_key_id(raw: &str) -> bool {
    let hex = |part: &str| part.bytes().all(|b| b.is_ascii_hexdigit());
    if let Some(mrk) = raw.strip_prefix("mrk-") {
        return mrk.len() == 32 && hex(mrk);
    }
    let parts: Vec<&str> = raw.split('-').collect();
    parts.iter().map(|p| p.len()).eq([8, 4, 4, 4, 12]) && parts.iter().all(|p| hex(p))
}

/// `alias/` and a name of letters, digits, `/ _ -` (KMS's rule), 256 characters in all.
fn kms_alias(raw: &str) -> bool {
    raw.len() <= 256
        && raw.strip_prefix("alias/").is_some_and(|name| {
            !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"/_-".contains(&b))
        })
}

/// What `[parameters] kms_key` may name: an alias, a key ID, or a key or alias ARN
/// (`arn:PARTITION:kms:REGION:ACCOUNT:key/ID`, `…:alias/NAME`).
fn kms_key_ref(raw: &str) -> bool {
    if let Some(arn) = raw.strip_prefix("arn:") {
        let fields: Vec<&str> = arn.splitn(5, ':').collect();
        let [partition, service, region, account, resource] = fields.as_slice() else {
            return false;
        };
        return partition.starts_with("aws")
            && *service == "kms"
            && !region.is_empty()
            && region
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && account.len() == 12
            && account.bytes().all(|b| b.is_ascii_digit())
            && (resource.strip_prefix("key/").is_some_and(kms_key_id) || kms_alias(resource));
    }
    kms_key_id(raw) || kms_alias(raw)
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
    /// `eni-…`: a network interface, whatever it belongs to (an instance, a database, a load
    /// balancer).
    NetworkInterfaceId,
    "network interface ID",
    |raw| ec2_id(raw, "eni-")
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
    /// An Elastic Load Balancing (v2) load balancer's ARN
    /// (`arn:PARTITION:elasticloadbalancing:REGION:ACCOUNT:loadbalancer/app/NAME/ID`).
    LoadBalancerArn,
    "load balancer ARN",
    |raw| elb_arn(raw, "loadbalancer/")
);
string_id!(
    /// A target group's ARN (`arn:…:elasticloadbalancing:…:targetgroup/NAME/ID`).
    TargetGroupArn,
    "target group ARN",
    |raw| elb_arn(raw, "targetgroup/")
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
    /// A KMS key as Parameter Store is told it and reports it back (`KeyId`): an alias name
    /// (`alias/chainlink-demo`), a key ID (a UUID, or `mrk-…` for a multi-Region key), or the
    /// ARN of either. Compared as written: the same key in another form is another reference
    /// (telling them apart would need `kms:DescribeKey`, and an alias ARN names another
    /// account's alias as easily as this one's).
    KmsKeyRef,
    "KMS key (alias/NAME, a key ID, or a key or alias ARN)",
    kms_key_ref
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

string_id!(
    /// An RDS DB instance identifier: 1 to 63 letters, digits and hyphens, starting with a
    /// letter, not ending with a hyphen nor holding two in a row (RDS's naming rule).
    DbInstanceId,
    "DB instance identifier",
    db_instance_id
);
string_id!(
    /// An RDS DB instance's ARN (`arn:PARTITION:rds:REGION:ACCOUNT:db:IDENTIFIER`): what
    /// RDS's tagging calls name.
    DbInstanceArn,
    "DB instance ARN",
    |raw| {
        let fields: Vec<&str> = raw.splitn(7, ':').collect();
        matches!(fields.as_slice(), ["arn", partition, "rds", region, account, "db", id]
            if partition.starts_with("aws")
                && !region.is_empty()
                && account.len() == 12
                && account.bytes().all(|b| b.is_ascii_digit())
                && db_instance_id(id))
    }
);

/// RDS's rule for DB instance identifiers.
fn db_instance_id(raw: &str) -> bool {
    (1..=63).contains(&raw.len())
        && raw.starts_with(|c: char| c.is_ascii_alphabetic())
        && !raw.ends_with('-')
        && !raw.contains("--")
        && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// The tag that says which stack a resource belongs to.
pub const STACK_TAG: &str = "chainlink:stack";
/// The tag that says what a resource is within its stack.
pub const ROLE_TAG: &str = "chainlink:role";
/// The tag of a security group that records the approvals a plan of its stack ran on (their
/// nonces, space-separated, the last `APPROVALS_KEPT`): an approval acts once.
pub const APPROVAL_TAG: &str = "chainlink:approval";
/// How many used approvals a group's tag keeps: more than can be valid at once in practice (a
/// link lives at most a week), and 8 nonces of 24 characters fit a tag's 256.
pub const APPROVALS_KEPT: usize = 8;

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
        assert!(NetworkInterfaceId::parse("eni-0123456789abcdef0").is_some());
        assert!(NetworkInterfaceId::parse("i-0123").is_none());
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
    fn db_instances_follow_rds_naming() {
        assert!(DbInstanceId::parse("demo-db").is_some());
        assert!(DbInstanceId::parse("a").is_some());
        for bad in ["", "1db", "db-", "db--1", "db_1", &"d".repeat(64)] {
            assert!(DbInstanceId::parse(bad).is_none(), "{bad:?} accepted");
        }
        assert!(DbInstanceArn::parse("arn:aws:rds:us-east-1:123456789012:db:demo-db").is_some());
        for bad in [
            "arn:aws:rds:us-east-1:123456789012:cluster:demo",
            "arn:aws:ec2:us-east-1:123456789012:db:demo-db",
            "arn:aws:rds:us-east-1:1234:db:demo-db",
            "arn:aws:rds:us-east-1:123456789012:db:demo--db",
        ] {
            assert!(DbInstanceArn::parse(bad).is_none(), "{bad:?} accepted");
        }
    }

    #[test]
    fn kms_keys_are_aliases_key_ids_or_their_arns() {
        for good in [
            "alias/chainlink-demo",
            "alias/aws/ssm",
            "1234abcd-12ab-34cd-56ef-1234567890ab",
            "mrk-1234abcd12ab34cd56ef1234567890ab",
            "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "arn:aws-us-gov:kms:us-gov-west-1:111122223333:alias/chainlink-demo",
        ] {
            assert!(KmsKeyRef::parse(good).is_some(), "{good:?} refused");
        }
        for bad in [
            "",
            "alias/",
            "chainlink-demo",
            "alias/chainlink demo",
            "1234abcd-12ab-34cd-56ef-1234567890ag",
            "1234abcd-12ab-34cd-56ef",
            "mrk-1234",
            "arn:aws:kms:us-east-1:111122223333:key/chainlink-demo",
            "arn:aws:kms:us-east-1:1111:alias/chainlink-demo",
            "arn:aws:s3:us-east-1:111122223333:alias/chainlink-demo",
            "arn:aws:kms:us-east-1:111122223333",
        ] {
            assert!(KmsKeyRef::parse(bad).is_none(), "{bad:?} accepted");
        }
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
