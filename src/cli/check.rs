//! `vpcesim check`: load every scenario and report every problem of each file.

use std::path::PathBuf;
use std::process::ExitCode;

use super::Format;
use crate::scenario::{Diagnostic, collect_files, load_file};

/// Exit status when a PATH names no scenario file (missing, unreadable, or a directory
/// without `*.toml`): a usage or I/O error, told apart from a file that does not load.
pub(super) const USAGE_ERROR: u8 = 2;

pub(super) fn run(paths: &[PathBuf], format: Format) -> anyhow::Result<ExitCode> {
    let collected = collect_files(paths);
    let mut problems: Vec<Diagnostic> = collected.problems.clone();
    let mut failed = 0;
    for file in &collected.files {
        match load_file(file) {
            Ok(scenario) => {
                if format == Format::Text {
                    outln!(
                        "ok    {} ({}, {} steps)",
                        file.display(),
                        scenario.name,
                        scenario.steps.len()
                    );
                }
            }
            Err(error) => {
                failed += 1;
                if format == Format::Text {
                    outln!("{}", error.render().trim_end());
                }
                problems.extend(error.diagnostics);
            }
        }
    }
    match format {
        Format::Text => {
            for problem in &collected.problems {
                eprintln!("vpcesim: {problem}");
            }
            if collected.files.is_empty() {
                eprintln!("vpcesim: no scenario files (*.toml) to check");
            } else {
                outln!(
                    "{} files: {} ok, {failed} with errors",
                    collected.files.len(),
                    collected.files.len() - failed
                );
            }
        }
        Format::Json => outln!("{}", serde_json::to_string_pretty(&problems)?),
    }
    Ok(
        if !collected.problems.is_empty() || collected.files.is_empty() {
            ExitCode::from(USAGE_ERROR)
        } else if failed > 0 {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        },
    )
}
