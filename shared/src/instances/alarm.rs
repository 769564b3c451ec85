//! The alarm a notification names, re-read from CloudWatch (`DescribeAlarms`, and its stack tag
//! through `ListTagsForResource`) before anything acts: the notification is only a hint. What
//! the re-read alarm allows is decided by the pure `domain::instances::alarm::check_alarm`, and
//! whether its metric really breaches (`GetMetricData`, `recent_datapoints`) by `confirm_breach`.

use crate::capability::Context;
use aws_sdk_cloudwatch::types::{
    Metric, MetricAlarm, MetricDataQuery, MetricDataResult, MetricStat, ScanBy,
};
use chrono::{DateTime, Utc};
use domain::ids::{StackName, STACK_TAG};
use domain::instances::alarm::{
    check_alarm, confirm_breach, BandSide, CheckedAlarm, Datapoint, Evaluation, ObservedAlarm,
};
use domain::signal::AlarmMetric;
use domain::signal::AlarmNotice;
use domain::stack::InstancePolicy;
use domain::Error;
use serde::Deserialize;

/// The alarm `notice` names, as CloudWatch describes it now, checked against the stack file
/// (`check_alarm`) and its metric's recent datapoints (`confirm_breach`): `Err` says why
/// nothing is done. Read once per run, however many capabilities ask.
pub(crate) async fn checked_alarm<'c>(
    cx: &'c Context<'_>,
    notice: &AlarmNotice,
    policy: &InstancePolicy,
) -> Result<&'c Result<CheckedAlarm, String>, Error> {
    cx.alarm.get_or_try_init(|| check(cx, notice, policy)).await
}

async fn check(
    cx: &Context<'_>,
    notice: &AlarmNotice,
    policy: &InstancePolicy,
) -> Result<Result<CheckedAlarm, String>, Error> {
    // The notification is a hint: the rule, the target and the direction come from the
    // alarm as CloudWatch describes it now.
    let cloudwatch = &cx.clients.cloudwatch;
    let observed = observe_alarm(cloudwatch, &notice.name).await?;
    let alarm = observed.as_ref().map(|(alarm, _)| alarm);
    let checked = match check_alarm(notice, alarm, policy, &cx.file.selector) {
        Ok(checked) => checked,
        Err(reason) => return Ok(Err(reason)),
    };
    // Whoever may SetAlarmState can fire a real alarm: the metric itself must breach.
    if let Some((alarm, described)) = &observed {
        let recent = recent_datapoints(cloudwatch, described, &alarm.evaluation, cx.now).await?;
        if let Err(reason) = confirm_breach(alarm, &recent) {
            return Ok(Err(reason));
        }
    }
    Ok(Ok(checked))
}

/// `None` when no metric alarm of that name exists; else the alarm as the checks see it, and
/// as CloudWatch gave it (its queries are what `recent_datapoints` repeats).
pub async fn observe_alarm(
    cloudwatch: &aws_sdk_cloudwatch::Client,
    name: &str,
) -> Result<Option<(ObservedAlarm, MetricAlarm)>, Error> {
    let response = cloudwatch
        .describe_alarms()
        .alarm_names(name)
        .alarm_types(aws_sdk_cloudwatch::types::AlarmType::MetricAlarm)
        .send()
        .await
        .map_err(|e| crate::aws::sdk_error("DescribeAlarms", e))?;
    let Some(alarm) = response
        .metric_alarms()
        .iter()
        .find(|a| a.alarm_name() == Some(name))
    else {
        return Ok(None);
    };
    let stack = match alarm.alarm_arn() {
        Some(arn) => {
            let tags = cloudwatch
                .list_tags_for_resource()
                .resource_arn(arn)
                .send()
                .await
                .map_err(|e| crate::aws::sdk_error("ListTagsForResource", e))?;
            tags.tags()
                .iter()
                .find(|t| t.key() == Some(STACK_TAG))
                .and_then(|t| t.value())
                .map(StackName::new)
        }
        None => None,
    };
    let transitioned_at = alarm
        .state_transitioned_timestamp()
        .or(alarm.state_updated_timestamp())
        .and_then(|t| DateTime::<Utc>::from_timestamp(t.secs(), t.subsec_nanos()));
    let evaluation_periods = positive(alarm.evaluation_periods());
    let evaluation = Evaluation {
        threshold: alarm
            .threshold_metric_id()
            .is_none()
            .then(|| alarm.threshold())
            .flatten(),
        period_seconds: positive(alarm.period()),
        evaluation_periods,
        datapoints_to_alarm: alarm
            .datapoints_to_alarm()
            .map_or(evaluation_periods, |n| positive(Some(n))),
    };
    let observed = ObservedAlarm {
        name: name.to_string(),
        state: alarm
            .state_value()
            .map(|s| s.as_str().to_string())
            .unwrap_or_default(),
        transitioned_at,
        comparison: alarm
            .comparison_operator()
            .map(|c| c.as_str().to_string())
            .unwrap_or_default(),
        metrics: alarm_metrics(alarm),
        breached_side: alarm.state_reason_data().and_then(breached_side),
        stack,
        evaluation,
    };
    Ok(Some((observed, alarm.clone())))
}

