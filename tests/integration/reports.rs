//! Reports on SNS: a real topic in the emulator with a queue subscribed, read back from the
//! queue: the report JSON, its `status` attribute, the summary of a report too large for one
//! message, a quiet sweep that publishes nothing, and a failed publication that leaves the
//! invocation (and its repair) intact.

use domain::report::{Execution, Report, Status};
use domain::signal::Signal;
use domain::stack::{Mode, StackFile};
use serde::Deserialize;
use shared::engine::{Capabilities, Engine};
use shared::function::{Function, ReportTopic, MAX_MESSAGE_BYTES};
use shared::report_pages::ReportPages;
use std::collections::BTreeMap;
use tests::{repo_path, rule, seed, Moto, SeededStack};

/// An SNS notification as an SQS subscription (without raw delivery) receives it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Notification {
    message: String,
    #[serde(default)]
    message_attributes: BTreeMap<String, Attribute>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Attribute {
    value: String,
}

/// The summary a subscriber gets instead of a report too large for one message.
#[derive(Debug, Deserialize)]
struct Summary {
    status: String,
    stacks: Vec<String>,
    actions: usize,
    note: String,
}

/// A topic with a queue subscribed to it: (topic ARN, queue URL).
async fn topic_with_queue(moto: &Moto) -> (String, String) {
    tests::notifications::topic_with_queue(moto, "demo-reports").await
}

/// Every notification waiting in the queue, removed from it.
async fn received(moto: &Moto, queue: &str) -> Vec<Notification> {
    tests::notifications::received_bodies(moto, queue)
        .await
        .iter()
        .map(|body| serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}")))
        .collect()
}

