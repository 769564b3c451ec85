//! Raw events, as AWS delivers them to the functions, turned into `Signal`s.
//!
//! The EventBridge envelope is `aws_lambda_events`' own type; the `detail` shapes are ours and
//! keep only the fields the engine uses, all optional where AWS may omit them, because real
//! CloudTrail and Config events vary more than any fixed schema admits.

mod alarm;

use crate::ids::SecurityGroupId;
use crate::signal::{Signal, SignalKind};
use aws_lambda_events::eventbridge::EventBridgeEvent;
use serde::Deserialize;

/// An event the functions cannot read: retrying it cannot help. A well-formed event of a kind
/// the functions do not handle is not an error but a `SignalKind::Ignored` with the reason.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("malformed event: {0}")]
    Malformed(String),
}

/// CloudTrail API calls on security groups that can change what a group admits.
const SECURITY_GROUP_CALLS: &[&str] = &[
    "AuthorizeSecurityGroupIngress",
    "AuthorizeSecurityGroupEgress",
    "RevokeSecurityGroupIngress",
    "RevokeSecurityGroupEgress",
    "ModifySecurityGroupRules",
    "CreateSecurityGroup",
];

pub fn parse_event(raw: &[u8]) -> Result<Signal, EventError> {
    let value: serde_json::Value =
        serde_json::from_slice(raw).map_err(|e| EventError::Malformed(describe(&e)))?;
    parse_event_value(value)
}

/// Every shape a function accepts: EventBridge events, and the two alarm notifications that
/// arrive without an EventBridge envelope (an SNS delivery, an alarm's direct Lambda action).
pub fn parse_event_value(raw: serde_json::Value) -> Result<Signal, EventError> {
    if raw.get("Records").is_some() {
        return alarm::signal_from_sns(raw);
    }
    if raw.get("alarmData").is_some() {
        return alarm::signal_from_direct_action(raw);
    }
    let envelope: EventBridgeEvent<serde_json::Value> =
        serde_json::from_value(raw).map_err(|e| EventError::Malformed(describe(&e)))?;
    signal_from_envelope(envelope)
}

/// The account and region an event happened in, as its envelope says: EventBridge's `account`
/// and `region` (kept when a member account forwards it to a central bus), an alarm action's
/// `accountId` and `region`, or an SNS-delivered alarm's `AlarmArn`. Only where to look: the
/// organisation decides whether that target is its own.
pub fn event_origin(raw: &serde_json::Value) -> Option<crate::stack::Target> {
    let text = |value: &serde_json::Value, key: &str| {
        value
            .get(key)
            .and_then(serde_json::Value::as_str)
            .filter(|v| !v.is_empty())
            .map(String::from)
    };
    if let Some(records) = raw.get("Records") {
        let message = records.get(0)?.get("Sns")?.get("Message")?.as_str()?;
        let alarm: serde_json::Value = serde_json::from_str(message).ok()?;
        // arn:<partition>:cloudwatch:<region>:<account>:alarm:<name>
        let arn = text(&alarm, "AlarmArn")?;
        let mut parts = arn.splitn(6, ':').skip(3);
        let region = parts.next()?.to_string();
        let account = parts.next()?.to_string();
        return Some(crate::stack::Target::new(account, region));
    }
    let account = text(raw, "account").or_else(|| text(raw, "accountId"))?;
    Some(crate::stack::Target::new(account, text(raw, "region")?))
}

/// serde's message plus position, without echoing input beyond what serde quotes of a type.
fn describe(error: &serde_json::Error) -> String {
    match error.classify() {
        serde_json::error::Category::Data => format!("not an EventBridge event: {error}"),
        _ => format!("not valid JSON: {error}"),
    }
}

/// The event the approval handler sends the function that owns a remediation: only a hint
/// too, as the function verifies the token itself before anything is read.
pub const APPROVAL_SOURCE: &str = "chainlink-remediator.approval";
pub const APPROVAL_DETAIL_TYPE: &str = "Approval Decision";

#[derive(serde::Deserialize)]
struct ApprovalDetail {
    token: String,
}

/// The approval event for `token`, as the handler sends it at `now`.
pub fn approval_event(token: &str, now: chrono::DateTime<chrono::Utc>) -> serde_json::Value {
    serde_json::json!({
        "version": "0",
        // Not the token itself: event IDs are logged.
        "id": format!("approval-{}", &crate::approvals::plan_digest(&token)[..16]),
        "source": APPROVAL_SOURCE,
        "detail-type": APPROVAL_DETAIL_TYPE,
        "time": now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "resources": [],
        "detail": {"token": token},
    })
}

