//! EC2 instance type names, understood offline: enough to validate a stack file's resize
//! ladder when it loads (the type is well formed, each step is bigger than the last, burstable
//! types are flagged), without an AWS call. Whether a type is really offered, and its exact
//! architecture, is checked against AWS before acting (`instances::observe`).

use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::fmt;

/// `m6i.large`: a family (`m6i`) and a size (`large`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct InstanceType(String);

/// The families whose memory per vCPU is known, by class letters. Sizes within a family
/// scale vCPUs and memory together, so `(vcpus, memory)` orders the steps of a ladder.
const CLASSES: &[(&str, f64)] = &[
    ("a", 2.0),
    ("c", 2.0),
    ("d", 8.0),
    ("g", 4.0),
    ("h", 4.0),
    ("hpc", 4.0),
    ("i", 8.0),
    ("im", 4.0),
    ("inf", 2.0),
    ("is", 6.0),
    ("m", 4.0),
    ("p", 8.0),
    ("r", 8.0),
    ("t", 4.0),
    ("trn", 16.0),
    ("u", 28.0),
    ("x", 16.0),
    ("z", 8.0),
];

/// Attribute letters after the generation: a (AMD), b (block storage), d (local NVMe),
/// e (extra memory or storage), g (Graviton), i (Intel), n (network), q, z (high frequency),
/// x (extra memory), and the `-flex` variants.
const ATTRIBUTE_LETTERS: &str = "abdegimnqtxz";

/// Sizes below `large`, with their vCPUs; burstable families start at `nano`.
const SMALL_SIZES: &[(&str, u32)] = &[("nano", 2), ("micro", 2), ("small", 2), ("medium", 1)];

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Capacity {
    pub vcpus: u32,
    pub memory_gib: f64,
}

impl InstanceType {
    /// Accepts names of the shape EC2 uses, for the known instance classes.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let instance_type = Self(raw.to_string());
        instance_type.capacity().map(|_| instance_type)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn family(&self) -> &str {
        self.0.split_once('.').map_or(&self.0, |(family, _)| family)
    }

    /// T-family types run on CPU credits: fine for a test node, not for a production one.
    pub fn is_burstable(&self) -> bool {
        self.class() == Some("t")
    }

    /// Graviton (`g` after the generation, and the first-generation `a1`) is arm64.
    pub fn is_arm64(&self) -> bool {
        let family = self.family();
        let attributes = family.trim_start_matches(|c: char| c.is_ascii_lowercase());
        let attributes = attributes.trim_start_matches(|c: char| c.is_ascii_digit());
        family == "a1" || attributes.contains('g')
    }

    fn class(&self) -> Option<&str> {
        let family = self.family();
        let end = family.find(|c: char| c.is_ascii_digit())?;
        Some(&family[..end])
    }

    /// vCPUs and memory, estimated from the name: exact for the common families' ratios, and
    /// always monotonic in the size, which is what ordering a ladder needs.
    pub fn capacity(&self) -> Result<Capacity, String> {
        let (family, size) = self
            .0
            .split_once('.')
            .ok_or_else(|| format!("{:?} is not an instance type such as \"m6i.large\"", self.0))?;
        let class = self
            .class()
            .ok_or_else(|| format!("{:?}: the family has no generation number", self.0))?;
        let memory_per_vcpu = CLASSES
            .iter()
            .find(|(known, _)| *known == class)
            .map(|(_, ratio)| *ratio)
            .ok_or_else(|| format!("{:?}: {class:?} is not a known instance class", self.0))?;
        let rest = &family[class.len()..];
        let generation_end = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let attributes = rest[generation_end..]
            .strip_suffix("-flex")
            .unwrap_or(&rest[generation_end..]);
        if generation_end == 0 || generation_end > 1 || rest.starts_with('0') {
            return Err(format!("{:?}: the generation must be one digit", self.0));
        }
        if !attributes.chars().all(|c| ATTRIBUTE_LETTERS.contains(c)) {
            return Err(format!("{:?}: unknown family {family:?}", self.0));
        }
        let vcpus = size_vcpus(size, class == "t")
            .ok_or_else(|| format!("{:?}: {size:?} is not an instance size", self.0))?;
        // Burstable sizes below large share 2 vCPUs and differ by memory.
        let memory_gib = match (class, size) {
            ("t", "nano") => 0.5,
            ("t", "micro") => 1.0,
            ("t", "small") => 2.0,
            ("t", "medium") => 4.0,
            _ => f64::from(vcpus) * memory_per_vcpu,
        };
        Ok(Capacity { vcpus, memory_gib })
    }

