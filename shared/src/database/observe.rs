//! Reads the stack's DB instance: one paged `DescribeDBInstances` per run (which carries each
//! instance's tags, so no tagging call is needed: one call for up to 100 instances of the
//! region, where the Resource Groups Tagging API would take one to find the ARN and another to
//! describe it), the endpoints of the Aurora clusters when an instance is a member (one paged
//! `DescribeDBClusters`), then the parameters its group sets (`DescribeDBParameters` with
//! `Source = user`: only what differs from the engine's defaults, usually one page).

use crate::aws::sdk_error;
use aws_sdk_rds::types::{DbInstance, SourceType, Tag};
use aws_sdk_rds::Client;
use chrono::{DateTime, Duration, Utc};
use domain::database::plan::STORAGE_CHANGE_INTERVAL_HOURS;
use domain::database::{
    DatabaseCluster, DatabaseEndpoint, MaxConnectionsSetting, ObservedDatabase,
    PendingModifications,
};
use domain::ids::{
    DbInstanceArn, DbInstanceId, RoleName, SecurityGroupId, StackName, SubnetId, ROLE_TAG,
    STACK_TAG,
};
use domain::Error;
use std::collections::BTreeMap;
use tokio::sync::OnceCell;

/// RDS's largest page.
const PAGE_SIZE: i32 = 100;

/// The region's DB instances with their parameter groups' names, as one paged
/// `DescribeDBInstances` lists them: read at most once per run, on the first stack that needs
/// it, so a sweep of many stacks lists the region once.
#[derive(Debug, Default)]
pub(crate) struct RegionDatabases(OnceCell<Vec<(ObservedDatabase, Option<String>)>>);

impl RegionDatabases {
    pub(crate) async fn get(
        &self,
        rds: &Client,
    ) -> Result<&[(ObservedDatabase, Option<String>)], Error> {
        self.0
            .get_or_try_init(|| list_databases(rds))
            .await
            .map(Vec::as_slice)
    }
}

async fn list_databases(rds: &Client) -> Result<Vec<(ObservedDatabase, Option<String>)>, Error> {
    let mut pages = rds
        .describe_db_instances()
        .into_paginator()
        .page_size(PAGE_SIZE)
        .send();
    let mut found = Vec::new();
    let mut members = BTreeMap::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| sdk_error("DescribeDBInstances", e))?;
        for instance in page.db_instances() {
            if let Some(observed) = observe(instance, tags(instance.tag_list())) {
                let group = instance
                    .db_parameter_groups()
                    .first()
                    .and_then(|g| g.db_parameter_group_name())
                    .map(String::from);
                if let Some(cluster) = instance.db_cluster_identifier() {
                    members.insert(found.len(), cluster.to_string());
                }
                found.push((observed, group));
            }
        }
    }
    // Aurora members answer at their cluster's endpoints: one more paged call, made only when
    // the region has a cluster member.
    if !members.is_empty() {
        let clusters = list_clusters(rds).await?;
        for (at, id) in members {
            found[at].0.cluster = Some(clusters.get(&id).cloned().unwrap_or(DatabaseCluster {
                id,
                hosts: Vec::new(),
                port: None,
            }));
        }
    }
    Ok(found)
}

/// The region's Aurora clusters by identifier, with their endpoints.
async fn list_clusters(rds: &Client) -> Result<BTreeMap<String, DatabaseCluster>, Error> {
    let mut pages = rds
        .describe_db_clusters()
        .into_paginator()
        .page_size(PAGE_SIZE)
        .send();
    let mut clusters = BTreeMap::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| sdk_error("DescribeDBClusters", e))?;
        for cluster in page.db_clusters() {
            let Some(id) = cluster.db_cluster_identifier() else {
                continue;
            };
            let hosts = [cluster.endpoint(), cluster.reader_endpoint()]
                .into_iter()
                .flatten()
                .map(String::from)
                .chain(cluster.custom_endpoints().iter().cloned())
                .collect();
            let port = cluster.port().and_then(|p| u16::try_from(p).ok());
            let id = id.to_string();
            clusters.insert(id.clone(), DatabaseCluster { id, hosts, port });
        }
    }
    Ok(clusters)
}

