//! The stack file: the desired state of one Chainlink stack (or of every stack whose name
//! matches a pattern), loaded and validated once so the planner can trust it.
//!
//! Validation collects every problem, each naming its field, because an operator fixing a file
//! wants the whole list at once rather than one error per attempt.

mod approvals;
mod database;
mod egress;
mod external;
mod instances;
mod organization;
mod raw;

pub use approvals::ApprovalPolicy;
pub use database::{DatabasePolicy, PendingPolicy, MIN_STORAGE_STEP_PERCENT, RDS_NAMESPACE};
pub use egress::{EgressFlow, EgressPorts, OutboundFlow};
pub use external::for_stack as secret_for_stack;
pub use instances::{AlarmMatcher, AlarmRule, DiskPolicy, InstancePolicy, Remediation};
pub use organization::{is_account_id, Accounts, Organization, Target};

use crate::ids::{KmsKeyRef, RoleName, SecurityGroupId, StackName, VpcId};
use crate::instance_type::InstanceType;
use crate::net::{Peer, PortRange, Protocol};
use chainlink::wildcard::{self, Case, Star};
use chainlink::{EnvironmentPolicy, HostPattern, NodePort, NodeVersion};
use ipnet::IpNet;
use raw::{
    RawEnvironment, RawException, RawFlow, RawForbidden, RawParameters, RawPorts, RawStackFile,
};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

/// The sample stack file with `section` appended, parsed: how a section's tests load it.
#[cfg(test)]
fn sample_with(section: &str) -> Result<StackFile, String> {
    let text = format!(
        "{}\n{section}",
        include_str!("../../../../samples/stack.toml")
    );
    StackFile::parse(&text, "stack.toml").map_err(|e| e.to_string())
}

/// Why `[approvals]` does nothing for an `[organization]`'s targets: the key and the handler
/// are the deployment's, and every target of an organisation is a member account.
pub const MEMBER_APPROVALS: &str = "approvals are issued in the deployment's own account only, and with [organization] every target is a member account: a remediation that needs approval there does not run (the report says so)";

/// A validated stack file.
#[derive(Clone, Debug)]
pub struct StackFile {
    pub selector: StackSelector,
    pub mode: Mode,
    /// The VPCs the stack lives in: a group of any other VPC is never admitted, whatever its
    /// tags say. Empty: not pinned (allowed outside production, or with `stack.unpinned`).
    pub vpcs: Vec<VpcId>,
    pub roles: BTreeMap<RoleName, RoleSpec>,
    /// The flows whose ports the stack file states.
    pub flows: Vec<Flow>,
    /// The flows whose ports the node's configuration decides, resolved on every run from the
    /// parameters (`security_groups::stack_flows`).
    pub node_flows: Vec<NodeFlow>,
    /// Paths out of the stack the flow check verifies (egress and ACLs only; never repaired).
    pub egress: Vec<EgressFlow>,
    pub forbidden: Vec<ForbiddenExposure>,
    pub exceptions: Vec<Exception>,
    pub limits: Limits,
    /// What the stack's environment is and may talk to; the parameter checks' policy.
    pub environment: EnvironmentPolicy,
    /// The tag of the node's instances that says which node version they run, when the file
    /// reads the version from there rather than declaring it (`environment.node_version_tag`).
    pub node_version_tag: Option<String>,
    /// Where the stack's node parameters live; `None`: parameters are not checked.
    pub parameters: Option<ParameterSource>,
    /// Alarm remediations (resize, disk growth, replacement); `None`: not configured.
    pub instances: Option<InstancePolicy>,
    /// The stack's RDS database (`[database]`); `None`: not managed.
    pub database: Option<DatabasePolicy>,
    /// Alarm remediations that wait for a person (`[approvals]`); `None`: none waits.
    pub approvals: Option<ApprovalPolicy>,
    /// The accounts and regions one deployment guards (`[organization]`); `None`: its own.
    pub organization: Option<Organization>,
    /// Doubtful but valid choices, such as burstable types in production, for the operator.
    pub warnings: Vec<Problem>,
}

/// Where a stack's Chainlink parameters live in SSM Parameter Store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParameterSource {
    /// A path prefix ending in `/`; `{stack}` stands for the stack's name.
    pub prefix: String,
    /// The label that marks the last version known to be valid.
    pub label: String,
    /// Live probes of the endpoints (DNS, TCP, `eth_chainId`); off by default.
    pub probes: bool,
    /// The KMS key every restored SecureString must be under: a restore of a version under
    /// any other key is refused, so a rollback never re-encrypts a secret under a key someone
    /// else chose. `None`: each restored version keeps its own key, unchecked.
    pub kms_key: Option<KmsKeyRef>,
}

impl ParameterSource {
    pub fn prefix_for(&self, stack: &StackName) -> String {
        self.prefix.replace("{stack}", stack.as_str())
    }

