//! Every integration test, in one binary: one link and one copy of the
//! shared helpers instead of one per file, and the slow tests of one file
//! run beside the quick ones of the others. Each file is a module.

mod common;

mod adversary;
mod after_failure;
mod aio;
mod answered;
mod check;
mod checks;
mod cli;
mod corpus;
mod disk;
mod early_timers;
mod explore;
mod hostile;
mod kernel;
mod linearizable;
mod mid_handler;
mod pause;
mod pause_mid;
mod progress;
mod property;
mod protocols;
mod reduction;
mod replay;
mod roles;
mod settle;
mod show;
mod shrink;
mod trace_integrity;
mod viewer;

/// A test file that is not a module above would never run, in silence
/// (`autotests = false`): every `tests/*.rs` must be one.
#[test]
fn every_test_file_is_a_module_of_this_binary() {
    let main = std::fs::read_to_string("tests/main.rs").unwrap();
    let files = common::files("tests", "rs");
    assert!(files.len() > 10, "{files:?}");
    for file in files {
        let stem = file.file_stem().unwrap().to_string_lossy().into_owned();
        if stem != "main" {
            assert!(
                main.lines().any(|l| l == format!("mod {stem};")),
                "tests/{stem}.rs is not a module of tests/main.rs, so its tests never run"
            );
        }
    }
}
