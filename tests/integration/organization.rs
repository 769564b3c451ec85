//! An organisation from one deployment, against the emulator: moto keeps accounts apart under
//! `AssumeRole`, and the fault proxy makes `AssumeRole` refuse a role that does not exist (moto
//! would not), names the account each request acts in, and throttles one account.

use aws_config::SdkConfig;
use serde_json::Value;
use shared::domain::ids::SecurityGroupId;
use shared::domain::stack::{StackFile, Target};
use shared::engine::{Capabilities, Engine};
use shared::function::Function;
use shared::organization::fleet::Fleet;
use std::collections::BTreeSet;
use std::process::Output;
use tests::fault_proxy::Exchange;
use tests::{
    fleet_stack_file, remediator_binary, rule, seed, Fault, FaultProxy, MemberRoles, Moto,
    Schedule, SeededStack,
};

const ROLE: &str = "ChainlinkRemediatorMember";
const EXTERNAL_ID: &str = "chainlink-ops";
const REGIONS: [&str; 2] = ["eu-west-1", "us-east-1"];

fn account(n: usize) -> String {
    format!("{:012}", 100_000_000_000 + n)
}

/// The sample stack file (security groups; no parameters) over `accounts` × `REGIONS`.
fn organization_stack_file(accounts: &[String]) -> String {
    let listed: Vec<String> = accounts.iter().map(|a| format!("\"{a}\"")).collect();
    format!(
        "{}\n[organization]\naccounts = [{}]\nregions = [\"eu-west-1\", \"us-east-1\"]\nrole_name = \"{ROLE}\"\nexternal_id = \"{EXTERNAL_ID}\"\n",
        fleet_stack_file("demo"),
        listed.join(", ")
    )
}

fn write_temp(name: &str, content: &str) -> String {
    let path = std::env::temp_dir().join(format!("remediator-org-{}-{name}", std::process::id()));
    std::fs::write(&path, content).unwrap_or_else(|e| panic!("{e}"));
    path.display().to_string()
}

async fn member_config(moto: &Moto, target: &Target) -> SdkConfig {
    tests::member_config(&moto.endpoint, &target.account, &target.region, ROLE).await
}

/// Every target seeded healthy; those in `drifted` with the node's UI open to the world.
async fn seed_targets(
    moto: &Moto,
    targets: &[Target],
    drifted: &[Target],
) -> Vec<(Target, SeededStack)> {
    let mut seeded = Vec::new();
    for target in targets {
        let ec2 = aws_sdk_ec2::Client::new(&member_config(moto, target).await);
        let stack = SeededStack::healthy(&ec2, "demo").await;
        if drifted.contains(target) {
            seed::allow(&ec2, &stack.node, &[rule::tcp(6688, "0.0.0.0/0")]).await;
        }
        seeded.push((target.clone(), stack));
    }
    seeded
}

/// Writes happened in the drifted targets and nowhere else, and every target is healthy.
async fn assert_repaired_only_where_drifted(
    moto: &Moto,
    proxy: &FaultProxy,
    seeded: &[(Target, SeededStack)],
    drifted: &[Target],
) {
    assert_eq!(
        written_in(&proxy.exchanges()),
        drifted.iter().cloned().collect::<BTreeSet<_>>()
    );
    for (target, stack) in seeded {
        assert_eq!(
            node_rules(moto, target, &stack.node).await,
            stack.healthy_node_rules(),
            "{target}"
        );
    }
}

async fn node_rules(moto: &Moto, target: &Target, node: &SecurityGroupId) -> Vec<String> {
    let ec2 = aws_sdk_ec2::Client::new(&member_config(moto, target).await);
    seed::ingress(&ec2, node).await
}

fn targets_of(accounts: &[String]) -> Vec<Target> {
    accounts
        .iter()
        .flat_map(|a| REGIONS.iter().map(move |r| Target::new(a.clone(), *r)))
        .collect()
}

