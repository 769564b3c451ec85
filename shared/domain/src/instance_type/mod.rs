//! EC2 instance types, understood offline: enough to validate a stack file's resize ladder when
//! it loads (each step bigger than the last, one architecture, burstable types flagged) without
//! an AWS call. Sizes come from a catalog of every type AWS's DescribeInstanceTypes described
//! when it was generated (`catalog.rs`), not from the name: names do not say that a
//! `t3.medium` has 2 vCPUs or that a `metal` is as big as the largest size of its family.
//!
//! A well-formed type of a family newer than the catalog is accepted (the stack file warns): AWS
//! adds families faster than this tool is released, and before acting `instances::observe`
//! asks AWS whether the next type exists, is offered, shares the architecture and is bigger.

mod catalog;

use catalog::CATALOG;
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::fmt;

pub use catalog::SOURCE;

/// `m6i.large`: a family (`m6i`) and a size (`large`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct InstanceType(String);

/// What DescribeInstanceTypes says about a type: one row of the catalog.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Spec {
    pub name: &'static str,
    pub vcpus: u32,
    pub memory_mib: u32,
    pub architectures: &'static [Architecture],
    /// Runs on CPU credits (the T families).
    pub burstable: bool,
}

/// DescribeInstanceTypes' `SupportedArchitectures`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Architecture {
    Arm64,
    Arm64Mac,
    I386,
    X86_64,
    X86_64Mac,
}

/// The size a ladder orders: vCPUs and memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Capacity {
    pub vcpus: u32,
    pub memory_mib: u32,
}

impl Capacity {
    /// Bigger in one dimension and no smaller in the other; `None` when neither is bigger.
    pub fn compare(&self, other: &Self) -> Option<Ordering> {
        match (
            self.vcpus.cmp(&other.vcpus),
            self.memory_mib.cmp(&other.memory_mib),
        ) {
            (Ordering::Equal, memory) => Some(memory),
            (vcpus, Ordering::Equal) => Some(vcpus),
            (vcpus, memory) if vcpus == memory => Some(vcpus),
            _ => None,
        }
    }
}

impl fmt::Display for Capacity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = if self.vcpus == 1 { "vCPU" } else { "vCPUs" };
        if self.memory_mib % 1024 == 0 {
            write!(f, "{} {unit}, {} GiB", self.vcpus, self.memory_mib / 1024)
        } else {
            write!(f, "{} {unit}, {} MiB", self.vcpus, self.memory_mib)
        }
    }
}

impl Spec {
    pub fn capacity(&self) -> Capacity {
        Capacity {
            vcpus: self.vcpus,
            memory_mib: self.memory_mib,
        }
    }
}

impl InstanceType {
    /// Accepts a type in the catalog, or a well-formed one of a family the catalog does not
    /// know (newer than it). A family the catalog knows must be one of its sizes: there an
    /// unknown size is a typo far more often than a size AWS added since.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let instance_type = Self(raw.to_string());
        if instance_type.spec().is_some() {
            return Ok(instance_type);
        }
        let (family, size) = raw
            .split_once('.')
            .ok_or_else(|| format!("{raw:?} is not an instance type such as \"m6i.large\""))?;
        if !is_family(family) {
            return Err(format!(
                "{raw:?}: {family:?} is not an instance family such as \"m6i\" or \"c7i-flex\""
            ));
        }
        if !is_size(size) {
            return Err(format!(
                "{raw:?}: {size:?} is not an instance size (nano, micro, small, medium, large, xlarge, 2xlarge…, metal, metal-24xl…)"
            ));
        }
        let mut sizes: Vec<(Capacity, &str)> = CATALOG
            .iter()
            .filter_map(|spec| {
                let size = spec.name.strip_prefix(family)?.strip_prefix('.')?;
                Some((spec.capacity(), size))
            })
            .collect();
        if sizes.is_empty() {
            return Ok(instance_type);
        }
        sizes.sort_by_key(|(capacity, _)| (capacity.vcpus, capacity.memory_mib));
        let sizes: Vec<&str> = sizes.into_iter().map(|(_, size)| size).collect();
        Err(format!(
            "{raw:?} is not an instance type in {SOURCE}: {family} comes in {}",
            sizes.join(", ")
        ))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn family(&self) -> &str {
        self.0.split_once('.').map_or(&self.0, |(family, _)| family)
    }

    /// The catalog's row; `None` for a type newer than the catalog.
    pub fn spec(&self) -> Option<&'static Spec> {
        CATALOG
            .binary_search_by(|spec| spec.name.cmp(self.as_str()))
            .ok()
            .map(|at| &CATALOG[at])
    }

    pub fn capacity(&self) -> Option<Capacity> {
        self.spec().map(Spec::capacity)
    }

    /// T-family types run on CPU credits: fine for a test node, not for a production one.
    /// Outside the catalog, the name says it (`t` and a generation).
    pub fn is_burstable(&self) -> bool {
        self.spec().map_or_else(
            || {
                let family = self.family();
                family.starts_with('t') && family[1..].starts_with(|c: char| c.is_ascii_digit())
            },
            |spec| spec.burstable,
        )
    }

    /// Whether the node's binaries could run on both; `None` when either is not in the catalog.
    pub fn shares_architecture(&self, other: &Self) -> Option<bool> {
        let (a, b) = (self.spec()?, other.spec()?);
        Some(a.architectures.iter().any(|x| b.architectures.contains(x)))
    }

    /// As [`Capacity::compare`]; `None` also when either is not in the catalog. A `metal` is
    /// as big as its family's largest size, so `m6i.32xlarge` → `m6i.metal` is no step up.
    pub fn compare_size(&self, other: &Self) -> Option<Ordering> {
        self.capacity()?.compare(&other.capacity()?)
    }
}

/// `m6i`, `x2iedn`, `c7i-flex`, `u7in-32tb`, `mac2-m2pro`: class letters (up to 4), a
/// generation (up to 2 digits), attribute letters (up to 5) and an optional `-suffix`, with a
/// digit somewhere. Every family in the catalog has that shape (a test says so); the bounds
/// keep a string of junk from passing for a family newer than the catalog.
fn is_family(family: &str) -> bool {
    let (base, suffix) = match family.split_once('-') {
        Some((base, suffix)) => (base, Some(suffix)),
        None => (family, None),
    };
    let rest = base.trim_start_matches(|c: char| c.is_ascii_lowercase());
    let attributes = rest.trim_start_matches(|c: char| c.is_ascii_digit());
    let (class, generation) = (base.len() - rest.len(), rest.len() - attributes.len());
    (1..=4).contains(&class)
        && generation <= 2
        && attributes.len() <= 5
        && attributes.chars().all(|c| c.is_ascii_lowercase())
        && suffix.is_none_or(|suffix| {
            (1..=10).contains(&suffix.len())
                && suffix
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
        && family.contains(|c: char| c.is_ascii_digit())
}

/// `nano` … `xlarge`, `Nxlarge` (N ≥ 2), `metal`, `metal-Nxl`.
fn is_size(size: &str) -> bool {
    let number = |n: &str, min: u32| {
        !n.starts_with('0') && n.len() <= 3 && n.parse::<u32>().is_ok_and(|n| n >= min)
    };
    match size {
        "nano" | "micro" | "small" | "medium" | "large" | "xlarge" | "metal" => true,
        _ => {
            if let Some(n) = size
                .strip_prefix("metal-")
                .and_then(|s| s.strip_suffix("xl"))
            {
                number(n, 1)
            } else {
                size.strip_suffix("xlarge").is_some_and(|n| number(n, 2))
            }
        }
    }
}

impl fmt::Display for InstanceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests;
