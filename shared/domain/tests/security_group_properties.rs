//! The planner's law, checked on generated stack files and observed stacks rather than on
//! hand-picked cases: applying a plan converges, no required flow closes at any step of it,
//! and nothing outside the stack or exempt is ever touched.
//!
//! Generation works on small index-based specs (roles, ports and CIDRs from short pools that
//! overlap on purpose), rendered to TOML and loaded through `StackFile::parse`, so a shrunk
//! failure prints as a stack file and a list of groups a person can read.

use domain::ids::{RoleName, SecurityGroupId};
use domain::net::{Peer, PortRange, Protocol, Rule};
use domain::security_groups::observed::{ObservedGroup, ObservedStack};
use domain::security_groups::*;
use domain::stack::{ExceptionScope, FlowSource, RuleTarget, StackFile};
use proptest::prelude::*;
use std::collections::BTreeSet;
use std::fmt;
use test_support as fixtures;

const ROLES: [&str; 4] = ["node", "db", "ui", "bootstrap"];
/// A role that groups may wear but no stack file declares.
const UNDECLARED_ROLE: &str = "legacy";
/// Ports as a stack file writes them (flows and forbidden sets).
const FILE_PORTS: [&str; 7] = [
    "22",
    "5432",
    "6688",
    "6690",
    "8545-8546",
    "6000-7000",
    "30000-30100",
];
const FLOW_CIDRS: [&str; 6] = [
    "10.20.0.0/16",
    "10.0.0.0/8",
    "0.0.0.0/0",
    "::/0",
    "2001:db8::/32",
    "192.168.0.0/24",
];
/// Observed peers: the flows' CIDRs, and narrower and wider blocks around them.
const RULE_CIDRS: [&str; 10] = [
    "0.0.0.0/0",
    "::/0",
    "0.0.0.0/1",
    "10.0.0.0/8",
    "10.20.0.0/16",
    "10.20.5.0/24",
    "192.168.0.0/24",
    "2001:db8::/32",
    "2001:db8:1::/48",
    "172.16.0.0/12",
];
const RULE_PORTS: [(u16, u16); 9] = [
    (22, 22),
    (5432, 5432),
    (6688, 6688),
    (6690, 6690),
    (8545, 8546),
    (6000, 7000),
    (30000, 30100),
    (1024, 65535),
    (0, 65535),
];
/// Group IDs of the observed stack, in order; `FOREIGN_GROUP` belongs to another stack.
const GROUP_IDS: [&str; 5] = ["sg-00", "sg-01", "sg-02", "sg-03", "sg-04"];
const FOREIGN_GROUP: &str = "sg-ff";
const WORLD: [&str; 2] = ["0.0.0.0/0", "::/0"];
const RULE_PROTOCOLS: [&str; 4] = ["tcp", "udp", "-1", "icmp"];

#[derive(Clone, Debug)]
enum SourceSpec {
    Role(usize),
    Cidr(usize),
}

#[derive(Clone, Debug)]
struct FlowSpec {
    from: SourceSpec,
    to: usize,
    udp: bool,
    ports: usize,
}

#[derive(Clone, Debug)]
struct ForbiddenSpec {
    udp: bool,
    ports: Vec<usize>,
    roles: Vec<usize>,
}

#[derive(Clone, Debug)]
enum ExceptionSpec {
    Group(usize),
    Rule {
        /// `None`: the exception names a group instead.
        role: Option<usize>,
        group: usize,
        world: usize,
        protocol: usize,
        ports: Option<usize>,
    },
}

#[derive(Clone, Debug)]
struct FileSpec {
    flows: Vec<FlowSpec>,
    forbidden: Vec<ForbiddenSpec>,
    exceptions: Vec<ExceptionSpec>,
    limit: u32,
}

#[derive(Clone, Debug)]
enum PeerSpec {
    Cidr(usize),
    /// An index into `GROUP_IDS`, past its end: the foreign group.
    Group(usize),
    PrefixList,
}

#[derive(Clone, Debug)]
struct RuleSpec {
    protocol: usize,
    ports: usize,
    peer: PeerSpec,
}

#[derive(Clone, Debug)]
struct GroupSpec {
    /// An index into `ROLES`; `ROLES.len()`: the undeclared role; `None`: no role tag.
    role: Option<usize>,
    rules: Vec<RuleSpec>,
}

