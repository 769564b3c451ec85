//! The planner's specification, case by case.

use domain::security_groups::observed::Direction::{Inbound, Outbound};
use domain::security_groups::observed::{ObservedGroup, ObservedStack};
use domain::security_groups::report;
use domain::security_groups::*;
use domain::stack::StackFile;
use test_support::*;

fn plan(stack: &ObservedStack) -> SecurityGroupPlan {
    plan_security_groups(&sample_stack_file(), stack)
}

fn authorized(plan: &SecurityGroupPlan) -> Vec<String> {
    rules_of(plan, |action| match action {
        SecurityGroupAction::AuthorizeIngress { group, rules } => rules
            .iter()
            .map(|r| format!("{group}: {}", r.rule))
            .collect(),
        SecurityGroupAction::RevokeIngress { .. } => Vec::new(),
    })
}

fn revoked(plan: &SecurityGroupPlan) -> Vec<String> {
    rules_of(plan, |action| match action {
        SecurityGroupAction::RevokeIngress { group, rules } => rules
            .iter()
            .map(|r| format!("{group}: {}", r.rule))
            .collect(),
        SecurityGroupAction::AuthorizeIngress { .. } => Vec::new(),
    })
}

fn rules_of(
    plan: &SecurityGroupPlan,
    pick: impl Fn(&SecurityGroupAction) -> Vec<String>,
) -> Vec<String> {
    plan.actions.iter().flat_map(pick).collect()
}

/// The healthy demo stack with `edit` applied to the group with id `id`.
fn demo_with(id: &str, edit: impl FnOnce(ObservedGroup) -> ObservedGroup) -> ObservedStack {
    let mut stack = healthy_demo();
    let index = stack.groups.iter().position(|g| g.id.as_str() == id);
    let Some(index) = index else {
        panic!("no group {id}")
    };
    let group = stack.groups.remove(index);
    stack.groups.insert(index, edit(group));
    stack
}

#[test]
fn a_healthy_stack_needs_nothing() {
    let plan = plan(&healthy_demo());
    assert!(plan.actions.is_empty(), "{:?}", plan.actions);
    assert!(plan.unmanaged.is_empty());
    assert!(plan.refusal.is_none());
}

#[test]
fn a_missing_database_rule_is_authorized_from_the_node_group() {
    let stack = demo_with("sg-db", |mut db| {
        db.ingress.clear();
        db
    });
    let plan = plan(&stack);
    assert_eq!(authorized(&plan), ["sg-db: tcp 5432 from sg-node"]);
    assert!(revoked(&plan).is_empty());
}

#[test]
fn forbidden_exposures_are_revoked_exactly() {
    let cases = [
        (tcp(6688).from("0.0.0.0/0"), "world-open UI port"),
        (tcp(22).from("0.0.0.0/0"), "world-open SSH"),
        (tcp_range(0, 65535).from("::/0"), "wide range from ::/0"),
        (
            tcp_range(8540, 8550).from("0.0.0.0/0"),
            "range covering RPC ports",
        ),
    ];
    for (rule, case) in cases {
        let expected = format!("sg-node: {rule}");
        let plan = plan(&demo_with("sg-node", |node| node.allow(rule)));
        assert_eq!(revoked(&plan), [expected], "{case}");
        assert!(authorized(&plan).is_empty(), "{case}");
    }
}

#[test]
fn world_rules_on_allowed_ports_and_narrow_rules_on_forbidden_ports_stay() {
    let kept = [
        tcp(443).from("0.0.0.0/0"),
        tcp(22).from("10.0.0.0/8"),
        tcp(5432).from("10.20.0.0/16"),
    ];
    for rule in kept {
        let plan = plan(&demo_with("sg-db", |db| db.allow(rule.clone())));
        assert!(
            plan.actions.is_empty(),
            "{rule} was planned: {:?}",
            plan.actions
        );
        assert_eq!(
            plan.unmanaged.len(),
            1,
            "{rule} must be listed as unmanaged"
        );
    }
}

#[test]
fn all_traffic_from_the_world_is_replaced_by_the_flows_it_carried_first() {
    // The node group lost its narrow P2P rule and is held open by an all-traffic rule: revoking
    // it alone would cut OCR peers off, so the narrow rule comes first.
    let stack = demo_with("sg-node", |mut node| {
        node.ingress.retain(|r| r.peer.to_string() != "0.0.0.0/0");
        node.allow(all_traffic().from("0.0.0.0/0"))
    });
    let plan = plan(&stack);
    assert_eq!(authorized(&plan), ["sg-node: tcp 6690 from 0.0.0.0/0"]);
    assert_eq!(revoked(&plan), ["sg-node: all traffic from 0.0.0.0/0"]);
    assert_eq!(
        plan.actions[0].kind(),
        "AuthorizeIngress",
        "make before break"
    );
    let SecurityGroupAction::RevokeIngress { rules, .. } = &plan.actions[1] else {
        panic!("second action must revoke")
    };
    assert_eq!(rules[0].replaced_by, ["ocr-peers"]);
    assert_eq!(rules[0].exposes.len(), 6, "every forbidden port is named");
}

