//! The node's password rules, shared by the database, keystore and API user
//! checks.
//!
//! Current rule (core/utils/password.go): at least 16 characters, no leading
//! or trailing whitespace, and for API users not containing the email. The
//! 50-character ceiling is bcrypt's, enforced for API users; the node's
//! requirement text says 16-50 for all passwords. Lengths are in bytes, as
//! Go's `len` counts them.

use std::fmt;

pub(super) const MIN_LEN: usize = 16;
pub(super) const MAX_LEN: usize = 50;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct PasswordRules<'a> {
    pub max_len: Option<usize>,
    pub email: Option<&'a str>,
}

impl PasswordRules<'_> {
    pub const DATABASE: PasswordRules<'static> = PasswordRules {
        max_len: None,
        email: None,
    };
    pub const KEYSTORE: PasswordRules<'static> = PasswordRules {
        max_len: Some(MAX_LEN),
        email: None,
    };
}

/// A broken rule, worded like the node's "Faults:" list. Never holds the password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PasswordFault {
    Empty,
    TooShort,
    TooLong,
    SurroundingWhitespace,
    ContainsEmail,
}

impl fmt::Display for PasswordFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Empty => "password is empty",
            Self::TooShort => "password is less than 16 characters long",
            Self::TooLong => "password is longer than 50 characters",
            Self::SurroundingWhitespace => "password contains a leading or trailing whitespace",
            Self::ContainsEmail => "password may not contain the API email",
        })
    }
}

pub(super) fn check_password(password: &str, rules: &PasswordRules<'_>) -> Vec<PasswordFault> {
    if password.is_empty() {
        return vec![PasswordFault::Empty];
    }
    let mut faults = Vec::new();
    if password.len() < MIN_LEN {
        faults.push(PasswordFault::TooShort);
    }
    if rules.max_len.is_some_and(|max| password.len() > max) {
        faults.push(PasswordFault::TooLong);
    }
    if password.trim() != password {
        faults.push(PasswordFault::SurroundingWhitespace);
    }
    if let Some(email) = rules.email.map(str::trim).filter(|e| !e.is_empty()) {
        if password.to_lowercase().contains(&email.to_lowercase()) {
            faults.push(PasswordFault::ContainsEmail);
        }
    }
    faults
}

#[cfg(test)]
mod tests {
    use super::*;
    use PasswordFault::*;

    #[test]
    fn password_rule_table() {
        let long = "x".repeat(51);
        let api = PasswordRules {
            max_len: Some(MAX_LEN),
            email: Some("Ops@Example.com"),
        };
        let cases: Vec<(&str, PasswordRules<'_>, Vec<PasswordFault>)> = vec![
            ("", PasswordRules::DATABASE, vec![Empty]),
            ("fifteen-chars-x", PasswordRules::KEYSTORE, vec![TooShort]),
            ("sixteen-chars-xx", PasswordRules::KEYSTORE, vec![]),
            (
                " sixteen-chars-x",
                PasswordRules::KEYSTORE,
                vec![SurroundingWhitespace],
            ),
            (
                "sixteen-chars-xx\n",
                PasswordRules::KEYSTORE,
                vec![SurroundingWhitespace],
            ),
            (&long, PasswordRules::KEYSTORE, vec![TooLong]),
            (&long, PasswordRules::DATABASE, vec![]),
            ("my-ops@example.com-pw", api, vec![ContainsEmail]),
            ("pass", PasswordRules::DATABASE, vec![TooShort]),
        ];
        for (password, rules, expected) in cases {
            assert_eq!(check_password(password, &rules), expected, "{password:?}");
        }
    }
}
