//! The integration-test harness: a real AWS API implementation (moto's server mode) per test on
//! a free loopback port, SDK clients pointed at it, and seeding helpers that go through the SDK
//! exactly as an operator's tooling would.

use aws_sdk_ec2::config::Credentials;
use aws_sdk_ec2::types::{Filter, ResourceType, Tag, TagSpecification};
use domain::ids::{SecurityGroupId, ROLE_TAG, STACK_TAG};
use domain::net::Rule;
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub mod fault_proxy;
pub mod fleet;
pub mod notifications;
pub mod output;
pub use fault_proxy::{Fault, FaultProxy, MemberRoles, Schedule};

/// A moto server, stopped when dropped.
#[derive(Debug)]
pub struct Moto {
    child: Child,
    port: u16,
    pub endpoint: String,
}

impl Moto {
    /// Starts a fresh, empty emulator that behaves like AWS where the engine depends on it
    /// (`scripts/emulator/aws_like.py`: state transitions take reads, pages honour
    /// `MaxResults`), with its default settings.
    pub fn start() -> Moto {
        Moto::start_with(&[])
    }

    /// Starts an emulator with the extension's settings overridden, e.g.
    /// `[("AWS_LIKE_PAGE_CAP", "2")]` or `[("AWS_LIKE_TRANSITION_READS", "5")]`.
    pub fn start_with(settings: &[(&str, &str)]) -> Moto {
        output::capture_engine_logs();
        let server = std::env::var_os("REMEDIATOR_MOTO_SERVER")
            .map(PathBuf::from)
            .unwrap_or_else(|| repo_path("scripts/emulator/moto_server"));
        let (child, port) = start_server(&server.display().to_string(), true, |port, instance| {
            let recording = std::env::temp_dir().join(format!("moto-recording-{port}.jsonl"));
            let mut command = Command::new(&server);
            command
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .env("MOTO_RECORDER_FILEPATH", &recording)
                .env("AWS_LIKE_INSTANCE", instance)
                .envs(settings.iter().copied());
            command
        });
        Moto {
            child,
            port,
            endpoint: format!("http://127.0.0.1:{port}"),
        }
    }

    /// SDK configuration for this emulator: the engine's own loader (HTTP client, timeouts),
    /// with fake credentials and, to keep failing calls fast, a single attempt unless asked.
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        sdk_config_loader(&self.endpoint).load().await
    }

    /// Wipes every resource: a fresh emulator for the next case without a restart.
    pub fn reset(&self) {
        self.call("POST", "/moto-api/reset");
    }

    pub async fn ec2(&self) -> aws_sdk_ec2::Client {
        aws_sdk_ec2::Client::new(&self.sdk_config().await)
    }

    pub async fn cloudwatch(&self) -> aws_sdk_cloudwatch::Client {
        aws_sdk_cloudwatch::Client::new(&self.sdk_config().await)
    }

    pub async fn autoscaling(&self) -> aws_sdk_autoscaling::Client {
        aws_sdk_autoscaling::Client::new(&self.sdk_config().await)
    }

    /// The engine's clients, all pointed at this emulator.
    pub async fn clients(&self) -> shared::aws::Clients {
        shared::aws::Clients::new(&self.sdk_config().await)
    }

    /// Environment for running the `remediator` binary against this emulator through the
    /// standard variables.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        let mut env = binary_env(&self.endpoint);
        env.push(("AWS_MAX_ATTEMPTS", "2".into()));
        env
    }
}

impl Moto {
    /// Starts recording every request the emulator receives, from now on.
    pub fn start_recording(&self) -> Recording<'_> {
        self.call("POST", "/moto-api/recorder/reset-recording");
        self.call("POST", "/moto-api/recorder/start-recording");
        Recording { moto: self }
    }

    /// A plain HTTP/1.1 call to moto's own API; returns the response body.
    fn call(&self, method: &str, path: &str) -> String {
        use std::io::{Read, Write};
        let mut stream =
            TcpStream::connect(("127.0.0.1", self.port)).unwrap_or_else(|e| panic!("moto: {e}"));
        let request = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        stream
            .write_all(request.as_bytes())
            .unwrap_or_else(|e| panic!("moto: {e}"));
        let mut response = String::new();
        stream
            .read_to_string(&mut response)
            .unwrap_or_else(|e| panic!("moto: {e}"));
        assert!(
            response.starts_with("HTTP/1.1 200") || response.starts_with("HTTP/1.0 200"),
            "moto {path}: {response}"
        );
        response
            .split_once("\r\n\r\n")
            .map(|(_, body)| body.to_string())
            .unwrap_or_default()
    }
}

