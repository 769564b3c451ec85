//! What the fuzz targets share: the promises a parsed signal or stack file keeps, checked on
//! every input the parsers accept, and the envelopes that carry fuzz input to the inner parsers.

use serde_json::{json, Value};
use domain::ids::{RoleName, SecurityGroupId, StackName};
use domain::net::{Peer, Protocol, Rule};
use domain::security_groups::observed::{ObservedGroup, ObservedStack};
use domain::security_groups::plan_security_groups;
use domain::signal::{Signal, SignalKind};
use domain::stack::{ExceptionScope, FlowSource, RuleTarget, StackFile};
use std::cmp::Ordering;
use std::collections::BTreeSet;

/// A signal names only what the engine may safely act on.
pub fn check_signal(signal: &Signal) {
    let _ = signal.to_string();
    assert!(
        serde_json::to_string(signal).is_ok(),
        "a signal must serialize"
    );
    match &signal.kind {
        SignalKind::SecurityGroupsChanged { groups } => {
            assert!(!groups.is_empty(), "a change names at least one group");
            for group in groups {
                assert!(
                    SecurityGroupId::parse(group.as_str()).is_some(),
                    "{group:?} is not a well-formed group ID"
                );
            }
        }
        SignalKind::ParameterChanged { name, .. } => {
            assert!(name.starts_with('/'), "{name:?} is not a path");
            assert!(
                !name.contains(['*', '\0']),
                "{name:?} holds a wildcard or NUL"
            );
        }
        SignalKind::AlarmFired(notice) => {
            let incident = notice.incident();
            assert_eq!(incident.len(), 16);
            assert!(incident.bytes().all(|b| b.is_ascii_hexdigit()));
            assert_eq!(notice.metric_names().len(), notice.metrics.len());
        }
        SignalKind::Sweep | SignalKind::Ignored { .. } => {}
    }
}

/// The shapes an event arrives in; the fuzz input's first byte picks one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    Schedule,
    Scheduler,
    CloudTrail,
    ParameterStore,
    AlarmStateChange,
    Config,
    /// A well-formed event of a kind no function handles: always ignored, with the reason.
    OtherKind,
    /// An SNS delivery with one record whose message is the rest of the input.
    Sns,
    /// An SNS delivery with two records: always refused.
    SnsTwoRecords,
    /// A CloudWatch alarm's direct Lambda action.
    DirectAction,
}

pub const SHAPES: [Shape; 10] = [
    Shape::Schedule,
    Shape::Scheduler,
    Shape::CloudTrail,
    Shape::ParameterStore,
    Shape::AlarmStateChange,
    Shape::Config,
    Shape::OtherKind,
    Shape::Sns,
    Shape::SnsTwoRecords,
    Shape::DirectAction,
];

impl Shape {
    pub fn pick(byte: u8) -> Shape {
        SHAPES[usize::from(byte) % SHAPES.len()]
    }

    /// The selector byte that `pick` maps back to this shape.
    pub fn byte(self) -> u8 {
        SHAPES.iter().position(|s| *s == self).unwrap_or(0) as u8
    }

