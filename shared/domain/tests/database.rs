//! The stack's RDS database: the `[database]` section of the stack file, the checks of the
//! node's configuration against the instance, and the alarm planner, as specifications.

use chainlink::{connection_demand, endpoints, FindingCode, SecretValue, Severity};
use chrono::{DateTime, Duration, Utc};
use domain::database::{
    check_database, connections_finding, plan_database_remediation, resolve_connection_limit,
    ApplyTiming, DatabaseAction, DatabaseEndpoint, DatabaseInputs, DatabasePlan, DbInstanceClass,
    MaxConnectionsSetting, ObservedDatabase, PendingModifications,
};
use domain::ids::{DbInstanceArn, DbInstanceId, StackName};
use domain::instances::{Decision, RemediationRecord, REMEDIATION_TAG};
use domain::signal::{AlarmMetric, AlarmNotice};
use domain::stack::{DatabasePolicy, PendingPolicy, Remediation, StackFile};
use std::collections::BTreeMap;

const SAMPLE: &str = include_str!("../../../samples/stack.toml");

fn sample() -> StackFile {
    StackFile::parse(SAMPLE, "samples/stack.toml").unwrap_or_else(|e| panic!("{e}"))
}

fn policy() -> DatabasePolicy {
    sample()
        .database
        .unwrap_or_else(|| panic!("the sample declares [database]"))
}

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-24T12:00:00Z")
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|e| panic!("{e}"))
}

/// The demo database, healthy: available, single-AZ, 100 GiB, no autoscaling, nothing pending.
fn db() -> ObservedDatabase {
    ObservedDatabase {
        id: DbInstanceId::new("demo-db"),
        arn: DbInstanceArn::new("arn:aws:rds:us-east-1:123456789012:db:demo-db"),
        engine: "postgres".into(),
        engine_version: "16.4".into(),
        class: "db.m6i.large".into(),
        allocated_storage_gib: 100,
        max_allocated_storage_gib: None,
        storage_type: "gp3".into(),
        iops: Some(3000),
        multi_az: false,
        status: "available".into(),
        pending: PendingModifications::default(),
        maintenance_window: Some("sun:05:00-sun:06:00".into()),
        storage_modified_at: None,
        endpoint: Some(DatabaseEndpoint {
            host: "demo-db.abcdefghijkl.us-east-1.rds.amazonaws.com".into(),
            port: 5432,
        }),
        security_groups: vec![],
        subnets: vec![],
        max_connections: MaxConnectionsSetting::EngineDefault,
        force_ssl: None,
        tags: BTreeMap::from([
            ("chainlink:stack".into(), "demo".into()),
            ("chainlink:role".into(), "db".into()),
        ]),
        cluster: None,
    }
}

fn notice(metric: &str) -> AlarmNotice {
    AlarmNotice {
        name: format!("demo-db-{metric}"),
        arn: None,
        changed_at: "2026-11-24T11:59:00.000+0000".into(),
        metrics: vec![AlarmMetric {
            namespace: "AWS/RDS".into(),
            name: metric.into(),
            dimensions: BTreeMap::from([("DBInstanceIdentifier".into(), "demo-db".into())]),
        }],
    }
}

struct Case {
    policy: DatabasePolicy,
    db: ObservedDatabase,
    history: Vec<RemediationRecord>,
    now: DateTime<Utc>,
}

fn case() -> Case {
    Case {
        policy: policy(),
        db: db(),
        history: vec![],
        now: now(),
    }
}

impl Case {
    fn plan(&self, remediation: Remediation) -> DatabasePlan {
        let file = sample();
        let limits = file.instances.unwrap_or_else(|| panic!("[instances]"));
        let metric = match remediation {
            Remediation::GrowStorage => "FreeStorageSpace",
            Remediation::ScaleClass => "CPUUtilization",
            _ => "DatabaseConnections",
        };
        let notice = notice(metric);
        plan_database_remediation(DatabaseInputs {
            policy: &self.policy,
            limits: &limits,
            notice: &notice,
            remediation,
            stack: &StackName::new("demo"),
            database: &self.db,
            history: &self.history,
            connections: None,
            now: self.now,
        })
    }
}

fn refused(plan: &DatabasePlan) -> &str {
    match &plan.decision {
        Decision::Refused(reason) => reason,
        other => panic!("expected a refusal, got {other:?}: {:?}", plan.actions),
    }
}

