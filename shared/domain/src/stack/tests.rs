use super::*;
use chainlink::SecretPlace;

const SAMPLE: &str = include_str!("../../../../samples/stack.toml");

fn parse(text: &str) -> Result<StackFile, StackFileError> {
    StackFile::parse(text, "test.toml")
}

/// Parses `text`, which must be invalid, and returns the fields its problems name.
fn problem_fields(text: &str) -> Vec<String> {
    match parse(text) {
        Err(StackFileError::Invalid { problems, .. }) => {
            problems.into_iter().map(|p| p.field).collect()
        }
        other => panic!("expected field problems, got {other:?}"),
    }
}

const MINIMAL: &str = r#"
[stack]
name = "demo"
mode = "report"
[roles]
node = {}
db = {}
[[flows]]
name = "node-db"
from = "node"
to = "db"
ports = 5432
"#;

#[test]
fn the_sample_means_exactly_what_the_demo_needs() {
    let file = parse(SAMPLE).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(file.selector, StackSelector::Exact(StackName::new("demo")));
    assert_eq!(file.mode, Mode::Enforce);
    let node = RoleName::new("node");
    let db = RoleName::new("db");
    let flows: Vec<(String, RoleName, Protocol, PortRange)> = file
        .flows
        .iter()
        .map(|f| (f.from.to_string(), f.to.clone(), f.protocol, f.ports))
        .collect();
    let flow = |from: &str, to: &RoleName, port| {
        (
            from.to_string(),
            to.clone(),
            Protocol::Tcp,
            PortRange::single(port),
        )
    };
    assert_eq!(
        flows,
        [
            flow("10.20.0.0/16", &node, 6688),
            flow("role node", &node, 6690),
            flow("0.0.0.0/0", &node, 6690),
            flow("role node", &db, 5432),
        ]
    );
    let forbidden: Vec<u16> = file.forbidden[0].ports.iter().map(|p| p.from).collect();
    assert_eq!(forbidden, [22, 5432, 6688, 6689, 8545, 8546]);
    assert!(file.forbidden[0].roles.is_empty(), "applies to every group");
}

#[test]
fn a_minimal_file_gets_defaults() {
    let file = parse(MINIMAL).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(file.flows[0].protocol, Protocol::Tcp);
    assert_eq!(file.limits.max_changes_per_run, 25);
    assert!(file.forbidden.is_empty() && file.exceptions.is_empty());
}

#[test]
fn unknown_keys_are_rejected_with_their_name() {
    let err = parse(&MINIMAL.replace("ports = 5432", "ports = 5432\nport = 1")).unwrap_err();
    let message = err.to_string();
    assert!(message.contains("unknown field `port`"), "{message}");
    assert!(message.contains("test.toml"), "{message}");
}

#[test]
fn each_invalid_field_is_named() {
    let cases: [(&str, &str, &str); 9] = [
        ("name = \"demo\"", "name = \"de mo\"", "stack.name"),
        ("mode = \"report\"", "mode = \"yolo\"", "stack.mode"),
        ("from = \"node\"", "from = \"10.0.0.0/33\"", "flows[0].from"),
        ("from = \"node\"", "from = \"10.0.0.1/16\"", "flows[0].from"),
        ("from = \"node\"", "from = \"bastion\"", "flows[0].from"),
        ("to = \"db\"", "to = \"cache\"", "flows[0].to"),
        ("ports = 5432", "ports = 70000", "flows[0].ports"),
        ("ports = 5432", "ports = \"6000-5000\"", "flows[0].ports"),
        (
            "ports = 5432",
            "ports = 5432\nprotocol = \"icmp\"",
            "flows[0].protocol",
        ),
    ];
    for (from, to, field) in cases {
        let fields = problem_fields(&MINIMAL.replace(from, to));
        assert!(
            fields.iter().any(|f| f == field),
            "{to:?}: expected {field}, got {fields:?}"
        );
    }
}

/// The fields `text`'s warnings name; `text` must be valid.
fn warning_fields(text: &str) -> Vec<String> {
    let file = parse(text).unwrap_or_else(|e| panic!("{e}"));
    file.warnings.into_iter().map(|w| w.field).collect()
}

