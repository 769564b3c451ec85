//! The entry point: one stack's parameters and policy in, findings out.
//!
//! Pure: no I/O, no clock, no AWS. The caller reads the parameters, this
//! decides, and the planner acts on the findings.

use super::connection_budget::check_connection_budget;
use super::endpoint::stack_endpoints;
use super::finding::{ConfigStyle, Finding, Validation};
use super::isolation::{check_chains, check_hosts, DeclaredChain};
use super::legacy::{check_legacy, check_start_credentials};
use super::parameters::check_style;
use super::policy::EnvironmentPolicy;
use super::production::check_production;
use super::rpc_redundancy::check_rpc_redundancy;
use super::secret::SecretValue;
use super::secrets_elsewhere::drop_answered;
use super::stack::Stack;
use super::v2_config::check_config;
use super::v2_secrets::check_secrets;
use super::version_rules::check_version_rules;

fn declared_chains(stack: &Stack<'_>) -> Vec<DeclaredChain> {
    let mut declared = Vec::new();
    if matches!(stack.style, ConfigStyle::Legacy) {
        if let Some(id) = stack
            .params
            .text("ETH_CHAIN_ID")
            .and_then(|t| t.trim().parse().ok())
        {
            declared.push(DeclaredChain {
                parameter: "ETH_CHAIN_ID".into(),
                field: None,
                chain_id: id,
            });
        }
    }
    if let Some((parameter, root)) = stack.config_view() {
        for chain in root.tables("EVM") {
            let enabled = chain
                .get("Enabled")
                .and_then(toml::Value::as_bool)
                .unwrap_or(true);
            let id = chain.get("ChainID").and_then(|v| match v {
                toml::Value::String(s) => s.trim().parse().ok(),
                toml::Value::Integer(i) => u64::try_from(*i).ok(),
                _ => None,
            });
            if let (true, Some(chain_id)) = (enabled, id) {
                declared.push(DeclaredChain {
                    parameter: parameter.to_owned(),
                    field: Some(chain.field("ChainID")),
                    chain_id,
                });
            }
        }
    }
    declared
}

/// Validates one stack's parameters (names without the stack prefix)
/// against its environment policy.
pub fn validate(params: &[(String, SecretValue)], policy: &EnvironmentPolicy) -> Validation {
    let mut findings: Vec<Finding> = Vec::new();
    let stack = Stack::load(params, &mut findings);
    check_style(&stack.params, &mut findings);
    match stack.style {
        ConfigStyle::Legacy => {
            check_legacy(&stack.params, policy, &mut findings);
            check_start_credentials(&stack.params, true, policy, &mut findings);
        }
        ConfigStyle::V2 | ConfigStyle::Mixed => {
            check_config(&stack, policy, &mut findings);
            check_secrets(&stack, policy, &mut findings);
            check_start_credentials(&stack.params, false, policy, &mut findings);
        }
        ConfigStyle::Unknown => {}
    }
    check_rpc_redundancy(&stack, &mut findings);
    check_production(&stack, policy, &mut findings);
    check_connection_budget(&stack, policy, &mut findings);
    check_version_rules(&stack, policy, &mut findings);
    check_hosts(&stack_endpoints(&stack), policy, &mut findings);
    check_chains(&declared_chains(&stack), policy, &mut findings);
    drop_answered(&mut findings, &policy.secrets_elsewhere);
    // Worst first, then by parameter, so reports read top-down; the sort is
    // stable, keeping the node's order within a parameter.
    findings.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| a.parameter.cmp(&b.parameter))
    });
    Validation {
        style: stack.style,
        findings,
    }
}
