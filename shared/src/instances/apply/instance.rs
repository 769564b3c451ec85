//! A standalone instance: resize (stop, change the type, start) with rollback, restart on a
//! new host, and the checked stop and start both use.

use super::{checked, Waits};
use crate::instances::observe::read_instance;
use domain::ids::InstanceId;
use domain::instance_type::InstanceType;
use domain::outcome::ActionOutcome;
use domain::outcome::Outcome;
use domain::Error;

pub(super) async fn resize_instance(
    ec2: &aws_sdk_ec2::Client,
    instance: &InstanceId,
    from: &str,
    to: &InstanceType,
    waits: Waits,
) -> ActionOutcome {
    let current = match read_instance(ec2, instance.as_str()).await {
        Ok(Some(current)) => current,
        Ok(None) => return ActionOutcome::failed_unchanged(vanished(instance), None),
        Err(error) => return ActionOutcome::failed_unchanged(error, None),
    };
    if current.instance_type == to.as_str() && current.state == "running" {
        return ActionOutcome::plain(Outcome::AlreadyConverged);
    }
    if current.instance_type != from || current.state != "running" {
        return ActionOutcome::plain(Outcome::Skipped {
            reason: format!(
                "{instance} is now {} and {}: planned from {from}, running",
                current.instance_type, current.state
            ),
        });
    }
    match resize_steps(ec2, instance, to, waits).await {
        Ok(()) => ActionOutcome::applied(format!("{instance} is running as {to}")),
        Err(error) => match recover_resize(ec2, instance, from, waits).await {
            Ok(()) => ActionOutcome::failed_unchanged(
                error,
                Some(format!("rolled back: {instance} is running as {from}")),
            ),
            Err(recovery) => ActionOutcome::failed_changed(error, recovery),
        },
    }
}

/// Stop, wait, change the type, start, wait: AWS refuses a type change on a running instance.
async fn resize_steps(
    ec2: &aws_sdk_ec2::Client,
    instance: &InstanceId,
    to: &InstanceType,
    waits: Waits,
) -> Result<(), Error> {
    stop(ec2, instance).await?;
    wait_for_state(ec2, instance, "stopped", waits).await?;
    set_type(ec2, instance, to.as_str()).await?;
    start(ec2, instance).await?;
    wait_for_state(ec2, instance, "running", waits).await
}

/// Puts the instance back on `from`, whatever step failed, and running in any case: a node on
/// the wrong type is better than a node down. Read from AWS, not from where the resize
/// stopped: a call that timed out may have taken effect.
async fn recover_resize(
    ec2: &aws_sdk_ec2::Client,
    instance: &InstanceId,
    from: &str,
    waits: Waits,
) -> Result<(), String> {
    let restored = restore_type(ec2, instance, from, waits).await;
    let running = ensure_running(ec2, instance, waits).await;
    match (restored, running) {
        (Ok(()), Ok(())) => Ok(()),
        (Err(error), Ok(())) => Err(format!(
            "ROLLBACK INCOMPLETE ({error}): {instance} is running, but not as {from}; change its type by hand"
        )),
        (_, Err(error)) => Err(format!(
            "ROLLBACK FAILED ({error}): {instance} may be stopped; it should run as {from}"
        )),
    }
}

/// Stops the instance if needed and sets its type back to `from`.
async fn restore_type(
    ec2: &aws_sdk_ec2::Client,
    instance: &InstanceId,
    from: &str,
    waits: Waits,
) -> Result<(), Error> {
    let current = read_instance(ec2, instance.as_str())
        .await?
        .ok_or_else(|| vanished(instance))?;
    if current.instance_type == from {
        return Ok(());
    }
    if current.state != "stopped" {
        stop(ec2, instance).await?;
        wait_for_state(ec2, instance, "stopped", waits).await?;
    }
    set_type(ec2, instance, from).await
}

/// Changes a stopped instance's type; after an error, AWS is asked whether it took effect.
async fn set_type(
    ec2: &aws_sdk_ec2::Client,
    instance: &InstanceId,
    instance_type: &str,
) -> Result<(), Error> {
    let sent = ec2
        .modify_instance_attribute()
        .instance_id(instance.as_str())
        .instance_type(
            aws_sdk_ec2::types::AttributeValue::builder()
                .value(instance_type)
                .build(),
        )
        .send()
        .await
        .map_err(|e| crate::aws::sdk_error("ModifyInstanceAttribute", e));
    checked(sent, || async {
        matches!(
            read_instance(ec2, instance.as_str()).await,
            Ok(Some(current)) if current.instance_type == instance_type
        )
    })
    .await
}

