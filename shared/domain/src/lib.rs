//! The pure side of the engine: what it reasons about and what it decides. Every capability
//! (`security_groups`, `parameters`, `instances`) has its model, its planner and its report
//! section here; observing and applying them is the `shared` crate's job. This crate depends on
//! neither the AWS SDK nor an async runtime, so the compiler, not a convention, keeps the
//! planners pure (`scripts/test.sh` checks the dependency tree).

pub mod approvals;
pub mod database;
pub mod error;
pub mod event;
pub mod ids;
pub mod instance_type;
pub mod instances;
pub mod metrics;
pub mod net;
pub mod organization;
pub mod outcome;
pub mod outputs;
pub mod parameters;
pub mod report;
pub mod security_groups;
pub mod signal;
pub mod stack;

pub use error::Error;
