//! `[organization]`: the accounts and regions one deployment guards, and the role it assumes in
//! each. Without the section a deployment guards its own account in its own region.

use super::Problems;
use serde::Deserialize;
use std::collections::BTreeSet;
use std::fmt;

/// `[organization]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOrganization {
    pub accounts: Vec<String>,
    #[serde(default)]
    pub ous: Vec<String>,
    pub regions: Vec<String>,
    pub role_name: String,
    pub external_id: Option<String>,
}

/// Which accounts are targets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Accounts {
    /// Exactly these (12 digits each), sorted.
    Listed(Vec<String>),
    /// Every `ACTIVE` account of the organisation (`ListAccounts`), or, with `ous`, every
    /// active account under those organisational units, at any depth.
    Every { ous: Vec<String> },
}

/// The organisation a deployment guards.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Organization {
    pub accounts: Accounts,
    /// Sorted, without duplicates.
    pub regions: Vec<String>,
    /// The role assumed in each account (`arn:<partition>:iam::<account>:role/<role_name>`).
    pub role_name: String,
    /// Required by the member role's trust policy, when it has one.
    pub external_id: Option<String>,
}

/// One account in one region: where a remediation runs.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct Target {
    pub account: String,
    pub region: String,
}

impl Target {
    pub fn new(account: impl Into<String>, region: impl Into<String>) -> Self {
        Self {
            account: account.into(),
            region: region.into(),
        }
    }

    /// The FIFO message group of the target's work: one remediation of a target at a time.
    pub fn message_group(&self) -> String {
        format!("{}/{}", self.account, self.region)
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} in {}", self.account, self.region)
    }
}

impl Organization {
    /// Every listed account × every region, in a stable order; `None` when the accounts are
    /// read from the organisation.
    pub fn listed_targets(&self) -> Option<Vec<Target>> {
        match &self.accounts {
            Accounts::Listed(accounts) => Some(self.targets_of(accounts)),
            Accounts::Every { .. } => None,
        }
    }

    /// `accounts` × the regions, sorted by account then region.
    pub fn targets_of(&self, accounts: &[String]) -> Vec<Target> {
        let mut accounts: Vec<&String> = accounts.iter().collect();
        accounts.sort();
        accounts.dedup();
        accounts
            .into_iter()
            .flat_map(|account| {
                self.regions
                    .iter()
                    .map(move |region| Target::new(account.clone(), region.clone()))
            })
            .collect()
    }

    /// Why an event from `account` in `region` is not this deployment's, if it is not. An
    /// account read from the organisation is checked by the caller, which holds the list.
    pub fn outside(&self, account: &str, region: &str) -> Option<String> {
        if !self.regions.iter().any(|r| r == region) {
            return Some(format!(
                "region {region} is not one of the organisation's regions ({})",
                self.regions.join(", ")
            ));
        }
        match &self.accounts {
            Accounts::Listed(accounts) if !accounts.iter().any(|a| a == account) => Some(format!(
                "account {account} is not one of the organisation's accounts"
            )),
            _ => None,
        }
    }

    /// `outside`, and for accounts read from the organisation, whether `target` is one of
    /// `targets` (every active account × region, as listed).
    pub fn outside_of(&self, targets: &[Target], target: &Target) -> Option<String> {
        self.outside(&target.account, &target.region).or_else(|| {
            (!targets.contains(target)).then(|| {
                format!(
                    "account {} is not an active account under the organisation's [organization] accounts",
                    target.account
                )
            })
        })
    }

    /// The member role's ARN in `account` (the partition is the caller's: `aws`, `aws-cn`…).
    pub fn role_arn(&self, partition: &str, account: &str) -> String {
        format!("arn:{partition}:iam::{account}:role/{}", self.role_name)
    }
}

pub fn is_account_id(text: &str) -> bool {
    text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit())
}

/// `us-east-1`, `eu-west-2`, `us-gov-west-1`, `cn-north-1`: lowercase words, then a number.
fn is_region(text: &str) -> bool {
    let mut parts = text.split('-');
    let first = parts.next().unwrap_or_default();
    let rest: Vec<&str> = parts.collect();
    (2..=4).contains(&first.len())
        && first.bytes().all(|b| b.is_ascii_lowercase())
        && rest.len() >= 2
        && rest
            .last()
            .is_some_and(|n| !n.is_empty() && n.len() <= 2 && n.bytes().all(|b| b.is_ascii_digit()))
        && rest[..rest.len() - 1]
            .iter()
            .all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase()))
}