#[test]
fn a_role_named_only_by_forbidden_or_an_exception_is_valid() {
    // A bastion and a load balancer: no flow reaches them, but their groups are guarded.
    let text = MINIMAL.replace("db = {}", "db = {}\nbastion = {}\nalb = {}")
        + "[[forbidden]]\nports = [22]\nroles = [\"bastion\"]\n"
        + "[[exceptions]]\nrole = \"alb\"\nfrom = \"0.0.0.0/0\"\nports = 443\nreason = \"public site\"\n";
    assert_eq!(warning_fields(&text), ["stack.vpcs"]);
    let file = parse(&text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(file.forbidden[0].roles, [RoleName::new("bastion")]);
    assert!(matches!(
        &file.exceptions[0].scope,
        ExceptionScope::Rule { target: RuleTarget::Role(role), .. } if role.as_str() == "alb"
    ));
}

#[test]
fn a_role_nothing_uses_is_a_warning_not_an_error() {
    let text = MINIMAL.replace("db = {}", "db = {}\ncache = {}");
    assert_eq!(warning_fields(&text), ["roles.cache", "stack.vpcs"]);
    let file = parse(&text).unwrap_or_else(|e| panic!("{e}"));
    let cache = file.warnings.iter().find(|w| w.field == "roles.cache");
    assert!(
        cache.is_some_and(|w| w.message.contains("no flow, forbidden entry or exception")),
        "{:?}",
        file.warnings
    );
    let with_ladder = MINIMAL.replace(
        "db = {}",
        "db = {}\ncache = { ladder = [\"m6i.large\", \"m6i.xlarge\"] }",
    );
    assert_eq!(
        warning_fields(&with_ladder),
        ["stack.vpcs"],
        "a ladder is a use"
    );
}

#[test]
fn a_flow_may_require_a_rule_naming_its_source_group() {
    let file = parse(MINIMAL).unwrap_or_else(|e| panic!("{e}"));
    assert!(!file.flows[0].group_rule, "off by default");
    let text = MINIMAL.replace("ports = 5432", "ports = 5432\ngroup_rule = true");
    let file = parse(&text).unwrap_or_else(|e| panic!("{e}"));
    assert!(file.flows[0].group_rule);
    let from_cidr = text.replace("from = \"node\"", "from = \"10.0.0.0/16\"");
    assert_eq!(problem_fields(&from_cidr), ["flows[0].group_rule"]);
}

#[test]
fn all_problems_are_reported_at_once() {
    let text = MINIMAL
        .replace("mode = \"report\"", "mode = \"yolo\"")
        .replace("ports = 5432", "ports = -1");
    assert_eq!(problem_fields(&text), ["stack.mode", "flows[0].ports"]);
}

#[test]
fn a_required_flow_cannot_open_a_forbidden_port_to_the_world() {
    let text = format!(
        "{MINIMAL}\n[[flows]]\nname = \"x\"\nfrom = \"::/0\"\nto = \"db\"\nports = 5432\n[[forbidden]]\nports = [5432]\n"
    );
    assert_eq!(problem_fields(&text), ["flows[1]"]);
}

#[test]
fn flow_names_are_unique() {
    let text = format!(
        "{MINIMAL}\n[[flows]]\nname = \"node-db\"\nfrom = \"node\"\nto = \"db\"\nports = 5433\n"
    );
    assert_eq!(problem_fields(&text), ["flows[1].name"]);
}

#[test]
fn exceptions_need_a_reason_and_a_target() {
    let group = format!(
        "{MINIMAL}\n[[exceptions]]\nsecurity_group = \"sg-0abc\"\nreason = \"legacy bastion\"\n"
    );
    let file = parse(&group).unwrap_or_else(|e| panic!("{e}"));
    assert!(file
        .exempt_group(&SecurityGroupId::new("sg-0abc"))
        .is_some());

    let rule = format!("{MINIMAL}\n[[exceptions]]\nrole = \"node\"\nfrom = \"0.0.0.0/0\"\nports = 22\nreason = \"break-glass SSH\"\n");
    let file = parse(&rule).unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(
        file.exceptions[0].scope,
        ExceptionScope::Rule { .. }
    ));

    let cases = [
        (
            "security_group = \"sg-0abc\"\nreason = \"\"",
            "exceptions[0].reason",
        ),
        (
            "security_group = \"nope\"\nreason = \"r\"",
            "exceptions[0].security_group",
        ),
        ("role = \"node\"\nreason = \"r\"", "exceptions[0]"),
        ("reason = \"r\"", "exceptions[0]"),
        (
            "role = \"node\"\nfrom = \"everyone\"\nports = 22\nreason = \"r\"",
            "exceptions[0].from",
        ),
    ];
    for (body, field) in cases {
        let fields = problem_fields(&format!("{MINIMAL}\n[[exceptions]]\n{body}\n"));
        assert_eq!(fields, [field], "{body}");
    }
}

#[test]
fn limits_must_be_positive() {
    let text = format!("{MINIMAL}\n[limits]\nmax_changes_per_run = 0\n");
    assert_eq!(problem_fields(&text), ["limits.max_changes_per_run"]);
}

#[test]
fn patterns_select_stacks_by_name() {
    let cases = [
        ("*", "anything", true),
        ("prod-*", "prod-eu", true),
        ("prod-*", "prod-", true),
        ("prod-*", "dev-eu", false),
        ("*-eu", "prod-eu", true),
        ("p*d-*-eu", "prod-1-eu", true),
        ("p*d-*-eu", "prod-1-us", false),
    ];
    for (pattern, name, expected) in cases {
        let selector = StackSelector::Pattern(pattern.into());
        assert_eq!(
            selector.matches(&StackName::new(name)),
            expected,
            "{pattern} ~ {name}"
        );
    }
    let exact = parse_selector("demo").unwrap_or_else(|e| panic!("{e}"));
    assert!(exact.matches(&StackName::new("demo")) && !exact.matches(&StackName::new("demo2")));
}