fn flow_spec() -> impl Strategy<Value = FlowSpec> {
    let from = prop_oneof![
        (0..ROLES.len()).prop_map(SourceSpec::Role),
        (0..FLOW_CIDRS.len()).prop_map(SourceSpec::Cidr),
    ];
    (
        from,
        0..ROLES.len(),
        prop::bool::weighted(0.2),
        0..FILE_PORTS.len(),
    )
        .prop_map(|(from, to, udp, ports)| FlowSpec {
            from,
            to,
            udp,
            ports,
        })
}

fn forbidden_spec() -> impl Strategy<Value = ForbiddenSpec> {
    (
        prop::bool::weighted(0.2),
        prop::collection::vec(0..FILE_PORTS.len(), 1..4),
        prop::collection::vec(0..ROLES.len(), 0..3),
    )
        .prop_map(|(udp, ports, roles)| ForbiddenSpec { udp, ports, roles })
}

fn exception_spec() -> impl Strategy<Value = ExceptionSpec> {
    prop_oneof![
        (0..GROUP_IDS.len()).prop_map(ExceptionSpec::Group),
        (
            prop::option::of(0..ROLES.len()),
            0..GROUP_IDS.len(),
            0..WORLD.len(),
            0..3usize,
            prop::option::of(0..RULE_PORTS.len()),
        )
            .prop_map(
                |(role, group, world, protocol, ports)| ExceptionSpec::Rule {
                    role,
                    group,
                    world,
                    protocol,
                    ports,
                }
            ),
    ]
}

fn file_spec() -> impl Strategy<Value = FileSpec> {
    (
        prop::collection::vec(flow_spec(), 0..6),
        prop::collection::vec(forbidden_spec(), 0..3),
        prop::collection::vec(exception_spec(), 0..3),
        // Mostly unlimited, so the convergence law is exercised; sometimes a refusal.
        prop_oneof![1 => Just(2u32), 4 => Just(10_000u32)],
    )
        .prop_map(|(flows, forbidden, exceptions, limit)| FileSpec {
            flows,
            forbidden,
            exceptions,
            limit,
        })
}

fn rule_spec() -> impl Strategy<Value = RuleSpec> {
    let peer = prop_oneof![
        6 => (0..RULE_CIDRS.len()).prop_map(PeerSpec::Cidr),
        3 => (0..=GROUP_IDS.len()).prop_map(PeerSpec::Group),
        1 => Just(PeerSpec::PrefixList),
    ];
    (0..RULE_PROTOCOLS.len(), 0..RULE_PORTS.len(), peer).prop_map(|(protocol, ports, peer)| {
        RuleSpec {
            protocol,
            ports,
            peer,
        }
    })
}

fn group_spec() -> impl Strategy<Value = GroupSpec> {
    (
        prop::option::weighted(0.85, 0..=ROLES.len()),
        prop::collection::vec(rule_spec(), 0..6),
    )
        .prop_map(|(role, rules)| GroupSpec { role, rules })
}

/// One generated case: a valid stack file and the stack as observed.
#[derive(Clone)]
struct Scenario {
    toml: String,
    file: StackFile,
    observed: ObservedStack,
}

impl fmt::Debug for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "\n--- stack file ---\n{}--- observed ---", self.toml)?;
        for group in &self.observed.groups {
            let role = group.role.as_ref().map_or("-", RoleName::as_str);
            let rules: Vec<String> = group.ingress.iter().map(Rule::to_string).collect();
            writeln!(f, "{} ({role}): [{}]", group.id, rules.join("; "))?;
        }
        Ok(())
    }
}

fn scenario() -> impl Strategy<Value = Scenario> {
    (
        file_spec(),
        prop::collection::vec(group_spec(), 1..=GROUP_IDS.len()),
    )
        .prop_map(|(file, groups)| Scenario::new(&file, &groups))
}

fn port_range(raw: &str) -> PortRange {
    raw.parse()
        .unwrap_or_else(|e| panic!("pool port {raw:?}: {e}"))
}

impl Scenario {
    fn new(spec: &FileSpec, groups: &[GroupSpec]) -> Self {
        let toml = render_file(spec);
        let file = StackFile::parse(&toml, "generated")
            .unwrap_or_else(|e| panic!("the generator wrote an invalid file: {e}\n{toml}"));
        let observed =
            fixtures::stack("prop", groups.iter().enumerate().map(build_group).collect());
        Self {
            toml,
            file,
            observed,
        }
    }
}

