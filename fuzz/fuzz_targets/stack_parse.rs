//! Any text as a stack file: `StackFile::parse` must answer with a file or a list of problems,
//! never panic; a file it accepts must keep the promises the planner relies on, and planning
//! the worst drift that file can describe must converge.

#![no_main]

use libfuzzer_sys::fuzz_target;
use domain::stack::{StackFile, StackFileError};
use shared_fuzz::{check_planner_converges, check_stack_file};

fuzz_target!(|text: &str| {
    match StackFile::parse(text, "fuzz.toml") {
        Ok(file) => {
            check_stack_file(&file);
            check_planner_converges(&file);
        }
        Err(error) => {
            if let StackFileError::Invalid { problems, .. } = &error {
                assert!(!problems.is_empty(), "an invalid file names its problems");
            }
            let _ = error.to_string();
        }
    }
});
