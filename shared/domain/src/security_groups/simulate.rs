//! The model of what applying actions does to an observed stack.
//!
//! It gives the flow check its "after" column without re-reading AWS, and it states the law the
//! tests hold the planner to: after applying a plan, planning again finds nothing to do.

use super::SecurityGroupAction;
use crate::security_groups::observed::ObservedStack;

impl ObservedStack {
    /// This stack as it will be once `actions` have been applied.
    pub fn with_actions<'a>(
        &self,
        actions: impl IntoIterator<Item = &'a SecurityGroupAction>,
    ) -> ObservedStack {
        let mut after = self.clone();
        for action in actions {
            let Some(group) = after.groups.iter_mut().find(|g| &g.id == action.group()) else {
                continue;
            };
            match action {
                SecurityGroupAction::AuthorizeIngress { rules, .. } => {
                    for required in rules {
                        if !group.ingress.contains(&required.rule) {
                            group.ingress.push(required.rule.clone());
                        }
                    }
                }
                SecurityGroupAction::RevokeIngress { rules, .. } => {
                    group
                        .ingress
                        .retain(|rule| !rules.iter().any(|revoked| &revoked.rule == rule));
                }
            }
        }
        after
    }
}
