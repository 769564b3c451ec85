//! Validation of a Chainlink node's configuration as stored in SSM Parameter
//! Store, before the node is (re)started with it.
//!
//! Pure core: parameters and an environment policy in, findings out. A crate of its own, with
//! no AWS SDK and no async runtime in its dependencies, so the compiler keeps it pure.

mod chain_defaults;
mod chain_list;
mod connection_budget;
mod credentials;
mod db_url;
mod eip55;
mod endpoint;
mod evm;
mod finding;
mod go_duration;
mod host_pattern;
mod isolation;
mod legacy;
mod link_token;
mod node_ports;
mod node_version;
mod parameters;
mod password;
mod policy;
mod production;
mod rpc_redundancy;
mod rpc_url;
mod secret;
mod secrets_elsewhere;
mod stack;
mod toml_tree;
mod url_display;
mod userinfo;
mod v2_config;
mod v2_secrets;
mod validate;
mod version_rules;
mod wei;
pub mod wildcard;

#[cfg(test)]
mod reference_tests;
#[cfg(test)]
mod test_support;

pub use connection_budget::{connection_demand, ConnectionDemand};
pub use endpoint::{endpoints, Endpoint};
pub use finding::{ConfigStyle, Finding, FindingCode, Severity, Validation};
pub use host_pattern::{HostPattern, HostPatternError};
pub use link_token::link_token_for_chain;
pub use node_ports::{node_ports, NodePort, NodePorts, PortSetting, UnknownPort};
pub use node_version::{NodeVersion, NodeVersionError};
pub use policy::EnvironmentPolicy;
pub use secret::SecretValue;
pub use secrets_elsewhere::{
    check_places, PlaceState, SecretElsewhere, SecretPlace, SECRETS_KEPT_ELSEWHERE,
};
pub use stack::EndpointKind;
pub use url_display::mask_url;
pub use validate::validate;
