//! The instance function against the emulator: each alarm shape, each remediation, the limits,
//! duplicates, and failures in the middle of a resize. The emulator's extension makes instances
//! pass through `stopping` and `pending` and refuses a type change on an instance that is not
//! stopped, as AWS does; the resize tests still assert the order of the calls.

use aws_sdk_autoscaling::operation::describe_instance_refreshes::DescribeInstanceRefreshesOutput;
use aws_sdk_autoscaling::operation::start_instance_refresh::{
    StartInstanceRefreshError, StartInstanceRefreshOutput,
};
use aws_sdk_autoscaling::types::{InstanceRefresh, InstanceRefreshStatus};
use aws_smithy_mocks::mock;
use aws_smithy_types::error::ErrorMetadata;
use domain::instances::REMEDIATION_TAG;
use domain::report::{Execution, Report, Status};
use domain::stack::StackFile;
use shared::aws::Clients;
use shared::engine::{Capabilities, Engine};
use shared::instances::apply::{Waits, MOUNT_PATH_PARAMETER};
use shared::invocation::handle_event;
use std::time::Duration;
use tests::{fleet, repo_path, Fault, FaultProxy, Moto, Schedule};

const SAMPLE_INSTANCE: &str = "i-0123456789abcdef0";

fn sample_stack() -> StackFile {
    StackFile::load(&repo_path("samples/stack.toml")).unwrap_or_else(|e| panic!("{e}"))
}

