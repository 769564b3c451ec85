//! The instance function's database remediations against the emulator: each RDS alarm shape,
//! the storage growth and its cap and six-hour rule, the class step with Multi-AZ and single-AZ
//! timing, a duplicate notification, a DB instance outside the stack, and a lost answer. moto
//! applies a class change at once whatever `ApplyImmediately` says, so the tests assert on the
//! requests sent, not only on what the emulator then describes.

use chrono::{Duration, Utc};
use domain::instances::{RecordOutcome, RemediationRecord, REMEDIATION_TAG};
use domain::report::{Execution, Report, Status};
use domain::stack::{Remediation, StackFile};
use serde_json::Value;
use shared::engine::{Capabilities, Engine};
use shared::invocation::handle_event;
use tests::fleet::{self, DatabaseSeed};
use tests::{repo_path, Fault, FaultProxy, Moto, Schedule};

fn sample_stack() -> StackFile {
    StackFile::load(&repo_path("samples/stack.toml")).unwrap_or_else(|e| panic!("{e}"))
}

fn engine(clients: shared::aws::Clients) -> Engine {
    Engine::new(clients, sample_stack(), Capabilities::INSTANCES)
}

async fn rds(moto: &Moto) -> aws_sdk_rds::Client {
    aws_sdk_rds::Client::new(&moto.sdk_config().await)
}

/// What one alarm on the demo database did: the report and the requests the run sent.
struct Handled {
    report: Report,
    mutating: Vec<String>,
    modifications: Vec<String>,
    event_reads: usize,
}

/// Seeds the demo database as `seed`, fires the alarm `name` on its `metric` and handles it.
async fn handle_alarm(seed: DatabaseSeed<'_>, name: &str, metric: &str) -> Handled {
    let moto = Moto::start();
    fleet::database(&rds(&moto).await, &seed).await;
    let event = fleet::rds_alarm(&moto, name, metric).await;
    let recording = moto.start_recording();
    let report = handle(&engine(moto.clients().await), event).await;
    Handled {
        report,
        mutating: recording.mutating_calls(),
        modifications: recording.bodies_of("ModifyDBInstance"),
        event_reads: recording.bodies_of("DescribeEvents").len(),
    }
}

async fn handle(engine: &Engine, event: Value) -> Report {
    handle_event(engine, event)
        .await
        .unwrap_or_else(|e| panic!("retryable: {e}"))
}

