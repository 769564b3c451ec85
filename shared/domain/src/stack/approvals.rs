//! `[approvals]`: which alarm remediations wait for a person before they run, how long an
//! approval link stays valid, and the SecureString whose value signs the links
//! (`crate::approvals`). Without the section nothing waits.

use super::{Problems, Remediation};
use chrono::Duration;
use serde::Deserialize;

/// The shortest and longest validity of a link: long enough for a person to be paged and
/// answer, short enough that a forgotten link cannot approve a different week's situation.
const VALIDITY_MINUTES: std::ops::RangeInclusive<i64> = 5..=7 * 24 * 60;

/// `[approvals]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawApprovals {
    pub key_parameter: String,
    #[serde(default)]
    pub require: Vec<String>,
    #[serde(default)]
    pub everything_in_production: bool,
    #[serde(default)]
    pub over_change_limit: bool,
    #[serde(default = "default_validity")]
    pub valid_for_minutes: i64,
}

fn default_validity() -> i64 {
    60
}

/// What waits for a person, and the key that signs the question.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApprovalPolicy {
    /// The SSM SecureString holding the signing key (at least 32 bytes).
    pub key_parameter: String,
    /// Remediations that always wait.
    pub require: Vec<Remediation>,
    /// In a production stack, every alarm remediation that changes something, and every
    /// security-group plan that opens a rule, waits.
    pub everything_in_production: bool,
    /// A security-group plan over `limits.max_changes_per_run` waits instead of being refused.
    pub over_change_limit: bool,
    pub valid_for: Duration,
}

impl ApprovalPolicy {
    /// Whether `remediation` waits for a person in a stack whose environment is (or is not)
    /// production. A remediation that changes nothing never waits.
    pub fn requires(&self, remediation: Remediation, production: bool) -> bool {
        remediation.changes_something()
            && (self.require.contains(&remediation)
                || (self.everything_in_production && production))
    }

    /// Whether a security-group plan waits: over the change limit (`refused`) with
    /// `over_change_limit`, or opening a rule (`opens`) in production with
    /// `everything_in_production`. A plan that only closes world exposures never waits in
    /// production: that must not wait for anyone.
    pub fn requires_for_groups(&self, refused: bool, opens: bool, production: bool) -> bool {
        (refused && self.over_change_limit)
            || (opens && self.everything_in_production && production)
    }
}

pub(super) fn build_approvals(
    raw: &RawApprovals,
    problems: &mut Problems,
) -> Option<ApprovalPolicy> {
    let key_parameter = problems.check("approvals.key_parameter", {
        let name = raw.key_parameter.trim();
        if name.is_empty() || name.contains(char::is_whitespace) {
            Err(format!(
                "{:?} is not an SSM parameter name: name the SecureString that holds the signing key",
                raw.key_parameter
            ))
        } else {
            Ok(name.to_string())
        }
    });
    let require: Vec<Remediation> = raw
        .require
        .iter()
        .enumerate()
        .filter_map(|(i, kind)| {
            let field = format!("approvals.require[{i}]");
            match Remediation::parse(kind) {
                Some(Remediation::ReportConnections) => {
                    problems.push(
                        field,
                        "report_connections changes nothing: there is nothing to approve",
                    );
                    None
                }
                Some(remediation) => Some(remediation),
                None => {
                    let known: Vec<&str> = Remediation::ALL
                        .iter()
                        .filter(|r| r.changes_something())
                        .map(|r| r.as_str())
                        .collect();
                    problems.push(
                        field,
                        format!(
                            "{kind:?} is not a remediation: use one of {}",
                            known.join(", ")
                        ),
                    );
                    None
                }
            }
        })
        .collect();
    let valid_for = problems.check(
        "approvals.valid_for_minutes",
        VALIDITY_MINUTES
            .contains(&raw.valid_for_minutes)
            .then(|| Duration::minutes(raw.valid_for_minutes))
            .ok_or_else(|| {
                format!(
                    "{} is out of range: {} to {} minutes (a week)",
                    raw.valid_for_minutes,
                    VALIDITY_MINUTES.start(),
                    VALIDITY_MINUTES.end()
                )
            }),
    );
    if raw.require.is_empty() && !raw.everything_in_production && !raw.over_change_limit {
        problems.push(
            "approvals",
            "nothing waits for approval: list remediations in `require`, or set `everything_in_production` or `over_change_limit`",
        );
    }
    Some(ApprovalPolicy {
        key_parameter: key_parameter?,
        require,
        everything_in_production: raw.everything_in_production,
        over_change_limit: raw.over_change_limit,
        valid_for: valid_for?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stack::sample_with as load;

    #[test]
    fn listed_remediations_wait_and_production_makes_every_change_wait() {
        let file = load(
            "[approvals]\nkey_parameter = \"/chainlink/demo/approval-key\"\nrequire = [\"resize\", \"scale_class\"]\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let policy = file.approvals.unwrap_or_else(|| panic!("no [approvals]"));
        assert_eq!(policy.valid_for, Duration::minutes(60));
        assert!(policy.requires(Remediation::Resize, false));
        assert!(!policy.requires(Remediation::GrowDisk, false));
        let everything = ApprovalPolicy {
            everything_in_production: true,
            ..policy
        };
        assert!(everything.requires(Remediation::GrowDisk, true));
        assert!(!everything.requires(Remediation::GrowDisk, false));
        assert!(
            !everything.requires(Remediation::ReportConnections, true),
            "a remediation that changes nothing never waits"
        );
        // Security groups: opening a rule in production waits; closing exposures never does;
        // over the limit waits only with over_change_limit.
        assert!(everything.requires_for_groups(false, true, true));
        assert!(!everything.requires_for_groups(false, false, true));
        assert!(!everything.requires_for_groups(true, false, true));
        let limit = ApprovalPolicy {
            over_change_limit: true,
            ..everything
        };
        assert!(limit.requires_for_groups(true, false, false));
    }

    #[test]
    fn a_bad_section_names_each_field() {
        let error = load(
            "[approvals]\nkey_parameter = \" \"\nrequire = [\"reboot\", \"report_connections\"]\nvalid_for_minutes = 1\n",
        )
        .err()
        .unwrap_or_default();
        for expected in [
            "approvals.key_parameter",
            "approvals.require[0]: \"reboot\" is not a remediation",
            "approvals.require[1]: report_connections changes nothing",
            "approvals.valid_for_minutes: 1 is out of range",
        ] {
            assert!(error.contains(expected), "{expected}: {error}");
        }
        let nothing = load("[approvals]\nkey_parameter = \"/k\"\n")
            .err()
            .unwrap_or_default();
        assert!(nothing.contains("nothing waits for approval"), "{nothing}");
    }
}
