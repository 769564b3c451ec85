use super::*;
use std::path::PathBuf;

fn samples_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../samples/events")
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
        (
            "ssm-parameter-policy-expiration-notification.json",
            parameter(
                "/chainlink/demo/DATABASE_URL",
                "ExpirationNotification policy",
            ),
        ),
        (
            "ssm-parameter-policy-expiration.json",
            parameter("/chainlink/demo/DATABASE_URL", "Expiration policy"),
        ),
        (
            "config-security-group-oversized.json",
            changed("sg-0a1b2c3d4e5f60718"),
        ),
        // Calls that name no group in their request: the response's rule set names it.
        (
            "cloudtrail-revoke-ingress-by-rule-id.json",
            changed("sg-0a1b2c3d4e5f60718"),
        ),
        (
            "cloudtrail-authorize-ingress-by-name.json",
            changed("sg-0b2c3d4e5f6071829"),
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
fn malformed_events_are_named() {
    let cases: [(&[u8], &str); 4] = [
        (b"{not json", "malformed event: not valid JSON"),
        (b"[]", "malformed event: not an EventBridge event"),
        (br#"{"detail-type":"Scheduled Event"}"#, "malformed event: not an EventBridge event"),
        (
            br#"{"source":"aws.ec2","detail-type":"AWS API Call via CloudTrail","detail":{"eventName":7}}"#,
            "malformed event: unexpected detail",
        ),
    ];
    for (raw, expected) in cases {
        let error = parse_event(raw).expect_err("must be rejected").to_string();
        assert!(error.starts_with(expected), "{error}");
    }
}

/// Real events that are none of the functions' jobs: a no-op (exit 0) that says what the event
/// was, never "rejected" (exit 2, bad input).
#[test]
fn well_formed_events_of_other_kinds_are_ignored_with_a_reason() {
    let instance_state = br#"{"version":"0","id":"7bf73129-1428-4cd3-a780-95db273d1602",
        "detail-type":"EC2 Instance State-change Notification","source":"aws.ec2",
        "account":"123456789012","time":"2026-11-24T10:12:00Z","region":"us-east-1",
        "resources":["arn:aws:ec2:us-east-1:123456789012:instance/i-0123456789abcdef0"],
        "detail":{"instance-id":"i-0123456789abcdef0","state":"stopping"}}"#;
    let iam_call = br#"{"version":"0","id":"e1","detail-type":"AWS API Call via CloudTrail",
        "source":"aws.iam","account":"123456789012","time":"2026-11-24T10:12:00Z",
        "region":"us-east-1","resources":[],
        "detail":{"eventSource":"iam.amazonaws.com","eventName":"AttachRolePolicy"}}"#;
    let samples = [
        (
            "alarm-configuration-change.json",
            "\"CloudWatch Alarm Configuration Change\" events from aws.cloudwatch",
        ),
        (
            "ssm-run-command-invocation-status.json",
            "\"EC2 Command Invocation Status-change Notification\" events from aws.ssm",
        ),
        (
            "config-rules-compliance-change.json",
            "\"Config Rules Compliance Change\" events from aws.config",
        ),
        (
            "cloudtrail-s3-put-bucket-policy.json",
            "\"AWS API Call via CloudTrail\" events from aws.s3",
        ),
        (
            "alarm-sns-plain-message.json",
            "the SNS message is not a CloudWatch alarm notification",
        ),
    ];
    let mut signals: Vec<(String, Signal, &str)> = samples
        .iter()
        .map(|(name, reason)| (name.to_string(), sample(name), *reason))
        .collect();
    for (name, raw, reason) in [
        (
            "EC2 instance state change",
            &instance_state[..],
            "\"EC2 Instance State-change Notification\" events from aws.ec2",
        ),
        (
            "IAM call",
            &iam_call[..],
            "\"AWS API Call via CloudTrail\" events from aws.iam",
        ),
    ] {
        let signal = parse_event(raw).unwrap_or_else(|e| panic!("{name}: {e}"));
        signals.push((name.to_string(), signal, reason));
    }
    for (name, signal, expected) in signals {
        match &signal.kind {
            SignalKind::Ignored { reason } => {
                assert!(reason.contains(expected), "{name}: {reason}")
            }
            other => panic!("{name}: {other:?}"),
        }
    }
    let run_command = sample("ssm-run-command-invocation-status.json");
    assert_eq!(
        run_command.origin,
        "aws.ssm:EC2 Command Invocation Status-change Notification"
    );
    assert_eq!(run_command.id, "8e0a2c4e-6a8c-4e0a-9c2e-4a6c8e0a2c4e");
}

