//! CloudWatch Embedded Metric Format: one JSON document per stack and invocation, written to
//! the function's log, which CloudWatch turns into metrics without an API call. Pure: a report
//! in, documents out.

use crate::database::DatabaseAction;
use crate::instances::InstanceAction;
use crate::outcome::Outcome;
use crate::report::{Report, StackReport};
use chainlink::Severity;
use serde_json::{json, Map, Value};

/// The namespace unless `METRICS_NAMESPACE` says otherwise.
pub const DEFAULT_NAMESPACE: &str = "ChainlinkRemediator";

/// Every metric, in the order documents list them.
pub const METRICS: &[&str] = &[
    "DriftFound",
    "ActionsPlanned",
    "ActionsApplied",
    "ActionsFailed",
    "ActionsSkipped",
    "RemediationsRefused",
    "ParameterFindingsCritical",
    "ParameterFindingsError",
    "ParameterFindingsWarning",
    "ParameterFindingsInfo",
    "ColdStart",
];

/// The EMF documents for one invocation. `stack_selector` names the dimension when the report
/// concerns no stack (an ignored event), so cold starts and rejections are still counted.
pub fn emf_documents(
    report: &Report,
    namespace: &str,
    stack_selector: &str,
    timestamp_ms: i64,
    cold_start: bool,
) -> Vec<Value> {
    let mut counts: Vec<(String, [u64; 11])> = report
        .stacks
        .iter()
        .map(|stack| (stack.stack.to_string(), stack_counts(stack)))
        .collect();
    if counts.is_empty() {
        counts.push((stack_selector.to_string(), [0; 11]));
    }
    counts[0].1[10] = u64::from(cold_start);
    counts
        .into_iter()
        .map(|(stack, values)| document(namespace, &stack, timestamp_ms, &values))
        .collect()
}

fn document(namespace: &str, stack: &str, timestamp_ms: i64, values: &[u64; 11]) -> Value {
    let definitions: Vec<Value> = METRICS
        .iter()
        .map(|name| json!({"Name": name, "Unit": "Count"}))
        .collect();
    let mut document = Map::new();
    document.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": namespace,
                "Dimensions": [["Stack"]],
                "Metrics": definitions,
            }],
        }),
    );
    document.insert("Stack".into(), json!(stack));
    for (name, value) in METRICS.iter().zip(values) {
        document.insert((*name).into(), json!(value));
    }
    Value::Object(document)
}

fn stack_counts(stack: &StackReport) -> [u64; 11] {
    let mut counts = [0u64; 11];
    let mut count = |outcome: &Outcome| {
        let index = match outcome {
            Outcome::Planned | Outcome::PendingApproval { .. } => 1,
            Outcome::Applied => 2,
            Outcome::Failed { .. } => 3,
            Outcome::Skipped { .. } => 4,
            Outcome::AlreadyConverged => return,
        };
        counts[index] += 1;
    };
    for action in &stack.security_groups.actions {
        count(&action.outcome.outcome);
    }
    let mut drift = stack.security_groups.actions.len();
    if let Some(parameters) = &stack.parameters {
        parameters
            .actions
            .iter()
            .for_each(|a| count(&a.outcome.outcome));
        drift += parameters.actions.len();
    }
    if let Some(instances) = &stack.instances {
        for step in &instances.actions {
            count(&step.outcome.outcome);
        }
        // The record is bookkeeping, not a remedy.
        drift += instances
            .actions
            .iter()
            .filter(|a| !matches!(a.action, InstanceAction::RecordRemediation { .. }))
            .count();
    }
    if let Some(database) = &stack.database {
        for step in &database.actions {
            count(&step.outcome.outcome);
        }
        drift += database
            .actions
            .iter()
            .filter(|a| !matches!(a.action, DatabaseAction::RecordRemediation { .. }))
            .count();
    }
    counts[0] = drift as u64;
    counts[5] = u64::from(stack.refused());
    if let Some(parameters) = &stack.parameters {
        for finding in &parameters.findings {
            let index = match finding.severity {
                Severity::Critical => 6,
                Severity::Error => 7,
                Severity::Warning => 8,
                Severity::Info => 9,
            };
            counts[index] += 1;
        }
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Execution;
    use crate::signal::Signal;
    use crate::stack::Mode;

    #[test]
    fn an_invocation_without_stacks_still_counts_its_cold_start() {
        let report = Report::new(
            Execution::Apply,
            Mode::Enforce,
            Signal::sweep("test"),
            Vec::new(),
            vec!["nothing".into()],
        );
        let documents = emf_documents(&report, "Ns", "demo", 1_700_000_000_000, true);
        assert_eq!(documents.len(), 1);
        let document = &documents[0];
        assert_eq!(document["Stack"], "demo");
        assert_eq!(document["ColdStart"], 1);
        assert_eq!(document["ActionsApplied"], 0);
        assert_eq!(document["_aws"]["Timestamp"], 1_700_000_000_000_i64);
        let definition = &document["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(definition["Namespace"], "Ns");
        assert_eq!(definition["Dimensions"], json!([["Stack"]]));
        assert_eq!(
            definition["Metrics"].as_array().map(Vec::len),
            Some(METRICS.len())
        );
    }
}
