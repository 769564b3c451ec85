//! Checks on a Postgres connection URL (`DATABASE_URL`, `Database.URL`,
//! their backup variants and `CL_DATABASE_URL`).
//!
//! The node's own checks (`ValidateDBURL`, the password complexity rule) are
//! reproduced, plus the failure that motivated this project's runbooks: a
//! password with an unencoded `#`, `@`, `/` or `?` silently truncates the URL,
//! and the node then reports a misleading error (aws-quickstart #35). Nothing
//! here ever puts the password into a message.

use super::finding::{Finding, FindingCode, Severity};
use super::node_version::{NodeVersion, V2_CONFIG_REQUIRED};
use super::password::{check_password, PasswordRules};
use super::policy::EnvironmentPolicy;
use super::url_display::{scheme_of, url_origin};
use super::userinfo::delimiter_breaking_userinfo;

/// Which URL is being checked, for wording and for the rules that differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum DbUrlRole {
    Primary,
    Backup,
}

/// Where the URL came from: the parameter name and, for TOML, the field.
pub(super) struct DbUrlSource<'a> {
    pub parameter: &'a str,
    pub field: Option<&'a str>,
    pub role: DbUrlRole,
}

/// What the node does with a weak password, as far as the stack's declared
/// node version tells (`version_rules` decides).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum WeakPassword {
    /// No version to go by: production makes it an error, elsewhere a warning.
    ByEnvironment,
    /// A 1.x node reading legacy variables logs a deprecation warning and boots.
    Warned,
    /// This node version refuses to boot (`invalid secrets`).
    Refused(NodeVersion),
}

pub(super) struct DbUrlContext {
    pub production: bool,
    /// `AllowSimplePasswords` / `CL_DATABASE_ALLOW_SIMPLE_PASSWORDS`.
    pub allow_simple_passwords: bool,
    pub weak_password: WeakPassword,
}

impl DbUrlContext {
    pub fn new(
        policy: &EnvironmentPolicy,
        allow_simple_passwords: bool,
        weak_password: WeakPassword,
    ) -> Self {
        Self {
            production: policy.production,
            allow_simple_passwords,
            weak_password,
        }
    }
}

/// What the node's URL parser makes of an escaped userinfo part. A `%` not followed by two hex
/// digits stays as it is (`%+1` is not a byte).
fn percent_decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

/// The password the node would use: `?password=` wins over userinfo.
enum Credentials {
    /// No userinfo and no `password=`.
    Plaintext,
    /// A user but no password.
    UserOnly,
    Password(String),
}

fn credentials(raw: &str) -> Credentials {
    let (before_fragment, _) = raw.split_once('#').unwrap_or((raw, ""));
    if let Some((_, query)) = before_fragment.split_once('?') {
        for pair in query.split('&') {
            if let Some((key, value)) = pair.split_once('=') {
                if key.eq_ignore_ascii_case("password") {
                    return Credentials::Password(percent_decode(value));
                }
            }
        }
    }
    let rest = before_fragment
        .split_once("://")
        .map_or(before_fragment, |(_, r)| r);
    let authority = &rest[..rest.find(['/', '?']).unwrap_or(rest.len())];
    match authority.rfind('@') {
        None => Credentials::Plaintext,
        Some(at) => match authority[..at].split_once(':') {
            Some((_, password)) if !password.is_empty() => {
                Credentials::Password(percent_decode(password))
            }
            _ => Credentials::UserOnly,
        },
    }
}

/// A query parameter's value, its name matched in any case.
pub(super) fn query_param<'a>(raw: &'a str, name: &str) -> Option<&'a str> {
    let (_, query) = raw.split_once('?')?;
    let query = query.split('#').next().unwrap_or(query);
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, value)| value)
}

const COMPLEXITY_HINT: &str =
    "Database should be secured by a password of 16-50 characters without leading or trailing whitespace";

