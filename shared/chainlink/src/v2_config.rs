//! Rules for the v2 node configuration (`config.toml`, with `CL_CONFIG`
//! applied last) outside the EVM chains: web server, logging, database
//! lock, P2P, and the chain lists of every network family.
//!
//! Mirrors the node's `Config.Validate` so an operator sees the node's own
//! error phrases before a restart, not after.

use super::chain_list::check_chain_lists;
use super::evm::check_evm_chains;
use super::finding::{Finding, FindingCode};
use super::go_duration::format_nanos;
use super::link_token::{check_address, AddressSource, AddressStrictness};
use super::parameters::CONFIG_TOML;
use super::policy::EnvironmentPolicy;
use super::stack::Stack;
use super::toml_tree::{FindingSink, TableView};

const LOG_LEVELS: &[&str] = &["debug", "info", "warn", "error", "crit", "panic", "fatal"];
/// The fields the node requires with `AuthenticationMethod = 'ldap'`.
const LDAP_REQUIRED: &[&str] = &[
    "BaseDN",
    "BaseUserAttr",
    "UsersDN",
    "GroupsDN",
    "AdminUserGroupCN",
    "RunUserGroupCN",
    "ReadUserGroupCN",
];
const SECOND: u128 = 1_000_000_000;

fn check_web_server(root: &TableView<'_>, sink: &mut FindingSink<'_>) {
    let web = root.table("WebServer");
    let port =
        |view: Option<TableView<'_>>, key: &str, sink: &mut FindingSink<'_>| -> Option<i64> {
            let view = view?;
            let value = view.integer(key, sink)?;
            if !(0..=i64::from(u16::MAX)).contains(&value) {
                sink.push(
                    FindingCode::PortInvalid,
                    Some(view.field(key)),
                    format!(
                        "{}: invalid value ({value}): must be a port from 0 to 65535",
                        view.field(key)
                    ),
                );
            }
            Some(value)
        };
    port(web.clone(), "HTTPPort", sink);
    let https_port = port(web.as_ref().and_then(|w| w.table("TLS")), "HTTPSPort", sink);
    let secure_cookies = web
        .as_ref()
        .and_then(|w| w.bool("SecureCookies", sink))
        .unwrap_or(true);
    if https_port == Some(0) && secure_cookies {
        sink.push(
            FindingCode::SecureCookiesWithoutTls,
            Some("WebServer.SecureCookies".to_owned()),
            "WebServer.TLS.HTTPSPort = 0 disables HTTPS while SecureCookies is true (the default): browsers drop the \
             login cookie over plain HTTP. Set SecureCookies = false unless a TLS-terminating load balancer serves \
             the UI."
                .to_owned(),
        );
    }
    let Some(web) = web else { return };
    let ldap_auth = web
        .string("AuthenticationMethod", sink)
        .is_some_and(|m| m.eq_ignore_ascii_case("ldap"));
    if ldap_auth {
        let ldap = web.table("LDAP");
        for key in LDAP_REQUIRED {
            let value = ldap
                .as_ref()
                .and_then(|l| l.string(key, sink))
                .unwrap_or("");
            if value.trim().is_empty() {
                let field = format!("WebServer.LDAP.{key}");
                sink.push(
                    FindingCode::LdapFieldEmpty,
                    Some(field.clone()),
                    format!(
                        "{field}: LDAP {key} can not be empty when AuthenticationMethod is 'ldap'"
                    ),
                );
            }
        }
    }
}

fn check_log(root: &TableView<'_>, sink: &mut FindingSink<'_>) {
    let Some(log) = root.table("Log") else { return };
    if let Some(level) = log.string("Level", sink) {
        if !LOG_LEVELS.contains(&level) {
            sink.push(
                FindingCode::LogLevelInvalid,
                Some(log.field("Level")),
                format!(
                    "Log.Level: invalid value ({level}): must be one of {}",
                    LOG_LEVELS.join(", ")
                ),
            );
        }
    }
}