/// Stack tags and alarm names are written by whoever may tag or create alarms: many stars
/// against long names are answered, with the same semantics as short ones (case counts, a `*`
/// may be empty).
#[test]
fn many_stars_against_long_names() {
    let long = "a".repeat(64 * 1024);
    let selector = StackSelector::Pattern("a*a*a*a*a*b".into());
    assert!(!selector.matches(&StackName::new(long.as_str())));
    assert!(selector.matches(&StackName::new(format!("{long}b"))));
    assert!(!selector.matches(&StackName::new(format!("{long}B"))));

    let by_name = AlarmMatcher::Name("demo-node-*-*-*-*-disk".into());
    let alarm = format!("demo-node-{}-disk", "-".repeat(8 * 1024));
    assert!(by_name.matches(&alarm, &[]));
    assert!(!by_name.matches(&format!("{alarm}s"), &[]));
    let by_metric = AlarmMatcher::Metric {
        namespace: "AWS/EC2".into(),
        name: "*C*C*C*C*x".into(),
    };
    let metric = |name: &str| [("AWS/EC2".to_string(), name.to_string())];
    assert!(!by_metric.matches("any", &metric(&"C".repeat(8 * 1024))));
    assert!(by_metric.matches("any", &metric(&format!("{}x", "C".repeat(8 * 1024)))));
}

#[test]
fn the_sample_declares_a_production_mainnet_environment() {
    let file = parse(SAMPLE).unwrap_or_else(|e| panic!("{e}"));
    let policy = &file.environment;
    assert!(policy.production);
    assert_eq!(policy.chain_id, Some(1));
    assert!(policy
        .allowed_db_hosts
        .iter()
        .any(|h| h.matches("db.prod.demo.internal")));
    assert!(!policy
        .allowed_db_hosts
        .iter()
        .any(|h| h.matches("db.dev.demo.internal")));
    assert!(policy
        .allowed_rpc_hosts
        .iter()
        .any(|h| h.matches("eth-1.rpc.prod.demo.internal")));
    let source = file
        .parameters
        .unwrap_or_else(|| panic!("parameters declared"));
    assert_eq!(
        source.prefix_for(&StackName::new("demo")),
        "/chainlink/demo/"
    );
    assert_eq!(source.label, "last-known-good");
}

#[test]
fn parameter_prefixes_may_name_the_stack() {
    let source = ParameterSource {
        prefix: "/chainlink/{stack}/".into(),
        label: "last-known-good".into(),
        probes: false,
        kms_key: None,
    };
    assert_eq!(
        source.prefix_for(&StackName::new("prod-eu")),
        "/chainlink/prod-eu/"
    );
    assert_eq!(
        source.stack_of("/chainlink/prod-eu/DATABASE_URL"),
        Some(StackName::new("prod-eu"))
    );
    assert_eq!(source.stack_of("/other/prod-eu/DATABASE_URL"), None);
}

/// Found while writing the stack_parse fuzz target's invariants: `stack_of` assumed `{stack}`
/// fills a whole path segment, so with a pattern selector and a prefix such as
/// `/chainlink-{stack}-params/` every parameter change was skipped as outside the prefix.
#[test]
fn stack_of_inverts_prefix_for_wherever_the_stack_stands() {
    for prefix in [
        "/chainlink/{stack}/",
        "/chainlink-{stack}-params/",
        "/{stack}x/",
        "/chainlink/{stack}/node-{stack}/",
    ] {
        let source = ParameterSource {
            prefix: prefix.into(),
            label: "last-known-good".into(),
            probes: false,
            kms_key: None,
        };
        for stack in ["prod-eu", "a", "prod.eu_1"] {
            let stack = StackName::new(stack);
            let parameter = format!("{}DATABASE_URL", source.prefix_for(&stack));
            assert_eq!(
                source.stack_of(&parameter),
                Some(stack),
                "{prefix} {parameter}"
            );
        }
        assert_eq!(
            source.stack_of("/other/prod-eu/DATABASE_URL"),
            None,
            "{prefix}"
        );
        assert_eq!(
            source.stack_of(&prefix.replace("{stack}", "")),
            None,
            "{prefix}"
        );
    }
}

