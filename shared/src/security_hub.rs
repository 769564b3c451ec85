//! The functions' findings in Security Hub, opt-in per deployment (`SECURITY_HUB_ACCOUNT_ID`,
//! set by the templates' `SecurityHubFindings`): after each run, the report's findings and
//! unresolved drift (`domain::outputs::security_hub_findings`, stable IDs) go to the account's
//! default product with `BatchImportFindings`, 100 at a time. A repaired finding is sent once
//! more, `PASSED` and `ARCHIVED`. Like the report topic, a failed import is logged and never
//! fails the invocation: the repair is done and in the log.

use aws_sdk_securityhub::types::{
    AwsSecurityFinding, Compliance, ComplianceStatus, FindingProviderFields,
    FindingProviderSeverity, Partition, RecordState, Resource, Severity, SeverityLabel,
};
use domain::outputs::security_hub::{self as asff, AsffFinding};
use domain::outputs::{batches, security_hub_findings};
use domain::report::Report;

/// Where a function's findings go.
#[derive(Debug, Clone)]
pub struct SecurityHub {
    client: aws_sdk_securityhub::Client,
    account: String,
    region: String,
}

impl SecurityHub {
    pub fn new(config: &aws_config::SdkConfig, account: impl Into<String>) -> Self {
        Self {
            client: aws_sdk_securityhub::Client::new(config),
            account: account.into(),
            region: config.region().map(ToString::to_string).unwrap_or_default(),
        }
    }

    /// Imports the findings of `report`; logs what Security Hub refused.
    pub async fn import(&self, report: &Report) {
        let findings =
            security_hub_findings(report, &self.account, &self.region, chrono::Utc::now());
        for batch in batches(&findings) {
            let sent = self
                .client
                .batch_import_findings()
                .set_findings(Some(batch.iter().map(to_sdk).collect()))
                .send()
                .await;
            match sent {
                Ok(answer) => {
                    for refused in answer.failed_findings() {
                        tracing::error!(
                            finding = refused.id().unwrap_or_default(),
                            code = refused.error_code().unwrap_or_default(),
                            message = refused.error_message().unwrap_or_default(),
                            "Security Hub refused a finding"
                        );
                    }
                }
                Err(e) => {
                    let error = crate::aws::sdk_error("BatchImportFindings", e);
                    tracing::error!(error = %error, "the findings could not be imported into Security Hub");
                }
            }
        }
    }
}

fn label(label: asff::SeverityLabel) -> SeverityLabel {
    match label {
        asff::SeverityLabel::Informational => SeverityLabel::Informational,
        asff::SeverityLabel::Low => SeverityLabel::Low,
        asff::SeverityLabel::Medium => SeverityLabel::Medium,
        asff::SeverityLabel::High => SeverityLabel::High,
        asff::SeverityLabel::Critical => SeverityLabel::Critical,
    }
}

/// The SDK's form of a finding, field for field.
fn to_sdk(finding: &AsffFinding) -> AwsSecurityFinding {
    let provider = &finding.finding_provider_fields;
    let mut built = AwsSecurityFinding::builder()
        .schema_version(finding.schema_version)
        .id(&finding.id)
        .product_arn(&finding.product_arn)
        .generator_id(&finding.generator_id)
        .aws_account_id(&finding.aws_account_id)
        .region(&finding.region)
        .set_types(Some(finding.types.clone()))
        .created_at(&finding.created_at)
        .updated_at(&finding.updated_at)
        .severity(
            Severity::builder()
                .label(label(finding.severity.label))
                .original(&finding.severity.original)
                .build(),
        )
        .finding_provider_fields(
            FindingProviderFields::builder()
                .severity(
                    FindingProviderSeverity::builder()
                        .label(label(provider.severity.label))
                        .original(&provider.severity.original)
                        .build(),
                )
                .set_types(Some(provider.types.clone()))
                .build(),
        )
        .title(&finding.title)
        .description(&finding.description)
        .compliance(
            Compliance::builder()
                .status(match finding.compliance.status {
                    asff::ComplianceStatus::Passed => ComplianceStatus::Passed,
                    asff::ComplianceStatus::Failed => ComplianceStatus::Failed,
                })
                .build(),
        )
        .record_state(match finding.record_state {
            asff::RecordState::Active => RecordState::Active,
            asff::RecordState::Archived => RecordState::Archived,
        });
    for resource in &finding.resources {
        built = built.resources(
            Resource::builder()
                .r#type(&resource.kind)
                .id(&resource.id)
                .partition(Partition::from(resource.partition.as_str()))
                .region(&resource.region)
                .build(),
        );
    }
    for (key, value) in &finding.product_fields {
        built = built.product_fields(key, value);
    }
    built.build()
}