fn no_action(plan: &DatabasePlan) -> &str {
    match &plan.decision {
        Decision::NoAction(reason) => reason,
        other => panic!("expected no action, got {other:?}: {:?}", plan.actions),
    }
}

fn change(plan: &DatabasePlan) -> &DatabaseAction {
    assert_eq!(plan.decision, Decision::Act, "{plan}");
    assert!(matches!(
        plan.actions.first(),
        Some(DatabaseAction::RecordRemediation { .. })
    ));
    assert_eq!(plan.actions.len(), 2, "{plan}");
    &plan.actions[1]
}

fn storage_to(plan: &DatabasePlan) -> u32 {
    match change(plan) {
        DatabaseAction::GrowStorage { to_gib, .. } => *to_gib,
        other => panic!("{other:?}"),
    }
}

// ---- storage -----------------------------------------------------------------------------

#[test]
fn storage_grows_by_the_step_rounded_up_and_at_least_ten_percent() {
    let mut c = case();
    assert_eq!(storage_to(&c.plan(Remediation::GrowStorage)), 120);
    c.db.allocated_storage_gib = 101;
    // 20 % of 101 = 20.2 → 21.
    assert_eq!(storage_to(&c.plan(Remediation::GrowStorage)), 122);
    c.policy.storage_step_percent = 5; // below AWS's minimum: 10 % applies
    c.db.allocated_storage_gib = 100;
    assert_eq!(storage_to(&c.plan(Remediation::GrowStorage)), 110);
}

#[test]
fn storage_stops_at_the_cap() {
    let mut c = case();
    c.db.allocated_storage_gib = 450; // +20 % = 540, capped at 500 (+11 %)
    assert_eq!(storage_to(&c.plan(Remediation::GrowStorage)), 500);
    c.db.allocated_storage_gib = 460; // 10 % = 506 > 500: AWS would refuse 500
    let reason = refused(&c.plan(Remediation::GrowStorage)).to_string();
    assert!(
        reason.contains("cap is 500 GiB") && reason.contains("506"),
        "{reason}"
    );
    c.db.allocated_storage_gib = 500;
    assert!(refused(&c.plan(Remediation::GrowStorage)).contains("cap"));
}

#[test]
fn storage_waits_six_hours_after_the_last_change() {
    let mut c = case();
    c.db.storage_modified_at = Some(now() - Duration::hours(6) + Duration::seconds(1));
    let reason = refused(&c.plan(Remediation::GrowStorage)).to_string();
    assert!(
        reason.contains("within 6 hours") && reason.contains("possible from 2026-11-24T12:00:01Z"),
        "{reason}"
    );
    c.db.storage_modified_at = Some(now() - Duration::hours(6));
    assert_eq!(storage_to(&c.plan(Remediation::GrowStorage)), 120);
    // Our own growth, recorded on the instance, counts too (the events may be gone).
    let record = format!(
        "grow_storage at={} incident=0011223344556677",
        (now() - Duration::hours(5)).to_rfc3339()
    );
    c.db.storage_modified_at = None;
    c.db.tags.insert(REMEDIATION_TAG.into(), record);
    let mut after_cooldown = c;
    after_cooldown.policy.storage_step_percent = 20;
    let reason = refused(&after_cooldown.plan(Remediation::GrowStorage)).to_string();
    assert!(reason.contains("within 6 hours"), "{reason}");
}

#[test]
fn storage_waits_for_the_optimization_to_finish() {
    let mut c = case();
    c.db.status = "storage-optimization".into();
    c.db.storage_modified_at = Some(now() - Duration::hours(2));
    let reason = refused(&c.plan(Remediation::GrowStorage)).to_string();
    assert!(
        reason.contains("optimizing") && reason.contains("not before 2026-11-24T16:00:00Z"),
        "{reason}"
    );
    c.db.storage_modified_at = Some(now() - Duration::hours(30));
    let reason = refused(&c.plan(Remediation::GrowStorage)).to_string();
    assert!(
        reason.contains("once the optimization finishes") && !reason.contains("not before"),
        "{reason}"
    );
}

