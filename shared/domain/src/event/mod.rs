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

/// An event the functions cannot act on: retrying it cannot help.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("malformed event: {0}")]
    Malformed(String),
    #[error("unsupported event: source {event_source:?} with detail-type {detail_type:?} is not one this function handles")]
    Unsupported {
        event_source: String,
        detail_type: String,
    },
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

/// serde's message plus position, without echoing input beyond what serde quotes of a type.
fn describe(error: &serde_json::Error) -> String {
    match error.classify() {
        serde_json::error::Category::Data => format!("not an EventBridge event: {error}"),
        _ => format!("not valid JSON: {error}"),
    }
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
            Ok(signal_from_parameter_change(id, detail))
        }
        ("aws.cloudwatch", "CloudWatch Alarm State Change") => {
            let detail: alarm::AlarmData = detail(event.detail)?;
            let resources = event.resources.as_deref().unwrap_or_default();
            Ok(alarm::signal_from_eventbridge(id, resources, detail))
        }
        ("aws.config", "Config Configuration Item Change") => {
            let detail: ConfigDetail = detail(event.detail)?;
            signal_from_config(id, detail)
        }
        (source, detail_type) => Err(EventError::Unsupported {
            event_source: source.to_string(),
            detail_type: detail_type.to_string(),
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
    let named = request
        .and_then(|r| r.group_id.as_deref())
        .or_else(|| request.and_then(|r| r.modify.as_ref()?.group_id.as_deref()))
        .or_else(|| detail.response_elements.as_ref()?.group_id.as_deref());
    let kind = match named {
        Some(raw) => match SecurityGroupId::parse(raw) {
            Some(group) => SignalKind::SecurityGroupsChanged {
                groups: vec![group],
            },
            None => SignalKind::Ignored {
                reason: format!("{raw:?} is not a security group ID"),
            },
        },
        // Calls by group name (default VPC) carry no ID: check everything instead of guessing.
        None => SignalKind::Sweep,
    };
    Signal { id, origin, kind }
}

/// `aws_lambda_events`' own type requires `description`, which real events may omit.
#[derive(Debug, Deserialize)]
struct ParameterChangeDetail {
    operation: String,
    name: String,
}

fn signal_from_parameter_change(id: String, detail: ParameterChangeDetail) -> Signal {
    let origin = format!("ssm:{}", detail.operation);
    let kind = if detail.name.starts_with('/') && !detail.name.contains(['*', '\0']) {
        SignalKind::ParameterChanged {
            name: detail.name,
            operation: detail.operation,
        }
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