/// A sample alarm event aimed at `instance` (and the sample group name at `group`), whose
/// alarm exists in the emulator: created with the sample's metric and dimensions, tagged into
/// the demo stack and set to ALARM; the event carries the time of that transition. A sample of
/// another transition (OK) is returned as it is.
async fn alarm(moto: &Moto, name: &str, instance: &str) -> serde_json::Value {
    let raw = std::fs::read_to_string(repo_path(&format!("samples/events/{name}")))
        .unwrap_or_else(|e| panic!("{name}: {e}"))
        .replace(SAMPLE_INSTANCE, instance);
    let raw = fleet::real_alarm_event(moto, &raw).await;
    serde_json::from_str(&raw).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn engine(clients: Clients, file: StackFile) -> Engine {
    engine_reading(clients, file, 500)
}

/// The instance engine, whose waits give up after `reads` reads of the resource.
fn engine_reading(clients: Clients, file: StackFile, reads: u32) -> Engine {
    Engine::new(clients, file, Capabilities::INSTANCES)
        .with_filesystem_document(Some(tests::filesystem_document()))
        .with_waits(Waits {
            poll: Duration::from_millis(20),
            reads,
        })
}

/// The instance engine behind a fault proxy that refuses the first `action` request as AWS would
/// (HTTP 400 with `code`), a refusal moto never gives; keep the proxy alive while the engine runs.
async fn engine_refused_once(
    moto: &Moto,
    action: &str,
    code: &'static str,
    message: &'static str,
) -> (Engine, FaultProxy) {
    let proxy = FaultProxy::start(&moto.endpoint);
    proxy.fail(
        action,
        Schedule::Requests(vec![1]),
        Fault::Refuse {
            status: 400,
            code,
            message,
        },
    );
    let clients = Clients::new(&tests::sdk_config_loader(&proxy.endpoint).load().await);
    (engine(clients, sample_stack()), proxy)
}

async fn handle(engine: &Engine, event: serde_json::Value) -> Report {
    handle_event(engine, event)
        .await
        .unwrap_or_else(|e| panic!("retryable: {e}"))
}

/// A running node of the demo stack in us-east-1a.
async fn demo_node(moto: &Moto, instance_type: &str) -> String {
    let ec2 = moto.ec2().await;
    let subnet = fleet::subnet(&ec2, "us-east-1a").await;
    fleet::node(&ec2, &subnet, "demo", "node", instance_type).await
}

fn decision(report: &Report) -> String {
    let instances = report.stacks[0]
        .instances
        .as_ref()
        .unwrap_or_else(|| panic!("no instance report: {report}"));
    serde_json::to_value(&instances.decision)
        .map(|v| v.to_string())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_cpu_alarm_resizes_a_standalone_node_stop_change_start_in_that_order() {
    let moto = Moto::start();
    let node = demo_node(&moto, "m6i.large").await;
    let engine = engine(moto.clients().await, sample_stack());

    let event = alarm(&moto, "alarm-eventbridge-cpu.json", &node).await;
    let recording = moto.start_recording();
    let report = handle(&engine, event).await;

    assert_eq!(report.status, Status::Converged, "{report}");
    assert_eq!(
        recording.mutating_calls(),
        [
            format!("CreateTags {node}"),
            format!("StopInstances {node}"),
            format!("ModifyInstanceAttribute {node}"),
            format!("StartInstances {node}"),
        ],
        "the type changes only while the instance is stopped"
    );
    let ec2 = moto.ec2().await;
    assert_eq!(
        fleet::state(&ec2, &node).await,
        ("running".into(), "m6i.xlarge".into())
    );
    let record = fleet::instance_tag(&ec2, &node, REMEDIATION_TAG).await;
    assert!(
        record
            .as_deref()
            .is_some_and(|r| r.starts_with("resize at=")),
        "{record:?}"
    );
    let text = report.to_string();
    assert!(text.contains("resize"), "{text}");
    assert!(text.contains("m6i.large → m6i.xlarge"), "{text}");
}

#[tokio::test]
async fn the_same_incident_delivered_again_or_through_sns_acts_once() {
    let moto = Moto::start();
    let node = demo_node(&moto, "m6i.large").await;
    let engine = engine(moto.clients().await, sample_stack());
    let event = alarm(&moto, "alarm-eventbridge-cpu.json", &node).await;

    let changed_at = event["detail"]["state"]["timestamp"].clone();

    let recording = moto.start_recording();
    handle(&engine, event.clone()).await;
    let again = handle(&engine, event).await;
    // The same transition, as an SNS subscription would deliver it.
    let message = serde_json::json!({
        "AlarmName": "demo-node-cpu", "NewStateValue": "ALARM", "OldStateValue": "OK",
        "StateChangeTime": changed_at,
        "Trigger": {"MetricName": "CPUUtilization", "Namespace": "AWS/EC2",
            "Dimensions": [{"name": "InstanceId", "value": node}]}
    });
    let via_sns = handle(
        &engine,
        serde_json::json!({"Records": [{"EventSource": "aws:sns",
            "Sns": {"MessageId": "m-1", "Message": message.to_string()}}]}),
    )
    .await;

    assert_eq!(recording.mutating_calls().len(), 4, "one resize in all");
    for report in [&again, &via_sns] {
        assert_eq!(report.status, Status::Converged, "{report}");
        assert!(decision(report).contains("already handled"), "{report}");
    }
    assert_eq!(
        fleet::state(&moto.ec2().await, &node).await.1,
        "m6i.xlarge",
        "one step, not two"
    );
}

#[tokio::test]
async fn a_second_alarm_within_the_cooldown_does_not_act() {
    let moto = Moto::start();
    let node = demo_node(&moto, "m6i.large").await;
    let engine = engine(moto.clients().await, sample_stack());
    handle(
        &engine,
        alarm(&moto, "alarm-eventbridge-cpu.json", &node).await,
    )
    .await;

    let event = alarm(&moto, "alarm-lambda-action-memory.json", &node).await;
    let recording = moto.start_recording();
    // Another alarm (memory) on the same node, minutes later.
    let report = handle(&engine, event).await;
    assert!(recording.mutating_calls().is_empty());
    assert!(decision(&report).contains("cooling down"), "{report}");
}

#[tokio::test]
async fn a_memory_alarm_through_the_direct_lambda_action_resizes_too() {
    let moto = Moto::start();
    let node = demo_node(&moto, "m6i.xlarge").await;
    let engine = engine(moto.clients().await, sample_stack());
    let report = handle(
        &engine,
        alarm(&moto, "alarm-lambda-action-memory.json", &node).await,
    )
    .await;
    assert_eq!(report.status, Status::Converged, "{report}");
    assert_eq!(report.signal.origin, "alarm:lambda-action");
    assert_eq!(
        fleet::state(&moto.ec2().await, &node).await,
        ("running".into(), "m6i.2xlarge".into())
    );
}

/// A disk alarm (through SNS) on a running demo node, handled by an engine given `document`.
struct DiskRun {
    moto: Moto,
    node: String,
    volume: String,
    /// The root volume's size before, and the size one step (50 %) larger.
    before: i32,
    grown: i32,
    report: Report,
    calls: Vec<String>,
    /// The same event delivered again after the run.
    replay: Report,
}

async fn disk_alarm(document: Option<shared::domain::ids::DocumentName>) -> DiskRun {
    let moto = Moto::start();
    let node = demo_node(&moto, "m6i.large").await;
    let (volume, before) = fleet::root_volume(&moto.ec2().await, &node).await;
    let engine = engine(moto.clients().await, sample_stack()).with_filesystem_document(document);
    let event = alarm(&moto, "alarm-sns-disk.json", &node).await;
    let recording = moto.start_recording();
    let report = handle(&engine, event.clone()).await;
    let calls = recording.mutating_calls();
    let replay = handle(&engine, event).await;
    let grown = before + (before + 1) / 2;
    assert_eq!(
        fleet::root_volume(&moto.ec2().await, &node).await,
        (volume.clone(), grown),
        "the volume grew by one step"
    );
    DiskRun {
        moto,
        node,
        volume,
        before,
        grown,
        report,
        calls,
        replay,
    }
}

#[tokio::test]
async fn a_disk_alarm_through_sns_grows_the_root_volume_then_extends_the_filesystem() {
    let run = disk_alarm(Some(tests::filesystem_document())).await;
    let (node, volume, report) = (&run.node, &run.volume, &run.report);

    assert_eq!(report.status, Status::Converged, "{report}");
    assert_eq!(
        run.calls,
        [
            format!("CreateTags {node}"),
            format!("ModifyVolume {volume}"),
            format!("SendCommand {node}"),
        ]
    );
    let text = report.to_string();
    assert!(text.contains("SSM command"), "{text}");
    assert!(
        text.contains(&format!("{} GiB → {} GiB", run.before, run.grown)),
        "{text}"
    );
    // The stack's own document, with the mount path as its only parameter: never a document
    // that runs whatever command it is given.
    assert_eq!(
        ssm_commands(&run.moto, node).await,
        [(
            tests::filesystem_document().as_str().to_string(),
            vec![(MOUNT_PATH_PARAMETER.to_string(), vec!["/".to_string()])]
        )]
    );
}

/// Each SSM command sent to `instance`: its document and its parameters.
async fn ssm_commands(moto: &Moto, instance: &str) -> Vec<(String, Vec<(String, Vec<String>)>)> {
    let listed = tests::ssm::client(moto)
        .await
        .list_commands()
        .instance_id(instance)
        .send()
        .await
        .unwrap_or_else(|e| panic!("ListCommands: {e:?}"));
    let mut commands = Vec::new();
    for command in listed.commands() {
        let mut parameters: Vec<(String, Vec<String>)> = command
            .parameters()
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        parameters.sort();
        commands.push((
            command.document_name().unwrap_or_default().to_string(),
            parameters,
        ));
    }
    commands
}

#[tokio::test]
async fn without_a_filesystem_document_the_volume_grows_and_a_person_extends_the_filesystem() {
    let DiskRun {
        moto,
        node,
        volume,
        report,
        calls,
        replay,
        ..
    } = disk_alarm(None).await;

    assert_eq!(report.status, Status::Failed, "a person must act: {report}");
    assert_eq!(
        calls,
        [
            format!("CreateTags {node}"),
            format!("ModifyVolume {volume}"),
            format!("CreateTags {node}"),
        ],
        "no command at all: the engine has no document to fall back on"
    );
    assert!(ssm_commands(&moto, &node).await.is_empty());
    let text = report.to_string();
    let by_hand = format!("extend the filesystem at / on {node} by hand");
    for said in ["no filesystem document is configured", by_hand.as_str()] {
        assert!(text.contains(said), "{said:?} in {text}");
    }
    // The volume grew: a retry of the event must not grow it again.
    let record = fleet::instance_tag(&moto.ec2().await, &node, REMEDIATION_TAG).await;
    assert!(
        record
            .as_deref()
            .is_some_and(|r| r.ends_with("outcome=failed step=extend_filesystem")),
        "{record:?}"
    );
    // One story: the report says a retry will not act again, and the replay says why.
    assert!(
        text.contains(
            "recorded as failed at extend_filesystem: a retry of the event will not act again"
        ),
        "{text}"
    );
    assert!(
        report.retry_note().contains(
            "the retry will not act again: the incident is recorded as failed at extend_filesystem"
        ),
        "{}",
        report.retry_note()
    );
    let said = decision(&replay);
    assert!(
        said.contains("handled before: failed at extend_filesystem, see the report of"),
        "{said}"
    );
}

#[tokio::test]
async fn a_status_check_alarm_restarts_a_standalone_node_on_a_new_host() {
    let moto = Moto::start();
    let node = demo_node(&moto, "m6i.large").await;
    let engine = engine(moto.clients().await, sample_stack());
    let event = alarm(&moto, "alarm-eventbridge-status-check.json", &node).await;
    let recording = moto.start_recording();
    let report = handle(&engine, event).await;
    assert_eq!(report.status, Status::Converged, "{report}");
    assert_eq!(
        recording.mutating_calls(),
        [
            format!("CreateTags {node}"),
            format!("StopInstances {node}"),
            format!("StartInstances {node}"),
        ]
    );
    assert_eq!(
        fleet::state(&moto.ec2().await, &node).await,
        ("running".into(), "m6i.large".into())
    );
}

#[tokio::test]
async fn a_status_check_alarm_on_a_group_member_marks_it_unhealthy() {
    let moto = Moto::start();
    let subnet = fleet::subnet(&moto.ec2().await, "us-east-1a").await;
    fleet::group(&moto, &subnet, "demo-nodes", "demo", "node", "m6i.large").await;
    let member = fleet::group_instance(&moto, "demo-nodes").await;
    let engine = engine(moto.clients().await, sample_stack());

    let event = alarm(&moto, "alarm-eventbridge-status-check.json", &member).await;
    let recording = moto.start_recording();
    let report = handle(&engine, event).await;

    assert_eq!(report.status, Status::Converged, "{report}");
    assert_eq!(
        recording.mutating_calls(),
        [
            format!("CreateTags {member}"),
            format!("SetInstanceHealth {member}"),
        ]
    );
    let (_, health) = fleet::group_state(&moto, "demo-nodes").await;
    assert!(
        health.contains(&(member.clone(), "Unhealthy".into())),
        "{health:?}"
    );
}

#[tokio::test]
async fn a_cpu_alarm_on_a_group_launches_the_next_type_through_an_override_and_refreshes_it() {
    let moto = Moto::start();
    let subnet = fleet::subnet(&moto.ec2().await, "us-east-1a").await;
    let template = fleet::group(&moto, &subnet, "demo-nodes", "demo", "node", "m6i.large").await;
    let describe = fleet::no_refresh_in_progress();
    let start = mock!(aws_sdk_autoscaling::Client::start_instance_refresh)
        .match_requests(|request| {
            request.auto_scaling_group_name() == Some("demo-nodes")
                && request
                    .preferences()
                    .and_then(|p| p.min_healthy_percentage())
                    == Some(90)
        })
        .then_output(|| {
            StartInstanceRefreshOutput::builder()
                .instance_refresh_id("refresh-1")
                .build()
        });
    let clients = fleet::clients_with(&moto, &fleet::REFRESH_CALLS, &[&describe, &start]).await;
    let engine = engine(clients, sample_stack());
    let event = alarm(&moto, "alarm-eventbridge-group-cpu.json", SAMPLE_INSTANCE).await;

    let recording = moto.start_recording();
    let report = handle(&engine, event.clone()).await;

    assert_eq!(report.status, Status::Converged, "{report}");
    assert_eq!(start.num_calls(), 1, "one instance refresh");
    // No new launch template version: the type is an override of the version in use.
    assert_eq!(
        recording.mutating_calls(),
        [
            "CreateOrUpdateTags demo-nodes",
            "UpdateAutoScalingGroup demo-nodes"
        ]
    );
    assert_eq!(
        fleet::group_launches(&moto, "demo-nodes").await,
        ("$Latest".to_string(), vec!["m6i.xlarge".to_string()])
    );
    assert_eq!(fleet::template_versions(&moto, &template).await, 1);
    assert!(report.to_string().contains("instance refresh refresh-1"));

    // The same alarm again: the group's record stops it.
    let again = handle(&engine, event).await;
    assert!(decision(&again).contains("already handled"), "{again}");
    assert_eq!(start.num_calls(), 1);
}

#[tokio::test]
async fn a_group_with_a_refresh_in_progress_is_left_alone() {
    let moto = Moto::start();
    let subnet = fleet::subnet(&moto.ec2().await, "us-east-1a").await;
    fleet::group(&moto, &subnet, "demo-nodes", "demo", "node", "m6i.large").await;
    let busy = mock!(aws_sdk_autoscaling::Client::describe_instance_refreshes)
        .sequence()
        .output(|| {
            DescribeInstanceRefreshesOutput::builder()
                .instance_refreshes(
                    InstanceRefresh::builder()
                        .status(InstanceRefreshStatus::InProgress)
                        .build(),
                )
                .build()
        })
        .repeatedly()
        .build();
    let clients = fleet::clients_with(&moto, &fleet::REFRESH_CALLS, &[&busy]).await;
    let engine = engine(clients, sample_stack());
    let event = alarm(&moto, "alarm-eventbridge-group-cpu.json", SAMPLE_INSTANCE).await;
    let recording = moto.start_recording();
    let report = handle(&engine, event).await;
    assert!(recording.mutating_calls().is_empty());
    assert!(
        decision(&report).contains("already in progress"),
        "{report}"
    );
}

#[tokio::test]
async fn a_refused_instance_refresh_is_reported_with_what_the_group_now_does() {
    let moto = Moto::start();
    let subnet = fleet::subnet(&moto.ec2().await, "us-east-1a").await;
    let template = fleet::group(&moto, &subnet, "demo-nodes", "demo", "node", "m6i.large").await;
    let describe = fleet::no_refresh_in_progress();
    let refused = mock!(aws_sdk_autoscaling::Client::start_instance_refresh).then_error(|| {
        StartInstanceRefreshError::generic(
            ErrorMetadata::builder()
                .code("InstanceRefreshInProgress")
                .message("An Instance Refresh is already in progress")
                .build(),
        )
    });
    let clients = fleet::clients_with(&moto, &fleet::REFRESH_CALLS, &[&describe, &refused]).await;
    let engine = engine(clients, sample_stack());
    let report = handle(
        &engine,
        alarm(&moto, "alarm-eventbridge-group-cpu.json", SAMPLE_INSTANCE).await,
    )
    .await;
    assert_eq!(report.status, Status::Failed, "{report}");
    assert_eq!(report.status.exit_code(), 1);
    let text = report.to_string();
    assert!(text.contains("InstanceRefreshInProgress"), "{text}");
    // All or nothing: the group launches its template's type again, on the version it asked
    // for, and no template version was ever created.
    assert!(
        text.contains("rolled back: group demo-nodes launches m6i.large again"),
        "{text}"
    );
    assert_eq!(
        fleet::group_launches(&moto, "demo-nodes").await,
        ("$Latest".to_string(), Vec::new())
    );
    assert_eq!(fleet::template_versions(&moto, &template).await, 1);
    // Nothing took effect: a retry of the event may act again.
    let record = moto
        .autoscaling()
        .await
        .describe_tags()
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e:?}"))
        .tags()
        .iter()
        .find(|t| t.key() == Some(REMEDIATION_TAG))
        .and_then(|t| t.value().map(String::from));
    assert!(
        record
            .as_deref()
            .is_some_and(|r| r.ends_with("outcome=rolled-back step=resize_group")),
        "{record:?}"
    );
}

#[tokio::test]
async fn the_top_of_the_ladder_is_refused_and_nothing_changes() {
    let moto = Moto::start();
    let node = demo_node(&moto, "m6i.4xlarge").await;
    let engine = engine(moto.clients().await, sample_stack());
    let event = alarm(&moto, "alarm-eventbridge-cpu.json", &node).await;
    let recording = moto.start_recording();
    let report = handle(&engine, event).await;
    assert_eq!(report.status, Status::Refused, "{report}");
    assert_eq!(report.status.exit_code(), 1);
    assert!(
        decision(&report).contains("top of role node's ladder"),
        "{report}"
    );
    assert!(recording.mutating_calls().is_empty());
    assert_eq!(
        fleet::state(&moto.ec2().await, &node).await,
        ("running".into(), "m6i.4xlarge".into())
    );
}

#[tokio::test]
async fn a_type_aws_does_not_offer_is_refused_before_anything_stops() {
    let moto = Moto::start();
    let node = demo_node(&moto, "m6i.large").await;
    let text = std::fs::read_to_string(repo_path("samples/stack.toml"))
        .unwrap_or_default()
        .replace(
            r#"ladder = ["m6i.large", "m6i.xlarge", "m6i.2xlarge", "m6i.4xlarge"]"#,
            // Newer than the catalog: it loads, with a warning; AWS (moto) knows no such type.
            r#"ladder = ["m6i.large", "m9i.4xlarge"]"#,
        );
    let file = StackFile::parse(&text, "test").unwrap_or_else(|e| panic!("{e}"));
    let engine = engine(moto.clients().await, file);
    let event = alarm(&moto, "alarm-eventbridge-cpu.json", &node).await;
    let recording = moto.start_recording();
    let report = handle(&engine, event).await;
    assert_eq!(report.status, Status::Refused, "{report}");
    assert!(recording.mutating_calls().is_empty());
}

#[tokio::test]
async fn the_stack_wide_resize_limit_is_counted_from_the_records() {
    let moto = Moto::start();
    let ec2 = moto.ec2().await;
    let subnet = fleet::subnet(&ec2, "us-east-1a").await;
    let first = fleet::node(&ec2, &subnet, "demo", "node", "m6i.large").await;
    let second = fleet::node(&ec2, &subnet, "demo", "node", "m6i.large").await;
    let text = std::fs::read_to_string(repo_path("samples/stack.toml"))
        .unwrap_or_default()
        .replace("max_resizes_per_hour = 2", "max_resizes_per_hour = 1");
    let file = StackFile::parse(&text, "test").unwrap_or_else(|e| panic!("{e}"));
    let engine = engine(moto.clients().await, file);

    handle(
        &engine,
        alarm(&moto, "alarm-eventbridge-cpu.json", &first).await,
    )
    .await;
    let event = alarm(&moto, "alarm-lambda-action-memory.json", &second).await;
    let recording = moto.start_recording();
    let report = handle(&engine, event).await;
    assert_eq!(report.status, Status::Refused, "{report}");
    assert!(
        decision(&report).contains("max_resizes_per_hour"),
        "{report}"
    );
    assert!(recording.mutating_calls().is_empty());
}

#[tokio::test]
async fn a_failed_start_in_the_middle_of_a_resize_leaves_the_node_running_on_its_old_type() {
    let moto = Moto::start();
    let node = demo_node(&moto, "m6i.large").await;
    let (engine, _proxy) = engine_refused_once(
        &moto,
        "StartInstances",
        "InsufficientInstanceCapacity",
        "We currently do not have sufficient m6i.xlarge capacity",
    )
    .await;

    let event = alarm(&moto, "alarm-eventbridge-cpu.json", &node).await;
    let recording = moto.start_recording();
    let report = handle(&engine, event).await;

    assert_eq!(report.status, Status::Failed, "{report}");
    assert_eq!(report.status.exit_code(), 1);
    assert_eq!(
        fleet::state(&moto.ec2().await, &node).await,
        ("running".into(), "m6i.large".into()),
        "never left stopped, back on its old type"
    );
    // The refused start never reached the emulator; the rollback's calls did.
    assert_eq!(
        recording.mutating_calls(),
        [
            format!("CreateTags {node}"),
            format!("StopInstances {node}"),
            format!("ModifyInstanceAttribute {node}"),
            format!("ModifyInstanceAttribute {node}"),
            format!("StartInstances {node}"),
            format!("CreateTags {node}"),
        ]
    );
    assert!(
        fleet::instance_tag(&moto.ec2().await, &node, REMEDIATION_TAG)
            .await
            .is_some_and(|r| r.ends_with("outcome=rolled-back step=resize_instance")),
        "the node is as it was: the retry of the event may resize it"
    );
    let text = report.to_string();
    assert!(text.contains("InsufficientInstanceCapacity"), "{text}");
    assert!(
        text.contains(&format!("rolled back: {node} is running as m6i.large")),
        "{text}"
    );
}

#[tokio::test]
async fn a_failed_type_change_starts_the_node_again_unchanged() {
    let moto = Moto::start();
    let node = demo_node(&moto, "m6i.large").await;
    let (engine, _proxy) = engine_refused_once(
        &moto,
        "ModifyInstanceAttribute",
        "UnsupportedOperation",
        "The instance type m6i.xlarge is not supported by this AMI",
    )
    .await;
    let event = alarm(&moto, "alarm-eventbridge-cpu.json", &node).await;
    let recording = moto.start_recording();
    let report = handle(&engine, event).await;

    assert_eq!(report.status, Status::Failed, "{report}");
    assert!(
        report.to_string().contains("UnsupportedOperation"),
        "{report}"
    );
    assert_eq!(
        fleet::state(&moto.ec2().await, &node).await,
        ("running".into(), "m6i.large".into())
    );
    assert_eq!(
        recording.mutating_calls(),
        [
            format!("CreateTags {node}"),
            format!("StopInstances {node}"),
            format!("StartInstances {node}"),
            format!("CreateTags {node}"),
        ]
    );
}

#[tokio::test]
async fn ok_transitions_and_targets_outside_the_stack_change_nothing() {
    let moto = Moto::start();
    let ec2 = moto.ec2().await;
    let subnet = fleet::subnet(&ec2, "us-east-1a").await;
    let foreign = fleet::node(&ec2, &subnet, "other", "node", "m6i.large").await;
    let engine = engine(moto.clients().await, sample_stack());

    let recording = moto.start_recording();
    let ok = handle(
        &engine,
        alarm(&moto, "alarm-eventbridge-ok.json", &foreign).await,
    )
    .await;
    assert_eq!(ok.status, Status::Converged);
    assert!(
        ok.skipped[0].contains("only a transition into ALARM"),
        "{ok}"
    );
    assert!(
        recording.requests().is_empty(),
        "an OK transition reads nothing"
    );

    // One alarm name, retargeted: each notification is sent before the next re-targeting.
    let event = alarm(&moto, "alarm-eventbridge-cpu.json", &foreign).await;
    let recording = moto.start_recording();
    let outside = handle(&engine, event).await;
    assert!(
        outside.skipped[0].contains("not part of a stack"),
        "{outside}"
    );
    assert!(recording.mutating_calls().is_empty());
    let event = alarm(&moto, "alarm-eventbridge-cpu.json", "i-00000000000000dead").await;
    let recording = moto.start_recording();
    let missing = handle(&engine, event).await;
    assert!(missing.skipped[0].contains("does not exist"), "{missing}");
    assert!(recording.mutating_calls().is_empty());
    assert_eq!(fleet::state(&ec2, &foreign).await.1, "m6i.large");
}

#[tokio::test]
async fn a_malformed_alarm_is_rejected_without_a_call() {
    let moto = Moto::start();
    let engine = engine(moto.clients().await, sample_stack());
    let recording = moto.start_recording();
    let report = handle(&engine, serde_json::json!({"Records": []})).await;
    assert_eq!(report.status, Status::Rejected);
    assert_eq!(report.status.exit_code(), 2);
    assert!(report.skipped[0].contains("carries one record"), "{report}");
    assert!(recording.requests().is_empty());
}

#[tokio::test]
async fn plan_and_report_mode_show_the_steps_without_taking_them() {
    let moto = Moto::start();
    let node = demo_node(&moto, "m6i.large").await;
    let engine = engine(moto.clients().await, sample_stack());
    let signal =
        domain::event::parse_event_value(alarm(&moto, "alarm-eventbridge-cpu.json", &node).await)
            .unwrap_or_else(|e| panic!("{e}"));
    let recording = moto.start_recording();
    let report = engine
        .run(signal, Execution::Plan)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.status, Status::Planned, "{report}");
    assert!(recording.mutating_calls().is_empty());
    let text = report.to_string();
    assert!(
        text.contains("stop, wait until stopped, change the type, start, wait until running"),
        "{text}"
    );
    assert!(text.contains("→ planned"), "{text}");
}

