//! `vpcesim check`: load every scenario and report what does not load.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::scenario::{collect_files, load_file};

pub(super) fn run(paths: &[PathBuf]) -> anyhow::Result<ExitCode> {
    let files = match collect_files(paths) {
        Ok(files) => files,
        Err(e) => {
            eprintln!("{e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    if files.is_empty() {
        eprintln!("no scenario files (*.toml) found");
        return Ok(ExitCode::FAILURE);
    }
    let mut failed = 0;
    for file in &files {
        match load_file(file) {
            Ok(scenario) => outln!(
                "ok    {} ({}, {} steps)",
                file.display(),
                scenario.name,
                scenario.steps.len()
            ),
            Err(e) => {
                failed += 1;
                outln!("error {e}");
            }
        }
    }
    outln!(
        "{} files: {} ok, {failed} with errors",
        files.len(),
        files.len() - failed
    );
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
