//! What the fuzz targets check, shared by the targets (`fuzz_targets/`), the seed
//! generator (`examples/seeds.rs`) and the replay test that runs every committed seed
//! through the same checks without libFuzzer (`cargo test` in this directory).
//!
//! - [`dns`]: raw DNS queries in, answers out, as the UDP and TCP servers produce them;
//! - [`api`]: EC2 Query requests through the API's router, every answer checked as XML;
//! - [`scenario`]: TOML text through the loader that `vpcesim check` uses.
//!
//! Each check panics (which libFuzzer reports as a crash, with the input saved) when a
//! property does not hold; on inputs that are fine it returns quietly.

pub mod api;
pub mod dns;
pub mod scenario;
pub mod xml;

use std::path::{Path, PathBuf};

/// The repository the fuzz crate sits in.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("fuzz/ sits inside the repository")
        .to_path_buf()
}

/// The public scenarios (`scenarios/*.toml`), sorted by path.
pub fn repo_scenarios() -> Vec<PathBuf> {
    let dir = repo_root().join("scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}
