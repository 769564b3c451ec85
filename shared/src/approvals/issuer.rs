//! What signs and checks approval tokens: the stack's key, from its SSM SecureString, and the
//! account and region a run acts in. The key is held only in memory and never printed.

use domain::approvals::MIN_KEY_BYTES;
use std::fmt;

/// What signs and checks tokens: the key and where the run acts.
pub struct Issuer {
    pub(crate) key: SigningKey,
    account: String,
    region: String,
}

impl Issuer {
    pub fn new(key: SigningKey, account: String, region: String) -> Self {
        Self {
            key,
            account,
            region,
        }
    }

    pub fn account(&self) -> &str {
        &self.account
    }

    pub fn region(&self) -> &str {
        &self.region
    }
}

impl fmt::Debug for Issuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Issuer")
            .field("key", &self.key)
            .field("account", &self.account)
            .field("region", &self.region)
            .finish()
    }
}

/// The key's bytes: never printed, never in a report.
pub struct SigningKey(Vec<u8>);

impl SigningKey {
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// The stack's approval key, from its SecureString `name`: `Err` says why it cannot sign.
pub async fn signing_key(ssm: &aws_sdk_ssm::Client, name: &str) -> Result<SigningKey, String> {
    let key = ssm
        .get_parameter()
        .name(name)
        .with_decryption(true)
        .send()
        .await;
    let key = key.map_err(|e| {
        format!(
            "the approval key {name} could not be read: {}",
            crate::aws::sdk_error("GetParameter", e)
        )
    })?;
    let key = key
        .parameter()
        .and_then(|p| p.value())
        .map(|value| SigningKey(value.as_bytes().to_vec()))
        .ok_or_else(|| format!("the approval key {name} has no value"))?;
    if key.0.len() < MIN_KEY_BYTES {
        return Err(format!(
            "the approval key {name} is shorter than {MIN_KEY_BYTES} bytes: a short key can be guessed"
        ));
    }
    Ok(key)
}

/// The account the credentials act in (`GetCallerIdentity`, which needs no permission).
pub async fn account(sts: &aws_sdk_sts::Client) -> Result<String, String> {
    sts.get_caller_identity()
        .send()
        .await
        .map_err(|e| crate::aws::sdk_error("GetCallerIdentity", e).to_string())?
        .account()
        .map(str::to_string)
        .ok_or_else(|| "GetCallerIdentity named no account".to_string())
}
