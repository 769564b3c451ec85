//! Checks on the keystore password and the first API user's credentials.
//!
//! Both are needed for an unattended start: without the keystore password
//! the node stops with 'no password provided', and the API user file only
//! seeds the first user of a fresh database. Complexity is enforced by the
//! node only on first boot (empty keystore, empty user table), so a weak
//! password is an Error in production and a Warning elsewhere.

use super::finding::{Finding, FindingCode, Severity};
use super::password::{check_password, PasswordFault, PasswordRules, MAX_LEN};

/// Where a keystore password came from; password files get one trailing
/// newline stripped, as the node does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum KeystoreSource {
    PasswordFile,
    Setting,
}

pub(super) struct Located<'a> {
    pub parameter: &'a str,
    pub field: Option<&'a str>,
}

impl Located<'_> {
    fn finding(&self, code: FindingCode, message: String) -> Finding {
        let finding = Finding::new(code, self.parameter, message);
        match self.field {
            Some(field) => finding.with_field(field),
            None => finding,
        }
    }

    fn label(&self) -> &str {
        self.field.unwrap_or(self.parameter)
    }
}

fn weak_severity(production: bool) -> Severity {
    if production {
        Severity::Error
    } else {
        Severity::Warning
    }
}

fn describe(faults: &[PasswordFault]) -> String {
    faults
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

pub(super) fn check_keystore_password(
    raw: &str,
    source: KeystoreSource,
    at: &Located<'_>,
    production: bool,
    out: &mut Vec<Finding>,
) {
    let password = match source {
        KeystoreSource::PasswordFile => raw.strip_suffix('\n').unwrap_or(raw),
        KeystoreSource::Setting => raw,
    };
    let label = at.label();
    let faults = check_password(password, &PasswordRules::KEYSTORE);
    if faults.contains(&PasswordFault::Empty) {
        out.push(at.finding(
            FindingCode::KeystorePasswordWhitespace,
            format!("{label} is empty: 'detected empty password in password file'; the node cannot unlock its keys."),
        ));
        return;
    }
    if faults.contains(&PasswordFault::SurroundingWhitespace) {
        out.push(at.finding(
            FindingCode::KeystorePasswordWhitespace,
            format!(
                "{label} has leading or trailing whitespace ('leading/trailing whitespace detected in password'); \
                 the node rejects it. Remove the whitespace, or if it is really part of the password, re-encrypt \
                 the keystore with a new one."
            ),
        ));
    }
    let length_faults: Vec<PasswordFault> = faults
        .into_iter()
        .filter(|f| matches!(f, PasswordFault::TooShort | PasswordFault::TooLong))
        .collect();
    if !length_faults.is_empty() {
        out.push(
            at.finding(
                FindingCode::KeystorePasswordWeak,
                format!(
                    "{label} does not meet the node's keystore password rule (16-50 characters): {}. The node \
                     enforces it when it creates the keystore (first boot); an existing keystore still unlocks.",
                    describe(&length_faults)
                ),
            )
            .with_severity(weak_severity(production)),
        );
    }
}

/// Go's `mail.ParseAddress`, approximately: `local@domain` or `Name <local@domain>`.
fn is_email(text: &str) -> bool {
    let text = text.trim();
    let address = match (text.rfind('<'), text.strip_suffix('>')) {
        (Some(open), Some(inner)) => &inner[open + 1..],
        _ => text,
    };
    let Some((local, domain)) = address.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.is_empty()
        && !address
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, '<' | '>' | ',' | ';'))
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
}

