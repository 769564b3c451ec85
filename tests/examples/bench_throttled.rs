//! Benchmark (not a test): `remediator apply` over a fleet of drifted security groups behind
//! EC2's token buckets at their documented rates, timed against the least time the buckets
//! allow. `scripts/bench_throttled.sh` builds and runs it.
//!
//! Arguments: `[stacks] [category|action] [refill factor] [processes]`. Defaults: 150 stacks
//! (300 groups, 600 writes), one bucket per category, the real refill rates, one process.
//! Several processes split the fleet and run at once, as concurrent Lambda invocations would,
//! sharing the account's buckets.

use std::time::Instant;
use tests::fault_proxy::{minimum_duration, BucketScope, Handling, RateLimits};
use tests::{binary_env, fleet_stack_file, remediator_binary, FaultProxy, Moto, SeededStack};

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let stacks: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(150);
    let scope = match args.next().as_deref() {
        Some("action") => BucketScope::PerAction,
        _ => BucketScope::PerCategory,
    };
    let factor: f64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1.0);
    let processes: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1).max(1);

    let moto = Moto::start();
    let ec2 = moto.ec2().await;
    eprintln!("seeding {stacks} drifted stacks ({} groups)…", 2 * stacks);
    SeededStack::drifted_fleet(&ec2, stacks, processes).await;
    let proxy = FaultProxy::start(&moto.endpoint);
    proxy.limit(RateLimits::ec2().with_scope(scope).refilled_faster(factor));

    eprintln!("{processes} × remediator apply, buckets {scope:?}, refill ×{factor}…");
    let started = Instant::now();
    let runs: Vec<_> = (0..processes)
        .map(|shard| {
            let file = std::env::temp_dir()
                .join(format!("bench-fleet-{}-{shard}.toml", std::process::id()));
            std::fs::write(&file, fleet_stack_file(&format!("fleet-{shard}-*")))
                .unwrap_or_else(|e| panic!("{e}"));
            std::process::Command::new(remediator_binary())
                .args(["apply", "--stack", &file.display().to_string(), "--json"])
                .envs(binary_env(&proxy.endpoint))
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot run remediator: {e}"))
        })
        .collect();
    let outputs: Vec<_> = runs
        .into_iter()
        .map(|run| {
            run.wait_with_output()
                .unwrap_or_else(|e| panic!("remediator: {e}"))
        })
        .collect();
    let elapsed = started.elapsed();

    let log = proxy.exchanges();
    let mut outcomes = Vec::new();
    let mut statuses = Vec::new();
    for output in &outputs {
        let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_default();
        statuses.push(format!(
            "{}/{:?}",
            report["status"].as_str().unwrap_or("(no report)"),
            output.status.code()
        ));
        outcomes.extend(
            report["stacks"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|s| s["actions"].as_array().into_iter().flatten())
                .filter_map(|a| a["outcome"].as_str().map(String::from)),
        );
    }
    let failed = outcomes.iter().filter(|o| *o == "failed").count();
    let limited = log
        .iter()
        .filter(|e| e.handling == Handling::RateLimited)
        .count();
    let writes = log
        .iter()
        .filter(|e| e.operation.ends_with("SecurityGroupIngress") && e.took_effect())
        .count();
    let minimum = minimum_duration(&log);
    println!(
        "groups {}  actions {}  failed {failed}  status/exit {}",
        2 * stacks,
        outcomes.len(),
        statuses.join(" ")
    );
    println!(
        "requests {}  writes {writes}  throttled (RequestLimitExceeded) {limited}",
        log.len()
    );
    println!(
        "elapsed {:.1} s  theoretical minimum {:.1} s  ratio {:.2}",
        elapsed.as_secs_f64(),
        minimum.as_secs_f64(),
        elapsed.as_secs_f64() / minimum.as_secs_f64().max(f64::EPSILON)
    );
    if failed > 0 || outputs.iter().any(|o| o.status.code() != Some(0)) {
        std::process::exit(1);
    }
}