/// Environment for running the `remediator` binary against `endpoint` with the engine's own
/// retry configuration (no `AWS_MAX_ATTEMPTS`).
pub fn binary_env(endpoint: &str) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ENDPOINT_URL", endpoint.to_string()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
    ]
}

/// The engine's SDK configuration loader pointed at `endpoint` (the emulator, or a proxy in
/// front of it) with fake credentials; callers may still override timeouts or retries.
pub fn sdk_config_loader(endpoint: &str) -> aws_config::ConfigLoader {
    shared::aws::sdk_config_loader()
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
}

/// The SDK configuration of `role` in `account`, `region`, at `endpoint` (the emulator, which
/// lets the caller assume any role): what a member account's tooling would use.
pub async fn member_config(
    endpoint: &str,
    account: &str,
    region: &str,
    role: &str,
) -> aws_config::SdkConfig {
    let base = sdk_config_loader(endpoint).load().await;
    let issued = aws_sdk_sts::Client::new(&base)
        .assume_role()
        .role_arn(format!("arn:aws:iam::{account}:role/{role}"))
        .role_session_name("seed")
        .send()
        .await
        .unwrap_or_else(|e| panic!("AssumeRole: {e:?}"));
    let credentials = issued
        .credentials()
        .unwrap_or_else(|| panic!("AssumeRole returned no credentials"));
    sdk_config_loader(endpoint)
        .region(aws_config::Region::new(region.to_string()))
        .credentials_provider(Credentials::new(
            credentials.access_key_id(),
            credentials.secret_access_key(),
            Some(credentials.session_token().to_string()),
            None,
            "seed",
        ))
        .load()
        .await
}

/// Engine clients with a retry partition of their own. The SDK keeps its retry quota and, in
/// adaptive mode, its client-side rate limiter per partition for the whole process: tests
/// that exhaust them on purpose must not starve the other tests of the same test binary.
pub fn isolated_clients(config: &aws_config::SdkConfig, partition: &str) -> shared::aws::Clients {
    shared::aws::Clients::partitioned(config, partition)
}

/// The requests an emulator received while recording.
#[derive(Debug)]
pub struct Recording<'a> {
    moto: &'a Moto,
}

impl Recording<'_> {
    /// Every call that could change something (not Describe/Get/List), in order, as
    /// `"Action target"` where the target is the group, instance or parameter the call names.
    pub fn mutating_calls(&self) -> Vec<String> {
        self.requests()
            .into_iter()
            .filter(|(action, _)| {
                !["Describe", "Get", "List"]
                    .iter()
                    .any(|read| action.starts_with(read))
            })
            .map(|(action, target)| format!("{action} {target}").trim_end().to_string())
            .collect()
    }

    /// (action, target) of every recorded request.
    pub fn requests(&self) -> Vec<(String, String)> {
        self.recorded()
            .into_iter()
            .map(|(action, body)| {
                let target = [
                    "GroupId",
                    "InstanceId.1",
                    "InstanceId",
                    "ResourceId.1",
                    "Tags.member.1.ResourceId",
                    "AutoScalingGroupName",
                    "LaunchTemplateId",
                    "VolumeId",
                ]
                .iter()
                .find_map(|name| form_field(&body, name))
                .or_else(|| json_target(&body))
                .unwrap_or_default();
                (action, target)
            })
            .collect()
    }

    /// The body of each recorded `action` request, decoded: what was asked, field by field.
    pub fn bodies_of(&self, action: &str) -> Vec<String> {
        self.recorded()
            .into_iter()
            .filter(|(name, _)| name == action)
            .map(|(_, body)| body)
            .collect()
    }

    /// (action, body) of every recorded request.
    fn recorded(&self) -> Vec<(String, String)> {
        let download = self
            .moto
            .call("GET", "/moto-api/recorder/download-recording");
        download
            .lines()
            .filter(|line| !line.trim().is_empty())
            .filter_map(|line| serde_json::from_str::<RecordedRequest>(line).ok())
            .map(|request| {
                let body = if request.body_encoded {
                    aws_smithy_types::base64::decode(&request.body)
                        .ok()
                        .and_then(|bytes| String::from_utf8(bytes).ok())
                        .unwrap_or_default()
                } else {
                    request.body
                };
                let action = form_field(&body, "Action")
                    .or_else(|| {
                        request
                            .headers
                            .get("X-Amz-Target")
                            .map(|t| t.rsplit('.').next().unwrap_or_default().to_string())
                    })
                    .unwrap_or_default();
                (action, body)
            })
            .collect()
    }
}

