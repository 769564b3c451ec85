//! An Auto Scaling group: a launch template version one step up, the group pointed at it, an
//! instance refresh; all or nothing.

use super::checked;
use crate::instances::observe::{read_group, refresh_in_progress, InstanceClients};
use domain::instance_type::InstanceType;
use domain::outcome::ActionOutcome;
use domain::outcome::Outcome;
use domain::Error;

pub(super) async fn resize_group(
    clients: InstanceClients<'_>,
    group: &str,
    launch_template: &str,
    from_version: i64,
    to: &InstanceType,
    min_healthy_percentage: u8,
) -> Result<ActionOutcome, Error> {
    let Some(current) = read_group(clients, group).await? else {
        return Err(Error::Vanished {
            operation: "DescribeAutoScalingGroups",
            resource: format!("group {group}"),
        });
    };
    let version = current.launch_template.as_ref().map(|t| t.version);
    if version != Some(from_version) {
        return Ok(ActionOutcome::plain(Outcome::Skipped {
            reason: format!(
                "group {group} no longer uses version {from_version} of {launch_template}: someone changed it since the plan"
            ),
        }));
    }
    // `$Latest`, `$Default` or a number: what the group goes back to if the resize fails.
    let requested = current
        .launch_template
        .as_ref()
        .map(|t| t.requested_version.clone())
        .unwrap_or_else(|| from_version.to_string());
    if refresh_in_progress(clients.autoscaling, group).await? {
        return Ok(ActionOutcome::plain(Outcome::Skipped {
            reason: format!("an instance refresh of group {group} started since the plan"),
        }));
    }
    let created = clients
        .ec2
        .create_launch_template_version()
        .launch_template_id(launch_template)
        .source_version(from_version.to_string())
        .version_description(format!("{VERSION_DESCRIPTION} {to}"))
        .launch_template_data(
            aws_sdk_ec2::types::RequestLaunchTemplateData::builder()
                .instance_type(aws_sdk_ec2::types::InstanceType::from(to.as_str()))
                .build(),
        )
        .send()
        .await
        .map_err(|e| crate::aws::sdk_error("CreateLaunchTemplateVersion", e))
        .and_then(|created| {
            created
                .launch_template_version()
                .and_then(|v| v.version_number())
                .ok_or_else(|| Error::NotCarriedOut {
                    operation: "CreateLaunchTemplateVersion",
                    message: "no version number in the response".into(),
                })
        });
    let new_version = match created {
        Ok(version) => version,
        // A version may exist all the same (the answer was lost), and a group on $Latest
        // would launch it.
        Err(error) => {
            return Ok(discard_new_versions(
                clients.ec2,
                launch_template,
                from_version,
                error,
                None,
            )
            .await)
        }
    };
    if let Err(error) =
        point_group_at(clients, group, launch_template, &new_version.to_string()).await
    {
        return Ok(
            discard_new_versions(clients.ec2, launch_template, from_version, error, None).await,
        );
    }
    let refresh = clients
        .autoscaling
        .start_instance_refresh()
        .auto_scaling_group_name(group)
        .strategy(aws_sdk_autoscaling::types::RefreshStrategy::Rolling)
        .preferences(
            aws_sdk_autoscaling::types::RefreshPreferences::builder()
                .min_healthy_percentage(i32::from(min_healthy_percentage))
                .build(),
        )
        .send()
        .await;
    let error = match refresh {
        Ok(refresh) => {
            return Ok(ActionOutcome::applied(format!(
                "group {group} uses {launch_template} version {new_version}; instance refresh {}",
                refresh.instance_refresh_id().unwrap_or("started")
            )))
        }
        Err(e) => crate::aws::sdk_error("StartInstanceRefresh", e),
    };
    // Without the refresh, only new instances would get the new type: all or nothing, so the
    // group goes back to the version it asked for.
    Ok(
        match point_group_at(clients, group, launch_template, &requested).await {
            Ok(()) => {
                let back = format!("group {group} uses {launch_template} version {requested} again");
                discard_new_versions(clients.ec2, launch_template, from_version, error, Some(back))
                    .await
            }
            Err(rollback) => ActionOutcome::failed_changed(
                error,
                format!(
                    "ROLLBACK FAILED ({rollback}): group {group} launches {to} (version {new_version}) but its running instances keep their type; set version {requested} back or start a refresh by hand"
                ),
            ),
        },
    )
}

