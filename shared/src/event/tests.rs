use super::*;
use std::path::PathBuf;

fn samples_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../samples/events")
}

fn sample(name: &str) -> Signal {
    let raw = std::fs::read(samples_dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    parse_event(&raw).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn changed(group: &str) -> SignalKind {
    SignalKind::SecurityGroupsChanged {
        groups: vec![SecurityGroupId::new(group)],
    }
}

fn parameter(name: &str, operation: &str) -> SignalKind {
    SignalKind::ParameterChanged {
        name: name.into(),
        operation: operation.into(),
    }
}

#[test]
fn every_sample_event_parses_to_the_signal_it_stands_for() {
    let expected = [
        (
            "cloudtrail-authorize-ingress.json",
            changed("sg-0a1b2c3d4e5f60718"),
        ),
        (
            "cloudtrail-revoke-ingress.json",
            changed("sg-0a1b2c3d4e5f60718"),
        ),
        (
            "cloudtrail-authorize-egress.json",
            changed("sg-0a1b2c3d4e5f60718"),
        ),
        (
            "cloudtrail-revoke-egress.json",
            changed("sg-0a1b2c3d4e5f60718"),
        ),
        (
            "cloudtrail-modify-rules.json",
            changed("sg-0a1b2c3d4e5f60718"),
        ),
        (
            "cloudtrail-create-group.json",
            changed("sg-0b2c3d4e5f6071829"),
        ),
        (
            "config-security-group-change.json",
            changed("sg-0a1b2c3d4e5f60718"),
        ),
        ("schedule.json", SignalKind::Sweep),
        (
            "ssm-parameter-update.json",
            parameter("/chainlink/demo/DATABASE_URL", "Update"),
        ),
        (
            "ssm-parameter-create.json",
            parameter("/chainlink/demo/ETH_URL", "Create"),
        ),
        (
            "ssm-parameter-delete.json",
            parameter("/chainlink/demo/DATABASE_URL", "Delete"),
        ),
        (
            "ssm-parameter-label.json",
            parameter("/chainlink/demo/DATABASE_URL", "LabelParameterVersion"),
        ),
    ];
    for (name, kind) in &expected {
        assert_eq!(&sample(name).kind, kind, "{name}");
    }
    let mut all: Vec<String> = std::fs::read_dir(samples_dir())
        .unwrap_or_else(|e| panic!("{e}"))
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| name.ends_with(".json"))
        .collect();
    all.sort();
    for name in &all {
        let _ = sample(name); // every sample parses, including those checked below
    }
    assert!(all.len() > expected.len(), "samples: {all:?}");
}

#[test]
fn a_call_that_failed_changed_nothing() {
    let signal = sample("cloudtrail-failed-call.json");
    let SignalKind::Ignored { reason } = signal.kind else {
        panic!("expected a no-op, got {:?}", signal.kind)
    };
    assert!(reason.contains("Client.UnauthorizedOperation"), "{reason}");
    assert_eq!(signal.origin, "cloudtrail:AuthorizeSecurityGroupIngress");
}

#[test]
fn malformed_and_unsupported_events_are_named() {
    let cases: [(&[u8], &str); 5] = [
        (b"{not json", "malformed event: not valid JSON"),
        (b"[]", "malformed event: not an EventBridge event"),
        (br#"{"detail-type":"Scheduled Event"}"#, "malformed event: not an EventBridge event"),
        (
            br#"{"source":"aws.ec2","detail-type":"AWS API Call via CloudTrail","detail":{"eventName":7}}"#,
            "malformed event: unexpected detail",
        ),
        (
            br#"{"source":"aws.s3","detail-type":"Object Created","detail":{}}"#,
            "unsupported event: source \"aws.s3\"",
        ),
    ];
    for (raw, expected) in cases {
        let error = parse_event(raw).expect_err("must be rejected").to_string();
        assert!(error.starts_with(expected), "{error}");
    }
}

#[test]
fn hints_that_name_no_group_or_another_resource_do_not_act_blindly() {
    let by_name = br#"{"source":"aws.ec2","detail-type":"AWS API Call via CloudTrail","detail":
        {"eventName":"AuthorizeSecurityGroupIngress","requestParameters":{"groupName":"default"}}}"#;
    assert_eq!(parse_event(by_name).map(|s| s.kind), Ok(SignalKind::Sweep));

    let injected = br#"{"source":"aws.ec2","detail-type":"AWS API Call via CloudTrail","detail":
        {"eventName":"RevokeSecurityGroupIngress","requestParameters":{"groupId":"sg-1,sg-2*"}}}"#;
    assert!(matches!(
        parse_event(injected).map(|s| s.kind),
        Ok(SignalKind::Ignored { .. })
    ));

    let other_call = br#"{"source":"aws.ec2","detail-type":"AWS API Call via CloudTrail","detail":
        {"eventName":"RunInstances","requestParameters":null}}"#;
    assert!(matches!(
        parse_event(other_call).map(|s| s.kind),
        Ok(SignalKind::Ignored { .. })
    ));

    let deleted = br#"{"source":"aws.config","detail-type":"Config Configuration Item Change","detail":
        {"configurationItem":{"resourceType":"AWS::EC2::SecurityGroup","resourceId":"sg-0abc","configurationItemStatus":"ResourceDeleted"}}}"#;
    assert!(matches!(
        parse_event(deleted).map(|s| s.kind),
        Ok(SignalKind::Ignored { .. })
    ));

    let instance =
        br#"{"source":"aws.config","detail-type":"Config Configuration Item Change","detail":
        {"configurationItem":{"resourceType":"AWS::EC2::Instance","resourceId":"i-0abc"}}}"#;
    assert!(matches!(
        parse_event(instance).map(|s| s.kind),
        Ok(SignalKind::Ignored { .. })
    ));
}
