//! Instances and Auto Scaling groups of a stack, seeded through the SDK, for the instance
//! function's tests; and clients whose calls moto lacks are answered by `aws-smithy-mocks`
//! rules, every other call passing through to the emulator.

use crate::Moto;
use aws_sdk_ec2::types::{InstanceType, ResourceType, Tag, TagSpecification};
use aws_smithy_mocks::{MockResponseInterceptor, Rule, RuleMode};
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use domain::ids::{SecurityGroupId, ROLE_TAG, STACK_TAG};
use shared::aws::Clients;
use std::sync::Arc;

/// A subnet in `zone` of a fresh VPC.
pub async fn subnet(ec2: &aws_sdk_ec2::Client, zone: &str) -> String {
    let vpc = crate::seed::vpc(ec2, "10.30.0.0/16").await;
    let created = ec2
        .create_subnet()
        .vpc_id(vpc)
        .cidr_block("10.30.1.0/24")
        .availability_zone(zone)
        .send()
        .await
        .unwrap_or_else(|e| panic!("create subnet: {e:?}"));
    created
        .subnet()
        .and_then(|s| s.subnet_id())
        .unwrap_or_default()
        .to_string()
}

/// A running instance of `instance_type` tagged into `stack` with `role`.
pub async fn node(
    ec2: &aws_sdk_ec2::Client,
    subnet: &str,
    stack: &str,
    role: &str,
    instance_type: &str,
) -> String {
    launch(ec2, subnet, None, stack, role, instance_type).await
}

/// A running instance in `subnet`, wearing `group` if given; returns its ID.
pub async fn launch(
    ec2: &aws_sdk_ec2::Client,
    subnet: &str,
    group: Option<&SecurityGroupId>,
    stack: &str,
    role: &str,
    instance_type: &str,
) -> String {
    let tags = TagSpecification::builder()
        .resource_type(ResourceType::Instance)
        .tags(Tag::builder().key(STACK_TAG).value(stack).build())
        .tags(Tag::builder().key(ROLE_TAG).value(role).build())
        .build();
    // Its volumes belong to the stack too: a volume is grown only if it carries the tag.
    let volume_tags = TagSpecification::builder()
        .resource_type(ResourceType::Volume)
        .tags(Tag::builder().key(STACK_TAG).value(stack).build())
        .build();
    let run = ec2
        .run_instances()
        .image_id("ami-12c6146b")
        .instance_type(InstanceType::from(instance_type))
        .min_count(1)
        .max_count(1)
        .subnet_id(subnet)
        .set_security_group_ids(group.map(|g| vec![g.as_str().to_string()]))
        .tag_specifications(tags)
        .tag_specifications(volume_tags)
        .send()
        .await
        .unwrap_or_else(|e| panic!("run instance: {e:?}"));
    run.instances()
        .first()
        .and_then(|i| i.instance_id())
        .unwrap_or_default()
        .to_string()
}

/// An instance, read back.
async fn describe(ec2: &aws_sdk_ec2::Client, id: &str) -> aws_sdk_ec2::types::Instance {
    let found = ec2
        .describe_instances()
        .instance_ids(id)
        .send()
        .await
        .unwrap_or_else(|e| panic!("describe {id}: {e:?}"));
    found
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .next()
        .cloned()
        .unwrap_or_else(|| panic!("no {id}"))
}

/// (state, type) of an instance, read back.
pub async fn state(ec2: &aws_sdk_ec2::Client, instance: &str) -> (String, String) {
    let instance = describe(ec2, instance).await;
    (
        instance
            .state()
            .and_then(|s| s.name())
            .map(|n| n.as_str().to_string())
            .unwrap_or_default(),
        instance
            .instance_type()
            .map(|t| t.as_str().to_string())
            .unwrap_or_default(),
    )
}