/// How many times a recording read instance states (DescribeInstances).
fn instance_reads(recording: &tests::Recording<'_>) -> usize {
    recording
        .requests()
        .iter()
        .filter(|(action, _)| action == "DescribeInstances")
        .count()
}

#[tokio::test]
async fn a_resize_waits_through_stopping_and_pending() {
    let moto = Moto::start_with(&[("AWS_LIKE_TRANSITION_READS", "6")]);
    let node = demo_node(&moto, "m6i.large").await;
    let engine = engine(moto.clients().await, sample_stack());

    let event = alarm(&moto, "alarm-eventbridge-cpu.json", &node).await;
    let recording = moto.start_recording();
    let report = handle(&engine, event).await;

    assert_eq!(report.status, Status::Converged, "{report}");
    assert_eq!(
        fleet::state(&moto.ec2().await, &node).await,
        ("running".into(), "m6i.xlarge".into())
    );
    // Six reads see `stopping` and six `pending`; the seventh of each the final state.
    assert!(
        instance_reads(&recording) >= 14,
        "the waits read until the transitions ended: {:?}",
        recording.requests()
    );
}

#[tokio::test]
async fn a_stop_that_outlasts_the_wait_leaves_the_node_running_on_its_old_type() {
    // The stop takes 15 reads; the engine gives up after 10, then its recovery waits (again up to
    // 10 reads) for the stop to finish and starts the node on the type it never left.
    let moto = Moto::start_with(&[("AWS_LIKE_STOP_READS", "15"), ("AWS_LIKE_START_READS", "1")]);
    let node = demo_node(&moto, "m6i.large").await;
    let engine = engine_reading(moto.clients().await, sample_stack(), 10);

    let event = alarm(&moto, "alarm-eventbridge-cpu.json", &node).await;
    let recording = moto.start_recording();
    let report = handle(&engine, event).await;

    assert_eq!(report.status, Status::Failed, "{report}");
    assert_eq!(
        fleet::state(&moto.ec2().await, &node).await,
        ("running".into(), "m6i.large".into()),
        "never left stopped, never changed"
    );
    assert_eq!(
        recording.mutating_calls(),
        [
            format!("CreateTags {node}"),
            format!("StopInstances {node}"),
            format!("StartInstances {node}"),
            format!("CreateTags {node}"),
        ],
        "no type change while the instance was not stopped"
    );
    let text = report.to_string();
    assert!(
        text.contains("stopping"),
        "the wait says what it saw: {text}"
    );
    assert!(
        text.contains(&format!("rolled back: {node} is running as m6i.large")),
        "{text}"
    );
    assert!(
        fleet::instance_tag(&moto.ec2().await, &node, REMEDIATION_TAG)
            .await
            .is_some_and(|r| r.ends_with("outcome=rolled-back step=resize_instance")),
        "the node is as it was"
    );
}