fn sample_event(name: &str) -> serde_json::Value {
    let path = repo_path(&format!("samples/events/{name}"));
    let raw = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
    serde_json::from_str(&raw).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The security-group function of the demo stack, its reports going to `topic`.
async fn function(moto: &Moto, topic: &str) -> Function {
    let file = StackFile::load(&repo_path("samples/stack.toml")).unwrap_or_else(|e| panic!("{e}"));
    let config = moto.sdk_config().await;
    let engine = Engine::new(moto.clients().await, file, Capabilities::SECURITY_GROUPS);
    Function::new(engine, Some(ReportTopic::new(&config, topic)), "Test")
}

/// The demo stack, its node open to the world on the UI port.
async fn drifted(moto: &Moto) -> SeededStack {
    let ec2 = moto.ec2().await;
    let stack = SeededStack::healthy(&ec2, "demo").await;
    seed::allow(&ec2, &stack.node, &[rule::tcp(6688, "0.0.0.0/0")]).await;
    stack
}

#[tokio::test]
async fn a_report_reaches_the_topics_queue_whole_with_its_status() {
    let moto = Moto::start();
    let (topic, queue) = topic_with_queue(&moto).await;
    let stack = drifted(&moto).await;
    let function = function(&moto, &topic).await;

    let report = function
        .invoke(sample_event("schedule.json"))
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(report.status, Status::Converged, "{report}");
    assert!(report.count(|_| true) > 0, "the sweep repaired something");

    let notifications = received(&moto, &queue).await;
    assert_eq!(notifications.len(), 1, "{notifications:?}");
    let published: serde_json::Value =
        serde_json::from_str(&notifications[0].message).unwrap_or_else(|e| panic!("{e}"));
    let expected: serde_json::Value =
        serde_json::from_str(&report.to_json()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(published, expected, "the message is the report's JSON");
    assert_eq!(
        notifications[0]
            .message_attributes
            .get("status")
            .map(|a| a.value.as_str()),
        Some("converged")
    );
    assert_eq!(
        seed::ingress(&moto.ec2().await, &stack.node).await,
        stack.healthy_node_rules()
    );

    // The stack is healthy now: a sweep that finds nothing publishes nothing.
    let quiet = function
        .invoke(sample_event("schedule.json"))
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(quiet.count(|_| true), 0, "{quiet}");
    let after = received(&moto, &queue).await;
    assert!(after.is_empty(), "a quiet sweep was published: {after:?}");
}

#[tokio::test]
async fn a_report_over_the_size_limit_reaches_the_queue_as_its_summary() {
    let moto = Moto::start();
    let (topic, queue) = topic_with_queue(&moto).await;
    let config = moto.sdk_config().await;
    // Built here rather than swept: a report this large takes a few hundred drifted stacks.
    let mut report = Report::new(
        Execution::Apply,
        Mode::Enforce,
        Signal::sweep("schedule"),
        Vec::new(),
        vec!["a group outside every stack ".repeat(40); 300],
    );
    report.status = Status::Failed;
    assert!(report.to_json().len() > 256 * 1024, "not over SNS's limit");

    ReportTopic::new(&config, &topic)
        .publish(&report, "demo")
        .await;

    let notifications = received(&moto, &queue).await;
    assert_eq!(notifications.len(), 1, "{notifications:?}");
    let message = &notifications[0].message;
    assert!(message.len() <= MAX_MESSAGE_BYTES, "{}", message.len());
    let summary: Summary = serde_json::from_str(message).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (
            summary.status.as_str(),
            summary.actions,
            summary.stacks.len()
        ),
        ("failed", 0, 0)
    );
    assert!(summary.note.contains("see the function's log"), "{message}");
    assert_eq!(
        notifications[0]
            .message_attributes
            .get("status")
            .map(|a| a.value.as_str()),
        Some("failed")
    );
}

#[tokio::test]
async fn a_failed_publication_does_not_fail_the_invocation_or_its_repair() {
    let moto = Moto::start();
    let (_, queue) = topic_with_queue(&moto).await;
    let stack = drifted(&moto).await;
    let function = function(&moto, "arn:aws:sns:us-east-1:123456789012:no-such-topic").await;

    let report = function
        .invoke(sample_event("schedule.json"))
        .await
        .unwrap_or_else(|e| panic!("the invocation failed: {e:?}"));

    assert_eq!(report.status, Status::Converged, "{report}");
    assert!(report.count(|_| true) > 0, "{report}");
    assert_eq!(
        seed::ingress(&moto.ec2().await, &stack.node).await,
        stack.healthy_node_rules()
    );
    assert!(received(&moto, &queue).await.is_empty());
}

/// With a chat topic, each notable report also goes there as an AWS Chatbot custom
/// notification, and the report topic's subscribers still get the report's JSON.
#[tokio::test]
async fn a_chat_topic_gets_the_report_as_a_chatbot_custom_notification() {
    let moto = Moto::start();
    let (topic, queue) = topic_with_queue(&moto).await;
    let (chat, chat_queue) = tests::notifications::topic_with_queue(&moto, "demo-chat").await;
    let stack = drifted(&moto).await;
    let file = StackFile::load(&repo_path("samples/stack.toml")).unwrap_or_else(|e| panic!("{e}"));
    let config = moto.sdk_config().await;
    let function = Function::new(
        Engine::new(moto.clients().await, file, Capabilities::SECURITY_GROUPS),
        Some(ReportTopic::new(&config, &topic).with_chat_topic(&chat)),
        "Test",
    );

    let report = function
        .invoke(sample_event("schedule.json"))
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));

    let reports = received(&moto, &queue).await;
    assert_eq!(reports.len(), 1, "{reports:?}");
    let published: serde_json::Value =
        serde_json::from_str(&reports[0].message).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        published["status"], "converged",
        "the report topic keeps the report"
    );
    let chats = received(&moto, &chat_queue).await;
    assert_eq!(chats.len(), 1, "{chats:?}");
    let chat: serde_json::Value =
        serde_json::from_str(&chats[0].message).unwrap_or_else(|e| panic!("{e}"));
    // The schema AWS Chatbot documents for custom notifications.
    assert_eq!(chat["version"], "1.0", "{chat:#}");
    assert_eq!(chat["source"], "custom", "{chat:#}");
    let title = chat["content"]["title"].as_str().unwrap_or_default();
    let description = chat["content"]["description"].as_str().unwrap_or_default();
    assert!(title.contains("demo"), "{chat:#}");
    assert!(
        description.contains(stack.node.as_str()) || description.contains("revoke"),
        "the summary names what was done: {chat:#}"
    );
    assert!(report.count(|_| true) > 0);
}