/// Renders the spec as a stack file the loader accepts: flows from the world on a port some
/// forbidden set names are dropped (the loader refuses them), only roles flows use are
/// declared, and references to undeclared roles are dropped with them.
fn render_file(spec: &FileSpec) -> String {
    let forbidden_ports: Vec<(bool, PortRange)> = spec
        .forbidden
        .iter()
        .flat_map(|f| {
            f.ports
                .iter()
                .map(move |p| (f.udp, port_range(FILE_PORTS[*p])))
        })
        .collect();
    let flows: Vec<&FlowSpec> = spec
        .flows
        .iter()
        .filter(|flow| {
            let world = matches!(flow.from, SourceSpec::Cidr(i) if WORLD.contains(&FLOW_CIDRS[i]));
            let ports = port_range(FILE_PORTS[flow.ports]);
            !(world
                && forbidden_ports
                    .iter()
                    .any(|(udp, p)| *udp == flow.udp && p.overlaps(ports)))
        })
        .collect();
    let declared: BTreeSet<usize> = flows
        .iter()
        .flat_map(|flow| {
            let from = match flow.from {
                SourceSpec::Role(role) => Some(role),
                SourceSpec::Cidr(_) => None,
            };
            from.into_iter().chain([flow.to])
        })
        .collect();
    let protocol = |udp: bool| if udp { "udp" } else { "tcp" };
    let quoted = |items: Vec<&str>| {
        let items: Vec<String> = items.iter().map(|i| format!("{i:?}")).collect();
        format!("[{}]", items.join(", "))
    };

    let mut toml = String::from("[stack]\nname = \"prop\"\nmode = \"enforce\"\n\n[roles]\n");
    for role in &declared {
        toml += &format!("{} = {{}}\n", ROLES[*role]);
    }
    for (i, flow) in flows.iter().enumerate() {
        let from = match flow.from {
            SourceSpec::Role(role) => ROLES[role],
            SourceSpec::Cidr(cidr) => FLOW_CIDRS[cidr],
        };
        toml += &format!(
            "\n[[flows]]\nname = \"flow-{i}\"\nfrom = {from:?}\nto = {:?}\nprotocol = {:?}\nports = {:?}\n",
            ROLES[flow.to],
            protocol(flow.udp),
            FILE_PORTS[flow.ports],
        );
    }
    for forbidden in &spec.forbidden {
        let roles: Vec<&str> = forbidden
            .roles
            .iter()
            .filter(|r| declared.contains(r))
            .map(|r| ROLES[*r])
            .collect();
        if roles.is_empty() && !forbidden.roles.is_empty() {
            // Its roles are all undeclared: dropping them would widen it to every group.
            continue;
        }
        let ports: Vec<&str> = forbidden.ports.iter().map(|p| FILE_PORTS[*p]).collect();
        toml += &format!(
            "\n[[forbidden]]\nprotocol = {:?}\nports = {}\nroles = {}\n",
            protocol(forbidden.udp),
            quoted(ports),
            quoted(roles),
        );
    }
    for exception in &spec.exceptions {
        match exception {
            ExceptionSpec::Group(group) => {
                toml += &format!(
                    "\n[[exceptions]]\nsecurity_group = {:?}\nreason = \"generated\"\n",
                    GROUP_IDS[*group]
                );
            }
            ExceptionSpec::Rule {
                role,
                group,
                world,
                protocol,
                ports,
            } => {
                let target = match role {
                    Some(role) if declared.contains(role) => format!("role = {:?}", ROLES[*role]),
                    Some(_) => continue,
                    None => format!("security_group = {:?}", GROUP_IDS[*group]),
                };
                let ports = ports.map_or(String::new(), |p| {
                    let (from, to) = RULE_PORTS[p];
                    format!("ports = \"{from}-{to}\"\n")
                });
                toml += &format!(
                    "\n[[exceptions]]\n{target}\nfrom = {:?}\nprotocol = {:?}\n{ports}reason = \"generated\"\n",
                    WORLD[*world], RULE_PROTOCOLS[*protocol],
                );
            }
        }
    }
    toml += &format!("\n[limits]\nmax_changes_per_run = {}\n", spec.limit);
    toml
}

fn build_group((index, spec): (usize, &GroupSpec)) -> ObservedGroup {
    let role = spec
        .role
        .map(|r| ROLES.get(r).copied().unwrap_or(UNDECLARED_ROLE));
    let mut group = fixtures::group(GROUP_IDS[index], role.unwrap_or(""));
    group.ingress = spec.rules.iter().map(build_rule).collect();
    group
}