/// A count or period CloudWatch gives as `i32`; absent or nonsensical counts as 1.
fn positive(value: Option<i32>) -> u32 {
    value
        .and_then(|v| u32::try_from(v).ok())
        .filter(|v| *v > 0)
        .unwrap_or(1)
}

/// The alarm's metric over its last evaluation periods, newest first, with the band's bounds
/// for an anomaly alarm: the alarm's own queries (a single metric and statistic, or its metric
/// math), in one `GetMetricData` call over `EvaluationPeriods + 1` periods before `now`.
pub async fn recent_datapoints(
    cloudwatch: &aws_sdk_cloudwatch::Client,
    alarm: &MetricAlarm,
    evaluation: &Evaluation,
    now: DateTime<Utc>,
) -> Result<Vec<Datapoint>, Error> {
    let span = i64::from(evaluation.period_seconds) * i64::from(evaluation.evaluation_periods + 1);
    let start = now - chrono::Duration::seconds(span);
    let (queries, series_id) = alarm_queries(alarm, evaluation.period_seconds)?;
    let response = cloudwatch
        .get_metric_data()
        .set_metric_data_queries(Some(queries))
        .start_time(aws_smithy_types::DateTime::from_secs(start.timestamp()))
        .end_time(aws_smithy_types::DateTime::from_secs(now.timestamp()))
        .scan_by(ScanBy::TimestampDescending)
        .send()
        .await
        .map_err(|e| crate::aws::sdk_error("GetMetricData", e))?;
    let results = response.metric_data_results();
    let series = results.iter().find(|r| r.id() == Some(series_id.as_str()));
    let band_id = alarm.threshold_metric_id();
    let band: Vec<&MetricDataResult> = results
        .iter()
        .filter(|r| band_id.is_some() && r.id() == band_id)
        .collect();
    Ok(series.map_or_else(Vec::new, |series| with_band(series, &band)))
}

/// The queries to repeat and the id of the series the alarm watches.
fn alarm_queries(
    alarm: &MetricAlarm,
    period: u32,
) -> Result<(Vec<MetricDataQuery>, String), Error> {
    if let (Some(namespace), Some(name)) = (alarm.namespace(), alarm.metric_name()) {
        let stat = alarm
            .extended_statistic()
            .map(str::to_string)
            .or_else(|| alarm.statistic().map(|s| s.as_str().to_string()))
            .unwrap_or_else(|| "Average".to_string());
        let metric = Metric::builder()
            .namespace(namespace)
            .metric_name(name)
            .set_dimensions(Some(alarm.dimensions().to_vec()))
            .build();
        let query = MetricDataQuery::builder()
            .id("watched")
            .metric_stat(
                MetricStat::builder()
                    .metric(metric)
                    .period(i32::try_from(period).unwrap_or(60))
                    .stat(stat)
                    .set_unit(alarm.unit().cloned())
                    .build(),
            )
            .return_data(true)
            .build();
        return Ok((vec![query], "watched".to_string()));
    }
    let band_id = alarm.threshold_metric_id();
    let series_id = alarm
        .metrics()
        .iter()
        .find(|q| q.return_data().unwrap_or(true) && q.id() != band_id)
        .and_then(|q| q.id())
        .ok_or_else(|| Error::NotCarriedOut {
            operation: "GetMetricData",
            message: format!(
                "alarm {} names no series CloudWatch could read back",
                alarm.alarm_name().unwrap_or_default()
            ),
        })?
        .to_string();
    Ok((alarm.metrics().to_vec(), series_id))
}

