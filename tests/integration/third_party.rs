//! A third party's deployment of a Chainlink node, built the way its CloudFormation builds it,
//! and guarded by a stack file written for it, as a new user would (issue 17): a VPC, a bastion,
//! an Aurora-like database found only by its network interface and admitting the VPC's CIDR, an
//! Auto Scaling group of burstable nodes on a launch configuration, registered through the
//! group's `TargetGroupARNs` behind an internet-facing load balancer that forwards the world to
//! the UI port, and a legacy configuration whose keystore password lives in Secrets Manager.
//! Every item of the issue is seen at once, through the `remediator` binary.

use serde_json::Value;
use std::process::Output;
use tests::{remediator_binary, repo_path, rule, seed, ssm, Moto, SeededStack};

/// What the deployment is made of, as the assertions need it.
struct Deployment {
    moto: Moto,
    stack: SeededStack,
    bastion: domain::ids::SecurityGroupId,
    load_balancer_group: domain::ids::SecurityGroupId,
    node: String,
    stack_file: String,
}

const GROUP: &str = "demo-nodes";

/// Deploys it on a fresh emulator; `test` names the stack file written for it (tests run at once).
async fn deploy(test: &str) -> Deployment {
    use aws_sdk_elasticloadbalancingv2::types::{
        Action, ActionTypeEnum, LoadBalancerSchemeEnum, LoadBalancerTypeEnum, ProtocolEnum,
        TargetTypeEnum,
    };
    let moto = Moto::start();
    let ec2 = moto.ec2().await;
    let config = moto.sdk_config().await;
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&config);

    // The network: the node and database groups (the UI open to the operators' network), the
    // database admitting Postgres from the whole VPC, not from the nodes' group.
    let stack = SeededStack::healthy(&ec2, "demo").await;
    seed::revoke(&ec2, &stack.db, &rule::tcp(5432, stack.node.as_str())).await;
    seed::allow(&ec2, &stack.db, &[rule::tcp(5432, "10.0.0.0/16")]).await;
    let app = seed::subnet(&ec2, &stack.vpc, "10.0.1.0/24").await;
    let data = seed::subnet_in(&ec2, &stack.vpc, "10.0.2.0/24", "us-east-1b").await;
    seed::interface(&ec2, &data, &stack.db).await;

    // The bastion: SSH, and RDP someone opened to the world.
    let bastion = seed::group(&ec2, &stack.vpc, "demo-bastion", "demo", "bastion").await;
    seed::allow(
        &ec2,
        &bastion,
        &[rule::tcp(22, "0.0.0.0/0"), rule::tcp(3389, "0.0.0.0/0")],
    )
    .await;

    // The load balancer: a third party's, untagged, open to the world on 80, forwarding to the
    // nodes' UI; the nodes let it in.
    let load_balancer_group = seed::group(&ec2, &stack.vpc, "public-alb", "", "").await;
    seed::allow(&ec2, &load_balancer_group, &[rule::tcp(80, "0.0.0.0/0")]).await;
    seed::allow(
        &ec2,
        &stack.node,
        &[rule::tcp(6688, load_balancer_group.as_str())],
    )
    .await;
    let load_balancer = elb
        .create_load_balancer()
        .name("public-alb")
        .r#type(LoadBalancerTypeEnum::Application)
        .scheme(LoadBalancerSchemeEnum::InternetFacing)
        .subnets(&app)
        .subnets(&data)
        .security_groups(load_balancer_group.as_str())
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e:?}"))
        .load_balancers()[0]
        .load_balancer_arn()
        .unwrap_or_default()
        .to_string();
    let target_group = elb
        .create_target_group()
        .name("node-ui")
        .protocol(ProtocolEnum::Http)
        .port(6688)
        .vpc_id(&stack.vpc)
        .target_type(TargetTypeEnum::Instance)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e:?}"))
        .target_groups()[0]
        .target_group_arn()
        .unwrap_or_default()
        .to_string();
    elb.create_listener()
        .load_balancer_arn(&load_balancer)
        .protocol(ProtocolEnum::Http)
        .port(80)
        .default_actions(
            Action::builder()
                .r#type(ActionTypeEnum::Forward)
                .target_group_arn(&target_group)
                .build(),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));

    // The nodes: an Auto Scaling group on a launch configuration, registered in the target
    // group by the group itself.
    let autoscaling = moto.autoscaling().await;
    autoscaling
        .create_launch_configuration()
        .launch_configuration_name("demo-nodes-lc")
        .image_id("ami-12c6146b")
        .instance_type("t3.small")
        .security_groups(stack.node.as_str())
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let tag = |key: &str, value: &str| {
        aws_sdk_autoscaling::types::Tag::builder()
            .resource_id(GROUP)
            .resource_type("auto-scaling-group")
            .key(key)
            .value(value)
            .propagate_at_launch(true)
            .build()
    };
    autoscaling
        .create_auto_scaling_group()
        .auto_scaling_group_name(GROUP)
        .launch_configuration_name("demo-nodes-lc")
        .min_size(1)
        .max_size(2)
        .desired_capacity(1)
        .vpc_zone_identifier(&app)
        .target_group_arns(&target_group)
        .tags(tag("chainlink:stack", "demo"))
        .tags(tag("chainlink:role", "node"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let node = tests::fleet::group_instance(&moto, GROUP).await;

    // The parameters: legacy variables; the keystore password is in Secrets Manager.
    let mut parameters = ssm::valid_legacy();
    parameters.retain(|(key, _)| *key != "KEYSTORE_PASSWORD");
    ssm::put_all(&ssm::client(&moto).await, "/chainlink/demo/", &parameters).await;
    seed::stack_secret(&moto, "chainlink/demo/keystore", "demo").await;

    let stack_file = write_stack_file(&stack, test);
    Deployment {
        moto,
        stack,
        bastion,
        load_balancer_group,
        node,
        stack_file,
    }
}

/// The stack file its operator writes for it: production, pinned to its VPC and groups, the
/// bastion's role named only by `forbidden` and an exception, burstable nodes.
fn write_stack_file(stack: &SeededStack, test: &str) -> String {
    let text = format!(
        r#"
[stack]
name = "demo"
mode = "enforce"
vpcs = ["{vpc}"]

[roles]
node = {{ description = "Chainlink nodes", ladder = ["t3.small", "t3.medium", "t3.large"], groups = ["{node}"] }}
db = {{ description = "Aurora PostgreSQL", groups = ["{db}"] }}
bastion = {{ description = "SSH jump host" }}

[[flows]]
name = "operator-ui"
from = "10.20.0.0/16"
to = "node"
ports = 6688

[[flows]]
name = "node-db"
from = "node"
to = "db"
ports = 5432

[[forbidden]]
ports = [22, 5432, 6688, 6689]

[[forbidden]]
description = "never RDP from the world"
ports = [3389]
roles = ["bastion"]

[[exceptions]]
role = "bastion"
from = "0.0.0.0/0"
ports = 22
reason = "break-glass SSH, ticket OPS-123"

[environment]
name = "production"
chain_id = 1
database_hosts = ["db.prod.demo.internal"]
rpc_hosts = ["*.rpc.prod.demo.internal"]

[parameters]
prefix = "/chainlink/demo/"

[parameters.external]
KEYSTORE_PASSWORD = {{ secrets_manager = "chainlink/{{stack}}/keystore" }}

[instances]

[[alarms]]
metric = "AWS/EC2 CPUUtilization"
remediation = "resize"
"#,
        vpc = stack.vpc,
        node = stack.node,
        db = stack.db,
    );
    let path = std::env::temp_dir().join(format!("third-party-{}-{test}.toml", std::process::id()));
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("{e}"));
    path.display().to_string()
}