#[test]
fn environment_and_parameter_fields_are_checked() {
    let cases = [
        ("[environment]\nname = \"\"\n", "environment.name"),
        (
            "[environment]\nname = \"staging\"\nchain_id = -1\n",
            "environment.chain_id",
        ),
        (
            "[environment]\nname = \"staging\"\ndatabase_hosts = [\"db prod\"]\n",
            "environment.database_hosts[0]",
        ),
        (
            "[environment]\nname = \"staging\"\nnode_version = \"2.18\"\n",
            "environment.node_version",
        ),
        (
            "[environment]\nname = \"staging\"\ndatabase_max_connections = 0\n",
            "environment.database_max_connections",
        ),
        (
            "[parameters]\nprefix = \"chainlink/demo\"\n",
            "parameters.prefix",
        ),
        (
            "[parameters]\nprefix = \"/chainlink/demo/\"\nlabel = \"aws-good\"\n",
            "parameters.label",
        ),
        (
            "[parameters]\nprefix = \"/chainlink/demo/\"\nkms_key = \"chainlink-demo\"\n",
            "parameters.kms_key",
        ),
        (
            "[parameters]\nprefix = \"/chainlink/demo/\"\nkms_key = \"arn:aws:kms:us-east-1:111122223333:key/chainlink\"\n",
            "parameters.kms_key",
        ),
    ];
    for (section, field) in cases {
        assert_eq!(
            problem_fields(&format!("{MINIMAL}\n{section}")),
            [field],
            "{section}"
        );
    }
}

#[test]
fn the_node_version_and_connection_limit_are_declared_or_unknown() {
    let text = format!(
        "{MINIMAL}\n[environment]\nname = \"staging\"\nnode_version = \"v2.18.0\"\n\
         database_max_connections = 200\n"
    );
    let file = parse(&text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        file.environment.node_version,
        Some(NodeVersion::new(2, 18, 0))
    );
    assert_eq!(file.environment.database_max_connections, Some(200));
    // The node count is the engine's to supply.
    assert_eq!(file.environment.node_count, None);
    let sample = parse(SAMPLE).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(sample.environment.node_version, None);
    assert_eq!(sample.environment.database_max_connections, Some(100));
    let message = match parse(&text.replace("v2.18.0", "2.x")) {
        Err(StackFileError::Invalid { problems, .. }) => problems[0].to_string(),
        other => panic!("expected a problem, got {other:?}"),
    };
    assert!(
        message.starts_with("environment.node_version: \"2.x\" is not a node version"),
        "{message}"
    );
}

#[test]
fn a_declared_kms_key_is_kept_as_written_and_none_is_the_default() {
    for key in [
        "alias/chainlink-demo",
        "1234abcd-12ab-34cd-56ef-1234567890ab",
        "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "arn:aws:kms:us-east-1:111122223333:alias/chainlink-demo",
    ] {
        let text = format!(
            "{MINIMAL}\n[parameters]\nprefix = \"/chainlink/demo/\"\nkms_key = \"{key}\"\n"
        );
        let file = parse(&text).unwrap_or_else(|e| panic!("{key}: {e}"));
        let declared = file.parameters.and_then(|p| p.kms_key);
        assert_eq!(declared.as_ref().map(KmsKeyRef::as_str), Some(key));
    }
    let file = parse(SAMPLE).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(file.parameters.and_then(|p| p.kms_key), None);
}

const WITH_LADDER: &str = r#"
[stack]
name = "demo"
mode = "report"
unpinned = "ladder tests"
[environment]
name = "production"
[roles]
node = { ladder = LADDER }
db = {}
[[flows]]
name = "node-db"
from = "node"
to = "db"
ports = 5432
[[alarms]]
metric = "AWS/EC2 CPUUtilization"
remediation = "resize"
"#;

fn with_ladder(ladder: &str) -> Result<StackFile, StackFileError> {
    parse(&WITH_LADDER.replace("LADDER", ladder))
}

#[test]
fn the_sample_declares_the_demo_ladder_and_alarm_remediations() {
    let file = parse(SAMPLE).unwrap_or_else(|e| panic!("{e}"));
    let ladder: Vec<&str> = file.roles[&RoleName::new("node")]
        .ladder
        .iter()
        .map(|t| t.as_str())
        .collect();
    assert_eq!(
        ladder,
        ["m6i.large", "m6i.xlarge", "m6i.2xlarge", "m6i.4xlarge"]
    );
    let policy = file.instances.as_ref().expect("alarm remediations");
    assert_eq!(policy.cooldown_minutes, 60);
    assert_eq!(policy.disk.step_percent, 50);
    assert_eq!(policy.disk.max_gib, 1000);
    let metric = |ns: &str, name: &str| vec![(ns.to_string(), name.to_string())];
    for (metrics, expected) in [
        (metric("AWS/EC2", "CPUUtilization"), Remediation::Resize),
        (metric("CWAgent", "mem_used_percent"), Remediation::Resize),
        (
            metric("CWAgent", "disk_used_percent"),
            Remediation::GrowDisk,
        ),
        (
            metric("AWS/EC2", "StatusCheckFailed_System"),
            Remediation::Replace,
        ),
        (
            metric("AWS/EC2", "StatusCheckFailed_Instance"),
            Remediation::Replace,
        ),
    ] {
        assert_eq!(
            policy.remediation_for("any", &metrics),
            Some(expected),
            "{metrics:?}"
        );
    }
    assert_eq!(
        policy.remediation_for("any", &metric("AWS/EC2", "NetworkIn")),
        None
    );
    assert!(file.warnings.is_empty(), "{:?}", file.warnings);
}

