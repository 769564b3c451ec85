//! The stack's database: an RDS for PostgreSQL DB instance that runs out of room, power or
//! connections. This is the pure half: the observed instance (`observed`), its classes
//! (`class`) and connection limit (`connection_limit`), the checks of the node's configuration
//! against it (`checks`), the alarm planner (`plan`) and its report (`report`). Reading the
//! instance from RDS and sending `ModifyDBInstance`, re-checking each action's precondition
//! first, are the `shared` crate's.

pub mod checks;
pub mod class;
pub mod connection_limit;
pub mod observed;
pub mod plan;
pub mod report;

pub use checks::{check_database, connections_finding, resolve_connection_limit, ResolvedLimit};
pub use class::{DbInstanceClass, UnknownClass};
pub use connection_limit::{
    ConnectionLimit, ConnectionLimitError, MaxConnectionsSetting, POSTGRES_DEFAULT_MAX_CONNECTIONS,
};
pub use observed::{DatabaseCluster, DatabaseEndpoint, ObservedDatabase, PendingModifications};
pub use plan::{
    plan_database_remediation, ApplyTiming, DatabaseAction, DatabaseInputs, DatabasePlan,
    Precondition,
};
pub use report::DatabaseReport;