/// A field of a query-protocol (form-encoded) body.
fn form_field(body: &str, name: &str) -> Option<String> {
    body.split('&')
        .find_map(|pair| pair.strip_prefix(&format!("{name}=")))
        .map(|value| value.replace("%2F", "/").replace("%3A", ":"))
}

/// The target of an SSM or Secrets Manager (JSON protocol) call: its parameter name, first
/// instance or secret.
fn json_target(body: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(body).ok()?;
    value["Name"]
        .as_str()
        .or_else(|| value["InstanceIds"][0].as_str())
        .or_else(|| value["SecretId"].as_str())
        .map(String::from)
}

#[derive(serde::Deserialize)]
struct RecordedRequest {
    #[serde(default)]
    headers: std::collections::HashMap<String, String>,
    #[serde(default)]
    body: String,
    #[serde(default)]
    body_encoded: bool,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A tool the project's scripts install: where `variable` says, or its default place in the cache.
fn installed_tool(variable: &str, in_cache: &str) -> PathBuf {
    std::env::var_os(variable)
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let home = std::env::var_os("HOME")
                .map(PathBuf::from)
                .unwrap_or_default();
            home.join(".cache/chainlink-remediator").join(in_cache)
        })
}

/// npm's `.bin/anvil` is a node wrapper: stopping it would leave the real node running, so the
/// platform package's binary is started directly.
fn anvil_in_cache() -> PathBuf {
    let packages = installed_tool(
        "REMEDIATOR_ANVIL_PACKAGES",
        "anvil-1.7.1/node_modules/@foundry-rs",
    );
    std::fs::read_dir(&packages)
        .into_iter()
        .flatten()
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.path().join("bin/anvil"))
        .find(|binary| binary.exists())
        .unwrap_or_else(|| {
            panic!(
                "no anvil binary under {}; run scripts/test.sh, which installs it",
                packages.display()
            )
        })
}

/// Starts a server on a port reserved for it, quietly, and returns it once it is the one that
/// answers there: another server may hold a port that looked free (a parallel test, another
/// process), in which case ours exits or another answers, and it is started again on a new port.
/// `command` builds the command for a port and an instance token; a server that `identifies`
/// itself answers that token at `GET /aws-like/instance` (the emulator does), another is judged
/// by staying alive (the in-process reservation already keeps parallel tests apart).
fn start_server(
    program: &str,
    identifies: bool,
    command: impl Fn(u16, &str) -> Command,
) -> (Child, u16) {
    const ATTEMPTS: usize = 5;
    for _ in 0..ATTEMPTS {
        let port = reserve_port();
        let instance = format!("{}-{port}", std::process::id());
        let mut child = command(port, &instance)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start {program}: {e}; run scripts/test.sh, which installs it")
            });
        let expected = identifies.then_some(instance.as_str());
        match wait_listening(&mut child, port, expected, program) {
            Listening::Ours => return (child, port),
            Listening::Exited | Listening::Another => {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
    panic!("{program} could not keep a free port in {ATTEMPTS} attempts")
}

enum Listening {
    Ours,
    Another,
    Exited,
}

/// Waits (30 s at most) until `port` accepts connections, then tells whose server it is.
fn wait_listening(
    child: &mut Child,
    port: u16,
    instance: Option<&str>,
    program: &str,
) -> Listening {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return Listening::Exited;
        }
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{program} did not listen on port {port} within 30 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    if let Some(instance) = instance {
        if identity(port).as_deref() != Some(instance) {
            return Listening::Another;
        }
    }
    match child.try_wait() {
        Ok(None) => Listening::Ours,
        _ => Listening::Exited,
    }
}

/// The instance token of the emulator answering on `port`, if it answers with one.
fn identity(port: u16) -> Option<String> {
    use std::io::{Read, Write};
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let request = "GET /aws-like/instance HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    stream.write_all(request.as_bytes()).ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    head.contains(" 200 ").then(|| body.trim().to_string())
}

/// A loopback port nothing listens on, never handed out twice by this process: two tests
/// starting servers at once would otherwise be given the same port by the kernel.
fn reserve_port() -> u16 {
    static HANDED_OUT: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let listener =
            TcpListener::bind(("127.0.0.1", 0)).unwrap_or_else(|e| panic!("no free port: {e}"));
        let port = listener
            .local_addr()
            .map(|a| a.port())
            .unwrap_or_else(|e| panic!("{e}"));
        if !handed_out.contains(&port) {
            handed_out.push(port);
            return port;
        }
    }
}