/// Pairs each datapoint of the watched series with the band at the same time: the lowest and
/// highest band value CloudWatch returned for it (its lower and upper bound).
fn with_band(series: &MetricDataResult, band: &[&MetricDataResult]) -> Vec<Datapoint> {
    series
        .timestamps()
        .iter()
        .zip(series.values())
        .map(|(at, value)| {
            let bounds: Vec<f64> = band
                .iter()
                .flat_map(|b| b.timestamps().iter().zip(b.values()))
                .filter(|(t, _)| *t == at)
                .map(|(_, v)| *v)
                .collect();
            let band = (!bounds.is_empty()).then(|| {
                let lower = bounds.iter().copied().fold(f64::INFINITY, f64::min);
                let upper = bounds.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                (lower, upper)
            });
            Datapoint {
                value: *value,
                band,
            }
        })
        .collect()
}

/// The alarm's metric: the single one it names, or those of its metric-math queries.
fn alarm_metrics(alarm: &aws_sdk_cloudwatch::types::MetricAlarm) -> Vec<AlarmMetric> {
    let dimensions = |dims: &[aws_sdk_cloudwatch::types::Dimension]| {
        dims.iter()
            .filter_map(|d| Some((d.name()?.to_string(), d.value()?.to_string())))
            .collect()
    };
    if let (Some(namespace), Some(name)) = (alarm.namespace(), alarm.metric_name()) {
        return vec![AlarmMetric {
            namespace: namespace.to_string(),
            name: name.to_string(),
            dimensions: dimensions(alarm.dimensions()),
        }];
    }
    alarm
        .metrics()
        .iter()
        .filter_map(|query| query.metric_stat()?.metric())
        .filter_map(|metric| {
            Some(AlarmMetric {
                namespace: metric.namespace()?.to_string(),
                name: metric.metric_name()?.to_string(),
                dimensions: dimensions(metric.dimensions()),
            })
        })
        .collect()
}

/// The part of an anomaly alarm's `StateReasonData` that shows the side it crossed.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct BandReason {
    #[serde(default)]
    recent_datapoints: Vec<f64>,
    #[serde(default)]
    recent_upper_thresholds: Vec<f64>,
    #[serde(default)]
    recent_lower_thresholds: Vec<f64>,
}

/// `Upper` when a recent datapoint is above its upper threshold, `Lower` when one is below its
/// lower threshold and none above; `None` when the data does not say.
fn breached_side(raw: &str) -> Option<BandSide> {
    let reason: BandReason = serde_json::from_str(raw).ok()?;
    let points = &reason.recent_datapoints;
    let above = points
        .iter()
        .zip(&reason.recent_upper_thresholds)
        .any(|(point, upper)| point > upper);
    let below = points
        .iter()
        .zip(&reason.recent_lower_thresholds)
        .any(|(point, lower)| point < lower);
    match (above, below) {
        (true, _) => Some(BandSide::Upper),
        (false, true) => Some(BandSide::Lower),
        (false, false) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_breached_side_of_a_band_comes_from_the_reason_data() {
        let upper = r#"{"version":"1.0","recentDatapoints":[71.2,90.5],"recentUpperThresholds":[80.0,80.0],"recentLowerThresholds":[10.0,10.0]}"#;
        let lower = r#"{"version":"1.0","recentDatapoints":[3.1],"recentUpperThresholds":[80.0],"recentLowerThresholds":[10.0]}"#;
        assert_eq!(breached_side(upper), Some(BandSide::Upper));
        assert_eq!(breached_side(lower), Some(BandSide::Lower));
        assert_eq!(breached_side(r#"{"version":"1.0"}"#), None);
        assert_eq!(breached_side("not json"), None);
    }
}
