//! Security-group drift: which required rules are missing, which rules expose forbidden ports
//! to the world, and in what order to fix them so that no required flow is ever closed.

use super::addresses::{admitted_by_cidr, places_of, CidrAdmission};
use super::admission::{admitted_with_role, refusal};
use super::{
    Exemption, ExposingRule, RequiredRule, SecurityGroupAction, SecurityGroupPlan, UnmanagedRule,
};
use crate::net::{Peer, PortRange, Rule};
use crate::security_groups::node_flows::{stack_flows, StackFlows};
use crate::security_groups::observed::{ObservedGroup, ObservedStack};
use crate::stack::{ExceptionScope, Flow, FlowSource, RuleTarget, StackFile};

/// Plans the security-group changes that bring `stack` to what `file` declares.
pub fn plan_security_groups(file: &StackFile, stack: &ObservedStack) -> SecurityGroupPlan {
    let flows = stack_flows(file, stack.node.as_ref());
    let mut authorizations = Vec::new();
    let mut revocations = Vec::new();
    let mut exempt = Vec::new();
    let mut unmanaged = Vec::new();
    let mut refused = Vec::new();

    for group in &stack.groups {
        if let Some(refused_group) = refusal(file, group) {
            refused.push(refused_group);
            continue;
        }
        let drift = plan_group(file, &flows, stack, group);
        unmanaged.extend(drift.unmanaged.into_iter().map(|rule| UnmanagedRule {
            group: group.id.clone(),
            rule,
        }));
        exempt.extend(drift.exempt_rules);
        if let Some(exception) = file.exempt_group(&group.id) {
            let changes = drift
                .missing
                .iter()
                .map(|r| format!("authorize {}", r.rule));
            let changes =
                changes.chain(drift.exposing.iter().map(|r| format!("revoke {}", r.rule)));
            exempt.extend(changes.map(|change| Exemption {
                group: group.id.clone(),
                change,
                reason: exception.reason.clone(),
            }));
            continue;
        }
        if !drift.missing.is_empty() {
            authorizations.push(SecurityGroupAction::AuthorizeIngress {
                group: group.id.clone(),
                rules: drift.missing,
            });
        }
        if !drift.exposing.is_empty() {
            revocations.push(SecurityGroupAction::RevokeIngress {
                group: group.id.clone(),
                rules: drift.exposing,
            });
        }
    }

    let actions: Vec<SecurityGroupAction> = authorizations.into_iter().chain(revocations).collect();
    let changes: usize = actions.iter().map(SecurityGroupAction::change_count).sum();
    let limit = file.limits.max_changes_per_run;
    let refusal = (changes > limit).then(|| {
        format!(
            "the plan makes {changes} rule changes, over the stack file's limit of {limit} per run: \
             nothing applied; review the plan, then raise limits.max_changes_per_run or fix the drift by hand"
        )
    });
    SecurityGroupPlan {
        stack: stack.name.clone(),
        actions,
        refusal,
        exempt,
        unmanaged,
        refused,
        findings: flows.findings,
    }
}

/// What is wrong with one group.
struct GroupDrift {
    missing: Vec<RequiredRule>,
    exposing: Vec<ExposingRule>,
    exempt_rules: Vec<Exemption>,
    unmanaged: Vec<Rule>,
}

fn plan_group(
    file: &StackFile,
    flows: &StackFlows,
    stack: &ObservedStack,
    group: &ObservedGroup,
) -> GroupDrift {
    let mut exposing = Vec::new();
    let mut exempt_rules = Vec::new();
    let mut surviving = Vec::new();
    for rule in &group.ingress {
        let exposes = forbidden_ports_exposed(file, group, rule);
        if exposes.is_empty() {
            surviving.push(rule);
        } else if let Some(reason) = rule_exemption(file, group, rule) {
            exempt_rules.push(Exemption {
                group: group.id.clone(),
                change: format!("revoke {rule}"),
                reason: reason.to_string(),
            });
            surviving.push(rule);
        } else {
            exposing.push(ExposingRule {
                rule: rule.clone(),
                exposes,
                replaced_by: Vec::new(),
                moved: None,
            });
        }
    }

    // Coverage counts only rules that survive this plan: a revoked broad rule must not be what
    // keeps a required flow open, or the flow would close when it goes.
    let mut missing: Vec<RequiredRule> = Vec::new();
    let mut serving: Vec<&Rule> = Vec::new();
    let required = flows
        .flows
        .iter()
        .filter(|f| group.role.as_ref() == Some(&f.to));
    for flow in required {
        for peer in flow_peers(file, flow, stack) {
            if covers(
                flow,
                &peer,
                &surviving,
                stack,
                flow.group_rule,
                &mut serving,
            ) {
                continue;
            }
            let rule = Rule {
                protocol: flow.protocol,
                ports: Some(flow.ports),
                peer,
            };
            for revoked in exposing.iter_mut().filter(|e| {
                // Whether the revoked rule carried the flow, by any reading: the narrow rule
                // must then be in place before it goes.
                covers(flow, &rule.peer, &[&e.rule], stack, false, &mut Vec::new())
            }) {
                push_unique(&mut revoked.replaced_by, &flow.name);
            }
            match missing.iter_mut().find(|m| m.rule == rule) {
                Some(existing) => push_unique(&mut existing.flows, &flow.name),
                None => missing.push(RequiredRule {
                    rule,
                    flows: vec![flow.name.clone()],
                }),
            }
        }
    }

    exposing.extend(moved_away(file, flows, stack, group, &surviving, &serving));
    let unmanaged = surviving
        .iter()
        .copied()
        .filter(|rule| {
            let is_exempt = exempt_rules
                .iter()
                .any(|e| e.change == format!("revoke {rule}"));
            let revoked = exposing.iter().any(|e| &e.rule == *rule);
            !serving.contains(rule) && !is_exempt && !revoked
        })
        .cloned()
        .collect();

    GroupDrift {
        missing,
        exposing,
        exempt_rules,
        unmanaged,
    }
}