#[test]
fn a_parameter_policy_action_is_a_hint_to_revalidate_the_parameter() {
    let signal = sample("ssm-parameter-policy-expiration-notification.json");
    assert_eq!(signal.origin, "ssm-policy:ExpirationNotification");
    let not_a_path = br#"{"source":"aws.ssm","detail-type":"Parameter Store Policy Action",
        "detail":{"parameter-name":"DATABASE_URL","policy-type":"NoChangeNotification"}}"#;
    assert!(matches!(
        parse_event(not_a_path).map(|s| s.kind),
        Ok(SignalKind::Ignored { .. })
    ));
    let nameless = br#"{"source":"aws.ssm","detail-type":"Parameter Store Policy Action",
        "detail":{"policy-type":"Expiration"}}"#;
    assert!(matches!(
        parse_event(nameless),
        Err(EventError::Malformed(m)) if m.contains("parameter-name")
    ));
}

#[test]
fn every_group_a_response_names_is_checked() {
    let two_groups = br#"{"source":"aws.ec2","detail-type":"AWS API Call via CloudTrail","detail":
        {"eventName":"AuthorizeSecurityGroupIngress","requestParameters":{"groupName":"default"},
         "responseElements":{"_return":true,"securityGroupRuleSet":{"items":[
            {"groupId":"sg-0a1b2c3d4e5f60718","securityGroupRuleId":"sgr-1"},
            {"groupId":"sg-0b2c3d4e5f6071829","securityGroupRuleId":"sgr-2"},
            {"groupId":"sg-0a1b2c3d4e5f60718","securityGroupRuleId":"sgr-3"}]}}}}"#;
    assert_eq!(
        parse_event(two_groups).map(|s| s.kind),
        Ok(SignalKind::SecurityGroupsChanged {
            groups: vec![
                SecurityGroupId::new("sg-0a1b2c3d4e5f60718"),
                SecurityGroupId::new("sg-0b2c3d4e5f6071829"),
            ]
        })
    );
    let injected = br#"{"source":"aws.ec2","detail-type":"AWS API Call via CloudTrail","detail":
        {"eventName":"RevokeSecurityGroupEgress","requestParameters":{},
         "responseElements":{"revokedSecurityGroupRuleSet":{"items":[{"groupId":"sg-1*"}]}}}}"#;
    assert!(matches!(
        parse_event(injected).map(|s| s.kind),
        Ok(SignalKind::Ignored { reason }) if reason.contains("\"sg-1*\" is not a security group ID")
    ));
    let empty_set = br#"{"source":"aws.ec2","detail-type":"AWS API Call via CloudTrail","detail":
        {"eventName":"RevokeSecurityGroupIngress","requestParameters":{"groupName":"default"},
         "responseElements":{"_return":true,"revokedSecurityGroupRuleSet":{}}}}"#;
    assert_eq!(
        parse_event(empty_set).map(|s| s.kind),
        Ok(SignalKind::Sweep)
    );
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

fn fired(name: &str) -> crate::signal::AlarmNotice {
    match sample(name).kind {
        SignalKind::AlarmFired(notice) => notice,
        other => panic!("{name}: {other:?}"),
    }
}

