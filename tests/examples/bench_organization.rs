//! Benchmark (not a test): `remediator apply` over an organisation of N accounts × R regions at
//! concurrency C, every target holding the demo stack, one in five drifted (the node's UI open
//! to the world). Prints the wall time, the process's CPU time and peak memory (`/usr/bin/time`),
//! the API calls per target (the fault proxy's log), and from them the model of an
//! organisation-wide sweep of 1,000 accounts × 4 regions on the deployed functions.
//! `scripts/bench_organization.sh` builds and runs it.
//!
//! Arguments: `[accounts] [regions] [concurrency]`; defaults 20, 2, 16.

use std::collections::BTreeMap;
use std::time::Instant;
use tests::{
    binary_env, fleet_stack_file, remediator_binary, rule, seed, FaultProxy, Moto, SeededStack,
};

const ROLE: &str = "ChainlinkRemediatorMember";
const REGIONS: [&str; 4] = ["us-east-1", "eu-west-1", "ap-southeast-1", "us-west-2"];

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let accounts: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(20);
    let regions: usize = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(2)
        .clamp(1, 4);
    let concurrency: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(16);
    let regions = &REGIONS[..regions];
    let ids: Vec<String> = (1..=accounts)
        .map(|n| format!("{:012}", 100_000_000_000 + n))
        .collect();

    let moto = Moto::start();
    eprintln!("seeding {} targets…", accounts * regions.len());
    let mut n = 0;
    for account in &ids {
        for region in regions {
            let config = tests::member_config(&moto.endpoint, account, region, ROLE).await;
            let ec2 = aws_sdk_ec2::Client::new(&config);
            let stack = SeededStack::healthy(&ec2, "demo").await;
            if n % 5 == 0 {
                seed::allow(&ec2, &stack.node, &[rule::tcp(6688, "0.0.0.0/0")]).await;
            }
            n += 1;
        }
    }
    let listed: Vec<String> = ids.iter().map(|a| format!("\"{a}\"")).collect();
    let quoted: Vec<String> = regions.iter().map(|r| format!("\"{r}\"")).collect();
    let file = std::env::temp_dir().join(format!("bench-org-{}.toml", std::process::id()));
    std::fs::write(
        &file,
        format!(
            "{}\n[organization]\naccounts = [{}]\nregions = [{}]\nrole_name = \"{ROLE}\"\n",
            fleet_stack_file("demo"),
            listed.join(", "),
            quoted.join(", ")
        ),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let proxy = FaultProxy::start(&moto.endpoint);

    eprintln!("remediator apply at concurrency {concurrency}…");
    let started = Instant::now();
    let output = std::process::Command::new("/usr/bin/time")
        .args(["-f", "%U %S %M"])
        .arg(remediator_binary())
        .args(["apply", "--stack", &file.display().to_string(), "--json"])
        .args(["--concurrency", &concurrency.to_string()])
        .envs(binary_env(&proxy.endpoint))
        .output()
        .unwrap_or_else(|e| panic!("cannot run remediator: {e}"));
    let wall = started.elapsed().as_secs_f64();
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_default();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let times: Vec<f64> = stderr
        .lines()
        .last()
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|v| v.parse().ok())
        .collect();
    let (cpu, peak_kib) = match times[..] {
        [user, system, peak] => (user + system, peak),
        _ => (f64::NAN, f64::NAN),
    };

    let targets = accounts * regions.len();
    let log = proxy.exchanges();
    let mut per_operation: BTreeMap<&str, usize> = BTreeMap::new();
    for exchange in &log {
        *per_operation
            .entry(exchange.operation.as_str())
            .or_default() += 1;
    }
    let calls_per_target = log.len() as f64 / targets as f64;
    println!(
        "targets {targets} ({accounts} accounts × {} regions)  concurrency {concurrency}  status {}  exit {:?}",
        regions.len(),
        report["status"].as_str().unwrap_or("(no report)"),
        output.status.code()
    );
    println!("summary {}", report["summary"]);
    println!(
        "wall {wall:.2} s  cpu {cpu:.2} s  peak memory {:.1} MiB",
        peak_kib / 1024.0
    );
    println!(
        "API calls {} ({calls_per_target:.1} per target): {per_operation:?}",
        log.len()
    );
    // On AWS a target's calls are sequential round trips; assume 100 ms each (a describe
    // from a Lambda function to a regional endpoint, other regions included), and one
    // AssumeRole per account.
    let per_target_aws = calls_per_target * 0.1;
    for deployed in [50usize, 100] {
        let rounds = (4000.0 / deployed as f64).ceil();
        println!(
            "model: 1,000 accounts × 4 regions at TargetConcurrency {deployed}: {rounds} rounds × {per_target_aws:.2} s = {:.0} s",
            rounds * per_target_aws
        );
    }
    if output.status.code() != Some(0) {
        eprintln!("{stderr}");
        std::process::exit(1);
    }
}
