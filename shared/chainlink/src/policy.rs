//! What the stack file says this environment is allowed to talk to.
//!
//! The remediator exists because a production node was once pointed at a
//! development database; the policy is how a stack states which hosts and
//! which chain are legitimate for it.

use super::host_pattern::HostPattern;

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
}