/// Resizes `instance` by hand, as an operator would: stop, change the type, start, each
/// waited for (the emulator passes through `stopping` and `pending` as AWS does).
pub async fn set_instance_type(ec2: &aws_sdk_ec2::Client, instance: &str, instance_type: &str) {
    async fn wait_for(ec2: &aws_sdk_ec2::Client, instance: &str, wanted: &str) {
        for _ in 0..500 {
            if state(ec2, instance).await.0 == wanted {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!("{instance} never became {wanted}");
    }
    ec2.stop_instances()
        .instance_ids(instance)
        .send()
        .await
        .unwrap_or_else(|e| panic!("stop {instance}: {e:?}"));
    wait_for(ec2, instance, "stopped").await;
    ec2.modify_instance_attribute()
        .instance_id(instance)
        .instance_type(
            aws_sdk_ec2::types::AttributeValue::builder()
                .value(instance_type)
                .build(),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("modify {instance}: {e:?}"));
    ec2.start_instances()
        .instance_ids(instance)
        .send()
        .await
        .unwrap_or_else(|e| panic!("start {instance}: {e:?}"));
    wait_for(ec2, instance, "running").await;
}

/// Tags `instance` with `key` = `value`, as an operator's tooling would.
pub async fn tag_instance(ec2: &aws_sdk_ec2::Client, instance: &str, key: &str, value: &str) {
    ec2.create_tags()
        .resources(instance)
        .tags(
            aws_sdk_ec2::types::Tag::builder()
                .key(key)
                .value(value)
                .build(),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("tag {instance}: {e:?}"));
}

/// The value of a tag on an instance.
pub async fn instance_tag(ec2: &aws_sdk_ec2::Client, instance: &str, key: &str) -> Option<String> {
    describe(ec2, instance)
        .await
        .tags()
        .iter()
        .find(|t| t.key() == Some(key))
        .and_then(|t| t.value())
        .map(String::from)
}

/// The size in GiB of the instance's root volume.
pub async fn root_volume(ec2: &aws_sdk_ec2::Client, instance: &str) -> (String, i32) {
    let described = describe(ec2, instance).await;
    let root = described.root_device_name().unwrap_or_default();
    let volume = described
        .block_device_mappings()
        .iter()
        .find(|m| m.device_name() == Some(root))
        .and_then(|m| m.ebs()?.volume_id())
        .unwrap_or_else(|| panic!("{instance} has no root volume"))
        .to_string();
    let size = ec2
        .describe_volumes()
        .volume_ids(&volume)
        .send()
        .await
        .unwrap_or_else(|e| panic!("describe {volume}: {e:?}"))
        .volumes()
        .first()
        .and_then(|v| v.size())
        .unwrap_or_default();
    (volume, size)
}

/// An Auto Scaling group of `size` instances of `instance_type` from a new launch template,
/// both tagged into `stack`, the group with `role`. Returns the launch template ID.
pub async fn group(
    moto: &Moto,
    subnet: &str,
    name: &str,
    stack: &str,
    role: &str,
    instance_type: &str,
) -> String {
    let owners = Owners {
        group: Some(stack),
        template: Some(stack),
    };
    group_owned_by(moto, subnet, name, owners, role, instance_type).await
}

/// The `chainlink:stack` tags of a group and of its launch template (`None`: untagged).
#[derive(Clone, Copy, Debug)]
pub struct Owners<'a> {
    pub group: Option<&'a str>,
    pub template: Option<&'a str>,
}

/// [`group`], with the group and its template tagged into the stacks `owners` name.
pub async fn group_owned_by(
    moto: &Moto,
    subnet: &str,
    name: &str,
    owners: Owners<'_>,
    role: &str,
    instance_type: &str,
) -> String {
    let ec2 = moto.ec2().await;
    let template_tags = owners.template.map(|stack| {
        TagSpecification::builder()
            .resource_type(ResourceType::LaunchTemplate)
            .tags(Tag::builder().key(STACK_TAG).value(stack).build())
            .build()
    });
    let template = ec2
        .create_launch_template()
        .launch_template_name(format!("{name}-template"))
        .launch_template_data(
            aws_sdk_ec2::types::RequestLaunchTemplateData::builder()
                .image_id("ami-12c6146b")
                .instance_type(InstanceType::from(instance_type))
                .build(),
        )
        .set_tag_specifications(template_tags.map(|t| vec![t]))
        .send()
        .await
        .unwrap_or_else(|e| panic!("create launch template: {e:?}"));
    let template_id = template
        .launch_template()
        .and_then(|t| t.launch_template_id())
        .unwrap_or_default()
        .to_string();
    let tag = |key: &str, value: &str| {
        aws_sdk_autoscaling::types::Tag::builder()
            .resource_id(name)
            .resource_type("auto-scaling-group")
            .key(key)
            .value(value)
            .propagate_at_launch(true)
            .build()
    };
    moto.autoscaling()
        .await
        .create_auto_scaling_group()
        .auto_scaling_group_name(name)
        .launch_template(
            aws_sdk_autoscaling::types::LaunchTemplateSpecification::builder()
                .launch_template_id(&template_id)
                .version("$Latest")
                .build(),
        )
        .min_size(1)
        .max_size(3)
        .desired_capacity(1)
        .vpc_zone_identifier(subnet)
        .set_tags(Some(
            owners
                .group
                .map(|stack| tag(STACK_TAG, stack))
                .into_iter()
                .chain([tag(ROLE_TAG, role)])
                .collect(),
        ))
        .send()
        .await
        .unwrap_or_else(|e| panic!("create group {name}: {e:?}"));
    template_id
}

/// The first instance of a group.
pub async fn group_instance(moto: &Moto, name: &str) -> String {
    let described = moto
        .autoscaling()
        .await
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(name)
        .send()
        .await
        .unwrap_or_else(|e| panic!("describe {name}: {e:?}"));
    described
        .auto_scaling_groups()
        .first()
        .and_then(|g| g.instances().first())
        .and_then(|i| i.instance_id())
        .unwrap_or_else(|| panic!("group {name} has no instance"))
        .to_string()
}

/// (launch template version, health of each instance) of a group.
/// Group `name` as DescribeAutoScalingGroups gives it.
async fn describe_group(moto: &Moto, name: &str) -> aws_sdk_autoscaling::types::AutoScalingGroup {
    moto.autoscaling()
        .await
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(name)
        .send()
        .await
        .unwrap_or_else(|e| panic!("describe {name}: {e:?}"))
        .auto_scaling_groups()
        .first()
        .cloned()
        .unwrap_or_else(|| panic!("no group {name}"))
}

pub async fn group_state(moto: &Moto, name: &str) -> (String, Vec<(String, String)>) {
    let group = describe_group(moto, name).await;
    (
        group
            .launch_template()
            .and_then(|t| t.version())
            .unwrap_or_default()
            .to_string(),
        group
            .instances()
            .iter()
            .map(|i| {
                (
                    i.instance_id().unwrap_or_default().to_string(),
                    i.health_status().unwrap_or_default().to_string(),
                )
            })
            .collect(),
    )
}

/// What group `name` launches: the launch template version it asks for (its own or its
/// mixed-instances policy's), and the instance types that policy overrides (none: the
/// template's).
pub async fn group_launches(moto: &Moto, name: &str) -> (String, Vec<String>) {
    let group = describe_group(moto, name).await;
    let mixed = group
        .mixed_instances_policy()
        .and_then(|p| p.launch_template());
    let version = group
        .launch_template()
        .or_else(|| mixed.and_then(|t| t.launch_template_specification()))
        .and_then(|t| t.version())
        .unwrap_or_default()
        .to_string();
    let overrides = mixed
        .map(|t| {
            t.overrides()
                .iter()
                .filter_map(|o| o.instance_type().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    (version, overrides)
}

/// How many versions launch template `id` has.
pub async fn template_versions(moto: &Moto, id: &str) -> usize {
    moto.ec2()
        .await
        .describe_launch_template_versions()
        .launch_template_id(id)
        .send()
        .await
        .unwrap_or_else(|e| panic!("describe versions of {id}: {e:?}"))
        .launch_template_versions()
        .len()
}

/// Engine clients for `moto` in which the `mocked` EC2 and Auto Scaling actions (those moto
/// does not implement) are answered by the `aws-smithy-mocks` `rules`; every other call reaches
/// the emulator. AWS's refusals of calls moto does implement are injected on the wire instead,
/// by the fault proxy (`Fault::Refuse`).
pub async fn clients_with(moto: &Moto, mocked: &[&'static str], rules: &[&Rule]) -> Clients {
    let config = moto.sdk_config().await;
    routed_clients(Clients::new(&config), mocked, rules)
}

/// `clients` with the `mocked` EC2 and Auto Scaling actions answered by `rules`; every other
/// call goes where it went before.
pub fn routed_clients(clients: Clients, mocked: &[&'static str], rules: &[&Rule]) -> Clients {
    let real = clients
        .ec2
        .config()
        .http_client()
        .unwrap_or_else(|| panic!("the SDK config has an HTTP client"));
    let routed = SharedHttpClient::new(Routed {
        real,
        mock: aws_smithy_mocks::create_mock_http_client(),
        mocked: Arc::new(mocked.to_vec()),
    });
    // A rule only matches its own client's operation; unmatched calls go on to the routed
    // client, and from there to the emulator.
    let mocks = || {
        rules
            .iter()
            .fold(
                MockResponseInterceptor::new().rule_mode(RuleMode::MatchAny),
                |interceptor, rule| interceptor.with_rule(rule),
            )
            .allow_passthrough()
    };
    Clients {
        ec2: aws_sdk_ec2::Client::from_conf(
            clients
                .ec2
                .config()
                .to_builder()
                .http_client(routed.clone())
                .interceptor(mocks())
                .build(),
        ),
        ssm: clients.ssm,
        autoscaling: aws_sdk_autoscaling::Client::from_conf(
            clients
                .autoscaling
                .config()
                .to_builder()
                .http_client(routed)
                .interceptor(mocks())
                .build(),
        ),
        cloudwatch: clients.cloudwatch,
        elb: clients.elb,
        secrets: clients.secrets,
        rds: clients.rds,
        sts: clients.sts,
        region: clients.region,
    }
}

/// Routes each request by its `Action`: mocked ones to the mock client, the rest on.
#[derive(Clone, Debug)]
struct Routed {
    real: SharedHttpClient,
    mock: SharedHttpClient,
    mocked: Arc<Vec<&'static str>>,
}

impl HttpClient for Routed {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(RoutedConnector {
            real: self.real.http_connector(settings, components),
            mock: self.mock.http_connector(settings, components),
            mocked: self.mocked.clone(),
        })
    }
}

#[derive(Debug)]
struct RoutedConnector {
    real: SharedHttpConnector,
    mock: SharedHttpConnector,
    mocked: Arc<Vec<&'static str>>,
}

impl HttpConnector for RoutedConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let body = request
            .body()
            .bytes()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default();
        let action = body
            .split('&')
            .find_map(|pair| pair.strip_prefix("Action="))
            .unwrap_or_default();
        if self.mocked.contains(&action) {
            return self.mock.call(request);
        }
        self.real.call(request)
    }
}

/// The instance-refresh calls moto lacks (it answers both with HTTP 500), for `clients_with`.
pub const REFRESH_CALLS: [&str; 2] = ["DescribeInstanceRefreshes", "StartInstanceRefresh"];

/// A rule answering every DescribeInstanceRefreshes: no refresh in progress.
pub fn no_refresh_in_progress() -> Rule {
    use aws_sdk_autoscaling::operation::describe_instance_refreshes::DescribeInstanceRefreshesOutput;
    aws_smithy_mocks::mock!(aws_sdk_autoscaling::Client::describe_instance_refreshes)
        .sequence()
        .output(|| DescribeInstanceRefreshesOutput::builder().build())
        .repeatedly()
        .build()
}

/// A rule answering every StartInstanceRefresh with the refresh `refresh-1`; its `num_calls`
/// counts the refreshes started.
pub fn refresh_started() -> Rule {
    use aws_sdk_autoscaling::operation::start_instance_refresh::StartInstanceRefreshOutput;
    aws_smithy_mocks::mock!(aws_sdk_autoscaling::Client::start_instance_refresh)
        .sequence()
        .output(|| {
            StartInstanceRefreshOutput::builder()
                .instance_refresh_id("refresh-1")
                .build()
        })
        .repeatedly()
        .build()
}

/// A metric alarm as a test creates it in the emulator: what it watches, how it compares, the
/// stack it is tagged into (none: untagged) and the state it is set to.
#[derive(Clone, Debug)]
pub struct AlarmSeed<'a> {
    pub name: &'a str,
    pub namespace: &'a str,
    pub metric: &'a str,
    pub dimensions: Vec<(String, String)>,
    pub comparison: &'a str,
    pub stack: Option<&'a str>,
    pub state: &'a str,
    /// The metric's value, put a few seconds before the state is set (`None`: no data, as
    /// when someone sets the state of an alarm on a quiet metric by hand).
    pub value: Option<f64>,
}

impl<'a> AlarmSeed<'a> {
    /// An alarm of the `demo` stack in ALARM because the metric is above 85. Its period is the
    /// templates' (300 s): the engine reads the metric back over the last two periods, so a slow
    /// run (a fault case and its retry) still finds the datapoint put when the alarm fired.
    pub fn firing(name: &'a str, namespace: &'a str, metric: &'a str) -> Self {
        Self {
            name,
            namespace,
            metric,
            dimensions: Vec::new(),
            comparison: "GreaterThanThreshold",
            stack: Some("demo"),
            state: "ALARM",
            value: Some(95.0),
        }
    }
}

/// Creates the alarm (`PutMetricAlarm`), puts its metric's value (`PutMetricData`, 10 s in the
/// past so that a read up to the engine's next whole second includes it), sets its state
/// (`SetAlarmState`) and returns the time
/// of that transition as CloudWatch writes it in notifications (`2026-11-24T10:15:00.123+0000`).
pub async fn seed_alarm(cloudwatch: &aws_sdk_cloudwatch::Client, seed: &AlarmSeed<'_>) -> String {
    use aws_sdk_cloudwatch::types::{ComparisonOperator, Dimension, StateValue, Statistic};
    let mut put = cloudwatch
        .put_metric_alarm()
        .alarm_name(seed.name)
        .namespace(seed.namespace)
        .metric_name(seed.metric)
        .statistic(Statistic::Average)
        .period(300)
        .evaluation_periods(1)
        .threshold(85.0)
        .comparison_operator(ComparisonOperator::from(seed.comparison));
    for (name, value) in &seed.dimensions {
        put = put.dimensions(Dimension::builder().name(name).value(value).build());
    }
    if let Some(stack) = seed.stack {
        put = put.tags(
            aws_sdk_cloudwatch::types::Tag::builder()
                .key(STACK_TAG)
                .value(stack)
                .build(),
        );
    }
    put.send()
        .await
        .unwrap_or_else(|e| panic!("put metric alarm: {e:?}"));
    if let Some(value) = seed.value {
        let at = chrono::Utc::now() - chrono::Duration::seconds(10);
        let mut datum = aws_sdk_cloudwatch::types::MetricDatum::builder()
            .metric_name(seed.metric)
            .value(value)
            .timestamp(aws_smithy_types::DateTime::from_secs(at.timestamp()));
        for (name, value) in &seed.dimensions {
            datum = datum.dimensions(Dimension::builder().name(name).value(value).build());
        }
        cloudwatch
            .put_metric_data()
            .namespace(seed.namespace)
            .metric_data(datum.build())
            .send()
            .await
            .unwrap_or_else(|e| panic!("put metric data: {e:?}"));
    }
    cloudwatch
        .set_alarm_state()
        .alarm_name(seed.name)
        .state_value(StateValue::from(seed.state))
        .state_reason("set by the test")
        .send()
        .await
        .unwrap_or_else(|e| panic!("set alarm state: {e:?}"));
    let described = cloudwatch
        .describe_alarms()
        .alarm_names(seed.name)
        .send()
        .await
        .unwrap_or_else(|e| panic!("describe alarms: {e:?}"));
    let at = described
        .metric_alarms()
        .first()
        .and_then(|a| {
            a.state_transitioned_timestamp()
                .or(a.state_updated_timestamp())
        })
        .and_then(|t| chrono::DateTime::<chrono::Utc>::from_timestamp(t.secs(), t.subsec_nanos()))
        .unwrap_or_else(|| panic!("alarm {} has no state time", seed.name));
    at.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string()
}

/// An alarm notification (any shape, as JSON text) whose alarm then exists in the emulator, as
/// the engine re-reads it: created with the notification's first metric and its dimensions,
/// tagged into the demo stack and set to ALARM; the text returned carries the time of that
/// transition. A notification of another transition (OK) is returned as it is.
pub async fn real_alarm_event(moto: &Moto, raw: &str) -> String {
    let event: serde_json::Value =
        serde_json::from_str(raw).unwrap_or_else(|e| panic!("not JSON: {e}"));
    let signal = domain::event::parse_event_value(event).unwrap_or_else(|e| panic!("{e}"));
    let domain::signal::SignalKind::AlarmFired(notice) = &signal.kind else {
        return raw.to_string();
    };
    let metric = &notice.metrics[0];
    let seed = AlarmSeed {
        dimensions: metric.dimensions.clone().into_iter().collect(),
        ..AlarmSeed::firing(&notice.name, &metric.namespace, &metric.name)
    };
    let at = seed_alarm(&moto.cloudwatch().await, &seed).await;
    raw.replace(&notice.changed_at, &at)
}

/// A DB instance to seed: the demo's Postgres unless told otherwise.
#[derive(Clone, Debug)]
pub struct DatabaseSeed<'a> {
    pub id: &'a str,
    pub stack: &'a str,
    pub class: &'a str,
    pub allocated_gib: i32,
    pub multi_az: bool,
}

impl Default for DatabaseSeed<'_> {
    fn default() -> Self {
        Self {
            id: "demo-db",
            stack: "demo",
            class: "db.m6i.large",
            allocated_gib: 100,
            multi_az: false,
        }
    }
}

