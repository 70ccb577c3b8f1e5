//! Scenario files (SCENARIO-FORMAT.md): loading, validation and the typed steps.
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

pub use error::LoadError;
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

/// The scenario files a list of paths names: each file as given, and every `*.toml`
/// below each directory, recursively, in path order.
pub fn collect_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, LoadError> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut found = Vec::new();
            walk(path, &mut found)?;
            found.sort();
            files.extend(found);
        } else if path.exists() {
            files.push(path.clone());
        } else {
            return Err(LoadError::whole_file(path, "no such file or directory"));
        }
    }
    Ok(files)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), LoadError> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| LoadError::whole_file(dir, format!("cannot read the directory: {e}")))?;
    for entry in entries {
        let path = entry
            .map_err(|e| LoadError::whole_file(dir, e.to_string()))?
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