fn check_database_lock(root: &TableView<'_>, sink: &mut FindingSink<'_>) {
    let Some(lock) = root.descend("Database.Lock") else {
        return;
    };
    let duration = lock.duration("LeaseDuration", sink).unwrap_or(10 * SECOND);
    let refresh = lock
        .duration("LeaseRefreshInterval", sink)
        .unwrap_or(SECOND);
    if refresh * 2 > duration {
        sink.push(
            FindingCode::LeaseRefreshTooLong,
            Some("Database.Lock.LeaseRefreshInterval".to_owned()),
            format!(
                "Database.Lock.LeaseRefreshInterval: invalid value ({}): must be less than or equal to half of \
                 LeaseDuration ({})",
                format_nanos(refresh),
                format_nanos(duration)
            ),
        );
    }
}

fn check_p2p(root: &TableView<'_>, sink: &mut FindingSink<'_>) {
    let enabled = |name: &str, sink: &mut FindingSink<'_>| {
        root.table(name)
            .and_then(|t| t.bool("Enabled", sink))
            .unwrap_or(false)
    };
    let ocr = enabled("OCR", sink) || enabled("OCR2", sink);
    let v2 = root.descend("P2P.V2");
    let p2p_enabled = v2
        .as_ref()
        .and_then(|v| v.bool("Enabled", sink))
        .unwrap_or(true);
    if ocr && !p2p_enabled {
        sink.push(
            FindingCode::P2pRequiredForOcr,
            Some("P2P.V2.Enabled".to_owned()),
            "P2P.V2.Enabled: invalid value (false): P2P required for OCR or OCR2. Please enable P2P or disable OCR/OCR2."
                .to_owned(),
        );
    }
    if ocr && p2p_enabled {
        let listen = v2
            .as_ref()
            .and_then(|v| v.strings("ListenAddresses", sink))
            .unwrap_or_default();
        if listen.is_empty() {
            sink.push(
                FindingCode::P2pListenAddressesMissing,
                Some("P2P.V2.ListenAddresses".to_owned()),
                "OCR is enabled but P2P.V2.ListenAddresses is empty (there is no default): the node fails with \
                 'networking stack v2 selected but no P2P.V2.ListenAddresses specified'. Set e.g. ['0.0.0.0:6690'] \
                 and open that port to the other oracles."
                    .to_owned(),
            );
        }
    }
    if let Some(address) = root
        .table("OCR")
        .and_then(|o| o.string("TransmitterAddress", sink))
    {
        if !address.is_empty() {
            let source = AddressSource {
                parameter: &sink.parameter.clone(),
                field: Some("OCR.TransmitterAddress".to_owned()),
                setting: "OCR.TransmitterAddress",
                strictness: AddressStrictness::Eip55,
            };
            check_address(address, &source, sink.out);
        }
    }
}

/// Every config rule; returns nothing, pushes findings.
pub(super) fn check_config(stack: &Stack<'_>, policy: &EnvironmentPolicy, out: &mut Vec<Finding>) {
    let Some((parameter, root)) = stack.config_view() else {
        if !stack.params.has(CONFIG_TOML) && !stack.params.has(super::parameters::CL_CONFIG) {
            out.push(Finding::new(
                FindingCode::NoEvmChain,
                CONFIG_TOML,
                "no config.toml (or CL_CONFIG): the node starts without any [[EVM]] chain and does no work. \
                 Add [[EVM]] ChainID and at least one [[EVM.Nodes]] with Name and HTTPURL.",
            ));
        }
        return;
    };
    let mut sink = FindingSink {
        parameter: parameter.to_owned(),
        show_values: true,
        out,
    };
    check_web_server(&root, &mut sink);
    check_log(&root, &mut sink);
    check_database_lock(&root, &mut sink);
    check_p2p(&root, &mut sink);
    check_chain_lists(&root, &mut sink);
    if root.tables("EVM").is_empty() {
        sink.push(
            FindingCode::NoEvmChain,
            Some("EVM".to_owned()),
            "no [[EVM]] chain is configured: the node does no work. Add [[EVM]] ChainID and at least one \
             [[EVM.Nodes]] with Name and HTTPURL."
                .to_owned(),
        );
    }
    check_evm_chains(&root, policy, &mut sink);
}