/// Creates the DB instance, tagged into `seed.stack` with the role `db`.
pub async fn database(rds: &aws_sdk_rds::Client, seed: &DatabaseSeed<'_>) {
    use aws_sdk_rds::types::Tag;
    let tag = |key: &str, value: &str| Tag::builder().key(key).value(value).build();
    rds.create_db_instance()
        .db_instance_identifier(seed.id)
        .engine("postgres")
        .engine_version("16.4")
        .db_instance_class(seed.class)
        .allocated_storage(seed.allocated_gib)
        .multi_az(seed.multi_az)
        .master_username("chainlink")
        .master_user_password("Str0ng-enough-passw0rd")
        .tags(tag(STACK_TAG, seed.stack))
        .tags(tag(ROLE_TAG, "db"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("create DB instance {}: {e:?}", seed.id));
}

/// The DB instance's class, allocated storage and the value of `tag`, as RDS describes it.
pub async fn database_state(
    rds: &aws_sdk_rds::Client,
    id: &str,
    tag: &str,
) -> (String, i32, Option<String>) {
    let described = rds
        .describe_db_instances()
        .db_instance_identifier(id)
        .send()
        .await
        .unwrap_or_else(|e| panic!("describe DB instance {id}: {e:?}"));
    let instance = described
        .db_instances()
        .first()
        .unwrap_or_else(|| panic!("no DB instance {id}"));
    (
        instance.db_instance_class().unwrap_or_default().to_string(),
        instance.allocated_storage().unwrap_or_default(),
        instance
            .tag_list()
            .iter()
            .find(|t| t.key() == Some(tag))
            .and_then(|t| t.value())
            .map(String::from),
    )
}

/// An alarm on the `demo-db` DB instance's `metric` (`AWS/RDS`) in ALARM, its datapoint on the
/// trouble side (low for free space and memory, high otherwise), and the EventBridge
/// notification of that transition: the RDS sample, renamed.
pub async fn rds_alarm(moto: &Moto, name: &str, metric: &str) -> serde_json::Value {
    const SAMPLE: &str = "samples/events/alarm-eventbridge-rds-free-storage.json";
    let low = metric.starts_with("Free");
    let seed = AlarmSeed {
        dimensions: vec![("DBInstanceIdentifier".to_string(), "demo-db".to_string())],
        comparison: if low {
            "LessThanThreshold"
        } else {
            "GreaterThanThreshold"
        },
        value: Some(if low { 5.0 } else { 95.0 }),
        ..AlarmSeed::firing(name, "AWS/RDS", metric)
    };
    let at = seed_alarm(&moto.cloudwatch().await, &seed).await;
    let raw = std::fs::read_to_string(crate::repo_path(SAMPLE))
        .unwrap_or_else(|e| panic!("{SAMPLE}: {e}"))
        .replace("2026-11-24T10:15:00.000+0000", &at)
        .replace("demo-db-free-storage", name)
        .replace("\"FreeStorageSpace\"", &format!("\"{metric}\""));
    serde_json::from_str(&raw).unwrap_or_else(|e| panic!("{SAMPLE}: {e}"))
}
