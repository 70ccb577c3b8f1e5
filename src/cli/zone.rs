//! `vpcesim zone FILE [--vpc NAME] --out DIR`: one view's answers as zone files.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::dns::{DnsSnapshot, ViewId, zonefile};
use crate::scenario::load_file;

/// The flags of `vpcesim zone`.
#[derive(Debug, Clone, Args)]
pub struct ZoneArgs {
    /// The scenario file (its topology; steps are not run).
    pub file: PathBuf,
    /// The VPC (name or ID) whose resolver's view to write; public DNS without it.
    #[arg(long)]
    pub vpc: Option<String>,
    /// The directory for `<zone>.zone` files (created if missing).
    #[arg(long)]
    pub out: PathBuf,
}

pub(super) fn run(args: &ZoneArgs) -> anyhow::Result<ExitCode> {
    let scenario = match load_file(&args.file) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let control = &scenario.control;
    let view = match &args.vpc {
        None => ViewId::Public,
        Some(given) => ViewId::Vpc(super::vpc_name(control, given)?),
    };
    let snapshot = DnsSnapshot::compile(control);
    let written = zonefile::write_dir(&snapshot, &view, &args.out)?;
    // The paths on stdout, for scripts; what they are on stderr, for people.
    for path in &written {
        outln!("{}", path.display());
    }
    let whose = match &view {
        ViewId::Public => "the public view".to_string(),
        ViewId::Vpc(vpc) => format!("VPC {vpc}'s view"),
    };
    eprintln!(
        "wrote {} zone files of {whose} to {}",
        written.len(),
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}
