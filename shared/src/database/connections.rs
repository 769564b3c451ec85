//! What a database-connections alarm reports: the stack's nodes' pools (the node's
//! `Database.MaxOpenConns`, or `ORM_MAX_OPEN_CONNS` for a legacy configuration, with the
//! node's default when silent) times the running nodes, against the database's limit. Nothing
//! is decrypted: the instance function reads the parameters as stored, and a pool setting kept
//! in a SecureString is unknown to it.

use crate::capability::Context;
use crate::database::observe::read_settings;
use crate::parameters::nodes::read_nodes;
use crate::parameters::observe::read_under_prefix;
use chainlink::{connection_demand, Finding, SecretValue};
use domain::database::{connections_finding, resolve_connection_limit, ObservedDatabase};
use domain::ids::StackName;
use domain::parameters::ParameterKind;
use domain::Error;

/// The parameters a node's pool size can come from.
const POOL_SOURCES: [&str; 3] = ["config.toml", "CL_CONFIG", "ORM_MAX_OPEN_CONNS"];

/// The finding that compares the pools with the limit, or why they are not compared. Reads the
/// database's parameter group (`group`) into `database` first: the limit may be set there.
pub(crate) async fn pools_against_limit(
    cx: &Context<'_>,
    stack: &StackName,
    database: &mut ObservedDatabase,
    group: Option<&str>,
) -> Result<Result<Finding, String>, Error> {
    if let Some(group) = group {
        read_settings(&cx.clients.rds, group, database).await?;
    }
    let declared = cx.file.environment.database_max_connections;
    let Some(limit) = resolve_connection_limit(database, declared).connections else {
        return Ok(Err(format!(
            "the connection limit of {database} is unknown (its class is not in the table and the stack file declares no environment.database_max_connections)"
        )));
    };
    let Some(source) = &cx.file.parameters else {
        return Ok(Err(
            "the stack file declares no [parameters], so the nodes' pools are not known".into(),
        ));
    };
    let stored = read_under_prefix(&cx.clients.ssm, &source.prefix_for(stack), false).await?;
    if let Some(secret) = stored
        .iter()
        .find(|p| p.kind == ParameterKind::SecureString && POOL_SOURCES.contains(&p.key.as_str()))
    {
        return Ok(Err(format!(
            "{} is a SecureString, which the instance function does not decrypt: the nodes' pool size is not known",
            secret.name
        )));
    }
    // A SecureString's value here is its ciphertext: never parsed.
    let readable: Vec<(String, SecretValue)> = stored
        .into_iter()
        .filter(|p| p.kind != ParameterKind::SecureString)
        .map(|p| (p.key, p.value))
        .collect();
    let Some(demand) = connection_demand(&readable) else {
        return Ok(Err(
            "the node's configuration style is unknown, so its pool size is not known".into(),
        ));
    };
    let roles = cx.file.node_roles();
    let nodes = read_nodes(&cx.clients.ec2, stack, &roles, None)
        .await?
        .count;
    Ok(Ok(connections_finding(database, &demand, nodes, limit)))
}
