//! An Auto Scaling group: the next type launched through an instance-type override of the
//! launch template version the group already uses, then an instance refresh; all or nothing.
//!
//! No launch template version is ever created: a new version is new launch content (user data,
//! AMI, role) that IAM cannot inspect, so a role allowed to create one could launch anything.
//! An override changes only the type, and IAM checks it (`autoscaling:InstanceTypes`).

use super::checked;
use crate::instances::observe::{read_group, refresh_in_progress, InstanceClients};
use aws_sdk_autoscaling::types::{
    LaunchTemplate, LaunchTemplateOverrides, LaunchTemplateSpecification, MixedInstancesPolicy,
};
use domain::instance_type::InstanceType;
use domain::instances::GroupState;
use domain::outcome::ActionOutcome;
use domain::outcome::Outcome;
use domain::Error;

/// One planned group resize, as the plan names it.
pub(super) struct GroupResize<'a> {
    pub group: &'a str,
    pub launch_template: &'a str,
    /// `$Latest`, `$Default` or a number: what the group asks for, kept as it is.
    pub version: &'a str,
    pub from: &'a str,
    pub to: &'a InstanceType,
    pub min_healthy_percentage: u8,
}

/// How the group launched before: what a failed resize puts back.
enum Launch {
    Template,
    Override(String),
}

pub(super) async fn resize_group(
    clients: InstanceClients<'_>,
    resize: &GroupResize<'_>,
) -> Result<ActionOutcome, Error> {
    let GroupResize {
        group,
        launch_template,
        version,
        from,
        to,
        ..
    } = *resize;
    let Some(current) = read_group(clients, group).await? else {
        return Err(Error::Vanished {
            operation: "DescribeAutoScalingGroups",
            resource: format!("group {group}"),
        });
    };
    if let Some(changed) = changed_since_plan(&current, resize) {
        return Ok(ActionOutcome::plain(Outcome::Skipped {
            reason: format!("group {group} {changed} since the plan"),
        }));
    }
    let before = match current.type_overrides.first() {
        Some(only) => Launch::Override(only.clone()),
        None => Launch::Template,
    };
    if refresh_in_progress(clients.autoscaling, group).await? {
        return Ok(ActionOutcome::plain(Outcome::Skipped {
            reason: format!("an instance refresh of group {group} started since the plan"),
        }));
    }
    if let Err(error) = launch(clients, resize, &Launch::Override(to.to_string())).await {
        return Ok(ActionOutcome::failed_unchanged(
            error,
            Some(format!("group {group} still launches {from}")),
        ));
    }
    let refresh = clients
        .autoscaling
        .start_instance_refresh()
        .auto_scaling_group_name(group)
        .strategy(aws_sdk_autoscaling::types::RefreshStrategy::Rolling)
        .preferences(
            aws_sdk_autoscaling::types::RefreshPreferences::builder()
                .min_healthy_percentage(i32::from(resize.min_healthy_percentage))
                .build(),
        )
        .send()
        .await;
    let error = match refresh {
        Ok(refresh) => {
            return Ok(ActionOutcome::applied(format!(
                "group {group} launches {to} (override of {launch_template} version {version}); instance refresh {}",
                refresh.instance_refresh_id().unwrap_or("started")
            )))
        }
        Err(e) => crate::aws::sdk_error("StartInstanceRefresh", e),
    };
    // Without the refresh, only new instances would get the new type: all or nothing, so the
    // group goes back to launching what it launched before.
    Ok(match launch(clients, resize, &before).await {
        Ok(()) => ActionOutcome::failed_unchanged(
            error,
            Some(format!("rolled back: group {group} launches {from} again")),
        ),
        Err(rollback) => ActionOutcome::failed_changed(
            error,
            format!(
                "ROLLBACK FAILED ({rollback}): group {group} launches {to} but its running instances keep {from}; set its instance type back to {from} or start a refresh by hand"
            ),
        ),
    })
}

/// What changed in the group since the plan, if anything: another template or version, or
/// another type launched.
fn changed_since_plan(current: &GroupState, resize: &GroupResize<'_>) -> Option<String> {
    let template = current.launch_template.as_ref();
    if template.map(|t| t.id.as_str()) != Some(resize.launch_template)
        || template.map(|t| t.requested_version.as_str()) != Some(resize.version)
    {
        return Some(format!(
            "no longer uses version {} of {}",
            resize.version, resize.launch_template
        ));
    }
    match current.current_type() {
        Some(now) if now == resize.from => None,
        now => Some(format!(
            "launches {} now, not {}",
            now.unwrap_or("several types"),
            resize.from
        )),
    }
}

/// Sets what the group launches, on the same template and version; after an error, AWS is
/// asked whether the change took effect anyway.
async fn launch(
    clients: InstanceClients<'_>,
    resize: &GroupResize<'_>,
    launch: &Launch,
) -> Result<(), Error> {
    let spec = LaunchTemplateSpecification::builder()
        .launch_template_id(resize.launch_template)
        .version(resize.version)
        .build();
    let update = clients
        .autoscaling
        .update_auto_scaling_group()
        .auto_scaling_group_name(resize.group);
    let update = match launch {
        Launch::Template => update.launch_template(spec),
        Launch::Override(instance_type) => update.mixed_instances_policy(
            MixedInstancesPolicy::builder()
                .launch_template(
                    LaunchTemplate::builder()
                        .launch_template_specification(spec)
                        .overrides(
                            LaunchTemplateOverrides::builder()
                                .instance_type(instance_type)
                                .build(),
                        )
                        .build(),
                )
                .build(),
        ),
    };
    let sent = update
        .send()
        .await
        .map_err(|e| crate::aws::sdk_error("UpdateAutoScalingGroup", e));
    let wanted: Vec<String> = match launch {
        Launch::Template => Vec::new(),
        Launch::Override(instance_type) => vec![instance_type.clone()],
    };
    checked(sent, || async {
        matches!(
            read_group(clients, resize.group).await,
            Ok(Some(current)) if current.type_overrides == wanted
        )
    })
    .await
}
