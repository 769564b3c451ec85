//! `[parameters.external]`: the node's secrets that live outside Parameter Store (a password
//! file its start script writes, a Secrets Manager secret its entrypoint fetches), by the name
//! the parameter would have. The checks stop calling them missing; a Secrets Manager secret is
//! checked to exist on every run, never read.

use super::raw::RawSecretPlace;
use super::Problems;
use chainlink::{PlaceState, SecretElsewhere, SecretPlace, SECRETS_KEPT_ELSEWHERE};
use std::collections::BTreeMap;

/// The declared places, not yet looked at.
pub(super) fn build_external(
    raw: &BTreeMap<String, RawSecretPlace>,
    problems: &mut Problems,
) -> Vec<SecretElsewhere> {
    raw.iter()
        .filter_map(|(name, place)| {
            let field = format!("parameters.external.{name}");
            if !SECRETS_KEPT_ELSEWHERE.contains(&name.as_str()) {
                problems.push(
                    &field,
                    format!(
                        "{name:?} is not a secret the node requires; one of: {}",
                        SECRETS_KEPT_ELSEWHERE.join(", ")
                    ),
                );
                return None;
            }
            let place = problems.check(&field, build_place(place))?;
            Some(SecretElsewhere {
                name: name.clone(),
                place,
                state: PlaceState::NotChecked,
            })
        })
        .collect()
}

fn build_place(raw: &RawSecretPlace) -> Result<SecretPlace, String> {
    match (&raw.file, &raw.secrets_manager) {
        (Some(path), None) if path.starts_with('/') && !path.contains("..") => {
            Ok(SecretPlace::File(path.clone()))
        }
        (Some(path), None) => Err(format!(
            "file = {path:?} must be an absolute path on the node's instance"
        )),
        (None, Some(id)) if is_secret_id(id) => Ok(SecretPlace::SecretsManager(id.clone())),
        (None, Some(id)) => Err(format!(
            "secrets_manager = {id:?} is not a secret name (letters, digits and /_+=.@-, \
             `{{stack}}` for the stack's name) or a Secrets Manager ARN"
        )),
        _ => {
            Err("give exactly one of file = \"/path\" or secrets_manager = \"name or ARN\"".into())
        }
    }
}

/// A secret name as Secrets Manager allows it (512 characters at most), with `{stack}`, or the
/// ARN of a secret.
fn is_secret_id(id: &str) -> bool {
    if let Some(rest) = id.strip_prefix("arn:") {
        return rest.split(':').nth(1) == Some("secretsmanager")
            && rest.split(':').nth(4) == Some("secret");
    }
    let name = id.replace("{stack}", "s");
    !name.is_empty()
        && name.len() <= 512
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/_+=.@-".contains(c))
}

/// The place of `secret` for one stack: `{stack}` in a secret's name stands for the stack's name.
pub fn for_stack(secret: &SecretElsewhere, stack: &str) -> SecretElsewhere {
    let place = match &secret.place {
        SecretPlace::SecretsManager(id) => {
            SecretPlace::SecretsManager(id.replace("{stack}", stack))
        }
        file => file.clone(),
    };
    SecretElsewhere {
        place,
        ..secret.clone()
    }
}