/// The DB instances tagged into `stack` with `role`, in the order RDS lists them, with the
/// settings of their parameter groups.
pub(crate) async fn read_stack_databases(
    rds: &Client,
    region: &RegionDatabases,
    stack: &StackName,
    role: &RoleName,
) -> Result<Vec<ObservedDatabase>, Error> {
    let mut databases = Vec::new();
    for (database, group) in region.get(rds).await? {
        let tag = |key: &str| database.tags.get(key).map(String::as_str);
        if tag(STACK_TAG) != Some(stack.as_str()) || tag(ROLE_TAG) != Some(role.as_str()) {
            continue;
        }
        let mut database = database.clone();
        if let Some(group) = group {
            read_settings(rds, group, &mut database).await?;
        }
        databases.push(database);
    }
    Ok(databases)
}

/// The DB instance `id` as RDS describes it now, without its parameter group's settings (what
/// an action's precondition compares); `None` when it does not exist.
pub(crate) async fn read_database(
    rds: &Client,
    id: &DbInstanceId,
) -> Result<Option<ObservedDatabase>, Error> {
    let answer = rds
        .describe_db_instances()
        .db_instance_identifier(id.as_str())
        .send()
        .await;
    let page = match answer {
        Ok(page) => page,
        Err(error) => {
            let not_found = error
                .as_service_error()
                .is_some_and(|e| e.is_db_instance_not_found_fault());
            if not_found {
                return Ok(None);
            }
            return Err(sdk_error("DescribeDBInstances", error));
        }
    };
    Ok(page
        .db_instances()
        .iter()
        .find(|instance| instance.db_instance_identifier() == Some(id.as_str()))
        .and_then(|instance| observe(instance, tags(instance.tag_list()))))
}

/// How a configuration-change event tells a storage modification: DescribeEvents carries no
/// field for what was modified, only the message. RDS's are "Applying modification to
/// allocated storage." (RDS-EVENT-0018), "Finished applying modification to allocated
/// storage." (RDS-EVENT-0017) and their "autoscaling-initiated" forms (RDS-EVENT-0217/0218);
/// "Allocated storage has been exhausted" is a `low storage` event, not asked for.
const STORAGE_MODIFICATION: &str = "modification to allocated storage";

/// When the storage of `id` was last modified within the six hours before `now`, from RDS's
/// configuration-change events: the only window the six-hour rule looks at, so the query asks
/// for no more (one page).
pub(crate) async fn last_storage_change(
    rds: &Client,
    id: &DbInstanceId,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, Error> {
    let window = Duration::hours(STORAGE_CHANGE_INTERVAL_HOURS);
    let since = aws_smithy_types::DateTime::from_secs((now - window).timestamp());
    let mut pages = rds
        .describe_events()
        .source_type(SourceType::DbInstance)
        .source_identifier(id.as_str())
        .event_categories("configuration change")
        .start_time(since)
        .into_paginator()
        .page_size(PAGE_SIZE)
        .send();
    let mut last = None;
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| sdk_error("DescribeEvents", e))?;
        for event in page.events() {
            let about_storage = event
                .message()
                .is_some_and(|m| m.to_ascii_lowercase().contains(STORAGE_MODIFICATION));
            let at = event
                .date()
                .and_then(|d| DateTime::<Utc>::from_timestamp(d.secs(), d.subsec_nanos()));
            if let (true, Some(at)) = (about_storage, at) {
                last = last.max(Some(at));
            }
        }
    }
    Ok(last)
}

fn tags(list: &[Tag]) -> BTreeMap<String, String> {
    list.iter()
        .filter_map(|t| {
            Some((
                t.key()?.to_string(),
                t.value().unwrap_or_default().to_string(),
            ))
        })
        .collect()
}