fn remediator(endpoint: &str, args: &[&str]) -> Output {
    tests::output::run(
        std::process::Command::new(remediator_binary())
            .args(args)
            .envs(tests::binary_env(endpoint)),
    )
}

/// `remediator handle --json` of `event_file`: its output and its report.
fn handle(proxy: &FaultProxy, stack_file: &str, event_file: &str) -> (Output, Value) {
    let output = remediator(
        &proxy.endpoint,
        &[
            "handle", "--stack", stack_file, "--event", event_file, "--json",
        ],
    );
    let report = json(&output);
    (output, report)
}

fn json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON document ({e}): {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

/// Where the proxy saw changes made: (account, region) of every ingress write.
fn written_in(exchanges: &[Exchange]) -> BTreeSet<Target> {
    exchanges
        .iter()
        .filter(|e| e.operation.ends_with("SecurityGroupIngress") && e.took_effect())
        .map(|e| Target::new(e.account.clone().unwrap_or_default(), e.region.clone()))
        .collect()
}

fn target_report<'a>(report: &'a Value, target: &Target) -> &'a Value {
    report["targets"]
        .as_array()
        .and_then(|targets| {
            targets.iter().find(|t| {
                t["account"] == target.account.as_str() && t["region"] == target.region.as_str()
            })
        })
        .unwrap_or_else(|| panic!("no report for {target}: {report:#}"))
}

/// A member's CloudTrail event for a change of `group`, as its rule forwards it.
fn cloudtrail_event(id: &str, target: &Target, group: &SecurityGroupId) -> Value {
    serde_json::json!({
        "version": "0", "id": id, "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.ec2", "account": target.account, "time": "2026-12-06T08:00:00Z",
        "region": target.region, "resources": [],
        "detail": {"eventSource": "ec2.amazonaws.com", "eventName": "AuthorizeSecurityGroupIngress",
                   "awsRegion": target.region, "eventID": id,
                   "requestParameters": {"groupId": group.as_str()}}
    })
}

/// An organisation of `accounts`, each with the member role (and its external ID) in place.
fn organization_behind(proxy: &FaultProxy, accounts: &[String]) {
    proxy.member_roles(MemberRoles {
        role_name: ROLE.into(),
        external_id: Some(EXTERNAL_ID.into()),
        accounts: accounts.to_vec(),
    });
}

/// security-group-guard over `accounts`, its target queue at `queue`.
fn security_group_guard(config: &SdkConfig, accounts: &[String], queue: &str) -> Function {
    let file = StackFile::parse(&organization_stack_file(accounts), "org.toml")
        .unwrap_or_else(|e| panic!("{e}"));
    let organization = file
        .organization
        .clone()
        .unwrap_or_else(|| panic!("no section"));
    let engine = Engine::new(
        shared::aws::Clients::new(config),
        file,
        Capabilities::SECURITY_GROUPS,
    );
    Function::new(engine, None, "Test").with_fleet(Fleet::new(config, organization, queue.into()))
}

