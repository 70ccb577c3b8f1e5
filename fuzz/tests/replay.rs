//! Every committed seed (and every regression input kept in `fuzz/regressions/`) through
//! the same checks as the fuzz targets, without libFuzzer: a plain `cargo test` in
//! `fuzz/` shows whether the corpus still passes.

use std::path::{Path, PathBuf};

use vpcesim_fuzz::{api, dns, repo_root, repo_scenarios, scenario};

fn inputs(target: &str) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in ["fuzz/seeds", "fuzz/regressions"] {
        let dir = repo_root().join(dir).join(target);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        files.extend(entries.filter_map(|e| e.ok().map(|e| e.path())));
    }
    files.sort();
    files
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn dns_wire_seeds() {
    let world = dns::World::load();
    let files = inputs("dns_wire");
    assert!(files.len() > 100, "only {} DNS seeds", files.len());
    for file in files {
        eprintln!("{}", file.display());
        dns::check(&world, &read(&file));
    }
}

#[test]
fn api_request_seeds() {
    let world = api::World::load();
    let files = inputs("api_request");
    assert!(files.len() > 10, "only {} API seeds", files.len());
    for file in files {
        eprintln!("{}", file.display());
        api::check(&world, &read(&file));
    }
}

#[test]
fn scenario_load_seeds_and_the_repository_scenarios() {
    let files: Vec<PathBuf> = inputs("scenario_load")
        .into_iter()
        .chain(repo_scenarios())
        .collect();
    assert!(files.len() > 30, "only {} scenario inputs", files.len());
    for file in files {
        eprintln!("{}", file.display());
        scenario::check(&read(&file));
    }
}