#[test]
fn every_authorization_precedes_every_revocation_across_groups() {
    let stack = stack(
        "demo",
        vec![
            group("sg-a", "node").allow(all_traffic().from("0.0.0.0/0")),
            group("sg-b", "db").allow(tcp(5432).from("::/0")),
        ],
    );
    let kinds: Vec<&str> = plan(&stack)
        .actions
        .iter()
        .map(SecurityGroupAction::kind)
        .collect();
    let first_revoke = kinds.iter().position(|k| *k == "RevokeIngress");
    let last_authorize = kinds.iter().rposition(|k| *k == "AuthorizeIngress");
    assert!(last_authorize < first_revoke, "{kinds:?}");
}

#[test]
fn one_call_per_group_and_direction() {
    let stack = stack(
        "demo",
        vec![
            group("sg-node", "node")
                .allow(tcp(22).from("0.0.0.0/0"))
                .allow(tcp(8545).from("0.0.0.0/0")),
            group("sg-db", "db"),
        ],
    );
    let plan = plan(&stack);
    let per_group: Vec<(String, &str, usize)> = plan
        .actions
        .iter()
        .map(|a| (a.group().to_string(), a.kind(), a.change_count()))
        .collect();
    assert_eq!(
        per_group,
        [
            ("sg-node".into(), "AuthorizeIngress", 3),
            ("sg-db".into(), "AuthorizeIngress", 1),
            ("sg-node".into(), "RevokeIngress", 2),
        ]
    );
}

#[test]
fn flows_never_cross_stacks() {
    // Another stack's node group exists in the account, but this stack's db only ever needs its
    // own node group.
    let plan = plan(&stack("demo", vec![group("sg-db", "db")]));
    assert!(
        plan.actions.is_empty(),
        "no node group in this stack: {:?}",
        plan.actions
    );
}

#[test]
fn every_group_of_a_role_is_a_source_and_a_target() {
    let stack = stack("demo", vec![group("sg-n1", "node"), group("sg-n2", "node")]);
    let mut p2p: Vec<String> = authorized(&plan(&stack))
        .into_iter()
        .filter(|r| r.contains("6690 from sg-"))
        .collect();
    p2p.sort();
    assert_eq!(
        p2p,
        [
            "sg-n1: tcp 6690 from sg-n1",
            "sg-n1: tcp 6690 from sg-n2",
            "sg-n2: tcp 6690 from sg-n1",
            "sg-n2: tcp 6690 from sg-n2",
        ]
    );
}

#[test]
fn a_broader_surviving_rule_covers_a_flow() {
    let stack = demo_with("sg-node", |mut node| {
        node.ingress
            .retain(|r| r.peer.to_string() != "10.20.0.0/16");
        node.allow(tcp_range(6000, 7000).from("10.0.0.0/8"))
    });
    assert!(plan(&stack).actions.is_empty());
}

#[test]
fn role_less_groups_of_the_stack_are_still_guarded() {
    let stack = demo_with("sg-db", |db| db)
        .with_group(group("sg-misc", "").allow(tcp(22).from("0.0.0.0/0")));
    assert_eq!(revoked(&plan(&stack)), ["sg-misc: tcp 22 from 0.0.0.0/0"]);
}

