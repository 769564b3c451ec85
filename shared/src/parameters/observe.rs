//! SSM reads: every parameter under a prefix (decrypted, in memory only), which version carries
//! the last-known-good label, when an Expiration policy deletes it, and, for suspects only,
//! earlier versions with their types and KMS keys.

use aws_sdk_ssm::types::{ParameterStringFilter, ParameterType};
use aws_sdk_ssm::Client;
use chainlink::SecretValue;
use domain::ids::{KmsKeyRef, ParameterName};
use domain::parameters::{expiration_of, ObservedParameter, ParameterKind, ParameterVersion};
use domain::Error;
use std::collections::BTreeMap;

/// GetParametersByPath returns at most 10 per page; GetParameters takes at most 10 names.
const SSM_PAGE: i32 = 10;
const HISTORY_PAGE: i32 = 50;
/// DescribeParameters returns at most 50 per page.
const DESCRIBE_PAGE: i32 = 50;

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
    let mut parameters = read_under_prefix(ssm, prefix, true).await?;
    let labeled = labeled_values(ssm, &parameters, label, false).await?;
    let expiring = if parameters.is_empty() {
        BTreeMap::new()
    } else {
        expirations(ssm, prefix).await?
    };
    for parameter in &mut parameters {
        parameter.labeled_version = labeled.get(&parameter.name).map(|(version, _)| *version);
        parameter.expires_at = expiring.get(parameter.name.as_str()).cloned();
    }
    Ok(parameters)
}

/// The current version of every parameter under `prefix`, sorted by name. Without `decrypt`,
/// a SecureString's value is its ciphertext: the caller must not read it.
pub async fn read_under_prefix(
    ssm: &Client,
    prefix: &str,
    decrypt: bool,
) -> Result<Vec<ObservedParameter>, Error> {
    let mut pages = ssm
        .get_parameters_by_path()
        .path(prefix.trim_end_matches('/'))
        .recursive(true)
        .with_decryption(decrypt)
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
                expires_at: None,
            });
        }
    }
    parameters.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(parameters)
}

/// Name → the version carrying `label` and its value, asked with `name:label` selectors, ten
/// names a call. Without `decrypt`, a SecureString's value is its ciphertext.
pub async fn labeled_values(
    ssm: &Client,
    parameters: &[ObservedParameter],
    label: &str,
    decrypt: bool,
) -> Result<BTreeMap<ParameterName, (i64, SecretValue)>, Error> {
    let mut labeled = BTreeMap::new();
    for chunk in parameters.chunks(SSM_PAGE as usize) {
        let selectors = chunk
            .iter()
            .map(|p| format!("{}:{label}", p.name))
            .collect();
        let found = ssm
            .get_parameters()
            .set_names(Some(selectors))
            .with_decryption(decrypt)
            .send()
            .await
            .map_err(|e| crate::aws::sdk_error("GetParameters", e))?;
        for parameter in found.parameters() {
            if let (Some(name), Some(value)) = (parameter.name(), parameter.value()) {
                labeled.insert(
                    ParameterName::new(name),
                    (parameter.version(), SecretValue::new(value)),
                );
            }
        }
    }
    Ok(labeled)
}

/// Name → when its Expiration policy deletes it, for the parameters under `prefix` that have
/// one. Only `DescribeParameters` returns policies (no value is read here); events about them
/// are hints, so every run reads them.
async fn expirations(ssm: &Client, prefix: &str) -> Result<BTreeMap<String, String>, Error> {
    let under_prefix = ParameterStringFilter::builder()
        .key("Path")
        .option("Recursive")
        .values(prefix.trim_end_matches('/'))
        .build()
        .map_err(|e| Error::NotCarriedOut {
            operation: "DescribeParameters",
            message: e.to_string(),
        })?;
    let mut pages = ssm
        .describe_parameters()
        .parameter_filters(under_prefix)
        .max_results(DESCRIBE_PAGE)
        .into_paginator()
        .send();
    let mut expiring = BTreeMap::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| crate::aws::sdk_error("DescribeParameters", e))?;
        for parameter in page.parameters() {
            let Some(name) = parameter.name() else {
                continue;
            };
            let at = parameter
                .policies()
                .iter()
                .find_map(|p| expiration_of(p.policy_type(), p.policy_text()));
            if let Some(at) = at {
                expiring.insert(name.to_string(), at);
            }
        }
    }
    Ok(expiring)
}

