//! A look at each secret the stack file says lives in Secrets Manager (`[parameters.external]`):
//! `DescribeSecret` returns a secret's metadata, never its value, and the functions' roles hold
//! no `GetSecretValue`. A file on the instance cannot be seen from AWS and is left as declared.

use crate::aws::sdk_error;
use aws_sdk_secretsmanager::Client;
use aws_smithy_types::date_time::Format;
use chainlink::{PlaceState, SecretElsewhere, SecretPlace};
use domain::ids::StackName;
use domain::stack::secret_for_stack;
use domain::Error;

/// `declared` for `stack`, each Secrets Manager place with what a look at it found. A look that
/// fails for any reason but absence is reported as such (a warning), never a failed run: the
/// parameters' own checks do not depend on it.
pub(super) async fn look_at_places(
    client: &Client,
    stack: &StackName,
    declared: &[SecretElsewhere],
) -> Vec<SecretElsewhere> {
    let mut looked = Vec::with_capacity(declared.len());
    for secret in declared {
        let mut secret = secret_for_stack(secret, stack.as_str());
        if let SecretPlace::SecretsManager(id) = &secret.place {
            secret.state = look_at(client, id).await;
        }
        looked.push(secret);
    }
    looked
}

async fn look_at(client: &Client, id: &str) -> PlaceState {
    match client.describe_secret().secret_id(id).send().await {
        Ok(secret) => match secret.deleted_date() {
            Some(date) => PlaceState::DeletionScheduled(
                date.fmt(Format::DateTime)
                    .unwrap_or_else(|_| "a date AWS gave".into()),
            ),
            None => PlaceState::Exists,
        },
        Err(error) => match sdk_error("DescribeSecret", error) {
            Error::Aws { code, .. } if code == "ResourceNotFoundException" => PlaceState::Missing,
            error => PlaceState::Unreadable(error.to_string()),
        },
    }
}
