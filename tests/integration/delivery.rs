//! At-least-once, out-of-order delivery: EventBridge may deliver an event several times and in
//! any order, and Lambda retries failed invocations. Every sample event, replayed many times and
//! shuffled, must change AWS exactly as one delivery of each does, and leave it in the same state.

use domain::instances::REMEDIATION_TAG;
use domain::report::Status;
use domain::stack::StackFile;
use serde_json::Value;
use shared::engine::{Capabilities, Engine};
use shared::instances::apply::Waits;
use shared::invocation::handle_event;
use std::path::PathBuf;
use std::time::Duration;
use tests::ssm::{valid_legacy, DEV_DB};
use tests::{fleet, repo_path, rule, seed, ssm, Moto, SeededStack};

const DELIVERIES: usize = 1000;
/// The IDs the sample events name, and what they stand for in the seeded stack.
const NODE_IN_SAMPLES: [&str; 1] = ["sg-0a1b2c3d4e5f60718"];
const DB_IN_SAMPLES: [&str; 2] = ["sg-0b2c3d4e5f6071829", "sg-0f1e2d3c4b5a69788"];
/// The instance the alarm samples name, and the Auto Scaling group the group alarm names.
const INSTANCE_IN_SAMPLES: &str = "i-0123456789abcdef0";
const GROUP_IN_SAMPLES: &str = "demo-nodes";

/// The resources the alarm samples act on, seeded as instances and a group of the demo stack.
/// Only the targets: the alarms themselves are defined by the samples (and, where the engine
/// reads them, seeded apart). Each node-acting alarm shape gets its own node, so one shape's
/// cooldown never decides whether another acts, whatever the order.
#[derive(Debug)]
struct AlarmTargets {
    /// CPU (EventBridge), and the OK transition and configuration change of the same alarm.
    cpu: String,
    /// Memory, through the alarm's direct Lambda action.
    memory: String,
    /// Disk, through SNS (and the status of a Run Command on it).
    disk: String,
    /// Status check (the `replace` remediation).
    status: String,
    /// The Auto Scaling group's launch template.
    template: String,
}

impl AlarmTargets {
    async fn seed(moto: &Moto) -> AlarmTargets {
        let ec2 = moto.ec2().await;
        let subnet = fleet::subnet(&ec2, "us-east-1a").await;
        let node = |role: &'static str| fleet::node(&ec2, &subnet, "demo", role, "m6i.large");
        let (cpu, memory, disk, status) = (
            node("node").await,
            node("node").await,
            node("node").await,
            node("node").await,
        );
        let template =
            fleet::group(moto, &subnet, GROUP_IN_SAMPLES, "demo", "node", "m6i.large").await;
        AlarmTargets {
            cpu,
            memory,
            disk,
            status,
            template,
        }
    }

    /// The instance a sample names, if it names one.
    fn for_sample(&self, name: &str) -> Option<&str> {
        match name {
            "alarm-eventbridge-cpu.json"
            | "alarm-eventbridge-ok.json"
            | "alarm-configuration-change.json" => Some(&self.cpu),
            "alarm-lambda-action-memory.json" => Some(&self.memory),
            // The command that extends the disk node's filesystem reports its status.
            "alarm-sns-disk.json" | "ssm-run-command-invocation-status.json" => Some(&self.disk),
            "alarm-eventbridge-status-check.json" => Some(&self.status),
            _ => None,
        }
    }