/// The rules `group` holds only for flows the node's configuration moved to another port: each
/// exactly what the flow required on the old port (its peer, protocol and port), carrying no
/// flow of this run and not exempt. A rule merely overlapping the old port is someone else's.
fn moved_away(
    file: &StackFile,
    flows: &StackFlows,
    stack: &ObservedStack,
    group: &ObservedGroup,
    surviving: &[&Rule],
    serving: &[&Rule],
) -> Vec<ExposingRule> {
    let mut revoked: Vec<ExposingRule> = Vec::new();
    let moved = flows
        .moved
        .iter()
        .filter(|m| group.role.as_ref() == Some(&m.flow.to));
    for moved in moved {
        for peer in flow_peers(file, &moved.flow, stack) {
            let rule = Rule {
                protocol: moved.flow.protocol,
                ports: Some(moved.flow.ports),
                peer,
            };
            let held = surviving.contains(&&rule) && !serving.contains(&&rule);
            let already = revoked.iter().any(|r| r.rule == rule);
            if !held || already || rule_exemption(file, group, &rule).is_some() {
                continue;
            }
            revoked.push(ExposingRule {
                rule,
                exposes: Vec::new(),
                replaced_by: Vec::new(),
                moved: Some(format!(
                    "flow {} moved to {} in the node's configuration",
                    moved.flow.name, moved.now
                )),
            });
        }
    }
    revoked
}

/// The concrete peers a flow requires: its CIDR, or every group of its source role in this
/// stack that the stack file admits (never another stack's, never a refused one).
fn flow_peers(file: &StackFile, flow: &Flow, stack: &ObservedStack) -> Vec<Peer> {
    match &flow.from {
        FlowSource::Cidr(net) => vec![Peer::Cidr(*net)],
        FlowSource::Role(role) => admitted_with_role(file, stack, role)
            .map(|g| Peer::Group(g.id.clone()))
            .collect(),
    }
}

/// Whether `rules` carry `flow` from `peer`, adding to `serving` the rules that do: those that
/// admit the peer as written (the group itself, or a CIDR containing the flow's); when there are
/// none and `group_rule` is off, those whose CIDRs together contain an address of every network
/// interface wearing the source group.
fn covers<'a>(
    flow: &Flow,
    peer: &Peer,
    rules: &[&'a Rule],
    stack: &ObservedStack,
    group_rule: bool,
    serving: &mut Vec<&'a Rule>,
) -> bool {
    let before = serving.len();
    serving.extend(
        rules
            .iter()
            .copied()
            .filter(|r| r.admits(flow.protocol, flow.ports, peer)),
    );
    if serving.len() > before {
        return true;
    }
    let Peer::Group(source) = peer else {
        return false;
    };
    if group_rule {
        return false;
    }
    match admitted_by_cidr(rules, flow.protocol, flow.ports, &places_of(stack, source)) {
        CidrAdmission::All(admitting) => {
            serving.extend(admitting);
            true
        }
        CidrAdmission::Partly { .. } | CidrAdmission::Unlocated => false,
    }
}

/// The forbidden ports that `rule` opens to the world on `group`.
fn forbidden_ports_exposed(file: &StackFile, group: &ObservedGroup, rule: &Rule) -> Vec<PortRange> {
    if !rule.peer.is_world() {
        return Vec::new();
    }
    file.forbidden
        .iter()
        .filter(|f| f.applies_to(group.role.as_ref()))
        .flat_map(|f| f.ports.iter().map(move |ports| (f.protocol, *ports)))
        .filter(|(protocol, ports)| rule.opens_any(*protocol, *ports))
        .map(|(_, ports)| ports)
        .collect()
}

fn rule_exemption<'a>(file: &'a StackFile, group: &ObservedGroup, rule: &Rule) -> Option<&'a str> {
    file.exceptions.iter().find_map(|exception| {
        let ExceptionScope::Rule {
            target,
            peer,
            protocol,
            ports,
        } = &exception.scope
        else {
            return None;
        };
        let on_target = match target {
            RuleTarget::Group(id) => id == &group.id,
            RuleTarget::Role(role) => group.role.as_ref() == Some(role),
        };
        let same_rule = peer == &rule.peer
            && protocol == &rule.protocol
            && (ports.is_none() || ports == &rule.ports);
        (on_target && same_rule).then_some(exception.reason.as_str())
    })
}

fn push_unique(names: &mut Vec<String>, name: &str) {
    if !names.iter().any(|n| n == name) {
        names.push(name.to_string());
    }
}