/// A local Ethereum node (anvil) serving `chain_id`, stopped when dropped.
#[derive(Debug)]
pub struct Anvil {
    child: Child,
    pub port: u16,
}

impl Anvil {
    pub fn start(chain_id: u64) -> Anvil {
        let binary = std::env::var_os("REMEDIATOR_ANVIL")
            .filter(|path| !path.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(anvil_in_cache);
        let program = binary.display().to_string();
        let (child, port) = start_server(&program, false, |port, _| {
            let mut command = Command::new(&binary);
            command.args(["--host", "127.0.0.1", "--port", &port.to_string()]);
            command.args(["--chain-id", &chain_id.to_string(), "--silent"]);
            command
        });
        Anvil { child, port }
    }
}

impl Drop for Anvil {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `remediator` binary built alongside the tests.
pub fn remediator_binary() -> PathBuf {
    workspace_binary("remediator")
}

/// A binary of the workspace (`remediator`, a function's `bootstrap` by its crate name), built
/// alongside the tests.
pub fn workspace_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_else(|e| panic!("{e}"));
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .unwrap_or_else(|| panic!("no target dir above {}", exe.display()));
    let binary = dir.join(name);
    assert!(
        binary.exists(),
        "{} is missing: build the workspace (cargo test --workspace)",
        binary.display()
    );
    binary
}

/// The stack's filesystem document as the tests name it (the templates create it; the emulator
/// runs no command and does not check that a document exists).
pub fn filesystem_document() -> shared::domain::ids::DocumentName {
    shared::domain::ids::DocumentName::new("demo-extend-filesystem")
}

/// A repository path, from the tests crate.
pub fn repo_path(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(relative)
}

/// Seeding through the SDK: what an operator's tooling would have created.
pub mod seed {
    use super::*;

    pub async fn vpc(ec2: &aws_sdk_ec2::Client, cidr: &str) -> String {
        let vpc = ec2
            .create_vpc()
            .cidr_block(cidr)
            .send()
            .await
            .unwrap_or_else(|e| panic!("create vpc: {e:?}"));
        vpc.vpc()
            .and_then(|v| v.vpc_id())
            .unwrap_or_default()
            .to_string()
    }

    /// A group tagged into `stack` with `role` (either may be empty for "no such tag").
    pub async fn group(
        ec2: &aws_sdk_ec2::Client,
        vpc: &str,
        name: &str,
        stack: &str,
        role: &str,
    ) -> SecurityGroupId {
        let tags: Vec<Tag> = [(STACK_TAG, stack), (ROLE_TAG, role)]
            .into_iter()
            .filter(|(_, value)| !value.is_empty())
            .map(|(key, value)| Tag::builder().key(key).value(value).build())
            .collect();
        let tagging = (!tags.is_empty()).then(|| {
            TagSpecification::builder()
                .resource_type(ResourceType::SecurityGroup)
                .set_tags(Some(tags))
                .build()
        });
        let created = ec2
            .create_security_group()
            .group_name(name)
            .description(format!("{name} (test)"))
            .vpc_id(vpc)
            .set_tag_specifications(tagging.map(|t| vec![t]))
            .send()
            .await
            .unwrap_or_else(|e| panic!("create group {name}: {e:?}"));
        SecurityGroupId::new(created.group_id().unwrap_or_default())
    }

    pub async fn allow(ec2: &aws_sdk_ec2::Client, group: &SecurityGroupId, rules: &[Rule]) {
        ec2.authorize_security_group_ingress()
            .group_id(group.as_str())
            .set_ip_permissions(Some(
                rules
                    .iter()
                    .map(|r| shared::security_groups::apply::permission(r, None))
                    .collect(),
            ))
            .send()
            .await
            .unwrap_or_else(|e| panic!("seed rules on {group}: {e:?}"));
    }

    /// Revokes one ingress rule of `group`, as someone drifting the stack would.
    pub async fn revoke(ec2: &aws_sdk_ec2::Client, group: &SecurityGroupId, rule: &Rule) {
        ec2.revoke_security_group_ingress()
            .group_id(group.as_str())
            .ip_permissions(shared::security_groups::apply::permission(rule, None))
            .send()
            .await
            .unwrap_or_else(|e| panic!("revoke on {group}: {e:?}"));
    }

