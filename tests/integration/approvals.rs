//! Approvals against the emulator: a resize the stack file makes wait is not applied; its
//! notification, read back from a queue subscribed to the report topic, carries the approve
//! and deny links; the approval event (what the handler hands the instance function) applies
//! the approved plan once, and only if it is still the plan; expired, forged, other-stack and
//! denied decisions change nothing and say why.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use domain::approvals::{sign, token_of, ApprovalClaim};
use domain::event::approval_event;
use domain::instances::REMEDIATION_TAG;
use domain::report::{Execution, Report, Status};
use domain::stack::StackFile;
use shared::engine::{Capabilities, Engine};
use shared::function::{Function, ReportTopic};
use shared::instances::apply::Waits;
use std::time::Duration;
use tests::{fleet, repo_path, seed, Moto};

const SAMPLE_INSTANCE: &str = "i-0123456789abcdef0";
const KEY_PARAMETER: &str = "/chainlink-remediator/demo/approval-key";
const KEY: &str = "a test approval key: at least thirty-two bytes of it";
const HANDLER_URL: &str = "https://approve.example.on.aws/";

/// The sample stack file (its text changed by `edit`) with `approvals` as its `[approvals]`.
fn stack_file_with(approvals: &str, edit: impl Fn(String) -> String) -> StackFile {
    let text = format!(
        "{}\n[approvals]\nkey_parameter = \"{KEY_PARAMETER}\"\n{approvals}\nvalid_for_minutes = 30\n",
        edit(std::fs::read_to_string(repo_path("samples/stack.toml")).unwrap_or_default())
    );
    StackFile::parse(&text, "stack.toml").unwrap_or_else(|e| panic!("{e}"))
}

/// The sample stack file, its resizes and DB class changes waiting for approval.
fn stack_file() -> StackFile {
    stack_file_with("require = [\"resize\", \"scale_class\"]", |text| text)
}

async fn put_key(moto: &Moto) {
    aws_sdk_ssm::Client::new(&moto.sdk_config().await)
        .put_parameter()
        .name(KEY_PARAMETER)
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .value(KEY)
        .send()
        .await
        .unwrap_or_else(|e| panic!("put key: {e:?}"));
}

/// The demo stack's node, its key in SSM, and the instance function publishing to a topic
/// with a queue subscribed: (function, node, queue URL).
async fn setup(moto: &Moto) -> (Function, String, String) {
    put_key(moto).await;
    setup_without_key(moto).await
}

/// [`setup`] with no approval key in SSM.
async fn setup_without_key(moto: &Moto) -> (Function, String, String) {
    let ec2 = moto.ec2().await;
    let subnet = fleet::subnet(&ec2, "us-east-1a").await;
    let node = fleet::node(&ec2, &subnet, "demo", "node", "m6i.large").await;
    let (function, queue) = function_for(moto, stack_file(), Capabilities::INSTANCES).await;
    (function, node, queue)
}

/// The function guarding `capabilities` of `file`, publishing to a topic with a queue
/// subscribed: (function, queue URL).
async fn function_for(
    moto: &Moto,
    file: StackFile,
    capabilities: Capabilities,
) -> (Function, String) {
    let config = moto.sdk_config().await;
    let (topic, queue) = tests::notifications::topic_with_queue(moto, "demo-reports").await;
    let engine = Engine::new(moto.clients().await, file, capabilities)
        .with_filesystem_document(Some(tests::filesystem_document()))
        .with_waits(Waits {
            poll: Duration::from_millis(20),
            reads: 500,
        })
        .with_approval_url(Some(HANDLER_URL.into()));
    let function = Function::new(engine, Some(ReportTopic::new(&config, topic)), "Test");
    (function, queue)
}

async fn cpu_alarm(moto: &Moto, node: &str) -> serde_json::Value {
    let raw = std::fs::read_to_string(repo_path("samples/events/alarm-eventbridge-cpu.json"))
        .unwrap_or_default()
        .replace(SAMPLE_INSTANCE, node);
    let raw = fleet::real_alarm_event(moto, &raw).await;
    serde_json::from_str(&raw).unwrap_or_else(|e| panic!("{e}"))
}

async fn invoke(function: &Function, event: serde_json::Value) -> Report {
    function
        .invoke(event)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"))
}

