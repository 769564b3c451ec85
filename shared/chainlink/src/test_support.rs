//! Where tests find the reference files, and how they write parameters, in one place.

use std::path::PathBuf;

use super::secret::SecretValue;

/// The folder holding `testdata/` and `CODES.md`, relative to `CARGO_MANIFEST_DIR`.
const MODULE_ROOT: &str = "src";

pub(super) fn module_file(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(MODULE_ROOT)
        .join(name)
}

pub(super) fn testdata(name: &str) -> PathBuf {
    module_file("testdata").join(name)
}

pub(super) fn read_testdata(name: &str) -> String {
    let path = testdata(name);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("reading {}: {error}", path.display()))
}

/// Parameters as the validator receives them, from name and value pairs.
pub(super) fn entries(pairs: &[(&str, &str)]) -> Vec<(String, SecretValue)> {
    pairs
        .iter()
        .map(|(name, value)| (name.to_string(), SecretValue::new(*value)))
        .collect()
}