#[test]
fn exempt_groups_and_rules_are_reported_not_changed() {
    let text = include_str!("../../../samples/stack.toml").to_string()
        + "\n[[exceptions]]\nsecurity_group = \"sg-db\"\nreason = \"migrating\"\n"
        + "\n[[exceptions]]\nrole = \"node\"\nfrom = \"0.0.0.0/0\"\nports = 22\nreason = \"break-glass\"\n";
    let file = StackFile::parse(&text, "t").unwrap_or_else(|e| panic!("{e}"));
    let stack = stack(
        "demo",
        vec![
            group("sg-node", "node")
                .allow(tcp(6688).from("10.20.0.0/16"))
                .allow(tcp(6690).from("sg-node"))
                .allow(tcp(6690).from("0.0.0.0/0"))
                .allow(tcp(22).from("0.0.0.0/0")),
            group("sg-db", "db").allow(tcp(5432).from("0.0.0.0/0")),
        ],
    );
    let plan = plan_security_groups(&file, &stack);
    assert!(plan.actions.is_empty(), "{:?}", plan.actions);
    let exempt: Vec<(String, &str)> = plan
        .exempt
        .iter()
        .map(|e| (format!("{}: {}", e.group, e.change), e.reason.as_str()))
        .collect();
    assert_eq!(
        exempt,
        [
            (
                "sg-node: revoke tcp 22 from 0.0.0.0/0".into(),
                "break-glass"
            ),
            ("sg-db: authorize tcp 5432 from sg-node".into(), "migrating"),
            ("sg-db: revoke tcp 5432 from 0.0.0.0/0".into(), "migrating"),
        ]
    );
}

#[test]
fn plans_over_the_limit_are_refused_whole() {
    let text = include_str!("../../../samples/stack.toml")
        .replace("max_changes_per_run = 25", "max_changes_per_run = 2");
    let file = StackFile::parse(&text, "t").unwrap_or_else(|e| panic!("{e}"));
    let plan = plan_security_groups(
        &file,
        &stack("demo", vec![group("sg-node", "node"), group("sg-db", "db")]),
    );
    assert_eq!(plan.change_count(), 4);
    let refusal = plan.refusal.unwrap_or_default();
    assert!(
        refusal.contains("4 rule changes") && refusal.contains("limit of 2"),
        "{refusal}"
    );
}

#[test]
fn applying_the_plan_converges() {
    let drifted = stack(
        "demo",
        vec![
            group("sg-node", "node")
                .allow(all_traffic().from("::/0"))
                .allow(tcp(22).from("0.0.0.0/0")),
            group("sg-db", "db").allow(tcp_range(0, 65535).from("0.0.0.0/0")),
        ],
    );
    let first = plan(&drifted);
    assert!(!first.actions.is_empty());
    let after = drifted.with_actions(&first.actions);
    let second = plan(&after);
    assert!(second.actions.is_empty(), "{:?}", second.actions);
}

/// An app subnet open both ways, and a data subnet whose ACL denies Postgres from the app
/// subnet (rule 90) and allows the rest.
fn with_data_acl_denying_postgres(stack: ObservedStack) -> ObservedStack {
    stack
        .with_subnet("subnet-app", "10.0.1.0/24", "acl-app")
        .with_subnet("subnet-data", "10.0.2.0/24", "acl-data")
        .with_acl(
            "acl-app",
            vec![
                acl_entry(100, Inbound, None, "0.0.0.0/0", true),
                acl_entry(100, Outbound, None, "0.0.0.0/0", true),
            ],
        )
        .with_acl(
            "acl-data",
            vec![
                acl_entry(90, Inbound, Some((5432, 5432)), "10.0.1.0/24", false),
                acl_entry(100, Inbound, None, "0.0.0.0/0", true),
                acl_entry(100, Outbound, None, "0.0.0.0/0", true),
            ],
        )
}

#[test]
fn the_flow_check_names_what_blocks_each_path() {
    let stack = demo_with("sg-db", |mut db| {
        db.ingress.clear();
        db
    })
    .with_instance("i-node", "node", "subnet-app", &["sg-node"])
    .with_instance("i-db", "db", "subnet-data", &["sg-db"]);
    let stack = with_data_acl_denying_postgres(stack);
    let checks = check_flows(&sample_stack_file(), &stack);
    let node_db = checks
        .iter()
        .find(|c| c.flow == "node-db")
        .unwrap_or_else(|| panic!("no node-db check"));
    assert_eq!(node_db.status, FlowStatus::Blocked);
    let denied: Vec<(HopLayer, &str)> = node_db.paths[0]
        .hops
        .iter()
        .filter(|h| h.verdict == Verdict::Denied)
        .map(|h| (h.layer, h.resource.as_str()))
        .collect();
    assert_eq!(
        denied,
        [
            (HopLayer::TargetIngress, "sg-db"),
            (HopLayer::TargetAclInbound, "acl-data")
        ]
    );

    let after = stack.with_actions(&plan(&stack).actions);
    let still = check_flows(&sample_stack_file(), &after);
    let node_db = still
        .iter()
        .find(|c| c.flow == "node-db")
        .unwrap_or_else(|| panic!("no node-db check"));
    assert_eq!(
        node_db.status,
        FlowStatus::Blocked,
        "the ACL still denies: it is reported, never changed"
    );
    let p2p = still
        .iter()
        .find(|c| c.flow == "node-p2p")
        .unwrap_or_else(|| panic!("no p2p check"));
    assert_eq!(p2p.status, FlowStatus::Open, "same subnet: no ACL crossed");
}

