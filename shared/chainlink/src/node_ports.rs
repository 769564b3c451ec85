//! The ports the node's own configuration decides: where it listens for P2P (OCR) peers and for
//! its UI/API over HTTP and HTTPS, and the ports it connects to: its database's and its RPC
//! nodes'. A stack file's flow may take its port from here instead of a number, so the security
//! groups follow the configuration.
//!
//! Read the way the node reads them: a v2 node from `config.toml` (with `CL_CONFIG` applied
//! last) and its database URL from `CL_DATABASE_URL` or `secrets.toml`; a legacy node from its
//! environment variables. Where the node has a default, the default applies; where it has none
//! (the P2P port), there is no port, and no guess.

use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::LazyLock;
use toml::Value;

use super::db_url::DbUrlRole;
use super::finding::ConfigStyle;
use super::parameters::{CL_CONFIG, CL_DATABASE_URL, CONFIG_TOML, SECRETS_TOML};
use super::secret::SecretValue;
use super::stack::{EndpointKind, Stack, UrlSetting};
use super::toml_tree::TableView;
use super::url_display::lenient_host_port;

/// A port the node's configuration decides, as a stack file names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NodePort {
    /// The P2P listen port(s) OCR peers connect to.
    P2p,
    /// The UI/API over HTTP (`WebServer.HTTPPort`, `CHAINLINK_PORT`; 6688 by default).
    Http,
    /// The UI/API over HTTPS (`WebServer.TLS.HTTPSPort`, `CHAINLINK_TLS_PORT`; 6689 by
    /// default, 0 turns it off).
    Https,
    /// The port of the database the node connects to (its URL's, 5432 by default).
    Database,
    /// The ports of the RPC nodes the node connects to (its RPC URLs'; by scheme when the URL
    /// names none: 80 for ws/http, 443 for wss/https). Outbound only.
    Rpc,
}

impl NodePort {
    pub const ALL: [NodePort; 5] = [
        Self::P2p,
        Self::Http,
        Self::Https,
        Self::Database,
        Self::Rpc,
    ];

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|port| port.as_str() == name)
    }

    /// Whether the node connects out on this port rather than listening on it.
    pub fn is_outbound(self) -> bool {
        matches!(self, Self::Database | Self::Rpc)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::P2p => "p2p",
            Self::Http => "http",
            Self::Https => "https",
            Self::Database => "database",
            Self::Rpc => "rpc",
        }
    }
}

impl fmt::Display for NodePort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where the node takes one of its ports from, and the ports it gives.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PortSetting {
    /// `config.toml P2P.V2.ListenAddresses`, `CHAINLINK_PORT`, `WebServer.HTTPPort (default)`…
    pub source: String,
    /// Ascending, without repeats; empty when the configuration turns the listener off
    /// (`HTTPSPort = 0`).
    pub ports: Vec<u16>,
}

impl fmt::Display for PortSetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.ports.as_slice() {
            [] => write!(f, "off ({})", self.source),
            ports => {
                let ports: Vec<String> = ports.iter().map(u16::to_string).collect();
                write!(f, "{} ({})", ports.join(", "), self.source)
            }
        }
    }
}

/// Each port the configuration decides, or why it decides none.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct NodePorts(BTreeMap<NodePort, Result<PortSetting, UnknownPort>>);

/// Why a port is not known: the configuration gives none (or a bad one), or it may well give
/// one, in a value this reader was not allowed to decrypt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct UnknownPort {
    pub reason: String,
    /// The value that decides it is a SecureString read without decryption.
    pub withheld: bool,
}

impl fmt::Display for UnknownPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

impl From<String> for UnknownPort {
    fn from(reason: String) -> Self {
        Self {
            reason,
            withheld: false,
        }
    }
}