    /// A subnet in us-east-1a: without a zone the emulator picks one at random, and a run must
    /// never depend on chance (us-east-1e offers few current instance types, as in AWS).
    pub async fn subnet(ec2: &aws_sdk_ec2::Client, vpc: &str, cidr: &str) -> String {
        subnet_in(ec2, vpc, cidr, "us-east-1a").await
    }

    /// A subnet in `zone` (a load balancer needs subnets in two).
    pub async fn subnet_in(ec2: &aws_sdk_ec2::Client, vpc: &str, cidr: &str, zone: &str) -> String {
        let created = ec2
            .create_subnet()
            .vpc_id(vpc)
            .cidr_block(cidr)
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

    /// A Secrets Manager secret `name` tagged into `stack`, as the templates' DescribeSecret
    /// permission requires.
    pub async fn stack_secret(moto: &Moto, name: &str, stack: &str) {
        aws_sdk_secretsmanager::Client::new(&moto.sdk_config().await)
            .create_secret()
            .name(name)
            .secret_string("a-keystore-passw0rd-long-enough")
            .tags(
                aws_sdk_secretsmanager::types::Tag::builder()
                    .key(STACK_TAG)
                    .value(stack)
                    .build(),
            )
            .send()
            .await
            .unwrap_or_else(|e| panic!("create secret {name}: {e:?}"));
    }

    /// A running instance wearing `group`, tagged into `stack` with `role`.
    pub async fn instance(
        ec2: &aws_sdk_ec2::Client,
        subnet: &str,
        group: &SecurityGroupId,
        stack: &str,
        role: &str,
    ) -> String {
        crate::fleet::launch(ec2, subnet, Some(group), stack, role, "m6i.large").await
    }

    /// A network interface in `subnet` wearing `group`, of no instance and with no tag: what an
    /// Aurora cluster or a load balancer puts in a VPC.
    pub async fn interface(
        ec2: &aws_sdk_ec2::Client,
        subnet: &str,
        group: &SecurityGroupId,
    ) -> String {
        let created = ec2
            .create_network_interface()
            .subnet_id(subnet)
            .groups(group.as_str())
            .description("RDSNetworkInterface")
            .send()
            .await
            .unwrap_or_else(|e| panic!("create interface in {subnet}: {e:?}"));
        created
            .network_interface()
            .and_then(|i| i.network_interface_id())
            .unwrap_or_default()
            .to_string()
    }

    /// Gives `subnet` a network ACL of its own that denies TCP `port` from `cidr` (rule 90) and
    /// allows everything else both ways (rule 100).
    pub async fn acl_denying(
        ec2: &aws_sdk_ec2::Client,
        vpc: &str,
        subnet: &str,
        port: i32,
        cidr: &str,
    ) -> String {
        acl_with_deny(ec2, vpc, subnet, AclDeny::Inbound, (port, port), cidr).await
    }

    /// Gives `subnet` a network ACL of its own that admits every request but sends no reply to
    /// `cidr`: outbound TCP on the ephemeral ports (1024-65535) to it is denied (rule 90),
    /// everything else allowed both ways (rule 100).
    pub async fn acl_denying_replies(
        ec2: &aws_sdk_ec2::Client,
        vpc: &str,
        subnet: &str,
        cidr: &str,
    ) -> String {
        acl_with_deny(ec2, vpc, subnet, AclDeny::Outbound, (1024, 65535), cidr).await
    }

    /// Which way an ACL's one deny rule faces.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum AclDeny {
        Inbound,
        Outbound,
    }