/// Starts the instance if it is stopped or stopping, and waits until it runs.
pub(super) async fn ensure_running(
    ec2: &aws_sdk_ec2::Client,
    instance: &InstanceId,
    waits: Waits,
) -> Result<(), Error> {
    let current = read_instance(ec2, instance.as_str())
        .await?
        .ok_or_else(|| vanished(instance))?;
    match current.state.as_str() {
        "running" => return Ok(()),
        "stopping" => wait_for_state(ec2, instance, "stopped", waits).await?,
        _ => {}
    }
    if current.state != "pending" {
        start(ec2, instance).await?;
    }
    wait_for_state(ec2, instance, "running", waits).await
}

async fn stop(ec2: &aws_sdk_ec2::Client, instance: &InstanceId) -> Result<(), Error> {
    let sent = ec2
        .stop_instances()
        .instance_ids(instance.as_str())
        .send()
        .await
        .map_err(|e| crate::aws::sdk_error("StopInstances", e));
    checked(sent, || in_state(ec2, instance, &["stopping", "stopped"])).await
}

async fn start(ec2: &aws_sdk_ec2::Client, instance: &InstanceId) -> Result<(), Error> {
    let sent = ec2
        .start_instances()
        .instance_ids(instance.as_str())
        .send()
        .await
        .map_err(|e| crate::aws::sdk_error("StartInstances", e));
    checked(sent, || in_state(ec2, instance, &["pending", "running"])).await
}

async fn in_state(ec2: &aws_sdk_ec2::Client, instance: &InstanceId, states: &[&str]) -> bool {
    matches!(
        read_instance(ec2, instance.as_str()).await,
        Ok(Some(current)) if states.contains(&current.state.as_str())
    )
}

async fn wait_for_state(
    ec2: &aws_sdk_ec2::Client,
    instance: &InstanceId,
    wanted: &str,
    waits: Waits,
) -> Result<(), Error> {
    let mut reads = 0;
    loop {
        let current = read_instance(ec2, instance.as_str())
            .await?
            .ok_or_else(|| vanished(instance))?;
        reads += 1;
        if current.state == wanted {
            return Ok(());
        }
        if matches!(current.state.as_str(), "terminated" | "shutting-down") || reads >= waits.reads
        {
            return Err(wait_error(instance, wanted, &current.state));
        }
        tokio::time::sleep(waits.poll).await;
    }
}

fn wait_error(instance: &InstanceId, wanted: &str, state: &str) -> Error {
    Error::WaitTimedOut {
        operation: "DescribeInstances",
        resource: instance.to_string(),
        wanted: wanted.to_string(),
        seen: state.to_string(),
    }
}

fn vanished(instance: &InstanceId) -> Error {
    Error::Vanished {
        operation: "DescribeInstances",
        resource: instance.to_string(),
    }
}

pub(super) async fn restart_instance(
    ec2: &aws_sdk_ec2::Client,
    instance: &InstanceId,
    waits: Waits,
) -> ActionOutcome {
    let stopped = async {
        stop(ec2, instance).await?;
        wait_for_state(ec2, instance, "stopped", waits).await
    };
    if let Err(error) = stopped.await {
        // Never stopped: the node runs on as before. Or it is on its way down: bring it back.
        return match ensure_running(ec2, instance, waits).await {
            Ok(()) => {
                ActionOutcome::failed_unchanged(error, Some(format!("{instance} is running")))
            }
            Err(e) => ActionOutcome::failed_changed(
                error,
                format!("RECOVERY FAILED ({e}): {instance} may be stopped; start it by hand"),
            ),
        };
    }
    match ensure_running(ec2, instance, waits).await {
        Ok(()) => ActionOutcome::applied(format!("{instance} is running on a new host")),
        Err(error) => ActionOutcome::failed_changed(
            error,
            format!("{instance} is stopped and AWS refused to start it: start it by hand"),
        ),
    }
}
