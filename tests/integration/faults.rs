//! The engine under the faults real AWS produces and the emulator does not: throttling, 500 and
//! 503 answers, responses slower than the client's timeout, dropped connections. A proxy in
//! front of moto injects each fault on each remediation step, on the first attempt of every
//! call and on every attempt. Whatever happens, the run converges or fails cleanly (a failed
//! action and exit code 1, or a retryable read error; both make `handle_event` return the
//! `Retryable` error Lambda retries), the stack is never left worse than before, and once the
//! fault clears the retry finishes the repair.
//!
//! The matrix is a table: a row is a scenario and an operation of it. A new remediation step is
//! a `Scenario` (seed the drift, the event, what "not worse" means) plus one line per operation
//! in `fault_matrix!`.

use domain::event::parse_event_value;
use domain::ids::SecurityGroupId;
use domain::instances::REMEDIATION_TAG;
use domain::net::Rule;
use domain::outcome::Outcome;
use domain::report::{Execution, Report, Status};
use domain::security_groups::{check_flows, plan_security_groups, FlowStatus, SecurityGroupAction};
use domain::stack::StackFile;
use serde_json::Value;
use shared::aws::Clients;
use shared::engine::{Capabilities, Engine};
use shared::instances::apply::Waits;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use tests::fault_proxy::{Exchange, Handling};
use tests::fleet;
use tests::ssm::{valid_legacy, DEV_DB, GOOD_DB};
use tests::{
    isolated_clients, repo_path, rule, seed, ssm, Fault, FaultProxy, Moto, Schedule, SeededStack,
};

/// Per-attempt timeout of the engine's clients here: short, so a held response costs little.
const ATTEMPT_TIMEOUT: Duration = Duration::from_millis(500);
/// How long a slow response is held (the client gives up long before).
const HOLD: Duration = Duration::from_secs(30);

fn sample_stack() -> StackFile {
    StackFile::load(&repo_path("samples/stack.toml")).unwrap_or_else(|e| panic!("{e}"))
}

/// A sample event with the IDs it names replaced by seeded ones.
fn sample_event(sample: &str, replacements: &[(&str, &str)]) -> Value {
    let mut raw = std::fs::read_to_string(repo_path(&format!("samples/events/{sample}")))
        .unwrap_or_else(|e| panic!("{sample}: {e}"));
    for (from, to) in replacements {
        raw = raw.replace(from, to);
    }
    serde_json::from_str(&raw).unwrap_or_else(|e| panic!("{sample}: {e}"))
}

/// A sample alarm event whose alarm exists in the emulator (the engine re-reads it), with the
/// time of the alarm's transition.
async fn real_alarm(moto: &Moto, sample: &str, replacements: &[(&str, &str)]) -> Value {
    let event = sample_event(sample, replacements).to_string();
    let raw = fleet::real_alarm_event(moto, &event).await;
    serde_json::from_str(&raw).unwrap_or_else(|e| panic!("{sample}: {e}"))
}

/// A remediation the fault matrix runs: a drifted stack, the event that sets the engine off,
/// and what "never worse than before" means for it.
trait Scenario: Sized {
    const CAPABILITIES: Capabilities;

    /// Seeds the drift directly on the emulator (no faults) and remembers the state before.
    async fn seed(moto: &Moto) -> Self;

    fn event(&self) -> Value;

    /// Asserts the stack is no worse than before the run; `log` is the proxy's record of it,
    /// `report` the run's (none when the engine stopped on an error).
    async fn assert_not_worse(
        &self,
        moto: &Moto,
        log: &[Exchange],
        report: Option<&Report>,
        case: &str,
    );

    /// Asserts the repair is complete (after a run without faults).
    async fn assert_repaired(&self, moto: &Moto, case: &str);

    /// The engine's clients, reaching AWS through `config` (the proxy).
    fn clients(&self, config: &aws_config::SdkConfig, partition: &str) -> Clients {
        isolated_clients(config, partition)
    }
}

/// Runs every fault kind on `operation`, first on the first attempt of each call, then on every
/// attempt, each case on a freshly reset emulator.
async fn run_matrix<S: Scenario>(operation: &str) {
    run_schedules::<S>(operation, &[Schedule::FirstAttempt, Schedule::Always]).await;
}

/// Runs every fault kind on every attempt of the `call`-th call of `operation` only: one step of
/// several fails for good while the others succeed.
async fn run_partial<S: Scenario>(operation: &str, call: u32) {
    run_schedules::<S>(operation, &[Schedule::Calls(vec![call])]).await;
}