impl NodePorts {
    pub fn get(&self, port: NodePort) -> Result<&PortSetting, &UnknownPort> {
        static NOT_READ: LazyLock<UnknownPort> =
            LazyLock::new(|| UnknownPort::from("not read".to_string()));
        match self.0.get(&port) {
            Some(Ok(setting)) => Ok(setting),
            Some(Err(why)) => Err(why),
            None => Err(&NOT_READ),
        }
    }
}

/// The ports `params` (names without the stack prefix) give the node. `withheld` names the
/// parameters whose values could not be read (a SecureString read without decryption): a port
/// that depends on one of them is not known, and says so.
pub fn node_ports(params: &[(String, SecretValue)], withheld: &[String]) -> NodePorts {
    let mut ignored = Vec::new();
    let stack = Stack::load(params, &mut ignored);
    let reader = Reader {
        stack: &stack,
        withheld,
    };
    let mut ports = BTreeMap::new();
    for port in NodePort::ALL {
        let setting = match stack.style {
            ConfigStyle::V2 | ConfigStyle::Mixed => reader.v2(port),
            ConfigStyle::Legacy => reader.legacy(port),
            ConfigStyle::Unknown => {
                Err("no Chainlink configuration under the parameter prefix".to_string())
            }
        };
        let setting = setting
            .map(PortSetting::normalized)
            .map_err(|reason| UnknownPort {
                withheld: reason.ends_with(WITHHELD),
                reason,
            });
        ports.insert(port, setting);
    }
    NodePorts(ports)
}

impl PortSetting {
    fn new(source: impl Into<String>, ports: Vec<u16>) -> Self {
        Self {
            source: source.into(),
            ports,
        }
    }

    fn normalized(mut self) -> Self {
        self.ports.sort_unstable();
        self.ports.dedup();
        self
    }
}

/// How every reason naming a withheld value ends (and only those).
const WITHHELD: &str = " is a SecureString, which this function does not decrypt";

struct Reader<'a, 's> {
    stack: &'s Stack<'a>,
    withheld: &'s [String],
}

impl Reader<'_, '_> {
    fn is_withheld(&self, name: &str) -> bool {
        self.withheld.iter().any(|w| w == name)
    }

    fn withheld(name: &str) -> String {
        format!("{name}{WITHHELD}")
    }

    fn v2(&self, port: NodePort) -> Result<PortSetting, String> {
        for name in [CONFIG_TOML, CL_CONFIG] {
            if port != NodePort::Database && self.is_withheld(name) {
                return Err(Self::withheld(name));
            }
        }
        let config = self.stack.config.as_ref();
        let document = config.map_or(CONFIG_TOML, |(name, _)| name.as_str());
        let lookup = |path: &[&str]| -> Option<&Value> {
            let (_, table) = config?;
            let (last, tables) = path.split_last()?;
            let mut view = TableView::root(table);
            for key in tables {
                view = view.table(key)?;
            }
            view.get(last)
        };
        let integer_port = |path: &[&str], default: u16| -> Result<PortSetting, String> {
            let field = path.join(".");
            match lookup(path) {
                None => Ok(PortSetting::new(
                    format!("{field} (default)"),
                    vec![default],
                )),
                Some(value) => {
                    let port = value
                        .as_integer()
                        .and_then(|n| u16::try_from(n).ok())
                        .ok_or_else(|| {
                            format!("{document} {field} = {value} is not a port from 0 to 65535")
                        })?;
                    let ports = if port == 0 { Vec::new() } else { vec![port] };
                    Ok(PortSetting::new(format!("{document} {field}"), ports))
                }
            }
        };
        match port {
            NodePort::Http => integer_port(&["WebServer", "HTTPPort"], 6688),
            NodePort::Https => integer_port(&["WebServer", "TLS", "HTTPSPort"], 6689),
            NodePort::P2p => {
                let field = "P2P.V2.ListenAddresses";
                if lookup(&["P2P", "V2", "Enabled"]).and_then(Value::as_bool) == Some(false) {
                    return Err(format!(
                        "{document} sets P2P.V2.Enabled = false: the node listens on no P2P port"
                    ));
                }
                let addresses: Vec<&str> = match lookup(&["P2P", "V2", "ListenAddresses"]) {
                    None => Vec::new(),
                    Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
                    Some(other) => {
                        return Err(format!(
                            "{document} {field} = {other} is not a list of host:port addresses"
                        ))
                    }
                };
                listen_ports(&addresses, &format!("{document} {field}"))
            }
            NodePort::Database => self.database(
                CL_DATABASE_URL,
                Some(SECRETS_TOML),
                "Database.URL in secrets.toml, or CL_DATABASE_URL",
            ),
            NodePort::Rpc => rpc_ports(
                self.stack.v2_rpc_urls(),
                &format!("{document} EVM.Nodes WSURL, HTTPURL"),
            ),
        }
    }

