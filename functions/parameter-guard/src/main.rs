//! Lambda: validates a stack's Chainlink node parameters on Parameter Store changes and
//! scheduled sweeps, labels valid sets and rolls bad changes back. Everything but wiring lives
//! in the shared engine.

use shared::engine::Capabilities;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::function::serve(Capabilities::PARAMETERS).await
}