/// An IAM role name: 1–64 of `[A-Za-z0-9+=,.@_-]` (IAM's own pattern; no path).
fn is_role_name(text: &str) -> bool {
    (1..=64).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b))
}

/// `ou-` then the root's 4–32 and the unit's 8–32 lowercase letters or digits.
fn is_ou_id(text: &str) -> bool {
    let Some(rest) = text.strip_prefix("ou-") else {
        return false;
    };
    let Some((root, unit)) = rest.split_once('-') else {
        return false;
    };
    let word = |w: &str, range: std::ops::RangeInclusive<usize>| {
        range.contains(&w.len())
            && w.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    };
    word(root, 4..=32) && word(unit, 8..=32)
}

/// STS's external ID: 2–1224 of `[\w+=,.@:/-]`.
fn is_external_id(text: &str) -> bool {
    (2..=1224).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_+=,.@:/-".contains(&b))
}

pub(super) fn build_organization(
    raw: &RawOrganization,
    problems: &mut Problems,
) -> Option<Organization> {
    let every = raw.accounts.iter().any(|a| a == "*");
    let mut accounts = BTreeSet::new();
    for (i, account) in raw.accounts.iter().enumerate() {
        let field = format!("organization.accounts[{i}]");
        match account.as_str() {
            "*" if raw.accounts.len() > 1 => problems.push(
                field,
                "\"*\" means every active account: list accounts or write \"*\" alone",
            ),
            "*" => {}
            id if is_account_id(id) => {
                if !accounts.insert(id.to_string()) {
                    problems.push(field, format!("{id} is listed twice"));
                }
            }
            other => problems.push(
                field,
                format!("{other:?} is not an account ID (12 digits) or \"*\""),
            ),
        }
    }
    if raw.accounts.is_empty() {
        problems.push(
            "organization.accounts",
            "no account: list account IDs, or [\"*\"] for every active account",
        );
    }
    for (i, ou) in raw.ous.iter().enumerate() {
        if !is_ou_id(ou) {
            problems.push(
                format!("organization.ous[{i}]"),
                format!("{ou:?} is not an organizational unit ID (ou-xxxx-xxxxxxxx)"),
            );
        }
    }
    if !raw.ous.is_empty() && !every {
        problems.push(
            "organization.ous",
            "ous narrows accounts = [\"*\"]: with listed accounts it would be ignored",
        );
    }
    let mut regions = BTreeSet::new();
    for (i, region) in raw.regions.iter().enumerate() {
        let field = format!("organization.regions[{i}]");
        if !is_region(region) {
            problems.push(field, format!("{region:?} is not a region (us-east-1)"));
        } else if !regions.insert(region.clone()) {
            problems.push(field, format!("{region} is listed twice"));
        }
    }
    if raw.regions.is_empty() {
        problems.push("organization.regions", "no region: list at least one");
    }
    if !is_role_name(&raw.role_name) {
        problems.push(
            "organization.role_name",
            format!(
                "{:?} is not an IAM role name (1–64 letters, digits or +=,.@_-, no path)",
                raw.role_name
            ),
        );
    }
    if let Some(id) = raw.external_id.as_deref().filter(|id| !is_external_id(id)) {
        // Never echo it: an external ID is not a secret, but it is not for logs either.
        problems.push(
            "organization.external_id",
            format!(
                "is not an external ID STS accepts (2–1224 letters, digits or _+=,.@:/-; {} characters given)",
                id.len()
            ),
        );
    }
    Some(Organization {
        accounts: match every {
            true => Accounts::Every {
                ous: raw.ous.clone(),
            },
            false => Accounts::Listed(accounts.into_iter().collect()),
        },
        regions: regions.into_iter().collect(),
        role_name: raw.role_name.clone(),
        external_id: raw.external_id.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stack::sample_with as load;

    #[test]
    fn listed_accounts_times_regions_are_the_targets_in_a_stable_order() {
        let file = load(
            "[organization]\naccounts = [\"222222222222\", \"111111111111\"]\nregions = [\"eu-west-1\", \"us-east-1\"]\nrole_name = \"ChainlinkRemediatorMember\"\nexternal_id = \"chainlink-ops\"\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let organization = file.organization.unwrap_or_else(|| panic!("no section"));
        let targets = organization.listed_targets().unwrap_or_default();
        let names: Vec<String> = targets.iter().map(Target::to_string).collect();
        assert_eq!(
            names,
            [
                "111111111111 in eu-west-1",
                "111111111111 in us-east-1",
                "222222222222 in eu-west-1",
                "222222222222 in us-east-1"
            ]
        );
        assert_eq!(targets[0].message_group(), "111111111111/eu-west-1");
        assert_eq!(
            organization.role_arn("aws", "111111111111"),
            "arn:aws:iam::111111111111:role/ChainlinkRemediatorMember"
        );
        assert_eq!(organization.outside("111111111111", "us-east-1"), None);
        assert!(organization
            .outside("333333333333", "us-east-1")
            .is_some_and(|r| r.contains("account 333333333333")));
        assert!(organization
            .outside("111111111111", "ap-south-1")
            .is_some_and(|r| r.contains("region ap-south-1")));
    }

    #[test]
    fn approvals_with_an_organization_are_a_warning_that_says_they_do_not_reach_members() {
        let file = load(
            "[organization]\naccounts = [\"111111111111\"]\nregions = [\"us-east-1\"]\nrole_name = \"Member\"\n\n[approvals]\nkey_parameter = \"/chainlink-remediator/demo/approval-key\"\nrequire = [\"resize\"]\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let warning = file
            .warnings
            .iter()
            .find(|w| w.field == "approvals")
            .unwrap_or_else(|| panic!("no warning: {:?}", file.warnings));
        assert!(warning.message.contains("member account"), "{warning:?}");
    }

    #[test]
    fn every_account_may_be_narrowed_to_units() {
        let file = load(
            "[organization]\naccounts = [\"*\"]\nous = [\"ou-ab12-cdef3456\"]\nregions = [\"us-east-1\"]\nrole_name = \"Member\"\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let organization = file.organization.unwrap_or_else(|| panic!("no section"));
        assert_eq!(
            organization.accounts,
            Accounts::Every {
                ous: vec!["ou-ab12-cdef3456".into()]
            }
        );
        assert_eq!(organization.listed_targets(), None);
        assert_eq!(organization.outside("999999999999", "us-east-1"), None);
    }

    #[test]
    fn a_bad_section_names_each_field() {
        let error = load(
            "[organization]\naccounts = [\"12345\", \"*\", \"111111111111\", \"111111111111\"]\nous = [\"ou-x\"]\nregions = [\"US-EAST-1\", \"eu-west-1\", \"eu-west-1\"]\nrole_name = \"role/with/path\"\nexternal_id = \"a\"\n",
        )
        .err()
        .unwrap_or_default();
        for expected in [
            "organization.accounts[0]: \"12345\" is not an account ID",
            "organization.accounts[1]: \"*\" means every active account",
            "organization.accounts[3]: 111111111111 is listed twice",
            "organization.ous[0]: \"ou-x\" is not an organizational unit ID",
            "organization.regions[0]: \"US-EAST-1\" is not a region",
            "organization.regions[2]: eu-west-1 is listed twice",
            "organization.role_name: \"role/with/path\" is not an IAM role name",
            "organization.external_id: is not an external ID STS accepts",
        ] {
            assert!(error.contains(expected), "{expected:?} not in:\n{error}");
        }
        let error = load("[organization]\naccounts = []\nregions = []\nrole_name = \"R\"\n")
            .err()
            .unwrap_or_default();
        assert!(
            error.contains("organization.accounts: no account"),
            "{error}"
        );
        assert!(error.contains("organization.regions: no region"), "{error}");
    }

    #[test]
    fn regions_are_recognised() {
        for region in [
            "us-east-1",
            "eu-central-2",
            "us-gov-west-1",
            "cn-north-1",
            "ap-southeast-5",
        ] {
            assert!(is_region(region), "{region}");
        }
        for region in [
            "us-east",
            "east-1",
            "us_east_1",
            "useast1",
            "us-east-123",
            "",
        ] {
            assert!(!is_region(region), "{region}");
        }
    }
}