/// ACLs are stateless: a reply travels back on an ephemeral port (1024-65535) and must pass both
/// ACLs again. An ACL that admits the request but blocks the reply blocks the flow.
#[test]
fn a_blocked_reply_on_ephemeral_ports_blocks_the_flow() {
    let allow_all = || {
        vec![
            acl_entry(100, Inbound, None, "0.0.0.0/0", true),
            acl_entry(100, Outbound, None, "0.0.0.0/0", true),
        ]
    };
    let with_deny = |entry| {
        let mut entries = allow_all();
        entries.push(entry);
        entries
    };
    let cases = [
        (
            "the database's subnet sends no reply to the node's",
            "node-db",
            allow_all(),
            with_deny(acl_entry(
                90,
                Outbound,
                Some((1024, 65535)),
                "10.0.1.0/24",
                false,
            )),
            (HopLayer::TargetAclReturn, "acl-data"),
        ),
        (
            "the node's subnet takes no reply from the database's",
            "node-db",
            with_deny(acl_entry(
                90,
                Inbound,
                Some((1024, 65535)),
                "10.0.2.0/24",
                false,
            )),
            allow_all(),
            (HopLayer::SourceAclReturn, "acl-app"),
        ),
        (
            "the node's subnet sends no reply to the operators",
            "operator-ui",
            with_deny(acl_entry(
                90,
                Outbound,
                Some((32768, 65535)),
                "10.20.0.0/16",
                false,
            )),
            allow_all(),
            (HopLayer::TargetAclReturn, "acl-app"),
        ),
    ];
    for (case, flow, app, data, blocked_at) in cases {
        let stack = healthy_demo()
            .with_instance("i-node", "node", "subnet-app", &["sg-node"])
            .with_instance("i-db", "db", "subnet-data", &["sg-db"])
            .with_subnet("subnet-app", "10.0.1.0/24", "acl-app")
            .with_subnet("subnet-data", "10.0.2.0/24", "acl-data")
            .with_acl("acl-app", app)
            .with_acl("acl-data", data);
        let checks = check_flows(&sample_stack_file(), &stack);
        let check = checks
            .iter()
            .find(|c| c.flow == flow)
            .unwrap_or_else(|| panic!("{case}: no {flow} check"));
        assert_eq!(check.status, FlowStatus::Blocked, "{case}: {check:?}");
        let hops = &check.paths[0].hops;
        let denied: Vec<(HopLayer, &str)> = hops
            .iter()
            .filter(|h| h.verdict == Verdict::Denied)
            .map(|h| (h.layer, h.resource.as_str()))
            .collect();
        assert_eq!(denied, [blocked_at], "{case}: {hops:?}");
        let request = [HopLayer::TargetIngress, HopLayer::TargetAclInbound];
        assert!(
            request.iter().all(|layer| hops
                .iter()
                .any(|h| h.layer == *layer && h.verdict == Verdict::Allowed)),
            "{case}: the request itself is admitted: {hops:?}"
        );
    }
}

#[test]
fn flows_without_located_instances_are_unverified_and_missing_roles_blocked() {
    let checks = check_flows(&sample_stack_file(), &healthy_demo());
    assert_eq!(checks.len(), 4, "{checks:?}");
    assert!(
        checks.iter().all(|c| c.status == FlowStatus::Unverified),
        "{checks:?}"
    );
    let checks = check_flows(
        &sample_stack_file(),
        &stack("demo", vec![group("sg-node", "node")]),
    );
    let node_db = checks
        .iter()
        .find(|c| c.flow == "node-db")
        .unwrap_or_else(|| panic!("no node-db check"));
    assert_eq!(node_db.status, FlowStatus::Blocked);
    assert_eq!(
        node_db.note.as_deref(),
        Some("no security group of the stack has role db")
    );
}

#[test]
fn restrictive_egress_blocks_a_flow() {
    let stack = demo_with("sg-node", |node| {
        node.egress_only(vec![tcp(443).from("0.0.0.0/0")])
    });
    let checks = check_flows(&sample_stack_file(), &stack);
    let node_db = checks
        .iter()
        .find(|c| c.flow == "node-db")
        .unwrap_or_else(|| panic!("no node-db check"));
    assert_eq!(node_db.status, FlowStatus::Blocked);
    assert_eq!(node_db.paths[0].hops[0].layer, HopLayer::SourceEgress);
}