#[test]
fn the_ceiling_is_raised_when_the_file_prefers_it() {
    let mut c = case();
    c.policy.prefer_autoscaling_ceiling = true;
    match change(&c.plan(Remediation::GrowStorage)) {
        DatabaseAction::RaiseStorageCeiling {
            from_gib, to_gib, ..
        } => assert_eq!((*from_gib, *to_gib), (None, 120)),
        other => panic!("{other:?}"),
    }
    c.db.max_allocated_storage_gib = Some(105); // too little room for autoscaling's 10 GiB
    match change(&c.plan(Remediation::GrowStorage)) {
        DatabaseAction::RaiseStorageCeiling {
            from_gib, to_gib, ..
        } => assert_eq!((*from_gib, *to_gib), (Some(105), 126)),
        other => panic!("{other:?}"),
    }
    c.db.max_allocated_storage_gib = Some(200);
    assert!(no_action(&c.plan(Remediation::GrowStorage)).contains("autoscales"));
    c.db.max_allocated_storage_gib = Some(500);
    c.db.allocated_storage_gib = 495;
    assert!(refused(&c.plan(Remediation::GrowStorage)).contains("cap is 500 GiB"));
}

// ---- pending modifications ----------------------------------------------------------------

#[test]
fn a_pending_modification_is_refused_or_applied_with_the_change_and_said() {
    let mut c = case();
    c.db.pending = PendingModifications {
        class: Some("db.m6i.xlarge".into()),
        allocated_storage_gib: None,
        other: vec!["EngineVersion".into()],
    };
    let reason = refused(&c.plan(Remediation::GrowStorage)).to_string();
    assert!(
        reason.contains("class db.m6i.xlarge, EngineVersion")
            && reason.contains("ApplyImmediately"),
        "{reason}"
    );
    c.policy.pending_modifications = PendingPolicy::ApplyWith;
    let plan = c.plan(Remediation::GrowStorage);
    let action = change(&plan);
    assert_eq!(
        action.precondition().map(|p| p.pending.clone()),
        Some(c.db.pending.clone())
    );
    let text = action.to_string();
    assert!(
        text.contains(
            "also applies now the pending modifications (class db.m6i.xlarge, EngineVersion)"
        ),
        "{text}"
    );
    // The same class change already pending: nothing to add.
    let reason = no_action(&c.plan(Remediation::ScaleClass)).to_string();
    assert!(reason.contains("already pending"), "{reason}");
}

// ---- class -------------------------------------------------------------------------------