/// Earlier versions of `name`, newest first, decrypted in memory, each with the type and KMS
/// key it was written with (a restore keeps them).
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
                let kind = kind_from_sdk(entry.r#type());
                versions.push(ParameterVersion {
                    version: entry.version(),
                    value: SecretValue::new(value),
                    kind,
                    kms_key: entry
                        .key_id()
                        .filter(|_| kind == ParameterKind::SecureString)
                        .map(KmsKeyRef::new),
                });
            }
        }
    }
    versions.sort_by_key(|v| std::cmp::Reverse(v.version));
    Ok(versions)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ssm::config::{BehaviorVersion, Credentials, Region};
    use aws_smithy_http_client::test_util::infallible_client_fn;
    use aws_smithy_types::body::SdkBody;

    /// An SSM client whose every call is answered with `body`.
    fn ssm_answering(body: &'static str) -> Client {
        let http = infallible_client_fn(move |_request| {
            http::Response::builder()
                .status(200)
                .header("content-type", "application/x-amz-json-1.1")
                .body(SdkBody::from(body))
                .unwrap_or_else(|e| panic!("{e}"))
        });
        let config = aws_sdk_ssm::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
            .http_client(http)
            .build();
        Client::from_conf(config)
    }

    /// DescribeParameters as Parameter Store answers it: each policy's text is a JSON string.
    const DESCRIBED: &str = r#"{"Parameters":[
        {"Name":"/chainlink/demo/DATABASE_URL","Type":"SecureString","KeyId":"alias/aws/ssm",
         "LastModifiedDate":1.7636302E9,"Version":3,"Tier":"Advanced","DataType":"text",
         "Policies":[
            {"PolicyText":"{\"Type\":\"ExpirationNotification\",\"Version\":\"1.0\",\"Attributes\":{\"Before\":\"15\",\"Unit\":\"Days\"}}",
             "PolicyType":"ExpirationNotification","PolicyStatus":"Pending"},
            {"PolicyText":"{\"Type\":\"Expiration\",\"Version\":\"1.0\",\"Attributes\":{\"Timestamp\":\"2026-12-05T11:00:00.000Z\"}}",
             "PolicyType":"Expiration","PolicyStatus":"Pending"}]},
        {"Name":"/chainlink/demo/ETH_URL","Type":"String","LastModifiedDate":1.7636302E9,
         "Version":1,"Tier":"Standard","DataType":"text","Policies":[]}]}"#;

    /// moto 5.2.1 stores policies but answers each one's `PolicyText` and `PolicyType` with the
    /// policy as a JSON object (and `PolicyStatus` always `Finished`).
    const DESCRIBED_BY_MOTO: &str = r#"{"Parameters":[
        {"Name":"/chainlink/demo/DATABASE_URL","Type":"SecureString","Version":1,"Tier":"Advanced",
         "Policies":[{"PolicyText":{"Type":"Expiration","Version":"1.0","Attributes":{"Timestamp":"2026-12-05T11:00:00.000Z"}},
                      "PolicyType":{"Type":"Expiration","Version":"1.0","Attributes":{"Timestamp":"2026-12-05T11:00:00.000Z"}},
                      "PolicyStatus":"Finished"}]}]}"#;

    #[tokio::test]
    async fn an_expiration_policy_is_read_from_the_parameters_description() {
        let found = expirations(&ssm_answering(DESCRIBED), "/chainlink/demo/")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            found,
            BTreeMap::from([(
                "/chainlink/demo/DATABASE_URL".to_string(),
                "2026-12-05T11:00:00.000Z".to_string()
            )])
        );
    }

    /// Why the policy read is proven here and not against the emulator: the SDK refuses moto's
    /// answer, as it would refuse AWS's if AWS ever answered so.
    #[tokio::test]
    async fn the_emulators_policy_shape_is_not_parameter_stores() {
        let read = expirations(&ssm_answering(DESCRIBED_BY_MOTO), "/chainlink/demo/").await;
        assert!(read.is_err(), "{read:?}");
    }
}
