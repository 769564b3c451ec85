//! Exposure through a load balancer: which listener → target group → instance paths put a
//! forbidden port of the stack in front of the world, and which do not.

use domain::security_groups::load_balancers::Scheme;
use domain::security_groups::observed::ObservedStack;
use domain::security_groups::world_exposures;
use domain::stack::StackFile;
use test_support::*;

/// The healthy demo stack with a node instance `i-0a1` wearing `sg-node`, which lets the load
/// balancer's group in on 6688, and a load balancer `public-alb` of `scheme` whose group
/// `sg-alb` admits 443 from `listener_from`, forwarding HTTPS 443 to `ui` on `target_port`.
fn behind_alb(scheme: Scheme, listener_from: &str, target_port: u16) -> ObservedStack {
    let mut stack = healthy_demo().with_instance("i-0a1", "node", "subnet-a", &["sg-node"]);
    if let Some(node) = stack.groups.iter_mut().find(|g| g.id.as_str() == "sg-node") {
        node.ingress.push(tcp(target_port).from("sg-0a1b"));
    }
    stack.load_balancers.push(load_balancer(
        "public-alb",
        scheme,
        vec![group("sg-0a1b", "").allow(tcp(443).from(listener_from))],
        &[("HTTPS", 443, "ui")],
        &[("ui", "HTTP", &[("i-0a1", target_port)])],
    ));
    stack
}

fn exposures(file: &StackFile, stack: &ObservedStack) -> Vec<String> {
    world_exposures(file, stack)
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn a_world_open_listener_forwarding_to_the_ui_port_is_an_exposure_with_its_path() {
    let stack = behind_alb(Scheme::InternetFacing, "0.0.0.0/0", 6688);
    let found = world_exposures(&sample_stack_file(), &stack);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(
        found[0].to_string(),
        "i-0a1:6688 (tcp, role node) reachable from the world: load balancer public-alb → listener HTTPS:443, \
         admitted from the world by sg-0a1b (0a1b) (tcp 443 from 0.0.0.0/0) → target group ui → \
         i-0a1:6688, let in by sg-node (node) (tcp 6688 from sg-0a1b)"
    );
    assert!(found[0].note.contains("belongs to whoever deployed it"));
}

#[test]
fn ipv6_world_admits_the_listener_too() {
    let stack = behind_alb(Scheme::InternetFacing, "::/0", 6688);
    assert_eq!(exposures(&sample_stack_file(), &stack).len(), 1);
}

#[test]
fn an_internal_load_balancer_exposes_nothing() {
    let stack = behind_alb(Scheme::Internal, "0.0.0.0/0", 6688);
    assert_eq!(
        exposures(&sample_stack_file(), &stack),
        Vec::<String>::new()
    );
}

#[test]
fn a_listener_admitted_only_from_a_private_range_exposes_nothing() {
    let stack = behind_alb(Scheme::InternetFacing, "10.20.0.0/16", 6688);
    assert_eq!(
        exposures(&sample_stack_file(), &stack),
        Vec::<String>::new()
    );
}

#[test]
fn a_target_port_that_is_not_forbidden_exposes_nothing() {
    let stack = behind_alb(Scheme::InternetFacing, "0.0.0.0/0", 8080);
    assert_eq!(
        exposures(&sample_stack_file(), &stack),
        Vec::<String>::new()
    );
}

#[test]
fn a_forbidden_entry_limited_to_another_role_does_not_apply_to_the_node() {
    let text = include_str!("../../../samples/stack.toml").replace(
        "ports = [22, 5432, 6688, 6689, 8545, 8546]",
        "ports = [22, 5432, 6688, 6689, 8545, 8546]\nroles = [\"db\"]",
    );
    let file = match StackFile::parse(&text, "db-only.toml") {
        Ok(file) => file,
        Err(e) => panic!("{e}"),
    };
    let stack = behind_alb(Scheme::InternetFacing, "0.0.0.0/0", 6688);
    assert_eq!(exposures(&file, &stack), Vec::<String>::new());
}

#[test]
fn an_instance_whose_groups_let_nothing_of_the_load_balancer_in_is_not_exposed() {
    let mut stack = behind_alb(Scheme::InternetFacing, "0.0.0.0/0", 6688);
    if let Some(node) = stack.groups.iter_mut().find(|g| g.id.as_str() == "sg-node") {
        node.ingress
            .retain(|rule| rule.to_string() != "tcp 6688 from sg-0a1b");
        // The operators' range is still let in on 6688: a CIDR may hold the load balancer's
        // addresses, so only a group rule naming another group rules it out.
        node.ingress
            .retain(|rule| rule.to_string() != "tcp 6688 from 10.20.0.0/16");
    }
    assert_eq!(
        exposures(&sample_stack_file(), &stack),
        Vec::<String>::new()
    );
}

#[test]
fn a_target_that_is_not_a_stack_instance_is_not_the_stacks_exposure() {
    let mut stack = behind_alb(Scheme::InternetFacing, "0.0.0.0/0", 6688);
    stack.instances.clear();
    assert_eq!(
        exposures(&sample_stack_file(), &stack),
        Vec::<String>::new()
    );
}