    /// Gives `subnet` a network ACL of its own: TCP `ports` with `cidr` denied `direction`
    /// (rule 90), everything else allowed both ways (rule 100).
    pub async fn acl_with_deny(
        ec2: &aws_sdk_ec2::Client,
        vpc: &str,
        subnet: &str,
        direction: AclDeny,
        ports: (i32, i32),
        cidr: &str,
    ) -> String {
        use aws_sdk_ec2::types::{PortRange, RuleAction};
        let acl = ec2
            .create_network_acl()
            .vpc_id(vpc)
            .send()
            .await
            .unwrap_or_else(|e| panic!("create acl: {e:?}"));
        let acl_id = acl
            .network_acl()
            .and_then(|a| a.network_acl_id())
            .unwrap_or_default()
            .to_string();
        let deny_egress = direction == AclDeny::Outbound;
        let entries = [
            (90, deny_egress, "6", Some(ports), cidr, RuleAction::Deny),
            (100, false, "-1", None, "0.0.0.0/0", RuleAction::Allow),
            (100, true, "-1", None, "0.0.0.0/0", RuleAction::Allow),
        ];
        for (number, egress, protocol, port, cidr, action) in entries {
            ec2.create_network_acl_entry()
                .network_acl_id(&acl_id)
                .rule_number(number)
                .egress(egress)
                .protocol(protocol)
                .set_port_range(
                    port.map(|(from, to)| PortRange::builder().from(from).to(to).build()),
                )
                .cidr_block(cidr)
                .rule_action(action)
                .send()
                .await
                .unwrap_or_else(|e| panic!("acl entry: {e:?}"));
        }
        let current = ec2
            .describe_network_acls()
            .filters(
                Filter::builder()
                    .name("association.subnet-id")
                    .values(subnet)
                    .build(),
            )
            .send()
            .await
            .unwrap_or_else(|e| panic!("describe acls: {e:?}"));
        let association = current
            .network_acls()
            .iter()
            .flat_map(|a| a.associations())
            .find(|a| a.subnet_id() == Some(subnet))
            .and_then(|a| a.network_acl_association_id())
            .unwrap_or_default()
            .to_string();
        ec2.replace_network_acl_association()
            .association_id(association)
            .network_acl_id(&acl_id)
            .send()
            .await
            .unwrap_or_else(|e| panic!("associate acl: {e:?}"));
        acl_id
    }

    /// The group's ingress rules as text, sorted: what assertions compare.
    pub async fn ingress(ec2: &aws_sdk_ec2::Client, group: &SecurityGroupId) -> Vec<String> {
        let groups = ec2
            .describe_security_groups()
            .filters(
                Filter::builder()
                    .name("group-id")
                    .values(group.as_str())
                    .build(),
            )
            .send()
            .await
            .unwrap_or_else(|e| panic!("describe {group}: {e:?}"));
        let mut rules: Vec<String> = groups
            .security_groups()
            .iter()
            .flat_map(|g| g.ip_permissions())
            .flat_map(shared::security_groups::observe::rules_from_permission)
            .map(|r| r.to_string())
            .collect();
        rules.sort();
        rules
    }
}

/// The demo stack's groups, seeded healthy: every required flow in place, nothing forbidden open.
#[derive(Debug, Clone)]
pub struct SeededStack {
    pub vpc: String,
    pub node: SecurityGroupId,
    pub db: SecurityGroupId,
}

impl SeededStack {
    pub async fn healthy(ec2: &aws_sdk_ec2::Client, stack: &str) -> SeededStack {
        let vpc = seed::vpc(ec2, "10.0.0.0/16").await;
        let node = seed::group(ec2, &vpc, &format!("{stack}-node"), stack, "node").await;
        let db = seed::group(ec2, &vpc, &format!("{stack}-db"), stack, "db").await;
        seed::allow(
            ec2,
            &node,
            &[
                rule::tcp(6688, "10.20.0.0/16"),
                rule::tcp(6690, node.as_str()),
                rule::tcp(6690, "0.0.0.0/0"),
            ],
        )
        .await;
        seed::allow(ec2, &db, &[rule::tcp(5432, node.as_str())]).await;
        SeededStack { vpc, node, db }
    }

    /// `count` stacks `fleet-<shard>-000`, `fleet-<shard>-001`… (`shard` = n mod `shards`, so
    /// `shards` runs can split the fleet) in one VPC, each drifted so that its repair takes
    /// four calls: the node lost the operators' UI rule and is open to the world on 6688
    /// instead (authorize, then revoke); the database lost the node's rule and is open to
    /// `::/0` on 5432 (authorize, revoke).
    pub async fn drifted_fleet(
        ec2: &aws_sdk_ec2::Client,
        count: usize,
        shards: usize,
    ) -> Vec<SeededStack> {
        let vpc = seed::vpc(ec2, "10.0.0.0/16").await;
        let mut fleet = Vec::with_capacity(count);
        for n in 0..count {
            let stack = format!("fleet-{}-{n:03}", n % shards.max(1));
            let node = seed::group(ec2, &vpc, &format!("{stack}-node"), &stack, "node").await;
            let db = seed::group(ec2, &vpc, &format!("{stack}-db"), &stack, "db").await;
            seed::allow(
                ec2,
                &node,
                &[
                    rule::tcp(6688, "0.0.0.0/0"),
                    rule::tcp(6690, node.as_str()),
                    rule::tcp(6690, "0.0.0.0/0"),
                ],
            )
            .await;
            seed::allow(ec2, &db, &[rule::tcp(5432, "::/0")]).await;
            fleet.push(SeededStack {
                vpc: vpc.clone(),
                node,
                db,
            });
        }
        fleet
    }

