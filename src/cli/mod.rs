//! The `vpcesim` command line: thin adapters from arguments to the library.

/// `println!` that ends the process quietly when stdout is closed (`vpcesim ... | head`).
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout().lock(), $($arg)*) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
        }
    }};
}

mod check;
mod describe;
mod run;
pub mod serve;
mod services;
pub mod zone;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// Simulate AWS PrivateLink interface endpoints: private DNS, security groups, network
/// ACLs and a TCP-only forwarder.
#[derive(Debug, Parser)]
#[command(name = "vpcesim", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Load and validate scenario files (files, or directories of `*.toml`), reporting
    /// every problem of each file with its line and a caret.
    #[command(after_help = EXIT_STATUS)]
    Check {
        /// Files or directories.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Output format: `json` is a list of `{file, line, column, message}`.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// List the built-in catalog of AWS services.
    Services {
        /// The Region.
        #[arg(long, default_value = "us-east-1")]
        region: String,
        /// Only the services whose service name or private DNS names contain TEXT
        /// (case-insensitive), e.g. `--search lambda` or `--search firehose.`.
        #[arg(long, value_name = "TEXT")]
        search: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Show a scenario's endpoints after loading its topology (steps are not run).
    Describe {
        /// The scenario file.
        file: PathBuf,
        /// Output format: `json` is shaped like `aws ec2 describe-vpc-endpoints`.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Run scenario files: every step against the simulation, on simulated time.
    #[command(after_help = EXIT_STATUS)]
    Run {
        /// Files or directories (every `*.toml` below, in path order).
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Report format.
        #[arg(long, value_enum, default_value_t = run::RunFormat::Text)]
        format: run::RunFormat,
        /// Write the report to this file instead of standard output.
        #[arg(long)]
        output: Option<PathBuf>,
        /// Show what every step observed (answers, outcome and blocking rule, Gbit/s),
        /// not only on failure.
        #[arg(short, long)]
        verbose: bool,
    },
    /// Serve a scenario's topology live (steps are not run) until SIGINT or SIGTERM.
    Serve(Box<serve::ServeArgs>),
    /// Write one view's DNS answers as RFC 1035 zone files, one per served zone.
    Zone(zone::ZoneArgs),
}

/// The exit statuses of `check` and `run`.
const EXIT_STATUS: &str = "Exit status:
  0  every file loaded (and, for run, every step passed)
  1  a step failed or a file did not load
  2  usage or I/O error: a PATH that does not exist or holds no scenario file
     (the other PATHs are still checked or run)";

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// For people.
    Text,
    /// For programs.
    Json,
}

/// Runs the command line and returns the process's exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check { paths, format } => check::run(&paths, format),
        Command::Services {
            region,
            search,
            format,
        } => services::run(&region, search.as_deref(), format),
        Command::Describe { file, format } => describe::run(&file, format),
        Command::Run {
            paths,
            format,
            output,
            verbose,
        } => run::run(&paths, format, output, verbose),
        Command::Serve(args) => serve::run(&args),
        Command::Zone(args) => zone::run(&args),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// The VPC's scenario name, given its name or its ID.
fn vpc_name(control: &crate::control::ControlPlane, given: &str) -> anyhow::Result<String> {
    let vpcs = &control.topology().vpcs;
    if vpcs.contains_key(given) {
        return Ok(given.to_string());
    }
    match vpcs.values().find(|v| v.id == given) {
        Some(vpc) => Ok(vpc.name.clone()),
        None => anyhow::bail!(
            "no VPC named `{given}` in the scenario (it has: {})",
            vpcs.keys().cloned().collect::<Vec<_>>().join(", ")
        ),
    }
}