fn signal_from_envelope(event: EventBridgeEvent<serde_json::Value>) -> Result<Signal, EventError> {
    let id = event.id.clone().unwrap_or_default();
    match (event.source.as_str(), event.detail_type.as_str()) {
        ("aws.events", "Scheduled Event") | ("aws.scheduler", "Scheduled Event") => Ok(Signal {
            id,
            origin: "schedule".into(),
            kind: SignalKind::Sweep,
        }),
        ("aws.ec2", "AWS API Call via CloudTrail") => {
            let detail: CloudTrailDetail = detail(event.detail)?;
            Ok(signal_from_cloudtrail(id, detail))
        }
        ("aws.ssm", "Parameter Store Change") => {
            let detail: ParameterChangeDetail = detail(event.detail)?;
            let origin = format!("ssm:{}", detail.operation);
            Ok(parameter_signal(id, origin, detail.name, detail.operation))
        }
        ("aws.ssm", "Parameter Store Policy Action") => {
            let detail: ParameterPolicyDetail = detail(event.detail)?;
            let origin = format!("ssm-policy:{}", detail.policy_type);
            let operation = format!("{} policy", detail.policy_type);
            Ok(parameter_signal(id, origin, detail.name, operation))
        }
        ("aws.cloudwatch", "CloudWatch Alarm State Change") => {
            let detail: alarm::AlarmData = detail(event.detail)?;
            let resources = event.resources.as_deref().unwrap_or_default();
            Ok(alarm::signal_from_eventbridge(id, resources, detail))
        }
        (APPROVAL_SOURCE, APPROVAL_DETAIL_TYPE) => {
            let detail: ApprovalDetail = detail(event.detail)?;
            Ok(Signal {
                id,
                origin: "approval".into(),
                kind: SignalKind::Approval {
                    token: detail.token,
                },
            })
        }
        ("aws.config", "Config Configuration Item Change") => {
            let detail: ConfigDetail = detail(event.detail)?;
            signal_from_config(id, detail)
        }
        // Well-formed, but none of the functions' jobs (an instance state change, a Run Command
        // status, a CloudTrail call of another service…): a no-op with a reason, not bad input.
        (source, detail_type) => Ok(Signal {
            id,
            origin: format!("{source}:{detail_type}"),
            kind: SignalKind::Ignored {
                reason: format!(
                    "{detail_type:?} events from {source} are not a job of these functions"
                ),
            },
        }),
    }
}

