//! What a node of the declared version refuses at boot, for the refusals
//! that arrived with a release.
//!
//! The rules apply only when the stack declares the version it runs
//! (`node_version`): without it the validator cannot tell a 1.x node, which
//! reads legacy environment variables, from a 2.x node, which refuses them.
//! Each rule's release and wording come from the node's changelog; CODES.md
//! cites them. The weak database password (2.0.0) and `AllowSimplePasswords`
//! (2.6.0) rules live with the password checks they change (`db_url`,
//! `v2_secrets`), decided by the functions and release constants below.

use super::db_url::WeakPassword;
use super::finding::{ConfigStyle, Finding, FindingCode, Severity};
use super::node_version::{NodeVersion, V2_CONFIG_REQUIRED};
use super::parameters::Parameters;
use super::policy::EnvironmentPolicy;
use super::stack::Stack;
use super::toml_tree::TableView;

/// TOML configuration arrived (experimental) in 1.11.0; older nodes read none.
const TOML_CONFIG_ADDED: NodeVersion = NodeVersion::new(1, 11, 0);
/// "Simple password use in production builds is now disallowed - nodes with this configuration will not boot".
pub(super) const SIMPLE_PASSWORDS_REFUSED: NodeVersion = NodeVersion::new(2, 6, 0);

/// A weak database password in legacy variables: the 1.x node's check only
/// warns ("DEPRECATION WARNING: Database has missing or insufficiently
/// complex password"; 1.5.0: "Chainlink will now log a warning"). From
/// 2.0.0 the variables are not read at all (CL-VER-001), so the
/// environment decides as without a version.
pub(super) fn legacy_weak_password(policy: &EnvironmentPolicy) -> WeakPassword {
    match policy.node_version {
        Some(version) if version < V2_CONFIG_REQUIRED => WeakPassword::Warned,
        _ => WeakPassword::ByEnvironment,
    }
}

/// A weak database password in secrets.toml or `CL_DATABASE_URL`: from
/// 2.0.0, when TOML is the only configuration, the node's secrets
/// validation refuses it at boot.
pub(super) fn v2_weak_password(policy: &EnvironmentPolicy) -> WeakPassword {
    match policy.node_version {
        Some(version) if version >= V2_CONFIG_REQUIRED => WeakPassword::Refused(version),
        _ => WeakPassword::ByEnvironment,
    }
}

/// A setting a release deprecated and a later one refuses at boot.
struct RetiredSetting {
    code: FindingCode,
    /// Its dotted path in config.toml.
    path: &'static str,
    /// The release that announced the removal.
    deprecated: NodeVersion,
    /// The first release that refuses to boot with it.
    removed: NodeVersion,
    /// A setting the node already refuses it beside, from `deprecated` on.
    refused_beside: Option<&'static str>,
    instead: &'static str,
}

const RETIRED_SETTINGS: &[RetiredSetting] = &[
    RetiredSetting {
        code: FindingCode::P2pV1Retired,
        path: "P2P.V1",
        deprecated: NodeVersion::new(2, 7, 0),
        removed: NodeVersion::new(2, 9, 0),
        refused_beside: None,
        instead: "Use [P2P.V2]; a config that sets both can simply drop [P2P.V1].",
    },
    RetiredSetting {
        code: FindingCode::TelemetryIngressFieldRetired,
        path: "TelemetryIngress.URL",
        deprecated: NodeVersion::new(2, 7, 0),
        removed: NodeVersion::new(2, 9, 0),
        refused_beside: Some("TelemetryIngress.Endpoints"),
        instead:
            "Use [[TelemetryIngress.Endpoints]] (Network, ChainID, URL, ServerPubKey) instead.",
    },
    RetiredSetting {
        code: FindingCode::TelemetryIngressFieldRetired,
        path: "TelemetryIngress.ServerPubKey",
        deprecated: NodeVersion::new(2, 7, 0),
        removed: NodeVersion::new(2, 9, 0),
        refused_beside: Some("TelemetryIngress.Endpoints"),
        instead:
            "Use [[TelemetryIngress.Endpoints]] (Network, ChainID, URL, ServerPubKey) instead.",
    },
];

fn check_retired_settings(
    parameter: &str,
    root: &TableView<'_>,
    version: NodeVersion,
    out: &mut Vec<Finding>,
) {
    for setting in RETIRED_SETTINGS {
        if version < setting.deprecated || root.get_path(setting.path).is_none() {
            continue;
        }
        let (path, removed, instead) = (setting.path, setting.removed, setting.instead);
        let beside = setting
            .refused_beside
            .filter(|other| root.get_path(other).is_some());
        let (severity, message) = match beside {
            _ if version >= removed => (
                Severity::Critical,
                format!(
                    "{path} is set, and node {version} (the version the stack runs) no longer supports it: from \
                     {removed} it must not be set in TOML configuration in order to boot. {instead}"
                ),
            ),
            Some(other) => (
                Severity::Critical,
                format!(
                    "{path} is set beside {other}: from {} this prevents node {version} (the version the stack runs) \
                     from booting, and {removed} removes {path} altogether. {instead}",
                    setting.deprecated
                ),
            ),
            None => (
                Severity::Warning,
                format!(
                    "{path} is deprecated in node {version} (the version the stack runs, since {}): from {removed} \
                     the node refuses to boot while it is set. {instead}",
                    setting.deprecated
                ),
            ),
        };
        out.push(
            Finding::new(setting.code, parameter, message)
                .with_field(path)
                .with_severity(severity),
        );
    }
}