    fn legacy(&self, port: NodePort) -> Result<PortSetting, String> {
        let text = |name: &str| -> Result<Option<&str>, String> {
            if self.is_withheld(name) {
                return Err(Self::withheld(name));
            }
            Ok(self.stack.params.text(name).map(str::trim))
        };
        let variable_port = |name: &str, default: u16| -> Result<PortSetting, String> {
            match text(name)? {
                None => Ok(PortSetting::new(format!("{name} (default)"), vec![default])),
                Some(value) => {
                    let port: u16 = value
                        .parse()
                        .map_err(|_| format!("{name} = {value:?} is not a port from 0 to 65535"))?;
                    let ports = if port == 0 { Vec::new() } else { vec![port] };
                    Ok(PortSetting::new(name, ports))
                }
            }
        };
        match port {
            NodePort::Http => variable_port("CHAINLINK_PORT", 6688),
            NodePort::Https => variable_port("CHAINLINK_TLS_PORT", 6689),
            NodePort::P2p => {
                let networking = text("P2P_NETWORKING_STACK")?.unwrap_or("V1");
                let mut ports = Vec::new();
                let mut sources = Vec::new();
                if matches!(networking, "V1" | "V1V2") {
                    let Some(value) = text("P2P_LISTEN_PORT")? else {
                        return Err(
                            "P2P_LISTEN_PORT is not set: the node picks a random P2P port on each boot"
                                .to_string(),
                        );
                    };
                    let port: u16 = value.parse().map_err(|_| {
                        format!("P2P_LISTEN_PORT = {value:?} is not a port from 1 to 65535")
                    })?;
                    ports.push(port);
                    sources.push("P2P_LISTEN_PORT");
                }
                if matches!(networking, "V2" | "V1V2") {
                    let addresses: Vec<&str> = text("P2PV2_LISTEN_ADDRESSES")?
                        .map(|list| list.split([',', ' ']).filter(|a| !a.is_empty()).collect())
                        .unwrap_or_default();
                    ports.extend(listen_ports(&addresses, "P2PV2_LISTEN_ADDRESSES")?.ports);
                    sources.push("P2PV2_LISTEN_ADDRESSES");
                }
                if sources.is_empty() {
                    return Err(format!(
                        "P2P_NETWORKING_STACK = {networking:?} is not V1, V2 or V1V2"
                    ));
                }
                Ok(PortSetting::new(sources.join(" and "), ports))
            }
            NodePort::Database => self.database("DATABASE_URL", None, "DATABASE_URL"),
            NodePort::Rpc => {
                let variables = ["ETH_URL", "ETH_HTTP_URL", "ETH_SECONDARY_URLS"];
                if let Some(name) = variables.into_iter().find(|name| self.is_withheld(name)) {
                    return Err(Self::withheld(name));
                }
                let urls = self.stack.url_settings();
                rpc_ports(urls, &variables.join(", "))
            }
        }
    }

