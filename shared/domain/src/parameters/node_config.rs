//! Which version of the node's configuration the flows follow: never a value that is being
//! rolled back, and never a change nobody has judged.
//!
//! An engine that decrypts the parameters (the parameter function, the CLI) judges the current
//! set itself: valid, its ports are followed, and the last-known-good set's ports are the ones
//! they replace; invalid, the last-known-good set's ports stay. An engine that does not decrypt
//! (the security-group function) cannot judge, so it follows only a set that has been judged:
//! every parameter at its last-known-good version. A change not yet labeled is the parameter
//! function's to follow, in the same invocation that judges it; following the old ports here
//! meanwhile would undo what it does.

use super::ObservedParameter;
use crate::ids::ParameterName;
use crate::security_groups::{ConfigBasis, NodeConfig};
use chainlink::{node_ports, validate, EnvironmentPolicy, SecretValue};
use std::collections::BTreeMap;

/// How one stack's parameters were read for the node's ports.
#[derive(Debug)]
pub struct ReadConfiguration<'a> {
    /// The current versions.
    pub current: &'a [ObservedParameter],
    /// The value of each parameter's last-known-good version, by name.
    pub last_known_good: &'a BTreeMap<ParameterName, (i64, SecretValue)>,
    /// Whether SecureString values were decrypted; if not, they are ciphertext.
    pub decrypted: bool,
    pub label: &'a str,
}

/// The configuration the flows of the stack follow this run.
pub fn followed_configuration(
    read: &ReadConfiguration<'_>,
    policy: &EnvironmentPolicy,
) -> NodeConfig {
    if read.current.is_empty() {
        return NodeConfig::Unknown {
            reason: "no parameter exists under the stack's prefix".to_string(),
        };
    }
    let labeled_version = |p: &ObservedParameter| {
        read.last_known_good
            .get(&p.name)
            .map(|(version, _)| *version)
    };
    let changed: Vec<&ObservedParameter> = read
        .current
        .iter()
        .filter(|p| labeled_version(p) != Some(p.version))
        .collect();
    let current: Vec<(String, SecretValue)> = read
        .current
        .iter()
        .map(|p| (p.key.clone(), p.value.clone()))
        .collect();
    if !read.decrypted {
        if let Some(reason) = unjudged(&changed, read.label) {
            return NodeConfig::Unknown { reason };
        }
        let withheld: Vec<String> = read
            .current
            .iter()
            .filter(|p| p.kind == super::ParameterKind::SecureString)
            .map(|p| p.key.clone())
            .collect();
        return NodeConfig::Known {
            ports: node_ports(&current, &withheld),
            basis: ConfigBasis::Current,
            replaced: None,
        };
    }
    let last_known_good: Vec<(String, SecretValue)> = read
        .current
        .iter()
        .filter_map(|p| {
            let (_, value) = read.last_known_good.get(&p.name)?;
            Some((p.key.clone(), value.clone()))
        })
        .collect();
    if validate(&current, policy).is_valid() {
        let ports = node_ports(&current, &[]);
        let replaced = (!changed.is_empty() && !last_known_good.is_empty())
            .then(|| node_ports(&last_known_good, &[]))
            .filter(|old| *old != ports);
        return NodeConfig::Known {
            ports,
            basis: ConfigBasis::Current,
            replaced,
        };
    }
    if last_known_good.is_empty() {
        return NodeConfig::Unknown {
            reason: format!(
                "the current parameters are invalid, and no version is labeled {}",
                read.label
            ),
        };
    }
    NodeConfig::Known {
        ports: node_ports(&last_known_good, &[]),
        basis: ConfigBasis::LastKnownGood,
        replaced: None,
    }
}

