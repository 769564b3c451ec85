//! Reports and metrics as people and CloudWatch read them, built from observed stacks.

use domain::error::Error;
use domain::metrics::{emf_documents, DEFAULT_NAMESPACE};
use domain::outcome::Outcome;
use domain::report::{ActionReport, Execution, ParameterReport, Report, StackReport, Status};
use domain::security_groups::{RequiredRule, SecurityGroupAction};
use domain::signal::Signal;
use domain::stack::Mode;
use test_support::{group, stack, tcp};

fn throttled(retryable: bool) -> Error {
    Error::Aws {
        operation: "GetParametersByPath",
        code: if retryable {
            "ThrottlingException"
        } else {
            "AccessDeniedException"
        }
        .into(),
        message: "no".into(),
        retryable,
    }
}

/// A stack whose security-group repair was applied and whose parameters could not be read.
fn half_done(retryable: bool) -> Report {
    let observed = stack("demo", vec![group("sg-db", "db")]);
    let mut report = StackReport::parameters_only(
        observed.name.clone(),
        ParameterReport::unreadable("/chainlink/demo/".into(), throttled(retryable)),
    );
    report.security_groups.actions.push(ActionReport {
        action: SecurityGroupAction::AuthorizeIngress {
            group: observed.groups[0].id.clone(),
            rules: vec![RequiredRule {
                rule: tcp(5432).from("sg-node"),
                flows: vec!["node-db".into()],
            }],
        },
        outcome: Outcome::Applied.into(),
    });
    Report::new(
        Execution::Apply,
        Mode::Enforce,
        Signal::sweep("test"),
        vec![report],
        Vec::new(),
    )
}

#[test]
fn a_failed_read_after_applied_changes_is_reported_with_them() {
    let report = half_done(false);
    assert_eq!(report.status, Status::Failed);
    assert_eq!(report.status.exit_code(), 1);
    let text = report.to_string();
    assert!(
        text.contains("→ applied"),
        "the applied change stays visible: {text}"
    );
    assert!(
        text.contains("FAILED to read them: GetParametersByPath failed"),
        "{text}"
    );
    assert!(report.to_json().contains("\"AccessDeniedException\""));
    assert_eq!(
        report.retryable_failure(),
        None,
        "access denied: retrying cannot help"
    );
}

#[test]
fn throttling_anywhere_makes_the_invocation_retryable() {
    let report = half_done(true);
    assert_eq!(
        report.retryable_failure().map(|e| e.code()),
        Some("ThrottlingException")
    );
}

#[test]
fn each_stack_gets_its_own_document_and_outcomes_are_counted() {
    let observed = stack("demo", vec![group("sg-db", "db")]);
    let action = SecurityGroupAction::AuthorizeIngress {
        group: observed.groups[0].id.clone(),
        rules: vec![RequiredRule {
            rule: tcp(5432).from("sg-node"),
            flows: vec!["node-db".into()],
        }],
    };
    let mut applied = StackReport::parameters_only(
        observed.name.clone(),
        ParameterReport::unreadable(
            "/chainlink/demo/".into(),
            Error::Aws {
                operation: "GetParametersByPath",
                code: "AccessDenied".into(),
                message: "no".into(),
                retryable: false,
            },
        ),
    );
    applied.parameters = None;
    applied.security_groups.actions = vec![
        ActionReport {
            action: action.clone(),
            outcome: Outcome::Applied.into(),
        },
        ActionReport {
            action,
            outcome: Outcome::Failed {
                error: Error::Aws {
                    operation: "AuthorizeSecurityGroupIngress",
                    code: "RequestLimitExceeded".into(),
                    message: "slow down".into(),
                    retryable: true,
                },
            }
            .into(),
        },
    ];
    let mut other = applied.clone();
    other.stack = domain::ids::StackName::new("other");
    other.security_groups.actions.truncate(1);
    let report = Report::new(
        Execution::Apply,
        Mode::Enforce,
        Signal::sweep("test"),
        vec![applied, other],
        Vec::new(),
    );
    let documents = emf_documents(&report, DEFAULT_NAMESPACE, "*", 0, false);
    assert_eq!(documents.len(), 2);
    assert_eq!(documents[0]["Stack"], "demo");
    assert_eq!(documents[0]["DriftFound"], 2);
    assert_eq!(documents[0]["ActionsApplied"], 1);
    assert_eq!(documents[0]["ActionsFailed"], 1);
    assert_eq!(documents[1]["Stack"], "other");
    assert_eq!(documents[1]["ActionsFailed"], 0);
    assert_eq!(documents[0]["ColdStart"], 0);
}