    /// What a successful parse of this shape says about where the signal came from.
    pub fn origin_prefix(self) -> Option<&'static str> {
        match self {
            Shape::Schedule | Shape::Scheduler => Some("schedule"),
            Shape::CloudTrail => Some("cloudtrail:"),
            Shape::ParameterStore => Some("ssm:"),
            Shape::AlarmStateChange => Some("alarm:eventbridge"),
            Shape::Config => Some("config:"),
            Shape::Sns => Some("alarm:sns"),
            Shape::DirectAction => Some("alarm:lambda-action"),
            Shape::OtherKind => Some("aws.ec2:EC2 Instance State-change Notification"),
            Shape::SnsTwoRecords => None,
        }
    }

    /// `inner` as this shape carries it: parsed as JSON where the shape holds an object (as a
    /// JSON string when it is not JSON), verbatim where the shape holds a string.
    pub fn wrap(self, inner: &[u8]) -> Value {
        let text = String::from_utf8_lossy(inner).into_owned();
        let value = serde_json::from_slice(inner).unwrap_or_else(|_| Value::String(text.clone()));
        let eventbridge = |source: &str, detail_type: &str| {
            json!({
                "version": "0",
                "id": "fuzz",
                "detail-type": detail_type,
                "source": source,
                "account": "123456789012",
                "time": "2026-11-24T10:30:00Z",
                "region": "us-east-1",
                "resources": ["arn:aws:cloudwatch:us-east-1:123456789012:alarm:fuzz"],
                "detail": value,
            })
        };
        let record = |message: &str| json!({"Sns": {"MessageId": "fuzz", "Message": message}});
        match self {
            Shape::Schedule => eventbridge("aws.events", "Scheduled Event"),
            Shape::Scheduler => eventbridge("aws.scheduler", "Scheduled Event"),
            Shape::CloudTrail => eventbridge("aws.ec2", "AWS API Call via CloudTrail"),
            Shape::ParameterStore => eventbridge("aws.ssm", "Parameter Store Change"),
            Shape::AlarmStateChange => {
                eventbridge("aws.cloudwatch", "CloudWatch Alarm State Change")
            }
            Shape::Config => eventbridge("aws.config", "Config Configuration Item Change"),
            Shape::OtherKind => eventbridge("aws.ec2", "EC2 Instance State-change Notification"),
            Shape::Sns => json!({"Records": [record(&text)]}),
            Shape::SnsTwoRecords => json!({"Records": [record(&text), record(&text)]}),
            Shape::DirectAction => json!({
                "source": "aws.cloudwatch",
                "alarmArn": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:fuzz",
                "accountId": "123456789012",
                "time": "2026-11-24T10:30:00.000+0000",
                "region": "us-east-1",
                "alarmData": value,
            }),
        }
    }
}

/// Promises of a valid stack file, as the planner relies on them.
pub fn check_stack_file(file: &StackFile) {
    for (role, spec) in &file.roles {
        assert!(RoleName::parse(role.as_str()).is_some(), "role {role:?}");
        assert!(spec.ladder.len() != 1, "{role}: a ladder of one type");
        // A type newer than the catalog is not sized offline: the law holds between the others.
        let sized: Vec<_> = spec.ladder.iter().filter(|t| t.spec().is_some()).collect();
        for pair in sized.windows(2) {
            assert_eq!(
                pair[0].compare_size(pair[1]),
                Some(Ordering::Less),
                "{role}: {} then {}",
                pair[0],
                pair[1]
            );
            assert_eq!(pair[0].shares_architecture(pair[1]), Some(true));
        }
        for pair in spec.ladder.windows(2) {
            assert_eq!(spec.next_type(&pair[0]), Some(&pair[1]));
        }
        if let Some(top) = spec.ladder.last() {
            assert_eq!(spec.next_type(top), None);
        }
    }
    let mut names = BTreeSet::new();
    for flow in &file.flows {
        assert!(
            names.insert(flow.name.as_str()),
            "flow {:?} twice",
            flow.name
        );
        assert!(!flow.name.trim().is_empty());
        assert!(file.roles.contains_key(&flow.to), "flow to {}", flow.to);
        assert!(matches!(flow.protocol, Protocol::Tcp | Protocol::Udp));
        assert!(flow.ports.from <= flow.ports.to);
        match &flow.from {
            FlowSource::Role(role) => assert!(file.roles.contains_key(role), "flow from {role}"),
            FlowSource::Cidr(net) => {
                assert_eq!(net.trunc(), *net, "host bits in {net}");
                if net.prefix_len() == 0 {
                    let forbidden = file.forbidden.iter().any(|f| {
                        f.protocol == flow.protocol
                            && f.applies_to(Some(&flow.to))
                            && f.ports.iter().any(|p| p.overlaps(flow.ports))
                    });
                    assert!(!forbidden, "flow {} opens a forbidden port", flow.name);
                }
            }
        }
    }
    for forbidden in &file.forbidden {
        assert!(!forbidden.ports.is_empty());
        for role in &forbidden.roles {
            assert!(file.roles.contains_key(role), "forbidden for {role}");
        }
    }
    for exception in &file.exceptions {
        assert!(!exception.reason.trim().is_empty());
        match &exception.scope {
            ExceptionScope::Group(id) => assert!(SecurityGroupId::parse(id.as_str()).is_some()),
            ExceptionScope::Rule { target, .. } => match target {
                RuleTarget::Role(role) => assert!(file.roles.contains_key(role)),
                RuleTarget::Group(id) => assert!(SecurityGroupId::parse(id.as_str()).is_some()),
            },
        }
    }
    assert!(file.limits.max_changes_per_run > 0);
    if let Some(parameters) = &file.parameters {
        assert!(parameters.prefix.starts_with('/') && parameters.prefix.ends_with('/'));
        let demo = StackName::new("demo");
        let prefix = parameters.prefix_for(&demo);
        if parameters.prefix.contains("{stack}") {
            let owner = parameters.stack_of(&format!("{prefix}DATABASE_URL"));
            assert_eq!(owner, Some(demo), "{prefix}");
        }
    }
    // Patterns come from the file: matching with them must not panic, and one matches itself.
    let selector = file.selector.tag_filter_value();
    assert!(
        file.selector.matches(&StackName::new(selector)),
        "{selector}"
    );
    for name in ["demo", "prod-1", "", "a*b"] {
        let _ = file.selector.matches(&StackName::new(name));
    }
    if let Some(instances) = &file.instances {
        let metrics = [("AWS/EC2".to_string(), "CPUUtilization".to_string())];
        let _ = instances.remediation_for("demo-node-cpu", &metrics);
        let disk = instances.disk;
        for current in [0, 1, 8, 100, 999, 65_536, u32::MAX] {
            if let Some(next) = disk.next_size(current) {
                assert!(
                    next > current && next <= disk.max_gib,
                    "{current} -> {next}"
                );
            }
        }
    }
}

