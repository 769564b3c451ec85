//! Lambda: on CloudWatch alarms (EventBridge, SNS or the alarm's direct action), resizes a
//! node one step up its ladder, grows its disk, or replaces it when it fails its status checks.
//! Everything but wiring lives in the shared engine.

use shared::engine::Capabilities;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::function::serve(Capabilities::INSTANCES).await
}
