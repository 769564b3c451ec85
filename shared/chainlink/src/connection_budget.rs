//! The stack's database connections against the database's limit.
//!
//! Each node opens up to `Database.MaxOpenConns` connections (legacy
//! `ORM_MAX_OPEN_CONNS`), and every node of the stack shares one database,
//! so the stack may ask for that many times its node count. The limit comes
//! from whoever knows it (the stack file today, the database itself later)
//! and the node count from the caller, which sees the instances; with
//! either unknown there is nothing to compare.

use serde::Serialize;

use super::finding::{ConfigStyle, Finding, FindingCode};
use super::parameters::CONFIG_TOML;
use super::policy::EnvironmentPolicy;
use super::secret::SecretValue;
use super::stack::Stack;

/// `Database.MaxOpenConns` when unset (config-empty-effective.toml).
const V2_DEFAULT_MAX_OPEN_CONNS: u64 = 100;
/// `ORM_MAX_OPEN_CONNS` when unset (docs: configuration-variables).
const LEGACY_DEFAULT_MAX_OPEN_CONNS: u64 = 20;

/// Per node: the setting's name, where it is, and its value (or the default).
struct PerNode {
    parameter: String,
    field: Option<&'static str>,
    name: &'static str,
    connections: u64,
    default: bool,
}

/// How many database connections one node may open, and which setting says so: what a
/// report on a database-connections alarm compares with the database's limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConnectionDemand {
    /// The parameter the setting is read from (`config.toml`, `ORM_MAX_OPEN_CONNS`).
    pub parameter: String,
    /// The setting's name in the node's notation (`Database.MaxOpenConns`).
    pub setting: String,
    pub per_node: u64,
    /// Not set: the node's default applies.
    pub default: bool,
}

/// The connections one node of these parameters may open; `None` when the configuration's
/// style is unknown or the setting is malformed (other findings say so).
pub fn connection_demand(params: &[(String, SecretValue)]) -> Option<ConnectionDemand> {
    let mut ignored = Vec::new();
    let per_node = per_node(&Stack::load(params, &mut ignored))?;
    Some(ConnectionDemand {
        parameter: per_node.parameter,
        setting: per_node.name.to_owned(),
        per_node: per_node.connections,
        default: per_node.default,
    })
}

fn per_node(stack: &Stack<'_>) -> Option<PerNode> {
    match stack.style {
        ConfigStyle::Legacy => {
            let name = "ORM_MAX_OPEN_CONNS";
            let set = match stack.params.text(name) {
                // A malformed value is CL-ENV-001's.
                Some(text) => Some(text.trim().parse::<u64>().ok()?),
                None => None,
            };
            Some(PerNode {
                parameter: name.to_owned(),
                field: None,
                name,
                connections: set.unwrap_or(LEGACY_DEFAULT_MAX_OPEN_CONNS),
                default: set.is_none(),
            })
        }
        ConfigStyle::V2 | ConfigStyle::Mixed => {
            let field = "Database.MaxOpenConns";
            let (parameter, set) = match stack.config_view() {
                Some((parameter, root)) => match root.get_path(field) {
                    // A value of the wrong type is CL-TOML-003's.
                    Some(value) => (parameter, Some(u64::try_from(value.as_integer()?).ok()?)),
                    None => (parameter, None),
                },
                None => (CONFIG_TOML, None),
            };
            Some(PerNode {
                parameter: parameter.to_owned(),
                field: Some(field),
                name: field,
                connections: set.unwrap_or(V2_DEFAULT_MAX_OPEN_CONNS),
                default: set.is_none(),
            })
        }
        ConfigStyle::Unknown => None,
    }
}

pub(super) fn check_connection_budget(
    stack: &Stack<'_>,
    policy: &EnvironmentPolicy,
    out: &mut Vec<Finding>,
) {
    let (Some(limit), Some(nodes)) = (policy.database_max_connections, policy.node_count) else {
        return;
    };
    let Some(per_node) = per_node(stack) else {
        return;
    };
    let wanted = per_node.connections.saturating_mul(u64::from(nodes));
    if wanted <= u64::from(limit) {
        return;
    }
    let default = if per_node.default {
        " (the default)"
    } else {
        ""
    };
    let finding = Finding::new(
        FindingCode::DatabaseConnectionsOverLimit,
        per_node.parameter,
        format!(
            "{nodes} node(s) × {} {}{default} = {wanted} database connections, over the database's limit of \
             {limit}: under load the nodes ask for more connections than Postgres accepts, and queries fail. \
             Lower {} to at most {} per node, or raise the database's max_connections.",
            per_node.name,
            per_node.connections,
            per_node.name,
            u64::from(limit) / u64::from(nodes).max(1)
        ),
    );
    out.push(match per_node.field {
        Some(field) => finding.with_field(field),
        None => finding,
    });
}