#[tokio::test]
async fn twenty_accounts_in_two_regions_are_repaired_where_they_drifted_and_only_there() {
    let moto = Moto::start();
    let proxy = FaultProxy::start(&moto.endpoint);
    let accounts: Vec<String> = (1..=20).map(account).collect();
    // The last account never deployed the member role.
    organization_behind(&proxy, &accounts[..19]);
    let targets = targets_of(&accounts);
    let drifted = vec![
        Target::new(account(3), "us-east-1"),
        Target::new(account(7), "eu-west-1"),
        Target::new(account(12), "us-east-1"),
        Target::new(account(12), "eu-west-1"),
    ];
    let seeded = seed_targets(&moto, &targets[..38], &drifted).await;
    let stack_file = write_temp("twenty.toml", &organization_stack_file(&accounts));

    let plan = remediator(&proxy.endpoint, &["plan", "--stack", &stack_file, "--json"]);
    let planned = json(&plan);
    assert!(
        written_in(&proxy.exchanges()).is_empty(),
        "plan changed something"
    );
    assert_eq!(planned["summary"]["targets"]["planned"], 4, "{planned:#}");

    proxy.reset();
    let page =
        std::env::temp_dir().join(format!("remediator-org-{}-twenty.html", std::process::id()));
    let apply = remediator(
        &proxy.endpoint,
        &[
            "apply",
            "--stack",
            &stack_file,
            "--json",
            "--concurrency",
            "8",
            "--html",
            &page.display().to_string(),
        ],
    );
    let report = json(&apply);
    let html = std::fs::read_to_string(&page).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(html.matches("<section class=\"target\"").count(), 40);
    assert_eq!(
        html.matches("data-status=\"failed\">\n<h2>").count(),
        2,
        "the unreachable account's two regions"
    );
    // The unreachable account is the worst target: exit 1, and every other target converged.
    assert_eq!(apply.status.code(), Some(1), "{report:#}");
    assert_eq!(report["status"], "failed");
    assert_eq!(report["targets"].as_array().map(Vec::len), Some(40));
    assert_eq!(report["summary"]["targets"]["converged"], 38, "{report:#}");
    assert_eq!(report["summary"]["targets"]["failed"], 2, "{report:#}");
    assert_eq!(report["summary"]["actions"]["applied"], 4, "{report:#}");
    for region in REGIONS {
        let unreachable = target_report(&report, &Target::new(account(20), region));
        assert_eq!(unreachable["status"], "failed");
        assert_eq!(
            unreachable["error"]["code"], "AccessDenied",
            "{unreachable:#}"
        );
        let message = unreachable["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(&format!(
                "cannot assume arn:aws:iam::{}:role/{ROLE}",
                account(20)
            )),
            "{message}"
        );
    }
    // Repaired where it drifted, and nothing written anywhere else.
    assert_repaired_only_where_drifted(&moto, &proxy, &seeded, &drifted).await;
    // One session per account, shared by its two regions.
    let assumed = proxy
        .exchanges_of("AssumeRole")
        .iter()
        .filter(|e| e.took_effect())
        .count();
    assert_eq!(assumed, 19);
}

#[tokio::test]
async fn an_event_from_one_member_changes_only_that_member() {
    let moto = Moto::start();
    let proxy = FaultProxy::start(&moto.endpoint);
    let accounts: Vec<String> = (1..=3).map(account).collect();
    organization_behind(&proxy, &accounts);
    let targets = targets_of(&accounts);
    // Every target drifted: only the event's may change.
    let seeded = seed_targets(&moto, &targets, &targets).await;
    let stack_file = write_temp("event.toml", &organization_stack_file(&accounts));
    let (here, stack) = seeded
        .iter()
        .find(|(t, _)| *t == Target::new(account(2), "eu-west-1"))
        .cloned()
        .unwrap_or_else(|| panic!("not seeded"));
    let event = cloudtrail_event("member-event-1", &here, &stack.node);
    let event_file = write_temp("event.json", &event.to_string());

    proxy.reset();
    let (handled, report) = handle(&proxy, &stack_file, &event_file);
    assert_eq!(handled.status.code(), Some(0), "{report:#}");
    assert_eq!(
        report["targets"].as_array().map(Vec::len),
        Some(1),
        "{report:#}"
    );
    assert_eq!(report["summary"]["actions"]["applied"], 1, "{report:#}");
    assert_eq!(
        written_in(&proxy.exchanges()),
        BTreeSet::from([here.clone()])
    );

    // An account outside the section: nothing is read, and the reason is given.
    let stranger = cloudtrail_event(
        "member-event-2",
        &Target::new("999999999999", "us-east-1"),
        &stack.node,
    );
    let stranger_file = write_temp("stranger.json", &stranger.to_string());
    proxy.reset();
    let (ignored, report) = handle(&proxy, &stack_file, &stranger_file);
    assert_eq!(ignored.status.code(), Some(0), "{report:#}");
    assert_eq!(report["targets"].as_array().map(Vec::len), Some(0));
    assert!(
        report["skipped"][0].as_str().is_some_and(
            |r| r.contains("account 999999999999 is not one of the organisation's accounts")
        ),
        "{report:#}"
    );
    assert!(proxy.exchanges_of("AssumeRole").is_empty());
}