#[tokio::test]
async fn the_filesystem_is_extended_only_once_the_volume_is_optimizing() {
    let moto = Moto::start_with(&[("AWS_LIKE_TRANSITION_READS", "4")]);
    let node = demo_node(&moto, "m6i.large").await;
    let (volume, _) = fleet::root_volume(&moto.ec2().await, &node).await;
    let engine = engine(moto.clients().await, sample_stack());

    let event = alarm(&moto, "alarm-sns-disk.json", &node).await;
    let recording = moto.start_recording();
    let report = handle(&engine, event).await;

    assert_eq!(report.status, Status::Converged, "{report}");
    let calls: Vec<String> = recording
        .requests()
        .into_iter()
        .filter(|(action, _)| {
            [
                "ModifyVolume",
                "DescribeVolumesModifications",
                "SendCommand",
            ]
            .contains(&action.as_str())
        })
        .map(|(action, _)| action)
        .skip_while(|action| action != "ModifyVolume")
        .collect();
    // Four reads see `modifying`, the fifth `optimizing`: then, and only then, the command.
    let mut expected = vec!["ModifyVolume".to_string()];
    expected.extend(std::iter::repeat_n(
        "DescribeVolumesModifications".to_string(),
        5,
    ));
    expected.push("SendCommand".to_string());
    assert_eq!(calls, expected, "{volume}");
}

