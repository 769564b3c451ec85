//! CloudWatch alarm notifications, in the three shapes operators wire up: the EventBridge
//! "CloudWatch Alarm State Change" event, the payload of an alarm's direct Lambda action, and
//! an alarm message delivered through SNS. All three become the same `AlarmNotice`.

use super::EventError;
use crate::signal::{AlarmMetric, AlarmNotice, Signal, SignalKind};
use serde::Deserialize;
use std::collections::BTreeMap;

/// `detail` of the EventBridge event, and `alarmData` of the direct Lambda action.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct AlarmData {
    alarm_name: String,
    state: AlarmState,
    #[serde(default)]
    previous_state: Option<AlarmState>,
    #[serde(default)]
    configuration: Option<AlarmConfiguration>,
}

#[derive(Debug, Deserialize)]
struct AlarmState {
    value: String,
    #[serde(default)]
    timestamp: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct AlarmConfiguration {
    #[serde(default)]
    metrics: Vec<MetricQuery>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct MetricQuery {
    #[serde(default)]
    metric_stat: Option<MetricStat>,
}

#[derive(Debug, Deserialize)]
struct MetricStat {
    metric: Metric,
}

#[derive(Debug, Deserialize)]
struct Metric {
    namespace: String,
    name: String,
    #[serde(default)]
    dimensions: BTreeMap<String, String>,
}

/// The direct Lambda action: no EventBridge envelope.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DirectAlarmAction {
    #[serde(default)]
    alarm_arn: Option<String>,
    alarm_data: AlarmData,
}

pub(super) fn signal_from_eventbridge(
    id: String,
    resources: &[String],
    detail: AlarmData,
) -> Signal {
    let arn = resources.first().cloned();
    signal_from_alarm_data("eventbridge", id, arn, detail)
}

pub(super) fn signal_from_direct_action(raw: serde_json::Value) -> Result<Signal, EventError> {
    let action: DirectAlarmAction = serde_json::from_value(raw).map_err(|e| {
        EventError::Malformed(format!("not a CloudWatch alarm action payload: {e}"))
    })?;
    let id = match (&action.alarm_arn, &action.alarm_data.state.timestamp) {
        (Some(arn), Some(at)) => format!("{arn}@{at}"),
        _ => String::new(),
    };
    Ok(signal_from_alarm_data(
        "lambda-action",
        id,
        action.alarm_arn,
        action.alarm_data,
    ))
}

fn signal_from_alarm_data(shape: &str, id: String, arn: Option<String>, data: AlarmData) -> Signal {
    let metrics = data
        .configuration
        .unwrap_or_default()
        .metrics
        .into_iter()
        .filter_map(|query| query.metric_stat)
        .map(|stat| AlarmMetric {
            namespace: stat.metric.namespace,
            name: stat.metric.name,
            dimensions: stat.metric.dimensions,
        })
        .collect();
    let previous = data.previous_state.map(|s| s.value);
    notice_signal(
        shape,
        id,
        AlarmNotice {
            name: data.alarm_name,
            arn,
            changed_at: data.state.timestamp.unwrap_or_default(),
            metrics,
        },
        &data.state.value,
        previous.as_deref(),
    )
}

/// An SNS notification (`Records[].Sns.Message`), whose message is the alarm as JSON.
#[derive(Debug, Deserialize)]
struct SnsEvent {
    #[serde(rename = "Records")]
    records: Vec<SnsRecord>,
}

#[derive(Debug, Deserialize)]
struct SnsRecord {
    #[serde(rename = "Sns")]
    sns: SnsMessage,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SnsMessage {
    message_id: String,
    message: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SnsAlarm {
    alarm_name: String,
    #[serde(default)]
    alarm_arn: Option<String>,
    new_state_value: String,
    #[serde(default)]
    old_state_value: Option<String>,
    #[serde(default)]
    state_change_time: Option<String>,
    #[serde(default)]
    trigger: Option<SnsTrigger>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SnsTrigger {
    #[serde(default)]
    metric_name: Option<String>,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    dimensions: Vec<SnsDimension>,
    /// Metric-math alarms list their metrics here instead.
    #[serde(default)]
    metrics: Vec<SnsMetricQuery>,
}

#[derive(Debug, Deserialize)]
struct SnsDimension {
    name: String,
    value: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SnsMetricQuery {
    #[serde(default)]
    metric_stat: Option<SnsMetricStat>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SnsMetricStat {
    metric: SnsMetric,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SnsMetric {
    namespace: String,
    metric_name: String,
    #[serde(default)]
    dimensions: Vec<SnsDimension>,
}

fn dimensions(raw: Vec<SnsDimension>) -> BTreeMap<String, String> {
    raw.into_iter().map(|d| (d.name, d.value)).collect()
}

pub(super) fn signal_from_sns(raw: serde_json::Value) -> Result<Signal, EventError> {
    let event: SnsEvent = serde_json::from_value(raw)
        .map_err(|e| EventError::Malformed(format!("not an SNS notification: {e}")))?;
    let [record] = <[SnsRecord; 1]>::try_from(event.records).map_err(|records| {
        EventError::Malformed(format!(
            "an SNS notification carries one record; this one has {}",
            records.len()
        ))
    })?;
    let Some(alarm) = sns_alarm(&record.sns.message)? else {
        return Ok(Signal {
            id: record.sns.message_id,
            origin: "sns".into(),
            kind: SignalKind::Ignored {
                reason: "the SNS message is not a CloudWatch alarm notification".into(),
            },
        });
    };
    let trigger = alarm.trigger;
    let mut metrics = Vec::new();
    if let Some(trigger) = trigger {
        if let (Some(namespace), Some(name)) = (trigger.namespace, trigger.metric_name) {
            metrics.push(AlarmMetric {
                namespace,
                name,
                dimensions: dimensions(trigger.dimensions),
            });
        }
        metrics.extend(
            trigger
                .metrics
                .into_iter()
                .filter_map(|query| query.metric_stat)
                .map(|stat| AlarmMetric {
                    namespace: stat.metric.namespace,
                    name: stat.metric.metric_name,
                    dimensions: dimensions(stat.metric.dimensions),
                }),
        );
    }
    Ok(notice_signal(
        "sns",
        record.sns.message_id,
        AlarmNotice {
            name: alarm.alarm_name,
            arn: alarm.alarm_arn,
            changed_at: alarm.state_change_time.unwrap_or_default(),
            metrics,
        },
        &alarm.new_state_value,
        alarm.old_state_value.as_deref(),
    ))
}

/// The alarm an SNS message carries; `None` for any other message (a topic carries whatever its
/// publishers send). A message that names an alarm but does not fit the notification is
/// malformed.
fn sns_alarm(message: &str) -> Result<Option<SnsAlarm>, EventError> {
    let Ok(serde_json::Value::Object(fields)) = serde_json::from_str(message) else {
        return Ok(None);
    };
    if !fields.contains_key("AlarmName") {
        return Ok(None);
    }
    serde_json::from_value(serde_json::Value::Object(fields))
        .map(Some)
        .map_err(|e| {
            EventError::Malformed(format!(
                "the SNS message is not a valid CloudWatch alarm notification: {e}"
            ))
        })
}

/// Only a transition into `ALARM` calls for action; anything else is a no-op with a reason.
fn notice_signal(
    shape: &str,
    id: String,
    notice: AlarmNotice,
    state: &str,
    previous: Option<&str>,
) -> Signal {
    let origin = format!("alarm:{shape}");
    let kind = match (state, previous) {
        ("ALARM", Some("ALARM")) => SignalKind::Ignored {
            reason: format!(
                "alarm {} was already in ALARM: not a new incident",
                notice.name
            ),
        },
        ("ALARM", _) => SignalKind::AlarmFired(notice),
        (other, _) => SignalKind::Ignored {
            reason: format!(
                "alarm {} went to {other}: only a transition into ALARM calls for action",
                notice.name
            ),
        },
    };
    Signal { id, origin, kind }
}
