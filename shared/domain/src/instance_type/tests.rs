use super::*;

fn parse(raw: &str) -> InstanceType {
    InstanceType::parse(raw).unwrap_or_else(|e| panic!("{e}"))
}

fn capacity(raw: &str) -> Capacity {
    parse(raw)
        .capacity()
        .unwrap_or_else(|| panic!("{raw} is in the catalog"))
}

const fn size(vcpus: u32, memory_mib: u32) -> Capacity {
    Capacity { vcpus, memory_mib }
}

#[test]
fn the_catalog_is_sorted_and_every_row_round_trips() {
    assert!(CATALOG.len() > 1000, "{}", CATALOG.len());
    for pair in CATALOG.windows(2) {
        assert!(
            pair[0].name < pair[1].name,
            "{} then {}",
            pair[0].name,
            pair[1].name
        );
    }
    for spec in CATALOG {
        let (family, size) = spec.name.split_once('.').unwrap_or_default();
        assert!(is_family(family) && is_size(size), "{}", spec.name);
        let parsed = parse(spec.name);
        assert_eq!(parsed.as_str(), spec.name);
        assert_eq!(parsed.spec(), Some(spec));
        assert_eq!(parsed.compare_size(&parsed), Some(Ordering::Equal));
        assert!(spec.vcpus > 0 && spec.memory_mib > 0 && !spec.architectures.is_empty());
    }
}

#[test]
fn sizes_are_the_data_not_estimates_from_the_name() {
    for (raw, expected) in [
        ("t2.nano", size(1, 512)),
        ("t2.micro", size(1, 1024)),
        ("t2.small", size(1, 2048)),
        ("t2.medium", size(2, 4096)),
        ("t3.medium", size(2, 4096)),
        ("t3a.medium", size(2, 4096)),
        ("m6i.32xlarge", size(128, 524_288)),
        ("m6i.metal", size(128, 524_288)),
        ("trn1.32xlarge", size(128, 524_288)),
        ("x2iedn.xlarge", size(4, 131_072)),
        ("g6e.xlarge", size(4, 32_768)),
        ("inf2.xlarge", size(4, 16_384)),
        ("p5.48xlarge", size(192, 2_097_152)),
        ("d3en.xlarge", size(4, 16_384)),
    ] {
        assert_eq!(capacity(raw), expected, "{raw}");
    }
}

#[test]
fn sizes_order_within_a_family_and_across_families() {
    let compare = |a: &str, b: &str| parse(a).compare_size(&parse(b));
    assert_eq!(compare("m6i.large", "m6i.xlarge"), Some(Ordering::Less));
    assert_eq!(
        compare("m6i.4xlarge", "m6i.2xlarge"),
        Some(Ordering::Greater)
    );
    // The burstable sizes: the step the old name-based table refused.
    assert_eq!(compare("t3.small", "t3.medium"), Some(Ordering::Less));
    assert_eq!(compare("t2.nano", "t2.micro"), Some(Ordering::Less));
    // A metal is its family's largest size on bare metal: no step up.
    assert_eq!(compare("m6i.32xlarge", "m6i.metal"), Some(Ordering::Equal));
    // Same vCPUs, more memory.
    assert_eq!(compare("m6i.large", "r6i.large"), Some(Ordering::Less));
    // More vCPUs but less memory: not comparable.
    assert_eq!(compare("r6i.large", "c6i.xlarge"), None);
    assert_eq!(compare("m6i.large", "m7i.large"), Some(Ordering::Equal));
}

#[test]
fn burstable_and_architectures_come_from_the_data() {
    for raw in ["t2.nano", "t3.large", "t3a.medium", "t4g.small"] {
        assert!(parse(raw).is_burstable(), "{raw}");
    }
    for raw in ["m6i.large", "m6g.large", "g5.xlarge", "c7i-flex.large"] {
        assert!(!parse(raw).is_burstable(), "{raw}");
    }
    let architectures = |raw: &str| parse(raw).spec().map(|spec| spec.architectures);
    assert_eq!(architectures("m6g.large"), Some(&[Architecture::Arm64][..]));
    assert_eq!(architectures("a1.large"), Some(&[Architecture::Arm64][..]));
    assert_eq!(
        architectures("g5g.xlarge"),
        Some(&[Architecture::Arm64][..])
    );
    assert_eq!(
        architectures("g5.xlarge"),
        Some(&[Architecture::X86_64][..])
    );
    assert_eq!(
        architectures("t2.micro"),
        Some(&[Architecture::I386, Architecture::X86_64][..])
    );
    assert_eq!(
        architectures("mac2-m2.metal"),
        Some(&[Architecture::Arm64Mac][..])
    );
    let shares = |a: &str, b: &str| parse(a).shares_architecture(&parse(b));
    assert_eq!(shares("t2.micro", "m6i.large"), Some(true));
    assert_eq!(shares("m6i.large", "m6g.xlarge"), Some(false));
    assert_eq!(shares("m6g.large", "mac2-m2.metal"), Some(false));
    assert_eq!(shares("m6i.large", "m9i.xlarge"), None);
}

#[test]
fn a_well_formed_type_of_a_family_newer_than_the_catalog_is_accepted_unsized() {
    for raw in [
        "m9i.xlarge",
        "c9gn.metal-48xl",
        "m9i-flex.large",
        "t9g.nano",
    ] {
        let instance_type = parse(raw);
        assert_eq!(instance_type.spec(), None, "{raw}");
        assert_eq!(instance_type.compare_size(&parse("m6i.large")), None);
    }
    // The name is all there is to go by for the burstable warning.
    assert!(parse("t9g.nano").is_burstable());
    assert!(!parse("m9i.xlarge").is_burstable());
}

#[test]
fn malformed_types_and_unknown_sizes_of_known_families_are_rejected_with_the_reason() {
    for (raw, reason) in [
        ("m6i", "not an instance type"),
        ("m6i.huge", "not an instance size"),
        ("m6i.1xlarge", "not an instance size"),
        ("m6i.metal-0xl", "not an instance size"),
        ("m.large", "not an instance family"),
        ("m6!.large", "not an instance family"),
        ("6m.large", "not an instance family"),
        ("c7i-fl-ex.large", "not an instance family"),
        ("M6i.large", "not an instance family"),
        ("mac.large", "not an instance family"),
        ("m6zzzzzzzzzzzzzzzzzzti.2xlarge", "not an instance family"),
        ("m6i-.large", "not an instance family"),
        (
            "m6i.small",
            "not an instance type in moto 5.2.1's DescribeInstanceTypes data: m6i comes in large, xlarge, 2xlarge,",
        ),
        ("t3.16xlarge", "t3 comes in nano, micro, small, medium, large, xlarge, 2xlarge"),
    ] {
        let error = InstanceType::parse(raw).unwrap_err();
        assert!(error.contains(reason), "{raw}: {error}");
    }
}

#[test]
fn sizes_read_as_people_write_them() {
    assert_eq!(capacity("t2.nano").to_string(), "1 vCPU, 512 MiB");
    assert_eq!(capacity("m6i.large").to_string(), "2 vCPUs, 8 GiB");
}
