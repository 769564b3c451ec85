//! Secrets the node gets from outside Parameter Store: a password file its start script writes,
//! or a Secrets Manager secret its entrypoint fetches. The stack file says where each one lives;
//! the checks then stop calling it missing, and report instead what can be known of the place
//! (a Secrets Manager secret is checked to exist, never read; a file on the instance cannot be
//! seen at all).

use super::finding::{Finding, FindingCode};
use super::parameters::{
    API_EMAIL, API_PASSWORD, CL_DATABASE_URL, CL_PASSWORD_KEYSTORE, KEYSTORE_PASSWORD, SECRETS_TOML,
};
use serde::Serialize;
use std::fmt;

/// The names a secret kept elsewhere may stand for: the node's required secrets, by the name the
/// parameter would have.
pub const SECRETS_KEPT_ELSEWHERE: &[&str] = &[
    KEYSTORE_PASSWORD,
    CL_PASSWORD_KEYSTORE,
    "DATABASE_URL",
    CL_DATABASE_URL,
    SECRETS_TOML,
    API_EMAIL,
    API_PASSWORD,
];

/// Where a secret lives when it is not a parameter.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SecretPlace {
    /// A file on the node's instance: the remediator has no way onto the instance, so it is
    /// never checked.
    File(String),
    /// A Secrets Manager secret, by name or ARN.
    SecretsManager(String),
}

impl fmt::Display for SecretPlace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File(path) => write!(f, "the file {path} on the node's instance"),
            Self::SecretsManager(id) => write!(f, "the Secrets Manager secret {id}"),
        }
    }
}

/// What a look at the place found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PlaceState {
    /// Not looked at: a file, or a caller that does not check places.
    NotChecked,
    Exists,
    Missing,
    /// The secret is scheduled for deletion (the date AWS gives): the node can no longer read it.
    DeletionScheduled(String),
    /// The look itself was refused, with AWS's reason.
    Unreadable(String),
}

/// One secret kept outside Parameter Store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SecretElsewhere {
    /// The parameter name it stands for (`KEYSTORE_PASSWORD`).
    pub name: String,
    pub place: SecretPlace,
    pub state: PlaceState,
}

/// The findings a declared place answers: a keystore password or a database URL kept elsewhere
/// is not missing.
fn answers(code: FindingCode, name: &str) -> bool {
    match code {
        FindingCode::KeystorePasswordMissing => {
            [KEYSTORE_PASSWORD, CL_PASSWORD_KEYSTORE, SECRETS_TOML].contains(&name)
        }
        FindingCode::DatabaseUrlMissing => {
            ["DATABASE_URL", CL_DATABASE_URL, SECRETS_TOML].contains(&name)
        }
        _ => false,
    }
}

/// Drops the "missing" findings a secret kept elsewhere answers.
pub(super) fn drop_answered(findings: &mut Vec<Finding>, elsewhere: &[SecretElsewhere]) {
    findings.retain(|f| !elsewhere.iter().any(|s| answers(f.code, &s.name)));
}

