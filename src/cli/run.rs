//! `vpcesim run`: run scenario files and report.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::ValueEnum;

use crate::scenario::report::{FileReport, RunReport};
use crate::scenario::{collect_files, load_file, runner};

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

pub(super) fn run(
    paths: &[PathBuf],
    format: RunFormat,
    output: Option<PathBuf>,
) -> anyhow::Result<ExitCode> {
    let files = match collect_files(paths) {
        Ok(files) => files,
        Err(e) => {
            eprintln!("{e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let show_progress = std::io::stderr().is_terminal();
    let mut reports = Vec::new();
    for (n, file) in files.iter().enumerate() {
        let report = match load_file(file) {
            Err(e) => FileReport {
                file: file.clone(),
                name: String::new(),
                loaded: false,
                error: Some(e.to_string()),
                steps: Vec::new(),
            },
            Ok(scenario) => {
                let name = scenario.name.clone();
                let total = scenario.steps.len();
                let outcomes = runner::run(scenario, |o| {
                    if show_progress {
                        eprint!(
                            "\r\x1b[K[{}/{}] {} step {}/{total}",
                            n + 1,
                            files.len(),
                            file.display(),
                            o.index
                        );
                    }
                });
                FileReport {
                    file: file.clone(),
                    name,
                    loaded: true,
                    error: None,
                    steps: outcomes.into_iter().map(Into::into).collect(),
                }
            }
        };
        reports.push(report);
    }
    if show_progress {
        eprint!("\r\x1b[K");
    }
    let report = RunReport::new(reports);
    let rendered = match format {
        RunFormat::Text => report.text(),
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
    Ok(if report.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
