//! What the stack file says this environment is allowed to talk to.
//!
//! The remediator exists because a production node was once pointed at a
//! development database; the policy is how a stack states which hosts and
//! which chain are legitimate for it.

use super::host_pattern::HostPattern;
use super::node_version::NodeVersion;
use super::secrets_elsewhere::SecretElsewhere;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvironmentPolicy {
    /// The stack is production (`environment = "production"`): weak
    /// passwords and `sslmode=disable` become errors.
    pub production: bool,
    /// The chain the stack is declared to serve; every configured chain ID
    /// must equal it.
    pub chain_id: Option<u64>,
    /// Database hosts the stack may use; empty means no restriction.
    pub allowed_db_hosts: Vec<HostPattern>,
    /// RPC hosts the stack may use; empty means no restriction.
    pub allowed_rpc_hosts: Vec<HostPattern>,
    /// Hosts that belong to other environments and must never appear.
    pub forbidden_hosts: Vec<HostPattern>,
    /// The node version the stack runs (`node_version`): the node's
    /// version-dependent boot rules apply only when it is known.
    pub node_version: Option<NodeVersion>,
    /// The database's connection limit (Postgres `max_connections`), from
    /// whoever supplies it: the stack file's `database_max_connections`, or
    /// a reading of the database itself. `None`: not checked.
    pub database_max_connections: Option<u32>,
    /// How many nodes of the stack share the database, as the caller counts
    /// them (the stack file does not say). `None`: not checked.
    pub node_count: Option<u32>,
    /// Secrets the node gets from outside Parameter Store (`[parameters.external]`), and what a
    /// look at each place found.
    pub secrets_elsewhere: Vec<SecretElsewhere>,
}

impl EnvironmentPolicy {
    /// The policy for a stack of `nodes` nodes: the caller, which sees the
    /// stack's instances, supplies the count the connection check needs.
    pub fn with_node_count(mut self, nodes: u32) -> Self {
        self.node_count = Some(nodes);
        self
    }
}