    /// The primary database URL's port, or Postgres's default. `variable` overrides
    /// `document` (a v2 node's `CL_DATABASE_URL` over `secrets.toml`).
    fn database(
        &self,
        variable: &str,
        document: Option<&str>,
        expected: &str,
    ) -> Result<PortSetting, String> {
        let overridden = self.stack.params.has(variable);
        if self.is_withheld(variable) {
            return Err(Self::withheld(variable));
        }
        if let Some(document) = document.filter(|d| !overridden && self.is_withheld(d)) {
            return Err(Self::withheld(document));
        }
        // A mixed set is read as v2 reads it: the legacy variables are what the node refuses.
        let urls = match document {
            Some(_) => self.stack.v2_database_urls(),
            None => self.stack.url_settings(),
        };
        let url = urls.into_iter().find(|setting| {
            setting.kind == EndpointKind::Database && setting.db_role == Some(DbUrlRole::Primary)
        });
        let Some(url) = url else {
            return Err(format!("no database URL ({expected})"));
        };
        let source = match &url.field {
            Some(field) => format!("{} {field}", url.parameter),
            None => url.parameter.clone(),
        };
        let (_, port) = lenient_host_port(url.value.expose())
            .ok_or_else(|| format!("the database URL in {source} does not parse"))?;
        Ok(match port {
            Some(port) => PortSetting::new(source, vec![port]),
            None => PortSetting::new(format!("{source} (Postgres's default)"), vec![5432]),
        })
    }
}

/// The ports of the RPC URLs among `urls`, each its explicit port or its scheme's.
fn rpc_ports(urls: Vec<UrlSetting>, source: &str) -> Result<PortSetting, String> {
    let rpc: Vec<UrlSetting> = urls
        .into_iter()
        .filter(|url| matches!(url.kind, EndpointKind::RpcWebsocket | EndpointKind::RpcHttp))
        .collect();
    if rpc.is_empty() {
        return Err(format!("no RPC URL ({source})"));
    }
    let ports = rpc
        .iter()
        .map(|url| {
            let raw = url.value.expose();
            let scheme = raw
                .split_once("://")
                .map(|(scheme, _)| scheme.to_ascii_lowercase());
            let explicit = lenient_host_port(raw).and_then(|(_, port)| port);
            let by_scheme = match scheme.as_deref() {
                Some("ws" | "http") => Some(80),
                Some("wss" | "https") => Some(443),
                _ => None,
            };
            explicit.or(by_scheme).ok_or_else(|| {
                let place = url.field.as_deref().unwrap_or(url.parameter.as_str());
                format!("the RPC URL in {place} names no port and no ws, wss, http or https scheme")
            })
        })
        .collect::<Result<Vec<u16>, String>>()?;
    Ok(PortSetting::new(source, ports))
}