/// Approvals are the deployment account's: in a member account a plan that needs one does not
/// run, the report gives that cause (not a key the member cannot read), and nothing is read
/// from the member's Parameter Store.
#[tokio::test]
async fn a_plan_that_needs_approval_in_a_member_account_does_not_run_and_says_why() {
    let moto = Moto::start();
    let proxy = FaultProxy::start(&moto.endpoint);
    let accounts = vec![account(1)];
    organization_behind(&proxy, &accounts);
    let here = Target::new(account(1), "eu-west-1");
    let seeded = seed_targets(&moto, std::slice::from_ref(&here), &[]).await;
    let (_, stack) = &seeded[0];
    // A required rule closed: reopening it in production waits for a person.
    let ec2 = aws_sdk_ec2::Client::new(&member_config(&moto, &here).await);
    seed::revoke(&ec2, &stack.node, &rule::tcp(6688, "10.20.0.0/16")).await;
    let stack_file = write_temp(
        "approvals.toml",
        &format!(
            "{}\n[approvals]\nkey_parameter = \"/chainlink-remediator/demo/approval-key\"\neverything_in_production = true\n",
            organization_stack_file(&accounts)
        ),
    );
    let event = cloudtrail_event("member-approval-1", &here, &stack.node);
    let event_file = write_temp("approval-event.json", &event.to_string());

    proxy.reset();
    let (handled, report) = handle(&proxy, &stack_file, &event_file);
    assert_ne!(handled.status.code(), Some(0), "{report:#}");
    assert!(written_in(&proxy.exchanges()).is_empty(), "{report:#}");
    assert!(proxy.exchanges_of("GetParameter").is_empty(), "{report:#}");
    assert_eq!(
        target_report(&report, &here)["status"],
        "refused",
        "{report:#}"
    );
    let text = target_report(&report, &here).to_string();
    assert!(
        text.contains("approvals are issued in the deployment's own account only"),
        "{report:#}"
    );
}

#[tokio::test]
async fn a_throttled_account_fails_alone_and_holds_no_other_account_back() {
    let moto = Moto::start();
    let proxy = FaultProxy::start(&moto.endpoint);
    let accounts: Vec<String> = (1..=6).map(account).collect();
    organization_behind(&proxy, &accounts);
    let targets = targets_of(&accounts);
    seed_targets(&moto, &targets, &targets).await;
    let stack_file = write_temp("throttled.toml", &organization_stack_file(&accounts));
    let throttled = account(4);
    proxy.reset();
    proxy.fail_in(
        &throttled,
        "DescribeSecurityGroups",
        Schedule::Always,
        Fault::Throttle,
    );
    let apply = remediator(
        &proxy.endpoint,
        &[
            "apply",
            "--stack",
            &stack_file,
            "--json",
            "--concurrency",
            "4",
        ],
    );
    let report = json(&apply);
    assert_eq!(apply.status.code(), Some(1), "{report:#}");
    for target in &targets {
        let status = &target_report(&report, target)["status"];
        match target.account == throttled {
            true => assert_eq!(status, "failed", "{target}"),
            false => assert_eq!(status, "converged", "{target}"),
        }
    }
    let exchanges = proxy.exchanges();
    // The throttled account's calls were retried; no other account's call was: each target's
    // clients have their own retry quota and rate limiter.
    assert!(exchanges
        .iter()
        .any(|e| e.account.as_deref() == Some(throttled.as_str()) && e.attempt > Some(1)));
    let others: Vec<&Exchange> = exchanges
        .iter()
        .filter(|e| e.account.is_some() && e.account.as_deref() != Some(throttled.as_str()))
        .collect();
    assert!(!others.is_empty());
    assert!(
        others.iter().all(|e| e.attempt == Some(1)),
        "another account's call was retried: {:?}",
        others
            .iter()
            .filter(|e| e.attempt != Some(1))
            .collect::<Vec<_>>()
    );
    // Every other target was repaired: one revoke each.
    assert_eq!(
        written_in(&exchanges),
        targets
            .iter()
            .filter(|t| t.account != throttled)
            .cloned()
            .collect::<BTreeSet<_>>()
    );
}