/// The instance as the model holds it; `None` for an answer without an identifier or ARN.
pub(crate) fn observe(
    instance: &DbInstance,
    tags: BTreeMap<String, String>,
) -> Option<ObservedDatabase> {
    let whole = |n: Option<i32>| n.and_then(|n| u32::try_from(n).ok());
    let pending = instance.pending_modified_values();
    let other_pending = pending
        .map(|p| {
            [
                ("EngineVersion", p.engine_version().is_some()),
                ("MultiAZ", p.multi_az().is_some()),
                ("MasterUserPassword", p.master_user_password().is_some()),
                ("StorageType", p.storage_type().is_some()),
                ("Iops", p.iops().is_some()),
                ("Port", p.port().is_some()),
                (
                    "BackupRetentionPeriod",
                    p.backup_retention_period().is_some(),
                ),
            ]
            .into_iter()
            .filter(|(_, pending)| *pending)
            .map(|(name, _)| name.to_string())
            .collect()
        })
        .unwrap_or_default();
    Some(ObservedDatabase {
        id: DbInstanceId::parse(instance.db_instance_identifier()?)?,
        arn: DbInstanceArn::parse(instance.db_instance_arn()?)?,
        engine: instance.engine().unwrap_or_default().to_string(),
        engine_version: instance.engine_version().unwrap_or_default().to_string(),
        class: instance.db_instance_class().unwrap_or_default().to_string(),
        allocated_storage_gib: whole(instance.allocated_storage()).unwrap_or_default(),
        max_allocated_storage_gib: whole(instance.max_allocated_storage()),
        storage_type: instance.storage_type().unwrap_or_default().to_string(),
        iops: whole(instance.iops()),
        multi_az: instance.multi_az().unwrap_or(false),
        status: instance
            .db_instance_status()
            .unwrap_or_default()
            .to_string(),
        pending: PendingModifications {
            class: pending
                .and_then(|p| p.db_instance_class())
                .map(String::from),
            allocated_storage_gib: whole(pending.and_then(|p| p.allocated_storage())),
            other: other_pending,
        },
        maintenance_window: instance.preferred_maintenance_window().map(String::from),
        // Only a storage remediation needs it (from DescribeEvents); the checks do not.
        storage_modified_at: None,
        endpoint: instance.endpoint().and_then(|e| {
            Some(DatabaseEndpoint {
                host: e.address()?.to_string(),
                port: u16::try_from(e.port()?).ok()?,
            })
        }),
        security_groups: instance
            .vpc_security_groups()
            .iter()
            .filter_map(|g| g.vpc_security_group_id())
            .map(SecurityGroupId::new)
            .collect(),
        subnets: instance
            .db_subnet_group()
            .map(|g| {
                g.subnets()
                    .iter()
                    .filter_map(|s| s.subnet_identifier())
                    .map(SubnetId::new)
                    .collect()
            })
            .unwrap_or_default(),
        max_connections: MaxConnectionsSetting::from_parameter_value(None),
        force_ssl: None,
        tags,
        cluster: None,
    })
}

/// `max_connections` and `rds.force_ssl` from the instance's parameter group `group`, when
/// set there.
pub(crate) async fn read_settings(
    rds: &Client,
    group: &str,
    database: &mut ObservedDatabase,
) -> Result<(), Error> {
    let mut pages = rds
        .describe_db_parameters()
        .db_parameter_group_name(group)
        .source("user")
        .into_paginator()
        .page_size(PAGE_SIZE)
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| sdk_error("DescribeDBParameters", e))?;
        for parameter in page.parameters() {
            match parameter.parameter_name() {
                Some("max_connections") => {
                    database.max_connections =
                        MaxConnectionsSetting::from_parameter_value(parameter.parameter_value());
                }
                Some("rds.force_ssl") => {
                    database.force_ssl = parameter.parameter_value().map(|v| v.trim() == "1");
                }
                _ => {}
            }
        }
    }
    Ok(())
}