/// How the launch template versions this engine creates describe themselves: a failed resize
/// finds and deletes its own by it.
const VERSION_DESCRIPTION: &str = "chainlink-remediator: resize to";

/// After a failed group resize: deletes the versions above `from_version` that this engine
/// created (a group on `$Latest` would launch them) and reports the failure with what was done.
async fn discard_new_versions(
    ec2: &aws_sdk_ec2::Client,
    launch_template: &str,
    from_version: i64,
    error: Error,
    done: Option<String>,
) -> ActionOutcome {
    let done = done
        .map(|d| format!("rolled back: {d}; "))
        .unwrap_or_default();
    match delete_our_versions(ec2, launch_template, from_version).await {
        Ok(deleted) if deleted.is_empty() => ActionOutcome::failed_unchanged(
            error,
            Some(format!("{done}no new launch template version remains")),
        ),
        Ok(deleted) => ActionOutcome::failed_unchanged(
            error,
            Some(format!(
                "{done}deleted the new version(s) {} of {launch_template}",
                deleted.join(", ")
            )),
        ),
        Err(cleanup) => ActionOutcome::failed_changed(
            error,
            format!(
                "{done}CLEANUP FAILED ({cleanup}): delete the versions of {launch_template} above {from_version} described \"{VERSION_DESCRIPTION} …\" by hand: a group on $Latest launches them"
            ),
        ),
    }
}

async fn delete_our_versions(
    ec2: &aws_sdk_ec2::Client,
    launch_template: &str,
    from_version: i64,
) -> Result<Vec<String>, Error> {
    let described = ec2
        .describe_launch_template_versions()
        .launch_template_id(launch_template)
        .min_version((from_version + 1).to_string())
        .max_results(200)
        .send()
        .await
        .map_err(|e| crate::aws::sdk_error("DescribeLaunchTemplateVersions", e))?;
    let ours: Vec<String> = described
        .launch_template_versions()
        .iter()
        .filter(|v| {
            v.version_number().is_some_and(|n| n > from_version)
                && v.version_description()
                    .is_some_and(|d| d.starts_with(VERSION_DESCRIPTION))
        })
        .filter_map(|v| v.version_number().map(|n| n.to_string()))
        .collect();
    if ours.is_empty() {
        return Ok(ours);
    }
    ec2.delete_launch_template_versions()
        .launch_template_id(launch_template)
        .set_versions(Some(ours.clone()))
        .send()
        .await
        .map_err(|e| crate::aws::sdk_error("DeleteLaunchTemplateVersions", e))?;
    Ok(ours)
}

/// Points the group at a version of its launch template; after an error, AWS is asked whether
/// the change took effect anyway.
async fn point_group_at(
    clients: InstanceClients<'_>,
    group: &str,
    launch_template: &str,
    version: &str,
) -> Result<(), Error> {
    let sent = clients
        .autoscaling
        .update_auto_scaling_group()
        .auto_scaling_group_name(group)
        .launch_template(
            aws_sdk_autoscaling::types::LaunchTemplateSpecification::builder()
                .launch_template_id(launch_template)
                .version(version)
                .build(),
        )
        .send()
        .await
        .map_err(|e| crate::aws::sdk_error("UpdateAutoScalingGroup", e));
    checked(sent, || async {
        matches!(
            read_group(clients, group).await,
            Ok(Some(current)) if current
                .launch_template
                .as_ref()
                .is_some_and(|t| t.requested_version == version)
        )
    })
    .await
}