#[tokio::test]
async fn a_volume_still_modifying_when_the_wait_runs_out_gets_no_command() {
    let moto = Moto::start_with(&[("AWS_LIKE_TRANSITION_READS", "50")]);
    let node = demo_node(&moto, "m6i.large").await;
    let (volume, before) = fleet::root_volume(&moto.ec2().await, &node).await;
    let engine = engine_reading(moto.clients().await, sample_stack(), 3);

    let event = alarm(&moto, "alarm-sns-disk.json", &node).await;
    let recording = moto.start_recording();
    let report = handle(&engine, event).await;

    assert_eq!(report.status, Status::Failed, "{report}");
    assert_eq!(
        recording.mutating_calls(),
        [
            format!("CreateTags {node}"),
            format!("ModifyVolume {volume}"),
            format!("CreateTags {node}")
        ],
        "no filesystem command on a volume that is not optimizing yet"
    );
    let grown = before + (before + 1) / 2;
    assert_eq!(fleet::root_volume(&moto.ec2().await, &node).await.1, grown);
    let text = report.to_string();
    assert!(text.contains("modifying"), "{text}");
    assert!(text.contains("extend the filesystem by hand"), "{text}");
}

/// What IAM enforces in Lambda, the engine enforces itself for a CLI run with broad
/// credentials: a group, launch template or volume outside the stack is never changed because
/// an instance of the stack uses it. Each is refused, naming the resource, before any write.
mod outside_the_stack {
    use super::*;
    use tests::fleet::Owners;