/// The ports of `host:port` listen addresses; none is no port (the node has no default).
fn listen_ports(addresses: &[&str], source: &str) -> Result<PortSetting, String> {
    if addresses.is_empty() {
        return Err(format!(
            "{source} names no address, and the node has no default P2P port"
        ));
    }
    let ports = addresses
        .iter()
        .map(|address| {
            address
                .rsplit_once(':')
                .and_then(|(_, port)| port.parse::<u16>().ok())
                .filter(|port| *port != 0)
                .ok_or_else(|| format!("{source}: {address:?} is not a host:port address"))
        })
        .collect::<Result<Vec<u16>, String>>()?;
    Ok(PortSetting::new(source, ports))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, SecretValue)> {
        pairs
            .iter()
            .map(|(name, value)| (name.to_string(), SecretValue::new(*value)))
            .collect()
    }

    fn ports(pairs: &[(&str, &str)], port: NodePort) -> Result<Vec<u16>, String> {
        node_ports(&params(pairs), &[])
            .get(port)
            .map(|s| s.ports.clone())
            .map_err(|why| why.reason.clone())
    }

    const SECRETS: &str = "[Database]\nURL = 'postgresql://cl:a-long-enough-password@db.internal:6543/cl'\n[Password]\nKeystore = 'a-long-enough-keystore-password'\n";

    #[test]
    fn a_v2_node_takes_its_ports_from_config_toml() {
        let config = "[WebServer]\nHTTPPort = 7788\n[WebServer.TLS]\nHTTPSPort = 0\n\
                      [P2P.V2]\nListenAddresses = ['0.0.0.0:6690', '[::]:6691']\n";
        let set = [("config.toml", config), ("secrets.toml", SECRETS)];
        let found = node_ports(&params(&set), &[]);
        assert_eq!(
            found.get(NodePort::P2p),
            Ok(&PortSetting::new(
                "config.toml P2P.V2.ListenAddresses",
                vec![6690, 6691]
            ))
        );
        assert_eq!(
            found.get(NodePort::Http),
            Ok(&PortSetting::new(
                "config.toml WebServer.HTTPPort",
                vec![7788]
            ))
        );
        assert_eq!(
            found.get(NodePort::Https),
            Ok(&PortSetting::new(
                "config.toml WebServer.TLS.HTTPSPort",
                vec![]
            ))
        );
        assert_eq!(
            found.get(NodePort::Database),
            Ok(&PortSetting::new("secrets.toml Database.URL", vec![6543]))
        );
    }

    #[test]
    fn the_nodes_defaults_apply_except_for_p2p_which_has_none() {
        let set = [
            ("config.toml", "[[EVM]]\nChainID = '1'\n"),
            ("secrets.toml", SECRETS),
        ];
        assert_eq!(ports(&set, NodePort::Http), Ok(vec![6688]));
        assert_eq!(ports(&set, NodePort::Https), Ok(vec![6689]));
        let p2p = ports(&set, NodePort::P2p);
        assert!(
            p2p.as_ref()
                .is_err_and(|why| why.contains("no default P2P port")),
            "{p2p:?}"
        );
        let no_port = "postgresql://cl:a-long-enough-password@db.internal/cl";
        let set = [("config.toml", ""), ("CL_DATABASE_URL", no_port)];
        assert_eq!(ports(&set, NodePort::Database), Ok(vec![5432]));
    }

    #[test]
    fn cl_config_is_applied_last() {
        let set = [
            (
                "config.toml",
                "[P2P.V2]\nListenAddresses = ['0.0.0.0:6690']\n",
            ),
            (
                "CL_CONFIG",
                "[P2P.V2]\nListenAddresses = ['0.0.0.0:7000']\n",
            ),
        ];
        assert_eq!(ports(&set, NodePort::P2p), Ok(vec![7000]));
    }

    #[test]
    fn p2p_turned_off_or_unreadable_is_no_port() {
        let off = [(
            "config.toml",
            "[P2P.V2]\nEnabled = false\nListenAddresses = ['0.0.0.0:6690']\n",
        )];
        assert!(ports(&off, NodePort::P2p).is_err_and(|why| why.contains("Enabled = false")));
        let bad = [("config.toml", "[P2P.V2]\nListenAddresses = ['6690']\n")];
        assert!(ports(&bad, NodePort::P2p).is_err_and(|why| why.contains("\"6690\"")));
    }

    #[test]
    fn a_legacy_node_takes_its_ports_from_its_variables() {
        let set = [
            ("DATABASE_URL", "postgresql://cl:pw@db.internal:5433/cl"),
            ("CHAINLINK_PORT", "6080"),
            ("CHAINLINK_TLS_PORT", "0"),
            ("P2P_NETWORKING_STACK", "V1V2"),
            ("P2P_LISTEN_PORT", "4242"),
            ("P2PV2_LISTEN_ADDRESSES", "0.0.0.0:6690,0.0.0.0:6691"),
        ];
        assert_eq!(ports(&set, NodePort::Http), Ok(vec![6080]));
        assert_eq!(ports(&set, NodePort::Https), Ok(vec![]));
        assert_eq!(ports(&set, NodePort::P2p), Ok(vec![4242, 6690, 6691]));
        assert_eq!(ports(&set, NodePort::Database), Ok(vec![5433]));
        let v1_without_port = [("DATABASE_URL", "postgresql://cl:pw@db/cl")];
        assert!(ports(&v1_without_port, NodePort::P2p).is_err_and(|why| why.contains("random")));
        assert_eq!(ports(&v1_without_port, NodePort::Http), Ok(vec![6688]));
    }

    #[test]
    fn a_withheld_secret_leaves_its_port_unknown_and_the_others_known() {
        let set = params(&[
            (
                "config.toml",
                "[P2P.V2]\nListenAddresses = ['0.0.0.0:6690']\n",
            ),
            ("secrets.toml", "ciphertext"),
        ]);
        let found = node_ports(&set, &["secrets.toml".to_string()]);
        assert_eq!(
            found.get(NodePort::P2p).map(|s| s.ports.clone()),
            Ok(vec![6690])
        );
        assert!(found.get(NodePort::Database).is_err_and(
            |why| why.withheld && why.reason.contains("secrets.toml is a SecureString")
        ));
        let legacy = params(&[("DATABASE_URL", "ciphertext"), ("CHAINLINK_PORT", "6688")]);
        let found = node_ports(&legacy, &["DATABASE_URL".to_string()]);
        assert!(found.get(NodePort::Database).is_err_and(
            |why| why.withheld && why.reason.starts_with("DATABASE_URL is a SecureString")
        ));
    }

    #[test]
    fn no_configuration_is_no_port() {
        let found = node_ports(&params(&[("UNRELATED", "x")]), &[]);
        for port in NodePort::ALL {
            assert!(found.get(port).is_err(), "{port}");
        }
    }

    #[test]
    fn names_round_trip() {
        for port in NodePort::ALL {
            assert_eq!(NodePort::parse(port.as_str()), Some(port));
        }
        assert_eq!(NodePort::parse("ui"), None);
    }
    #[test]
    fn the_rpc_ports_are_each_urls_port_or_its_schemes() {
        let config = "[[EVM]]\nChainID = '1'\n[[EVM.Nodes]]\nName = 'a'\n\
                      WSURL = 'wss://a.rpc.internal/key'\nHTTPURL = 'https://a.rpc.internal:8545/key'\n\
                      [[EVM.Nodes]]\nName = 'b'\nWSURL = 'ws://b.rpc.internal:8546'\nHTTPURL = 'http://b.rpc.internal'\n";
        let set = [("config.toml", config), ("secrets.toml", SECRETS)];
        assert_eq!(ports(&set, NodePort::Rpc), Ok(vec![80, 443, 8545, 8546]));

        let legacy = [
            ("ETH_URL", "wss://eth.rpc.internal:8546"),
            (
                "ETH_SECONDARY_URLS",
                "https://a.rpc.internal,https://b.rpc.internal:9000",
            ),
        ];
        assert_eq!(ports(&legacy, NodePort::Rpc), Ok(vec![443, 8546, 9000]));
    }

    #[test]
    fn rpc_urls_withheld_or_missing_give_no_port() {
        let legacy = params(&[("ETH_URL", "wss://eth.rpc.internal:8546")]);
        let withheld = node_ports(&legacy, &["ETH_URL".to_string()]);
        assert!(withheld
            .get(NodePort::Rpc)
            .is_err_and(|why| why.withheld && why.reason.starts_with("ETH_URL is a SecureString")));
        let set = [("config.toml", "[[EVM]]\nChainID = '1'\n")];
        let missing = ports(&set, NodePort::Rpc);
        assert!(
            missing
                .as_ref()
                .is_err_and(|why| why.starts_with("no RPC URL")),
            "{missing:?}"
        );
        assert!(NodePort::Rpc.is_outbound() && !NodePort::P2p.is_outbound());
    }
}
