//! The stack's database against the node's configuration and the stack's rules: findings with
//! stable codes (`CL-RDS-*`, documented in the chainlink crate's CODES.md beside the node's
//! own), for `plan`, `validate` and every sweep.
//!
//! - The node's primary database URL points at this database: its host is the endpoint or a
//!   declared alias (`database.hosts`), its port the endpoint's (CL-RDS-001, CL-RDS-002).
//! - `rds.force_ssl` on and the URL's `sslmode` weaker than `require` (CL-RDS-003 when the
//!   node cannot connect at all, CL-RDS-004 when it connects but would accept a downgrade).
//! - In a production stack: `rds.force_ssl` off (CL-RDS-005), storage autoscaling off
//!   (CL-RDS-006).
//! - The connection limit the node-configuration check (CL-DB-011) compares the nodes' pools
//!   with: the database's, evaluated (`resolve_connection_limit`, CL-RDS-007/008).
//!
//! Messages name hosts and ports, never a URL: URLs carry the password.

use super::connection_limit::ConnectionLimit;
use super::observed::ObservedDatabase;
use crate::stack::DatabasePolicy;
use chainlink::{ConnectionDemand, Endpoint, EndpointKind, Finding, FindingCode};
use serde::Serialize;

/// Every check of the database against the node's endpoints (`chainlink::endpoints` of the
/// node's parameters) and the stack's rules.
pub fn check_database(
    database: &ObservedDatabase,
    endpoints: &[Endpoint],
    policy: &DatabasePolicy,
    production: bool,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    let primary: Vec<&Endpoint> = endpoints
        .iter()
        .filter(|e| e.kind == EndpointKind::Database && !e.backup)
        .collect();
    for endpoint in &primary {
        check_target(database, endpoint, policy, &mut findings);
        check_sslmode(database, endpoint, &mut findings);
    }
    if production {
        check_production(database, &mut findings);
    }
    findings
}

fn located(endpoint: &Endpoint, code: FindingCode, message: String) -> Finding {
    let finding = Finding::new(code, endpoint.parameter.clone(), message);
    match &endpoint.field {
        Some(field) => finding.with_field(field.clone()),
        None => finding,
    }
}

fn label(endpoint: &Endpoint) -> &str {
    endpoint.field.as_deref().unwrap_or(&endpoint.parameter)
}

fn check_target(
    database: &ObservedDatabase,
    endpoint: &Endpoint,
    policy: &DatabasePolicy,
    out: &mut Vec<Finding>,
) {
    let (Some(expected), Some(port)) = (&database.endpoint, database.port()) else {
        return;
    };
    let label = label(endpoint);
    let host = endpoint.host.as_str();
    let is_endpoint = database.answers_at(host);
    let alias = policy.hosts.iter().find(|pattern| pattern.matches(host));
    if !is_endpoint && alias.is_none() {
        let aliases = if policy.hosts.is_empty() {
            "no alias is declared (database.hosts)".to_string()
        } else {
            let names: Vec<String> = policy.hosts.iter().map(ToString::to_string).collect();
            format!("nor one of its declared aliases ({})", names.join(", "))
        };
        out.push(located(
            endpoint,
            FindingCode::DatabaseUrlOtherHost,
            format!(
                "{label} points at host {host}, not at the stack's {} (endpoint {}), and {aliases}: the node uses another database",
                database,
                known_hosts(database, &expected.host)
            ),
        ));
        return;
    }
    if endpoint.port != Some(port) {
        let named = endpoint
            .port
            .map_or_else(|| "no port".to_string(), |p| format!("port {p}"));
        out.push(located(
            endpoint,
            FindingCode::DatabaseUrlOtherPort,
            format!(
                "{label} points at {host} on {named}, but {} listens on port {port} (endpoint {}): the node cannot connect",
                database,
                known_hosts(database, &expected.host)
            ),
        ));
    }
}

/// The instance's endpoint, and its Aurora cluster's endpoints.
fn known_hosts(database: &ObservedDatabase, own: &str) -> String {
    match &database.cluster {
        Some(cluster) if !cluster.hosts.is_empty() => format!(
            "{own}; cluster {}: {}",
            cluster.id,
            cluster.hosts.join(", ")
        ),
        _ => own.to_string(),
    }
}

/// pgx, the node's driver, reads an absent `sslmode` as `prefer`: TLS when the server offers
/// it, plaintext otherwise. Only `require` and the `verify-*` modes refuse plaintext.
fn check_sslmode(database: &ObservedDatabase, endpoint: &Endpoint, out: &mut Vec<Finding>) {
    if database.forces_ssl() != Some(true) {
        return;
    }
    let label = label(endpoint);
    let mode = endpoint.sslmode.as_deref();
    match mode {
        Some("require" | "verify-ca" | "verify-full") => {}
        Some("disable") => out.push(located(
            endpoint,
            FindingCode::DatabaseSslRefused,
            format!(
                "{label} sets sslmode=disable, and {} forces TLS (rds.force_ssl = 1): Postgres refuses the node's plaintext connection (no pg_hba.conf entry … no encryption). Use sslmode=require or verify-full.",
                database
            ),
        )),
        other => out.push(located(
            endpoint,
            FindingCode::DatabaseSslNotRequired,
            format!(
                "{label} {}: the node connects over TLS only because {} insists (rds.force_ssl = 1), and would accept a downgrade to plaintext from anyone on the path. Use sslmode=require or verify-full.",
                other.map_or_else(
                    || "sets no sslmode (the driver's default is prefer)".to_string(),
                    |m| format!("sets sslmode={m}")
                ),
                database
            ),
        )),
    }
}