#[cfg(test)]
mod tests {
    use super::super::test_support::entries;
    use super::*;

    fn run(pairs: &[(&str, &str)], limit: Option<u32>, nodes: Option<u32>) -> Vec<Finding> {
        let entries = entries(pairs);
        let mut policy = EnvironmentPolicy {
            database_max_connections: limit,
            ..EnvironmentPolicy::default()
        };
        if let Some(nodes) = nodes {
            policy = policy.with_node_count(nodes);
        }
        let mut out = Vec::new();
        let stack = Stack::load(&entries, &mut out);
        check_connection_budget(&stack, &policy, &mut out);
        out
    }

    fn located(findings: &[Finding]) -> Vec<(String, Option<String>)> {
        findings
            .iter()
            .inspect(|f| assert_eq!(f.code, FindingCode::DatabaseConnectionsOverLimit))
            .map(|f| (f.parameter.clone(), f.field.clone()))
            .collect()
    }

    #[test]
    fn budget_table() {
        let legacy = [("DATABASE_URL", "postgresql://x")];
        let v2_default = [("config.toml", "")];
        let v2_set = [("config.toml", "[Database]\nMaxOpenConns = 40\n")];
        let over_v2 = vec![(
            "config.toml".to_owned(),
            Some("Database.MaxOpenConns".to_owned()),
        )];
        let over_legacy = vec![("ORM_MAX_OPEN_CONNS".to_owned(), None)];
        type Case<'a> = (
            &'a [(&'a str, &'a str)],
            Option<u32>,
            Option<u32>,
            Vec<(String, Option<String>)>,
        );
        let cases: Vec<Case<'_>> = vec![
            // 2 × 100 (default) against 150; 2 × 40 fits; 4 × 40 does not.
            (&v2_default, Some(150), Some(2), over_v2.clone()),
            (&v2_set, Some(150), Some(2), vec![]),
            (&v2_set, Some(150), Some(4), over_v2),
            // Legacy: 3 × 20 (default) fits 60 exactly; 4 × 20 does not.
            (&legacy, Some(60), Some(3), vec![]),
            (&legacy, Some(60), Some(4), over_legacy),
            // Unknown limit or node count: nothing to compare.
            (&v2_default, None, Some(9), vec![]),
            (&v2_default, Some(1), None, vec![]),
        ];
        for (pairs, limit, nodes, expected) in cases {
            let got = located(&run(pairs, limit, nodes));
            assert_eq!(got, expected, "{pairs:?} limit {limit:?} nodes {nodes:?}");
        }
    }

    #[test]
    fn the_demand_names_its_setting_and_whether_it_is_the_default() {
        let demand = |pairs: &[(&str, &str)]| connection_demand(&entries(pairs));
        let v2 = demand(&[("config.toml", "[Database]\nMaxOpenConns = 40\n")]).unwrap();
        assert_eq!(
            (v2.setting.as_str(), v2.per_node, v2.default),
            ("Database.MaxOpenConns", 40, false)
        );
        let legacy = demand(&[("DATABASE_URL", "postgresql://x")]).unwrap();
        assert_eq!(
            (legacy.parameter.as_str(), legacy.per_node, legacy.default),
            ("ORM_MAX_OPEN_CONNS", 20, true)
        );
        assert_eq!(demand(&[]), None);
    }

    #[test]
    fn the_message_names_the_three_numbers() {
        let findings = run(
            &[("ORM_MAX_OPEN_CONNS", "30"), ("DATABASE_URL", "x")],
            Some(50),
            Some(2),
        );
        let message = &findings[0].message;
        assert!(
            message.contains("2 node(s) × ORM_MAX_OPEN_CONNS 30 = 60")
                && message.contains("limit of 50")
                && message.contains("at most 25 per node"),
            "{message}"
        );
        // A value the node would reject is left to the type checks.
        assert!(run(
            &[("ORM_MAX_OPEN_CONNS", "many"), ("DATABASE_URL", "x")],
            Some(1),
            Some(2)
        )
        .is_empty());
    }
}