    /// The stack a parameter belongs to, read from its name, if it is under the prefix: the
    /// inverse of `prefix_for`, wherever `{stack}` stands in the prefix (`/chainlink/{stack}/`,
    /// `/chainlink-{stack}-params/`). A stack name holds no `/`, so it lies within the path
    /// segment where `{stack}` first appears; the shortest name whose prefix fits wins.
    pub fn stack_of(&self, parameter: &str) -> Option<StackName> {
        let (before, _) = self.prefix.split_once("{stack}")?;
        let rest = parameter.strip_prefix(before)?;
        let segment = rest.split('/').next().unwrap_or_default();
        segment
            .char_indices()
            .map(|(at, c)| StackName::new(&segment[..at + c.len_utf8()]))
            .find(|stack| parameter.starts_with(&self.prefix_for(stack)))
    }
}

/// Which stacks a file guards: one by name, or every stack whose tag matches a `*` pattern.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StackSelector {
    Exact(StackName),
    Pattern(String),
}

impl StackSelector {
    pub fn matches(&self, stack: &StackName) -> bool {
        match self {
            Self::Exact(name) => name == stack,
            Self::Pattern(pattern) => glob_matches(pattern, stack.as_str()),
        }
    }

    /// The value for an EC2 `tag:` filter; EC2 filters understand `*` themselves.
    pub fn tag_filter_value(&self) -> &str {
        match self {
            Self::Exact(name) => name.as_str(),
            Self::Pattern(pattern) => pattern,
        }
    }
}

impl fmt::Display for StackSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.tag_filter_value())
    }
}

/// `*` matches any run of characters, including none; case counts, as in the names AWS keeps.
pub(crate) fn glob_matches(pattern: &str, text: &str) -> bool {
    wildcard::matches(pattern, text, Star::AnyRun, Case::Exact)
}

/// Whether the engine may change anything.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Plan and apply.
    Enforce,
    /// Plan only: every run reports what `enforce` would do.
    Report,
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Enforce => "enforce",
            Self::Report => "report",
        })
    }
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct RoleSpec {
    pub description: String,
    /// Instance types, smallest first; empty: the role's instances are never resized.
    pub ladder: Vec<InstanceType>,
    /// The only groups admitted in this role; empty: every group of the stack carrying it.
    pub groups: Vec<SecurityGroupId>,
}

impl RoleSpec {
    /// The next type up from `current`, if it is on the ladder and not at the top.
    pub fn next_type(&self, current: &InstanceType) -> Option<&InstanceType> {
        let at = self.ladder.iter().position(|t| t == current)?;
        self.ladder.get(at + 1)
    }
}

/// A path that must stay open: `from` must reach every group of role `to`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Flow {
    pub name: String,
    pub description: String,
    pub from: FlowSource,
    pub to: RoleName,
    pub protocol: Protocol,
    pub ports: PortRange,
    /// A flow from a role is satisfied only by a rule naming the source group itself. When
    /// false (the default), a rule whose CIDR contains every address of the source group
    /// satisfies it too: the path is open, so the planner adds nothing, and the flow check
    /// flags that rule as broader than the flow needs.
    pub group_rule: bool,
    /// The port of the node's configuration this flow serves: where its port comes from, for
    /// a flow resolved from the configuration; for one whose port the file states, the
    /// setting it must agree with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_port: Option<NodePort>,
}

/// A flow whose port is the node's: `ports` is whatever the node's configuration says
/// `node_port` is, on each run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NodeFlow {
    pub name: String,
    pub description: String,
    pub from: FlowSource,
    pub to: RoleName,
    pub protocol: Protocol,
    pub node_port: NodePort,
    pub group_rule: bool,
}

impl NodeFlow {
    /// The flow on one of the ports the configuration gives.
    pub fn on_port(&self, port: u16) -> Flow {
        Flow {
            name: self.name.clone(),
            description: self.description.clone(),
            from: self.from.clone(),
            to: self.to.clone(),
            protocol: self.protocol,
            ports: PortRange::single(port),
            group_rule: self.group_rule,
            node_port: Some(self.node_port),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FlowSource {
    Cidr(IpNet),
    /// Every security group of that role in the same stack (the role itself for node ↔ node).
    Role(RoleName),
}

impl fmt::Display for FlowSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Cidr(net) => write!(f, "{net}"),
            Self::Role(role) => write!(f, "role {role}"),
        }
    }
}

/// Ports that must never be open to `0.0.0.0/0` or `::/0`.
#[derive(Clone, Debug, Serialize)]
pub struct ForbiddenExposure {
    pub description: String,
    pub protocol: Protocol,
    pub ports: Vec<PortRange>,
    /// Empty: every group of the stack.
    pub roles: Vec<RoleName>,
}

impl ForbiddenExposure {
    pub fn applies_to(&self, role: Option<&RoleName>) -> bool {
        self.roles.is_empty() || role.is_some_and(|role| self.roles.contains(role))
    }
}

