//! Every flow check of a stack: the flows into its roles, then the declared paths out of it.

use super::flow_check::{check_flow, FlowCheck};
use super::node_flows::stack_flows;
use super::observed::ObservedStack;
use super::outbound_check::check_outbound;
use crate::stack::StackFile;

/// Checks every flow `file` holds `stack` to (those following the node's configuration on the
/// ports it gives now), and every `[[egress]]` path, against `stack`.
pub fn check_flows(file: &StackFile, stack: &ObservedStack) -> Vec<FlowCheck> {
    let resolved = stack_flows(file, stack.node.as_ref());
    let inbound = resolved
        .flows
        .iter()
        .map(|flow| check_flow(file, flow, stack));
    let outbound = resolved
        .outbound
        .iter()
        .map(|flow| check_outbound(file, flow, stack));
    inbound.chain(outbound).collect()
}