fn detail<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> Result<T, EventError> {
    serde_json::from_value(value)
        .map_err(|e| EventError::Malformed(format!("unexpected detail: {e}")))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CloudTrailDetail {
    event_name: String,
    #[serde(default)]
    error_code: Option<String>,
    #[serde(default)]
    request_parameters: Option<SecurityGroupRequest>,
    #[serde(default)]
    response_elements: Option<SecurityGroupResponse>,
}

#[derive(Debug, Deserialize)]
struct SecurityGroupRequest {
    #[serde(rename = "groupId", default)]
    group_id: Option<String>,
    #[serde(rename = "ModifySecurityGroupRulesRequest", default)]
    modify: Option<ModifyRulesRequest>,
}

#[derive(Debug, Deserialize)]
struct ModifyRulesRequest {
    #[serde(rename = "GroupId", default)]
    group_id: Option<String>,
}

#[derive(Debug, Deserialize)]
struct SecurityGroupResponse {
    #[serde(rename = "groupId", default)]
    group_id: Option<String>,
    /// The rules an authorize call added, each with its group: the only place a call by rule ID
    /// or by group name (default VPC) names the group.
    #[serde(rename = "securityGroupRuleSet", default)]
    rules: Option<RuleSet>,
    /// The rules a revoke call removed (EC2 returns them since 2024).
    #[serde(rename = "revokedSecurityGroupRuleSet", default)]
    revoked_rules: Option<RuleSet>,
}

/// CloudTrail renders EC2's XML lists as `{"items": [...]}`.
#[derive(Debug, Default, Deserialize)]
struct RuleSet {
    #[serde(default)]
    items: Vec<RuleItem>,
}

#[derive(Debug, Deserialize)]
struct RuleItem {
    #[serde(rename = "groupId", default)]
    group_id: Option<String>,
}

fn signal_from_cloudtrail(id: String, detail: CloudTrailDetail) -> Signal {
    let origin = format!("cloudtrail:{}", detail.event_name);
    let ignored = |reason: String| Signal {
        id: id.clone(),
        origin: origin.clone(),
        kind: SignalKind::Ignored { reason },
    };
    if !SECURITY_GROUP_CALLS.contains(&detail.event_name.as_str()) {
        return ignored(format!(
            "{} does not change security-group rules",
            detail.event_name
        ));
    }
    if let Some(code) = &detail.error_code {
        return ignored(format!("the call failed ({code}), so nothing changed"));
    }
    let request = detail.request_parameters.as_ref();
    let response = detail.response_elements.as_ref();
    let from_rules = response
        .into_iter()
        .flat_map(|r| r.rules.iter().chain(&r.revoked_rules))
        .flat_map(|set| &set.items)
        .filter_map(|item| item.group_id.as_deref());
    let mut named: Vec<&str> = Vec::new();
    let candidates = [
        request.and_then(|r| r.group_id.as_deref()),
        request.and_then(|r| r.modify.as_ref()?.group_id.as_deref()),
        response.and_then(|r| r.group_id.as_deref()),
    ];
    for raw in candidates.into_iter().flatten().chain(from_rules) {
        if !named.contains(&raw) {
            named.push(raw);
        }
    }
    let parsed: Result<Vec<SecurityGroupId>, &str> = named
        .iter()
        .map(|raw| SecurityGroupId::parse(raw).ok_or(*raw))
        .collect();
    let kind = match parsed {
        Err(raw) => SignalKind::Ignored {
            reason: format!("{raw:?} is not a security group ID"),
        },
        // Neither the request nor the response names a group: check everything instead of
        // guessing.
        Ok(groups) if groups.is_empty() => SignalKind::Sweep,
        Ok(groups) => SignalKind::SecurityGroupsChanged { groups },
    };
    Signal { id, origin, kind }
}

/// `aws_lambda_events`' own type requires `description`, which real events may omit.
#[derive(Debug, Deserialize)]
struct ParameterChangeDetail {
    operation: String,
    name: String,
}

/// A parameter policy acting: `Expiration` (the parameter was deleted), `ExpirationNotification`
/// (it is about to be), `NoChangeNotification` (it has not changed for a while). Only the
/// parameter's name is used: the policies themselves are re-read with the parameters.
#[derive(Debug, Deserialize)]
struct ParameterPolicyDetail {
    #[serde(rename = "parameter-name")]
    name: String,
    #[serde(rename = "policy-type")]
    policy_type: String,
}

fn parameter_signal(id: String, origin: String, name: String, operation: String) -> Signal {
    let kind = if name.starts_with('/') && !name.contains(['*', '\0']) {
        SignalKind::ParameterChanged { name, operation }
    } else {
        SignalKind::Ignored {
            reason: "the parameter name is not a path: stack parameters always are".into(),
        }
    };
    Signal { id, origin, kind }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConfigDetail {
    #[serde(default)]
    configuration_item: Option<ConfigItem>,
    /// Oversized notifications carry a summary instead of the item.
    #[serde(default)]
    configuration_item_summary: Option<ConfigItem>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConfigItem {
    resource_type: String,
    resource_id: String,
    #[serde(default)]
    configuration_item_status: Option<String>,
}

fn signal_from_config(id: String, detail: ConfigDetail) -> Result<Signal, EventError> {
    let item = detail
        .configuration_item
        .or(detail.configuration_item_summary)
        .ok_or_else(|| EventError::Malformed("Config event without a configurationItem".into()))?;
    let origin = format!("config:{}", item.resource_type);
    let kind = if item.resource_type != "AWS::EC2::SecurityGroup" {
        SignalKind::Ignored {
            reason: format!("{} is not a security group", item.resource_type),
        }
    } else if matches!(
        item.configuration_item_status.as_deref(),
        Some("ResourceDeleted" | "ResourceDeletedNotRecorded")
    ) {
        SignalKind::Ignored {
            reason: format!("{} was deleted", item.resource_id),
        }
    } else {
        match SecurityGroupId::parse(&item.resource_id) {
            Some(group) => SignalKind::SecurityGroupsChanged {
                groups: vec![group],
            },
            None => SignalKind::Ignored {
                reason: format!("{:?} is not a security group ID", item.resource_id),
            },
        }
    };
    Ok(Signal { id, origin, kind })
}

#[cfg(test)]
mod tests;