fn build_rule(spec: &RuleSpec) -> Rule {
    let protocol = Protocol::from_aws(RULE_PROTOCOLS[spec.protocol])
        .unwrap_or_else(|| panic!("pool protocol {}", RULE_PROTOCOLS[spec.protocol]));
    let (from, to) = RULE_PORTS[spec.ports];
    let peer = match &spec.peer {
        PeerSpec::Cidr(i) => fixtures::peer(RULE_CIDRS[*i]),
        PeerSpec::Group(i) => Peer::Group(SecurityGroupId::new(
            GROUP_IDS.get(*i).copied().unwrap_or(FOREIGN_GROUP),
        )),
        PeerSpec::PrefixList => Peer::PrefixList("pl-0123".into()),
    };
    Rule {
        protocol,
        // As observe reads them: ports only where the protocol has them.
        ports: protocol.has_ports().then_some(PortRange { from, to }),
        peer,
    }
}

/// One required path: a flow's source peer reaching one group of its target role.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Path {
    group: SecurityGroupId,
    flow: String,
    peer: Peer,
}

/// Every path the stack file requires of `stack`, open or not.
fn required_paths(file: &StackFile, stack: &ObservedStack) -> Vec<Path> {
    let mut paths = Vec::new();
    for group in &stack.groups {
        for flow in file
            .flows
            .iter()
            .filter(|f| group.role.as_ref() == Some(&f.to))
        {
            let peers: Vec<Peer> = match &flow.from {
                FlowSource::Cidr(net) => vec![Peer::Cidr(*net)],
                FlowSource::Role(role) => stack
                    .groups_with_role(role)
                    .map(|g| Peer::Group(g.id.clone()))
                    .collect(),
            };
            paths.extend(peers.into_iter().map(|peer| Path {
                group: group.id.clone(),
                flow: flow.name.clone(),
                peer,
            }));
        }
    }
    paths
}

fn is_open(file: &StackFile, stack: &ObservedStack, path: &Path) -> bool {
    let Some(flow) = file.flows.iter().find(|f| f.name == path.flow) else {
        return false;
    };
    stack
        .groups
        .iter()
        .filter(|g| g.id == path.group)
        .flat_map(|g| &g.ingress)
        .any(|rule| rule.admits(flow.protocol, flow.ports, &path.peer))
}

fn open_paths(file: &StackFile, stack: &ObservedStack) -> Vec<Path> {
    required_paths(file, stack)
        .into_iter()
        .filter(|path| is_open(file, stack, path))
        .collect()
}

/// Whether a rule exception of the file names `rule` on `group`, by content.
fn rule_is_exempt(file: &StackFile, group: &ObservedGroup, rule: &Rule) -> bool {
    file.exceptions
        .iter()
        .any(|exception| match &exception.scope {
            ExceptionScope::Group(_) => false,
            ExceptionScope::Rule {
                target,
                peer,
                protocol,
                ports,
            } => {
                let on_target = match target {
                    RuleTarget::Group(id) => *id == group.id,
                    RuleTarget::Role(role) => group.role.as_ref() == Some(role),
                };
                on_target
                    && *peer == rule.peer
                    && *protocol == rule.protocol
                    && (ports.is_none() || *ports == rule.ports)
            }
        })
}

/// The world-open rules of `group` that expose a port a forbidden set names for it.
fn exposing_rules<'a>(file: &StackFile, group: &'a ObservedGroup) -> Vec<&'a Rule> {
    group
        .ingress
        .iter()
        .filter(|rule| {
            rule.peer.is_world()
                && file
                    .forbidden
                    .iter()
                    .filter(|f| f.applies_to(group.role.as_ref()))
                    .any(|f| f.ports.iter().any(|p| rule.opens_any(f.protocol, *p)))
        })
        .collect()
}

fn show(actions: &[SecurityGroupAction]) -> String {
    actions
        .iter()
        .map(|a| format!("\n  {a}"))
        .collect::<String>()
}