fn scale(c: &Case) -> (String, ApplyTiming) {
    match change(&c.plan(Remediation::ScaleClass)) {
        DatabaseAction::ScaleClass { to, apply, .. } => (to.to_string(), *apply),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_class_change_is_immediate_only_on_multi_az_or_with_downtime_allowed() {
    let mut c = case();
    assert_eq!(
        scale(&c),
        ("db.m6i.xlarge".into(), ApplyTiming::MaintenanceWindow)
    );
    let text = c.plan(Remediation::ScaleClass).to_string();
    assert!(
        text.contains("in its next maintenance window (sun:05:00-sun:06:00)"),
        "{text}"
    );
    c.db.multi_az = true;
    assert_eq!(scale(&c).1, ApplyTiming::Immediately);
    assert!(c
        .plan(Remediation::ScaleClass)
        .to_string()
        .contains("Multi-AZ failover"));
    c.db.multi_az = false;
    c.policy.allow_downtime = true;
    assert_eq!(scale(&c).1, ApplyTiming::Immediately);
    assert!(c
        .plan(Remediation::ScaleClass)
        .to_string()
        .contains("minutes of downtime"));
}

#[test]
fn the_top_of_the_ladder_and_a_class_off_it_are_refused() {
    let mut c = case();
    c.db.class = "db.m6i.2xlarge".into();
    assert!(refused(&c.plan(Remediation::ScaleClass)).contains("top of the ladder"));
    c.db.class = "db.r6i.large".into();
    assert!(refused(&c.plan(Remediation::ScaleClass)).contains("not on the ladder"));
}

#[test]
fn the_status_must_be_available() {
    let mut c = case();
    c.db.status = "modifying".into();
    assert!(no_action(&c.plan(Remediation::ScaleClass)).contains("is modifying"));
    assert!(no_action(&c.plan(Remediation::GrowStorage)).contains("is modifying"));
}

#[test]
fn the_precondition_is_what_the_plan_saw() {
    let c = case();
    let plan = c.plan(Remediation::ScaleClass);
    let precondition = change(&plan)
        .precondition()
        .expect("a precondition")
        .clone();
    assert_eq!(precondition.check(&c.db), Ok(()));
    let mut resized = c.db.clone();
    resized.class = "db.m6i.xlarge".into();
    resized.pending.other.push("MultiAZ".into());
    let error = precondition.check(&resized).unwrap_err();
    assert!(
        error.contains("class db.m6i.xlarge (planned with db.m6i.large)")
            && error.contains("pending modifications: MultiAZ"),
        "{error}"
    );
    let mut busy = c.db.clone();
    busy.status = "storage-optimization".into();
    busy.allocated_storage_gib = 120;
    let error = precondition.check(&busy).unwrap_err();
    assert!(error.contains("120 GiB") && error.contains("status storage-optimization"));
}

// ---- ownership, incidents, cooldown, limits -------------------------------------------------

#[test]
fn a_database_of_another_stack_or_role_is_refused() {
    let mut c = case();
    c.db.tags.insert("chainlink:stack".into(), "other".into());
    assert!(refused(&c.plan(Remediation::GrowStorage)).contains("chainlink:stack = other"));
    c.db.tags.remove("chainlink:stack");
    assert!(refused(&c.plan(Remediation::GrowStorage)).contains("no chainlink:stack"));
    let mut c = case();
    c.db.tags.insert("chainlink:role".into(), "node".into());
    assert!(refused(&c.plan(Remediation::GrowStorage)).contains("chainlink:role = db"));
}

#[test]
fn an_incident_is_handled_once_and_the_cooldown_applies() {
    let mut c = case();
    let first = c.plan(Remediation::GrowStorage);
    let DatabaseAction::RecordRemediation { record, .. } = &first.actions[0] else {
        panic!("{first}");
    };
    let parsed = RemediationRecord::parse(record).expect("our own record parses");
    assert_eq!(parsed.remediation, Remediation::GrowStorage);
    c.history.push(parsed);
    assert!(no_action(&c.plan(Remediation::GrowStorage)).contains("already handled"));
    let mut c = case();
    let earlier = format!(
        "scale_class at={} incident=ffeeddccbbaa9988",
        (now() - Duration::minutes(30)).to_rfc3339()
    );
    c.db.tags.insert(REMEDIATION_TAG.into(), earlier);
    assert!(no_action(&c.plan(Remediation::ScaleClass)).contains("cooling down"));
}

#[test]
fn class_changes_count_against_the_hourly_limit() {
    let mut c = case();
    for minutes in [10, 40] {
        c.history.push(
            RemediationRecord::parse(&format!(
                "scale_class at={} incident=00000000000000{minutes}",
                (now() - Duration::minutes(minutes)).to_rfc3339()
            ))
            .expect("record"),
        );
    }
    assert!(refused(&c.plan(Remediation::ScaleClass)).contains("max_resizes_per_hour"));
}

#[test]
fn a_connections_alarm_changes_nothing() {
    let plan = case().plan(Remediation::ReportConnections);
    assert!(plan.actions.is_empty());
    assert!(no_action(&plan).contains("changes nothing"));
}

// ---- checks ------------------------------------------------------------------------------

fn params(url: &str) -> Vec<(String, SecretValue)> {
    vec![("DATABASE_URL".to_string(), SecretValue::new(url))]
}

fn codes(database: &ObservedDatabase, url: &str, production: bool) -> Vec<FindingCode> {
    let found = check_database(database, &endpoints(&params(url)), &policy(), production);
    for finding in &found {
        assert!(!finding.message.contains("s3cret"), "{finding}");
    }
    found.iter().map(|f| f.code).collect()
}

#[test]
fn the_url_must_point_at_the_stacks_database() {
    let mut database = db();
    database.max_allocated_storage_gib = Some(500);
    let endpoint = "demo-db.abcdefghijkl.us-east-1.rds.amazonaws.com";
    let cases = [
        (
            format!("postgresql://cl:s3cret@{endpoint}:5432/cl?sslmode=require"),
            vec![],
        ),
        (
            format!(
                "postgresql://cl:s3cret@{}/cl?sslmode=require",
                endpoint.to_uppercase()
            ),
            vec![],
        ),
        (
            "postgresql://cl:s3cret@db.prod.demo.internal/cl?sslmode=require".to_string(),
            vec![],
        ),
        (
            "postgresql://cl:s3cret@db.dev.demo.internal/cl?sslmode=require".to_string(),
            vec![FindingCode::DatabaseUrlOtherHost],
        ),
        (
            format!("postgresql://cl:s3cret@{endpoint}:6432/cl?sslmode=require"),
            vec![FindingCode::DatabaseUrlOtherPort],
        ),
        (
            "postgresql://cl:s3cret@db.prod.demo.internal:5433/cl?sslmode=require".to_string(),
            vec![FindingCode::DatabaseUrlOtherPort],
        ),
    ];
    for (url, expected) in cases {
        assert_eq!(codes(&database, &url, true), expected, "{url}");
    }
    let found = check_database(
        &database,
        &endpoints(&params(
            "postgresql://cl:s3cret@db.dev.demo.internal/cl?sslmode=require",
        )),
        &policy(),
        true,
    );
    let message = &found[0].message;
    assert!(
        message.contains("db.dev.demo.internal") && message.contains(endpoint),
        "{message}"
    );
    assert_eq!(found[0].parameter, "DATABASE_URL");
    assert_eq!(found[0].severity, Severity::Critical);
}

#[test]
fn force_ssl_against_the_urls_sslmode() {
    let mut database = db(); // PostgreSQL 16: rds.force_ssl defaults to on
    database.max_allocated_storage_gib = Some(500);
    let url = |mode: &str| format!("postgresql://cl:s3cret@db.prod.demo.internal/cl{mode}");
    for (mode, expected) in [
        ("?sslmode=require", vec![]),
        ("?sslmode=verify-full", vec![]),
        ("?sslmode=disable", vec![FindingCode::DatabaseSslRefused]),
        ("?sslmode=prefer", vec![FindingCode::DatabaseSslNotRequired]),
        ("?sslmode=allow", vec![FindingCode::DatabaseSslNotRequired]),
        ("", vec![FindingCode::DatabaseSslNotRequired]),
    ] {
        assert_eq!(codes(&database, &url(mode), false), expected, "{mode}");
    }
    // PostgreSQL 14 defaults to off: nothing to refuse, but production warns.
    database.engine_version = "14.12".into();
    assert_eq!(codes(&database, &url(""), false), vec![]);
    assert_eq!(
        codes(&database, &url(""), true),
        vec![FindingCode::DatabaseForceSslOff]
    );
    database.force_ssl = Some(true);
    assert_eq!(
        codes(&database, &url("?sslmode=disable"), true),
        vec![FindingCode::DatabaseSslRefused]
    );
}

#[test]
fn storage_autoscaling_off_is_a_production_warning() {
    let database = db();
    let url = "postgresql://cl:s3cret@db.prod.demo.internal/cl?sslmode=require";
    assert_eq!(codes(&database, url, false), vec![]);
    assert_eq!(
        codes(&database, url, true),
        vec![FindingCode::DatabaseStorageAutoscalingOff]
    );
}

#[test]
fn a_backup_url_may_point_elsewhere() {
    let mut database = db();
    database.max_allocated_storage_gib = Some(500);
    let params = vec![
        (
            "DATABASE_URL".to_string(),
            SecretValue::new("postgresql://cl:s3cret@db.prod.demo.internal/cl?sslmode=require"),
        ),
        (
            "DATABASE_BACKUP_URL".to_string(),
            SecretValue::new("postgresql://cl:s3cret@replica.internal/cl"),
        ),
    ];
    assert!(check_database(&database, &endpoints(&params), &policy(), true).is_empty());
}

// ---- the connection limit --------------------------------------------------------------

#[test]
fn the_databases_limit_feeds_the_connection_check() {
    let mut database = db(); // db.m6i.large, default formula: at most 901
    let resolved = resolve_connection_limit(&database, None);
    assert_eq!(resolved.connections, Some(901));
    assert!(resolved.findings.is_empty());
    // Under the formula's bound, the declared (measured) value wins quietly.
    assert_eq!(
        resolve_connection_limit(&database, Some(800)).connections,
        Some(800)
    );
    // Over it, it cannot be right.
    let over = resolve_connection_limit(&database, Some(1000));
    assert_eq!(over.connections, Some(901));
    assert_eq!(over.findings[0].code, FindingCode::DatabaseLimitDisagrees);
    // A number in the parameter group is exact and wins.
    database.max_connections = MaxConnectionsSetting::Number(200);
    let exact = resolve_connection_limit(&database, Some(100));
    assert_eq!(exact.connections, Some(200));
    assert!(exact.findings[0]
        .message
        .contains("declares a connection limit of 100"));
    assert!(resolve_connection_limit(&database, Some(200))
        .findings
        .is_empty());
    // Unknown: the declared one stays, with a finding.
    database.max_connections = MaxConnectionsSetting::EngineDefault;
    database.class = "db.x2iedn.large".into();
    let unknown = resolve_connection_limit(&database, Some(100));
    assert_eq!(unknown.connections, Some(100));
    assert_eq!(unknown.findings[0].code, FindingCode::DatabaseLimitUnknown);
    assert_eq!(resolve_connection_limit(&database, None).connections, None);
}

#[test]
fn a_connections_alarm_compares_the_pools_with_the_limit() {
    let database = db();
    let demand = connection_demand(&[(
        "config.toml".to_string(),
        SecretValue::new("[Database]\nMaxOpenConns = 40\n"),
    )])
    .expect("a v2 configuration");
    let within = connections_finding(&database, &demand, 2, 100);
    assert_eq!(within.code, FindingCode::DatabaseConnectionsWithinLimit);
    assert!(within
        .message
        .contains("2 node(s) × Database.MaxOpenConns 40 = 80 connections of 100"));
    let over = connections_finding(&database, &demand, 3, 100);
    assert_eq!(over.code, FindingCode::DatabaseConnectionsOverLimit);
    assert!(
        over.message.contains("at most 33 per node"),
        "{}",
        over.message
    );
}

// ---- Aurora: observed and checked, never changed ------------------------------------------

/// A member of an Aurora PostgreSQL cluster: clients use the cluster's endpoints.
fn aurora_member() -> ObservedDatabase {
    let mut database = db();
    database.engine = "aurora-postgresql".into();
    database.class = "db.r6g.large".into();
    database.cluster = Some(domain::database::DatabaseCluster {
        id: "demo-cluster".into(),
        hosts: vec![
            "demo-cluster.cluster-abcdefghijkl.us-east-1.rds.amazonaws.com".into(),
            "demo-cluster.cluster-ro-abcdefghijkl.us-east-1.rds.amazonaws.com".into(),
        ],
        port: Some(5432),
    });
    database
}

#[test]
fn an_aurora_url_names_the_clusters_endpoints_and_no_storage_threshold_is_asked_for() {
    let database = aurora_member();
    for host in [
        "demo-cluster.cluster-abcdefghijkl.us-east-1.rds.amazonaws.com",
        "demo-cluster.cluster-ro-abcdefghijkl.us-east-1.rds.amazonaws.com",
        "demo-db.abcdefghijkl.us-east-1.rds.amazonaws.com",
    ] {
        let url = format!("postgresql://cl:s3cret@{host}:5432/cl?sslmode=require");
        assert_eq!(codes(&database, &url, true), vec![], "{url}");
    }
    let other =
        "postgresql://cl:s3cret@other.cluster-x.us-east-1.rds.amazonaws.com/cl?sslmode=require";
    let found = check_database(&database, &endpoints(&params(other)), &policy(), true);
    assert_eq!(
        found.iter().map(|f| f.code).collect::<Vec<_>>(),
        [FindingCode::DatabaseUrlOtherHost]
    );
    assert!(
        found[0]
            .message
            .contains("cluster demo-cluster: demo-cluster.cluster-abcdefghijkl"),
        "{}",
        found[0].message
    );
}

#[test]
fn an_aurora_member_is_never_modified() {
    let mut c = case();
    c.db = aurora_member();
    c.policy.ladder = vec![
        DbInstanceClass::parse("db.r6g.large").unwrap_or_else(|e| panic!("{e:?}")),
        DbInstanceClass::parse("db.r6g.xlarge").unwrap_or_else(|e| panic!("{e:?}")),
    ];
    for remediation in [Remediation::GrowStorage, Remediation::ScaleClass] {
        let plan = c.plan(remediation);
        assert!(
            refused(&plan).contains("Aurora cluster demo-cluster"),
            "{plan}"
        );
        assert!(plan.actions.is_empty());
    }
    assert!(no_action(&c.plan(Remediation::ReportConnections)).contains("connections"));
}