const STACK_VPC: &str = "vpc-0a0000000000000a1";
const OTHER_VPC: &str = "vpc-0b0000000000000b2";
const NODE: &str = "sg-0a0000000000000a1";
const DB: &str = "sg-0a0000000000000d1";
const INTRUDER: &str = "sg-0e0000000000000e1";

/// The sample pinned to `STACK_VPC`, with accepted groups `NODE` (node) and `DB` (db).
fn pinned_file() -> StackFile {
    let text = include_str!("../../../samples/stack.toml")
        .replace(
            "unpinned = ",
            &format!("vpcs = [\"{STACK_VPC}\"]\n# unpinned = "),
        )
        .replace(
            "node = { description = \"Chainlink node\",",
            &format!("node = {{ groups = [\"{NODE}\"], description = \"Chainlink node\","),
        )
        .replace(
            "db = { description",
            &format!("db = {{ groups = [\"{DB}\"], description"),
        );
    StackFile::parse(&text, "pinned").unwrap_or_else(|e| panic!("{e}"))
}

fn pinned_stack(intruder: ObservedGroup) -> ObservedStack {
    stack(
        "demo",
        vec![
            group(NODE, "node")
                .in_vpc(STACK_VPC)
                .allow(tcp(6688).from("10.20.0.0/16"))
                .allow(tcp(6690).from(NODE))
                .allow(tcp(6690).from("0.0.0.0/0")),
            group(DB, "db")
                .in_vpc(STACK_VPC)
                .allow(tcp(5432).from(NODE)),
            intruder,
        ],
    )
}

#[test]
fn a_group_tagged_into_the_stack_is_admitted_only_in_the_stacks_vpcs_and_accepted_groups() {
    // Each intruder carries the stack tag and a role, and exposes a forbidden port: it is never
    // a flow's source (no rule on the db or node group names it), never a target (nothing is
    // authorized on it) and never changed (its exposure stays), and the plan says why.
    let cases = [
        (
            group(INTRUDER, "node").in_vpc(OTHER_VPC),
            format!("in VPC {OTHER_VPC}, not in the stack's VPCs ({STACK_VPC})"),
        ),
        (
            group(INTRUDER, "node"),
            format!("in no VPC, not in the stack's VPCs ({STACK_VPC})"),
        ),
        (
            group(INTRUDER, "node").in_vpc(STACK_VPC),
            "carries role node but is not one of its accepted groups".to_string(),
        ),
        (
            group(INTRUDER, "db").in_vpc(STACK_VPC),
            "carries role db but is not one of its accepted groups".to_string(),
        ),
        (
            group(INTRUDER, "").in_vpc(OTHER_VPC),
            format!("in VPC {OTHER_VPC}, not in the stack's VPCs"),
        ),
    ];
    let file = pinned_file();
    for (intruder, why) in cases {
        let intruder = intruder.allow(tcp(5432).from("0.0.0.0/0"));
        let observed = pinned_stack(intruder.clone());
        let plan = plan_security_groups(&file, &observed);
        assert!(plan.actions.is_empty(), "{intruder:?}: {:?}", plan.actions);
        let refused: Vec<(&str, &str)> = plan
            .refused
            .iter()
            .map(|r| (r.group.as_str(), r.reason.as_str()))
            .collect();
        assert_eq!(refused.len(), 1, "{refused:?}");
        assert_eq!(refused[0].0, INTRUDER);
        assert!(refused[0].1.contains(&why), "{why}: {}", refused[0].1);
        assert_eq!(plan.refused[0].vpc, intruder.vpc);
        assert!(plan.unmanaged.iter().all(|u| u.group.as_str() != INTRUDER));
        for check in check_flows(&file, &observed) {
            assert!(
                check
                    .paths
                    .iter()
                    .all(|p| p.source != INTRUDER && p.target.as_str() != INTRUDER),
                "{check:?}"
            );
        }
    }
}

#[test]
fn an_admitted_group_still_gets_its_flows_when_an_intruder_is_refused() {
    let file = pinned_file();
    let intruder = group(INTRUDER, "node").in_vpc(OTHER_VPC);
    let mut observed = pinned_stack(intruder);
    observed.groups[1].ingress.clear();
    assert_eq!(
        authorized(&plan_security_groups(&file, &observed)),
        [format!("{DB}: tcp 5432 from {NODE}")]
    );
}

