//! SSM writes: put an earlier value back as a new version and label it, or label a valid
//! version. Each step re-checks its precondition, so a duplicate or stale event converges.
//! A restore is written with the type and KMS key the plan names (the restored version's),
//! always given explicitly: left out, Parameter Store would pick a key the plan did not show.
//! A restore only overwrites: it writes a name the plan read in this run, and only while that
//! name still exists at the version judged, so it can never create a parameter.

use aws_sdk_ssm::types::ParameterType;
use aws_sdk_ssm::Client;
use domain::ids::KmsKeyRef;
use domain::outcome::{ActionOutcome, Outcome};
use domain::parameters::ParameterAction;
use domain::Error;

pub async fn apply_parameter_actions(
    ssm: &Client,
    actions: &[ParameterAction],
) -> Vec<ActionOutcome> {
    let mut outcomes = Vec::with_capacity(actions.len());
    for action in actions {
        let outcome = match action {
            ParameterAction::LabelParameter {
                name,
                version,
                label,
            } => match label_version(ssm, name.as_str(), *version, label).await {
                Ok(()) => Outcome::Applied,
                Err(error) => Outcome::Failed { error },
            },
            ParameterAction::RevertParameter {
                name,
                parameter_type,
                kms_key,
                from_version,
                label,
                value,
                ..
            } => {
                revert(
                    ssm,
                    name.as_str(),
                    parameter_type.as_aws(),
                    kms_key.as_ref(),
                    *from_version,
                    label,
                    value.expose(),
                )
                .await
            }
        };
        tracing::info!(action = action.kind(), target = action.name(), outcome = %outcome, "action executed");
        outcomes.push(ActionOutcome::from(outcome));
    }
    outcomes
}

async fn revert(
    ssm: &Client,
    name: &str,
    kind: &str,
    kms_key: Option<&KmsKeyRef>,
    from_version: i64,
    label: &str,
    value: &str,
) -> Outcome {
    // Only the version the plan rejected is replaced: a newer change is someone else's to judge.
    let current = match ssm
        .get_parameter()
        .name(name)
        .with_decryption(false)
        .send()
        .await
    {
        Ok(found) => found.parameter().map(|p| p.version()),
        // Gone since it was read: writing now would create it, and a restore never creates a
        // parameter (the templates' tag condition refuses that too; the CLI may have no such
        // policy).
        Err(e)
            if e.as_service_error()
                .is_some_and(|service| service.is_parameter_not_found()) =>
        {
            return Outcome::Skipped {
                reason: format!(
                    "{name} no longer exists (planned from version {from_version}): a restore never creates a parameter"
                ),
            }
        }
        Err(e) => {
            return Outcome::Failed {
                error: crate::aws::sdk_error("GetParameter", e),
            }
        }
    };
    if current != Some(from_version) {
        return Outcome::Skipped {
            reason: format!(
                "{name} changed since it was read (version {}, planned from {from_version}): it will be judged on its own event",
                current.map_or_else(|| "none".to_string(), |v| v.to_string())
            ),
        };
    }
    let put = ssm
        .put_parameter()
        .name(name)
        .value(value)
        .r#type(ParameterType::from(kind))
        .set_key_id(kms_key.map(|key| key.as_str().to_string()))
        .overwrite(true)
        .send()
        .await;
    let version = match put {
        Ok(output) => output.version(),
        Err(e) => {
            return Outcome::Failed {
                error: crate::aws::sdk_error("PutParameter", e),
            }
        }
    };
    match label_version(ssm, name, version, label).await {
        Ok(()) => Outcome::Applied,
        Err(error) => Outcome::Failed { error },
    }
}

async fn label_version(ssm: &Client, name: &str, version: i64, label: &str) -> Result<(), Error> {
    let output = ssm
        .label_parameter_version()
        .name(name)
        .parameter_version(version)
        .labels(label)
        .send()
        .await
        .map_err(|e| crate::aws::sdk_error("LabelParameterVersion", e))?;
    if output.invalid_labels().is_empty() {
        Ok(())
    } else {
        Err(Error::NotCarriedOut {
            operation: "LabelParameterVersion",
            message: format!("Parameter Store refused the label {label:?}"),
        })
    }
}