/// All checks on one database URL; pushes findings, never the password.
pub(super) fn check_db_url(
    raw: &str,
    source: &DbUrlSource<'_>,
    context: &DbUrlContext,
    out: &mut Vec<Finding>,
) {
    let finding = |code: FindingCode, message: String| {
        let finding = Finding::new(code, source.parameter, message);
        match source.field {
            Some(field) => finding.with_field(field),
            None => finding,
        }
    };
    let raw = raw.trim();
    let label = source.field.unwrap_or(source.parameter);
    let shown = url_origin(raw);

    if let Some(culprit) = delimiter_breaking_userinfo(raw) {
        let encoded = match culprit {
            '#' => "%23",
            '@' => "%40",
            '/' => "%2F",
            '?' => "%3F",
            '%' => "%25",
            _ => "its %XX escape",
        };
        let what = if culprit == '%' {
            "a '%' that is not a valid %XX escape".to_owned()
        } else if culprit.is_whitespace() {
            "whitespace".to_owned()
        } else {
            format!("an unencoded '{culprit}'")
        };
        out.push(finding(
            FindingCode::DatabasePasswordBreaksUrl,
            format!(
                "the credentials in {label} ({shown}) contain {what}, which breaks the URL: the node would \
                 connect with a truncated password or to the wrong host and report misleading errors such as \
                 'password is less than 16 characters long'. Percent-encode it ({encoded}) or choose a password \
                 without URL delimiters."
            ),
        ));
        return;
    }

    match scheme_of(raw).as_deref() {
        Some("postgres" | "postgresql") => {}
        Some(other) => out.push(finding(
            FindingCode::DatabaseUrlScheme,
            format!(
                "{label} has scheme '{other}' ({shown}); it must be postgres:// or postgresql://. Anything else is \
                 handed to pgx as a key/value DSN and fails at connect time."
            ),
        )),
        None => out.push(finding(
            FindingCode::DatabaseUrlScheme,
            format!(
                "{label} is not a postgresql:// URL ({shown}); the node fails to connect (e.g. 'failed to connect \
                 to host=...'). Use postgresql://USER:PASSWORD@HOST:5432/DATABASE."
            ),
        )),
    }

    if let Some(mode) = query_param(raw, "sslmode") {
        if context.production && mode.eq_ignore_ascii_case("disable") {
            out.push(finding(
                FindingCode::DatabaseSslDisabled,
                format!(
                    "{label} sets sslmode=disable in a production stack; the Chainlink docs call this \
                     'testing only, never in production'. Use sslmode=require (or verify-full)."
                ),
            ));
        }
    }

    // The node skips its authentication check for test databases.
    if raw.contains("_test") || context.allow_simple_passwords {
        return;
    }
    let (weak_severity, refused_by) = match context.weak_password {
        WeakPassword::Refused(version) if source.role == DbUrlRole::Primary => {
            (Severity::Critical, Some(version))
        }
        WeakPassword::Warned => (Severity::Warning, None),
        _ if context.production => (Severity::Error, None),
        _ => (Severity::Warning, None),
    };
    match credentials(raw) {
        Credentials::Plaintext => out.push(finding(
            FindingCode::DatabaseUrlUnauthenticated,
            format!(
                "{label} has no password: 'DB URL must be authenticated; plaintext URLs are not allowed'. \
                 {COMPLEXITY_HINT}."
            ),
        )),
        Credentials::UserOnly => out.push(finding(
            FindingCode::DatabaseUrlUnauthenticated,
            format!("{label} names a user but no password: 'DB URL must be authenticated; password is required'."),
        )),
        Credentials::Password(password) => {
            let faults = check_password(&password, &PasswordRules::DATABASE);
            if faults.is_empty() {
                return;
            }
            let faults = faults.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ");
            if let Some(version) = refused_by {
                out.push(finding(
                    FindingCode::DatabasePasswordRefusedAtBoot,
                    format!(
                        "node {version} (the version the stack runs) refuses to boot with the password in {label}: \
                         'invalid secrets: Database.URL: invalid value (*****): missing or insufficiently complex \
                         password' ({faults}; configuration v2, required since {V2_CONFIG_REQUIRED}, validates it at \
                         boot). {COMPLEXITY_HINT}."
                    ),
                ));
                return;
            }
            let boot = match source.role {
                DbUrlRole::Primary => "a 2.x node refuses to boot (a 1.x node only warns)",
                DbUrlRole::Backup => "the node rejects the backup URL",
            };
            out.push(
                finding(
                    FindingCode::DatabasePasswordWeak,
                    format!(
                        "the password in {label} fails the node's rule ('missing or insufficiently complex \
                         password': {faults}); {boot} unless AllowSimplePasswords is set, which secure \
                         builds forbid. {COMPLEXITY_HINT}."
                    ),
                )
                .with_severity(weak_severity),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(raw: &str, production: bool) -> Vec<(FindingCode, Severity)> {
        let mut out = Vec::new();
        let source = DbUrlSource {
            parameter: "DATABASE_URL",
            field: None,
            role: DbUrlRole::Primary,
        };
        let context = DbUrlContext {
            production,
            allow_simple_passwords: false,
            weak_password: WeakPassword::ByEnvironment,
        };
        check_db_url(raw, &source, &context, &mut out);
        out.into_iter().map(|f| (f.code, f.severity)).collect()
    }

    #[test]
    fn a_sign_after_a_percent_is_not_a_hex_digit() {
        // `from_str_radix` accepts a leading sign: "%+1" was once decoded as the byte 0x01.
        assert_eq!(percent_decode("%+1"), "%+1");
        assert_eq!(percent_decode("%-1x"), "%-1x");
        assert_eq!(percent_decode("p%40ss%2F"), "p@ss/");
    }

    #[test]
    fn db_url_table() {
        use FindingCode::*;
        use Severity::*;
        let strong = "postgresql://cl:Str0ng-Passw0rd-4-DB@db.prod:5432/cl";
        type Case<'a> = (&'a str, bool, Vec<(FindingCode, Severity)>);
        let cases: Vec<Case<'_>> = vec![
            (strong, true, vec![]),
            (
                "postgresql://cl:Str0ng-Passw0rd-4-DB@db.prod/cl?sslmode=disable",
                true,
                vec![(DatabaseSslDisabled, Error)],
            ),
            (
                "postgresql://cl:Str0ng-Passw0rd-4-DB@db.prod/cl?sslmode=disable",
                false,
                vec![],
            ),
            (
                "postgresql://user:pass@localhost:5432/db",
                false,
                vec![(DatabasePasswordWeak, Warning)],
            ),
            (
                "postgresql://user:pass@localhost:5432/db",
                true,
                vec![(DatabasePasswordWeak, Error)],
            ),
            (
                "postgresql://user:passlocalhost:5432/asdf",
                false,
                vec![(DatabaseUrlUnauthenticated, Error)],
            ),
            (
                "postgresql://user@localhost/db",
                false,
                vec![(DatabaseUrlUnauthenticated, Error)],
            ),
            (
                "postgresql://db/cl?password=Str0ng-Passw0rd-4-DB",
                true,
                vec![],
            ),
            (
                "foo-bar?password=asdf",
                false,
                vec![(DatabaseUrlScheme, Error), (DatabasePasswordWeak, Warning)],
            ),
            (
                "http://database.org",
                false,
                vec![
                    (DatabaseUrlScheme, Error),
                    (DatabaseUrlUnauthenticated, Error),
                ],
            ),
            ("postgresql://localhost/chainlink_test", false, vec![]),
            (
                "postgresql://cl:Str0ng#Passw0rd-4-DB@db.prod/cl",
                true,
                vec![(DatabasePasswordBreaksUrl, Critical)],
            ),
            (
                "postgresql://cl:Str0ng@Passw0rd-4-DB@db.prod/cl",
                true,
                vec![(DatabasePasswordBreaksUrl, Critical)],
            ),
            (
                "postgresql://cl:Str0ng/Passw0rd-4-DB@db.prod/cl",
                true,
                vec![(DatabasePasswordBreaksUrl, Critical)],
            ),
            (
                "postgresql://cl:Str0ng?Passw0rd-4-DB@db.prod/cl",
                true,
                vec![(DatabasePasswordBreaksUrl, Critical)],
            ),
            (
                "postgresql://cl:100%sure-Passw0rd@db.prod/cl",
                true,
                vec![(DatabasePasswordBreaksUrl, Critical)],
            ),
            (
                "postgresql://cl:Str0ng%23Passw0rd-4-DB@db.prod/cl",
                true,
                vec![],
            ),
            (
                "postgresql://cl:Str0ng-Passw0rd-4-DB@db.prod/cl?options=a@b",
                true,
                vec![],
            ),
        ];
        for (raw, production, expected) in cases {
            assert_eq!(
                codes(raw, production),
                expected,
                "{raw} production={production}"
            );
        }
    }

    #[test]
    fn messages_never_contain_the_password() {
        let password = "CANARY-s3cr3t-7f1e";
        for raw in [
            format!("postgresql://cl:{password}#x@db.prod/cl"),
            format!("postgresql://cl:{password}@db.prod/cl?sslmode=disable"),
            format!("http://cl:{password}@db.prod/cl"),
            format!("postgresql://cl@db.prod/cl?password={password}x"),
            "postgresql://cl:short@db/x".to_owned(),
        ] {
            let mut out = Vec::new();
            let source = DbUrlSource {
                parameter: "DATABASE_URL",
                field: None,
                role: DbUrlRole::Primary,
            };
            check_db_url(
                &raw,
                &source,
                &DbUrlContext {
                    production: true,
                    allow_simple_passwords: false,
                    weak_password: WeakPassword::ByEnvironment,
                },
                &mut out,
            );
            for finding in out {
                assert!(!finding.message.contains("CANARY"), "{}", finding.message);
                assert!(!finding.message.contains("short"), "{}", finding.message);
            }
        }
    }
}