fn database_steps(report: &Report) -> Vec<(String, String)> {
    let json = serde_json::to_value(report).unwrap_or_else(|e| panic!("{e}"));
    json["stacks"][0]["database"]["actions"]
        .as_array()
        .map(|actions| {
            actions
                .iter()
                .map(|a| {
                    (
                        a["action"].as_str().unwrap_or_default().to_string(),
                        a["outcome"].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn a_free_storage_alarm_grows_the_storage_once_by_the_step_applied_immediately() {
    let moto = Moto::start();
    let rds = rds(&moto).await;
    fleet::database(&rds, &DatabaseSeed::default()).await;
    let event = fleet::rds_alarm(&moto, "demo-db-free-storage", "FreeStorageSpace").await;
    let engine = engine(moto.clients().await);

    let recording = moto.start_recording();
    let report = handle(&engine, event.clone()).await;

    assert_eq!(report.status, Status::Converged, "{report}");
    assert_eq!(
        database_steps(&report),
        [
            ("record_remediation".to_string(), "applied".to_string()),
            ("grow_storage".to_string(), "applied".to_string())
        ],
        "{report}"
    );
    assert_eq!(
        recording.mutating_calls(),
        ["AddTagsToResource", "ModifyDBInstance"],
        "the record first, then one modification"
    );
    // Every call of the run: the alarm re-read and its metric, the region's DB instances once,
    // the six hours of events, the record, the precondition's re-read, the modification.
    let calls: Vec<String> = recording.requests().into_iter().map(|(a, _)| a).collect();
    assert_eq!(
        calls,
        [
            "DescribeAlarms",
            "ListTagsForResource",
            "GetMetricData",
            "DescribeDBInstances",
            "DescribeEvents",
            "AddTagsToResource",
            "DescribeDBInstances",
            "ModifyDBInstance"
        ],
        "{report}"
    );
    let modifications = recording.bodies_of("ModifyDBInstance");
    // The sample's step is 20 % of 100 GiB; a storage change always applies at once.
    assert!(
        modifications[0].contains("AllocatedStorage=120")
            && modifications[0].contains("ApplyImmediately=true")
            && !modifications[0].contains("DBInstanceClass"),
        "{modifications:?}"
    );
    let (_, storage, record) = fleet::database_state(&rds, "demo-db", REMEDIATION_TAG).await;
    assert_eq!(storage, 120);
    assert!(
        record
            .as_deref()
            .is_some_and(|r| r.starts_with("grow_storage ")),
        "{record:?}"
    );

    // The same notification again (SNS and EventBridge both deliver, Lambda retries): nothing.
    let recording = moto.start_recording();
    let again = handle(&engine, event).await;
    assert_eq!(again.status, Status::Converged, "{again}");
    assert!(again.to_string().contains("was already handled"), "{again}");
    assert_eq!(recording.mutating_calls(), Vec::<String>::new());
}

/// AWS refuses a storage change within six hours of the last: planned for from the record and
/// the events, never found out by calling.
#[tokio::test]
async fn a_storage_change_within_six_hours_of_the_last_is_refused_without_a_call() {
    let moto = Moto::start();
    let rds = rds(&moto).await;
    fleet::database(&rds, &DatabaseSeed::default()).await;
    // An earlier incident's growth, two hours ago: past the hour's cooldown, inside six hours.
    let earlier = RemediationRecord {
        remediation: Remediation::GrowStorage,
        at: Utc::now() - Duration::hours(2),
        incident: "0123456789abcdef".into(),
        outcome: RecordOutcome::Started,
        step: None,
        approval: None,
    };
    rds.add_tags_to_resource()
        .resource_name("arn:aws:rds:us-east-1:123456789012:db:demo-db")
        .tags(
            aws_sdk_rds::types::Tag::builder()
                .key(REMEDIATION_TAG)
                .value(earlier.tag_value())
                .build(),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let event = fleet::rds_alarm(&moto, "demo-db-free-storage", "FreeStorageSpace").await;
    let engine = engine(moto.clients().await);

    let recording = moto.start_recording();
    let report = handle(&engine, event).await;

    assert_eq!(report.status, Status::Refused, "{report}");
    let text = report.to_string();
    assert!(
        text.contains("within 6 hours") && text.contains("possible from"),
        "{text}"
    );
    assert_eq!(recording.mutating_calls(), Vec::<String>::new());
    assert_eq!(fleet::database_state(&rds, "demo-db", "none").await.1, 100);
}

/// A storage change someone else made leaves no tag of ours: RDS's own events tell it (the
/// emulator writes them as AWS does), and the six-hour rule counts from it.
#[tokio::test]
async fn a_storage_change_made_by_hand_is_read_from_rds_events() {
    let moto = Moto::start();
    let rds = rds(&moto).await;
    fleet::database(&rds, &DatabaseSeed::default()).await;
    rds.modify_db_instance()
        .db_instance_identifier("demo-db")
        .allocated_storage(110)
        .apply_immediately(true)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let event = fleet::rds_alarm(&moto, "demo-db-free-storage", "FreeStorageSpace").await;

    let recording = moto.start_recording();
    let report = handle(&engine(moto.clients().await), event).await;

    assert_eq!(report.status, Status::Refused, "{report}");
    assert!(report.to_string().contains("within 6 hours"), "{report}");
    assert_eq!(recording.mutating_calls(), Vec::<String>::new());
    assert_eq!(
        recording.bodies_of("DescribeEvents").len(),
        1,
        "one page: only the last six hours are asked for"
    );
}

/// At the cap (`storage_max_gib = 500`), a growth of the 10 % AWS requires would pass it.
#[tokio::test]
async fn a_database_at_its_storage_cap_is_left_to_a_person() {
    let seed = DatabaseSeed {
        allocated_gib: 480,
        ..DatabaseSeed::default()
    };
    let run = handle_alarm(seed, "demo-db-free-storage", "FreeStorageSpace").await;

    let report = &run.report;
    assert_eq!(report.status, Status::Refused, "{report}");
    assert!(
        report.to_string().contains("database.storage_max_gib"),
        "{report}"
    );
    assert_eq!(run.mutating, Vec::<String>::new());
}

/// A single-AZ instance's class change waits for its maintenance window (the sample does not
/// allow downtime); a Multi-AZ one fails over to the resized standby at once.
#[tokio::test]
async fn a_cpu_alarm_moves_the_class_one_step_now_only_on_a_multi_az_instance() {
    for (multi_az, immediately, timing) in [
        (false, false, "maintenance window"),
        (true, true, "Multi-AZ failover"),
    ] {
        let seed = DatabaseSeed {
            multi_az,
            ..DatabaseSeed::default()
        };
        let run = handle_alarm(seed, "demo-db-cpu", "CPUUtilization").await;

        let (report, modifications) = (&run.report, &run.modifications);
        assert_eq!(report.status, Status::Converged, "{report}");
        assert!(report.to_string().contains(timing), "{report}");
        assert_eq!(modifications.len(), 1, "{modifications:?}");
        assert!(
            modifications[0].contains("DBInstanceClass=db.m6i.xlarge")
                && modifications[0].contains(&format!("ApplyImmediately={immediately}"))
                && !modifications[0].contains("AllocatedStorage"),
            "multi_az={multi_az}: {modifications:?}"
        );
    }
}

/// A DB instance tagged into another stack is never changed on this stack's alarm, even when
/// the alarm is tagged into this one.
#[tokio::test]
async fn a_database_of_another_stack_is_refused() {
    let seed = DatabaseSeed {
        stack: "other",
        ..DatabaseSeed::default()
    };
    let run = handle_alarm(seed, "demo-db-free-storage", "FreeStorageSpace").await;

    let report = &run.report;
    assert_eq!(report.status, Status::Refused, "{report}");
    assert!(
        report.to_string().contains("chainlink:stack = other"),
        "{report}"
    );
    assert_eq!(run.mutating, Vec::<String>::new());
    assert_eq!(
        run.event_reads, 0,
        "another stack's database history is not read"
    );
}

/// A connections alarm changes nothing on the database; freeable memory steps the class.
#[tokio::test]
async fn a_connections_alarm_changes_nothing_and_a_memory_alarm_steps_the_class() {
    let moto = Moto::start();
    let rds = rds(&moto).await;
    fleet::database(&rds, &DatabaseSeed::default()).await;
    let engine = engine(moto.clients().await);

    let event = fleet::rds_alarm(&moto, "demo-db-connections", "DatabaseConnections").await;
    let recording = moto.start_recording();
    let report = handle(&engine, event).await;
    assert_eq!(report.status, Status::Converged, "{report}");
    assert!(
        report
            .to_string()
            .contains("a connections alarm changes nothing on the database"),
        "{report}"
    );
    assert_eq!(recording.mutating_calls(), Vec::<String>::new());

    let event = fleet::rds_alarm(&moto, "demo-db-memory", "FreeableMemory").await;
    let report = handle(&engine, event).await;
    assert_eq!(report.status, Status::Converged, "{report}");
    assert_eq!(
        database_steps(&report)
            .into_iter()
            .map(|(action, _)| action)
            .collect::<Vec<_>>(),
        ["record_remediation", "scale_class"],
        "{report}"
    );
}

/// The connections alarm compares the running nodes' pools with the database's limit, from
/// the parameters as stored: a pool setting kept in a SecureString is not decrypted, and the
/// report says it is unknown.
#[tokio::test]
async fn a_connections_alarm_compares_the_nodes_pools_with_the_limit_without_decrypting() {
    let moto = Moto::start();
    let rds = rds(&moto).await;
    fleet::database(&rds, &DatabaseSeed::default()).await;
    let ssm = tests::ssm::client(&moto).await;
    for (key, value) in tests::ssm::valid_legacy() {
        let secure = key.contains("DATABASE_URL") || key.contains("PASSWORD");
        let kms = secure.then_some("alias/aws/ssm");
        tests::ssm::put_as(&ssm, &format!("/chainlink/demo/{key}"), value, kms).await;
    }
    tests::ssm::put_as(&ssm, "/chainlink/demo/ORM_MAX_OPEN_CONNS", "40", None).await;
    let ec2 = moto.ec2().await;
    let subnet = fleet::subnet(&ec2, "us-east-1a").await;
    for _ in 0..3 {
        fleet::node(&ec2, &subnet, "demo", "node", "m6i.large").await;
    }
    let engine = engine(moto.clients().await);

    let event = fleet::rds_alarm(&moto, "demo-db-connections", "DatabaseConnections").await;
    let recording = moto.start_recording();
    let report = handle(&engine, event).await;
    let text = report.to_string();
    // The sample declares max_connections = 100, under what the class's formula allows.
    assert!(
        text.contains("CL-DB-011")
            && text.contains("3 node(s) × ORM_MAX_OPEN_CONNS 40 = 120 connections")
            && text.contains("over its limit of 100"),
        "{text}"
    );
    assert_eq!(recording.mutating_calls(), Vec::<String>::new());
    assert!(
        !recording.bodies_of("GetParametersByPath")[0].contains("\"WithDecryption\":true"),
        "read as stored"
    );

    tests::ssm::put_as(
        &ssm,
        "/chainlink/demo/ORM_MAX_OPEN_CONNS",
        "40",
        Some("alias/aws/ssm"),
    )
    .await;
    let event = fleet::rds_alarm(&moto, "demo-db-connections-2", "DatabaseConnections").await;
    let report = handle(&engine, event).await;
    let text = report.to_string();
    assert!(
        text.contains("ORM_MAX_OPEN_CONNS is a SecureString") && !text.contains("CL-DB-011"),
        "{text}"
    );
}

/// A real, breaching alarm of the stack's database whose DB instance does not exist (deleted
/// since) is a no-op that says so, and nothing is written.
#[tokio::test]
async fn an_alarm_of_a_deleted_db_instance_is_a_no_op_that_says_why() {
    let moto = Moto::start();
    let event = fleet::rds_alarm(&moto, "demo-db-free-storage", "FreeStorageSpace").await;

    let recording = moto.start_recording();
    let report = handle(&engine(moto.clients().await), event).await;

    assert_eq!(report.status, Status::Converged, "{report}");
    assert!(
        report
            .to_string()
            .contains("DB instance demo-db does not exist"),
        "{report}"
    );
    assert_eq!(recording.mutating_calls(), Vec::<String>::new());
}

/// `plan --event` (and `report` mode) shows the steps apply would take, and sends nothing.
#[tokio::test]
async fn a_plan_shows_the_modification_and_sends_nothing() {
    let moto = Moto::start();
    let rds = rds(&moto).await;
    fleet::database(&rds, &DatabaseSeed::default()).await;
    let event = fleet::rds_alarm(&moto, "demo-db-free-storage", "FreeStorageSpace").await;
    let signal = domain::event::parse_event_value(event).unwrap_or_else(|e| panic!("{e}"));

    let recording = moto.start_recording();
    let report = engine(moto.clients().await)
        .run(signal, Execution::Plan)
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    assert_eq!(report.status, Status::Planned, "{report}");
    assert!(
        report
            .to_string()
            .contains("grow the storage of DB instance demo-db 100 GiB → 120 GiB"),
        "{report}"
    );
    assert_eq!(recording.mutating_calls(), Vec::<String>::new());
}

/// A modification whose answer is lost (RDS took it; the client timed out) is read back and
/// reported applied: never sent a second time, which with `ApplyImmediately` could flush
/// modifications queued in between.
#[tokio::test]
async fn a_lost_answer_to_the_modification_is_read_back_not_sent_twice() {
    let moto = Moto::start();
    let rds = rds(&moto).await;
    fleet::database(&rds, &DatabaseSeed::default()).await;
    let event = fleet::rds_alarm(&moto, "demo-db-free-storage", "FreeStorageSpace").await;
    let proxy = FaultProxy::start(&moto.endpoint);
    proxy.fail(
        "ModifyDBInstance",
        Schedule::Requests(vec![1]),
        Fault::Slow(std::time::Duration::from_secs(30)),
    );
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .operation_attempt_timeout(std::time::Duration::from_millis(500))
        .build();
    let retries = aws_config::retry::RetryConfig::standard().with_max_attempts(1);
    let config = tests::sdk_config_loader(&proxy.endpoint)
        .timeout_config(timeouts)
        .retry_config(retries)
        .load()
        .await;
    let engine = engine(shared::aws::Clients::new(&config));

    let report = handle(&engine, event).await;

    assert_eq!(report.status, Status::Converged, "{report}");
    let modifications = proxy
        .exchanges()
        .iter()
        .filter(|e| e.operation == "ModifyDBInstance")
        .count();
    assert_eq!(modifications, 1, "sent once");
    assert_eq!(fleet::database_state(&rds, "demo-db", "none").await.1, 120);
}

/// The demo database in a DB subnet group of `subnet` only, wearing `group` only, and the
/// security-group engine that checks the stack's flows.
async fn database_wearing(
    moto: &Moto,
    subnet: &str,
    group: &domain::ids::SecurityGroupId,
) -> Engine {
    let rds = rds(moto).await;
    rds.create_db_subnet_group()
        .db_subnet_group_name("demo-subnets")
        .db_subnet_group_description("the database's subnet")
        .subnet_ids(subnet)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    fleet::database(&rds, &DatabaseSeed::default()).await;
    rds.modify_db_instance()
        .db_instance_identifier("demo-db")
        .db_subnet_group_name("demo-subnets")
        .vpc_security_group_ids(group.as_str())
        .apply_immediately(true)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    Engine::new(
        moto.clients().await,
        sample_stack(),
        Capabilities::SECURITY_GROUPS,
    )
}

/// The flow check locates the stack's RDS database by its DB subnet group (no EC2 instance
/// wears the db group here): the node → db path crosses the data subnet's ACL, which denies it.
#[tokio::test]
async fn the_flow_check_reaches_the_database_through_its_subnet_group() {
    use tests::seed;
    let moto = Moto::start();
    let ec2 = moto.ec2().await;
    let vpc = seed::vpc(&ec2, "10.0.0.0/16").await;
    let app = seed::subnet(&ec2, &vpc, "10.0.1.0/24").await;
    let data = seed::subnet(&ec2, &vpc, "10.0.2.0/24").await;
    let node = seed::group(&ec2, &vpc, "demo-node", "demo", "node").await;
    let db = seed::group(&ec2, &vpc, "demo-db", "demo", "db").await;
    seed::allow(&ec2, &db, &[tests::rule::tcp(5432, node.as_str())]).await;
    seed::instance(&ec2, &app, &node, "demo", "node").await;
    seed::acl_denying(&ec2, &vpc, &data, 5432, "10.0.1.0/24").await;
    let engine = database_wearing(&moto, &data, &db).await;

    let report = engine
        .run(domain::signal::Signal::sweep("test"), Execution::Plan)
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    let flow = report.stacks[0]
        .security_groups
        .flow_check
        .iter()
        .find(|f| f.check.flow == "node-db")
        .unwrap_or_else(|| panic!("{report}"));
    let text = report.to_string();
    assert_eq!(
        flow.check.status,
        domain::security_groups::FlowStatus::Blocked,
        "{text}"
    );
    assert!(
        text.contains("inbound rule 90 denies tcp 5432 from 10.0.1.0/24"),
        "{text}"
    );
}

/// A database that wears a group of its own, outside the stack (as a third-party template
/// makes them): the flow check reads that group by ID and judges the path by its rules, and
/// the planner never touches it.
#[tokio::test]
async fn the_flow_check_judges_the_database_by_the_groups_it_really_wears() {
    use tests::seed;
    let moto = Moto::start();
    let ec2 = moto.ec2().await;
    let vpc = seed::vpc(&ec2, "10.0.0.0/16").await;
    let app = seed::subnet(&ec2, &vpc, "10.0.1.0/24").await;
    let node = seed::group(&ec2, &vpc, "demo-node", "demo", "node").await;
    seed::group(&ec2, &vpc, "demo-db", "demo", "db").await;
    let theirs = seed::group(&ec2, &vpc, "rds-from-their-template", "", "").await;
    seed::allow(&ec2, &theirs, &[tests::rule::tcp(5432, node.as_str())]).await;
    seed::instance(&ec2, &app, &node, "demo", "node").await;
    let engine = database_wearing(&moto, &app, &theirs).await;

    let recording = moto.start_recording();
    let report = engine
        .run(domain::signal::Signal::sweep("test"), Execution::Apply)
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    let flow = report.stacks[0]
        .security_groups
        .flow_check
        .iter()
        .find(|f| f.check.flow == "node-db")
        .unwrap_or_else(|| panic!("{report}"));
    let through_theirs = format!("DB instance demo-db ({theirs})");
    let path = flow
        .check
        .paths
        .iter()
        .find(|p| p.target == through_theirs)
        .unwrap_or_else(|| panic!("no path through {theirs}: {report}"));
    assert_eq!(
        path.status,
        domain::security_groups::FlowStatus::Open,
        "{report}"
    );
    let touched_theirs = recording
        .mutating_calls()
        .into_iter()
        .any(|call| call.contains(theirs.as_str()));
    assert!(!touched_theirs, "{:?}", recording.mutating_calls());
}