#[tokio::test]
async fn a_sweep_fans_out_through_the_fifo_queue_and_a_redelivered_batch_does_nothing_twice() {
    let moto = Moto::start();
    let proxy = FaultProxy::start(&moto.endpoint);
    let accounts: Vec<String> = (1..=3).map(account).collect();
    organization_behind(&proxy, &accounts);
    let targets = targets_of(&accounts);
    let drifted = vec![
        Target::new(account(1), "us-east-1"),
        Target::new(account(3), "eu-west-1"),
    ];
    let seeded = seed_targets(&moto, &targets, &drifted).await;
    let config = tests::sdk_config_loader(&proxy.endpoint).load().await;
    let sqs = aws_sdk_sqs::Client::new(&config);
    let queue = sqs
        .create_queue()
        .queue_name("instance-guard-targets.fifo")
        .attributes(aws_sdk_sqs::types::QueueAttributeName::FifoQueue, "true")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e:?}"))
        .queue_url()
        .unwrap_or_default()
        .to_string();
    let function = security_group_guard(&config, &accounts, &queue);

    let schedule = serde_json::json!({
        "version": "0", "id": "sweep-1", "detail-type": "Scheduled Event", "source": "aws.events",
        "account": "123456789012", "time": "2026-12-06T08:00:00Z", "region": "us-east-1",
        "resources": [], "detail": {}
    });
    let queued = function
        .handle(schedule.clone())
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(
        queued["queued"].as_array().map(Vec::len),
        Some(6),
        "{queued:#}"
    );
    // The same schedule event again (EventBridge delivers at least once): deduplicated.
    function
        .handle(schedule)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert!(
        written_in(&proxy.exchanges()).is_empty(),
        "the fan-out changed something"
    );

    // The batch as Lambda's event source mapping delivers it.
    let mut records = Vec::new();
    for _ in 0..3 {
        let received = sqs
            .receive_message()
            .queue_url(&queue)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        for message in received.messages() {
            records.push(serde_json::json!({
                "messageId": message.message_id(),
                "receiptHandle": message.receipt_handle(),
                "body": message.body(),
                "attributes": {},
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:instance-guard-targets.fifo",
                "awsRegion": "us-east-1"
            }));
        }
    }
    assert_eq!(
        records.len(),
        6,
        "one message per target, once: {records:#?}"
    );
    let batch = serde_json::json!({ "Records": records });
    proxy.reset();
    let answer = function
        .handle(batch.clone())
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(answer, serde_json::json!({"batchItemFailures": []}));
    assert_repaired_only_where_drifted(&moto, &proxy, &seeded, &drifted).await;
    // Redelivered: re-read, nothing left to do.
    proxy.reset();
    let again = function
        .handle(batch)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(again, serde_json::json!({"batchItemFailures": []}));
    assert!(written_in(&proxy.exchanges()).is_empty());
}