/// The approval request of the one report waiting in the queue: (approve link, deny link).
async fn links_from_the_notification(moto: &Moto, queue: &str) -> (String, String) {
    let bodies = tests::notifications::received_bodies(moto, queue).await;
    let notifications: Vec<serde_json::Value> = bodies
        .iter()
        .map(|b| serde_json::from_str(b).unwrap_or_else(|e| panic!("{e}: {b}")))
        .collect();
    let [notification] = notifications.as_slice() else {
        panic!("one notification expected: {notifications:?}");
    };
    let message = notification["Message"].as_str().unwrap_or_default();
    let report: serde_json::Value =
        serde_json::from_str(message).unwrap_or_else(|e| panic!("{e}: {message}"));
    assert_eq!(report["status"], "pending_approval", "{report}");
    // Subscribers filter on the attribute: spelled as the report spells the status.
    assert_eq!(
        notification["MessageAttributes"]["status"]["Value"], "pending_approval",
        "{notification}"
    );
    let stack = &report["stacks"][0];
    // An alarm remediation's steps (the record first), or the security groups' actions.
    let actions = ["instances", "database"]
        .iter()
        .find_map(|section| stack[*section]["actions"].as_array())
        .or_else(|| stack["actions"].as_array())
        .cloned()
        .unwrap_or_default();
    assert!(
        !actions.is_empty() && actions.iter().all(|a| a["outcome"] == "pending_approval"),
        "{report}"
    );
    let request = &stack["approvals"][0];
    assert!(["resize", "scale_class", "security_groups"]
        .contains(&request["remediation"].as_str().unwrap_or_default()));
    let link = |name: &str| request[name].as_str().unwrap_or_default().to_string();
    (link("approve"), link("deny"))
}

/// What the handler hands the function when a person confirms `link`.
async fn decide(function: &Function, link: &str) -> Report {
    invoke(function, approval_event(token_of(link), chrono::Utc::now())).await
}

#[track_caller]
fn assert_unchanged(recording: &tests::Recording<'_>, context: impl std::fmt::Display) {
    assert_eq!(
        instance_changes(recording),
        Vec::<String>::new(),
        "{context}"
    );
}

fn instance_changes(recording: &tests::Recording<'_>) -> Vec<String> {
    recording
        .mutating_calls()
        .into_iter()
        .filter(|call| !call.starts_with("Publish"))
        .collect()
}

#[tokio::test]
async fn a_resize_that_needs_approval_waits_and_its_notification_carries_the_links() {
    let moto = Moto::start();
    let (function, node, queue) = setup(&moto).await;
    let alarm = cpu_alarm(&moto, &node).await;
    let recording = moto.start_recording();
    let report = invoke(&function, alarm).await;

    assert_eq!(report.status, Status::PendingApproval, "{report}");
    assert_unchanged(&recording, "nothing is recorded or changed");
    let ec2 = moto.ec2().await;
    assert_eq!(fleet::state(&ec2, &node).await.1, "m6i.large");
    let (approve, deny) = links_from_the_notification(&moto, &queue).await;
    assert!(
        approve.starts_with("https://approve.example.on.aws?token="),
        "{approve}"
    );
    assert_ne!(token_of(&approve), token_of(&deny));
    assert!(
        report.to_string().contains("waits for approval: resize of"),
        "{report}"
    );
}

#[tokio::test]
async fn an_approval_applies_the_approved_plan_once() {
    let moto = Moto::start();
    let (function, node, queue) = setup(&moto).await;
    invoke(&function, cpu_alarm(&moto, &node).await).await;
    let (approve, _) = links_from_the_notification(&moto, &queue).await;

    let recording = moto.start_recording();
    let approved = decide(&function, &approve).await;
    assert_eq!(approved.status, Status::Converged, "{approved}");
    assert_eq!(
        instance_changes(&recording),
        [
            format!("CreateTags {node}"),
            format!("StopInstances {node}"),
            format!("ModifyInstanceAttribute {node}"),
            format!("StartInstances {node}"),
        ]
    );
    let ec2 = moto.ec2().await;
    assert_eq!(fleet::state(&ec2, &node).await.1, "m6i.xlarge");
    let record = fleet::instance_tag(&ec2, &node, REMEDIATION_TAG)
        .await
        .unwrap_or_default();
    assert!(
        record.contains(" approval="),
        "the use is recorded: {record}"
    );

    // The same link again: refused, nothing changed.
    let recording = moto.start_recording();
    let again = decide(&function, &approve).await;
    assert_unchanged(&recording, &again);
    assert!(
        again
            .skipped
            .iter()
            .any(|s| s.contains("this approval was already used")),
        "{again}"
    );
    assert_eq!(fleet::state(&ec2, &node).await.1, "m6i.xlarge");
}