    /// A CPU alarm on a member of group `demo-nodes` (tagged as `owners` say) that carries the
    /// demo stack's tag itself: no write at all. Returns the template and the report.
    async fn resize_member_of(moto: &Moto, owners: Owners<'_>) -> (String, Report) {
        let ec2 = moto.ec2().await;
        let subnet = fleet::subnet(&ec2, "us-east-1a").await;
        let template =
            fleet::group_owned_by(moto, &subnet, "demo-nodes", owners, "node", "m6i.large").await;
        let member = fleet::group_instance(moto, "demo-nodes").await;
        ec2.create_tags()
            .resources(&member)
            .tags(
                aws_sdk_ec2::types::Tag::builder()
                    .key(shared::domain::ids::STACK_TAG)
                    .value("demo")
                    .build(),
            )
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        // moto has no instance refreshes.
        let clients = fleet::clients_with(
            moto,
            &fleet::REFRESH_CALLS,
            &[&fleet::no_refresh_in_progress()],
        )
        .await;
        let engine = engine(clients, sample_stack());
        let event = alarm(moto, "alarm-eventbridge-cpu.json", &member).await;
        let recording = moto.start_recording();
        let report = handle(&engine, event).await;
        assert_eq!(recording.mutating_calls(), Vec::<String>::new(), "{report}");
        (template, report)
    }

