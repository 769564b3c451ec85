//! Lambda: validates a stack's Chainlink node parameters on Parameter Store changes and
//! scheduled sweeps, labels valid sets and rolls bad changes back. Everything but wiring lives
//! in the shared engine.

use lambda_runtime::{service_fn, Diagnostic, Error, LambdaEvent};
use shared::engine::{Capabilities, Clients, Engine};
use shared::invocation::handle_event;
use shared::report::Report;
use shared::stack::StackFile;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let stack_path = std::env::var("STACK_FILE").unwrap_or_else(|_| "stack.toml".into());
    let file = StackFile::load(stack_path.as_ref())?;
    let config = shared::aws::load_sdk_config().await;
    let engine = Engine::new(Clients::new(&config), file, Capabilities::PARAMETERS);
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
