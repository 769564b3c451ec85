//! The database and RPC endpoints a stack's configuration points at.
//!
//! Environment isolation is judged on these hosts, and the planned live
//! probes (DNS, TCP, `eth_chainId`) will contact them; both need the same
//! list, derived from the same parsing as validation.

use serde::Serialize;

use super::db_url::{query_param, DbUrlRole};
use super::secret::SecretValue;
use super::stack::{EndpointKind, Stack};
use super::url_display::{lenient_host_port, scheme_of};

/// One endpoint. RPC URLs are kept whole (a probe needs the path, which may
/// hold an API key), so they stay wrapped and are not serialized.
#[derive(Debug, Clone, Serialize)]
pub struct Endpoint {
    pub kind: EndpointKind,
    /// The parameter the URL came from.
    pub parameter: String,
    /// The TOML field, for URLs inside a document.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    pub host: String,
    /// The explicit port, or the scheme's default.
    pub port: Option<u16>,
    /// A database URL's `sslmode` query parameter, lowercase, as written (`None`: absent, which
    /// the node's driver, pgx, reads as `prefer`). Not secret; always `None` for RPC URLs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sslmode: Option<String>,
    /// A backup database URL (`DATABASE_BACKUP_URL`, `Database.BackupURL`), which the node
    /// uses only for its backups: it may rightly point elsewhere than the primary.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub backup: bool,
    #[serde(skip)]
    pub url: Option<SecretValue>,
}

fn default_port(scheme: Option<&str>) -> Option<u16> {
    match scheme? {
        "postgres" | "postgresql" => Some(5432),
        "ws" | "http" => Some(80),
        "wss" | "https" => Some(443),
        _ => None,
    }
}

pub(super) fn stack_endpoints(stack: &Stack<'_>) -> Vec<Endpoint> {
    stack
        .url_settings()
        .into_iter()
        .filter_map(|setting| {
            let raw = setting.value.expose();
            let (host, port) = lenient_host_port(raw)?;
            let port = port.or_else(|| default_port(scheme_of(raw).as_deref()));
            let database = setting.kind == EndpointKind::Database;
            let url = (!database).then(|| setting.value.clone());
            let sslmode = database
                .then(|| query_param(raw, "sslmode"))
                .flatten()
                .map(|mode| mode.trim().to_ascii_lowercase());
            Some(Endpoint {
                kind: setting.kind,
                parameter: setting.parameter,
                field: setting.field,
                host,
                port,
                sslmode,
                backup: setting.db_role == Some(DbUrlRole::Backup),
                url,
            })
        })
        .collect()
}

/// The DB and RPC endpoints the parameters configure. Parameters that do
/// not parse contribute what can still be read; validation reports the rest.
pub fn endpoints(params: &[(String, SecretValue)]) -> Vec<Endpoint> {
    let mut ignored = Vec::new();
    stack_endpoints(&Stack::load(params, &mut ignored))
}

#[cfg(test)]
mod tests {
    use super::super::test_support::read_testdata;
    use super::*;

    fn entries(pairs: &[(&str, &str)]) -> Vec<(String, SecretValue)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), SecretValue::new(*v)))
            .collect()
    }

    #[test]
    fn legacy_endpoints() {
        let params = entries(&[
            (
                "DATABASE_URL",
                "postgresql://cl:pw@db.prod.demo.internal/cl",
            ),
            ("ETH_URL", "wss://eth.rpc.prod.demo.internal/v3/KEY"),
            ("ETH_SECONDARY_URLS", "https://a.rpc:8545, https://b.rpc"),
        ]);
        let got: Vec<(EndpointKind, String, Option<u16>, bool)> = endpoints(&params)
            .into_iter()
            .map(|e| (e.kind, e.host, e.port, e.url.is_some()))
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    EndpointKind::Database,
                    "db.prod.demo.internal".into(),
                    Some(5432),
                    false
                ),
                (
                    EndpointKind::RpcWebsocket,
                    "eth.rpc.prod.demo.internal".into(),
                    Some(443),
                    true
                ),
                (EndpointKind::RpcHttp, "a.rpc".into(), Some(8545), true),
                (EndpointKind::RpcHttp, "b.rpc".into(), Some(443), true),
            ]
        );
    }

    #[test]
    fn database_endpoints_carry_sslmode_and_backup_but_never_the_url() {
        let params = entries(&[
            (
                "DATABASE_URL",
                "postgresql://cl:pw@db.prod.demo.internal/cl?application_name=x&SSLMode=Require",
            ),
            (
                "DATABASE_BACKUP_URL",
                "postgresql://cl:pw@backup.internal/cl",
            ),
        ]);
        let got: Vec<(String, Option<String>, bool, bool)> = endpoints(&params)
            .into_iter()
            .map(|e| (e.host, e.sslmode, e.backup, e.url.is_some()))
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    "db.prod.demo.internal".into(),
                    Some("require".into()),
                    false,
                    false
                ),
                ("backup.internal".into(), None, true, false),
            ]
        );
    }

    #[test]
    fn v2_endpoints_prefer_cl_database_url() {
        let config = read_testdata("example-config.toml");
        let secrets = read_testdata("example-secrets.toml");
        let params = entries(&[
            ("config.toml", &config),
            ("secrets.toml", &secrets),
            ("CL_DATABASE_URL", "postgresql://cl:pw@db.override:6543/cl"),
        ]);
        let got: Vec<(EndpointKind, String, String, Option<u16>)> = endpoints(&params)
            .into_iter()
            .map(|e| (e.kind, e.parameter, e.host, e.port))
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    EndpointKind::Database,
                    "CL_DATABASE_URL".into(),
                    "db.override".into(),
                    Some(6543)
                ),
                (
                    EndpointKind::RpcWebsocket,
                    "config.toml".into(),
                    "foo.bar".into(),
                    Some(443)
                ),
                (
                    EndpointKind::RpcHttp,
                    "config.toml".into(),
                    "foo.bar".into(),
                    Some(443)
                ),
            ]
        );
    }
}
