//! Runs every public scenario under `scenarios/` as a test: a file passes when it loads
//! and every step's expectations hold.

use std::path::Path;

use vpcesim::scenario::report::FileReport;
use vpcesim::scenario::{load_file, runner};

fn run_scenario(path: &Path) -> datatest_stable::Result<()> {
    let scenario = load_file(path).map_err(|e| e.render())?;
    let name = scenario.name.clone();
    let outcomes = runner::run(scenario, |_| {});
    let report = FileReport::ran(path.to_path_buf(), name, outcomes);
    if report.failed() == 0 {
        return Ok(());
    }
    let failures: Vec<String> = report
        .steps
        .iter()
        .filter(|s| !s.passed)
        .map(|s| {
            format!(
                "step {} ({}, line {}): {}",
                s.index, s.action, s.line, s.message
            )
        })
        .collect();
    Err(failures.join("\n").into())
}

datatest_stable::harness! {
    { test = run_scenario, root = "scenarios", pattern = r"\.toml$" },
}
