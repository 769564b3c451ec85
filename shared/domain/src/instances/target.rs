//! What an alarm's remediation concerns, decided from what was read: the volume behind a disk
//! alarm's filesystem, and the type a resize would move to (which observe then asks AWS about).

use super::plan::next_type;
use super::{AttachedVolume, InstanceState, Target};
use crate::ids::{RoleName, VolumeId};
use crate::instance_type::InstanceType;
use crate::signal::AlarmNotice;
use crate::stack::RoleSpec;
use std::collections::BTreeMap;

/// The volume behind the alarm's filesystem: the root volume for `/`, else the device the
/// CloudWatch agent names (`xvdf` is `/dev/xvdf` or `/dev/sdf`), else the only data volume.
pub fn volume_for(instance: &InstanceState, notice: &AlarmNotice) -> Option<VolumeId> {
    let path = notice.dimension("path").unwrap_or("/");
    if path == "/" {
        let root = instance.root_device.as_deref()?;
        return instance
            .volumes
            .iter()
            .find(|v| v.device == root)
            .map(|v| v.volume_id.clone());
    }
    let data: Vec<&AttachedVolume> = instance
        .volumes
        .iter()
        .filter(|v| Some(v.device.as_str()) != instance.root_device.as_deref())
        .collect();
    let by_device = notice.dimension("device").and_then(|device| {
        let device = device.trim_start_matches("/dev/");
        let device = device.trim_end_matches(|c: char| c.is_ascii_digit());
        let aliases = [
            device.to_string(),
            device.replacen("xvd", "sd", 1),
            device.replacen("sd", "xvd", 1),
        ];
        data.iter().find(|v| {
            let name = v.device.trim_start_matches("/dev/");
            aliases.iter().any(|alias| alias == name)
        })
    });
    match (by_device, data.as_slice()) {
        (Some(volume), _) => Some(volume.volume_id.clone()),
        (None, [only]) => Some(only.volume_id.clone()),
        _ => None,
    }
}

/// A resize's step up the ladder, and the zones that must offer it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResizeCandidate {
    pub current: String,
    pub next: InstanceType,
    pub zones: Vec<String>,
}

/// `None` when the target's type is unknown or already at the top of its ladder: the planner
/// says why.
pub fn resize_candidate(
    roles: &BTreeMap<RoleName, RoleSpec>,
    target: &Target,
) -> Option<ResizeCandidate> {
    let (current, zones): (Option<&str>, Vec<String>) = match target {
        Target::Instance {
            group: Some(group), ..
        }
        | Target::Group { group } => (group.current_type(), group.availability_zones.clone()),
        Target::Instance { instance, .. } => (
            Some(instance.instance_type.as_str()),
            vec![instance.availability_zone.clone()],
        ),
    };
    let current = current?;
    let next = next_type(roles, target.role(), current).ok()?;
    Some(ResizeCandidate {
        current: current.to_string(),
        next,
        zones,
    })
}