#[tokio::test]
async fn a_failed_message_and_every_one_after_it_are_delivered_again() {
    let moto = Moto::start();
    let proxy = FaultProxy::start(&moto.endpoint);
    let accounts: Vec<String> = (1..=3).map(account).collect();
    organization_behind(&proxy, &accounts);
    let targets: Vec<Target> = accounts
        .iter()
        .map(|a| Target::new(a.clone(), "us-east-1"))
        .collect();
    seed_targets(&moto, &targets, &[]).await;
    let config = tests::sdk_config_loader(&proxy.endpoint)
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(1))
        .load()
        .await;
    let function = security_group_guard(&config, &accounts, "unused");
    proxy.fail_in(
        &account(2),
        "DescribeSecurityGroups",
        Schedule::Always,
        Fault::ServiceUnavailable,
    );
    let sweep = serde_json::json!({"version": "0", "id": "sweep-2", "detail-type": "Scheduled Event",
        "source": "aws.events", "account": "123456789012", "time": "2026-12-06T08:00:00Z",
        "region": "us-east-1", "resources": [], "detail": {}});
    let records: Vec<Value> = targets
        .iter()
        .enumerate()
        .map(|(i, target)| {
            let work = shared::domain::organization::TargetWork::new(target, sweep.clone());
            serde_json::json!({"messageId": format!("m-{i}"), "eventSource": "aws:sqs",
                "body": serde_json::to_string(&work).unwrap_or_default()})
        })
        .collect();
    let answer = function
        .handle(serde_json::json!({ "Records": records }))
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(
        answer,
        serde_json::json!({"batchItemFailures": [{"itemIdentifier": "m-1"}, {"itemIdentifier": "m-2"}]})
    );
    // The third target was not run: FIFO order holds.
    assert!(proxy
        .exchanges()
        .iter()
        .all(|e| e.account.as_deref() != Some(account(3).as_str())));
}

#[tokio::test]
async fn every_active_account_or_those_under_a_unit_are_the_targets() {
    use aws_sdk_organizations::types::OrganizationalUnit;
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    let organizations = aws_sdk_organizations::Client::new(&config);
    organizations
        .create_organization()
        .feature_set(aws_sdk_organizations::types::OrganizationFeatureSet::All)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let mut members = Vec::new();
    for n in 0..4 {
        let created = organizations
            .create_account()
            .account_name(format!("node-{n}"))
            .email(format!("node-{n}@example.com"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        let id = created
            .create_account_status()
            .and_then(|s| s.account_id())
            .unwrap_or_else(|| panic!("no account ID"))
            .to_string();
        members.push(id);
    }
    let root = organizations
        .list_roots()
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e:?}"))
        .roots()
        .first()
        .and_then(|r| r.id())
        .unwrap_or_default()
        .to_string();
    let unit = |parent: String, name: &'static str| {
        let organizations = organizations.clone();
        async move {
            organizations
                .create_organizational_unit()
                .parent_id(parent)
                .name(name)
                .send()
                .await
                .unwrap_or_else(|e| panic!("{e:?}"))
                .organizational_unit()
                .and_then(OrganizationalUnit::id)
                .unwrap_or_default()
                .to_string()
        }
    };
    let nodes = unit(root.clone(), "nodes").await;
    let mainnet = unit(nodes.clone(), "mainnet").await;
    // node-0 under nodes, node-1 under nodes/mainnet (found at any depth); the others at the root.
    for (account, destination) in [(&members[0], &nodes), (&members[1], &mainnet)] {
        organizations
            .move_account()
            .account_id(account)
            .source_parent_id(&root)
            .destination_parent_id(destination)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
    }
    let section = |ous: &str| {
        format!(
            "{}\n[organization]\naccounts = [\"*\"]\n{ous}regions = [\"us-east-1\"]\nrole_name = \"{ROLE}\"\n",
            fleet_stack_file("demo")
        )
    };
    let listed = |output: &Output| -> BTreeSet<String> {
        json(output)["targets"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t["account"].as_str().map(String::from))
            .collect()
    };
    let every = write_temp("every.toml", &section(""));
    let plan = remediator(&moto.endpoint, &["plan", "--stack", &every, "--json"]);
    let accounts = listed(&plan);
    // The management account is an active account of the organisation too.
    for member in &members {
        assert!(accounts.contains(member), "{member} not in {accounts:?}");
    }
    assert_eq!(accounts.len(), members.len() + 1, "{accounts:?}");

    let under = write_temp("under.toml", &section(&format!("ous = [\"{nodes}\"]\n")));
    let plan = remediator(&moto.endpoint, &["plan", "--stack", &under, "--json"]);
    assert_eq!(
        listed(&plan),
        BTreeSet::from([members[0].clone(), members[1].clone()])
    );
}