#[tokio::test]
async fn a_plan_that_changed_since_it_was_approved_is_not_applied_and_is_asked_again() {
    let moto = Moto::start();
    let (function, node, queue) = setup(&moto).await;
    let alarm = cpu_alarm(&moto, &node).await;
    invoke(&function, alarm).await;
    let (approve, _) = links_from_the_notification(&moto, &queue).await;
    // Someone resized the node by hand meanwhile: the next step is another plan.
    let ec2 = moto.ec2().await;
    fleet::set_instance_type(&ec2, &node, "m6i.xlarge").await;

    let recording = moto.start_recording();
    let report = decide(&function, &approve).await;
    assert_unchanged(&recording, &report);
    assert_eq!(report.status, Status::PendingApproval, "{report}");
    assert!(
        report
            .skipped
            .iter()
            .any(|s| s.contains("the situation changed since resize")),
        "{report}"
    );
    assert_eq!(
        report.stacks[0].approvals.len(),
        1,
        "approval is asked again"
    );
    assert_eq!(fleet::state(&ec2, &node).await.1, "m6i.xlarge");
}

/// `token`'s claim, changed by `change`, signed with `key`.
fn resigned(token: &str, key: &str, change: impl Fn(&mut ApprovalClaim)) -> String {
    let (body, _) = token.split_once('.').unwrap_or_default();
    let bytes = URL_SAFE_NO_PAD.decode(body).unwrap_or_default();
    let mut claim: ApprovalClaim = serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{e}"));
    change(&mut claim);
    sign(&claim, key.as_bytes()).unwrap_or_default()
}

#[tokio::test]
async fn expired_forged_other_stack_and_denied_decisions_change_nothing() {
    let moto = Moto::start();
    let (function, node, queue) = setup(&moto).await;
    invoke(&function, cpu_alarm(&moto, &node).await).await;
    let (approve, deny) = links_from_the_notification(&moto, &queue).await;
    let token = token_of(&approve);
    let cases = [
        (
            resigned(token, KEY, |c| {
                c.expires_at = chrono::Utc::now().timestamp() - 1
            }),
            "the approval expired at",
        ),
        (
            resigned(
                token,
                "another key, but just as long as the real one",
                |_| {},
            ),
            "signature does not match",
        ),
        (
            resigned(token, KEY, |c| c.plan = "0".repeat(64)),
            "the situation changed since resize",
        ),
        (
            resigned(token, KEY, |c| c.stack = "prod".into()),
            "issued for stack prod in account 123456789012, us-east-1, which is not guarded here",
        ),
        (
            token_of(&deny).to_string(),
            "was denied by a person: nothing was done",
        ),
    ];
    for (token, reason) in cases {
        let recording = moto.start_recording();
        let report = invoke(&function, approval_event(&token, chrono::Utc::now())).await;
        assert_unchanged(&recording, format!("{reason}: {report}"));
        assert!(report.to_string().contains(reason), "{reason}: {report}");
    }
    let ec2 = moto.ec2().await;
    assert_eq!(fleet::state(&ec2, &node).await.1, "m6i.large");
}

#[tokio::test]
async fn a_database_class_change_waits_and_its_approval_applies_it_once() {
    let moto = Moto::start();
    let (function, _, queue) = setup(&moto).await;
    let rds = aws_sdk_rds::Client::new(&moto.sdk_config().await);
    let seed = fleet::DatabaseSeed {
        multi_az: true,
        ..fleet::DatabaseSeed::default()
    };
    fleet::database(&rds, &seed).await;
    let alarm = fleet::rds_alarm(&moto, "demo-db-cpu", "CPUUtilization").await;

    let waiting = invoke(&function, alarm).await;
    assert_eq!(waiting.status, Status::PendingApproval, "{waiting}");
    let (approve, _) = links_from_the_notification(&moto, &queue).await;
    let class = |state: (String, i32, Option<String>)| (state.0, state.2);
    let before = fleet::database_state(&rds, seed.id, REMEDIATION_TAG).await;
    assert_eq!(class(before), ("db.m6i.large".into(), None));

    let recording = moto.start_recording();
    for _ in 0..2 {
        decide(&function, &approve).await;
    }
    assert_eq!(
        recording.bodies_of("ModifyDBInstance").len(),
        1,
        "approved twice, applied once"
    );
    let (class, _, record) = fleet::database_state(&rds, seed.id, REMEDIATION_TAG).await;
    assert_eq!(class, "db.m6i.xlarge");
    assert!(record.is_some_and(|r| r.contains(" approval=")));
}