    /// The healthy rule set, as `seed::ingress` prints it.
    pub fn healthy_node_rules(&self) -> Vec<String> {
        let mut rules = vec![
            "tcp 6688 from 10.20.0.0/16".to_string(),
            format!("tcp 6690 from {}", self.node),
            "tcp 6690 from 0.0.0.0/0".to_string(),
        ];
        rules.sort();
        rules
    }
}

/// The sample stack file guarding the security groups of the stacks of
/// `SeededStack::drifted_fleet` that `pattern` (`fleet-*`, `fleet-1-*`…) matches; the fleet has
/// no parameters.
pub fn fleet_stack_file(pattern: &str) -> String {
    let sample = std::fs::read_to_string(repo_path("samples/stack.toml"))
        .unwrap_or_else(|e| panic!("samples/stack.toml: {e}"));
    without_parameters(&sample).replace("name = \"demo\"", &format!("name = \"{pattern}\""))
}

/// A stack file without its `[parameters]` section, and so without the flows' `config_port`
/// (which follows the parameters): the stated ports stay.
pub fn without_parameters(stack_file: &str) -> String {
    stack_file
        .split("\n[parameters]")
        .next()
        .unwrap_or_default()
        .lines()
        .filter(|line| !line.trim_start().starts_with("config_port"))
        .map(|line| format!("{line}\n"))
        .collect()
}

/// Rules for seeding, in the engine's own types.
pub mod rule {
    use domain::net::Rule;
    use test_support as fixtures;

    pub fn tcp(port: u16, peer: &str) -> Rule {
        fixtures::tcp(port).from(peer)
    }

    pub fn tcp_range(from: u16, to: u16, peer: &str) -> Rule {
        fixtures::tcp_range(from, to).from(peer)
    }

    pub fn all_traffic(peer: &str) -> Rule {
        fixtures::all_traffic().from(peer)
    }
}

/// Parameter Store seeding and reading, through the SDK.
pub mod ssm {
    use aws_sdk_ssm::types::ParameterType;
    use serde_json::{json, Value};

    /// The "Parameter Store Change" event EventBridge sends for `name` (`Create`, `Update`…).
    pub fn change_event(operation: &str, name: &str) -> Value {
        json!({
            "version": "0", "id": format!("evt-{operation}-{name}"), "detail-type": "Parameter Store Change",
            "source": "aws.ssm", "account": "123456789012", "time": "2026-11-20T10:02:11Z", "region": "us-east-1",
            "resources": [format!("arn:aws:ssm:us-east-1:123456789012:parameter{name}")],
            "detail": { "operation": operation, "name": name, "type": "SecureString" }
        })
    }

    pub use test_support::{
        valid_legacy_parameters as valid_legacy, DEV_DATABASE_URL as DEV_DB,
        GOOD_DATABASE_URL as GOOD_DB, OTHER_KMS_KEY, STACK_KMS_KEY,
    };

    pub async fn client(moto: &super::Moto) -> aws_sdk_ssm::Client {
        aws_sdk_ssm::Client::new(&moto.sdk_config().await)
    }

    /// Creates or overwrites a SecureString; returns the new version.
    pub async fn put(ssm: &aws_sdk_ssm::Client, name: &str, value: &str) -> i64 {
        ssm.put_parameter()
            .name(name)
            .value(value)
            .r#type(ParameterType::SecureString)
            .overwrite(true)
            .send()
            .await
            .unwrap_or_else(|e| panic!("put {name}: {e:?}"))
            .version()
    }

    /// Puts every (key, value) under `prefix`.
    pub async fn put_all(ssm: &aws_sdk_ssm::Client, prefix: &str, set: &[(&str, &str)]) {
        for (key, value) in set {
            put(ssm, &format!("{prefix}{key}"), value).await;
        }
    }

    /// Creates or overwrites `name` as a SecureString under `kms_key`, or as a plain String
    /// (`None`); returns the new version.
    pub async fn put_as(
        ssm: &aws_sdk_ssm::Client,
        name: &str,
        value: &str,
        kms_key: Option<&str>,
    ) -> i64 {
        let kind = if kms_key.is_some() {
            ParameterType::SecureString
        } else {
            ParameterType::String
        };
        ssm.put_parameter()
            .name(name)
            .value(value)
            .r#type(kind)
            .set_key_id(kms_key.map(String::from))
            .overwrite(true)
            .send()
            .await
            .unwrap_or_else(|e| panic!("put {name}: {e:?}"))
            .version()
    }

