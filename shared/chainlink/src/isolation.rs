//! Environment isolation: every endpoint's host against the stack's allow-
//! and deny-lists, and every configured chain against the declared chain.
//!
//! This is the check the project exists for: a production node whose
//! database URL pointed at the development database. Hosts are not secret
//! and are named in messages; URLs are not.

use super::endpoint::Endpoint;
use super::finding::{Finding, FindingCode};
use super::policy::EnvironmentPolicy;
use super::stack::EndpointKind;

fn located(endpoint: &Endpoint, code: FindingCode, message: String) -> Finding {
    let finding = Finding::new(code, endpoint.parameter.clone(), message);
    match &endpoint.field {
        Some(field) => finding.with_field(field.clone()),
        None => finding,
    }
}

fn describe(patterns: &[super::host_pattern::HostPattern]) -> String {
    patterns
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

pub(super) fn check_hosts(
    endpoints: &[Endpoint],
    policy: &EnvironmentPolicy,
    out: &mut Vec<Finding>,
) {
    let environment = if policy.production {
        "production"
    } else {
        "this"
    };
    for endpoint in endpoints {
        let label = endpoint.field.as_deref().unwrap_or(&endpoint.parameter);
        let host = &endpoint.host;
        if let Some(pattern) = policy.forbidden_hosts.iter().find(|p| p.matches(host)) {
            out.push(located(
                endpoint,
                FindingCode::ForbiddenHost,
                format!(
                    "{label} points at {host}, which matches the forbidden pattern {pattern} (another \
                     environment's host). A {environment} stack must never use it: fix the parameter before \
                     the node starts."
                ),
            ));
            continue;
        }
        let (allowed, code, what) = match endpoint.kind {
            EndpointKind::Database => (
                &policy.allowed_db_hosts,
                FindingCode::DatabaseHostNotAllowed,
                "database",
            ),
            EndpointKind::RpcWebsocket | EndpointKind::RpcHttp => (
                &policy.allowed_rpc_hosts,
                FindingCode::RpcHostNotAllowed,
                "RPC",
            ),
        };
        if !allowed.is_empty() && !allowed.iter().any(|p| p.matches(host)) {
            out.push(located(
                endpoint,
                code,
                format!(
                    "{label} points at {what} host {host}, which is not in the stack's allowed {what} hosts ({}). \
                     This {environment} stack may be wired to another environment's {what}.",
                    describe(allowed)
                ),
            ));
        }
    }
}

/// A chain ID the configuration declares, and where.
pub(super) struct DeclaredChain {
    pub parameter: String,
    pub field: Option<String>,
    pub chain_id: u64,
}

pub(super) fn check_chains(
    declared: &[DeclaredChain],
    policy: &EnvironmentPolicy,
    out: &mut Vec<Finding>,
) {
    let Some(expected) = policy.chain_id else {
        return;
    };
    for chain in declared.iter().filter(|c| c.chain_id != expected) {
        let finding = Finding::new(
            FindingCode::ChainIdPolicyMismatch,
            chain.parameter.clone(),
            format!(
                "the configuration uses chain {} but the stack is declared for chain {expected}; the node would \
                 sign and pay on the wrong network ('rpc ChainID doesn't match local chain ID' at best).",
                chain.chain_id
            ),
        );
        out.push(match &chain.field {
            Some(field) => finding.with_field(field.clone()),
            None => finding,
        });
    }
}