#[test]
fn a_ladder_must_be_known_types_each_bigger_than_the_last() {
    assert!(with_ladder(r#"["m6i.large", "m6i.xlarge"]"#).is_ok());
    for (ladder, field) in [
        (r#"["m6i.large", "m6i.bogus"]"#, "roles.node.ladder[1]"),
        (r#"["m6i.xlarge", "m6i.large"]"#, "roles.node.ladder[1]"),
        (r#"["m6i.large", "m7i.large"]"#, "roles.node.ladder[1]"),
        (r#"["m6i.large", "m6g.xlarge"]"#, "roles.node.ladder[1]"),
        (r#"["m6i.large"]"#, "roles.node.ladder"),
        (r#"["m6i.32xlarge", "m6i.metal"]"#, "roles.node.ladder[1]"),
        (r#"["m6i.large", "m6i.small"]"#, "roles.node.ladder[1]"),
        (
            r#"["t3.small", "t3.large", "t3.medium"]"#,
            "roles.node.ladder[2]",
        ),
    ] {
        assert_eq!(
            problem_fields(&WITH_LADDER.replace("LADDER", ladder)),
            [field],
            "{ladder}"
        );
    }
    let error = with_ladder(r#"["m6i.32xlarge", "m6i.metal"]"#).unwrap_err();
    assert!(
        error.to_string().contains(
            "m6i.metal (128 vCPUs, 512 GiB) is not bigger than m6i.32xlarge (128 vCPUs, 512 GiB)"
        ),
        "{error}"
    );
}

#[test]
fn burstable_ladders_step_through_their_small_sizes() {
    let staging = WITH_LADDER.replace("production", "staging");
    for ladder in [
        r#"["t3.small", "t3.medium", "t3.large"]"#,
        r#"["t2.nano", "t2.micro", "t2.small", "t2.medium"]"#,
        r#"["t4g.medium", "t4g.large", "m7g.xlarge"]"#,
    ] {
        let file = parse(&staging.replace("LADDER", ladder));
        assert!(file.is_ok(), "{ladder}: {}", file.unwrap_err());
    }
}

#[test]
fn a_type_newer_than_the_catalog_loads_with_a_warning_and_is_not_sized_offline() {
    let staging = WITH_LADDER.replace("production", "staging");
    let file = parse(&staging.replace("LADDER", r#"["m6i.large", "m9i.xlarge"]"#))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(file.warnings.len(), 1, "{:?}", file.warnings);
    assert_eq!(file.warnings[0].field, "roles.node.ladder[1]");
    assert!(
        file.warnings[0]
            .message
            .contains("m9i.xlarge is not in moto 5.2.1's DescribeInstanceTypes data"),
        "{:?}",
        file.warnings
    );
    // The types around it are still ordered against each other.
    let fields =
        problem_fields(&staging.replace("LADDER", r#"["m6i.xlarge", "m9i.xlarge", "m6i.large"]"#));
    assert_eq!(fields, ["roles.node.ladder[2]"]);
}

#[test]
fn burstable_types_in_production_are_a_warning_not_an_error() {
    let file = with_ladder(r#"["t3.large", "t3.xlarge"]"#).unwrap();
    assert_eq!(file.warnings.len(), 2);
    assert!(
        file.warnings[0].message.contains("burstable"),
        "{:?}",
        file.warnings
    );
    let staging = WITH_LADDER
        .replace("LADDER", r#"["t3.large", "t3.xlarge"]"#)
        .replace("production", "staging");
    let warnings = parse(&staging).unwrap().warnings;
    assert!(
        !warnings.iter().any(|w| w.message.contains("burstable")),
        "{warnings:?}"
    );
}

#[test]
fn alarm_rules_and_limits_are_validated() {
    let text = WITH_LADDER.replace("LADDER", r#"["m6i.large", "m6i.xlarge"]"#)
        + r#"
[instances]
min_healthy_percentage = 120
max_resizes_per_hour = 0
[[alarms]]
metric = "CPUUtilization"
remediation = "resize"
[[alarms]]
name = "demo-*"
metric = "AWS/EC2 CPUUtilization"
remediation = "reboot"
"#;
    assert_eq!(
        problem_fields(&text),
        [
            "alarms[1].metric",
            "alarms[2].remediation",
            "alarms[2]",
            "instances.max_resizes_per_hour",
            "instances.min_healthy_percentage",
        ]
    );
    let no_ladder = MINIMAL.to_string() + "[[alarms]]\nname = \"x\"\nremediation = \"resize\"\n";
    assert_eq!(problem_fields(&no_ladder), ["alarms"]);
}

/// `MINIMAL` in production, with `pin` under `[stack]` and the roles' fields given.
fn production(pin: &str, node_groups: &str, db_groups: &str) -> String {
    MINIMAL
        .replace("mode = \"report\"", &format!("mode = \"report\"\n{pin}"))
        .replace("node = {}", &format!("node = {{ {node_groups} }}"))
        .replace("db = {}", &format!("db = {{ {db_groups} }}"))
        + "[environment]\nname = \"production\"\n"
}

#[test]
fn a_production_stack_names_its_vpcs_and_accepted_groups_or_says_why_not() {
    let pinned = production(
        r#"vpcs = ["vpc-0a1b2c3d4e5f60718", "vpc-1234abcd"]"#,
        r#"groups = ["sg-0a0000000000000a1", "sg-0a0000000000000a2"]"#,
        r#"groups = ["sg-0a0000000000000d1"]"#,
    );
    let file = parse(&pinned).unwrap_or_else(|e| panic!("{e}"));
    let vpcs: Vec<&str> = file.vpcs.iter().map(VpcId::as_str).collect();
    assert_eq!(vpcs, ["vpc-0a1b2c3d4e5f60718", "vpc-1234abcd"]);
    let db = &file.roles[&RoleName::new("db")];
    assert_eq!(db.groups, [SecurityGroupId::new("sg-0a0000000000000d1")]);
    assert!(file.warnings.is_empty(), "{:?}", file.warnings);

    assert_eq!(
        problem_fields(&production("", "", "")),
        ["stack.vpcs", "roles.db.groups", "roles.node.groups"]
    );
    let message = parse(&production("", "", "")).unwrap_err().to_string();
    assert!(
        message.contains("a production stack names no VPC") && message.contains("stack.unpinned"),
        "{message}"
    );
    let waived = production(r#"unpinned = "lab stack, one VPC per account""#, "", "");
    let file = parse(&waived).unwrap_or_else(|e| panic!("{e}"));
    assert!(file.vpcs.is_empty() && file.roles.values().all(|r| r.groups.is_empty()));
}

#[test]
fn pinning_fields_are_validated() {
    let cases = [
        (
            production(
                r#"vpcs = ["vpc-xyz"]"#,
                r#"groups = ["sg-zz"]"#,
                r#"groups = ["sg"]"#,
            ),
            vec![
                "roles.db.groups[0]",
                "roles.node.groups[0]",
                "stack.vpcs[0]",
            ],
        ),
        (
            production(
                r#"vpcs = ["subnet-0a1"]"#,
                r#"groups = ["db"]"#,
                r#"groups = ["sg-0d1"]"#,
            ),
            vec!["roles.node.groups[0]", "stack.vpcs[0]"],
        ),
        (
            production(r#"unpinned = " ""#, "", ""),
            vec!["stack.unpinned"],
        ),
        (
            production(
                r#"vpcs = ["vpc-0a1"]"#,
                r#"groups = ["sg-0a1"]"#,
                r#"groups = ["sg-0a1"]"#,
            ),
            vec!["roles.node.groups"],
        ),
    ];
    for (text, fields) in cases {
        assert_eq!(problem_fields(&text), fields, "{text}");
    }
}

#[test]
fn outside_production_an_unpinned_stack_is_a_warning() {
    let file = parse(MINIMAL).unwrap_or_else(|e| panic!("{e}"));
    let fields: Vec<&str> = file.warnings.iter().map(|w| w.field.as_str()).collect();
    assert_eq!(fields, ["stack.vpcs"]);
    assert!(file.warnings[0].message.contains("any VPC"));
    let waived = MINIMAL.replace("mode = \"report\"", "mode = \"report\"\nunpinned = \"lab\"");
    assert!(parse(&waived).unwrap().warnings.is_empty());
}

#[test]
fn the_node_roles_are_those_the_nodes_configuration_speaks_for() {
    let sample = parse(SAMPLE).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(sample.node_roles(), [RoleName::new("node")]);

    let renamed = r#"
[stack]
name = "demo"
mode = "report"
[roles]
oracle = {}
postgres = {}
[[flows]]
name = "oracle-db"
from = "oracle"
to = "postgres"
ports = 5432
config_port = "database"
[parameters]
prefix = "/chainlink/demo/"
"#;
    let file = parse(renamed).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        file.node_roles(),
        [RoleName::new("oracle")],
        "the database's clients, not the database"
    );

    let silent = parse(MINIMAL).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        silent.node_roles(),
        [RoleName::new("node")],
        "the role named node"
    );
}

#[test]
fn the_node_version_is_declared_or_read_from_a_tag_never_both() {
    let tagged = SAMPLE.replace(
        "database_max_connections = 100",
        "database_max_connections = 100\nnode_version_tag = \"chainlink:node-version\"",
    );
    let file = parse(&tagged).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        file.node_version_tag.as_deref(),
        Some("chainlink:node-version")
    );
    assert_eq!(file.environment.node_version, None);

    let both = tagged.replace(
        "node_version_tag =",
        "node_version = \"2.18.0\"\nnode_version_tag =",
    );
    assert_eq!(problem_fields(&both), ["environment.node_version_tag"]);
    let reserved = SAMPLE.replace(
        "database_max_connections = 100",
        "node_version_tag = \"aws:version\"",
    );
    assert_eq!(problem_fields(&reserved), ["environment.node_version_tag"]);
}

#[test]
fn a_secret_kept_outside_parameter_store_is_declared_by_its_parameter_name() {
    let text = format!(
        "{MINIMAL}\n[parameters]\nprefix = \"/chainlink/{{stack}}/\"\n\
         [parameters.external]\n\
         KEYSTORE_PASSWORD = {{ secrets_manager = \"chainlink/{{stack}}/keystore\" }}\n\
         API_PASSWORD = {{ file = \"/chainlink/.api\" }}\n"
    );
    let file = parse(&text).unwrap_or_else(|e| panic!("{e}"));
    let places: Vec<(&str, &SecretPlace)> = file
        .environment
        .secrets_elsewhere
        .iter()
        .map(|s| (s.name.as_str(), &s.place))
        .collect();
    assert_eq!(
        places,
        [
            ("API_PASSWORD", &SecretPlace::File("/chainlink/.api".into())),
            (
                "KEYSTORE_PASSWORD",
                &SecretPlace::SecretsManager("chainlink/{stack}/keystore".into())
            ),
        ]
    );
    let resolved = secret_for_stack(&file.environment.secrets_elsewhere[1], "prod-eth");
    assert_eq!(
        resolved.place,
        SecretPlace::SecretsManager("chainlink/prod-eth/keystore".into())
    );

    let bad = |external: &str| {
        problem_fields(&format!(
            "{MINIMAL}\n[parameters]\nprefix = \"/chainlink/\"\n[parameters.external]\n{external}\n"
        ))
    };
    for (external, field) in [
        ("ETH_URL = { file = \"/x\" }", "parameters.external.ETH_URL"),
        (
            "KEYSTORE_PASSWORD = { file = \"relative\" }",
            "parameters.external.KEYSTORE_PASSWORD",
        ),
        (
            "KEYSTORE_PASSWORD = {}",
            "parameters.external.KEYSTORE_PASSWORD",
        ),
        (
            "KEYSTORE_PASSWORD = { file = \"/x\", secrets_manager = \"y\" }",
            "parameters.external.KEYSTORE_PASSWORD",
        ),
        (
            "DATABASE_URL = { secrets_manager = \"has space\" }",
            "parameters.external.DATABASE_URL",
        ),
        (
            "DATABASE_URL = { secrets_manager = \"arn:aws:ssm:us-east-1:1:parameter/x\" }",
            "parameters.external.DATABASE_URL",
        ),
    ] {
        assert_eq!(bad(external), [field], "{external}");
    }
    let arn = "arn:aws:secretsmanager:us-east-1:111111111111:secret:chainlink/db-AbCdEf";
    parse(&format!(
        "{MINIMAL}\n[parameters]\nprefix = \"/chainlink/\"\n[parameters.external]\nDATABASE_URL = {{ secrets_manager = \"{arn}\" }}\n"
    ))
    .unwrap_or_else(|e| panic!("{e}"));
}

// The database: `[database]` and the alarm rules of its remediations.

#[test]
fn the_sample_declares_the_demo_database_and_its_alarms() {
    let file = parse(SAMPLE).unwrap_or_else(|e| panic!("{e}"));
    let policy = file.database.as_ref().expect("[database]");
    assert_eq!(policy.role.as_str(), "db");
    let ladder: Vec<&str> = policy.ladder.iter().map(|c| c.as_str()).collect();
    assert_eq!(ladder, ["db.m6i.large", "db.m6i.xlarge", "db.m6i.2xlarge"]);
    assert_eq!(policy.storage_step_percent, 20);
    assert_eq!(policy.storage_max_gib, 500);
    assert_eq!(policy.pending_modifications, PendingPolicy::Refuse);
    assert!(!policy.allow_downtime && !policy.prefer_autoscaling_ceiling);
    let rules = file.instances.as_ref().expect("[[alarms]]");
    for (metric, expected) in [
        ("FreeStorageSpace", Remediation::GrowStorage),
        ("CPUUtilization", Remediation::ScaleClass),
        ("FreeableMemory", Remediation::ScaleClass),
        ("DatabaseConnections", Remediation::ReportConnections),
    ] {
        let metrics = vec![("AWS/RDS".to_string(), metric.to_string())];
        assert_eq!(rules.remediation_for("any", &metrics), Some(expected));
        assert!(expected.is_database());
    }
    assert!(file.warnings.is_empty(), "{:?}", file.warnings);
}

#[test]
fn database_defaults() {
    let file = StackFile::parse(&format!("{MINIMAL}[database]\n"), "test.toml")
        .unwrap_or_else(|e| panic!("{e}"));
    let policy = file.database.expect("[database]");
    assert_eq!(policy.role.as_str(), "db");
    assert_eq!(
        (policy.storage_step_percent, policy.storage_max_gib),
        (20, 1000)
    );
    assert_eq!(policy.pending_modifications, PendingPolicy::Refuse);
    assert!(policy.ladder.is_empty() && policy.hosts.is_empty());
    let without = StackFile::parse(MINIMAL, "test.toml").unwrap_or_else(|e| panic!("{e}"));
    assert!(without.database.is_none());
}

#[test]
fn each_invalid_database_field_is_named() {
    let text = format!(
        r#"{MINIMAL}
[database]
role = "DB"
hosts = ["db..internal"]
ladder = ["db.m6i.xlarge", "db.m6i.large", "db.q1.large"]
storage_step_percent = 9
storage_max_gib = 10
pending_modifications = "flush"
"#
    );
    assert_eq!(
        problem_fields(&text),
        [
            "database.role",
            "database.hosts[0]",
            "database.ladder[2]",
            "database.storage_step_percent",
            "database.storage_max_gib",
            "database.pending_modifications",
        ]
    );
    let unordered =
        format!("{MINIMAL}[database]\nladder = [\"db.m6i.xlarge\", \"db.m6i.large\"]\n");
    assert_eq!(problem_fields(&unordered), ["database.ladder[1]"]);
    let single = format!("{MINIMAL}[database]\nladder = [\"db.m6i.large\"]\n");
    assert_eq!(problem_fields(&single), ["database.ladder"]);
    // More memory, same vCPUs is a step; the same size in another family is not.
    let across = format!("{MINIMAL}[database]\nladder = [\"db.m6i.large\", \"db.r6i.large\"]\n");
    assert!(StackFile::parse(&across, "t").is_ok());
    let same = format!("{MINIMAL}[database]\nladder = [\"db.m6g.large\", \"db.m6i.large\"]\n");
    assert_eq!(problem_fields(&same), ["database.ladder[1]"]);
    let step_ok = format!("{MINIMAL}[database]\nstorage_step_percent = 10\n");
    assert!(
        StackFile::parse(&step_ok, "t").is_ok(),
        "10 % is AWS's minimum"
    );
    let unknown = format!("{MINIMAL}[database]\nsize = 1\n");
    assert!(matches!(
        StackFile::parse(&unknown, "t"),
        Err(StackFileError::Syntax { message, .. }) if message.contains("size")
    ));
}

#[test]
fn database_alarm_rules_are_checked_against_the_section_and_the_metric() {
    let alarm = |metric: &str, remediation: &str| {
        format!("[[alarms]]\nmetric = \"{metric}\"\nremediation = \"{remediation}\"\n")
    };
    let without_section = format!(
        "{MINIMAL}{}",
        alarm("AWS/RDS FreeStorageSpace", "grow_storage")
    );
    assert_eq!(problem_fields(&without_section), ["alarms[0].remediation"]);
    let text = format!(
        "{MINIMAL}{}{}{}{}[database]\n",
        alarm("AWS/RDS CPUUtilization", "grow_storage"),
        alarm("AWS/EC2 CPUUtilization", "scale_class"),
        alarm("AWS/RDS FreeStorageSpace", "grow_disk"),
        alarm("AWS/RDS ReadLatency", "report_connections"),
    );
    assert_eq!(
        problem_fields(&text),
        [
            "alarms[0].remediation",
            "alarms[1].remediation",
            "alarms[1].metric",
            "alarms[2].remediation",
        ],
        "an RDS metric without a known remedy may call for any database remediation"
    );
    let with_ladder = format!(
        "{MINIMAL}{}[database]\nladder = [\"db.t4g.small\", \"db.t4g.medium\"]\n",
        alarm("AWS/RDS CPUUtilization", "scale_class")
    );
    assert!(StackFile::parse(&with_ladder, "t").is_ok());
}

#[test]
fn burstable_classes_in_a_production_ladder_are_a_warning() {
    let text = format!(
        "{MINIMAL}[environment]\nname = \"staging\"\n[database]\nladder = [\"db.t4g.small\", \"db.t4g.medium\"]\n"
    );
    let file = StackFile::parse(&text, "t").unwrap_or_else(|e| panic!("{e}"));
    assert!(file
        .warnings
        .iter()
        .all(|w| !w.field.starts_with("database")));
    let production = SAMPLE.replace(
        r#"ladder = ["db.m6i.large", "db.m6i.xlarge", "db.m6i.2xlarge"]"#,
        r#"ladder = ["db.t4g.small", "db.t4g.medium"]"#,
    );
    let file = StackFile::parse(&production, "t").unwrap_or_else(|e| panic!("{e}"));
    let fields: Vec<&str> = file.warnings.iter().map(|w| w.field.as_str()).collect();
    assert_eq!(fields, ["database.ladder[0]", "database.ladder[1]"]);
}