    #[tokio::test]
    async fn a_resize_never_changes_a_group_not_tagged_into_the_stack() {
        let moto = Moto::start();
        let owners = Owners {
            group: None,
            template: Some("demo"),
        };
        let (_, report) = resize_member_of(&moto, owners).await;

        assert!(
            decision(&report).contains("group demo-nodes carries no chainlink:stack tag"),
            "{report}"
        );
        assert_eq!(fleet::group_state(&moto, "demo-nodes").await.0, "$Latest");
    }

    #[tokio::test]
    async fn a_resize_never_changes_a_launch_template_of_another_stack() {
        let moto = Moto::start();
        let owners = Owners {
            group: Some("demo"),
            template: Some("other"),
        };
        let (template, report) = resize_member_of(&moto, owners).await;

        assert!(
            decision(&report).contains(&format!(
                "launch template {template} of group demo-nodes carries chainlink:stack = other"
            )),
            "{report}"
        );
        let versions = moto
            .ec2()
            .await
            .describe_launch_template_versions()
            .launch_template_id(&template)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(
            versions.launch_template_versions().len(),
            1,
            "no new version"
        );
    }

    #[tokio::test]
    async fn a_volume_not_tagged_into_the_stack_is_never_grown() {
        let moto = Moto::start();
        let node = demo_node(&moto, "m6i.large").await;
        let ec2 = moto.ec2().await;
        let (volume, before) = fleet::root_volume(&ec2, &node).await;
        ec2.delete_tags()
            .resources(&volume)
            .tags(
                aws_sdk_ec2::types::Tag::builder()
                    .key(shared::domain::ids::STACK_TAG)
                    .build(),
            )
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        let engine = engine(moto.clients().await, sample_stack());

        let event = alarm(&moto, "alarm-sns-disk.json", &node).await;
        let recording = moto.start_recording();
        let report = handle(&engine, event).await;

        assert_eq!(recording.mutating_calls(), Vec::<String>::new(), "{report}");
        assert!(
            decision(&report).contains(&format!("volume {volume} carries no chainlink:stack tag")),
            "{report}"
        );
        assert_eq!(fleet::root_volume(&ec2, &node).await, (volume, before));
    }
}