#[test]
fn an_unpinned_file_admits_every_group_of_the_stack_as_before() {
    let intruder = group(INTRUDER, "node").in_vpc(OTHER_VPC);
    let plan = plan(&pinned_stack(intruder));
    assert!(plan.refused.is_empty());
    assert!(
        authorized(&plan).contains(&format!("{DB}: tcp 5432 from {INTRUDER}")),
        "{:?}",
        plan.actions
    );
}

fn allow_all_acl() -> Vec<domain::security_groups::observed::AclEntry> {
    vec![
        acl_entry(100, Inbound, None, "0.0.0.0/0", true),
        acl_entry(100, Outbound, None, "0.0.0.0/0", true),
    ]
}

/// The demo stack whose database admits Postgres only from `db_cidr` (as a third party's
/// template writes it: the VPC's CIDR), located by network interfaces alone, as an Aurora
/// cluster is: a node interface at 10.0.1.10 and a database interface at 10.0.2.20.
fn cidr_admitted_stack(db_cidr: &str) -> ObservedStack {
    demo_with("sg-db", |mut db| {
        db.ingress = vec![tcp(5432).from(db_cidr)];
        db
    })
    .with_interface("eni-node1", "subnet-app", &["sg-node"], &["10.0.1.10"])
    .with_interface("eni-db1", "subnet-data", &["sg-db"], &["10.0.2.20"])
    .with_subnet("subnet-app", "10.0.1.0/24", "acl-open")
    .with_subnet("subnet-data", "10.0.2.0/24", "acl-open")
    .with_acl("acl-open", allow_all_acl())
}

fn node_db(file: &StackFile, stack: &ObservedStack) -> FlowCheck {
    check_flows(file, stack)
        .into_iter()
        .find(|c| c.flow == "node-db")
        .unwrap_or_else(|| panic!("no node-db check"))
}

fn hop(check: &FlowCheck, layer: HopLayer) -> Hop {
    check.paths[0]
        .hops
        .iter()
        .find(|h| h.layer == layer)
        .cloned()
        .unwrap_or_else(|| panic!("no {layer:?} hop in {check:?}"))
}

#[test]
fn a_cidr_containing_the_sources_addresses_opens_the_path_through_a_broader_rule() {
    let stack = cidr_admitted_stack("10.0.0.0/16");
    let check = node_db(&sample_stack_file(), &stack);
    assert_eq!(check.status, FlowStatus::Open, "{check:?}");
    let ingress = hop(&check, HopLayer::TargetIngress);
    assert_eq!(ingress.verdict, Verdict::Allowed);
    assert!(ingress.broader, "{ingress:?}");
    assert_eq!(ingress.rules, [tcp(5432).from("10.0.0.0/16")]);
    assert!(
        ingress.detail.contains("tcp 5432 from 10.0.0.0/16")
            && ingress.detail.contains("addresses of sg-node (eni-node1)")
            && ingress.detail.contains("broader than the flow needs"),
        "{}",
        ingress.detail
    );
    // The egress default reaches the database's own address: no instance needed to locate it.
    assert_eq!(
        hop(&check, HopLayer::SourceEgress).verdict,
        Verdict::Allowed
    );

    // Open: the planner adds nothing, and the rule that carries the flow is not "unmanaged".
    let plan = plan(&stack);
    assert!(authorized(&plan).is_empty(), "{:?}", plan.actions);
    assert!(plan.unmanaged.is_empty(), "{:?}", plan.unmanaged);

    // The report says it on an open flow too.
    let report = report::SecurityGroupReport {
        flow_check: vec![report::FlowReport {
            check,
            after: FlowStatus::Open,
        }],
        ..Default::default()
    };
    let text = report.to_string();
    assert!(
        text.contains(
            "sg-node → sg-db: open at sg-db: admitted by ingress rule tcp 5432 from 10.0.0.0/16"
        ),
        "{text}"
    );
}

#[test]
fn a_cidr_that_misses_some_source_address_blocks_the_path_and_says_which() {
    let cases = [
        (cidr_admitted_stack("10.0.2.0/24"), "eni-node1", 0),
        (
            // A second node in another subnet, outside the CIDR.
            cidr_admitted_stack("10.0.1.0/24").with_interface(
                "eni-node2",
                "subnet-app2",
                &["sg-node"],
                &["10.0.3.10"],
            ),
            "eni-node2",
            1,
        ),
    ];
    for (stack, missing, admitted) in cases {
        let check = node_db(&sample_stack_file(), &stack);
        assert_eq!(check.status, FlowStatus::Blocked, "{check:?}");
        let ingress = hop(&check, HopLayer::TargetIngress);
        assert_eq!(ingress.verdict, Verdict::Denied);
        assert!(!ingress.broader);
        assert!(ingress.detail.contains(missing), "{}", ingress.detail);
        if admitted > 0 {
            assert!(
                ingress
                    .detail
                    .contains(&format!("contain {admitted} of sg-node's")),
                "{}",
                ingress.detail
            );
        }
        assert_eq!(authorized(&plan(&stack)), ["sg-db: tcp 5432 from sg-node"]);
    }
}

