//! Rules for v2 secrets: `secrets.toml` and the `CL_*` variables that
//! override it.
//!
//! Mirrors the node's `Secrets.Validate` (required Database.URL and
//! Password.Keystore, authenticated DB URLs, AllowSimplePasswords on secure
//! builds). Nothing read here is ever shown in a message.

use super::credentials::{check_keystore_password, KeystoreSource, Located};
use super::db_url::{check_db_url, DbUrlContext, DbUrlRole, DbUrlSource};
use super::finding::{Finding, FindingCode};
use super::legacy::parse_go_bool;
use super::parameters::{
    CL_DATABASE_ALLOW_SIMPLE_PASSWORDS, CL_DATABASE_URL, CL_PASSWORD_KEYSTORE, KEYSTORE_PASSWORD,
    SECRETS_TOML,
};
use super::policy::EnvironmentPolicy;
use super::stack::Stack;
use super::toml_tree::{FindingSink, TableView};
use super::version_rules::{v2_weak_password, SIMPLE_PASSWORDS_REFUSED};

pub(super) fn check_secrets(stack: &Stack<'_>, policy: &EnvironmentPolicy, out: &mut Vec<Finding>) {
    let params = &stack.params;
    let root = stack.secrets.as_ref().map(TableView::root);
    let mut sink = FindingSink {
        parameter: SECRETS_TOML.to_owned(),
        show_values: false,
        out,
    };

    let database = root.as_ref().and_then(|r| r.table("Database"));
    let toml_url = database
        .as_ref()
        .and_then(|d| d.string("URL", &mut sink))
        .filter(|u| !u.is_empty());
    let toml_allow = database
        .as_ref()
        .and_then(|d| d.bool("AllowSimplePasswords", &mut sink));
    let env_allow = params
        .text(CL_DATABASE_ALLOW_SIMPLE_PASSWORDS)
        .and_then(|v| parse_go_bool(v.trim()));
    let allow_simple_passwords = env_allow.or(toml_allow).unwrap_or(false);
    // Release builds are secure builds: from 2.6.0 they refuse the setting
    // whatever the environment; without a declared version, production
    // stacks are held to it.
    let refused_by = policy
        .node_version
        .filter(|version| *version >= SIMPLE_PASSWORDS_REFUSED);
    if allow_simple_passwords && (policy.production || refused_by.is_some()) {
        let (parameter, field) = match env_allow {
            Some(_) => (CL_DATABASE_ALLOW_SIMPLE_PASSWORDS, None),
            None => (
                SECRETS_TOML,
                Some("Database.AllowSimplePasswords".to_owned()),
            ),
        };
        let finding = match refused_by {
            Some(version) => Finding::new(
                FindingCode::SimplePasswordsRefused,
                parameter,
                format!(
                    "AllowSimplePasswords: invalid value (true): insecure configs are not allowed on secure builds; \
                     node {version} (the version the stack runs) does not boot with it (since \
                     {SIMPLE_PASSWORDS_REFUSED}: 'Simple password use in production builds is now disallowed'). \
                     Remove it and give the database a 16-50 character password."
                ),
            ),
            None => Finding::new(
                FindingCode::SimplePasswordsInProduction,
                parameter,
                "AllowSimplePasswords: invalid value (true): insecure configs are not allowed on secure builds. \
                 Remove it and give the database a 16-50 character password.",
            ),
        };
        sink.push_finding(Finding { field, ..finding });
    }

    let env_url = params.text(CL_DATABASE_URL);
    if let (Some(env_url), Some(toml_url)) = (env_url, toml_url) {
        if env_url.trim() != toml_url.trim() {
            sink.push_finding(Finding::new(
                FindingCode::DatabaseUrlOverridden,
                CL_DATABASE_URL,
                "CL_DATABASE_URL overrides a different Database.URL in secrets.toml; the node uses CL_DATABASE_URL. \
                 Keep one source of truth so an edit to secrets.toml is not silently ignored.",
            ));
        }
    }
    let context = DbUrlContext::new(policy, allow_simple_passwords, v2_weak_password(policy));
    let urls = stack.v2_database_urls();
    if !urls.iter().any(|u| u.db_role == Some(DbUrlRole::Primary)) {
        let (parameter, field) = if params.has(SECRETS_TOML) {
            (SECRETS_TOML, Some("Database.URL".to_owned()))
        } else {
            (CL_DATABASE_URL, None)
        };
        sink.push_finding(Finding {
            field,
            ..Finding::new(
                FindingCode::DatabaseUrlMissing,
                parameter,
                "Database.URL: empty: must be provided and non-empty (set [Database] URL in secrets.toml or CL_DATABASE_URL).",
            )
        });
    }
    for url in urls {
        let Some(role) = url.db_role else { continue };
        let source = DbUrlSource {
            parameter: &url.parameter,
            field: url.field.as_deref(),
            role,
        };
        check_db_url(url.value.expose(), &source, &context, sink.out);
    }

    let password = root.as_ref().and_then(|r| r.table("Password"));
    let toml_keystore = password
        .as_ref()
        .and_then(|p| p.string("Keystore", &mut sink));
    if let Some(value) = params.get(CL_PASSWORD_KEYSTORE) {
        let at = Located {
            parameter: CL_PASSWORD_KEYSTORE,
            field: None,
        };
        check_keystore_password(
            value.expose(),
            KeystoreSource::Setting,
            &at,
            policy.production,
            sink.out,
        );
    } else if let Some(value) = toml_keystore {
        let at = Located {
            parameter: SECRETS_TOML,
            field: Some("Password.Keystore"),
        };
        check_keystore_password(
            value,
            KeystoreSource::Setting,
            &at,
            policy.production,
            sink.out,
        );
    } else if !params.has(KEYSTORE_PASSWORD) {
        let (parameter, field) = if params.has(SECRETS_TOML) {
            (SECRETS_TOML, Some("Password.Keystore".to_owned()))
        } else {
            (CL_PASSWORD_KEYSTORE, None)
        };
        sink.push_finding(Finding {
            field,
            ..Finding::new(
                FindingCode::KeystorePasswordMissing,
                parameter,
                "Password.Keystore: empty: must be provided and non-empty (set [Password] Keystore in secrets.toml, \
                 CL_PASSWORD_KEYSTORE, or a KEYSTORE_PASSWORD file parameter).",
            )
        });
    }
}
