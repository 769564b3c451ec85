//! One stack's parameters loaded once: the detected style, the parsed
//! config and secrets documents, and the URL settings they hold.
//!
//! Both `validate` and `endpoints` start here, so a URL that validation
//! checks is exactly a URL a live probe would contact.

use toml::Table;

use super::db_url::DbUrlRole;
use super::finding::{ConfigStyle, Finding, FindingCode};
use super::parameters::{
    url_list, Parameters, CL_CONFIG, CL_DATABASE_BACKUP_URL, CL_DATABASE_URL, CONFIG_TOML,
    SECONDARY_URL_VARIABLES, SECRETS_TOML,
};
use super::secret::SecretValue;
use super::toml_tree::{merge_into, parse_toml, TableView};
use super::url_display::scrub_urls;

/// What an endpoint is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum EndpointKind {
    Database,
    RpcWebsocket,
    RpcHttp,
}

/// A URL-valued setting somewhere in the parameters.
#[derive(Debug, Clone)]
pub(super) struct UrlSetting {
    pub parameter: String,
    pub field: Option<String>,
    pub value: SecretValue,
    pub kind: EndpointKind,
    pub db_role: Option<DbUrlRole>,
}

pub(super) struct Stack<'a> {
    pub params: Parameters<'a>,
    pub style: ConfigStyle,
    /// config.toml with CL_CONFIG applied last, and the parameter findings
    /// about it are attributed to.
    pub config: Option<(String, Table)>,
    pub secrets: Option<Table>,
}

impl<'a> Stack<'a> {
    /// Parses the TOML documents; syntax errors become findings.
    pub fn load(entries: &'a [(String, SecretValue)], out: &mut Vec<Finding>) -> Self {
        let params = Parameters::new(entries);
        let style = params.style();
        let mut config: Option<(String, Table)> = None;
        for name in [CONFIG_TOML, CL_CONFIG] {
            let Some(text) = params.get(name).map(SecretValue::expose) else {
                continue;
            };
            match parse_toml(text) {
                Ok(table) => match config.as_mut() {
                    Some((_, base)) => merge_into(base, &table),
                    None => config = Some((name.to_owned(), table)),
                },
                Err(error) => out.push(Finding::new(
                    FindingCode::ConfigTomlSyntax,
                    name,
                    format!(
                        "failed to decode config TOML at line {}, column {}: {}. The node refuses to start.",
                        error.line,
                        error.column,
                        scrub_urls(&error.message)
                    ),
                )),
            }
        }
        let secrets = params
            .get(SECRETS_TOML)
            .and_then(|value| match parse_toml(value.expose()) {
                Ok(table) => Some(table),
                Err(error) => {
                    // The parser's message can quote the offending line, which
                    // here would be a secret: only the position is reported.
                    out.push(Finding::new(
                        FindingCode::SecretsTomlSyntax,
                        SECRETS_TOML,
                        format!(
                            "failed to decode secrets TOML at line {}, column {} (details withheld because the \
                         line holds secrets). The node refuses to start.",
                            error.line, error.column
                        ),
                    ));
                    None
                }
            });
        Self {
            params,
            style,
            config,
            secrets,
        }
    }

    pub fn config_view(&self) -> Option<(&str, TableView<'_>)> {
        self.config
            .as_ref()
            .map(|(name, table)| (name.as_str(), TableView::root(table)))
    }

    fn legacy_setting(
        &self,
        name: &str,
        kind: EndpointKind,
        db_role: Option<DbUrlRole>,
    ) -> Option<UrlSetting> {
        let value = self.params.get(name)?;
        Some(UrlSetting {
            parameter: name.to_owned(),
            field: None,
            value: value.clone(),
            kind,
            db_role,
        })
    }

    fn legacy_urls(&self) -> Vec<UrlSetting> {
        let mut urls: Vec<UrlSetting> = [
            (
                "DATABASE_URL",
                EndpointKind::Database,
                Some(DbUrlRole::Primary),
            ),
            (
                "DATABASE_BACKUP_URL",
                EndpointKind::Database,
                Some(DbUrlRole::Backup),
            ),
            ("ETH_URL", EndpointKind::RpcWebsocket, None),
            ("ETH_HTTP_URL", EndpointKind::RpcHttp, None),
        ]
        .into_iter()
        .filter_map(|(name, kind, role)| self.legacy_setting(name, kind, role))
        .collect();
        for name in SECONDARY_URL_VARIABLES {
            let Some(list) = self.params.get(name) else {
                continue;
            };
            for item in url_list(list.expose()) {
                urls.push(UrlSetting {
                    parameter: name.to_owned(),
                    field: None,
                    value: SecretValue::new(item),
                    kind: EndpointKind::RpcHttp,
                    db_role: None,
                });
            }
        }
        urls
    }

    /// The database URLs a v2 node uses: `CL_DATABASE_*` override secrets.toml.
    pub fn v2_database_urls(&self) -> Vec<UrlSetting> {
        let database = self
            .secrets
            .as_ref()
            .and_then(|s| TableView::root(s).table("Database"));
        let mut urls = Vec::new();
        for (env, key, role) in [
            (CL_DATABASE_URL, "URL", DbUrlRole::Primary),
            (CL_DATABASE_BACKUP_URL, "BackupURL", DbUrlRole::Backup),
        ] {
            if let Some(value) = self.params.get(env) {
                urls.push(UrlSetting {
                    parameter: env.to_owned(),
                    field: None,
                    value: value.clone(),
                    kind: EndpointKind::Database,
                    db_role: Some(role),
                });
            } else if let Some(text) = database
                .as_ref()
                .and_then(|d| d.get(key))
                .and_then(|v| v.as_str())
            {
                urls.push(UrlSetting {
                    parameter: SECRETS_TOML.to_owned(),
                    field: Some(format!("Database.{key}")),
                    value: SecretValue::new(text),
                    kind: EndpointKind::Database,
                    db_role: Some(role),
                });
            }
        }
        urls
    }

    pub fn v2_rpc_urls(&self) -> Vec<UrlSetting> {
        let Some((parameter, root)) = self.config_view() else {
            return Vec::new();
        };
        let mut urls = Vec::new();
        for chain in root.tables("EVM") {
            for node in chain.tables("Nodes") {
                for (key, kind) in [
                    ("WSURL", EndpointKind::RpcWebsocket),
                    ("HTTPURL", EndpointKind::RpcHttp),
                    ("HTTPURLExtraWrite", EndpointKind::RpcHttp),
                ] {
                    if let Some(text) = node
                        .get(key)
                        .and_then(|v| v.as_str())
                        .filter(|t| !t.is_empty())
                    {
                        urls.push(UrlSetting {
                            parameter: parameter.to_owned(),
                            field: Some(node.field(key)),
                            value: SecretValue::new(text),
                            kind,
                            db_role: None,
                        });
                    }
                }
            }
        }
        urls
    }

    /// Every URL setting of the detected style; for a mixed stack, both
    /// kinds, since a legacy URL left behind is still a live credential.
    pub fn url_settings(&self) -> Vec<UrlSetting> {
        let mut urls = Vec::new();
        if matches!(self.style, ConfigStyle::Legacy | ConfigStyle::Mixed) {
            urls.extend(self.legacy_urls());
        }
        if matches!(self.style, ConfigStyle::V2 | ConfigStyle::Mixed) {
            urls.extend(self.v2_database_urls());
            urls.extend(self.v2_rpc_urls());
        }
        urls
    }
}
