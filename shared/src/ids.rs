//! Identifiers of the things the engine reasons about.
//!
//! Each is a newtype so a security-group ID can never be passed where a role or a stack name is
//! expected; they are validated once, where raw input enters the program.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! string_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn new(raw: impl Into<String>) -> Self {
                Self(raw.into())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

string_id!(
    /// `sg-…`: an EC2 security group.
    SecurityGroupId
);
string_id!(
    /// `vpc-…`.
    VpcId
);
string_id!(
    /// `subnet-…`.
    SubnetId
);
string_id!(
    /// `acl-…`: a network ACL.
    NetworkAclId
);
string_id!(
    /// `i-…`: an EC2 instance.
    InstanceId
);
string_id!(
    /// The value of the `chainlink:stack` tag: one Chainlink deployment.
    StackName
);
string_id!(
    /// The value of the `chainlink:role` tag (`node`, `db`, `bootstrap`…).
    RoleName
);

/// The tag that says which stack a resource belongs to.
pub const STACK_TAG: &str = "chainlink:stack";
/// The tag that says what a resource is within its stack.
pub const ROLE_TAG: &str = "chainlink:role";

impl SecurityGroupId {
    /// Accepts only the shape AWS gives group IDs, so event payloads cannot smuggle filters in.
    pub fn parse(raw: &str) -> Option<Self> {
        let hex = raw.strip_prefix("sg-")?;
        let valid =
            !hex.is_empty() && hex.len() <= 17 && hex.bytes().all(|b| b.is_ascii_hexdigit());
        valid.then(|| Self::new(raw))
    }
}

impl RoleName {
    /// Role names are tag values chosen by the operator; keep them simple so they read well in
    /// reports and cannot be confused with a CIDR.
    pub fn parse(raw: &str) -> Option<Self> {
        let valid = !raw.is_empty()
            && raw.len() <= 64
            && raw.starts_with(|c: char| c.is_ascii_lowercase())
            && raw
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        valid.then(|| Self::new(raw))
    }
}

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
    fn role_names_are_lowercase_words() {
        assert!(RoleName::parse("node").is_some());
        assert!(RoleName::parse("db-replica_2").is_some());
        for bad in ["", "Node", "10.0.0.0", "1node", "no de"] {
            assert!(RoleName::parse(bad).is_none(), "{bad:?} accepted");
        }
    }
}