/// Why a set with `changed` parameters cannot be followed without judging it, if it cannot.
fn unjudged(changed: &[&ObservedParameter], label: &str) -> Option<String> {
    if changed.is_empty() {
        return None;
    }
    let names: Vec<&str> = changed.iter().map(|p| p.key.as_str()).collect();
    Some(format!(
        "{} changed since the version labeled {label}, and the parameter function has not \
         judged the change yet (this function does not decrypt the parameters, so it cannot); \
         the parameter function follows it when it does",
        names.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parameters::ParameterKind;
    use chainlink::NodePort;

    const SECRETS: &str = "[Database]\nURL = 'postgresql://cl:a-long-enough-password@db.internal:5432/cl?sslmode=require'\n[Password]\nKeystore = 'a-long-enough-keystore-password'\n";

    fn config(port: u16) -> String {
        format!(
            "[[EVM]]\nChainID = '1'\n[[EVM.Nodes]]\nName = 'a'\nWSURL = 'wss://a.example'\nHTTPURL = 'https://a.example'\n\
             [P2P.V2]\nListenAddresses = ['0.0.0.0:{port}']\n"
        )
    }

    fn parameter(key: &str, version: i64, value: &str, kind: ParameterKind) -> ObservedParameter {
        ObservedParameter {
            name: ParameterName::new(format!("/chainlink/demo/{key}")),
            key: key.to_string(),
            kind,
            version,
            value: SecretValue::new(value),
            labeled_version: None,
            expires_at: None,
        }
    }

    /// config.toml at version 2 on `port`, its version 1 labeled on `labeled_port`.
    fn moved(
        port: u16,
        labeled_port: u16,
    ) -> (
        Vec<ObservedParameter>,
        BTreeMap<ParameterName, (i64, SecretValue)>,
    ) {
        let current = vec![
            parameter("config.toml", 2, &config(port), ParameterKind::String),
            parameter("secrets.toml", 1, SECRETS, ParameterKind::SecureString),
        ];
        let labeled = BTreeMap::from([
            (
                current[0].name.clone(),
                (1, SecretValue::new(config(labeled_port))),
            ),
            (current[1].name.clone(), (1, SecretValue::new(SECRETS))),
        ]);
        (current, labeled)
    }

    fn p2p(config: &NodeConfig) -> Option<(Vec<u16>, ConfigBasis, Option<Vec<u16>>)> {
        let NodeConfig::Known {
            ports,
            basis,
            replaced,
        } = config
        else {
            return None;
        };
        let of =
            |ports: &chainlink::NodePorts| ports.get(NodePort::P2p).map(|s| s.ports.clone()).ok();
        Some((of(ports)?, *basis, replaced.as_ref().and_then(of)))
    }

    fn read<'a>(
        current: &'a [ObservedParameter],
        labeled: &'a BTreeMap<ParameterName, (i64, SecretValue)>,
        decrypted: bool,
    ) -> ReadConfiguration<'a> {
        ReadConfiguration {
            current,
            last_known_good: labeled,
            decrypted,
            label: "last-known-good",
        }
    }

    #[test]
    fn a_valid_change_is_followed_and_names_the_ports_it_replaces() {
        let (current, labeled) = moved(7000, 6690);
        let followed = followed_configuration(
            &read(&current, &labeled, true),
            &EnvironmentPolicy::default(),
        );
        assert_eq!(
            p2p(&followed),
            Some((vec![7000], ConfigBasis::Current, Some(vec![6690])))
        );
    }

    #[test]
    fn an_invalid_change_leaves_the_flows_on_the_last_known_good_ports() {
        let (mut current, labeled) = moved(7000, 6690);
        current[0].value =
            SecretValue::new(format!("{}\n[WebServer]\nHTTPPort = 'x'\n", config(7000)));
        let followed = followed_configuration(
            &read(&current, &labeled, true),
            &EnvironmentPolicy::default(),
        );
        assert_eq!(
            p2p(&followed),
            Some((vec![6690], ConfigBasis::LastKnownGood, None))
        );
    }

    #[test]
    fn an_engine_that_cannot_judge_a_change_does_not_follow_it() {
        let (current, labeled) = moved(7000, 6690);
        let followed = followed_configuration(
            &read(&current, &labeled, false),
            &EnvironmentPolicy::default(),
        );
        let NodeConfig::Unknown { reason } = followed else {
            panic!("{followed:?}");
        };
        assert!(
            reason.starts_with("config.toml changed since the version labeled last-known-good"),
            "{reason}"
        );
    }

    #[test]
    fn an_engine_that_cannot_decrypt_follows_a_judged_set_without_its_secrets() {
        let (mut current, mut labeled) = moved(6690, 6690);
        current[0].version = 1;
        current[1].value = SecretValue::new("AQICAHh-ciphertext");
        labeled.insert(
            current[1].name.clone(),
            (1, SecretValue::new("AQICAHh-ciphertext")),
        );
        let followed = followed_configuration(
            &read(&current, &labeled, false),
            &EnvironmentPolicy::default(),
        );
        assert_eq!(
            p2p(&followed),
            Some((vec![6690], ConfigBasis::Current, None))
        );
        let NodeConfig::Known { ports, .. } = &followed else {
            panic!("{followed:?}");
        };
        assert!(ports.get(NodePort::Database).is_err_and(
            |why| why.withheld && why.reason.contains("secrets.toml is a SecureString")
        ));
    }
}
