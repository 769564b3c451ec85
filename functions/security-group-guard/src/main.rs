//! Lambda: repairs security-group drift on CloudTrail API calls, AWS Config item changes and
//! scheduled sweeps. Everything but wiring lives in the shared engine.

use shared::engine::Capabilities;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::function::serve(Capabilities::SECURITY_GROUPS).await
}
