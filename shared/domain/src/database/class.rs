//! RDS DB instance classes: which names exist for the stack's Postgres, and how big each is.
//!
//! Two things need a class's size offline: a class ladder is checked step by step when the
//! stack file loads, and `max_connections` formulas read `DBInstanceClassMemory` and
//! `DBInstanceVCPU`. The table covers the common RDS for PostgreSQL classes (burstable T3 and
//! T4g, general-purpose M5/M6g/M6i/M7g, memory-optimized R5/R6g/R6i/R7g) with the vCPUs and
//! memory of AWS's "Hardware specifications for DB instance classes", which are those of the EC2
//! instance type of the same name (a test checks them against the EC2 catalog). A class outside
//! the table is an error, never a guess.

use crate::instance_type::Capacity;
use serde::Serialize;
use std::fmt;

/// `db.m6i.large`: an RDS DB instance class the table knows.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(into = "String")]
pub struct DbInstanceClass {
    name: String,
    spec: ClassSpec,
}

/// What the table says about a class.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct ClassSpec {
    pub vcpus: u32,
    pub memory_mib: u32,
}

impl ClassSpec {
    /// `DBInstanceClassMemory` as far as AWS documents it: the class's memory in bytes. RDS
    /// subtracts what the operating system and its own processes reserve, and does not say how
    /// much ("always somewhat lower than the memory figures shown in the instance class
    /// tables", "Specifying DB parameters"), so a value computed from this is an upper bound.
    pub fn memory_bytes(&self) -> u64 {
        u64::from(self.memory_mib) * 1024 * 1024
    }

    pub fn capacity(&self) -> Capacity {
        Capacity {
            vcpus: self.vcpus,
            memory_mib: self.memory_mib,
        }
    }
}

/// A class name outside the table.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{class:?} is not an RDS DB instance class this engine knows (families: {known})")]
pub struct UnknownClass {
    pub class: String,
    pub known: String,
}

/// Burstable classes: (size, vCPUs, GiB).
const T_SIZES: &[(&str, u32, u32)] = &[
    ("micro", 2, 1),
    ("small", 2, 2),
    ("medium", 2, 4),
    ("large", 2, 8),
    ("xlarge", 4, 16),
    ("2xlarge", 8, 32),
];

/// The fixed-ratio sizes: `large` has 2 vCPUs, `xlarge` 4, `Nxlarge` 4 × N.
const UP_TO_16: &[&str] = &[
    "large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge",
];
const UP_TO_24: &[&str] = &[
    "large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge",
];
const UP_TO_32: &[&str] = &[
    "large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge",
    "32xlarge",
];

/// How a family's sizes are built.
enum Sizes {
    Burstable,
    /// GiB of memory per vCPU, and the sizes RDS offers.
    Ratio(u32, &'static [&'static str]),
}

const FAMILIES: &[(&str, Sizes)] = &[
    ("t3", Sizes::Burstable),
    ("t4g", Sizes::Burstable),
    ("m5", Sizes::Ratio(4, UP_TO_24)),
    ("m6g", Sizes::Ratio(4, UP_TO_16)),
    ("m6i", Sizes::Ratio(4, UP_TO_32)),
    ("m7g", Sizes::Ratio(4, UP_TO_16)),
    ("r5", Sizes::Ratio(8, UP_TO_24)),
    ("r6g", Sizes::Ratio(8, UP_TO_16)),
    ("r6i", Sizes::Ratio(8, UP_TO_32)),
    ("r7g", Sizes::Ratio(8, UP_TO_16)),
];

fn vcpus_of(size: &str) -> Option<u32> {
    match size {
        "large" => Some(2),
        "xlarge" => Some(4),
        _ => size
            .strip_suffix("xlarge")?
            .parse::<u32>()
            .ok()
            .map(|n| n * 4),
    }
}