#[tokio::test]
async fn without_its_key_a_remediation_that_needs_approval_does_not_run() {
    let moto = Moto::start();
    let (function, node, _) = setup_without_key(&moto).await;
    let alarm = cpu_alarm(&moto, &node).await;
    let recording = moto.start_recording();
    let report = invoke(&function, alarm).await;
    assert_unchanged(&recording, &report);
    assert!(
        report
            .to_string()
            .contains(&format!("resize waits for approval, but no approval can be asked: the approval key {KEY_PARAMETER} could not be read")),
        "{report}"
    );
    // Held, not converged: the node is as under-provisioned as before.
    assert_eq!(report.status, Status::Refused, "{report}");
    assert_eq!(report.stacks[0].held.len(), 1, "{report}");
}

/// Over the change limit, the security-group plan waits instead of being refused; approved, it
/// is applied whole, once; the second use finds nothing left to do.
#[tokio::test]
async fn a_security_group_plan_over_the_limit_waits_and_its_approval_applies_it() {
    let moto = Moto::start();
    put_key(&moto).await;
    let ec2 = moto.ec2().await;
    let vpc = seed::vpc(&ec2, "10.0.0.0/16").await;
    let node = seed::group(&ec2, &vpc, "node", "demo", "node").await;
    let db = seed::group(&ec2, &vpc, "db", "demo", "db").await;
    let file = stack_file_with("over_change_limit = true", |text| {
        text.replace("max_changes_per_run = 25", "max_changes_per_run = 1")
    });
    let (function, queue) = function_for(&moto, file, Capabilities::SECURITY_GROUPS).await;
    let sweep: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo_path("samples/events/schedule.json")).unwrap_or_default(),
    )
    .unwrap_or_else(|e| panic!("{e}"));

    // The plan says what apply will do: wait, not just refuse.
    let planner = Engine::new(
        moto.clients().await,
        stack_file_with("over_change_limit = true", |text| {
            text.replace("max_changes_per_run = 25", "max_changes_per_run = 1")
        }),
        Capabilities::SECURITY_GROUPS,
    );
    let planned = shared::invocation::run_event(&planner, sweep.clone(), Execution::Plan)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        planned
            .skipped
            .iter()
            .any(|s| s.contains("would wait for approval")),
        "{planned}"
    );
    // Shown waiting, as apply will leave it, not refused.
    assert_eq!(planned.status, Status::PendingApproval, "{planned}");
    assert!(
        planned.stacks.iter().all(|s| s.approvals.is_empty()),
        "a plan signs nothing"
    );

    let recording = moto.start_recording();
    let waiting = invoke(&function, sweep).await;
    assert_eq!(waiting.status, Status::PendingApproval, "{waiting}");
    assert_unchanged(&recording, &waiting);
    let (approve, _) = links_from_the_notification(&moto, &queue).await;

    let approved = decide(&function, &approve).await;
    assert_eq!(approved.status, Status::Converged, "{approved}");
    assert!(!seed::ingress(&ec2, &db).await.is_empty(), "{approved}");
    let rules = seed::ingress(&ec2, &node).await;

    let recording = moto.start_recording();
    let again = decide(&function, &approve).await;
    assert_unchanged(&recording, &again);
    assert!(
        again.to_string().contains("this approval was already used"),
        "{again}"
    );
    assert_eq!(seed::ingress(&ec2, &node).await, rules);

    // The very same drift comes back before the link expires: the plan is the approved one
    // again, but the approval's use is recorded on the groups, so it does not act twice.
    for group in [&node, &db] {
        let described = ec2
            .describe_security_groups()
            .group_ids(group.as_str())
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        let found = described.security_groups().first();
        let used = found
            .and_then(|g| {
                g.tags()
                    .iter()
                    .find(|t| t.key() == Some("chainlink:approval"))
            })
            .and_then(|t| t.value())
            .unwrap_or_default();
        assert_eq!(used.len(), 24, "{group}: the approval's nonce: {used:?}");
        let permissions = found
            .map(|g| g.ip_permissions().to_vec())
            .unwrap_or_default();
        ec2.revoke_security_group_ingress()
            .group_id(group.as_str())
            .set_ip_permissions(Some(permissions))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
    }
    let recording = moto.start_recording();
    let replayed = decide(&function, &approve).await;
    assert_unchanged(&recording, &replayed);
    assert!(
        replayed
            .to_string()
            .contains("this approval was already used"),
        "{replayed}"
    );
    assert!(seed::ingress(&ec2, &db).await.is_empty());
}