pub(super) fn check_api_credentials(
    email: Option<&str>,
    password: Option<&str>,
    at_email: &Located<'_>,
    at_password: &Located<'_>,
    production: bool,
    out: &mut Vec<Finding>,
) {
    if email.is_none() && password.is_none() {
        return;
    }
    match email {
        None | Some("") => out.push(at_email.finding(
            FindingCode::ApiEmailInvalid,
            format!(
                "{} is missing: 'Must enter an email'. The API credentials need both lines.",
                at_email.label()
            ),
        )),
        Some(email) if !is_email(email) => out.push(at_email.finding(
            FindingCode::ApiEmailInvalid,
            format!(
                "{} is not a valid email address; the node cannot create the API user.",
                at_email.label()
            ),
        )),
        Some(_) => {}
    }
    let Some(password) = password else {
        out.push(at_password.finding(
            FindingCode::ApiPasswordWeak,
            format!(
                "{} is missing; the API credentials need both an email and a password.",
                at_password.label()
            ),
        ));
        return;
    };
    let rules = PasswordRules {
        max_len: Some(MAX_LEN),
        email,
    };
    let faults = check_password(password, &rules);
    if faults.contains(&PasswordFault::TooLong) {
        out.push(at_password.finding(
            FindingCode::ApiPasswordTooLong,
            format!(
                "{} is longer than 50 characters: 'must enter a password less than 50 characters' (bcrypt limit).",
                at_password.label()
            ),
        ));
    }
    let other: Vec<PasswordFault> = faults
        .into_iter()
        .filter(|f| *f != PasswordFault::TooLong)
        .collect();
    if !other.is_empty() {
        out.push(
            at_password
                .finding(
                    FindingCode::ApiPasswordWeak,
                    format!(
                        "{} fails the node's password rule: {}. The node refuses to create the first API user.",
                        at_password.label(),
                        describe(&other)
                    ),
                )
                .with_severity(weak_severity(production)),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keystore(
        raw: &str,
        source: KeystoreSource,
        production: bool,
    ) -> Vec<(FindingCode, Severity)> {
        let mut out = Vec::new();
        let at = Located {
            parameter: "KEYSTORE_PASSWORD",
            field: None,
        };
        check_keystore_password(raw, source, &at, production, &mut out);
        out.into_iter().map(|f| (f.code, f.severity)).collect()
    }

    #[test]
    fn keystore_table() {
        use FindingCode::*;
        use KeystoreSource::*;
        use Severity::*;
        let cases = [
            (
                "fifteen-chars-x",
                Setting,
                true,
                vec![(KeystorePasswordWeak, Error)],
            ),
            (
                "fifteen-chars-x",
                Setting,
                false,
                vec![(KeystorePasswordWeak, Warning)],
            ),
            ("sixteen-chars-xx", Setting, true, vec![]),
            ("sixteen-chars-xx\n", PasswordFile, true, vec![]),
            (
                "sixteen-chars-xx\n",
                Setting,
                true,
                vec![(KeystorePasswordWhitespace, Error)],
            ),
            (
                " sixteen-chars-xx",
                PasswordFile,
                true,
                vec![(KeystorePasswordWhitespace, Error)],
            ),
            (
                "\n",
                PasswordFile,
                true,
                vec![(KeystorePasswordWhitespace, Error)],
            ),
        ];
        for (raw, source, production, expected) in cases {
            assert_eq!(keystore(raw, source, production), expected, "{raw:?}");
        }
    }

    #[test]
    fn email_table() {
        let cases = [
            ("ops@example.com", true),
            ("Ops Team <ops@example.com>", true),
            ("root@localhost", true),
            ("not-an-email", false),
            ("a b@example.com", false),
            ("ops@", false),
            ("@example.com", false),
        ];
        for (email, expected) in cases {
            assert_eq!(is_email(email), expected, "{email}");
        }
    }

    #[test]
    fn api_credentials_table() {
        use FindingCode::*;
        let long = "x".repeat(51);
        let cases: Vec<(Option<&str>, Option<&str>, Vec<FindingCode>)> = vec![
            (None, None, vec![]),
            (
                Some("ops@example.com"),
                Some("a-long-enough-password"),
                vec![],
            ),
            (
                Some("ops@example.com"),
                Some("short"),
                vec![ApiPasswordWeak],
            ),
            (
                Some("ops@example.com"),
                Some("xx-ops@example.com-xx"),
                vec![ApiPasswordWeak],
            ),
            (
                Some("ops@example.com"),
                Some(&long),
                vec![ApiPasswordTooLong],
            ),
            (
                Some("nope"),
                Some("a-long-enough-password"),
                vec![ApiEmailInvalid],
            ),
            (None, Some("a-long-enough-password"), vec![ApiEmailInvalid]),
            (Some("ops@example.com"), None, vec![ApiPasswordWeak]),
        ];
        for (email, password, expected) in cases {
            let mut out = Vec::new();
            let at_email = Located {
                parameter: "API_EMAIL",
                field: None,
            };
            let at_password = Located {
                parameter: "API_PASSWORD",
                field: None,
            };
            check_api_credentials(email, password, &at_email, &at_password, true, &mut out);
            let got: Vec<FindingCode> = out.iter().map(|f| f.code).collect();
            assert_eq!(got, expected, "{email:?} {password:?}");
        }
    }
}
