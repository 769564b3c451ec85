//! The alarm as CloudWatch describes it now, and the check that decides whether a notification
//! may act at all. A notification is a hint anyone who can create or set an alarm could forge:
//! the rule, the target's dimensions, the direction and the ownership are all taken from the
//! alarm re-read here, never from the payload.
//!
//! The rules:
//! - **Exists and fires**: the alarm is a metric alarm in `ALARM` now.
//! - **Same transition**: the notified time equals, to the millisecond (CloudWatch's own
//!   precision in every delivery shape), the alarm's `StateTransitionedTimestamp`, or its
//!   `StateUpdatedTimestamp` where the former is absent (moto gives only that). No tolerance: a
//!   later transition means the notification is stale, an unknown one that it is forged.
//! - **Owned**: the alarm carries the stack tag (`chainlink:stack`) of a stack this file guards,
//!   and the target must belong to that same stack. A name pattern in `[[alarms]]` is not
//!   ownership (anyone may create an alarm matching it); the tag is one trust root, the target's
//!   own stack tag a second one.
//! - **Direction**: it fires because usage is too high. A metric whose name says free or
//!   available space (`disk_free`, `mem_available_percent`, `FreeStorageSpace`) is in trouble
//!   when low (`LessThan…`, `LessThanLowerThreshold`); every other metric (CPU, memory or disk
//!   used, status checks) when high (`GreaterThan…`, `GreaterThanUpperThreshold`). A two-sided
//!   anomaly band counts only when its reason data shows which side was breached.
//! - **Really breaching**: anyone who may `SetAlarmState` can put a real alarm in ALARM with
//!   any reason data. So before acting the metric itself is read back (`GetMetricData`) over the
//!   alarm's last evaluation periods, and enough of those datapoints must be on the trouble
//!   side of the threshold (or band) — the alarm's own rule, `DatapointsToAlarm` of
//!   `EvaluationPeriods`, with missing data never counted as breaching.

use crate::ids::StackName;
use crate::signal::{AlarmMetric, AlarmNotice};
use crate::stack::{InstancePolicy, Remediation, StackSelector};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// A metric alarm as `DescribeAlarms` and `ListTagsForResource` give it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ObservedAlarm {
    pub name: String,
    /// `OK`, `ALARM` or `INSUFFICIENT_DATA`.
    pub state: String,
    /// `StateTransitionedTimestamp`, else `StateUpdatedTimestamp`.
    pub transitioned_at: Option<DateTime<Utc>>,
    /// `GreaterThanThreshold`, `LessThanLowerOrGreaterThanUpperThreshold`…
    pub comparison: String,
    pub metrics: Vec<AlarmMetric>,
    /// For an anomaly band, the side the recent datapoints breached, from `StateReasonData`.
    pub breached_side: Option<BandSide>,
    /// The alarm's `chainlink:stack` tag.
    pub stack: Option<StackName>,
    /// How CloudWatch evaluates it: what the breach check repeats.
    pub evaluation: Evaluation,
}

/// The alarm's own evaluation rule.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Evaluation {
    /// A static threshold; `None` for an anomaly band (`ThresholdMetricId`).
    pub threshold: Option<f64>,
    pub period_seconds: u32,
    pub evaluation_periods: u32,
    /// `DatapointsToAlarm`, else `EvaluationPeriods`.
    pub datapoints_to_alarm: u32,
}

/// One period of the watched metric as `GetMetricData` returns it, with the band's bounds at
/// that time for an anomaly alarm.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Datapoint {
    pub value: f64,
    pub band: Option<(f64, f64)>,
}

/// Which side of its band (or threshold) a metric crossed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BandSide {
    Upper,
    Lower,
}

/// What a checked alarm calls for: the notice rebuilt from the re-read alarm (its metrics and
/// dimensions name the target), the remediation its rule names, and the stack that owns it.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckedAlarm {
    pub notice: AlarmNotice,
    pub remediation: Remediation,
    pub stack: StackName,
}

/// The side that means trouble for a metric: low for free or available space, high otherwise.
pub fn trouble_side(metric_name: &str) -> BandSide {
    let name = metric_name.to_ascii_lowercase();
    if name.contains("free") || name.contains("available") {
        BandSide::Lower
    } else {
        BandSide::Upper
    }
}

/// The side a comparison fires on; `Err` with a reason when it cannot be told.
fn fired_side(alarm: &ObservedAlarm) -> Result<BandSide, String> {
    match alarm.comparison.as_str() {
        "GreaterThanThreshold" | "GreaterThanOrEqualToThreshold" | "GreaterThanUpperThreshold" => {
            Ok(BandSide::Upper)
        }
        "LessThanThreshold" | "LessThanOrEqualToThreshold" | "LessThanLowerThreshold" => {
            Ok(BandSide::Lower)
        }
        "LessThanLowerOrGreaterThanUpperThreshold" => alarm.breached_side.ok_or_else(|| {
            format!(
                "alarm {} is a two-sided anomaly band whose reason data does not show which side was breached",
                alarm.name
            )
        }),
        other => Err(format!(
            "alarm {} compares with {other:?}, which says nothing about usage being too high",
            alarm.name
        )),
    }
}