#[test]
fn the_three_alarm_shapes_become_the_same_notice() {
    let eventbridge = fired("alarm-eventbridge-cpu.json");
    assert_eq!(eventbridge.name, "demo-node-cpu");
    assert_eq!(eventbridge.changed_at, "2026-11-24T10:15:00.000+0000");
    assert_eq!(
        eventbridge.metric_names(),
        [("AWS/EC2".to_string(), "CPUUtilization".to_string())]
    );
    assert_eq!(
        eventbridge.dimension("InstanceId"),
        Some("i-0123456789abcdef0")
    );
    assert_eq!(
        eventbridge.arn.as_deref(),
        Some("arn:aws:cloudwatch:us-east-1:123456789012:alarm:demo-node-cpu")
    );

    let direct = fired("alarm-lambda-action-memory.json");
    assert_eq!(direct.name, "demo-node-memory");
    assert_eq!(
        direct.metric_names(),
        [("CWAgent".to_string(), "mem_used_percent".to_string())]
    );
    assert_eq!(
        sample("alarm-lambda-action-memory.json").origin,
        "alarm:lambda-action"
    );

    let sns = fired("alarm-sns-disk.json");
    assert_eq!(sns.name, "demo-node-disk");
    assert_eq!(sns.dimension("path"), Some("/"));
    assert_eq!(sns.dimension("InstanceId"), Some("i-0123456789abcdef0"));
    assert_eq!(sns.changed_at, "2026-11-24T10:30:00.000+0000");
    assert_eq!(
        sample("alarm-sns-disk.json").id,
        "95df01b4-ee98-5cb9-9903-4c221d41eb5e"
    );

    let group = fired("alarm-eventbridge-group-cpu.json");
    assert_eq!(group.dimension("AutoScalingGroupName"), Some("demo-nodes"));
    assert_eq!(group.dimension("InstanceId"), None);
}

#[test]
fn one_transition_has_one_incident_key_whatever_the_delivery() {
    // The same transition, delivered as an EventBridge event and as an SNS message.
    let eventbridge = fired("alarm-eventbridge-cpu.json");
    let sns_message = serde_json::json!({
        "AlarmName": "demo-node-cpu",
        "NewStateValue": "ALARM",
        "OldStateValue": "OK",
        "StateChangeTime": "2026-11-24T10:15:00.000+0000",
        "Trigger": {"MetricName": "CPUUtilization", "Namespace": "AWS/EC2",
            "Dimensions": [{"name": "InstanceId", "value": "i-0123456789abcdef0"}]}
    });
    let sns = serde_json::json!({"Records": [{"EventSource": "aws:sns",
        "Sns": {"MessageId": "m-1", "Message": sns_message.to_string()}}]});
    let SignalKind::AlarmFired(from_sns) = parse_event_value(sns).unwrap().kind else {
        panic!("not an alarm");
    };
    assert_eq!(from_sns.incident(), eventbridge.incident());
    assert_eq!(from_sns.metric_names(), eventbridge.metric_names());
}

#[test]
fn only_a_transition_into_alarm_acts() {
    let ok = sample("alarm-eventbridge-ok.json");
    match ok.kind {
        SignalKind::Ignored { reason } => {
            assert!(
                reason.contains("went to OK: only a transition into ALARM"),
                "{reason}"
            )
        }
        other => panic!("{other:?}"),
    }
    let fixture = include_str!("../../../../samples/events/alarm-eventbridge-cpu.json");
    for (state, previous, expected) in [
        ("INSUFFICIENT_DATA", "OK", "went to INSUFFICIENT_DATA"),
        ("ALARM", "ALARM", "already in ALARM"),
    ] {
        let mut raw: serde_json::Value = serde_json::from_str(fixture).unwrap();
        raw["detail"]["state"]["value"] = state.into();
        raw["detail"]["previousState"]["value"] = previous.into();
        match parse_event_value(raw).unwrap().kind {
            SignalKind::Ignored { reason } => assert!(reason.contains(expected), "{reason}"),
            other => panic!("{state}: {other:?}"),
        }
    }
}