/// The table's row for a class name (`db.r6g.xlarge`).
pub fn class_spec(name: &str) -> Option<ClassSpec> {
    let (family, size) = name.strip_prefix("db.")?.split_once('.')?;
    let (_, sizes) = FAMILIES.iter().find(|(f, _)| *f == family)?;
    let (vcpus, memory_gib) = match sizes {
        Sizes::Burstable => T_SIZES
            .iter()
            .find(|(s, _, _)| *s == size)
            .map(|&(_, vcpus, gib)| (vcpus, gib))?,
        Sizes::Ratio(ratio, offered) => {
            let vcpus = offered.contains(&size).then(|| vcpus_of(size)).flatten()?;
            (vcpus, vcpus * ratio)
        }
    };
    Some(ClassSpec {
        vcpus,
        memory_mib: memory_gib * 1024,
    })
}

/// Every class the table knows, for tests and messages.
pub fn known_classes() -> Vec<String> {
    FAMILIES
        .iter()
        .flat_map(|(family, sizes)| {
            let names: Vec<&str> = match sizes {
                Sizes::Burstable => T_SIZES.iter().map(|(s, _, _)| *s).collect(),
                Sizes::Ratio(_, offered) => offered.to_vec(),
            };
            names
                .into_iter()
                .map(move |size| format!("db.{family}.{size}"))
        })
        .collect()
}

fn known_families() -> String {
    FAMILIES
        .iter()
        .map(|(family, _)| format!("db.{family}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl DbInstanceClass {
    /// A class of the table.
    pub fn parse(raw: &str) -> Result<Self, UnknownClass> {
        match class_spec(raw) {
            Some(spec) => Ok(Self {
                name: raw.to_string(),
                spec,
            }),
            None => Err(UnknownClass {
                class: raw.to_string(),
                known: known_families(),
            }),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.name
    }

    pub fn spec(&self) -> ClassSpec {
        self.spec
    }

    /// Burstable (T family): runs on CPU credits.
    pub fn is_burstable(&self) -> bool {
        self.name.starts_with("db.t")
    }
}

impl From<DbInstanceClass> for String {
    fn from(class: DbInstanceClass) -> String {
        class.name
    }
}

impl fmt::Display for DbInstanceClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

impl PartialEq<str> for DbInstanceClass {
    fn eq(&self, other: &str) -> bool {
        self.name == other
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instance_type::InstanceType;

    #[test]
    fn every_class_has_the_size_of_its_ec2_type() {
        let classes = known_classes();
        assert!(classes.len() > 70, "{}", classes.len());
        for class in classes {
            let spec = class_spec(&class).unwrap_or_else(|| panic!("{class} not in the table"));
            let ec2 = InstanceType::parse(&class["db.".len()..])
                .ok()
                .and_then(|t| t.spec())
                .unwrap_or_else(|| panic!("{class}: no EC2 type of that name"));
            assert_eq!(
                (spec.vcpus, spec.memory_mib),
                (ec2.vcpus, ec2.memory_mib),
                "{class}"
            );
        }
    }

    #[test]
    fn documented_sizes() {
        let gib = |name: &str| class_spec(name).map(|s| (s.vcpus, s.memory_mib / 1024));
        assert_eq!(gib("db.t3.micro"), Some((2, 1)));
        assert_eq!(gib("db.m5.large"), Some((2, 8)));
        assert_eq!(gib("db.r6g.16xlarge"), Some((64, 512)));
        assert_eq!(gib("db.m6i.32xlarge"), Some((128, 512)));
    }

    #[test]
    fn unknown_classes_are_errors_naming_the_families() {
        for bad in [
            "m5.large",
            "db.m5.32xlarge",
            "db.t3.nano",
            "db.x9.large",
            "db.m5",
            "",
        ] {
            let error = DbInstanceClass::parse(bad).expect_err(bad);
            assert!(error.to_string().contains("db.t3, db.t4g"), "{error}");
        }
        assert!(DbInstanceClass::parse("db.t4g.medium").is_ok_and(|c| c.is_burstable()));
        assert!(DbInstanceClass::parse("db.r7g.large").is_ok_and(|c| !c.is_burstable()));
    }
}