fn check_production(database: &ObservedDatabase, out: &mut Vec<Finding>) {
    let subject = database.id.as_str();
    if database.forces_ssl() == Some(false) {
        out.push(
            Finding::new(
                FindingCode::DatabaseForceSslOff,
                subject,
                format!(
                    "{database} accepts plaintext connections (rds.force_ssl = 0) in a production stack: set rds.force_ssl = 1 in its parameter group, so no client can connect without TLS"
                ),
            )
            .with_field("rds.force_ssl"),
        );
    }
    // Aurora's cluster volume grows by itself: there is no threshold to set.
    if database.max_allocated_storage_gib.is_none() && database.cluster.is_none() {
        out.push(
            Finding::new(
                FindingCode::DatabaseStorageAutoscalingOff,
                subject,
                format!(
                    "{database} has storage autoscaling off (no maximum storage threshold) in a production stack: a full disk stops the node; set MaxAllocatedStorage"
                ),
            )
            .with_field("MaxAllocatedStorage"),
        );
    }
}

/// The limit the connection check (CL-DB-011) uses, and what was said about choosing it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ResolvedLimit {
    /// What `EnvironmentPolicy::database_max_connections` is set to; `None`: not checked.
    pub connections: Option<u32>,
    pub findings: Vec<Finding>,
}

/// The connection limit from the database itself and the one the stack file declares
/// (`environment.database_max_connections`). Which wins:
/// - a number in the parameter group is the limit Postgres enforces: it wins, and a declared
///   value that differs is a finding (the file is stale);
/// - a formula of the class's memory only bounds the limit from above (RDS reserves an
///   undocumented part of the memory): a declared value at or under the bound wins, being the
///   likelier figure (`SHOW max_connections`); one above it cannot be right, so the bound wins
///   and a finding says so;
/// - a limit that cannot be evaluated leaves the declared one, with a finding.
pub fn resolve_connection_limit(
    database: &ObservedDatabase,
    declared: Option<u32>,
) -> ResolvedLimit {
    let subject = database.id.as_str();
    let limit: ConnectionLimit = match database.connection_limit() {
        Ok(limit) => limit,
        Err(error) => {
            let fallback = match declared {
                Some(n) => {
                    format!("the stack file's {n} (environment.database_max_connections) is used")
                }
                None => "the nodes' connections are not checked against it".to_string(),
            };
            return ResolvedLimit {
                connections: declared,
                findings: vec![Finding::new(
                    FindingCode::DatabaseLimitUnknown,
                    subject,
                    format!("the connection limit of {database} is unknown: {error}; {fallback}"),
                )
                .with_field("max_connections")],
            };
        }
    };
    let disagree = |message: String| {
        vec![
            Finding::new(FindingCode::DatabaseLimitDisagrees, subject, message)
                .with_field("max_connections"),
        ]
    };
    match declared {
        None => ResolvedLimit {
            connections: Some(limit.connections),
            findings: Vec::new(),
        },
        Some(n) if limit.upper_bound && n <= limit.connections => ResolvedLimit {
            connections: Some(n),
            findings: Vec::new(),
        },
        Some(n) if n == limit.connections => ResolvedLimit {
            connections: Some(n),
            findings: Vec::new(),
        },
        Some(n) => ResolvedLimit {
            connections: Some(limit.connections),
            findings: disagree(format!(
                "the stack file declares a connection limit of {n} (environment.database_max_connections), but {database} allows {limit}: the database's is used; correct the file"
            )),
        },
    }
}

/// What a database-connections alarm reports: the stack's nodes' pools against the limit.
/// Over the limit it is the node-configuration finding (CL-DB-011); within it, information
/// that the connections come from elsewhere.
pub fn connections_finding(
    database: &ObservedDatabase,
    demand: &ConnectionDemand,
    nodes: u32,
    limit: u32,
) -> Finding {
    let wanted = demand.per_node.saturating_mul(u64::from(nodes));
    let default = if demand.default { " (the default)" } else { "" };
    let pools = format!(
        "{nodes} node(s) × {} {}{default} = {wanted} connections",
        demand.setting, demand.per_node
    );
    let finding = if wanted > u64::from(limit) {
        Finding::new(
            FindingCode::DatabaseConnectionsOverLimit,
            demand.parameter.clone(),
            format!(
                "{database} is short of connections: {pools}, over its limit of {limit}. Lower {} to at most {} per node, or raise max_connections (a bigger class raises the default).",
                demand.setting,
                u64::from(limit) / u64::from(nodes).max(1)
            ),
        )
    } else {
        Finding::new(
            FindingCode::DatabaseConnectionsWithinLimit,
            demand.parameter.clone(),
            format!(
                "{database} is short of connections, but the nodes' pools fit its limit ({pools} of {limit}): the other connections come from elsewhere (operators, other clients); nothing is changed"
            ),
        )
    };
    // A legacy variable is its own parameter; a TOML setting is a field of its document.
    if demand.setting == demand.parameter {
        finding
    } else {
        finding.with_field(demand.setting.clone())
    }
}
