//! The AWS side of the chainlink-remediator engine. Each capability (`security_groups`,
//! `parameters`, `instances`) has its observe (AWS reads into `domain` types) and its apply
//! (AWS writes, one `ActionOutcome` per planned action) here, under the same name as its model,
//! planner and report in `domain`. `engine` routes a signal to the capabilities it concerns;
//! the Lambda functions and the `remediator` CLI all run it.

pub mod approvals;
pub mod aws;
mod capability;
mod database;
pub mod engine;
#[cfg(feature = "lambda")]
pub mod function;
pub mod instances;
pub mod invocation;
pub mod organization;
pub mod parameters;
#[cfg(feature = "lambda")]
pub mod report_pages;
pub mod security_groups;
#[cfg(feature = "lambda")]
pub mod security_hub;

pub use aws_sdk_autoscaling;
pub use aws_sdk_ec2;
pub use aws_sdk_ssm;
pub use chainlink;
pub use domain;