/// With Security Hub on, each run's findings go to the account's default product with stable
/// IDs: the drift a run repairs is imported `PASSED` and `ARCHIVED`, and the next run updates
/// the same findings instead of adding others.
#[tokio::test]
async fn findings_go_to_security_hub_with_stable_ids_and_repairs_archived() {
    let moto = Moto::start();
    let (topic, _) = topic_with_queue(&moto).await;
    let stack = drifted(&moto).await;
    let config = moto.sdk_config().await;
    let account = "123456789012";
    let function = function(&moto, &topic)
        .await
        .with_security_hub(shared::security_hub::SecurityHub::new(&config, account));
    let hub = aws_sdk_securityhub::Client::new(&config);
    let stored = || async {
        hub.get_findings()
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e:?}"))
            .findings()
            .to_vec()
    };

    let report = function
        .invoke(sample_event("schedule.json"))
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert!(report.count(|_| true) > 0, "{report}");
    let first = stored().await;
    assert!(!first.is_empty(), "findings were imported");
    let revoked = first
        .iter()
        .find(|f| {
            f.resources()
                .iter()
                .any(|r| r.id().is_some_and(|id| id.ends_with(stack.node.as_str())))
        })
        .unwrap_or_else(|| panic!("no finding on {}: {first:#?}", stack.node));
    assert_eq!(
        revoked.compliance().and_then(|c| c.status()),
        Some(&aws_sdk_securityhub::types::ComplianceStatus::Passed),
        "repaired by this run: {revoked:#?}"
    );
    assert_eq!(
        revoked.record_state(),
        Some(&aws_sdk_securityhub::types::RecordState::Archived)
    );
    for finding in &first {
        // What AWS requires and allows of a finding provider.
        assert_eq!(finding.schema_version(), Some("2018-10-08"));
        assert_eq!(
            finding.product_arn(),
            Some(
                format!("arn:aws:securityhub:us-east-1:{account}:product/{account}/default")
                    .as_str()
            )
        );
        assert!(finding
            .title()
            .is_some_and(|t| !t.is_empty() && t.chars().count() <= 256));
        assert!(finding
            .description()
            .is_some_and(|d| d.chars().count() <= 1024));
        assert!(
            finding.workflow().is_none(),
            "a provider never sets Workflow: {finding:#?}"
        );
        assert!(!finding.types().is_empty());
    }

    // Drift again, the same exposure: the same finding is updated, none is added.
    seed::allow(
        &moto.ec2().await,
        &stack.node,
        &[rule::tcp(6688, "0.0.0.0/0")],
    )
    .await;
    function
        .invoke(sample_event("schedule.json"))
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let second = stored().await;
    let ids = |findings: &[aws_sdk_securityhub::types::AwsSecurityFinding]| {
        let mut ids: Vec<String> = findings
            .iter()
            .filter_map(|f| f.id().map(String::from))
            .collect();
        ids.sort();
        ids
    };
    assert_eq!(
        ids(&second),
        ids(&first),
        "stable IDs: updated, not duplicated"
    );
}

/// Each published report is kept as a page in the stack's bucket, and the notification links
/// it; a quiet sweep keeps nothing.
#[tokio::test]
async fn a_published_report_is_kept_as_a_page_and_linked_from_its_notification() {
    let moto = Moto::start();
    let (topic, queue) = topic_with_queue(&moto).await;
    drifted(&moto).await;
    let config = moto.sdk_config().await;
    let s3 = aws_sdk_s3::Client::new(&config);
    s3.create_bucket()
        .bucket("demo-report-pages")
        .send()
        .await
        .unwrap_or_else(|e| panic!("create bucket: {e:?}"));
    let function = function(&moto, &topic)
        .await
        .with_report_pages(ReportPages::new(&config, "demo-report-pages"));

    let report = function
        .invoke(sample_event("schedule.json"))
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let link = report
        .page
        .clone()
        .unwrap_or_else(|| panic!("no page: {report}"));
    assert!(
        link.starts_with("https://us-east-1.console.aws.amazon.com/s3/object/demo-report-pages?region=us-east-1&bucketType=general&prefix=reports%2Fdemo%2F"),
        "{link}"
    );
    let notifications = received(&moto, &queue).await;
    let published: serde_json::Value =
        serde_json::from_str(&notifications[0].message).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        published["page"],
        link.as_str(),
        "the notification links the page"
    );

    let keys = || async {
        s3.list_objects_v2()
            .bucket("demo-report-pages")
            .send()
            .await
            .unwrap_or_else(|e| panic!("list: {e:?}"))
            .contents()
            .iter()
            .filter_map(|o| o.key().map(String::from))
            .collect::<Vec<_>>()
    };
    let stored = keys().await;
    let [key] = stored.as_slice() else {
        panic!("one page expected: {stored:?}");
    };
    let object = s3
        .get_object()
        .bucket("demo-report-pages")
        .key(key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("get: {e:?}"));
    assert_eq!(object.content_type(), Some("text/html; charset=utf-8"));
    let page = object
        .body
        .collect()
        .await
        .map(|b| String::from_utf8_lossy(&b.into_bytes()).into_owned())
        .unwrap_or_default();
    assert!(
        page.starts_with("<!DOCTYPE html>") && page.contains("demo"),
        "{page}"
    );

    let quiet = function
        .invoke(sample_event("schedule.json"))
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(quiet.page, None, "a quiet sweep keeps no page");
    assert_eq!(keys().await.len(), 1);
}