#[test]
fn without_any_address_of_the_source_a_cidr_rule_admits_nothing_known() {
    // No interface and no instance locates the node group: a CIDR cannot be compared, the
    // path stays blocked and the group rule is planned, as for any unknown source.
    let stack = demo_with("sg-db", |mut db| {
        db.ingress = vec![tcp(5432).from("10.0.0.0/16")];
        db
    });
    assert_eq!(
        hop(
            &node_db(&sample_stack_file(), &stack),
            HopLayer::TargetIngress
        )
        .verdict,
        Verdict::Denied
    );
    assert_eq!(authorized(&plan(&stack)), ["sg-db: tcp 5432 from sg-node"]);
}

#[test]
fn a_flow_that_requires_a_group_rule_gets_one_next_to_the_broad_rule() {
    let text = include_str!("../../../samples/stack.toml").replace(
        "to = \"db\"\nprotocol = \"tcp\"\nports = 5432",
        "to = \"db\"\nprotocol = \"tcp\"\nports = 5432\ngroup_rule = true",
    );
    let file = StackFile::parse(&text, "t").unwrap_or_else(|e| panic!("{e}"));
    assert!(
        file.flows.iter().any(|f| f.group_rule),
        "the replace must hit"
    );
    let stack = cidr_admitted_stack("10.0.0.0/16");
    assert_eq!(
        node_db(&file, &stack).status,
        FlowStatus::Open,
        "reachable all the same"
    );

    let plan = plan_security_groups(&file, &stack);
    assert_eq!(authorized(&plan), ["sg-db: tcp 5432 from sg-node"]);
    let unmanaged: Vec<String> = plan.unmanaged.iter().map(|u| u.rule.to_string()).collect();
    assert_eq!(
        unmanaged,
        ["tcp 5432 from 10.0.0.0/16"],
        "the broad rule is left alone"
    );

    let after = stack.with_actions(&plan.actions);
    let ingress = hop(&node_db(&file, &after), HopLayer::TargetIngress);
    assert!(!ingress.broader, "{ingress:?}");
    assert_eq!(ingress.rules, [tcp(5432).from("sg-node")]);
    assert!(plan_security_groups(&file, &after).actions.is_empty());
}

#[test]
fn egress_to_a_cidr_is_judged_by_the_targets_addresses() {
    let cases = [
        ("10.0.2.0/24", Verdict::Allowed),
        ("10.0.2.16/28", Verdict::Allowed),
        ("10.0.3.0/24", Verdict::Denied),
    ];
    for (cidr, expected) in cases {
        let stack = cidr_admitted_stack("10.0.0.0/16");
        let index = stack.groups.iter().position(|g| g.id.as_str() == "sg-node");
        let Some(index) = index else {
            panic!("no node group")
        };
        let mut stack = stack;
        stack.groups[index].egress = vec![tcp(5432).from(cidr)];
        let egress = hop(
            &node_db(&sample_stack_file(), &stack),
            HopLayer::SourceEgress,
        );
        assert_eq!(egress.verdict, expected, "{cidr}: {egress:?}");
        assert!(!egress.broader, "egress is never flagged");
        if expected == Verdict::Denied {
            assert!(egress.detail.contains("eni-db1"), "{}", egress.detail);
        }
    }
}

#[test]
fn a_revoked_world_rule_that_carried_a_group_flow_by_address_is_replaced_first() {
    let stack = cidr_admitted_stack("0.0.0.0/0");
    let plan = plan(&stack);
    assert_eq!(authorized(&plan), ["sg-db: tcp 5432 from sg-node"]);
    assert_eq!(revoked(&plan), ["sg-db: tcp 5432 from 0.0.0.0/0"]);
    let SecurityGroupAction::RevokeIngress { rules, .. } = &plan.actions[1] else {
        panic!("second action must revoke: {:?}", plan.actions)
    };
    assert_eq!(
        rules[0].replaced_by,
        ["node-db"],
        "the nodes reached the database through it: not revoked unless the group rule is in"
    );
}

