//! At-least-once, out-of-order delivery: EventBridge may deliver an event several times and in
//! any order, and Lambda retries failed invocations. Every sample event, replayed many times and
//! shuffled, must change AWS exactly as one delivery of each does.

use domain::report::Status;
use domain::stack::StackFile;
use serde_json::Value;
use shared::aws::Clients;
use shared::engine::{Capabilities, Engine};
use shared::invocation::handle_event;
use std::path::PathBuf;
use tests::ssm::{valid_legacy, DEV_DB};
use tests::{repo_path, rule, seed, ssm, Moto, SeededStack};

const DELIVERIES: usize = 1000;
/// The IDs the sample events name, and what they stand for in the seeded stack.
const NODE_IN_SAMPLES: [&str; 1] = ["sg-0a1b2c3d4e5f60718"];
const DB_IN_SAMPLES: [&str; 2] = ["sg-0b2c3d4e5f6071829", "sg-0f1e2d3c4b5a69788"];

/// Every sample event, in file-name order (new samples join automatically).
fn samples() -> Vec<(String, String)> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(repo_path("samples/events"))
        .unwrap_or_else(|e| panic!("samples/events: {e}"))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let raw = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
            (name, raw)
        })
        .collect()
}

/// A sample aimed at the seeded stack: its group IDs replaced by the seeded ones.
fn aimed(raw: &str, stack: &SeededStack) -> Value {
    let mut text = raw.to_string();
    for id in NODE_IN_SAMPLES {
        text = text.replace(id, stack.node.as_str());
    }
    for id in DB_IN_SAMPLES {
        text = text.replace(id, stack.db.as_str());
    }
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}"))
}

/// A drifted demo stack: world exposures on both groups, and production's database URL
/// pointed at the dev database after the set was labeled good.
async fn seed_drift(moto: &Moto, engine: &Engine) -> SeededStack {
    let ec2 = moto.ec2().await;
    let stack = SeededStack::healthy(&ec2, "demo").await;
    seed::allow(&ec2, &stack.node, &[rule::tcp(6688, "0.0.0.0/0")]).await;
    seed::allow(&ec2, &stack.db, &[rule::tcp(5432, "::/0")]).await;
    let client = ssm::client(moto).await;
    ssm::put_all(&client, "/chainlink/demo/", &valid_legacy()).await;
    let create = samples()
        .into_iter()
        .find(|(name, _)| name == "ssm-parameter-create.json")
        .unwrap_or_else(|| panic!("no ssm-parameter-create.json sample"));
    let labeled = handle_event(engine, aimed(&create.1, &stack))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(labeled.status, Status::Converged, "{labeled}");
    ssm::put(&client, "/chainlink/demo/DATABASE_URL", DEV_DB).await;
    stack
}

/// Seeds a fresh drifted stack, delivers `order` (indices into the samples) and returns the
/// mutating calls AWS received, with the seeded IDs named by role so runs compare.
async fn deliver(moto: &Moto, order: &[usize]) -> Vec<String> {
    moto.reset();
    let file = StackFile::load(&repo_path("samples/stack.toml")).unwrap_or_else(|e| panic!("{e}"));
    let engine = Engine::new(
        Clients::new(&moto.sdk_config().await),
        file,
        Capabilities::ALL,
    );
    let stack = seed_drift(moto, &engine).await;
    let events: Vec<(String, Value)> = samples()
        .into_iter()
        .map(|(name, raw)| {
            let event = aimed(&raw, &stack);
            (name, event)
        })
        .collect();
    let recording = moto.start_recording();
    for &index in order {
        let (name, event) = &events[index];
        let report = handle_event(&engine, event.clone())
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(report.status, Status::Converged, "{name}: {report}");
    }
    let mut calls: Vec<String> = recording
        .mutating_calls()
        .into_iter()
        .map(|call| {
            call.replace(stack.node.as_str(), "<node>")
                .replace(stack.db.as_str(), "<db>")
        })
        .collect();
    calls.sort();
    calls
}

/// A fixed pseudo-random permutation (splitmix64 driving Fisher–Yates): the same order on
/// every run, so a failure reproduces.
fn shuffled(mut items: Vec<usize>, seed: u64) -> Vec<usize> {
    let mut state = seed;
    let mut next = || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    for i in (1..items.len()).rev() {
        let j = usize::try_from(next() % (i as u64 + 1)).unwrap_or(0);
        items.swap(i, j);
    }
    items
}

#[tokio::test]
async fn a_thousand_duplicated_shuffled_deliveries_change_aws_as_one_delivery_of_each_event() {
    let moto = Moto::start();
    let count = samples().len();
    assert!(count > 0, "no sample events");

    let once = deliver(&moto, &(0..count).collect::<Vec<_>>()).await;
    let replayed = shuffled((0..DELIVERIES).map(|i| i % count).collect(), 0x5eed);
    let many = deliver(&moto, &replayed).await;

    assert!(
        once.iter()
            .any(|c| c.starts_with("RevokeSecurityGroupIngress"))
            && once.iter().any(|c| c.starts_with("PutParameter")),
        "the samples must repair both the groups and the parameters: {once:?}"
    );
    assert_eq!(
        many, once,
        "{DELIVERIES} shuffled deliveries made other changes than one delivery of each event"
    );
}