    /// (role in this test, instance) of every seeded node.
    fn nodes(&self) -> [(&'static str, &str); 4] {
        [
            ("cpu", &self.cpu),
            ("memory", &self.memory),
            ("disk", &self.disk),
            ("status", &self.status),
        ]
    }
}

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

/// A sample aimed at the seeded stack: its group and instance IDs replaced by the seeded ones.
fn aimed(name: &str, raw: &str, stack: &SeededStack, targets: &AlarmTargets) -> Value {
    let mut text = raw.to_string();
    if text.contains(INSTANCE_IN_SAMPLES) {
        let target = targets
            .for_sample(name)
            .unwrap_or_else(|| panic!("{name} names an instance: give it a target"));
        text = text.replace(INSTANCE_IN_SAMPLES, target);
    }
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
async fn seed_drift(moto: &Moto, engine: &Engine, targets: &AlarmTargets) -> SeededStack {
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
    let labeled = handle_event(engine, aimed(&create.0, &create.1, &stack, targets))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(labeled.status, Status::Converged, "{labeled}");
    ssm::put(&client, "/chainlink/demo/DATABASE_URL", DEV_DB).await;
    stack
}

/// What one run of deliveries did: its mutating calls (sorted, the seeded IDs named by role so
/// runs compare), the instance refreshes it started, and AWS's state afterwards.
#[derive(Debug)]
struct Run {
    calls: Vec<String>,
    refreshes: usize,
    end: EndState,
}

/// The state the samples' remediations change, read back from AWS, with IDs named by role.
#[derive(Debug, PartialEq)]
struct EndState {
    /// (role, state, type, remediation record without its time) of each standalone node.
    nodes: Vec<(String, String, String, Option<String>)>,
    /// Root volume size (GiB) of each standalone node.
    volumes: Vec<(String, i32)>,
    /// The group's launch template version, and the instance type that version launches.
    group: (String, Option<String>),
    node_rules: Vec<String>,
    db_rules: Vec<String>,
    database_url: String,
}

/// A remediation record without its `at=` time (the clock, not the events, sets it), and with
/// its incident named by the alarm whose transition it is (each run fires its alarms anew).
fn timeless(record: Option<String>, incidents: &[(String, String)]) -> Option<String> {
    record.map(|r| {
        let mut record = r
            .split(' ')
            .filter(|word| !word.starts_with("at="))
            .collect::<Vec<_>>()
            .join(" ");
        for (incident, alarm) in incidents {
            record = record.replace(incident, &format!("<{alarm}>"));
        }
        record
    })
}

/// The incident of each alarm event, and its alarm's name.
fn incidents(events: &[(String, Value)]) -> Vec<(String, String)> {
    events
        .iter()
        .filter_map(|(_, event)| {
            let signal = domain::event::parse_event_value(event.clone()).ok()?;
            match signal.kind {
                domain::signal::SignalKind::AlarmFired(notice) => {
                    Some((notice.incident(), notice.name))
                }
                _ => None,
            }
        })
        .collect()
}

async fn end_state(
    moto: &Moto,
    stack: &SeededStack,
    targets: &AlarmTargets,
    incidents: &[(String, String)],
) -> EndState {
    let ec2 = moto.ec2().await;
    let mut nodes = Vec::new();
    let mut volumes = Vec::new();
    for (role, id) in targets.nodes() {
        let (state, instance_type) = fleet::state(&ec2, id).await;
        let record = timeless(
            fleet::instance_tag(&ec2, id, REMEDIATION_TAG).await,
            incidents,
        );
        nodes.push((role.to_string(), state, instance_type, record));
        volumes.push((role.to_string(), fleet::root_volume(&ec2, id).await.1));
    }
    // What the group launches: its type override, else its launch template's type.
    let (version, overrides) = fleet::group_launches(moto, GROUP_IN_SAMPLES).await;
    let launched = match overrides.first() {
        Some(only) => Some(only.clone()),
        None => ec2
            .describe_launch_template_versions()
            .launch_template_id(&targets.template)
            .versions(&version)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e:?}"))
            .launch_template_versions()
            .first()
            .and_then(|v| v.launch_template_data()?.instance_type())
            .map(|t| t.as_str().to_string()),
    };
    let client = ssm::client(moto).await;
    EndState {
        nodes,
        volumes,
        group: (version, launched),
        node_rules: named(seed::ingress(&ec2, &stack.node).await, stack),
        db_rules: named(seed::ingress(&ec2, &stack.db).await, stack),
        database_url: ssm::current(&client, "/chainlink/demo/DATABASE_URL")
            .await
            .1,
    }
}

/// `texts` with the seeded group IDs named by role.
fn named(texts: Vec<String>, stack: &SeededStack) -> Vec<String> {
    texts
        .into_iter()
        .map(|t| {
            t.replace(stack.node.as_str(), "<node>")
                .replace(stack.db.as_str(), "<db>")
        })
        .collect()
}

/// The sample stack file, allowing a resize of every node the alarm samples resize within the
/// hour: with the sample's two, which resizes the limit refuses would depend on the order.
fn stack_file() -> StackFile {
    let text = std::fs::read_to_string(repo_path("samples/stack.toml"))
        .unwrap_or_else(|e| panic!("samples/stack.toml: {e}"));
    let limit = "max_resizes_per_hour = 2 ";
    assert!(text.contains(limit), "the sample's resize limit moved");
    StackFile::parse(
        &text.replace(limit, "max_resizes_per_hour = 3 "),
        "samples/stack.toml",
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

/// Seeds a fresh drifted stack and the alarms' targets, delivers `order` (indices into the
/// samples) and returns what the run did.
async fn deliver(moto: &Moto, order: &[usize]) -> Run {
    moto.reset();
    let describe = fleet::no_refresh_in_progress();
    let start = fleet::refresh_started();
    let clients = fleet::clients_with(moto, &fleet::REFRESH_CALLS, &[&describe, &start]).await;
    let engine = Engine::new(clients, stack_file(), Capabilities::ALL)
        .with_filesystem_document(Some(tests::filesystem_document()))
        .with_waits(Waits {
            poll: Duration::from_millis(20),
            reads: 500,
        });
    let targets = AlarmTargets::seed(moto).await;
    let stack = seed_drift(moto, &engine, &targets).await;
    // Each alarm sample's alarm really fires (the engine re-reads it): one alarm per name.
    let mut events: Vec<(String, Value)> = Vec::new();
    for (name, raw) in samples() {
        let event = aimed(&name, &raw, &stack, &targets).to_string();
        let event = fleet::real_alarm_event(moto, &event).await;
        let event = serde_json::from_str(&event).unwrap_or_else(|e| panic!("{name}: {e}"));
        events.push((name, event));
    }
    let recording = moto.start_recording();
    for &index in order {
        let (name, event) = &events[index];
        let report = handle_event(&engine, event.clone())
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(report.status, Status::Converged, "{name}: {report}");
    }
    let ec2 = moto.ec2().await;
    let mut volumes = Vec::new();
    for (role, id) in targets.nodes() {
        volumes.push((
            fleet::root_volume(&ec2, id).await.0,
            format!("<{role}-volume>"),
        ));
    }
    let mut calls: Vec<String> = recording
        .mutating_calls()
        .into_iter()
        .map(|call| {
            let mut call = call
                .replace(stack.node.as_str(), "<node>")
                .replace(stack.db.as_str(), "<db>")
                .replace(&targets.template, "<template>");
            for (role, id) in targets.nodes() {
                call = call.replace(id, &format!("<{role}>"));
            }
            for (volume, role) in &volumes {
                call = call.replace(volume, role);
            }
            call
        })
        .collect();
    calls.sort();
    Run {
        calls,
        refreshes: start.num_calls(),
        end: end_state(moto, &stack, &targets, &incidents(&events)).await,
    }
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

    let calls = &once.calls;
    for expected in [
        "RevokeSecurityGroupIngress",
        "PutParameter",
        "ModifyInstanceAttribute <cpu>",
        "ModifyInstanceAttribute <memory>",
        "StopInstances <status>",
        "ModifyVolume <disk-volume>",
        "SendCommand <disk>",
        "UpdateAutoScalingGroup demo-nodes",
    ] {
        assert!(
            calls.iter().any(|c| c.starts_with(expected)),
            "the samples must make {expected}: {calls:?}"
        );
    }
    assert_eq!(once.refreshes, 1, "one instance refresh of the group");
    let record = |role: &str| {
        once.end
            .nodes
            .iter()
            .find(|n| n.0 == role)
            .and_then(|n| n.3.clone())
            .unwrap_or_default()
    };
    assert_eq!(
        once.end
            .nodes
            .iter()
            .map(|(role, state, instance_type, _)| (
                role.as_str(),
                state.as_str(),
                instance_type.as_str()
            ))
            .collect::<Vec<_>>(),
        [
            ("cpu", "running", "m6i.xlarge"),
            ("memory", "running", "m6i.xlarge"),
            ("disk", "running", "m6i.large"),
            ("status", "running", "m6i.large"),
        ]
    );
    for (role, remediation) in [
        ("cpu", "resize "),
        ("memory", "resize "),
        ("disk", "grow_disk "),
        ("status", "replace "),
    ] {
        assert!(
            record(role).starts_with(remediation),
            "{role}: {:?}",
            once.end
        );
    }
    let sizes: Vec<i32> = once.end.volumes.iter().map(|v| v.1).collect();
    let before = sizes[0];
    assert_eq!(
        sizes,
        [before, before, before + (before + 1) / 2, before],
        "only the disk alarm's node grew, by one step"
    );
    assert_eq!(
        once.end.group,
        ("$Latest".to_string(), Some("m6i.xlarge".to_string())),
        "the group launches the next type on the version it used"
    );
    assert!(
        !once
            .end
            .node_rules
            .iter()
            .any(|r| r.contains("6688 from 0.0.0.0/0"))
            && !once.end.db_rules.iter().any(|r| r.contains("::/0")),
        "the world exposures are revoked: {:?}",
        once.end
    );
    assert!(once
        .end
        .node_rules
        .iter()
        .any(|r| r == "tcp 6688 from 10.20.0.0/16"));
    assert_ne!(
        once.end.database_url, DEV_DB,
        "the database URL is restored"
    );

    assert_eq!(
        many.calls, once.calls,
        "{DELIVERIES} shuffled deliveries made other changes than one delivery of each event"
    );
    assert_eq!(many.refreshes, once.refreshes, "instance refreshes");
    assert_eq!(
        many.end, once.end,
        "{DELIVERIES} shuffled deliveries left AWS in another state than one delivery of each"
    );
}