#[test]
fn malformed_alarm_notifications_are_named() {
    let cases: [(&str, &str); 5] = [
        (r#"{"Records": []}"#, "carries one record; this one has 0"),
        (
            r#"{"Records": [{"Sns": {"MessageId": "m", "Message": "{\"AlarmName\": 7}"}}]}"#,
            "the SNS message is not a valid CloudWatch alarm notification",
        ),
        (r#"{"Records": 5}"#, "not an SNS notification"),
        (
            r#"{"source": "aws.cloudwatch", "alarmData": {"state": {}}}"#,
            "not a CloudWatch alarm action payload",
        ),
        (
            r#"{"source":"aws.cloudwatch","detail-type":"CloudWatch Alarm State Change","detail":{"alarmName":1}}"#,
            "malformed event: unexpected detail",
        ),
    ];
    for (raw, expected) in cases {
        let error = parse_event(raw.as_bytes())
            .expect_err("must be rejected")
            .to_string();
        assert!(error.contains(expected), "{raw}: {error}");
    }
}

/// Fuzz regression (fuzz/regressions/event_envelope-float-in-error-message): a float detail is
/// refused as malformed whether the event arrives as bytes or as an already parsed value, even
/// though the two error texts may print the float differently.
#[test]
fn a_float_where_an_object_belongs_is_malformed_on_both_paths() {
    let detail = "7.777773777777777e38";
    for (source, detail_type) in [
        ("aws.ec2", "AWS API Call via CloudTrail"),
        ("aws.ssm", "Parameter Store Change"),
        ("aws.ssm", "Parameter Store Policy Action"),
        ("aws.cloudwatch", "CloudWatch Alarm State Change"),
        ("aws.config", "Config Configuration Item Change"),
    ] {
        let raw = format!(
            r#"{{"version":"0","id":"f","detail-type":"{detail_type}","source":"{source}",
                "account":"123456789012","time":"2026-11-24T10:30:00Z","region":"us-east-1",
                "resources":[],"detail":{detail}}}"#
        );
        let from_bytes = parse_event(raw.as_bytes());
        let value: serde_json::Value = serde_json::from_str(&raw).unwrap();
        let from_value = parse_event_value(value);
        assert!(
            matches!(from_bytes, Err(EventError::Malformed(_))),
            "{detail_type}: {from_bytes:?}"
        );
        assert!(
            matches!(from_value, Err(EventError::Malformed(_))),
            "{detail_type}: {from_value:?}"
        );
    }
}

#[test]
fn the_handlers_approval_event_is_an_approval_whose_token_is_never_echoed() {
    let now = chrono::DateTime::from_timestamp(1_796_000_000, 0).unwrap_or_default();
    let signal =
        parse_event_value(approval_event("claim.mac", now)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        signal.kind,
        SignalKind::Approval {
            token: "claim.mac".into()
        }
    );
    assert_eq!(signal.origin, "approval");
    let shown = serde_json::to_string(&signal).unwrap_or_default();
    assert!(!shown.contains("claim.mac"), "{shown}");
}

#[test]
fn an_events_origin_is_its_envelopes_account_and_region() {
    let origin = |name: &str| {
        let raw = std::fs::read(samples_dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        let value: serde_json::Value =
            serde_json::from_slice(&raw).unwrap_or_else(|e| panic!("{name}: {e}"));
        event_origin(&value).map(|target| target.to_string())
    };
    for name in [
        "cloudtrail-authorize-ingress.json",
        "alarm-lambda-action-memory.json",
        "alarm-sns-disk.json",
    ] {
        assert_eq!(
            origin(name).as_deref(),
            Some("123456789012 in us-east-1"),
            "{name}"
        );
    }
    assert_eq!(event_origin(&serde_json::json!({"detail": {}})), None);
}
