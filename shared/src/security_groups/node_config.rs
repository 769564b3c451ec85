//! The node's ports for the flows that follow its configuration: the stack's parameters read
//! (decrypted only by an engine that guards them) and the version to follow chosen
//! (`domain::parameters::followed_configuration`). Two reads: the parameters under the prefix,
//! and their last-known-good versions.

use crate::capability::Context;
use crate::parameters::observe::{labeled_values, read_under_prefix};
use crate::parameters::stack_policy;
use domain::ids::StackName;
use domain::parameters::{followed_configuration, ReadConfiguration};
use domain::security_groups::NodeConfig;

/// What the flows of `stack` follow this run; `None` when no flow of the stack file needs the
/// node's configuration. A read that fails follows nothing, and says why: the flows that need
/// the configuration change nothing this run, the others are planned as usual.
pub(crate) async fn observe_node_config(cx: &Context<'_>, stack: &StackName) -> Option<NodeConfig> {
    let source = cx.file.parameters.as_ref()?;
    if !cx.file.follows_node_config() {
        return None;
    }
    let prefix = source.prefix_for(stack);
    let decrypt = cx.decrypts_parameters;
    let read = async {
        let current = read_under_prefix(&cx.clients.ssm, &prefix, decrypt).await?;
        let labeled = labeled_values(&cx.clients.ssm, &current, &source.label, decrypt).await?;
        Ok::<_, domain::Error>((current, labeled))
    };
    Some(match read.await {
        Ok((current, last_known_good)) => {
            // Judged under the policy the parameter step judges under (a tagged node version
            // decides validity), so the rules never follow a change that step rolls back.
            let policy = if decrypt {
                stack_policy(cx, stack).await
            } else {
                cx.file.environment.clone()
            };
            followed_configuration(
                &ReadConfiguration {
                    current: &current,
                    last_known_good: &last_known_good,
                    decrypted: decrypt,
                    label: &source.label,
                },
                &policy,
            )
        }
        Err(error) => {
            tracing::warn!(stack = %stack, error = %error, "node configuration not read");
            NodeConfig::Unknown {
                reason: format!("the parameters under {prefix} could not be read: {error}"),
            }
        }
    })
}
