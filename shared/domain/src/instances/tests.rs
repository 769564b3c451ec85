use super::plan::{is_safe_path, MOUNT_PATH_MAX_CHARS, MOUNT_PATH_PATTERN};
use super::*;
use crate::ids::{AutoScalingGroupName, LaunchTemplateId, VolumeId};
use crate::signal::{AlarmMetric, AlarmNotice};
use crate::stack::{Remediation, StackFile};
use chrono::TimeZone;

const STACK: &str = r#"
[stack]
name = "demo"
mode = "enforce"
vpcs = ["vpc-0a1b2c3d4e5f60718"]
[environment]
name = "production"
[roles]
node = { ladder = ["m6i.large", "m6i.xlarge", "m6i.2xlarge"], groups = ["sg-0a0000000000000a1"] }
db = { groups = ["sg-0a0000000000000b2"] }
[[flows]]
name = "node-db"
from = "node"
to = "db"
ports = 5432
[instances]
cooldown_minutes = 60
max_resizes_per_hour = 2
disk_step_percent = 50
disk_max_gib = 1000
[[alarms]]
metric = "AWS/EC2 CPUUtilization"
remediation = "resize"
[[alarms]]
metric = "CWAgent disk_used_percent"
remediation = "grow_disk"
[[alarms]]
metric = "AWS/EC2 StatusCheckFailed*"
remediation = "replace"
"#;

fn file() -> StackFile {
    StackFile::parse(STACK, "test.toml").unwrap()
}

fn now() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc
        .with_ymd_and_hms(2026, 11, 24, 12, 0, 0)
        .unwrap()
}

fn notice(namespace: &str, metric: &str, dimensions: &[(&str, &str)]) -> AlarmNotice {
    AlarmNotice {
        name: "demo-node-alarm".into(),
        arn: None,
        changed_at: "2026-11-24T11:59:00.000+0000".into(),
        metrics: vec![AlarmMetric {
            namespace: namespace.into(),
            name: metric.into(),
            dimensions: dimensions
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }],
    }
}

fn cpu() -> AlarmNotice {
    notice(
        "AWS/EC2",
        "CPUUtilization",
        &[("InstanceId", "i-0123456789abcdef0")],
    )
}

fn instance(instance_type: &str) -> InstanceState {
    InstanceState {
        id: crate::ids::InstanceId::new("i-0123456789abcdef0"),
        stack: Some(crate::ids::StackName::new("demo")),
        role: crate::ids::RoleName::parse("node"),
        state: "running".into(),
        instance_type: instance_type.into(),
        availability_zone: "us-east-1a".into(),
        auto_scaling_group: None,
        root_device: Some("/dev/xvda".into()),
        volumes: vec![AttachedVolume {
            device: "/dev/xvda".into(),
            volume_id: VolumeId::new("vol-1"),
        }],
        last_remediation: None,
    }
}

/// What AWS says about a step from `from` to `to`: offered, and as the catalog describes them.
fn type_check(from: &str, to: &str) -> TypeCheck {
    let parse = |raw| crate::instance_type::InstanceType::parse(raw).unwrap();
    TypeCheck {
        instance_type: parse(to),
        offered: true,
        architectures: vec!["x86_64".into()],
        current_architectures: vec!["x86_64".into()],
        capacity: parse(to).capacity(),
        current_capacity: parse(from).capacity(),
    }
}

fn observation(target: Target, next: Option<TypeCheck>) -> Observation {
    Observation {
        target,
        volume: None,
        next_type: next,
        history: Vec::new(),
    }
}

fn standalone(instance_type: &str, next: Option<&str>) -> Observation {
    observation(
        Target::Instance {
            instance: instance(instance_type),
            group: None,
        },
        next.map(|next| type_check(instance_type, next)),
    )
}

fn plan(notice: &AlarmNotice, remediation: Remediation, observation: &Observation) -> InstancePlan {
    let file = file();
    plan_remediation(RemediationInputs {
        policy: file.instances.as_ref().unwrap(),
        roles: &file.roles,
        notice,
        remediation,
        observation,
        now: now(),
    })
}

fn record(remediation: Remediation, minutes_ago: i64, incident: &str) -> RemediationRecord {
    RemediationRecord {
        remediation,
        at: now() - chrono::Duration::minutes(minutes_ago),
        incident: incident.into(),
        outcome: RecordOutcome::Started,
        step: None,
        approval: None,
    }
}