async fn run_schedules<S: Scenario>(operation: &str, schedules: &[Schedule]) {
    let moto = Moto::start();
    let proxy = FaultProxy::start(&moto.endpoint);
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(ATTEMPT_TIMEOUT)
        .operation_attempt_timeout(ATTEMPT_TIMEOUT)
        .operation_timeout(Duration::from_secs(45))
        .build();
    let config = tests::sdk_config_loader(&proxy.endpoint)
        .timeout_config(timeouts)
        .load()
        .await;
    // The engine's production policy: adaptive mode and its number of attempts, with short
    // backoffs (the matrix is about what the engine does when a call succeeds on a retry or fails
    // for good, not how long the SDK waits in between). After an injected throttle the adaptive
    // client-side rate limiter paces this quiet client at its minimum rate, about one request
    // every two seconds, exactly as it would a throttled function on AWS: the throttle cases are
    // slow (the slowest row takes about nine minutes), so scripts/test.sh runs the matrix on its
    // own with more test threads than cores, which wait rather than work.
    let attempts = config
        .retry_config()
        .map(|r| r.max_attempts())
        .unwrap_or_else(|| panic!("the engine's loader sets retries"));
    let retries = aws_config::retry::RetryConfig::adaptive()
        .with_max_attempts(attempts)
        .with_initial_backoff(Duration::from_millis(10));
    let config = config.to_builder().retry_config(retries).build();
    let scenario = std::any::type_name::<S>()
        .rsplit("::")
        .next()
        .unwrap_or("scenario");
    for (n, (schedule, fault)) in schedules
        .iter()
        .flat_map(|s| Fault::kinds(HOLD).map(|f| (s.clone(), f)))
        .enumerate()
    {
        let case = format!("{scenario} / {operation} / {fault:?} on {schedule:?}");
        moto.reset();
        proxy.reset();
        let seeded = S::seed(&moto).await;
        proxy.fail(operation, schedule.clone(), fault);
        // A retry partition per case: each case starts with the SDK's full retry quota.
        let partition = format!("faults-{scenario}-{operation}-{n}-{}", proxy.endpoint);
        let engine = Engine::new(
            seeded.clients(&config, &partition),
            sample_stack(),
            S::CAPABILITIES,
        )
        .with_filesystem_document(Some(tests::filesystem_document()))
        .with_waits(Waits {
            poll: Duration::from_millis(20),
            reads: 250,
        });
        let signal = parse_event_value(seeded.event()).unwrap_or_else(|e| panic!("{case}: {e}"));

        let result = engine.run(signal, Execution::Apply).await;

        let log = proxy.exchanges();
        assert!(
            log.iter().any(
                |e| e.operation == operation && matches!(e.handling, Handling::Injected { .. })
            ),
            "{case}: no {operation} request reached the proxy: {:?}",
            calls(&log)
        );
        match (&schedule, &result) {
            (Schedule::FirstAttempt, Ok(report)) => assert!(
                report.status == Status::Converged && failed(report) == 0,
                "{case}: one failed attempt per call must be absorbed by the SDK's retries: {report}"
            ),
            (Schedule::FirstAttempt, Err(error)) => {
                panic!("{case}: one failed attempt per call must be absorbed by the SDK's retries: {error}")
            }
            (_, Ok(report)) if report.status == Status::Converged => assert_eq!(
                failed(report),
                0,
                "{case}: a run with a failed action must not report converged (exit 0): {report}"
            ),
            (_, Ok(report)) => {
                assert_eq!(
                    report.status.exit_code(),
                    1,
                    "{case}: a failed step must fail the run: {report}"
                );
                assert!(
                    report.retryable_failure().is_some(),
                    "{case}: a transient fault must make the invocation retryable: {report}"
                );
            }
            (_, Err(error)) => assert!(error.is_retryable(), "{case}: {error} must be retryable"),
        }
        seeded
            .assert_not_worse(&moto, &log, result.as_ref().ok(), &case)
            .await;

        // Lambda retries the event once the fault has cleared: the repair completes.
        proxy.reset();
        let retry = engine
            .run(
                parse_event_value(seeded.event()).unwrap_or_else(|e| panic!("{e}")),
                Execution::Apply,
            )
            .await
            .unwrap_or_else(|e| panic!("{case}: retry: {e}"));
        assert_eq!(retry.status, Status::Converged, "{case}: retry: {retry}");
        seeded.assert_repaired(&moto, &case).await;
    }
}

/// Whether the report's action of `kind` (`resize_instance`, `resize_group`) was applied.
fn resize_applied(report: &Report, kind: &str) -> bool {
    let json = serde_json::to_value(report).unwrap_or_else(|e| panic!("{e}"));
    let mut applied = false;
    visit_actions(&json, &mut |action| {
        if action["action"] == kind && action["outcome"] == "applied" {
            applied = true;
        }
    });
    applied
}

/// Every `{ "action": …, "outcome": … }` object in a report's JSON (an action and its outcome,
/// flattened).
fn visit_actions(value: &Value, visit: &mut dyn FnMut(&Value)) {
    match value {
        Value::Object(map) => {
            if map.contains_key("action") && map.contains_key("outcome") {
                visit(value);
            }
            map.values().for_each(|v| visit_actions(v, visit));
        }
        Value::Array(items) => items.iter().for_each(|v| visit_actions(v, visit)),
        _ => {}
    }
}

fn failed(report: &Report) -> usize {
    report.count(|o| matches!(o, Outcome::Failed { .. }))
}