/// Something the engine must leave alone, and why.
#[derive(Clone, Debug, Serialize)]
pub struct Exception {
    pub reason: String,
    pub scope: ExceptionScope,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExceptionScope {
    /// Nothing on this group is changed.
    Group(SecurityGroupId),
    /// One rule, by content: rule IDs change whenever a rule is recreated, content does not.
    Rule {
        target: RuleTarget,
        peer: Peer,
        protocol: Protocol,
        ports: Option<PortRange>,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleTarget {
    Group(SecurityGroupId),
    Role(RoleName),
}

#[derive(Clone, Copy, Debug, Serialize)]
pub struct Limits {
    /// Rule changes (authorizations plus revocations) one run may make per stack; above it the
    /// run only plans and reports, because mass drift more likely means a bad stack file or a
    /// deliberate migration than an accident to undo.
    pub max_changes_per_run: usize,
}

/// Every problem found in a stack file, each naming its field.
#[derive(Debug, thiserror::Error)]
pub enum StackFileError {
    #[error("cannot read stack file {path}: {source}")]
    Unreadable {
        path: String,
        source: std::io::Error,
    },
    #[error("stack file {origin} is not valid TOML for a stack file: {message}")]
    Syntax { origin: String, message: String },
    #[error("stack file {origin} is invalid:\n{}", problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    Invalid {
        origin: String,
        problems: Vec<Problem>,
    },
}

/// One invalid field, or one a warning is about.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub field: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl StackFile {
    pub fn load(path: &Path) -> Result<Self, StackFileError> {
        let text = std::fs::read_to_string(path).map_err(|source| StackFileError::Unreadable {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// `origin` names the file in error messages.
    pub fn parse(text: &str, origin: &str) -> Result<Self, StackFileError> {
        let raw: RawStackFile = toml::from_str(text).map_err(|e| StackFileError::Syntax {
            origin: origin.to_string(),
            message: e.to_string().trim_end().to_string(),
        })?;
        let mut problems = Problems::default();
        let file = build(raw, &mut problems);
        match (file, problems.0.is_empty()) {
            (Some(file), true) => Ok(file),
            _ => Err(StackFileError::Invalid {
                origin: origin.to_string(),
                problems: problems.0,
            }),
        }
    }

    /// Whether a flow takes its port from, or checks it against, the node's configuration: the
    /// security-group plan then reads the parameters.
    pub fn follows_node_config(&self) -> bool {
        !self.node_flows.is_empty()
            || self.flows.iter().any(|flow| flow.node_port.is_some())
            || self
                .egress
                .iter()
                .any(|e| matches!(e.ports, EgressPorts::Node(_)))
    }

    /// The roles of the stack's Chainlink nodes: those the node's configuration speaks for in
    /// the file (the target of a flow on its P2P or UI port, the source of one on its database
    /// port, the source of an egress path on its RPC or database ports); a role named `node`
    /// when no flow says. Their running instances are the nodes whose connections the
    /// database must hold.
    pub fn node_roles(&self) -> Vec<RoleName> {
        let mut roles = BTreeSet::new();
        let flows = self
            .flows
            .iter()
            .filter_map(|f| f.node_port.map(|port| (port, &f.from, &f.to)))
            .chain(
                self.node_flows
                    .iter()
                    .map(|f| (f.node_port, &f.from, &f.to)),
            );
        for (port, from, to) in flows {
            match (port, from) {
                (NodePort::Database, FlowSource::Role(role)) => roles.insert(role.clone()),
                (NodePort::Database, FlowSource::Cidr(_)) => false,
                _ => roles.insert(to.clone()),
            };
        }
        roles.extend(
            self.egress
                .iter()
                .filter(|e| matches!(e.ports, EgressPorts::Node(_)))
                .map(|e| e.from.clone()),
        );
        if roles.is_empty() {
            let node = RoleName::new("node");
            if self.roles.contains_key(&node) {
                roles.insert(node);
            }
        }
        roles.into_iter().collect()
    }

    /// Whether a flow's port is the configuration's alone: a parameter change may then move
    /// a rule, and the parameter function repairs the stack's groups as it judges the change.
    pub fn moves_with_node_config(&self) -> bool {
        !self.node_flows.is_empty()
    }

    pub fn exempt_group(&self, group: &SecurityGroupId) -> Option<&Exception> {
        self.exceptions
            .iter()
            .find(|e| matches!(&e.scope, ExceptionScope::Group(id) if id == group))
    }
}

#[derive(Default)]
struct Problems(Vec<Problem>);

impl Problems {
    fn push(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(Problem {
            field: field.into(),
            message: message.into(),
        });
    }

    /// Records the error, if any, and passes the value on.
    fn check<T>(&mut self, field: &str, result: Result<T, String>) -> Option<T> {
        result.map_err(|message| self.push(field, message)).ok()
    }
}

/// One step of a ladder (of instance types or DB classes) must be bigger: more vCPUs or
/// memory, and no less of either.
fn check_step(
    field: &str,
    (lower, lower_size): (&dyn fmt::Display, crate::instance_type::Capacity),
    (upper, upper_size): (&dyn fmt::Display, crate::instance_type::Capacity),
    problems: &mut Problems,
) {
    if lower_size.compare(&upper_size) != Some(std::cmp::Ordering::Less) {
        problems.push(
            field,
            format!(
                "{upper} ({upper_size}) is not bigger than {lower} ({lower_size}): a step needs more vCPUs or memory, and no less of either"
            ),
        );
    }
}

fn build(raw: RawStackFile, problems: &mut Problems) -> Option<StackFile> {
    let selector = problems.check("stack.name", parse_selector(&raw.stack.name));
    let mode = problems.check("stack.mode", parse_mode(&raw.stack.mode));

    let mut environment = raw
        .environment
        .as_ref()
        .map(|e| build_environment(e, problems))
        .unwrap_or_default();
    if let Some(parameters) = &raw.parameters {
        environment.secrets_elsewhere = external::build_external(&parameters.external, problems);
    }

    let mut warnings = Problems::default();
    let mut roles = BTreeMap::new();
    for (name, spec) in &raw.roles {
        let field = format!("roles.{name}");
        if let Some(role) = problems.check(&field, parse_role(name)) {
            let ladder = instances::build_ladder(
                &spec.ladder,
                &format!("{field}.ladder"),
                environment.production,
                problems,
                &mut warnings,
            );
            let groups = build_accepted_groups(&spec.groups, &format!("{field}.groups"), problems);
            roles.insert(
                role,
                RoleSpec {
                    description: spec.description.clone(),
                    ladder,
                    groups,
                },
            );
        }
    }

    let mut flows: Vec<Flow> = Vec::new();
    let mut node_flows: Vec<NodeFlow> = Vec::new();
    for (i, raw_flow) in raw.flows.iter().enumerate() {
        let field = format!("flows[{i}]");
        match build_flow(raw_flow, &field, &roles, raw.parameters.is_some(), problems) {
            Some(DeclaredFlow::Stated(flow)) => flows.push(flow),
            Some(DeclaredFlow::Node(flow)) => node_flows.push(flow),
            None => {}
        }
    }
    check_flow_names_unique(&raw.flows, problems);
    let egress = egress::build_egress(&raw.egress, &roles, raw.parameters.is_some(), problems);

    let forbidden: Vec<ForbiddenExposure> = raw
        .forbidden
        .iter()
        .enumerate()
        .filter_map(|(i, f)| build_forbidden(f, &format!("forbidden[{i}]"), &roles, problems))
        .collect();
    check_no_flow_is_forbidden(&flows, &forbidden, problems);

    let exceptions: Vec<Exception> = raw
        .exceptions
        .iter()
        .enumerate()
        .filter_map(|(i, e)| build_exception(e, &format!("exceptions[{i}]"), &roles, problems))
        .collect();

    warn_unused_roles(&raw, &roles, &mut warnings);

    let vpcs = build_network_pin(
        &raw,
        &roles,
        environment.production,
        problems,
        &mut warnings,
    );

    let max_changes_per_run = problems.check(
        "limits.max_changes_per_run",
        usize::try_from(raw.limits.max_changes_per_run)
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| "must be a positive number of rule changes".to_string()),
    );

    let instances =
        instances::build_instances(raw.instances.as_ref(), &raw.alarms, &roles, problems);
    let database = raw.database.as_ref().and_then(|db| {
        database::build_database(db, environment.production, problems, &mut warnings)
    });
    let alarm_rules: Vec<(Option<&str>, &str)> = raw
        .alarms
        .iter()
        .map(|a| (a.metric.as_deref(), a.remediation.as_str()))
        .collect();
    database::check_database_alarms(
        &alarm_rules,
        database.as_ref(),
        raw.database.is_some(),
        problems,
    );
    let approvals = raw
        .approvals
        .as_ref()
        .and_then(|a| approvals::build_approvals(a, problems));
    let organization = raw
        .organization
        .as_ref()
        .and_then(|o| organization::build_organization(o, problems));
    if organization.is_some() && !raw.stack.vpcs.is_empty() {
        problems.push(
            "stack.vpcs",
            "VPC IDs belong to one account: with [organization], leave vpcs out (each member role bounds where it may write)",
        );
    }
    if organization.is_some() && approvals.is_some() {
        warnings.push("approvals", MEMBER_APPROVALS);
    }
    let parameters = match &raw.parameters {
        Some(p) => Some(build_parameters(p, problems)?),
        None => None,
    };

    let node_version_tag = raw
        .environment
        .as_ref()
        .and_then(|e| node_version_tag(e, problems));
    Some(StackFile {
        environment,
        node_version_tag,
        parameters,
        instances,
        database,
        approvals,
        organization,
        warnings: warnings.0,
        selector: selector?,
        mode: mode?,
        vpcs,
        roles,
        flows,
        node_flows,
        egress,
        forbidden,
        exceptions,
        limits: Limits {
            max_changes_per_run: max_changes_per_run?,
        },
    })
}

/// A role is used by a flow, a `forbidden` entry, an exception or its own ladder: a bastion's or
/// a load balancer's role may exist only to be named in `forbidden` or an exception. A role
/// nothing uses is harmless but probably a mistake (a typo, a leftover), so it is a warning.
/// Read from the raw sections, so an entry that is itself invalid does not also make its roles
/// look unused.
fn warn_unused_roles(
    raw: &RawStackFile,
    roles: &BTreeMap<RoleName, RoleSpec>,
    warnings: &mut Problems,
) {
    let used: BTreeSet<&str> = raw
        .flows
        .iter()
        .flat_map(|flow| [flow.from.as_str(), flow.to.as_str()])
        .chain(raw.egress.iter().map(|e| e.from.as_str()))
        .chain(
            raw.forbidden
                .iter()
                .flat_map(|f| f.roles.iter().map(String::as_str)),
        )
        .chain(raw.exceptions.iter().filter_map(|e| e.role.as_deref()))
        .collect();
    let unused = roles
        .iter()
        .filter(|(role, spec)| !used.contains(role.as_str()) && spec.ladder.is_empty());
    for (role, _) in unused {
        warnings.push(
            format!("roles.{role}"),
            "no flow, forbidden entry or exception names this role, and it has no ladder",
        );
    }
}

fn build_accepted_groups(
    raw: &[String],
    field: &str,
    problems: &mut Problems,
) -> Vec<SecurityGroupId> {
    raw.iter()
        .enumerate()
        .filter_map(|(i, id)| {
            problems.check(
                &format!("{field}[{i}]"),
                SecurityGroupId::parse(id)
                    .ok_or_else(|| format!("{id:?} is not a security group ID (sg-…)")),
            )
        })
        .collect()
}

/// The stack's VPCs, and the production rule: a production stack names its VPCs and the
/// accepted groups of every role a flow uses, or says in `stack.unpinned` why it trusts the
/// tags alone. The tags are the only other trust root, and anyone allowed to tag a group of
/// their own can set them; the stack file is reviewed and deployed, the tags are not.
fn build_network_pin(
    raw: &RawStackFile,
    roles: &BTreeMap<RoleName, RoleSpec>,
    production: bool,
    problems: &mut Problems,
    warnings: &mut Problems,
) -> Vec<VpcId> {
    let vpcs: Vec<VpcId> = raw
        .stack
        .vpcs
        .iter()
        .enumerate()
        .filter_map(|(i, id)| {
            problems.check(
                &format!("stack.vpcs[{i}]"),
                VpcId::parse(id).ok_or_else(|| format!("{id:?} is not a VPC ID (vpc-…)")),
            )
        })
        .collect();
    if raw
        .stack
        .unpinned
        .as_deref()
        .is_some_and(|r| r.trim().is_empty())
    {
        problems.push("stack.unpinned", "must say why the stack is not pinned");
    }
    let mut owners: BTreeMap<&SecurityGroupId, &RoleName> = BTreeMap::new();
    for (role, spec) in roles {
        for group in &spec.groups {
            if let Some(other) = owners.insert(group, role) {
                problems.push(
                    format!("roles.{role}.groups"),
                    format!(
                        "{group} is also an accepted group of role {other}; a group has one role"
                    ),
                );
            }
        }
    }
    if raw.stack.unpinned.is_some() {
        return vpcs;
    }
    let waiver = "or say in stack.unpinned why the stack trusts its tags alone";
    if raw.stack.vpcs.is_empty() {
        let message = format!(
            "names no VPC: any group tagged into the stack, in any VPC, would be admitted; \
             name the stack's VPCs (vpcs = [\"vpc-…\"]) {waiver}"
        );
        if production {
            problems.push("stack.vpcs", format!("a production stack {message}"));
        } else {
            warnings.push("stack.vpcs", format!("the stack {message}"));
        }
    }
    if production {
        let flow_roles: BTreeSet<&str> = raw
            .flows
            .iter()
            .flat_map(|flow| [flow.from.as_str(), flow.to.as_str()])
            .collect();
        // Read from the raw roles, so a list whose IDs are invalid is not also called missing.
        let open = roles.keys().filter(|role| {
            flow_roles.contains(role.as_str())
                && raw
                    .roles
                    .get(role.as_str())
                    .is_some_and(|spec| spec.groups.is_empty())
        });
        for role in open {
            problems.push(
                format!("roles.{role}.groups"),
                format!(
                    "a production stack lists the accepted groups of every role a flow uses \
                     (groups = [\"sg-…\"]), so a group someone else tags with role {role} is \
                     never admitted; {waiver}"
                ),
            );
        }
    }
    vpcs
}

fn parse_selector(raw: &str) -> Result<StackSelector, String> {
    let valid = !raw.is_empty()
        && raw.len() <= 128
        && raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.*".contains(c));
    if !valid {
        return Err(format!(
            "{raw:?} is not a stack name or pattern (letters, digits, '-', '_', '.', and '*' as a wildcard)"
        ));
    }
    Ok(if raw.contains('*') {
        StackSelector::Pattern(raw.to_string())
    } else {
        StackSelector::Exact(StackName::new(raw))
    })
}

fn parse_mode(raw: &str) -> Result<Mode, String> {
    match raw {
        "enforce" => Ok(Mode::Enforce),
        "report" => Ok(Mode::Report),
        other => Err(format!(
            "{other:?} is not a mode: use \"enforce\" or \"report\""
        )),
    }
}

fn parse_role(raw: &str) -> Result<RoleName, String> {
    RoleName::parse(raw).ok_or_else(|| {
        format!("{raw:?} is not a role name (lowercase letters, digits, '-', '_', starting with a letter)")
    })
}

fn declared_role(raw: &str, roles: &BTreeMap<RoleName, RoleSpec>) -> Result<RoleName, String> {
    let role = parse_role(raw)?;
    if roles.contains_key(&role) {
        Ok(role)
    } else {
        Err(format!("role {raw:?} is not declared under [roles]"))
    }
}

fn parse_cidr(raw: &str) -> Result<IpNet, String> {
    let net: IpNet = raw
        .parse()
        .map_err(|_| format!("{raw:?} is not a CIDR block such as 10.20.0.0/16 or ::/0"))?;
    if net.trunc() != net {
        return Err(format!(
            "{raw:?} has host bits set; AWS would store it as {}",
            net.trunc()
        ));
    }
    Ok(net)
}

fn parse_protocol(raw: &str) -> Result<Protocol, String> {
    match Protocol::from_aws(raw) {
        Some(p @ (Protocol::Tcp | Protocol::Udp)) => Ok(p),
        _ => Err(format!(
            "{raw:?} is not a protocol here: use \"tcp\" or \"udp\""
        )),
    }
}

fn parse_ports(raw: &RawPorts) -> Result<PortRange, String> {
    match raw {
        RawPorts::Number(n) => u16::try_from(*n)
            .map(PortRange::single)
            .map_err(|_| format!("{n} is not a port (0-65535)")),
        RawPorts::Text(text) => text.parse(),
    }
}

/// A flow as the file declares it: with its port, or with the node's setting that decides it.
enum DeclaredFlow {
    Stated(Flow),
    Node(NodeFlow),
}

fn build_flow(
    raw: &RawFlow,
    field: &str,
    roles: &BTreeMap<RoleName, RoleSpec>,
    has_parameters: bool,
    problems: &mut Problems,
) -> Option<DeclaredFlow> {
    if raw.name.trim().is_empty() {
        problems.push(format!("{field}.name"), "must not be empty");
    }
    let from = if raw.from.contains(['.', ':', '/']) {
        parse_cidr(&raw.from).map(FlowSource::Cidr)
    } else {
        declared_role(&raw.from, roles).map(FlowSource::Role)
    };
    let from = problems.check(&format!("{field}.from"), from);
    let to = problems.check(&format!("{field}.to"), declared_role(&raw.to, roles));
    let protocol = problems.check(&format!("{field}.protocol"), parse_protocol(&raw.protocol));
    let node_port = match &raw.config_port {
        Some(name) => Some(problems.check(
            &format!("{field}.config_port"),
            parse_node_port(name, has_parameters).and_then(inbound),
        )?),
        None => None,
    };
    let ports = match &raw.ports {
        Some(ports) => Some(problems.check(&format!("{field}.ports"), parse_ports(ports))?),
        None if node_port.is_some() => None,
        None => {
            problems.push(
                format!("{field}.ports"),
                "is required: a port (6690) or range (\"30000-30100\"), or config_port to take it \
                 from the node's configuration",
            );
            return None;
        }
    };
    if raw.group_rule && matches!(from, Some(FlowSource::Cidr(_))) {
        problems.push(
            format!("{field}.group_rule"),
            "only a flow from a role has a group to name; a flow from a CIDR is always satisfied by a rule containing it",
        );
    }
    let (from, to, protocol) = (from?, to?, protocol?);
    Some(match (ports, node_port) {
        (Some(ports), node_port) => DeclaredFlow::Stated(Flow {
            name: raw.name.clone(),
            description: raw.description.clone(),
            from,
            to,
            protocol,
            ports,
            group_rule: raw.group_rule,
            node_port,
        }),
        (None, Some(node_port)) => DeclaredFlow::Node(NodeFlow {
            name: raw.name.clone(),
            description: raw.description.clone(),
            from,
            to,
            protocol,
            node_port,
            group_rule: raw.group_rule,
        }),
        (None, None) => return None,
    })
}

/// The node's configuration is read from Parameter Store: a flow can follow it only when the
/// file says where the parameters are.
fn parse_node_port(name: &str, has_parameters: bool) -> Result<NodePort, String> {
    let port = NodePort::parse(name).ok_or_else(|| {
        let names: Vec<&str> = NodePort::ALL.iter().map(|p| p.as_str()).collect();
        format!(
            "{name:?} is not a port of the node's configuration: use one of {}",
            names.join(", ")
        )
    })?;
    if !has_parameters {
        return Err(format!(
            "the node's {port} port is read from its configuration in Parameter Store: \
             declare [parameters] (prefix) so it can be read"
        ));
    }
    Ok(port)
}

/// A flow admits traffic into a role of the stack: the RPC nodes are outside it.
fn inbound(port: NodePort) -> Result<NodePort, String> {
    if port == NodePort::Rpc {
        return Err(
            "the node's RPC nodes are outside the stack: declare the path to them under              [[egress]] (to = their CIDRs, config_port = \"rpc\")"
                .into(),
        );
    }
    Ok(port)
}

fn check_flow_names_unique(flows: &[RawFlow], problems: &mut Problems) {
    let mut seen = BTreeSet::new();
    for (i, flow) in flows.iter().enumerate() {
        if !seen.insert(flow.name.as_str()) {
            problems.push(
                format!("flows[{i}].name"),
                format!(
                    "{:?} names another flow too; names must be unique",
                    flow.name
                ),
            );
        }
    }
}

fn build_forbidden(
    raw: &RawForbidden,
    field: &str,
    roles: &BTreeMap<RoleName, RoleSpec>,
    problems: &mut Problems,
) -> Option<ForbiddenExposure> {
    let protocol = problems.check(&format!("{field}.protocol"), parse_protocol(&raw.protocol));
    if raw.ports.is_empty() {
        problems.push(format!("{field}.ports"), "must list at least one port");
    }
    let ports: Vec<Option<PortRange>> = raw
        .ports
        .iter()
        .enumerate()
        .map(|(i, p)| problems.check(&format!("{field}.ports[{i}]"), parse_ports(p)))
        .collect();
    let roles: Vec<Option<RoleName>> = raw
        .roles
        .iter()
        .enumerate()
        .map(|(i, r)| problems.check(&format!("{field}.roles[{i}]"), declared_role(r, roles)))
        .collect();
    Some(ForbiddenExposure {
        description: raw.description.clone(),
        protocol: protocol?,
        ports: ports.into_iter().collect::<Option<_>>()?,
        roles: roles.into_iter().collect::<Option<_>>()?,
    })
}

/// A required flow from the world on a forbidden port would be authorized and revoked forever.
fn check_no_flow_is_forbidden(
    flows: &[Flow],
    forbidden: &[ForbiddenExposure],
    problems: &mut Problems,
) {
    for (i, flow) in flows.iter().enumerate() {
        let FlowSource::Cidr(net) = &flow.from else {
            continue;
        };
        if net.prefix_len() != 0 {
            continue;
        }
        let clash = forbidden.iter().any(|f| {
            f.protocol == flow.protocol
                && f.applies_to(Some(&flow.to))
                && f.ports.iter().any(|p| p.overlaps(flow.ports))
        });
        if clash {
            problems.push(
                format!("flows[{i}]"),
                format!(
                    "flow {:?} opens {} {} to the world, which [[forbidden]] forbids",
                    flow.name, flow.protocol, flow.ports
                ),
            );
        }
    }
}

fn build_exception(
    raw: &RawException,
    field: &str,
    roles: &BTreeMap<RoleName, RoleSpec>,
    problems: &mut Problems,
) -> Option<Exception> {
    if raw.reason.trim().is_empty() {
        problems.push(
            format!("{field}.reason"),
            "must say why the exception exists",
        );
    }
    let group = raw.security_group.as_deref().map(|raw_id| {
        SecurityGroupId::parse(raw_id)
            .ok_or_else(|| format!("{raw_id:?} is not a security group ID (sg-…)"))
    });
    let group = match group {
        Some(result) => Some(problems.check(&format!("{field}.security_group"), result)?),
        None => None,
    };
    let is_rule = raw.from.is_some() || raw.ports.is_some() || raw.protocol.is_some();
    let scope = match (group, &raw.role, is_rule) {
        (Some(group), None, false) => ExceptionScope::Group(group),
        (Some(_), Some(_), _) => {
            problems.push(field, "name either security_group or role, not both");
            return None;
        }
        (None, None, _) => {
            problems.push(
                field,
                "must name a security_group (the whole group), or a role or security_group with from, protocol and ports (one rule)",
            );
            return None;
        }
        (None, Some(_), false) => {
            problems.push(
                field,
                "a role exception must name the rule: from, protocol and ports",
            );
            return None;
        }
        (group, role, true) => {
            let target = match (group, role) {
                (Some(group), _) => Some(RuleTarget::Group(group)),
                (None, Some(role)) => problems
                    .check(&format!("{field}.role"), declared_role(role, roles))
                    .map(RuleTarget::Role),
                (None, None) => None,
            };
            let peer = problems.check(
                &format!("{field}.from"),
                raw.from
                    .as_deref()
                    .ok_or_else(|| "is required for a rule exception".to_string())
                    .and_then(parse_cidr)
                    .map(Peer::Cidr),
            );
            let protocol = problems.check(
                &format!("{field}.protocol"),
                Protocol::from_aws(raw.protocol.as_deref().unwrap_or("tcp"))
                    .ok_or_else(|| "is not a protocol (tcp, udp, icmp or -1)".to_string()),
            );
            let ports = match &raw.ports {
                Some(p) => Some(problems.check(&format!("{field}.ports"), parse_ports(p))?),
                None => None,
            };
            ExceptionScope::Rule {
                target: target?,
                peer: peer?,
                protocol: protocol?,
                ports,
            }
        }
    };
    Some(Exception {
        reason: raw.reason.clone(),
        scope,
    })
}

/// A positive whole number that fits `T`, or a problem naming the field.
fn positive<T: TryFrom<i64>>(
    raw: Option<i64>,
    field: &str,
    what: &str,
    problems: &mut Problems,
) -> Option<T> {
    let value = raw?;
    problems.check(
        field,
        T::try_from(value)
            .ok()
            .filter(|_| value > 0)
            .ok_or_else(|| format!("{value} is not {what}")),
    )
}

/// Stacks whose environment is named "production" (or "prod") get the node's production rules;
/// a declared node version turns on the node's version-dependent boot rules.
fn build_environment(raw: &RawEnvironment, problems: &mut Problems) -> EnvironmentPolicy {
    let name = raw.name.trim().to_ascii_lowercase();
    if name.is_empty() {
        problems.push(
            "environment.name",
            "must name the environment, such as \"production\"",
        );
    }
    let chain_id = positive(raw.chain_id, "environment.chain_id", "a chain ID", problems);
    let mut hosts = |field: &str, raw: &[String]| -> Vec<HostPattern> {
        raw.iter()
            .enumerate()
            .filter_map(|(i, host)| {
                problems.check(
                    &format!("environment.{field}[{i}]"),
                    host.parse::<HostPattern>().map_err(|e| e.to_string()),
                )
            })
            .collect()
    };
    let allowed_db_hosts = hosts("database_hosts", &raw.database_hosts);
    let allowed_rpc_hosts = hosts("rpc_hosts", &raw.rpc_hosts);
    let forbidden_hosts = hosts("forbidden_hosts", &raw.forbidden_hosts);
    let node_version = raw.node_version.as_deref().and_then(|version| {
        problems.check(
            "environment.node_version",
            version.parse::<NodeVersion>().map_err(|e| e.to_string()),
        )
    });
    let database_max_connections = positive(
        raw.database_max_connections,
        "environment.database_max_connections",
        "a number of connections",
        problems,
    );
    EnvironmentPolicy {
        production: name == "production" || name == "prod",
        chain_id,
        allowed_db_hosts,
        allowed_rpc_hosts,
        forbidden_hosts,
        node_version,
        database_max_connections,
        // The stack file does not say how many nodes share the database; the engine counts
        // them (`EnvironmentPolicy::with_node_count`).
        node_count: None,
        // From `[parameters.external]`, set once both sections are read.
        secrets_elsewhere: Vec::new(),
    }
}

/// The instance tag naming the node version: a tag key AWS accepts, and not beside a declared
/// version (which of the two would win is a guess).
fn node_version_tag(raw: &RawEnvironment, problems: &mut Problems) -> Option<String> {
    let tag = raw.node_version_tag.as_deref()?;
    let field = "environment.node_version_tag";
    if raw.node_version.is_some() {
        problems.push(
            field,
            "the version is declared (node_version) or read from the instances' tag, not both",
        );
        return None;
    }
    if tag.trim().is_empty() || tag.len() > 128 || tag.starts_with("aws:") {
        problems.push(
            field,
            format!("{tag:?} is not a tag key (1-128 characters, not starting with aws:)"),
        );
        return None;
    }
    Some(tag.to_string())
}

fn build_parameters(raw: &RawParameters, problems: &mut Problems) -> Option<ParameterSource> {
    let prefix = problems.check(
        "parameters.prefix",
        if raw.prefix.starts_with('/') && raw.prefix.ends_with('/') && raw.prefix.len() > 1 {
            Ok(raw.prefix.clone())
        } else {
            Err(format!(
                "{:?} must be a path that starts and ends with '/', such as \"/chainlink/demo/\"",
                raw.prefix
            ))
        },
    );
    // Parameter Store's own rules for labels.
    let label_ok = !raw.label.is_empty()
        && raw.label.len() <= 100
        && !raw.label.starts_with(|c: char| c.is_ascii_digit())
        && !raw.label.to_ascii_lowercase().starts_with("aws")
        && !raw.label.to_ascii_lowercase().starts_with("ssm")
        && raw
            .label
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    if !label_ok {
        problems.push(
            "parameters.label",
            format!("{:?} is not a Parameter Store label (letters, digits, '.', '-', '_'; not starting with a digit, aws or ssm)", raw.label),
        );
    }
    let kms_key = match &raw.kms_key {
        Some(key) => Some(problems.check(
            "parameters.kms_key",
            KmsKeyRef::try_from(key.as_str()).map_err(|e| e.to_string()),
        )?),
        None => None,
    };
    Some(ParameterSource {
        prefix: prefix?,
        label: raw.label.clone(),
        probes: raw.probes,
        kms_key,
    })
}

#[cfg(test)]
mod tests;
