//! `vpcesim run`: run scenario files and report.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::ValueEnum;

use super::check::USAGE_ERROR;
use crate::scenario::report::{FileReport, RunReport};
use crate::scenario::runner::{self, Progress};
use crate::scenario::{Action, collect_files, load_file};

/// Report formats of `vpcesim run`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RunFormat {
    /// One line per step, then `N passed, N failed`.
    Text,
    /// `{"files": [...], "passed", "failed"}`.
    Json,
    /// JUnit XML.
    Junit,
}

/// A transfer of at least this many bytes gets its own progress line on a terminal:
/// every packet is simulated, so it takes noticeable wall time.
const LONG_TRANSFER_BYTES: u64 = 1_000_000_000;

pub(super) fn run(
    paths: &[PathBuf],
    format: RunFormat,
    output: Option<PathBuf>,
    verbose: bool,
) -> anyhow::Result<ExitCode> {
    let collected = collect_files(paths);
    for problem in &collected.problems {
        eprintln!("vpcesim: {problem}");
    }
    if collected.files.is_empty() {
        eprintln!("vpcesim: no scenario files (*.toml) to run");
        return Ok(ExitCode::from(USAGE_ERROR));
    }
    let files = &collected.files;
    let show_progress = std::io::stderr().is_terminal();
    let mut reports = Vec::new();
    for (n, file) in files.iter().enumerate() {
        let report = match load_file(file) {
            Err(e) => FileReport::not_loaded(file.clone(), e),
            Ok(scenario) => {
                let name = scenario.name.clone();
                let total = scenario.steps.len();
                let at = |index: usize| {
                    format!(
                        "[{}/{}] {} step {index}/{total}",
                        n + 1,
                        files.len(),
                        file.display()
                    )
                };
                let outcomes = runner::run(scenario, |event| {
                    if !show_progress {
                        return;
                    }
                    match event {
                        Progress::Starting(step) => {
                            if let Action::Transfer { bytes, streams, .. } = &step.action
                                && *bytes >= LONG_TRANSFER_BYTES
                            {
                                eprint!(
                                    "\r\x1b[K{}: transferring {bytes} bytes over {streams} stream(s), every packet simulated...",
                                    at(step.index)
                                );
                            }
                        }
                        Progress::Finished(outcome) => eprint!("\r\x1b[K{}", at(outcome.index)),
                    }
                });
                FileReport::ran(file.clone(), name, outcomes)
            }
        };
        reports.push(report);
    }
    if show_progress {
        eprint!("\r\x1b[K");
    }
    let report = RunReport::new(reports);
    let rendered = match format {
        RunFormat::Text => report.text(verbose),
        RunFormat::Json => report.json(),
        RunFormat::Junit => report.junit(),
    };
    match output {
        Some(path) => {
            std::fs::write(&path, &rendered)
                .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
            if format != RunFormat::Text {
                outln!("{} passed, {} failed", report.passed, report.failed);
            }
        }
        None => outln!("{}", rendered.trim_end()),
    }
    Ok(if !collected.problems.is_empty() {
        ExitCode::from(USAGE_ERROR)
    } else if report.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