fn remediator(moto: &Moto, args: &[&str]) -> Output {
    tests::output::run(
        std::process::Command::new(remediator_binary())
            .args(args)
            .envs(moto.env()),
    )
}

fn json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON document ({e}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

fn text(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test]
async fn a_third_party_deployment_is_described_as_it_is_and_told_truly() {
    let d = deploy("sweep").await;
    let (node, db, bastion) = (
        d.stack.node.as_str(),
        d.stack.db.as_str(),
        d.bastion.as_str(),
    );

    let plan = remediator(&d.moto, &["plan", "--stack", &d.stack_file, "--json"]);
    let report = json(&plan);
    assert_eq!(plan.status.code(), Some(0), "{report:#}");
    assert_eq!(report["command"], "plan");
    assert_eq!(report["status"], "planned", "{report:#}");

    // The burstable ladder of a production stack is a warning, carried in the report.
    let warnings = report["warnings"].as_array().cloned().unwrap_or_default();
    assert!(
        warnings
            .iter()
            .any(|w| w["field"] == "roles.node.ladder[0]"),
        "{warnings:#?}"
    );

    let stack = &report["stacks"][0];
    // The path admitted by the VPC's CIDR is open, through a rule broader than it needs, and
    // nothing is added beside it; the one action is the bastion's RDP, its SSH exempt.
    let flows = stack["flow_check"].as_array().cloned().unwrap_or_default();
    let node_db = flows
        .iter()
        .find(|f| f["flow"] == "node-db")
        .unwrap_or_else(|| panic!("no node-db: {report:#}"));
    assert_eq!(node_db["status"], "open", "{node_db:#}");
    assert!(
        node_db.to_string().contains("\"broader\":true"),
        "{node_db:#}"
    );
    let actions = stack["actions"].as_array().cloned().unwrap_or_default();
    assert_eq!(actions.len(), 1, "{actions:#?}");
    assert_eq!(actions[0]["group"], bastion);
    assert_eq!(stack["groups"][bastion]["role"], "bastion");
    assert_eq!(stack["groups"][bastion]["name"], "demo-bastion");

    // The UI port, reachable from the world through the load balancer the group registers
    // its nodes in: reported with its path, never changed.
    let exposures = stack["exposures"].to_string();
    assert!(exposures.contains("public-alb"), "{exposures}");
    assert!(exposures.contains("node-ui"), "{exposures}");
    assert!(exposures.contains(&d.node), "{exposures}");

    // The keystore password is where the file says, and it exists.
    let findings = stack["parameters"]["findings"].to_string();
    assert!(!findings.contains("CL-PW-001"), "{findings}");
    assert!(findings.contains("CL-EXT-001"), "{findings}");

    // The same in words: the group's name and role beside its ID, the load balancer's path.
    let printed = text(&remediator(&d.moto, &["plan", "--stack", &d.stack_file]));
    assert!(
        printed.contains(&format!("{bastion} (demo-bastion, role bastion)")),
        "{printed}"
    );
    assert!(
        printed.contains("load balancer public-alb → listener HTTP:80"),
        "{printed}"
    );
    assert!(
        printed.contains(&format!("{db} (demo-db, role db)")),
        "{printed}"
    );
    assert!(
        printed.contains(&format!("{node} (demo-node, role node)")),
        "{printed}"
    );

    // Applied: the RDP rule goes, the rest stays, and a second run has nothing to do.
    let applied = json(&remediator(
        &d.moto,
        &["apply", "--stack", &d.stack_file, "--json"],
    ));
    assert_eq!(applied["status"], "converged", "{applied:#}");
    let ec2 = d.moto.ec2().await;
    assert_eq!(
        seed::ingress(&ec2, &d.bastion).await,
        ["tcp 22 from 0.0.0.0/0"]
    );
    assert_eq!(
        seed::ingress(&ec2, &d.stack.db).await,
        ["tcp 5432 from 10.0.0.0/16"]
    );
    assert_eq!(
        seed::ingress(&ec2, &d.load_balancer_group).await,
        ["tcp 80 from 0.0.0.0/0"]
    );
    let again = json(&remediator(
        &d.moto,
        &["apply", "--stack", &d.stack_file, "--json"],
    ));
    assert_eq!(
        again["stacks"][0]["actions"],
        Value::Array(Vec::new()),
        "{again:#}"
    );
}

#[tokio::test]
async fn a_cpu_alarm_on_the_launch_configuration_group_is_refused_with_the_way_out() {
    let d = deploy("alarm").await;
    let raw = std::fs::read_to_string(repo_path("samples/events/alarm-eventbridge-group-cpu.json"))
        .unwrap_or_else(|e| panic!("{e}"));
    let event = tests::fleet::real_alarm_event(&d.moto, &raw).await;
    let path = std::env::temp_dir().join(format!("third-party-alarm-{}.json", std::process::id()));
    std::fs::write(&path, event).unwrap_or_else(|e| panic!("{e}"));
    let event = path.display().to_string();

    let recording = d.moto.start_recording();
    let handled = remediator(
        &d.moto,
        &[
            "handle",
            "--stack",
            &d.stack_file,
            "--event",
            &event,
            "--json",
        ],
    );
    let report = json(&handled);
    let instances = report["stacks"][0]["instances"].to_string();
    assert!(
        instances.contains("uses a launch configuration")
            && instances.contains("Launch configurations are deprecated")
            && instances.contains("migrate-to-launch-templates"),
        "{report:#}"
    );
    assert_eq!(
        recording.mutating_calls(),
        Vec::<String>::new(),
        "refused before any write, the record tag included"
    );
    assert_eq!(
        tests::fleet::group_launches(&d.moto, GROUP).await.1,
        Vec::<String>::new(),
        "no override was set"
    );
}
