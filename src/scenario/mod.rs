//! Scenario files (docs/scenario-format.md): loading, validation and the typed steps.
//!
//! Loading builds the topology and runs the file's `[endpoints]` through the control
//! plane, exactly as `create_endpoint` steps would; it touches no socket.

mod bindings;
mod error;
mod expand;
mod load;
mod raw;
pub mod report;
pub mod runner;
pub mod step;
mod steps;
pub mod units;

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use error::{Diagnostic, LoadError};
pub use load::{DEFAULT_ACCOUNT_ID, parse};
pub use step::*;

use crate::control::ControlPlane;

/// A loaded, validated scenario.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Its `name`.
    pub name: String,
    /// Its `description`.
    pub description: Option<String>,
    /// The file it came from.
    pub file: PathBuf,
    /// The seed of its generated IDs.
    pub seed: u64,
    /// The delay from `pending` to `available`.
    pub provisioning: Duration,
    /// The world after the file's endpoints were created, at time 0.
    pub control: ControlPlane,
    /// The steps, in order.
    pub steps: Vec<Step>,
}

/// Reads and loads one scenario file.
pub fn load_file(path: &Path) -> Result<Scenario, LoadError> {
    let source = std::fs::read_to_string(path)
        .map_err(|e| LoadError::whole_file(path, format!("cannot read the file: {e}")))?;
    parse(path, &source)
}

/// What a list of paths names: the scenario files, and the paths that name none.
#[derive(Debug, Default)]
pub struct Collected {
    /// Each file as given, and every `*.toml` below each directory, in path order.
    pub files: Vec<PathBuf>,
    /// Paths that do not exist, cannot be read, or are directories without a
    /// scenario file: usage errors, reported while the other paths are still used.
    pub problems: Vec<Diagnostic>,
}

/// The scenario files a list of paths names: each file as given, and every `*.toml`
/// below each directory, recursively, in path order.
pub fn collect_files(paths: &[PathBuf]) -> Collected {
    let mut collected = Collected::default();
    for path in paths {
        if path.is_dir() {
            let mut found = Vec::new();
            if let Err(problem) = walk(path, &mut found) {
                collected.problems.push(problem);
            } else if found.is_empty() {
                collected.problems.push(Diagnostic::whole_file(
                    path,
                    "no scenario files (*.toml) in this directory",
                ));
            }
            found.sort();
            collected.files.extend(found);
        } else if path.exists() {
            collected.files.push(path.clone());
        } else {
            collected
                .problems
                .push(Diagnostic::whole_file(path, "no such file or directory"));
        }
    }
    collected
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), Diagnostic> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| Diagnostic::whole_file(dir, format!("cannot read the directory: {e}")))?;
    for entry in entries {
        let path = entry
            .map_err(|e| Diagnostic::whole_file(dir, e.to_string()))?
            .path();
        if path.is_dir() {
            walk(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "toml") {
            out.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
