//! The report's findings and unresolved drift as Security Hub findings, in the AWS Security
//! Finding Format (ASFF) that `BatchImportFindings` accepts.
//!
//! - Each validator finding (`CL-*`, of the parameters and of following the node's
//!   configuration), each rule a security-group action adds or revokes, and each exposure
//!   through a load balancer, becomes one finding.
//! - IDs are stable: a digest of the account, region, stack, kind and subject (parameter and
//!   field, group and rule, instance and port), never of a time or a position, so the next run
//!   updates the same finding instead of adding one.
//! - Open: `Compliance.Status = FAILED`, `RecordState = ACTIVE`. Repaired by this run (the
//!   action applied, or found already converged; a parameter reverted to a valid version):
//!   `PASSED` and `ARCHIVED`, as AWS documents for a finding provider, which may not change
//!   `Workflow` after a finding is created. `Workflow` is never written.
//! - `Severity` and `Types` are also sent in `FindingProviderFields`: only those can be updated
//!   by the provider once the finding exists.
//! - `CreatedAt` and `UpdatedAt` are both the run's `now`: a stateless run does not know when
//!   a finding first appeared, and Security Hub applies an update only when its `UpdatedAt` is
//!   later than the stored one, which each run's is. A finding repaired by the run that first
//!   sees it is created archived, which is harmless.
//! - Limits: `Title` 256 and `Description` 1024 (cut on a character boundary), `Id` and
//!   `GeneratorId` 512, at most 32 resources, 100 findings per call (`batches`).
//!
//! Not sent: instance remediations (operations, not security posture) and flow checks (what a
//! flow needs from the security groups already comes as the rules to add; a network ACL that
//! blocks a flow is an availability finding). A finding that disappears without this run
//! repairing it (someone fixed it by hand) is not archived here: that needs the previous
//! findings, read with `GetFindings`, and Security Hub itself archives a finding not updated
//! for 90 days.

use super::clip::clip;
use crate::ids::StackName;
use crate::outcome::Outcome;
use crate::parameters::ParameterAction;
use crate::report::{Report, StackReport};
use crate::security_groups::report::ActionReport;
use crate::security_groups::{Exposure, SecurityGroupAction};
use chainlink::{Finding, Severity};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use sha3::{Digest, Sha3_256};
use std::collections::{BTreeMap, BTreeSet};

/// The ASFF version every finding declares.
pub const SCHEMA_VERSION: &str = "2018-10-08";
/// Most findings one `BatchImportFindings` call takes.
pub const BATCH_SIZE: usize = 100;
pub const TITLE_MAX: usize = 256;
pub const DESCRIPTION_MAX: usize = 1024;
/// Most resources one finding names.
pub const RESOURCES_MAX: usize = 32;
/// The prefix of every `GeneratorId` and `Id`.
const PRODUCT: &str = "chainlink-remediator";