/// Notifications the alarm, as CloudWatch describes it now, does not back: each does nothing
/// (no mutating call) and its report says what did not match.
#[tokio::test]
async fn a_forged_or_stale_alarm_does_nothing_and_says_why() {
    let moto = Moto::start();
    let node = demo_node(&moto, "m6i.large").await;
    let engine = engine(moto.clients().await, sample_stack());
    let cloudwatch = moto.cloudwatch().await;
    let cpu = |name| fleet::AlarmSeed {
        dimensions: vec![("InstanceId".to_string(), node.clone())],
        ..fleet::AlarmSeed::firing(name, "AWS/EC2", "CPUUtilization")
    };
    let sample_time = "2026-11-24T10:15:00.000+0000";
    let mut cases = Vec::new();
    cases.push(("forged-missing", sample_time.to_string(), "does not exist"));
    let ok = fleet::seed_alarm(
        &cloudwatch,
        &fleet::AlarmSeed {
            state: "OK",
            ..cpu("forged-ok")
        },
    )
    .await;
    cases.push(("forged-ok", ok, "is OK now"));
    fleet::seed_alarm(&cloudwatch, &cpu("forged-time")).await;
    cases.push((
        "forged-time",
        sample_time.to_string(),
        "not at the notified",
    ));
    let untagged = fleet::seed_alarm(
        &cloudwatch,
        &fleet::AlarmSeed {
            stack: None,
            ..cpu("forged-untagged")
        },
    )
    .await;
    cases.push(("forged-untagged", untagged, "belongs to no stack"));
    let low = fleet::seed_alarm(
        &cloudwatch,
        &fleet::AlarmSeed {
            comparison: "LessThanThreshold",
            ..cpu("forged-low")
        },
    )
    .await;
    cases.push(("forged-low", low, "CPUUtilization is low"));
    let by_hand = fleet::seed_alarm(
        &cloudwatch,
        &fleet::AlarmSeed {
            value: Some(12.0),
            ..cpu("forged-by-hand")
        },
    )
    .await;
    cases.push((
        "forged-by-hand",
        by_hand,
        "does not breach the threshold 85",
    ));
    let quiet = fleet::seed_alarm(
        &cloudwatch,
        &fleet::AlarmSeed {
            value: None,
            ..cpu("forged-quiet")
        },
    )
    .await;
    cases.push(("forged-quiet", quiet, "does not breach the threshold 85"));

    let recording = moto.start_recording();
    for (name, at, reason) in cases {
        let raw = std::fs::read_to_string(repo_path("samples/events/alarm-eventbridge-cpu.json"))
            .unwrap_or_else(|e| panic!("{e}"))
            .replace(SAMPLE_INSTANCE, &node)
            .replace("demo-node-cpu", name)
            .replace(sample_time, &at);
        let event = serde_json::from_str(&raw).unwrap_or_else(|e| panic!("{e}"));
        let report = handle(&engine, event).await;
        assert_eq!(report.status, Status::Converged, "{name}: {report}");
        assert!(
            report.skipped.iter().any(|s| s.contains(reason)),
            "{name}: {report}"
        );
    }
    // Every delivery shape is re-read the same way: none of these alarms exists.
    for sample in [
        "alarm-lambda-action-memory.json",
        "alarm-sns-disk.json",
        "alarm-eventbridge-status-check.json",
    ] {
        let raw = std::fs::read_to_string(repo_path(&format!("samples/events/{sample}")))
            .unwrap_or_else(|e| panic!("{e}"))
            .replace(SAMPLE_INSTANCE, &node);
        let event = serde_json::from_str(&raw).unwrap_or_else(|e| panic!("{e}"));
        let report = handle(&engine, event).await;
        assert_eq!(report.status, Status::Converged, "{sample}: {report}");
        assert!(
            report.skipped.iter().any(|s| s.contains("does not exist")),
            "{sample}: {report}"
        );
    }
    assert!(recording.mutating_calls().is_empty());
    assert_eq!(fleet::state(&moto.ec2().await, &node).await.1, "m6i.large");
}