    /// Puts every (key, value) under `prefix`, as SecureStrings under `kms_key`.
    pub async fn put_all_under(
        ssm: &aws_sdk_ssm::Client,
        prefix: &str,
        set: &[(&str, &str)],
        kms_key: &str,
    ) {
        for (key, value) in set {
            put_as(ssm, &format!("{prefix}{key}"), value, Some(kms_key)).await;
        }
    }

    /// (type, KMS key) of `version` of `name`, as GetParameterHistory reports them.
    pub async fn type_and_key(
        ssm: &aws_sdk_ssm::Client,
        name: &str,
        version: i64,
    ) -> (String, Option<String>) {
        let history = ssm
            .get_parameter_history()
            .name(name)
            .send()
            .await
            .unwrap_or_else(|e| panic!("history {name}: {e:?}"));
        let entry = history
            .parameters()
            .iter()
            .find(|p| p.version() == version)
            .unwrap_or_else(|| panic!("{name} has no version {version}"));
        (
            entry
                .r#type()
                .map(|t| t.as_str().to_string())
                .unwrap_or_default(),
            entry.key_id().map(String::from),
        )
    }

    /// The current version's KMS key, as DescribeParameters reports it.
    pub async fn described_key(ssm: &aws_sdk_ssm::Client, name: &str) -> Option<String> {
        let filter = aws_sdk_ssm::types::ParameterStringFilter::builder()
            .key("Name")
            .option("Equals")
            .values(name)
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        ssm.describe_parameters()
            .parameter_filters(filter)
            .send()
            .await
            .unwrap_or_else(|e| panic!("describe {name}: {e:?}"))
            .parameters()
            .first()
            .and_then(|p| p.key_id())
            .map(String::from)
    }

    /// (version, decrypted value) of the current version.
    pub async fn current(ssm: &aws_sdk_ssm::Client, name: &str) -> (i64, String) {
        let found = ssm
            .get_parameter()
            .name(name)
            .with_decryption(true)
            .send()
            .await
            .unwrap_or_else(|e| panic!("get {name}: {e:?}"));
        let parameter = found.parameter().unwrap_or_else(|| panic!("no {name}"));
        (
            parameter.version(),
            parameter.value().unwrap_or_default().to_string(),
        )
    }

    /// The version carrying `label`, if any.
    pub async fn labeled(ssm: &aws_sdk_ssm::Client, name: &str, label: &str) -> Option<i64> {
        let found = ssm
            .get_parameters()
            .names(format!("{name}:{label}"))
            .send()
            .await
            .ok()?;
        found.parameters().first().map(|p| p.version())
    }

    pub async fn history_len(ssm: &aws_sdk_ssm::Client, name: &str) -> usize {
        ssm.get_parameter_history()
            .name(name)
            .send()
            .await
            .unwrap_or_else(|e| panic!("history {name}: {e:?}"))
            .parameters()
            .len()
    }
}

#[cfg(test)]
mod harness_tests {
    use super::*;

    #[test]
    fn a_port_is_never_handed_out_twice() {
        let ports: Vec<u16> = (0..500).map(|_| reserve_port()).collect();
        let mut unique = ports.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), ports.len());
    }

    /// The CI failure this guards against: a second emulator given a port the first already
    /// held exited, and its test talked to the first test's emulator.
    #[test]
    fn an_emulator_answering_on_a_taken_port_is_told_apart_from_ours() {
        let first = Moto::start();
        let server = std::env::var_os("REMEDIATOR_MOTO_SERVER")
            .map(PathBuf::from)
            .unwrap_or_else(|| repo_path("scripts/emulator/moto_server"));
        let mut second = Command::new(server)
            .args(["-H", "127.0.0.1", "-p", &first.port.to_string()])
            .env("AWS_LIKE_INSTANCE", "second")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{e}"));
        let seen = wait_listening(&mut second, first.port, Some("second"), "second");
        let _ = second.kill();
        let _ = second.wait();
        assert!(matches!(seen, Listening::Another | Listening::Exited));
        assert!(
            identity(first.port).is_some_and(|token| token.ends_with(&format!("-{}", first.port)))
        );
    }
}
