//! SSM reads: every parameter under a prefix (decrypted, in memory only), which version carries
//! the last-known-good label, and, for suspects only, earlier versions.

use aws_sdk_ssm::types::ParameterType;
use aws_sdk_ssm::Client;
use chainlink::SecretValue;
use domain::ids::ParameterName;
use domain::parameters::{ObservedParameter, ParameterKind, ParameterVersion};
use domain::Error;
use std::collections::BTreeMap;

/// GetParametersByPath returns at most 10 per page; GetParameters takes at most 10 names.
const SSM_PAGE: i32 = 10;
const HISTORY_PAGE: i32 = 50;

fn kind_from_sdk(kind: Option<&ParameterType>) -> ParameterKind {
    match kind {
        Some(ParameterType::SecureString) => ParameterKind::SecureString,
        Some(ParameterType::StringList) => ParameterKind::StringList,
        _ => ParameterKind::String,
    }
}

/// The parameters under `prefix`, each with the version its label `label` points at.
pub async fn observe_parameters(
    ssm: &Client,
    prefix: &str,
    label: &str,
) -> Result<Vec<ObservedParameter>, Error> {
    let mut pages = ssm
        .get_parameters_by_path()
        .path(prefix.trim_end_matches('/'))
        .recursive(true)
        .with_decryption(true)
        .max_results(SSM_PAGE)
        .into_paginator()
        .send();
    let mut parameters = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| crate::aws::sdk_error("GetParametersByPath", e))?;
        for parameter in page.parameters() {
            let (Some(name), Some(value)) = (parameter.name(), parameter.value()) else {
                continue;
            };
            parameters.push(ObservedParameter {
                name: ParameterName::new(name),
                key: name.strip_prefix(prefix).unwrap_or(name).to_string(),
                kind: kind_from_sdk(parameter.r#type()),
                version: parameter.version(),
                value: SecretValue::new(value),
                labeled_version: None,
            });
        }
    }
    let labeled = labeled_versions(ssm, &parameters, label).await?;
    for parameter in &mut parameters {
        parameter.labeled_version = labeled.get(parameter.name.as_str()).copied();
    }
    parameters.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(parameters)
}

/// Name → version carrying `label`, asked with `name:label` selectors, ten names a call.
async fn labeled_versions(
    ssm: &Client,
    parameters: &[ObservedParameter],
    label: &str,
) -> Result<BTreeMap<String, i64>, Error> {
    let mut labeled = BTreeMap::new();
    for chunk in parameters.chunks(SSM_PAGE as usize) {
        let selectors = chunk
            .iter()
            .map(|p| format!("{}:{label}", p.name))
            .collect();
        let found = ssm
            .get_parameters()
            .set_names(Some(selectors))
            .with_decryption(false)
            .send()
            .await
            .map_err(|e| crate::aws::sdk_error("GetParameters", e))?;
        for parameter in found.parameters() {
            if let Some(name) = parameter.name() {
                labeled.insert(name.to_string(), parameter.version());
            }
        }
    }
    Ok(labeled)
}

/// Earlier versions of `name`, newest first, decrypted in memory.
pub async fn observe_history(ssm: &Client, name: &str) -> Result<Vec<ParameterVersion>, Error> {
    let mut pages = ssm
        .get_parameter_history()
        .name(name)
        .with_decryption(true)
        .max_results(HISTORY_PAGE)
        .into_paginator()
        .send();
    let mut versions = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| crate::aws::sdk_error("GetParameterHistory", e))?;
        for entry in page.parameters() {
            if let Some(value) = entry.value() {
                versions.push(ParameterVersion {
                    version: entry.version(),
                    value: SecretValue::new(value),
                });
            }
        }
    }
    versions.sort_by_key(|v| std::cmp::Reverse(v.version));
    Ok(versions)
}