/// One finding, with exactly the fields this tool sets (all accepted by `BatchImportFindings`;
/// `Workflow`, `Note`, `UserDefinedFields` and `VerificationState` belong to the people who
/// handle findings and are never written).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AsffFinding {
    pub schema_version: &'static str,
    pub id: String,
    pub product_arn: String,
    pub generator_id: String,
    pub aws_account_id: String,
    pub region: String,
    pub types: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
    pub severity: AsffSeverity,
    pub finding_provider_fields: FindingProviderFields,
    pub title: String,
    pub description: String,
    pub resources: Vec<AsffResource>,
    pub compliance: Compliance,
    pub record_state: RecordState,
    pub product_fields: BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AsffSeverity {
    pub label: SeverityLabel,
    /// Our own word for it (`critical`, `error`…, or the drift's), at most 64 characters.
    pub original: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SeverityLabel {
    Informational,
    Low,
    Medium,
    High,
    Critical,
}

/// The fields a finding provider may update after creation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct FindingProviderFields {
    pub severity: AsffSeverity,
    pub types: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AsffResource {
    /// An ASFF resource type (`AwsEc2SecurityGroup`, `AwsEc2Instance`, `AwsElbv2LoadBalancer`)
    /// or `Other`, as ASFF asks for a type it has no name for (an SSM parameter).
    #[serde(rename = "Type")]
    pub kind: String,
    /// The resource's ARN where it has one.
    pub id: String,
    pub partition: String,
    pub region: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Compliance {
    pub status: ComplianceStatus,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ComplianceStatus {
    Passed,
    Failed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RecordState {
    Active,
    Archived,
}

/// Our severities on ASFF's scale: advice is informational, a probable mistake low, a value
/// the node rejects high, a stack that cannot work critical.
pub fn severity_label(severity: Severity) -> SeverityLabel {
    match severity {
        Severity::Info => SeverityLabel::Informational,
        Severity::Warning => SeverityLabel::Low,
        Severity::Error => SeverityLabel::High,
        Severity::Critical => SeverityLabel::Critical,
    }
}

/// The ASFF type of a configuration check, and of a port reachable from where it must not be.
const CONFIGURATION_CHECK: &str = "Software and Configuration Checks/AWS Security Best Practices";
const NETWORK_REACHABILITY: &str =
    "Software and Configuration Checks/AWS Security Best Practices/Network Reachability";

/// Every finding of `report`, for the account and region the run read. Two findings with the
/// same ID (the same subject reported twice) are sent once, the first.
pub fn security_hub_findings(
    report: &Report,
    account: &str,
    region: &str,
    now: DateTime<Utc>,
) -> Vec<AsffFinding> {
    let context = Context {
        account,
        region,
        partition: partition_of(region),
        now: now.to_rfc3339_opts(SecondsFormat::Millis, true),
    };
    let mut seen = BTreeSet::new();
    report
        .stacks
        .iter()
        .flat_map(|stack| stack_findings(&context, stack))
        .filter(|finding| seen.insert(finding.id.clone()))
        .collect()
}

/// `findings` in groups `BatchImportFindings` accepts.
pub fn batches(findings: &[AsffFinding]) -> impl Iterator<Item = &[AsffFinding]> {
    findings.chunks(BATCH_SIZE)
}

struct Context<'a> {
    account: &'a str,
    region: &'a str,
    partition: &'static str,
    now: String,
}

/// The partition of a region's ARNs.
fn partition_of(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else if region.starts_with("us-iso-") {
        "aws-iso"
    } else if region.starts_with("us-isob-") {
        "aws-iso-b"
    } else {
        "aws"
    }
}

/// What one finding says, before it is dressed in ASFF.
struct Draft {
    /// `CL-DB-001`, or the kind of drift (`authorize-ingress`…).
    kind: String,
    /// What, within the stack, the finding is about: with the kind, its identity.
    subject: Vec<String>,
    severity: AsffSeverity,
    types: Vec<String>,
    title: String,
    description: String,
    resources: Vec<AsffResource>,
    repaired: bool,
    fields: BTreeMap<String, String>,
}

fn stack_findings(context: &Context<'_>, stack: &StackReport) -> Vec<AsffFinding> {
    let mut drafts = Vec::new();
    if let Some(parameters) = &stack.parameters {
        for finding in &parameters.findings {
            let name = format!("{}{}", parameters.prefix, finding.parameter);
            let repaired = reverted(&parameters.actions, &name, finding);
            let resource = context.resource("Other", context.parameter_arn(&name));
            drafts.push(validator_draft(finding, &name, resource, repaired));
        }
    }
    for finding in &stack.security_groups.findings {
        let resource = context.resource("Other", format!("{}/{}", stack.stack, finding.parameter));
        drafts.push(validator_draft(
            finding,
            &finding.parameter,
            resource,
            false,
        ));
    }
    for action in &stack.security_groups.actions {
        drafts.extend(rule_drafts(context, stack, action));
    }
    for exposure in &stack.security_groups.exposures {
        drafts.push(exposure_draft(context, exposure));
    }
    drafts
        .into_iter()
        .map(|draft| context.finding(&stack.stack, draft))
        .collect()
}

impl Context<'_> {
    fn resource(&self, kind: &str, id: String) -> AsffResource {
        AsffResource {
            kind: kind.to_string(),
            id,
            partition: self.partition.to_string(),
            region: self.region.to_string(),
        }
    }

    fn parameter_arn(&self, name: &str) -> String {
        format!(
            "arn:{}:ssm:{}:{}:parameter/{}",
            self.partition,
            self.region,
            self.account,
            name.trim_start_matches('/')
        )
    }

    fn ec2_arn(&self, kind: &str, id: &str) -> String {
        format!(
            "arn:{}:ec2:{}:{}:{kind}/{id}",
            self.partition, self.region, self.account
        )
    }

    fn finding(&self, stack: &StackName, draft: Draft) -> AsffFinding {
        let mut identity = vec![
            self.account.to_string(),
            self.region.to_string(),
            stack.to_string(),
            draft.kind.clone(),
        ];
        identity.extend(draft.subject);
        let digest = Sha3_256::digest(identity.join("\n"));
        let digest: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        let mut fields = draft.fields;
        fields.insert("Stack".into(), stack.to_string());
        fields.insert("Kind".into(), draft.kind.clone());
        AsffFinding {
            schema_version: SCHEMA_VERSION,
            id: format!("{PRODUCT}/{}/{digest}", draft.kind),
            product_arn: format!(
                "arn:{}:securityhub:{}:{}:product/{}/default",
                self.partition, self.region, self.account, self.account
            ),
            generator_id: format!("{PRODUCT}/{}", draft.kind),
            aws_account_id: self.account.to_string(),
            region: self.region.to_string(),
            types: draft.types.clone(),
            created_at: self.now.clone(),
            updated_at: self.now.clone(),
            severity: draft.severity.clone(),
            finding_provider_fields: FindingProviderFields {
                severity: draft.severity,
                types: draft.types,
            },
            title: clip(&draft.title, TITLE_MAX),
            description: clip(
                &format!("Stack {stack}: {}", draft.description),
                DESCRIPTION_MAX,
            ),
            resources: draft.resources.into_iter().take(RESOURCES_MAX).collect(),
            compliance: Compliance {
                status: if draft.repaired {
                    ComplianceStatus::Passed
                } else {
                    ComplianceStatus::Failed
                },
            },
            record_state: if draft.repaired {
                RecordState::Archived
            } else {
                RecordState::Active
            },
            product_fields: fields
                .into_iter()
                .map(|(key, value)| (format!("{PRODUCT}/{key}"), clip(&value, 2048)))
                .collect(),
        }
    }
}

/// Whether this run put a valid version of `name` back, which settles the finding when the
/// revert names the finding's code (a warning on a value the revert kept stays open).
fn reverted(
    actions: &[crate::parameters::report::ParameterActionReport],
    name: &str,
    finding: &Finding,
) -> bool {
    actions.iter().any(|a| match &a.action {
        ParameterAction::RevertParameter {
            name: reverted,
            rejected_for,
            ..
        } => {
            reverted.as_str() == name
                && rejected_for.iter().any(|c| c == finding.code.as_str())
                && done(&a.outcome.outcome)
        }
        ParameterAction::LabelParameter { .. } => false,
    })
}

/// The change holds after the run.
fn done(outcome: &Outcome) -> bool {
    matches!(outcome, Outcome::Applied | Outcome::AlreadyConverged)
}

fn validator_draft(
    finding: &Finding,
    parameter: &str,
    resource: AsffResource,
    repaired: bool,
) -> Draft {
    let code = finding.code.as_str();
    let field = finding.field.as_deref();
    let at = field.map_or(String::new(), |field| format!(" ({field})"));
    let mut fields = BTreeMap::from([
        ("FindingCode".to_string(), code.to_string()),
        ("Parameter".to_string(), parameter.to_string()),
    ]);
    if let Some(field) = field {
        fields.insert("Field".into(), field.to_string());
    }
    let outcome = if repaired {
        " This run restored a valid earlier version."
    } else {
        ""
    };
    Draft {
        kind: code.to_string(),
        subject: vec![parameter.to_string(), field.unwrap_or_default().to_string()],
        severity: AsffSeverity {
            label: severity_label(finding.severity),
            original: finding.severity.to_string(),
        },
        types: vec![CONFIGURATION_CHECK.to_string()],
        title: format!("{code} {parameter}{at}: {}", finding.message),
        description: format!(
            "{code} ({}) on {parameter}{at}: {}.{outcome}",
            finding.severity, finding.message
        ),
        resources: vec![resource],
        repaired,
        fields,
    }
}

/// One finding per rule of a security-group action: a rule a required flow lacks, or a rule
/// exposing a forbidden port (or left on a port the node moved away from).
fn rule_drafts(context: &Context<'_>, stack: &StackReport, action: &ActionReport) -> Vec<Draft> {
    let group = action.action.group();
    let label = stack.security_groups.label(group.as_str());
    let outcome = &action.outcome.outcome;
    let repaired = done(outcome);
    let resource = || {
        context.resource(
            "AwsEc2SecurityGroup",
            context.ec2_arn("security-group", group.as_str()),
        )
    };
    let status = format!("Outcome of this run: {outcome}.");
    let base_fields = |rule: String| {
        BTreeMap::from([
            ("SecurityGroup".to_string(), group.to_string()),
            ("Rule".to_string(), rule),
            ("Outcome".to_string(), outcome.to_string()),
        ])
    };
    match &action.action {
        SecurityGroupAction::AuthorizeIngress { rules, .. } => rules
            .iter()
            .map(|required| Draft {
                kind: "authorize-ingress".into(),
                subject: vec![group.to_string(), required.rule.to_string()],
                severity: AsffSeverity {
                    label: SeverityLabel::Medium,
                    original: "missing-rule".into(),
                },
                types: vec![CONFIGURATION_CHECK.to_string()],
                title: format!(
                    "{label} lacks ingress {} for flow {}",
                    required.rule,
                    required.flows.join(", ")
                ),
                description: format!(
                    "Security group {label} lacks the ingress rule {} that flow {} of the stack file needs. {status}",
                    required.rule,
                    required.flows.join(", ")
                ),
                resources: vec![resource()],
                repaired,
                fields: base_fields(required.rule.to_string()),
            })
            .collect(),
        SecurityGroupAction::RevokeIngress { rules, .. } => rules
            .iter()
            .map(|exposing| {
                let why = match &exposing.moved {
                    Some(moved) => moved.clone(),
                    None => format!(
                        "exposes forbidden port(s) {}",
                        exposing
                            .exposes
                            .iter()
                            .map(|p| p.to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                };
                let (label_of, original, types) = if exposing.moved.is_some() {
                    (SeverityLabel::Low, "stale-rule", CONFIGURATION_CHECK)
                } else {
                    (SeverityLabel::High, "forbidden-exposure", NETWORK_REACHABILITY)
                };
                Draft {
                    kind: "revoke-ingress".into(),
                    subject: vec![group.to_string(), exposing.rule.to_string()],
                    severity: AsffSeverity {
                        label: label_of,
                        original: original.into(),
                    },
                    types: vec![types.to_string()],
                    title: format!("{label} ingress {}: {why}", exposing.rule),
                    description: format!(
                        "Security group {label} has the ingress rule {}, which {why}. {status}",
                        exposing.rule
                    ),
                    resources: vec![resource()],
                    repaired,
                    fields: base_fields(exposing.rule.to_string()),
                }
            })
            .collect(),
    }
}

/// A forbidden port the world reaches through a load balancer: reported, never changed, so
/// always open.
fn exposure_draft(context: &Context<'_>, exposure: &Exposure) -> Draft {
    let instance = exposure.instance.as_str();
    let mut resources = vec![
        context.resource("AwsEc2Instance", context.ec2_arn("instance", instance)),
        context.resource(
            "AwsElbv2LoadBalancer",
            exposure.load_balancer_arn.as_str().to_string(),
        ),
        context.resource(
            "AwsEc2SecurityGroup",
            context.ec2_arn("security-group", exposure.admitted_by.id.as_str()),
        ),
    ];
    if let Some((group, _)) = &exposure.instance_rule {
        resources.push(context.resource(
            "AwsEc2SecurityGroup",
            context.ec2_arn("security-group", group.id.as_str()),
        ));
    }
    Draft {
        kind: "load-balancer-exposure".into(),
        subject: vec![
            instance.to_string(),
            exposure.port.to_string(),
            exposure.load_balancer_arn.as_str().to_string(),
            exposure.listener.clone(),
        ],
        severity: AsffSeverity {
            label: SeverityLabel::High,
            original: "forbidden-exposure".into(),
        },
        types: vec![NETWORK_REACHABILITY.to_string()],
        title: format!(
            "{instance}:{} reachable from the world through load balancer {}",
            exposure.port, exposure.load_balancer
        ),
        description: format!(
            "{exposure}. Reported, not changed: the load balancer belongs to whoever deployed it."
        ),
        resources,
        repaired: false,
        fields: BTreeMap::from([
            ("Instance".to_string(), instance.to_string()),
            ("Port".to_string(), exposure.port.to_string()),
            ("LoadBalancer".to_string(), exposure.load_balancer.clone()),
            ("Listener".to_string(), exposure.listener.clone()),
        ]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_severity_has_its_label() {
        let table = [
            (Severity::Info, "INFORMATIONAL"),
            (Severity::Warning, "LOW"),
            (Severity::Error, "HIGH"),
            (Severity::Critical, "CRITICAL"),
        ];
        for (severity, label) in table {
            assert_eq!(
                serde_json::to_value(severity_label(severity)).ok(),
                Some(serde_json::Value::from(label))
            );
        }
    }

    #[test]
    fn arns_follow_the_regions_partition() {
        assert_eq!(partition_of("eu-west-1"), "aws");
        assert_eq!(partition_of("cn-north-1"), "aws-cn");
        assert_eq!(partition_of("us-gov-west-1"), "aws-us-gov");
    }
}