#[test]
fn a_refusal_summary_names_its_real_cause() {
    let mut refused = StackReport::parameters_only(
        domain::ids::StackName::new("demo"),
        ParameterReport::unreadable("/chainlink/demo/".into(), throttled(false)),
    );
    refused.parameters = None;
    refused.security_groups.refusal =
        Some("the plan changes 12 rules, over the stack file's limit of 10".into());
    let report = Report::new(
        Execution::Apply,
        Mode::Enforce,
        Signal::sweep("test"),
        vec![refused],
        Vec::new(),
    );
    assert_eq!(report.status, Status::Refused);
    let text = report.to_string();
    assert!(
        text.contains(
            "result: refused: demo: the plan changes 12 rules, over the stack file's limit of 10; nothing was applied"
        ),
        "{text}"
    );
}

/// A stack whose parameters are valid but carry a finding no rollback fixes: the summary says so,
/// and does not claim that no earlier valid values exist.
#[test]
fn an_invalid_summary_names_each_stacks_real_cause() {
    use chainlink::{Finding, FindingCode};
    use domain::ids::StackName;
    let mut expiring = ParameterReport::unreadable("/chainlink/demo/".into(), throttled(false));
    expiring.error = None;
    expiring.valid = true;
    expiring.findings.push(Finding::new(
        FindingCode::ParameterExpires,
        "DATABASE_URL",
        "an Expiration policy will delete it",
    ));
    let mut broken = ParameterReport::unreadable("/chainlink/prod/".into(), throttled(false));
    broken.error = None;
    let report = Report::new(
        Execution::Apply,
        Mode::Enforce,
        Signal::sweep("test"),
        vec![
            StackReport::parameters_only(StackName::new("demo"), expiring),
            StackReport::parameters_only(StackName::new("prod"), broken),
        ],
        Vec::new(),
    );
    assert_eq!(report.status, Status::Invalid);
    let text = report.to_string();
    assert!(
        text.contains(
            "demo: the values are valid, but 1 finding(s) above are not a rollback's to fix"
        ),
        "{text}"
    );
    assert!(
        text.contains("prod: the parameters are invalid and no earlier valid values exist"),
        "{text}"
    );
}

/// A rollback refused for its KMS key is not "no earlier valid values": the summary says which.
#[test]
fn a_rollback_refused_for_its_key_says_so_in_the_summary() {
    use chainlink::{Finding, FindingCode};
    let mut refused = ParameterReport::unreadable("/chainlink/demo/".into(), throttled(false));
    refused.error = None;
    refused.findings.push(Finding::new(
        FindingCode::RestoreKeyNotDeclared,
        "DATABASE_URL",
        "version 1 is under another key",
    ));
    let report = Report::new(
        Execution::Apply,
        Mode::Enforce,
        Signal::sweep("test"),
        vec![StackReport::parameters_only(
            domain::ids::StackName::new("demo"),
            refused,
        )],
        Vec::new(),
    );
    assert_eq!(report.status, Status::Invalid);
    let text = report.to_string();
    assert!(
        text.contains("demo: the parameters are invalid and their rollback was refused: the valid earlier value is under a KMS key the stack does not declare"),
        "{text}"
    );
    assert!(!text.contains("no earlier valid values exist"), "{text}");
}

#[test]
fn a_report_names_its_command_and_shows_the_warnings_first() {
    let warning = domain::stack::Problem {
        field: "roles.bastion".into(),
        message: "no flow, forbidden entry or exception names this role".into(),
    };
    let report = half_done(false)
        .with_command("handle")
        .with_warnings(std::slice::from_ref(&warning));
    let text = report.to_string();
    let mut lines = text.lines();
    assert!(
        lines
            .next()
            .is_some_and(|l| l.starts_with("chainlink-remediator handle · mode enforce")),
        "{text}"
    );
    assert_eq!(
        lines.next(),
        Some("  warning: stack file roles.bastion: no flow, forbidden entry or exception names this role")
    );
    let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap_or_default();
    assert_eq!(json["command"], "handle");
    assert_eq!(json["warnings"][0]["field"], "roles.bastion");
}

#[test]
fn bad_input_is_one_rejected_report_with_its_error() {
    let report = Report::bad_input(
        Execution::Plan,
        domain::report::RunError::bad_input("StackFile", "cannot read stack file x.toml"),
    );
    assert_eq!(report.status, Status::Rejected);
    assert_eq!(report.status.exit_code(), 2);
    let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap_or_default();
    assert_eq!(json["error"]["code"], "StackFile");
    assert_eq!(json["error"]["retryable"], false);
    assert!(json.get("mode").is_none(), "no stack file, no mode: {json}");
    assert!(report.to_string().contains("cannot read stack file x.toml"));
}

#[test]
fn a_retry_without_an_alarm_remediation_redoes_what_is_still_needed() {
    assert!(half_done(true)
        .retry_note()
        .contains("the retry re-reads the stacks and does what is still needed"));
}