#[test]
fn a_dual_stack_source_is_admitted_by_a_rule_containing_either_of_its_addresses() {
    let stack = cidr_admitted_stack("fd00::/8").with_interface(
        "eni-node2",
        "subnet-app",
        &["sg-node"],
        &["10.0.1.11", "fd00::11"],
    );
    // eni-node1 has no IPv6 address: the IPv6 rule misses it.
    assert_eq!(
        node_db(&sample_stack_file(), &stack).status,
        FlowStatus::Blocked
    );
    let mut stack = stack;
    stack.interfaces.retain(|i| i.id.as_str() != "eni-node1");
    assert_eq!(
        node_db(&sample_stack_file(), &stack).status,
        FlowStatus::Open
    );
}

/// An RDS DB instance of the stack, wearing `groups`, in its subnet group's `subnets`.
fn with_database(mut stack: ObservedStack, groups: &[&str], subnets: &[&str]) -> ObservedStack {
    use domain::ids::{DbInstanceId, RoleName, SecurityGroupId, SubnetId};
    stack
        .databases
        .push(domain::security_groups::observed::DatabasePlacement {
            id: DbInstanceId::parse("demo-db").unwrap_or_else(|| panic!("an identifier")),
            role: RoleName::parse("db"),
            groups: groups.iter().map(|g| SecurityGroupId::new(*g)).collect(),
            subnets: subnets.iter().map(|s| SubnetId::new(*s)).collect(),
        });
    stack
}

/// No EC2 instance wears the database's group (RDS's own interfaces are not read): the DB
/// instance's subnet group locates it, so the path crosses the data subnet's ACL.
#[test]
fn the_flow_to_an_rds_database_crosses_the_acls_of_its_subnet_group() {
    let stack = with_data_acl_denying_postgres(demo_with("sg-db", |db| db).with_instance(
        "i-node",
        "node",
        "subnet-app",
        &["sg-node"],
    ));
    let unlocated = node_db(&sample_stack_file(), &stack);
    assert_eq!(unlocated.status, FlowStatus::Unverified, "{unlocated:?}");

    let located = node_db(
        &sample_stack_file(),
        &with_database(stack, &["sg-db"], &["subnet-data"]),
    );
    assert_eq!(located.status, FlowStatus::Blocked, "{located:?}");
    assert!(
        located.paths[0]
            .hops
            .iter()
            .any(|h| h.verdict == Verdict::Denied && h.resource == "acl-data"),
        "{located:?}"
    );
}

/// A DB instance that wears none of the stack's db groups: what the check says of those groups
/// says nothing of the database. Its own groups decide (any of them may admit); unread, the
/// path is unverified and names them.
#[test]
fn a_database_off_the_db_groups_is_checked_through_its_own_groups() {
    let stack = demo_with("sg-db", |db| db)
        .with_instance("i-node", "node", "subnet-app", &["sg-node"])
        .with_instance("i-db", "db", "subnet-app", &["sg-db"])
        .with_subnet("subnet-app", "10.0.1.0/24", "acl-app")
        .with_acl(
            "acl-app",
            vec![
                acl_entry(100, Inbound, None, "0.0.0.0/0", true),
                acl_entry(100, Outbound, None, "0.0.0.0/0", true),
            ],
        );
    assert_eq!(
        node_db(&sample_stack_file(), &stack).status,
        FlowStatus::Open
    );
    let off = with_database(stack, &["sg-theirs", "sg-other"], &["subnet-app"]);

    let unread = node_db(&sample_stack_file(), &off);
    assert_eq!(unread.status, FlowStatus::Unverified, "{unread:?}");
    let path = unread
        .paths
        .iter()
        .find(|p| p.target == "DB instance demo-db")
        .unwrap_or_else(|| panic!("{unread:?}"));
    assert!(
        path.hops[0].detail.contains("wears sg-theirs, sg-other"),
        "{path:?}"
    );

    let mut closed = off.clone();
    closed.database_groups = vec![
        group("sg-theirs", "").allow(tcp(22).from("10.0.0.0/16")),
        group("sg-other", ""),
    ];
    let check = node_db(&sample_stack_file(), &closed);
    assert_eq!(check.status, FlowStatus::Blocked, "{check:?}");

    let mut open = off;
    open.database_groups = vec![
        group("sg-theirs", "").allow(tcp(22).from("10.0.0.0/16")),
        group("sg-other", "").allow(tcp(5432).from("sg-node")),
    ];
    let check = node_db(&sample_stack_file(), &open);
    assert_eq!(check.status, FlowStatus::Open, "{check:?}");
    assert!(
        check
            .paths
            .iter()
            .any(|p| p.target == "DB instance demo-db (sg-other)" && p.status == FlowStatus::Open),
        "{check:?}"
    );
}