proptest! {
    // proptest's default of 256 cases per property (PROPTEST_CASES overrides it), a fraction of
    // a second; failures are kept as named tests in plan/tests.rs rather than as regression files.
    #![proptest_config(ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// After applying a plan the limit allowed, planning again finds nothing to do: every
    /// required path is open, and no forbidden port faces the world except where exempt.
    #[test]
    fn applying_a_plan_converges(case in scenario()) {
        let plan = plan_security_groups(&case.file, &case.observed);
        if plan.refusal.is_none() {
            let after = case.observed.with_actions(&plan.actions);
            let again = plan_security_groups(&case.file, &after);
            prop_assert!(
                again.actions.is_empty(),
                "first plan:{}\nsecond plan:{}",
                show(&plan.actions),
                show(&again.actions)
            );
            for group in after.groups.iter().filter(|g| case.file.exempt_group(&g.id).is_none()) {
                for rule in exposing_rules(&case.file, group) {
                    prop_assert!(
                        rule_is_exempt(&case.file, group, rule),
                        "{} still exposes {rule} after:{}",
                        group.id,
                        show(&plan.actions)
                    );
                }
            }
            let required = required_paths(&case.file, &after);
            for path in required.iter().filter(|p| case.file.exempt_group(&p.group).is_none()) {
                prop_assert!(
                    is_open(&case.file, &after, path),
                    "{path:?} is still closed after:{}",
                    show(&plan.actions)
                );
            }
        } else {
            prop_assert!(plan.change_count() > case.file.limits.max_changes_per_run);
        }
    }

    /// Make before break: executed in order, no prefix of the plan closes a path that was open
    /// before it, and every flow a revocation says it replaced was authorized earlier.
    #[test]
    fn no_step_of_a_plan_closes_a_required_path(case in scenario()) {
        let plan = plan_security_groups(&case.file, &case.observed);
        let open_before = open_paths(&case.file, &case.observed);
        for step in 1..=plan.actions.len() {
            let partial = case.observed.with_actions(&plan.actions[..step]);
            for path in &open_before {
                prop_assert!(
                    is_open(&case.file, &partial, path),
                    "{path:?} closes at step {step} of:{}",
                    show(&plan.actions)
                );
            }
        }
        for (at, action) in plan.actions.iter().enumerate() {
            let SecurityGroupAction::RevokeIngress { group, rules } = action else {
                continue;
            };
            for flow in rules.iter().flat_map(|r| &r.replaced_by) {
                let authorized_first = plan.actions[..at].iter().any(|earlier| matches!(
                    earlier,
                    SecurityGroupAction::AuthorizeIngress { group: g, rules }
                        if g == group && rules.iter().any(|r| r.flows.contains(flow))
                ));
                prop_assert!(
                    authorized_first,
                    "revoke on {group} claims flow {flow} was re-authorized first:{}",
                    show(&plan.actions)
                );
            }
        }
    }

    /// The plan acts only on the stack's own groups, never on an exempt one, never revokes an
    /// exempt rule, authorizes only what a flow requires (never a peer from outside the stack)
    /// and revokes only world-open rules on forbidden ports.
    #[test]
    fn the_plan_stays_inside_the_stack_and_its_exemptions(case in scenario()) {
        let plan = plan_security_groups(&case.file, &case.observed);
        let required = required_paths(&case.file, &case.observed);
        for action in &plan.actions {
            let group = case.observed.groups.iter().find(|g| &g.id == action.group());
            let Some(group) = group else {
                return Err(TestCaseError::fail(format!("{action} is outside the stack")));
            };
            prop_assert!(
                case.file.exempt_group(&group.id).is_none(),
                "{action} changes an exempt group"
            );
            match action {
                SecurityGroupAction::AuthorizeIngress { rules, .. } => {
                    for required_rule in rules {
                        let rule = &required_rule.rule;
                        let needed = required.iter().any(|path| {
                            path.group == group.id
                                && required_rule.flows.contains(&path.flow)
                                && path.peer == rule.peer
                        });
                        prop_assert!(needed, "{} on {} serves no required path", rule, group.id);
                        if let Peer::Group(peer) = &rule.peer {
                            prop_assert!(
                                case.observed.groups.iter().any(|g| &g.id == peer),
                                "{rule} admits a group outside the stack"
                            );
                        }
                    }
                }
                SecurityGroupAction::RevokeIngress { rules, .. } => {
                    let exposing = exposing_rules(&case.file, group);
                    for revoked in rules {
                        prop_assert!(
                            exposing.contains(&&revoked.rule),
                            "{} on {} exposes no forbidden port",
                            revoked.rule,
                            group.id
                        );
                        prop_assert!(
                            !rule_is_exempt(&case.file, group, &revoked.rule),
                            "{} on {} is exempt",
                            revoked.rule,
                            group.id
                        );
                    }
                }
            }
        }
    }
}