    /// Bigger in one dimension and no smaller in the other; `None` when neither is bigger.
    pub fn compare_size(&self, other: &Self) -> Option<Ordering> {
        let (a, b) = (self.capacity().ok()?, other.capacity().ok()?);
        match (
            a.vcpus.cmp(&b.vcpus),
            a.memory_gib.partial_cmp(&b.memory_gib)?,
        ) {
            (Ordering::Equal, memory) => Some(memory),
            (vcpus, Ordering::Equal) => Some(vcpus),
            (vcpus, memory) if vcpus == memory => Some(vcpus),
            _ => None,
        }
    }
}

/// `large` = 2 vCPUs, `xlarge` = 4, `Nxlarge` = 4N; `metal` counts as the biggest.
fn size_vcpus(size: &str, burstable: bool) -> Option<u32> {
    if let Some((_, vcpus)) = SMALL_SIZES.iter().find(|(name, _)| *name == size) {
        return (burstable || size == "medium").then_some(*vcpus);
    }
    match size {
        "large" => Some(2),
        "xlarge" => Some(4),
        "metal" => Some(4 * 224),
        _ if size.starts_with("metal-") => {
            let n: u32 = size
                .strip_prefix("metal-")?
                .strip_suffix("xl")?
                .parse()
                .ok()?;
            (1..=224).contains(&n).then_some(4 * n)
        }
        _ => {
            let n: u32 = size.strip_suffix("xlarge")?.parse().ok()?;
            (2..=224).contains(&n).then_some(4 * n)
        }
    }
}

impl fmt::Display for InstanceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &str) -> InstanceType {
        InstanceType::parse(raw).unwrap()
    }

    #[test]
    fn common_types_parse() {
        for raw in [
            "m6i.large",
            "m6i.4xlarge",
            "m7i-flex.xlarge",
            "c7gn.2xlarge",
            "r6idn.metal",
            "t3a.nano",
            "m6g.medium",
            "x2iedn.32xlarge",
            "m7i.metal-24xl",
            "a1.large",
        ] {
            assert!(InstanceType::parse(raw).is_ok(), "{raw}");
        }
    }

    #[test]
    fn malformed_or_unknown_types_are_rejected_with_the_reason() {
        for (raw, reason) in [
            ("m6i", "not an instance type"),
            ("m6i.huge", "not an instance size"),
            ("q6i.large", "not a known instance class"),
            ("m.large", "no generation number"),
            ("m6i.1xlarge", "not an instance size"),
            ("m6i.small", "not an instance size"),
            ("m66i.large", "one digit"),
            ("m6!.large", "unknown family"),
        ] {
            let error = InstanceType::parse(raw).unwrap_err();
            assert!(error.contains(reason), "{raw}: {error}");
        }
    }

    #[test]
    fn sizes_order_within_a_family_and_across_families() {
        assert_eq!(
            parse("m6i.large").compare_size(&parse("m6i.xlarge")),
            Some(Ordering::Less)
        );
        assert_eq!(
            parse("m6i.4xlarge").compare_size(&parse("m6i.2xlarge")),
            Some(Ordering::Greater)
        );
        // Same vCPUs, more memory.
        assert_eq!(
            parse("m6i.large").compare_size(&parse("r6i.large")),
            Some(Ordering::Less)
        );
        // More vCPUs but less memory: not comparable.
        assert_eq!(parse("r6i.large").compare_size(&parse("c6i.xlarge")), None);
        assert_eq!(
            parse("m6i.large").compare_size(&parse("m7i.large")),
            Some(Ordering::Equal)
        );
    }

    #[test]
    fn burstable_and_arm64_are_recognised() {
        assert!(parse("t3.large").is_burstable());
        assert!(!parse("m6i.large").is_burstable());
        assert!(parse("m6g.large").is_arm64());
        assert!(parse("t4g.small").is_arm64());
        assert!(parse("a1.large").is_arm64());
        assert!(!parse("m6i.large").is_arm64());
        assert!(!parse("g5.xlarge").is_arm64());
        assert!(parse("g5g.xlarge").is_arm64());
    }
}