fn check_config_style(params: &Parameters<'_>, version: NodeVersion, out: &mut Vec<Finding>) {
    match params.style() {
        ConfigStyle::Legacy if version >= V2_CONFIG_REQUIRED => {
            for name in params.legacy_names() {
                out.push(Finding::new(
                    FindingCode::LegacyConfigUnsupported,
                    name,
                    format!(
                        "node {version} (the version the stack runs) reads no legacy environment variables (since \
                         {V2_CONFIG_REQUIRED}: 'Configuration with legacy environment variables is no longer \
                         supported. TOML is required.'): it fails with 'invalid environment: environment variable \
                         {name} must not be set: unsupported with config v2'. Move the setting into \
                         config.toml/secrets.toml and delete {name}."
                    ),
                ));
            }
        }
        ConfigStyle::V2 if version < TOML_CONFIG_ADDED => {
            let names = params.v2_names();
            out.push(Finding::new(
                FindingCode::TomlConfigUnsupported,
                names.first().copied().unwrap_or("config.toml"),
                format!(
                    "node {version} (the version the stack runs) predates TOML configuration (added in \
                     {TOML_CONFIG_ADDED}): it ignores {} and finds no DATABASE_URL, the one variable it requires. \
                     Declare the version the stack runs, or upgrade the node.",
                    names.join(", ")
                ),
            ));
        }
        _ => {}
    }
}

/// The version-dependent rules outside the password checks; nothing
/// without a declared version.
pub(super) fn check_version_rules(
    stack: &Stack<'_>,
    policy: &EnvironmentPolicy,
    out: &mut Vec<Finding>,
) {
    let Some(version) = policy.node_version else {
        return;
    };
    check_config_style(&stack.params, version, out);
    if let Some((parameter, root)) = stack.config_view() {
        check_retired_settings(parameter, &root, version, out);
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::entries;
    use super::*;

    fn run(pairs: &[(&str, &str)], version: Option<&str>) -> Vec<(FindingCode, Severity, String)> {
        let entries = entries(pairs);
        let policy = EnvironmentPolicy {
            node_version: version.map(|v| v.parse().unwrap()),
            ..EnvironmentPolicy::default()
        };
        let mut out = Vec::new();
        let stack = Stack::load(&entries, &mut out);
        check_version_rules(&stack, &policy, &mut out);
        out.into_iter()
            .map(|f| (f.code, f.severity, f.field.unwrap_or(f.parameter)))
            .collect()
    }

    const LEGACY: &[(&str, &str)] = &[("DATABASE_URL", "postgresql://x"), ("ETH_URL", "wss://x")];

    #[test]
    fn legacy_variables_are_refused_from_2_0_0() {
        use FindingCode::LegacyConfigUnsupported as Refused;
        assert_eq!(run(LEGACY, None), vec![]);
        assert_eq!(run(LEGACY, Some("1.13.3")), vec![]);
        assert_eq!(
            run(LEGACY, Some("2.0.0")),
            vec![
                (Refused, Severity::Critical, "DATABASE_URL".into()),
                (Refused, Severity::Critical, "ETH_URL".into()),
            ]
        );
        // Beside TOML, CL-STYLE-001 already reports each variable at every version.
        let mixed = [("config.toml", ""), ("LOG_LEVEL", "info")];
        assert_eq!(run(&mixed, Some("2.18.0")), vec![]);
    }

    #[test]
    fn toml_alone_is_unread_before_1_11_0() {
        let v2 = [("config.toml", ""), ("secrets.toml", "")];
        assert_eq!(
            run(&v2, Some("1.10.0")),
            vec![(
                FindingCode::TomlConfigUnsupported,
                Severity::Critical,
                "config.toml".into()
            )]
        );
        assert_eq!(run(&v2, Some("1.11.0")), vec![]);
        assert_eq!(run(&v2, None), vec![]);
    }

    #[test]
    fn retired_settings_warn_then_refuse() {
        use FindingCode::{P2pV1Retired as V1, TelemetryIngressFieldRetired as Telemetry};
        use Severity::{Critical, Warning};
        let p2p = [("config.toml", "[P2P.V1]\nEnabled = false\n")];
        assert_eq!(run(&p2p, Some("2.6.0")), vec![]);
        assert_eq!(
            run(&p2p, Some("2.8.0")),
            vec![(V1, Warning, "P2P.V1".into())]
        );
        assert_eq!(
            run(&p2p, Some("2.9.0")),
            vec![(V1, Critical, "P2P.V1".into())]
        );
        assert_eq!(run(&p2p, None), vec![]);

        let url_only = [("config.toml", "[TelemetryIngress]\nURL = 'https://t'\n")];
        assert_eq!(
            run(&url_only, Some("2.7.0")),
            vec![(Telemetry, Warning, "TelemetryIngress.URL".into())]
        );
        let beside = [(
            "config.toml",
            "[TelemetryIngress]\nServerPubKey = 'k'\n[[TelemetryIngress.Endpoints]]\nNetwork = 'EVM'\n",
        )];
        assert_eq!(
            run(&beside, Some("2.8.1")),
            vec![(Telemetry, Critical, "TelemetryIngress.ServerPubKey".into())]
        );
        assert_eq!(
            run(&url_only, Some("2.18.0")),
            vec![(Telemetry, Critical, "TelemetryIngress.URL".into())]
        );
    }

    #[test]
    fn messages_name_both_versions_and_the_node_text() {
        let entries = entries(&[("DATABASE_URL", "x")]);
        let policy = EnvironmentPolicy {
            node_version: Some(NodeVersion::new(2, 18, 0)),
            ..EnvironmentPolicy::default()
        };
        let mut out = Vec::new();
        check_version_rules(&Stack::load(&entries, &mut out), &policy, &mut out);
        let message = &out[0].message;
        assert!(
            message.contains("node 2.18.0")
                && message.contains("since 2.0.0")
                && message.contains("must not be set: unsupported with config v2"),
            "{message}"
        );
    }
}
