//! A Lambda function's whole life: build the clients and load the stack file once per cold
//! start, then serve invocations through `invocation::handle_event`. Each function binary only
//! names the capability it guards.

use crate::aws::load_sdk_config;
use crate::engine::{Capabilities, Clients, Engine};
use crate::invocation::handle_event;
use crate::report::Report;
use crate::stack::StackFile;
use lambda_runtime::{service_fn, Diagnostic, Error, LambdaEvent};

/// Where the bundled stack file is, unless `STACK_FILE` says otherwise.
const DEFAULT_STACK_FILE: &str = "stack.toml";

/// Runs the function until the runtime stops it. An invalid stack file fails the cold start:
/// the function is misconfigured, and Lambda reports an init error rather than serving.
pub async fn serve(capabilities: Capabilities) -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let stack_path = std::env::var("STACK_FILE").unwrap_or_else(|_| DEFAULT_STACK_FILE.into());
    let file = StackFile::load(stack_path.as_ref())?;
    let config = load_sdk_config().await;
    let engine = Engine::new(Clients::new(&config), file, capabilities);
    lambda_runtime::run(service_fn(|event: LambdaEvent<serde_json::Value>| {
        handle(&engine, event)
    }))
    .await
}

async fn handle(
    engine: &Engine,
    event: LambdaEvent<serde_json::Value>,
) -> Result<Report, Diagnostic> {
    handle_event(engine, event.payload)
        .await
        .map_err(|e| Diagnostic {
            error_type: e.error_type(),
            error_message: e.to_string(),
        })
}
