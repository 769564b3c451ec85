//! The chainlink-remediator engine: every Lambda function and the `remediator` CLI run the same
//! pipeline — parse a signal, observe the stack in AWS, plan against the stack file (pure),
//! apply, report.

pub mod apply;
pub mod aws;
pub mod chainlink;
pub mod engine;
pub mod event;
pub mod fixtures;
#[cfg(feature = "lambda")]
pub mod function;
pub mod ids;
pub mod instance_type;
pub mod instances;
pub mod invocation;
pub mod metrics;
pub mod net;
pub mod observe;
pub mod observed;
pub mod parameters;
pub mod plan;
pub mod probe;
pub mod report;
pub mod signal;
pub mod stack;

pub use aws_sdk_autoscaling;
pub use aws_sdk_ec2;
pub use aws_sdk_ssm;