/// A stack with one empty group per role, one role-less group, and every forbidden port of
/// every group open to the world: the worst drift the file can describe, for the planner.
pub fn drifted_stack(file: &StackFile) -> ObservedStack {
    let mut groups: Vec<ObservedGroup> = file
        .roles
        .keys()
        .map(Some)
        .chain([None])
        .enumerate()
        .map(|(i, role)| ObservedGroup {
            id: SecurityGroupId::new(format!("sg-{i:x}")),
            name: format!("group-{i}"),
            vpc: None,
            role: role.cloned(),
            ingress: Vec::new(),
            egress: Vec::new(),
        })
        .collect();
    for group in &mut groups {
        for forbidden in &file.forbidden {
            if !forbidden.applies_to(group.role.as_ref()) {
                continue;
            }
            for ports in &forbidden.ports {
                for world in ["0.0.0.0/0", "::/0"] {
                    if let Ok(net) = world.parse() {
                        group.ingress.push(Rule {
                            protocol: forbidden.protocol,
                            ports: Some(*ports),
                            peer: Peer::Cidr(net),
                        });
                    }
                }
            }
        }
        if let Ok(net) = "0.0.0.0/0".parse() {
            group.ingress.push(Rule {
                protocol: Protocol::All,
                ports: None,
                peer: Peer::Cidr(net),
            });
        }
    }
    test_support::stack("fuzz", groups)
}

/// The planner's law on a file the fuzzer found: applying a plan that was not refused leaves
/// nothing more to do.
pub fn check_planner_converges(file: &StackFile) {
    let drifted = drifted_stack(file);
    let plan = plan_security_groups(file, &drifted);
    let _ = domain::security_groups::check_flows(file, &drifted);
    for action in &plan.actions {
        let _ = action.to_string();
    }
    if plan.refusal.is_some() {
        return;
    }
    let after = drifted.with_actions(&plan.actions);
    let again = plan_security_groups(file, &after);
    assert!(
        again.actions.is_empty(),
        "no convergence: {:?}",
        again.actions
    );
}