/// Parses a notified transition time as CloudWatch writes it (`2026-11-24T10:15:00.000+0000`,
/// or RFC 3339).
pub fn parse_notified_time(raw: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M:%S%.f%z")
        .or_else(|_| DateTime::parse_from_rfc3339(raw))
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Whether a notification may act, decided from the re-read alarm; `Err` is the reason it may
/// not (a no-op, never retried).
pub fn check_alarm(
    notice: &AlarmNotice,
    alarm: Option<&ObservedAlarm>,
    policy: &InstancePolicy,
    selector: &StackSelector,
) -> Result<CheckedAlarm, String> {
    let name = &notice.name;
    let alarm = alarm.ok_or_else(|| format!("alarm {name} does not exist in CloudWatch"))?;
    if alarm.state != "ALARM" {
        return Err(format!(
            "alarm {name} is {} now, not ALARM: the notification is stale or forged",
            alarm.state
        ));
    }
    let notified = parse_notified_time(&notice.changed_at);
    let same_transition = match (notified, alarm.transitioned_at) {
        (Some(notified), Some(actual)) => notified.timestamp_millis() == actual.timestamp_millis(),
        _ => false,
    };
    if !same_transition {
        return Err(format!(
            "alarm {name} went to ALARM at {}, not at the notified {:?}: the notification is stale or forged",
            alarm
                .transitioned_at
                .map_or_else(|| "an unknown time".to_string(), |t| t.to_rfc3339()),
            notice.changed_at
        ));
    }
    let stack = match &alarm.stack {
        Some(stack) if selector.matches(stack) => stack.clone(),
        Some(stack) => {
            return Err(format!(
                "alarm {name} belongs to stack {stack}, which this file does not guard"
            ))
        }
        None => {
            return Err(format!(
                "alarm {name} carries no {} tag: it belongs to no stack",
                crate::ids::STACK_TAG
            ))
        }
    };
    let rebuilt = AlarmNotice {
        name: alarm.name.clone(),
        arn: notice.arn.clone(),
        changed_at: notice.changed_at.clone(),
        metrics: alarm.metrics.clone(),
    };
    let remediation = policy
        .remediation_for(&rebuilt.name, &rebuilt.metric_names())
        .ok_or_else(|| {
            format!("alarm {name}, as CloudWatch describes it, matches no [[alarms]] entry of the stack file")
        })?;
    let metric = alarm
        .metrics
        .first()
        .ok_or_else(|| format!("alarm {name} watches no metric"))?;
    let fired = fired_side(alarm)?;
    let trouble = trouble_side(&metric.name);
    if fired != trouble {
        return Err(format!(
            "alarm {name} fires when {} {} ({}): only a {} means the node needs more",
            metric.name,
            side_word(fired),
            alarm.comparison,
            match trouble {
                BandSide::Upper => "high value",
                BandSide::Lower => "low value",
            }
        ));
    }
    Ok(CheckedAlarm {
        notice: rebuilt,
        remediation,
        stack,
    })
}

/// Whether the metric, as read back for the alarm's last evaluation periods (`recent`, newest
/// first), breaches on the side that means trouble often enough to have fired the alarm.
/// `Err` says what the data shows instead (a no-op, never retried).
pub fn confirm_breach(alarm: &ObservedAlarm, recent: &[Datapoint]) -> Result<(), String> {
    let rule = &alarm.evaluation;
    let side = fired_side(alarm)?;
    let inclusive = alarm.comparison.contains("OrEqualTo");
    let window: Vec<&Datapoint> = recent
        .iter()
        .take(rule.evaluation_periods as usize)
        .collect();
    let mut unreadable = 0;
    let breaching = window
        .iter()
        .filter(|point| {
            let bound = match (rule.threshold, point.band, side) {
                (Some(threshold), _, _) => threshold,
                (None, Some((_, upper)), BandSide::Upper) => upper,
                (None, Some((lower, _)), BandSide::Lower) => lower,
                (None, None, _) => {
                    unreadable += 1;
                    return false;
                }
            };
            match (side, inclusive) {
                (BandSide::Upper, false) => point.value > bound,
                (BandSide::Upper, true) => point.value >= bound,
                (BandSide::Lower, false) => point.value < bound,
                (BandSide::Lower, true) => point.value <= bound,
            }
        })
        .count();
    if breaching >= rule.datapoints_to_alarm as usize {
        return Ok(());
    }
    let values: Vec<String> = window.iter().map(|p| format!("{}", p.value)).collect();
    let against = match rule.threshold {
        Some(threshold) => format!("the threshold {threshold}"),
        None if unreadable > 0 => "its anomaly band, which could not be read".to_string(),
        None => "its anomaly band".to_string(),
    };
    Err(format!(
        "alarm {} is in ALARM, but its metric does not breach {against}: {breaching} of the last {} periods of {} s do (it needs {}; read back: [{}]). The state may have been set by hand; nothing is done",
        alarm.name,
        rule.evaluation_periods,
        rule.period_seconds,
        rule.datapoints_to_alarm,
        values.join(", ")
    ))
}

fn side_word(side: BandSide) -> &'static str {
    match side {
        BandSide::Upper => "is high",
        BandSide::Lower => "is low",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stack::{AlarmMatcher, AlarmRule, DiskPolicy};
    use std::collections::BTreeMap;

    const AT: &str = "2026-11-24T10:15:00.000+0000";

    fn policy() -> InstancePolicy {
        InstancePolicy {
            alarms: vec![
                AlarmRule {
                    matcher: AlarmMatcher::Metric {
                        namespace: "AWS/EC2".into(),
                        name: "CPUUtilization".into(),
                    },
                    remediation: Remediation::Resize,
                },
                AlarmRule {
                    matcher: AlarmMatcher::Metric {
                        namespace: "CWAgent".into(),
                        name: "disk_*".into(),
                    },
                    remediation: Remediation::GrowDisk,
                },
            ],
            cooldown_minutes: 60,
            max_resizes_per_hour: 2,
            min_healthy_percentage: 90,
            disk: DiskPolicy {
                step_percent: 50,
                max_gib: 1000,
            },
        }
    }

    fn selector() -> StackSelector {
        StackSelector::Exact(StackName::new("demo"))
    }

    fn metric(namespace: &str, name: &str) -> AlarmMetric {
        AlarmMetric {
            namespace: namespace.into(),
            name: name.into(),
            dimensions: BTreeMap::from([("InstanceId".into(), "i-0123456789abcdef0".into())]),
        }
    }

    fn notice() -> AlarmNotice {
        AlarmNotice {
            name: "demo-node-cpu".into(),
            arn: None,
            changed_at: AT.into(),
            // The payload's metric is never used: the re-read alarm's is.
            metrics: vec![metric("AWS/EC2", "forged")],
        }
    }

    fn alarm(comparison: &str) -> ObservedAlarm {
        ObservedAlarm {
            name: "demo-node-cpu".into(),
            state: "ALARM".into(),
            transitioned_at: parse_notified_time("2026-11-24T10:15:00Z"),
            comparison: comparison.into(),
            metrics: vec![metric("AWS/EC2", "CPUUtilization")],
            breached_side: None,
            stack: Some(StackName::new("demo")),
            evaluation: Evaluation {
                threshold: Some(85.0),
                period_seconds: 60,
                evaluation_periods: 3,
                datapoints_to_alarm: 2,
            },
        }
    }

    fn points(values: &[f64]) -> Vec<Datapoint> {
        values
            .iter()
            .map(|&value| Datapoint { value, band: None })
            .collect()
    }

    #[test]
    fn a_breach_needs_the_alarms_own_datapoints_to_alarm() {
        let high = alarm("GreaterThanThreshold");
        assert_eq!(confirm_breach(&high, &points(&[90.0, 95.0, 10.0])), Ok(()));
        // Older periods beyond the evaluation window do not count.
        let err = confirm_breach(&high, &points(&[90.0, 10.0, 10.0, 99.0, 99.0])).unwrap_err();
        assert!(err.contains("1 of the last 3 periods"), "{err}");
        assert!(err.contains("[90, 10, 10]"), "{err}");
        // No data at all (the state was set by hand on a quiet metric).
        let err = confirm_breach(&high, &[]).unwrap_err();
        assert!(err.contains("does not breach the threshold 85"), "{err}");
    }

    #[test]
    fn the_threshold_itself_breaches_only_an_or_equal_comparison() {
        let at_threshold = points(&[85.0, 85.0]);
        assert!(confirm_breach(&alarm("GreaterThanThreshold"), &at_threshold).is_err());
        assert_eq!(
            confirm_breach(&alarm("GreaterThanOrEqualToThreshold"), &at_threshold),
            Ok(())
        );
        let mut low = alarm("LessThanThreshold");
        low.metrics = vec![metric("CWAgent", "disk_free")];
        low.evaluation.threshold = Some(10.0);
        assert_eq!(confirm_breach(&low, &points(&[5.0, 2.0])), Ok(()));
        assert!(confirm_breach(&low, &points(&[50.0, 60.0])).is_err());
    }

    #[test]
    fn an_anomaly_band_breaches_above_its_upper_bound_and_needs_the_band() {
        let mut band = alarm("GreaterThanUpperThreshold");
        band.evaluation.threshold = None;
        let inside = Datapoint {
            value: 50.0,
            band: Some((10.0, 60.0)),
        };
        let above = Datapoint {
            value: 70.0,
            band: Some((10.0, 60.0)),
        };
        assert_eq!(confirm_breach(&band, &[above, above, inside]), Ok(()));
        assert!(confirm_breach(&band, &[above, inside, inside]).is_err());
        let unread = Datapoint {
            value: 70.0,
            band: None,
        };
        let err = confirm_breach(&band, &[unread, unread, unread]).unwrap_err();
        assert!(err.contains("could not be read"), "{err}");
    }

    fn check(alarm: &ObservedAlarm) -> Result<CheckedAlarm, String> {
        check_alarm(&notice(), Some(alarm), &policy(), &selector())
    }

    #[test]
    fn a_real_alarm_acts_with_its_own_metric_not_the_payloads() {
        let checked = check(&alarm("GreaterThanThreshold")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(checked.remediation, Remediation::Resize);
        assert_eq!(checked.notice.metrics[0].name, "CPUUtilization");
        assert_eq!(checked.stack.as_str(), "demo");
    }

    #[test]
    fn each_comparison_on_a_usage_metric() {
        let table = [
            ("GreaterThanThreshold", None, true),
            ("GreaterThanOrEqualToThreshold", None, true),
            ("GreaterThanUpperThreshold", None, true),
            ("LessThanThreshold", None, false),
            ("LessThanOrEqualToThreshold", None, false),
            ("LessThanLowerThreshold", None, false),
            (
                "LessThanLowerOrGreaterThanUpperThreshold",
                Some(BandSide::Upper),
                true,
            ),
            (
                "LessThanLowerOrGreaterThanUpperThreshold",
                Some(BandSide::Lower),
                false,
            ),
            ("LessThanLowerOrGreaterThanUpperThreshold", None, false),
            ("SomethingNew", None, false),
        ];
        for (comparison, side, acts) in table {
            let mut observed = alarm(comparison);
            observed.breached_side = side;
            let result = check(&observed);
            assert_eq!(result.is_ok(), acts, "{comparison} {side:?}: {result:?}");
        }
    }

    #[test]
    fn a_free_space_metric_acts_only_when_low() {
        for (comparison, acts) in [
            ("LessThanThreshold", true),
            ("LessThanLowerThreshold", true),
            ("GreaterThanThreshold", false),
        ] {
            let mut observed = alarm(comparison);
            observed.metrics = vec![metric("CWAgent", "disk_free")];
            let result = check(&observed);
            assert_eq!(result.is_ok(), acts, "{comparison}: {result:?}");
            if let Ok(checked) = result {
                assert_eq!(checked.remediation, Remediation::GrowDisk);
            }
        }
    }

    #[test]
    fn a_forged_or_stale_notification_says_what_did_not_match() {
        let cases: [(Option<ObservedAlarm>, &str); 6] = [
            (None, "does not exist"),
            (
                Some(ObservedAlarm {
                    state: "OK".into(),
                    ..alarm("GreaterThanThreshold")
                }),
                "is OK now",
            ),
            (
                Some(ObservedAlarm {
                    transitioned_at: parse_notified_time("2026-11-24T10:15:00.001Z"),
                    ..alarm("GreaterThanThreshold")
                }),
                "not at the notified",
            ),
            (
                Some(ObservedAlarm {
                    stack: None,
                    ..alarm("GreaterThanThreshold")
                }),
                "belongs to no stack",
            ),
            (
                Some(ObservedAlarm {
                    stack: Some(StackName::new("other")),
                    ..alarm("GreaterThanThreshold")
                }),
                "does not guard",
            ),
            (
                Some(ObservedAlarm {
                    metrics: vec![metric("AWS/EC2", "NetworkIn")],
                    ..alarm("GreaterThanThreshold")
                }),
                "matches no [[alarms]]",
            ),
        ];
        for (observed, reason) in cases {
            let result = check_alarm(&notice(), observed.as_ref(), &policy(), &selector());
            match result {
                Err(e) => assert!(e.contains(reason), "{reason}: {e}"),
                Ok(checked) => panic!("{reason}: acted on {checked:?}"),
            }
        }
    }

    #[test]
    fn notified_times_parse_in_every_shape() {
        for raw in [
            "2026-11-24T10:15:00.000+0000",
            "2026-11-24T10:15:00Z",
            "2026-11-24T10:15:00.000+00:00",
        ] {
            assert_eq!(
                parse_notified_time(raw),
                parse_notified_time("2026-11-24T10:15:00Z"),
                "{raw}"
            );
        }
        assert_eq!(parse_notified_time(""), None);
    }
}