/// The engine made at most one `operation` call: the SDK may repeat that call's request after
/// a lost answer (the same request), the engine never sends a second one.
fn assert_called_at_most_once(log: &[Exchange], operation: &str, case: &str) {
    let calls_made = log
        .iter()
        .filter(|e| e.operation == operation && e.attempt.unwrap_or(1) == 1)
        .count();
    assert!(
        calls_made <= 1,
        "{case}: {calls_made} {operation} calls: {:?}",
        calls(log)
    );
}

fn calls(log: &[Exchange]) -> Vec<String> {
    log.iter()
        .map(|e| format!("{} {:?}", e.operation, e.handling))
        .collect()
}

/// One test per row, so rows run in parallel and a failure names its row.
macro_rules! fault_matrix {
    ($($(#[$attribute:meta])* $test:ident: $scenario:ty, $operation:literal;)+) => {
        $(
            $(#[$attribute])*
            #[tokio::test]
            async fn $test() {
                run_matrix::<$scenario>($operation).await;
            }
        )+
    };
}

fault_matrix! {
    sg_read_groups: GroupRepair, "DescribeSecurityGroups";
    // The flow check's reads of where traffic comes from (instances, network interfaces).
    sg_read_instances: GroupRepair, "DescribeInstances";
    sg_read_interfaces: GroupRepair, "DescribeNetworkInterfaces";
    sg_read_subnets: GroupRepair, "DescribeSubnets";
    sg_read_acls: GroupRepair, "DescribeNetworkAcls";
    // The node's configuration, which the stack file's P2P and UI flows are checked against and
    // its egress path to the RPC nodes follows: unreadable, they follow nothing this run.
    sg_read_parameters: GroupRepair, "GetParametersByPath";
    sg_authorize: GroupRepair, "AuthorizeSecurityGroupIngress";
    sg_revoke: GroupRepair, "RevokeSecurityGroupIngress";
    rollback_read_parameters: ParameterRollback, "GetParametersByPath";
    rollback_read_labels: ParameterRollback, "GetParameters";
    rollback_read_history: ParameterRollback, "GetParameterHistory";
    rollback_recheck_version: ParameterRollback, "GetParameter";
    rollback_read_policies: ParameterRollback, "DescribeParameters";
    rollback_put: ParameterRollback, "PutParameter";
    rollback_label: ParameterRollback, "LabelParameterVersion";
    // Regression: the status once counted security-group outcomes only, so a failed label of a
    // valid set ended "converged", exit 0.
    label_valid_set: LabelValidSet, "LabelParameterVersion";
    node_read: NodeResize, "DescribeInstances";
    node_record: NodeResize, "CreateTags";
    node_stop: NodeResize, "StopInstances";
    node_modify: NodeResize, "ModifyInstanceAttribute";
    node_start: NodeResize, "StartInstances";
    group_record: GroupResize, "CreateOrUpdateTags";
    group_read: GroupResize, "DescribeAutoScalingGroups";
    group_update: GroupResize, "UpdateAutoScalingGroup";
    node_replace_record: NodeReplace, "CreateTags";
    node_replace_stop: NodeReplace, "StopInstances";
    node_replace_start: NodeReplace, "StartInstances";
    disk_modify: DiskGrowth, "ModifyVolume";
    disk_extend: DiskGrowth, "SendCommand";
    // The database's storage: the region's DB instances, the six-hour rule's events, the
    // record, the re-read of the precondition and the modification itself.
    db_read: StorageGrowth, "DescribeDBInstances";
    db_events: StorageGrowth, "DescribeEvents";
    db_record: StorageGrowth, "AddTagsToResource";
    db_modify: StorageGrowth, "ModifyDBInstance";
}

/// One test per row of a partial failure: every attempt of one call of several fails.
macro_rules! partial_faults {
    ($($test:ident: $scenario:ty, $operation:literal, call $call:literal;)+) => {
        $(
            #[tokio::test]
            async fn $test() {
                run_partial::<$scenario>($operation, $call).await;
            }
        )+
    };
}

partial_faults! {
    // The second group's authorizations fail while the first group's succeed: its world rules
    // stay until their replacement is in (make before break), and the retry completes it.
    sg_authorize_second_group: GroupRepair, "AuthorizeSecurityGroupIngress", call 2;
    sg_revoke_second_group: GroupRepair, "RevokeSecurityGroupIngress", call 2;
}

/// Security-group drift in both directions, with a broad world rule that carries required
/// flows: the node group is open to the world on every port (which also carries the UI and P2P
/// flows), the database misses the node's rule and is open to `::/0` on 5432. The repair
/// authorizes the narrow rules before it revokes the broad one (make before break).
#[derive(Debug)]
struct GroupRepair {
    node: SecurityGroupId,
    db: SecurityGroupId,
    rules: BTreeMap<SecurityGroupId, BTreeSet<Rule>>,
    planned: BTreeMap<SecurityGroupId, BTreeSet<Rule>>,
    open: Vec<String>,
}

impl GroupRepair {
    async fn observe(moto: &Moto) -> domain::security_groups::observed::ObservedStack {
        let ec2 = moto.ec2().await;
        let file = sample_stack();
        let mut stacks =
            shared::security_groups::observe::observe_stacks(&ec2, &file.selector, async {
                Ok(Vec::new())
            })
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(stacks.len(), 1);
        stacks.remove(0)
    }

    fn open_flows(stack: &domain::security_groups::observed::ObservedStack) -> Vec<String> {
        check_flows(&sample_stack(), stack)
            .into_iter()
            .filter(|check| check.status != FlowStatus::Blocked)
            .map(|check| check.flow)
            .collect()
    }

    fn rules_of(
        stack: &domain::security_groups::observed::ObservedStack,
    ) -> BTreeMap<SecurityGroupId, BTreeSet<Rule>> {
        stack
            .groups
            .iter()
            .map(|g| (g.id.clone(), g.ingress.iter().cloned().collect()))
            .collect()
    }
}

impl Scenario for GroupRepair {
    const CAPABILITIES: Capabilities = Capabilities::SECURITY_GROUPS;

    async fn seed(moto: &Moto) -> Self {
        let ec2 = moto.ec2().await;
        let vpc = seed::vpc(&ec2, "10.0.0.0/16").await;
        let node = seed::group(&ec2, &vpc, "demo-node", "demo", "node").await;
        let db = seed::group(&ec2, &vpc, "demo-db", "demo", "db").await;
        seed::allow(&ec2, &node, &[rule::all_traffic("0.0.0.0/0")]).await;
        seed::allow(&ec2, &db, &[rule::tcp(5432, "::/0")]).await;
        // Instances in two subnets: the flow check reads their subnets and network ACLs.
        let app = seed::subnet(&ec2, &vpc, "10.0.1.0/24").await;
        let data = seed::subnet(&ec2, &vpc, "10.0.2.0/24").await;
        seed::instance(&ec2, &app, &node, "demo", "node").await;
        seed::instance(&ec2, &data, &db, "demo", "db").await;
        let stack = Self::observe(moto).await;
        let mut planned: BTreeMap<SecurityGroupId, BTreeSet<Rule>> = BTreeMap::new();
        for action in plan_security_groups(&sample_stack(), &stack).actions {
            if let SecurityGroupAction::AuthorizeIngress { group, rules } = action {
                planned
                    .entry(group)
                    .or_default()
                    .extend(rules.into_iter().map(|r| r.rule));
            }
        }
        GroupRepair {
            node,
            db,
            rules: Self::rules_of(&stack),
            planned,
            open: Self::open_flows(&stack),
        }
    }

    fn event(&self) -> Value {
        sample_event(
            "config-security-group-change.json",
            &[("sg-0a1b2c3d4e5f60718", self.node.as_str())],
        )
    }

    async fn assert_not_worse(
        &self,
        moto: &Moto,
        log: &[Exchange],
        _report: Option<&Report>,
        case: &str,
    ) {
        let stack = Self::observe(moto).await;
        let open = Self::open_flows(&stack);
        for flow in &self.open {
            assert!(
                open.contains(flow),
                "{case}: flow {flow} was open before the run and is closed after it"
            );
        }
        for (group, rules) in Self::rules_of(&stack) {
            let before = self.rules.get(&group).cloned().unwrap_or_default();
            let planned = self.planned.get(&group).cloned().unwrap_or_default();
            for rule in rules.difference(&before) {
                assert!(
                    planned.contains(rule),
                    "{case}: {rule} on {group} was neither there nor planned"
                );
            }
        }
        // Make before break: the broad node rule carries flows, so no revoke of it may reach
        // AWS before an authorize of the narrow rules has.
        let on_node = |operation: &str| {
            log.iter().position(|e| {
                e.operation == operation
                    && e.target.as_deref() == Some(self.node.as_str())
                    && e.took_effect()
            })
        };
        if let Some(revoked) = on_node("RevokeSecurityGroupIngress") {
            let authorized = on_node("AuthorizeSecurityGroupIngress");
            assert!(
                authorized.is_some_and(|a| a < revoked),
                "{case}: the node's broad rule was revoked before its replacement was in place: {:?}",
                calls(log)
            );
        }
    }

    async fn assert_repaired(&self, moto: &Moto, case: &str) {
        let ec2 = moto.ec2().await;
        let mut node = vec![
            "tcp 6688 from 10.20.0.0/16".to_string(),
            format!("tcp 6690 from {}", self.node),
            "tcp 6690 from 0.0.0.0/0".to_string(),
        ];
        node.sort();
        assert_eq!(seed::ingress(&ec2, &self.node).await, node, "{case}");
        assert_eq!(
            seed::ingress(&ec2, &self.db).await,
            [format!("tcp 5432 from {}", self.node)],
            "{case}"
        );
    }
}

const PREFIX: &str = "/chainlink/demo/";
const LABEL: &str = "last-known-good";
const DATABASE_URL: &str = "/chainlink/demo/DATABASE_URL";

/// Production's database URL pointed at the dev database after the set was labeled good: the
/// repair puts version 1's value back as a new version and labels it.
#[derive(Debug)]
struct ParameterRollback {
    values: BTreeMap<String, String>,
}

async fn parameter_values(moto: &Moto) -> BTreeMap<String, String> {
    let client = ssm::client(moto).await;
    let mut values = BTreeMap::new();
    let mut pages = client
        .get_parameters_by_path()
        .path(PREFIX.trim_end_matches('/'))
        .recursive(true)
        .with_decryption(true)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.unwrap_or_else(|e| panic!("{e:?}"));
        for parameter in page.parameters() {
            values.insert(
                parameter.name().unwrap_or_default().to_string(),
                parameter.value().unwrap_or_default().to_string(),
            );
        }
    }
    values
}

/// The value the label points at, if any.
async fn labeled_value(moto: &Moto, name: &str) -> Option<String> {
    let client = ssm::client(moto).await;
    let found = client
        .get_parameters()
        .names(format!("{name}:{LABEL}"))
        .with_decryption(true)
        .send()
        .await
        .ok()?;
    found
        .parameters()
        .first()
        .and_then(|p| p.value())
        .map(String::from)
}

impl Scenario for ParameterRollback {
    const CAPABILITIES: Capabilities = Capabilities::PARAMETERS;

    async fn seed(moto: &Moto) -> Self {
        let client = ssm::client(moto).await;
        ssm::put_all(&client, PREFIX, &valid_legacy()).await;
        // The engine itself labels the valid set, straight on the emulator.
        let labeler = Engine::new(
            shared::aws::Clients::new(&moto.sdk_config().await),
            sample_stack(),
            Capabilities::PARAMETERS,
        );
        let labeled = labeler
            .run(
                parse_event_value(sample_event("ssm-parameter-create.json", &[]))
                    .unwrap_or_else(|e| panic!("{e}")),
                Execution::Apply,
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(labeled.status, Status::Converged, "{labeled}");
        ssm::put(&client, DATABASE_URL, DEV_DB).await;
        ParameterRollback {
            values: parameter_values(moto).await,
        }
    }

    fn event(&self) -> Value {
        sample_event("ssm-parameter-update.json", &[])
    }

    async fn assert_not_worse(
        &self,
        moto: &Moto,
        _log: &[Exchange],
        _report: Option<&Report>,
        case: &str,
    ) {
        let after = parameter_values(moto).await;
        assert_eq!(
            after.keys().collect::<Vec<_>>(),
            self.values.keys().collect::<Vec<_>>(),
            "{case}: a parameter was deleted or created"
        );
        for (name, value) in &after {
            let restored = name == DATABASE_URL && value == GOOD_DB;
            assert!(
                restored || Some(value) == self.values.get(name),
                "{case}: {name} changed to something other than its last good value"
            );
        }
        assert_eq!(
            labeled_value(moto, DATABASE_URL).await.as_deref(),
            Some(GOOD_DB),
            "{case}: the label must only ever mark a good value"
        );
    }

    async fn assert_repaired(&self, moto: &Moto, case: &str) {
        let client = ssm::client(moto).await;
        let (version, value) = ssm::current(&client, DATABASE_URL).await;
        assert_eq!(value, GOOD_DB, "{case}");
        assert_eq!(
            ssm::labeled(&client, DATABASE_URL, LABEL).await,
            Some(version),
            "{case}: the restored version carries the label"
        );
    }
}

/// Stacks in the throttled fleet: 300 security groups, four calls each to repair.
const FLEET: usize = 150;

/// EC2 throttles each account with token buckets. 300 drifted groups need 600 authorize and
/// revoke calls against buckets of 50 refilled at 5 per second; the `remediator` binary, with
/// its production retry configuration, must get through all of them without a failed action.
/// The buckets have the documented sizes, shared per category (stricter than AWS's per-action
/// buckets), and refill five times faster than AWS's, so the test takes seconds instead of
/// minutes; `scripts/bench_throttled.sh` runs the same fleet at the real rates.
#[tokio::test]
async fn three_hundred_drifted_groups_converge_through_ec2_throttling() {
    use tests::fault_proxy::{BucketScope, RateLimits};
    let moto = Moto::start();
    let ec2 = moto.ec2().await;
    SeededStack::drifted_fleet(&ec2, FLEET, 1).await;
    let proxy = FaultProxy::start(&moto.endpoint);
    proxy.limit(
        RateLimits::ec2()
            .with_scope(BucketScope::PerCategory)
            .refilled_faster(5.0),
    );
    let file = std::env::temp_dir().join(format!("faults-fleet-{}.toml", std::process::id()));
    std::fs::write(&file, tests::fleet_stack_file("fleet-*")).unwrap_or_else(|e| panic!("{e}"));

    let output = tests::output::run(
        std::process::Command::new(tests::remediator_binary())
            .args(["apply", "--stack", &file.display().to_string(), "--json"])
            .envs(tests::binary_env(&proxy.endpoint)),
    );

    let log = proxy.exchanges();
    let limited = log
        .iter()
        .filter(|e| e.handling == Handling::RateLimited)
        .count();
    eprintln!(
        "{} requests, {limited} answered RequestLimitExceeded by the buckets",
        log.len()
    );
    let report: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "not a JSON report ({e}): {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    let outcomes: Vec<&str> = report["stacks"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|s| s["actions"].as_array().into_iter().flatten())
        .filter_map(|a| a["outcome"].as_str())
        .collect();
    assert_eq!(outcomes.len(), 4 * FLEET, "{outcomes:?}");
    assert!(
        outcomes.iter().all(|o| *o == "applied"),
        "every action applied, none failed: {:?}",
        outcomes
            .iter()
            .filter(|o| **o != "applied")
            .collect::<Vec<_>>()
    );
    assert_eq!(report["status"], "converged");
    assert_eq!(output.status.code(), Some(0));
    let writes = log
        .iter()
        .filter(|e| e.operation.ends_with("SecurityGroupIngress") && e.took_effect())
        .count();
    assert_eq!(writes, 4 * FLEET, "each change reached AWS exactly once");

    // The law of the system: after apply, planning again yields nothing.
    let fleet = StackFile::parse(&tests::fleet_stack_file("fleet-*"), "fleet.toml")
        .unwrap_or_else(|e| panic!("{e}"));
    let stacks = shared::security_groups::observe::observe_stacks(&ec2, &fleet.selector, async {
        Ok(Vec::new())
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(stacks.len(), FLEET);
    for stack in &stacks {
        let plan = plan_security_groups(&fleet, stack);
        assert!(
            plan.actions.is_empty(),
            "{}: {:?}",
            stack.name,
            plan.actions
        );
    }
}

/// A valid parameter set nobody has labeled yet: the engine labels each current version.
#[derive(Debug)]
struct LabelValidSet {
    values: BTreeMap<String, String>,
}

impl Scenario for LabelValidSet {
    const CAPABILITIES: Capabilities = Capabilities::PARAMETERS;

    async fn seed(moto: &Moto) -> Self {
        ssm::put_all(&ssm::client(moto).await, PREFIX, &valid_legacy()).await;
        LabelValidSet {
            values: parameter_values(moto).await,
        }
    }

    fn event(&self) -> Value {
        sample_event("ssm-parameter-create.json", &[])
    }

    async fn assert_not_worse(
        &self,
        moto: &Moto,
        _log: &[Exchange],
        _report: Option<&Report>,
        case: &str,
    ) {
        assert_eq!(
            parameter_values(moto).await,
            self.values,
            "{case}: values changed"
        );
    }

    async fn assert_repaired(&self, moto: &Moto, case: &str) {
        let client = ssm::client(moto).await;
        for name in self.values.keys() {
            assert_eq!(
                ssm::labeled(&client, name, LABEL).await,
                Some(1),
                "{case}: {name}"
            );
        }
    }
}

/// The instance ID the sample alarms name.
const SAMPLE_INSTANCE: &str = "i-0123456789abcdef0";

/// A running standalone node of the demo stack.
async fn demo_node(moto: &Moto) -> String {
    let ec2 = moto.ec2().await;
    let subnet = fleet::subnet(&ec2, "us-east-1a").await;
    fleet::node(&ec2, &subnet, "demo", "node", "m6i.large").await
}

/// A node the run stopped is stopped only when AWS refused every start, and then its record
/// says the remediation failed: the next delivery starts it (`assert_repaired`).
async fn assert_never_left_stopped(
    ec2: &aws_sdk_ec2::Client,
    node: &str,
    state: &str,
    log: &[Exchange],
    case: &str,
) {
    if state == "running" {
        return;
    }
    let started = log
        .iter()
        .any(|e| e.operation == "StartInstances" && e.took_effect());
    assert!(
        state == "stopped" && !started,
        "{case}: left {state} though a start took effect: {:?}",
        calls(log)
    );
    let record = fleet::instance_tag(ec2, node, REMEDIATION_TAG).await;
    assert!(
        record
            .as_deref()
            .is_some_and(|r| r.contains("outcome=failed step=")),
        "{case}: stopped, and the record does not say the remediation failed: {record:?}"
    );
}

/// A CPU alarm on a standalone node: stop, change the type one step up the ladder, start.
#[derive(Debug)]
struct NodeResize {
    node: String,
    event: Value,
}

impl Scenario for NodeResize {
    const CAPABILITIES: Capabilities = Capabilities::INSTANCES;

    async fn seed(moto: &Moto) -> Self {
        let node = demo_node(moto).await;
        let event = real_alarm(
            moto,
            "alarm-eventbridge-cpu.json",
            &[(SAMPLE_INSTANCE, node.as_str())],
        )
        .await;
        NodeResize { node, event }
    }

    fn event(&self) -> Value {
        self.event.clone()
    }

    async fn assert_not_worse(
        &self,
        moto: &Moto,
        log: &[Exchange],
        report: Option<&Report>,
        case: &str,
    ) {
        let ec2 = moto.ec2().await;
        let (state, instance_type) = fleet::state(&ec2, &self.node).await;
        // The type follows the report: the new one only after a resize reported applied, the
        // old one after any failure (the rollback puts it back).
        let resized = report.is_some_and(|r| resize_applied(r, "resize_instance"));
        let expected = if resized { "m6i.xlarge" } else { "m6i.large" };
        assert_eq!(
            instance_type,
            expected,
            "{case}: the report says the resize {}: {report:?}",
            if resized { "applied" } else { "did not apply" }
        );
        assert_never_left_stopped(&ec2, &self.node, &state, log, case).await;
        // AWS refuses a type change on a running instance (moto does not): every change that
        // took effect came after a stop and before the next start.
        let mut stopped = false;
        for exchange in log.iter().filter(|e| e.took_effect()) {
            match exchange.operation.as_str() {
                "StopInstances" => stopped = true,
                "StartInstances" => stopped = false,
                "ModifyInstanceAttribute" => assert!(
                    stopped,
                    "{case}: the type changed on a running instance: {:?}",
                    calls(log)
                ),
                _ => {}
            }
        }
    }

    async fn assert_repaired(&self, moto: &Moto, case: &str) {
        let ec2 = moto.ec2().await;
        let (state, instance_type) = fleet::state(&ec2, &self.node).await;
        assert_eq!(state, "running", "{case}");
        if instance_type != "m6i.xlarge" {
            // The faulted run could not restore the node by itself; the retry started it, and
            // the incident stays handled (the report said the resize failed).
            let record = fleet::instance_tag(&ec2, &self.node, REMEDIATION_TAG).await;
            assert!(
                record
                    .as_deref()
                    .is_some_and(|r| r.contains("outcome=failed step=")),
                "{case}: still {instance_type} after the retry: {record:?}"
            );
        }
    }
}

/// A status-check alarm on a standalone node (`replace`): stop and start it, so that it comes
/// back on another host. Never left stopped by a failure the engine could undo; same type.
#[derive(Debug)]
struct NodeReplace {
    node: String,
    event: Value,
}

impl Scenario for NodeReplace {
    const CAPABILITIES: Capabilities = Capabilities::INSTANCES;

    async fn seed(moto: &Moto) -> Self {
        let node = demo_node(moto).await;
        let event = real_alarm(
            moto,
            "alarm-eventbridge-status-check.json",
            &[(SAMPLE_INSTANCE, node.as_str())],
        )
        .await;
        NodeReplace { node, event }
    }

    fn event(&self) -> Value {
        self.event.clone()
    }

    async fn assert_not_worse(
        &self,
        moto: &Moto,
        log: &[Exchange],
        _report: Option<&Report>,
        case: &str,
    ) {
        let ec2 = moto.ec2().await;
        let (state, instance_type) = fleet::state(&ec2, &self.node).await;
        assert_eq!(
            instance_type, "m6i.large",
            "{case}: a replace keeps the type"
        );
        assert_never_left_stopped(&ec2, &self.node, &state, log, case).await;
    }

    async fn assert_repaired(&self, moto: &Moto, case: &str) {
        let (state, instance_type) = fleet::state(&moto.ec2().await, &self.node).await;
        assert_eq!(
            (state.as_str(), instance_type.as_str()),
            ("running", "m6i.large"),
            "{case}"
        );
    }
}

/// A CPU alarm on an Auto Scaling group: the next type through an instance-type override of
/// the version it uses, an instance refresh. All or nothing, and never a new launch template
/// version. moto has no instance refreshes: mock rules answer those.
struct GroupResize {
    template: String,
    refreshes: aws_smithy_mocks::Rule,
    started: aws_smithy_mocks::Rule,
    event: Value,
}

const GROUP: &str = "demo-nodes";

impl GroupResize {
    /// The type the group launches: its override, else its template's (m6i.large).
    async fn group_type(&self, moto: &Moto) -> String {
        let (_, overrides) = fleet::group_launches(moto, GROUP).await;
        match overrides.as_slice() {
            [] => "m6i.large".to_string(),
            [only] => only.clone(),
            several => panic!("the group launches several types: {several:?}"),
        }
    }
}

impl Scenario for GroupResize {
    const CAPABILITIES: Capabilities = Capabilities::INSTANCES;

    async fn seed(moto: &Moto) -> Self {
        let subnet = fleet::subnet(&moto.ec2().await, "us-east-1a").await;
        let template = fleet::group(moto, &subnet, GROUP, "demo", "node", "m6i.large").await;
        let event = real_alarm(moto, "alarm-eventbridge-group-cpu.json", &[]).await;
        GroupResize {
            template,
            event,
            refreshes: fleet::no_refresh_in_progress(),
            started: fleet::refresh_started(),
        }
    }

    fn event(&self) -> Value {
        self.event.clone()
    }

    fn clients(&self, config: &aws_config::SdkConfig, partition: &str) -> Clients {
        fleet::routed_clients(
            isolated_clients(config, partition),
            &fleet::REFRESH_CALLS,
            &[&self.refreshes, &self.started],
        )
    }

    async fn assert_not_worse(
        &self,
        moto: &Moto,
        _log: &[Exchange],
        report: Option<&Report>,
        case: &str,
    ) {
        let instance_type = self.group_type(moto).await;
        let resized = report.is_some_and(|r| resize_applied(r, "resize_group"));
        assert_eq!(
            instance_type,
            if resized { "m6i.xlarge" } else { "m6i.large" },
            "{case}: the report says the resize {}",
            if resized { "applied" } else { "did not apply" }
        );
        assert!(
            !resized || self.started.num_calls() > 0,
            "{case}: the group launches {instance_type} without a refresh"
        );
        assert_eq!(
            fleet::template_versions(moto, &self.template).await,
            1,
            "{case}: a launch template version was created"
        );
    }

    async fn assert_repaired(&self, moto: &Moto, case: &str) {
        assert_eq!(self.group_type(moto).await, "m6i.xlarge", "{case}");
        assert!(self.started.num_calls() > 0, "{case}: no instance refresh");
    }
}

/// A disk alarm: the root volume grows by the step, then an SSM command extends the
/// filesystem. A volume must never grow twice for one incident.
#[derive(Debug)]
struct DiskGrowth {
    node: String,
    volume: String,
    before: i32,
    event: Value,
}

impl DiskGrowth {
    fn grown(&self) -> i32 {
        self.before + (self.before + 1) / 2
    }
}

impl Scenario for DiskGrowth {
    const CAPABILITIES: Capabilities = Capabilities::INSTANCES;

    async fn seed(moto: &Moto) -> Self {
        let node = demo_node(moto).await;
        let (volume, before) = fleet::root_volume(&moto.ec2().await, &node).await;
        let event = real_alarm(
            moto,
            "alarm-sns-disk.json",
            &[(SAMPLE_INSTANCE, node.as_str())],
        )
        .await;
        DiskGrowth {
            node,
            volume,
            before,
            event,
        }
    }

    fn event(&self) -> Value {
        self.event.clone()
    }

    async fn assert_not_worse(
        &self,
        moto: &Moto,
        log: &[Exchange],
        _report: Option<&Report>,
        case: &str,
    ) {
        // One growth per incident.
        assert_called_at_most_once(log, "ModifyVolume", case);
        let ec2 = moto.ec2().await;
        let (volume, size) = fleet::root_volume(&ec2, &self.node).await;
        assert_eq!(volume, self.volume, "{case}");
        assert!(
            size == self.before || size == self.grown(),
            "{case}: {size} GiB, from {} GiB",
            self.before
        );
        assert_eq!(fleet::state(&ec2, &self.node).await.0, "running", "{case}");
    }

    async fn assert_repaired(&self, moto: &Moto, case: &str) {
        let (_, size) = fleet::root_volume(&moto.ec2().await, &self.node).await;
        assert_eq!(size, self.grown(), "{case}: grown once, never twice");
    }
}

/// A free-storage alarm of the stack's database: the allocated storage grows by the step
/// (100 → 120 GiB), once. It must never grow twice for one incident, nor be left between sizes.
#[derive(Debug)]
struct StorageGrowth {
    event: Value,
}

const GROWN_GIB: i32 = 120;

impl StorageGrowth {
    async fn storage(moto: &Moto) -> i32 {
        let rds = aws_sdk_rds::Client::new(&moto.sdk_config().await);
        fleet::database_state(&rds, "demo-db", REMEDIATION_TAG)
            .await
            .1
    }
}

impl Scenario for StorageGrowth {
    const CAPABILITIES: Capabilities = Capabilities::INSTANCES;

    async fn seed(moto: &Moto) -> Self {
        let rds = aws_sdk_rds::Client::new(&moto.sdk_config().await);
        fleet::database(&rds, &fleet::DatabaseSeed::default()).await;
        let event = fleet::rds_alarm(moto, "demo-db-free-storage", "FreeStorageSpace").await;
        StorageGrowth { event }
    }

    fn event(&self) -> Value {
        self.event.clone()
    }

    async fn assert_not_worse(
        &self,
        moto: &Moto,
        log: &[Exchange],
        _report: Option<&Report>,
        case: &str,
    ) {
        // One modification per incident.
        assert_called_at_most_once(log, "ModifyDBInstance", case);
        let storage = Self::storage(moto).await;
        assert!(
            storage == 100 || storage == GROWN_GIB,
            "{case}: {storage} GiB, from 100 GiB"
        );
    }

    async fn assert_repaired(&self, moto: &Moto, case: &str) {
        assert_eq!(
            Self::storage(moto).await,
            GROWN_GIB,
            "{case}: grown once, never twice"
        );
    }
}