#[test]
fn a_cpu_alarm_moves_a_standalone_node_one_step_up_after_recording_the_incident() {
    let planned = plan(
        &cpu(),
        Remediation::Resize,
        &standalone("m6i.large", Some("m6i.xlarge")),
    );
    assert_eq!(planned.decision, Decision::Act);
    let incident = cpu().incident();
    assert_eq!(
        planned.actions,
        vec![
            InstanceAction::RecordRemediation {
                resource: Resource::Instance(crate::ids::InstanceId::new("i-0123456789abcdef0")),
                record: format!("resize at=2026-11-24T12:00:00Z incident={incident}"),
            },
            InstanceAction::ResizeInstance {
                instance: crate::ids::InstanceId::new("i-0123456789abcdef0"),
                from: "m6i.large".into(),
                to: crate::instance_type::InstanceType::parse("m6i.xlarge").unwrap(),
            },
        ]
    );
}

#[test]
fn the_top_of_the_ladder_is_refused_with_the_reason() {
    let planned = plan(
        &cpu(),
        Remediation::Resize,
        &standalone("m6i.2xlarge", None),
    );
    assert!(planned.actions.is_empty());
    match planned.decision {
        Decision::Refused(reason) => {
            assert!(reason.contains("top of role node's ladder"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_type_off_the_ladder_is_refused() {
    let planned = plan(&cpu(), Remediation::Resize, &standalone("c6i.large", None));
    assert!(
        matches!(planned.decision, Decision::Refused(r) if r.contains("not on role node's ladder"))
    );
}

#[test]
fn a_duplicate_delivery_of_the_same_incident_does_nothing() {
    let mut observed = standalone("m6i.xlarge", Some("m6i.2xlarge"));
    observed.history = vec![record(Remediation::Resize, 600, &cpu().incident())];
    let planned = plan(&cpu(), Remediation::Resize, &observed);
    assert!(planned.actions.is_empty());
    assert!(
        matches!(&planned.decision, Decision::NoAction(r) if r.contains("already handled")),
        "{:?}",
        planned.decision
    );
}

#[test]
fn a_second_alarm_within_the_cooldown_does_nothing_and_after_it_acts() {
    let mut observed = standalone("m6i.xlarge", Some("m6i.2xlarge"));
    if let Target::Instance { instance, .. } = &mut observed.target {
        instance.last_remediation = Some(record(Remediation::Resize, 30, "another"));
    }
    let planned = plan(&cpu(), Remediation::Resize, &observed);
    assert!(
        matches!(&planned.decision, Decision::NoAction(r) if r.contains("cooling down") && r.contains("2026-11-24T12:30:00")),
        "{:?}",
        planned.decision
    );
    if let Target::Instance { instance, .. } = &mut observed.target {
        instance.last_remediation = Some(record(Remediation::Resize, 61, "another"));
    }
    assert_eq!(
        plan(&cpu(), Remediation::Resize, &observed).decision,
        Decision::Act
    );
}

#[test]
fn the_resize_limit_counts_the_stacks_resizes_of_the_last_hour() {
    let mut observed = standalone("m6i.large", Some("m6i.xlarge"));
    observed.history = vec![
        record(Remediation::Resize, 10, "a"),
        record(Remediation::Resize, 50, "b"),
        record(Remediation::GrowDisk, 5, "c"),
    ];
    let planned = plan(&cpu(), Remediation::Resize, &observed);
    assert!(
        matches!(&planned.decision, Decision::Refused(r) if r.contains("max_resizes_per_hour")),
        "{:?}",
        planned.decision
    );
    observed.history[1] = record(Remediation::Resize, 61, "b");
    assert_eq!(
        plan(&cpu(), Remediation::Resize, &observed).decision,
        Decision::Act
    );
}

#[test]
fn a_type_not_offered_in_the_zone_or_of_another_architecture_is_refused() {
    let mut observed = standalone("m6i.large", Some("m6i.xlarge"));
    observed.next_type.as_mut().unwrap().offered = false;
    assert!(matches!(
        plan(&cpu(), Remediation::Resize, &observed).decision,
        Decision::Refused(r) if r.contains("not offered in us-east-1a")
    ));
    let mut observed = standalone("m6i.large", Some("m6i.xlarge"));
    observed.next_type.as_mut().unwrap().architectures = vec!["arm64".into()];
    assert!(matches!(
        plan(&cpu(), Remediation::Resize, &observed).decision,
        Decision::Refused(r) if r.contains("architecture")
    ));
    // AWS did not describe the type at all.
    let observed = standalone("m6i.large", None);
    assert!(matches!(
        plan(&cpu(), Remediation::Resize, &observed).decision,
        Decision::Refused(r) if r.contains("did not describe")
    ));
}

/// The ladder was sized offline, from a catalog that may not know a type: AWS has the last word.
#[test]
fn a_step_aws_does_not_size_as_bigger_is_refused() {
    let mut observed = standalone("m6i.large", Some("m6i.xlarge"));
    let check = observed.next_type.as_mut().unwrap();
    check.capacity = check.current_capacity;
    let decision = plan(&cpu(), Remediation::Resize, &observed).decision;
    assert!(
        matches!(&decision, Decision::Refused(r) if r.contains("AWS describes m6i.xlarge (2 vCPUs, 8 GiB) as no bigger than m6i.large (2 vCPUs, 8 GiB)")),
        "{decision:?}"
    );
    let mut observed = standalone("m6i.large", Some("m6i.xlarge"));
    observed.next_type.as_mut().unwrap().capacity = None;
    assert!(matches!(
        plan(&cpu(), Remediation::Resize, &observed).decision,
        Decision::Refused(r) if r.contains("AWS did not say how big")
    ));
}

#[test]
fn a_stopped_instance_is_left_to_whoever_stopped_it() {
    let mut observed = standalone("m6i.large", Some("m6i.xlarge"));
    if let Target::Instance { instance, .. } = &mut observed.target {
        instance.state = "stopped".into();
    }
    assert!(matches!(
        plan(&cpu(), Remediation::Resize, &observed).decision,
        Decision::NoAction(r) if r.contains("stopped")
    ));
}

fn group(instance_type: &str) -> GroupState {
    GroupState {
        name: AutoScalingGroupName::new("demo-nodes"),
        stack: Some(crate::ids::StackName::new("demo")),
        role: crate::ids::RoleName::parse("node"),
        launch_template: Some(LaunchTemplateRef {
            id: LaunchTemplateId::new("lt-1"),
            stack: Some(crate::ids::StackName::new("demo")),
            version: 3,
            requested_version: "$Latest".into(),
            instance_type: Some(instance_type.into()),
        }),
        type_overrides: Vec::new(),
        availability_zones: vec!["us-east-1a".into(), "us-east-1b".into()],
        instances: vec![(
            crate::ids::InstanceId::new("i-0123456789abcdef0"),
            "InService".into(),
        )],
        refresh_in_progress: false,
        last_remediation: None,
    }
}

#[test]
fn a_member_of_a_group_is_resized_through_its_launch_template() {
    let observed = observation(
        Target::Instance {
            instance: instance("m6i.large"),
            group: Some(group("m6i.large")),
        },
        Some(type_check("m6i.large", "m6i.xlarge")),
    );
    let planned = plan(&cpu(), Remediation::Resize, &observed);
    assert_eq!(planned.decision, Decision::Act);
    assert!(matches!(
        &planned.actions[0],
        InstanceAction::RecordRemediation { resource: Resource::Group(g), .. } if g == "demo-nodes"
    ));
    assert_eq!(
        planned.actions[1],
        InstanceAction::ResizeGroup {
            group: AutoScalingGroupName::new("demo-nodes"),
            launch_template: LaunchTemplateId::new("lt-1"),
            version: "$Latest".into(),
            from: "m6i.large".into(),
            to: crate::instance_type::InstanceType::parse("m6i.xlarge").unwrap(),
            min_healthy_percentage: 90,
        }
    );
}

#[test]
fn a_group_resized_before_steps_up_from_its_override_and_a_mixed_fleet_is_left_alone() {
    let mut resized = group("m6i.large");
    resized.type_overrides = vec!["m6i.xlarge".into()];
    let observed = observation(
        Target::Group { group: resized },
        Some(type_check("m6i.xlarge", "m6i.2xlarge")),
    );
    let planned = plan(&cpu(), Remediation::Resize, &observed);
    assert!(
        matches!(
            &planned.actions[1],
            InstanceAction::ResizeGroup { from, to, .. }
                if from == "m6i.xlarge" && to.as_str() == "m6i.2xlarge"
        ),
        "{planned:?}"
    );
    let mut mixed = group("m6i.large");
    mixed.type_overrides = vec!["m6i.large".into(), "m7i.large".into()];
    let observed = observation(
        Target::Group { group: mixed },
        Some(type_check("m6i.large", "m6i.xlarge")),
    );
    assert!(matches!(
        plan(&cpu(), Remediation::Resize, &observed).decision,
        Decision::Refused(r) if r.contains("several instance types (m6i.large, m7i.large)")
    ));
}

#[test]
fn a_group_with_a_refresh_in_progress_or_without_a_template_is_left_alone() {
    let mut busy = group("m6i.large");
    busy.refresh_in_progress = true;
    let observed = observation(
        Target::Group { group: busy },
        Some(type_check("m6i.large", "m6i.xlarge")),
    );
    assert!(matches!(
        plan(&cpu(), Remediation::Resize, &observed).decision,
        Decision::NoAction(r) if r.contains("already in progress")
    ));
    let mut legacy = group("m6i.large");
    legacy.launch_template = None;
    let observed = observation(Target::Group { group: legacy }, None);
    // Refused, and the reason says why a person must act and where AWS explains how.
    let decision = plan(&cpu(), Remediation::Resize, &observed).decision;
    assert!(
        matches!(&decision, Decision::Refused(r)
            if r.contains("launch configuration")
                && r.contains("Launch configurations are deprecated")
                && r.contains("Migrate your Auto Scaling groups to launch templates")
                && r.contains(super::plan::LAUNCH_TEMPLATE_MIGRATION)),
        "{decision:?}"
    );
}

fn disk(path: &str) -> AlarmNotice {
    notice(
        "CWAgent",
        "disk_used_percent",
        &[("InstanceId", "i-0123456789abcdef0"), ("path", path)],
    )
}

fn with_volume(size_gib: u32) -> Observation {
    let mut observed = standalone("m6i.large", None);
    observed.volume = Some(VolumeState {
        id: VolumeId::new("vol-1"),
        stack: Some(crate::ids::StackName::new("demo")),
        size_gib,
        modification_in_progress: false,
    });
    observed
}

#[test]
fn a_disk_alarm_grows_the_volume_by_the_step_then_extends_the_filesystem() {
    let planned = plan(&disk("/"), Remediation::GrowDisk, &with_volume(100));
    assert_eq!(planned.decision, Decision::Act);
    assert_eq!(
        planned.actions[1..],
        [
            InstanceAction::GrowVolume {
                instance: crate::ids::InstanceId::new("i-0123456789abcdef0"),
                volume: VolumeId::new("vol-1"),
                from_gib: 100,
                to_gib: 150,
            },
            InstanceAction::ExtendFilesystem {
                instance: crate::ids::InstanceId::new("i-0123456789abcdef0"),
                path: "/".into(),
            },
        ]
    );
}

#[test]
fn disk_growth_stops_at_the_cap() {
    let planned = plan(&disk("/"), Remediation::GrowDisk, &with_volume(800));
    assert!(matches!(
        &planned.actions[1],
        InstanceAction::GrowVolume { to_gib: 1000, .. }
    ));
    let planned = plan(&disk("/"), Remediation::GrowDisk, &with_volume(1000));
    assert!(matches!(
        planned.decision,
        Decision::Refused(r) if r.contains("the cap")
    ));
}

#[test]
fn a_path_that_could_break_the_shell_command_is_refused() {
    for path in ["/data'; rm -rf /", "/data/../etc", "data", "/a b"] {
        assert!(!is_safe_path(path), "{path}");
        let planned = plan(&disk(path), Remediation::GrowDisk, &with_volume(100));
        assert!(
            matches!(&planned.decision, Decision::Refused(_)),
            "{path}: {:?}",
            planned.decision
        );
    }
    assert!(is_safe_path("/var/lib/postgresql-data_1"));
}

/// The SSM document refuses exactly what the planner refuses: its `allowedPattern` (with
/// `maxChars`) is `MOUNT_PATH_PATTERN`, which must be the same rule as `is_safe_path`.
fn pattern_accepts(path: &str) -> bool {
    let pattern = regex::Regex::new(MOUNT_PATH_PATTERN).unwrap_or_else(|e| panic!("{e}"));
    pattern.is_match(path) && path.len() <= MOUNT_PATH_MAX_CHARS
}

#[test]
fn the_documents_mount_path_pattern_is_the_planners_rule() {
    let long_ok = format!("/{}", "a".repeat(MOUNT_PATH_MAX_CHARS - 1));
    let too_long = format!("/{}", "a".repeat(MOUNT_PATH_MAX_CHARS));
    let cases = [
        "/",
        "/data",
        "/var/lib/postgresql-data_1",
        "/a.b/c.d",
        "/.",
        "/a.",
        "/.hidden",
        "/a/./b",
        "//",
        "",
        "data",
        "/a b",
        "/data'; rm -rf /",
        "/data/../etc",
        "/..",
        "/a..",
        "/$(reboot)",
        "/a\nb",
        "/\u{e9}",
        "/a;b",
        "/a`b`",
        ".",
        "./a",
        &long_ok,
        &too_long,
    ];
    for path in cases {
        assert_eq!(pattern_accepts(path), is_safe_path(path), "{path:?}");
    }
    assert!(is_safe_path(&long_ok) && !is_safe_path(&too_long));
}

proptest::proptest! {
    #[test]
    fn the_mount_path_pattern_agrees_with_the_planner_on_any_path(
        path in "/?[a-z./_ '$;-]{0,12}\\.?"
    ) {
        proptest::prop_assert_eq!(pattern_accepts(&path), is_safe_path(&path), "{:?}", path);
    }
}

#[test]
fn a_volume_being_modified_is_left_alone() {
    let mut observed = with_volume(100);
    observed.volume.as_mut().unwrap().modification_in_progress = true;
    assert!(matches!(
        plan(&disk("/"), Remediation::GrowDisk, &observed).decision,
        Decision::NoAction(r) if r.contains("one modification at a time")
    ));
}

fn status_check() -> AlarmNotice {
    notice(
        "AWS/EC2",
        "StatusCheckFailed_System",
        &[("InstanceId", "i-0123456789abcdef0")],
    )
}

#[test]
fn a_failing_standalone_instance_is_stopped_and_started() {
    let planned = plan(
        &status_check(),
        Remediation::Replace,
        &standalone("m6i.large", None),
    );
    assert!(matches!(
        planned.actions[1],
        InstanceAction::RestartInstance { .. }
    ));
}

#[test]
fn a_failing_group_member_is_marked_unhealthy_once() {
    let mut observed = observation(
        Target::Instance {
            instance: instance("m6i.large"),
            group: Some(group("m6i.large")),
        },
        None,
    );
    let planned = plan(&status_check(), Remediation::Replace, &observed);
    assert!(matches!(
        &planned.actions[1],
        InstanceAction::MarkUnhealthy { group, .. } if group == "demo-nodes"
    ));
    if let Target::Instance {
        group: Some(group), ..
    } = &mut observed.target
    {
        group.instances[0].1 = "Terminating".into();
    }
    assert!(matches!(
        plan(&status_check(), Remediation::Replace, &observed).decision,
        Decision::NoAction(r) if r.contains("Terminating")
    ));
}

#[test]
fn the_incident_key_is_the_same_for_every_delivery_of_one_transition() {
    let a = cpu();
    let mut b = cpu();
    b.arn = Some("arn:aws:cloudwatch:us-east-1:1:alarm:demo-node-alarm".into());
    assert_eq!(a.incident(), b.incident());
    b.changed_at = "2026-11-24T12:30:00.000+0000".into();
    assert_ne!(a.incident(), b.incident());
    assert_eq!(a.incident().len(), 16);
}

#[test]
fn remediation_records_round_trip_through_their_tag_value() {
    let record = record(Remediation::GrowDisk, 0, "0123456789abcdef");
    let value = record.tag_value();
    assert_eq!(
        value,
        "grow_disk at=2026-11-24T12:00:00Z incident=0123456789abcdef"
    );
    assert_eq!(RemediationRecord::parse(&value), Some(record));
    assert_eq!(RemediationRecord::parse("set by hand"), None);
    assert_eq!(
        RemediationRecord::parse("resize at=yesterday incident=x"),
        None
    );
}

#[test]
fn the_disk_alarm_finds_the_volume_behind_its_filesystem() {
    let mut node = instance("m6i.large");
    node.volumes.push(AttachedVolume {
        device: "/dev/sdf".into(),
        volume_id: VolumeId::new("vol-data"),
    });
    let on = |path: &str, device: Option<&str>| {
        let mut dimensions = vec![("InstanceId", "i-0123456789abcdef0"), ("path", path)];
        if let Some(device) = device {
            dimensions.push(("device", device));
        }
        super::target::volume_for(&node, &notice("CWAgent", "disk_used_percent", &dimensions))
    };
    assert_eq!(
        on("/", Some("nvme0n1p1")).as_ref().map(VolumeId::as_str),
        Some("vol-1")
    );
    assert_eq!(
        on("/data", Some("xvdf")).as_ref().map(VolumeId::as_str),
        Some("vol-data")
    );
    assert_eq!(
        on("/data", Some("nvme1n1")).as_ref().map(VolumeId::as_str),
        Some("vol-data")
    );
}

fn closed(outcome: RecordOutcome, minutes_ago: i64, incident: &str) -> RemediationRecord {
    RemediationRecord {
        outcome,
        step: Some("resize_group".into()),
        ..record(Remediation::Resize, minutes_ago, incident)
    }
}

#[test]
fn closed_records_round_trip_and_the_apply_layers_suffix_parses() {
    for outcome in [RecordOutcome::RolledBack, RecordOutcome::Failed] {
        let record = closed(outcome, 0, "0123456789abcdef");
        let value = record.tag_value();
        assert!(
            value.ends_with(&format!(
                "{} step=resize_group",
                outcome.tag_word().unwrap()
            )),
            "{value}"
        );
        assert_eq!(RemediationRecord::parse(&value), Some(record));
    }
    // apply_instance_actions closes a record by appending the word and the failed step to the
    // value it wrote.
    let started = record(Remediation::Resize, 0, "0123456789abcdef").tag_value();
    let parsed = RemediationRecord::parse(&format!(
        "{started} outcome=rolled-back step=resize_instance"
    ));
    assert_eq!(
        parsed.as_ref().map(|r| r.outcome),
        Some(RecordOutcome::RolledBack)
    );
    assert_eq!(
        parsed.and_then(|r| r.step).as_deref(),
        Some("resize_instance")
    );
    // A record closed before steps were recorded still parses.
    assert_eq!(
        RemediationRecord::parse(&format!("{started} outcome=failed")).map(|r| r.step),
        Some(None)
    );
}

#[test]
fn a_rolled_back_remediation_neither_handles_the_incident_nor_starts_a_cooldown() {
    let mut observed = standalone("m6i.large", Some("m6i.xlarge"));
    let earlier = closed(RecordOutcome::RolledBack, 1, &cpu().incident());
    observed.history = vec![earlier.clone()];
    if let Target::Instance { instance, .. } = &mut observed.target {
        instance.last_remediation = Some(earlier);
    }
    let planned = plan(&cpu(), Remediation::Resize, &observed);
    assert_eq!(planned.decision, Decision::Act, "the retry acts again");
    assert!(matches!(
        planned.actions[1],
        InstanceAction::ResizeInstance { .. }
    ));
}

#[test]
fn a_failed_remediation_still_handles_the_incident() {
    let mut observed = standalone("m6i.xlarge", Some("m6i.2xlarge"));
    observed.history = vec![closed(RecordOutcome::Failed, 1, &cpu().incident())];
    let planned = plan(&cpu(), Remediation::Resize, &observed);
    let at = (now() - chrono::Duration::minutes(1)).to_rfc3339_opts(SecondsFormat::Secs, true);
    assert!(
        matches!(&planned.decision, Decision::NoAction(r)
            if r.contains(&format!("handled before: failed at resize_group, see the report of {at}"))),
        "acting again could act twice, and the replay says the attempt failed: {:?}",
        planned.decision
    );
}

#[test]
fn rolled_back_resizes_count_toward_the_hourly_limit() {
    let mut observed = standalone("m6i.large", Some("m6i.xlarge"));
    observed.history = vec![
        closed(RecordOutcome::RolledBack, 5, "a"),
        closed(RecordOutcome::RolledBack, 10, "b"),
    ];
    let planned = plan(&cpu(), Remediation::Resize, &observed);
    assert!(
        matches!(&planned.decision, Decision::Refused(r) if r.contains("max_resizes_per_hour")),
        "{:?}",
        planned.decision
    );
}

#[test]
fn a_node_our_failed_remediation_left_stopped_is_started_by_the_next_delivery() {
    let mut observed = standalone("m6i.large", Some("m6i.xlarge"));
    // Failed: AWS refused every start. Started: the invocation died before closing the record.
    for outcome in [RecordOutcome::Failed, RecordOutcome::Started] {
        let left = closed(outcome, 2, &cpu().incident());
        observed.history = vec![left.clone()];
        if let Target::Instance { instance, .. } = &mut observed.target {
            instance.state = "stopped".into();
            instance.last_remediation = Some(left);
        }
        let planned = plan(&cpu(), Remediation::Resize, &observed);
        assert_eq!(planned.decision, Decision::Act, "{outcome:?}");
        assert_eq!(
            planned.actions,
            [InstanceAction::StartInstance {
                instance: crate::ids::InstanceId::new("i-0123456789abcdef0")
            }]
        );
    }

    // After the cooldown, or after a remediation that was rolled back, a stopped node is
    // someone's decision.
    for record in [
        closed(RecordOutcome::Failed, 61, "other"),
        closed(RecordOutcome::RolledBack, 2, "other"),
    ] {
        observed.history = vec![record.clone()];
        if let Target::Instance { instance, .. } = &mut observed.target {
            instance.last_remediation = Some(record);
        }
        let planned = plan(&cpu(), Remediation::Resize, &observed);
        assert!(
            matches!(&planned.decision, Decision::NoAction(r) if r.contains("not running")),
            "{:?}",
            planned.decision
        );
    }
}

/// A resource the remediation would write that is not tagged into the target's stack is never
/// changed on its behalf: the CLI may run with credentials IAM does not narrow.
#[test]
fn a_group_template_or_volume_outside_the_stack_is_refused_naming_it() {
    let other = || Some(crate::ids::StackName::new("other"));
    let member = |group: GroupState| {
        observation(
            Target::Instance {
                instance: instance("m6i.large"),
                group: Some(group),
            },
            Some(type_check("m6i.large", "m6i.xlarge")),
        )
    };
    let refused = |planned: InstancePlan, words: &str| {
        assert!(planned.actions.is_empty(), "{:?}", planned.actions);
        assert!(
            matches!(&planned.decision, Decision::Refused(r) if r.contains(words)),
            "{:?}",
            planned.decision
        );
    };
    let mut untagged = group("m6i.large");
    untagged.stack = None;
    let untagged_group = "group demo-nodes carries no chainlink:stack tag";
    refused(
        plan(&cpu(), Remediation::Resize, &member(untagged.clone())),
        untagged_group,
    );
    let status = notice(
        "AWS/EC2",
        "StatusCheckFailed",
        &[("InstanceId", "i-0123456789abcdef0")],
    );
    refused(
        plan(&status, Remediation::Replace, &member(untagged)),
        untagged_group,
    );
    let mut foreign_template = group("m6i.large");
    if let Some(t) = foreign_template.launch_template.as_mut() {
        t.stack = other();
    }
    let foreign = "launch template lt-1 of group demo-nodes carries chainlink:stack = other";
    refused(
        plan(
            &cpu(),
            Remediation::Resize,
            &member(foreign_template.clone()),
        ),
        foreign,
    );
    let whole_group = observation(
        Target::Group {
            group: foreign_template,
        },
        Some(type_check("m6i.large", "m6i.xlarge")),
    );
    refused(plan(&cpu(), Remediation::Resize, &whole_group), foreign);
    let mut foreign_volume = with_volume(100);
    if let Some(v) = foreign_volume.volume.as_mut() {
        v.stack = None;
    }
    refused(
        plan(&disk("/"), Remediation::GrowDisk, &foreign_volume),
        "volume vol-1 carries no chainlink:stack tag",
    );
}