/// What the places say, for the report: each place and what was found there, and a secret that
/// is both a parameter and kept elsewhere. These never decide whether the parameters are valid:
/// no parameter change can fix a missing secret elsewhere, so a rollback must not look for one.
pub fn check_places<'a>(
    parameters: impl IntoIterator<Item = &'a str>,
    elsewhere: &[SecretElsewhere],
) -> Vec<Finding> {
    let parameters: Vec<&str> = parameters.into_iter().collect();
    let mut out = Vec::new();
    for secret in elsewhere {
        let (name, place) = (secret.name.as_str(), &secret.place);
        if parameters.contains(&name) {
            out.push(Finding::new(
                FindingCode::SecretInTwoPlaces,
                name,
                format!(
                    "{name} is a parameter and is also declared kept in {place}: the parameter is what \
                     was checked; the node reads whichever its start command names"
                ),
            ));
        }
        let finding = match &secret.state {
            PlaceState::NotChecked | PlaceState::Exists => Finding::new(
                FindingCode::SecretKeptElsewhere,
                name,
                match (&secret.state, place) {
                    (_, SecretPlace::File(_)) => format!(
                        "{name} is kept in {place}: not visible from AWS, so neither its presence nor its strength is checked"
                    ),
                    (PlaceState::Exists, _) => format!(
                        "{name} is kept in {place}: it exists (checked without reading it), so its strength is not checked"
                    ),
                    _ => format!("{name} is kept in {place}: not checked by this function"),
                },
            ),
            PlaceState::Missing => Finding::new(
                FindingCode::SecretElsewhereMissing,
                name,
                format!(
                    "{name} is declared kept in {place}, which does not exist: a node that starts now cannot read it"
                ),
            ),
            PlaceState::DeletionScheduled(on) => Finding::new(
                FindingCode::SecretElsewhereMissing,
                name,
                format!(
                    "{name} is declared kept in {place}, which is scheduled for deletion ({on}) and can no longer be read: \
                     restore it (RestoreSecret) or declare where the secret lives now"
                ),
            ),
            PlaceState::Unreadable(reason) => Finding::new(
                FindingCode::SecretElsewhereUnchecked,
                name,
                format!("{name} is declared kept in {place}, which could not be checked: {reason}"),
            ),
        };
        out.push(finding);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{validate, EnvironmentPolicy, SecretValue};

    fn kept(name: &str, place: SecretPlace, state: PlaceState) -> SecretElsewhere {
        SecretElsewhere {
            name: name.into(),
            place,
            state,
        }
    }

    fn legacy_without_keystore() -> Vec<(String, SecretValue)> {
        [
            (
                "DATABASE_URL",
                "postgresql://cl:a-long-enough-db-passw0rd@db.internal:5432/cl",
            ),
            ("ETH_URL", "wss://rpc.example.org"),
            ("ETH_CHAIN_ID", "1"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), SecretValue::new(v.to_owned())))
        .collect()
    }

    fn codes(policy: &EnvironmentPolicy) -> Vec<FindingCode> {
        validate(&legacy_without_keystore(), policy)
            .findings
            .iter()
            .map(|f| f.code)
            .collect()
    }

    #[test]
    fn a_keystore_password_kept_elsewhere_is_not_missing() {
        let mut policy = EnvironmentPolicy::default();
        assert!(codes(&policy).contains(&FindingCode::KeystorePasswordMissing));
        for name in [KEYSTORE_PASSWORD, CL_PASSWORD_KEYSTORE, SECRETS_TOML] {
            policy.secrets_elsewhere = vec![kept(
                name,
                SecretPlace::File("/chainlink/.password".into()),
                PlaceState::NotChecked,
            )];
            assert!(
                !codes(&policy).contains(&FindingCode::KeystorePasswordMissing),
                "{name}"
            );
        }
        // An API credential kept elsewhere answers nothing else.
        policy.secrets_elsewhere = vec![kept(
            API_EMAIL,
            SecretPlace::File("/chainlink/.api".into()),
            PlaceState::NotChecked,
        )];
        assert!(codes(&policy).contains(&FindingCode::KeystorePasswordMissing));
    }

    #[test]
    fn a_database_url_kept_elsewhere_is_not_missing() {
        let mut params = legacy_without_keystore();
        params.retain(|(k, _)| k != "DATABASE_URL");
        let mut policy = EnvironmentPolicy::default();
        let has_missing = |policy: &EnvironmentPolicy| {
            validate(&params, policy)
                .findings
                .iter()
                .any(|f| f.code == FindingCode::DatabaseUrlMissing)
        };
        assert!(has_missing(&policy));
        policy.secrets_elsewhere = vec![kept(
            "DATABASE_URL",
            SecretPlace::SecretsManager("chainlink/demo/db".into()),
            PlaceState::Missing,
        )];
        assert!(!has_missing(&policy));
    }

    #[test]
    fn each_state_of_a_place_is_reported_and_only_a_missing_one_is_critical() {
        use crate::Severity;
        let sm = || SecretPlace::SecretsManager("chainlink/demo/keystore".into());
        let cases = [
            (
                sm(),
                PlaceState::Exists,
                FindingCode::SecretKeptElsewhere,
                Severity::Info,
                "it exists",
            ),
            (
                sm(),
                PlaceState::Missing,
                FindingCode::SecretElsewhereMissing,
                Severity::Critical,
                "does not exist",
            ),
            (
                sm(),
                PlaceState::DeletionScheduled("2026-12-31".into()),
                FindingCode::SecretElsewhereMissing,
                Severity::Critical,
                "scheduled for deletion (2026-12-31)",
            ),
            (
                sm(),
                PlaceState::Unreadable("AccessDeniedException: no".into()),
                FindingCode::SecretElsewhereUnchecked,
                Severity::Warning,
                "could not be checked: AccessDeniedException",
            ),
            (
                SecretPlace::File("/chainlink/.password".into()),
                PlaceState::NotChecked,
                FindingCode::SecretKeptElsewhere,
                Severity::Info,
                "not visible from AWS",
            ),
        ];
        for (place, state, code, severity, says) in cases {
            let found = check_places([], &[kept(KEYSTORE_PASSWORD, place, state.clone())]);
            assert_eq!(found.len(), 1, "{state:?}");
            assert_eq!(
                (found[0].code, found[0].severity),
                (code, severity),
                "{state:?}"
            );
            assert!(
                found[0].message.contains(says),
                "{state:?}: {}",
                found[0].message
            );
        }
    }

    #[test]
    fn a_secret_that_is_also_a_parameter_is_said_to_be_in_two_places() {
        let secret = kept(
            KEYSTORE_PASSWORD,
            SecretPlace::File("/chainlink/.password".into()),
            PlaceState::NotChecked,
        );
        let found = check_places(
            ["DATABASE_URL", KEYSTORE_PASSWORD],
            std::slice::from_ref(&secret),
        );
        assert_eq!(found[0].code, FindingCode::SecretInTwoPlaces);
        assert!(check_places(["DATABASE_URL"], &[secret])
            .iter()
            .all(|f| f.code != FindingCode::SecretInTwoPlaces));
    }
}
