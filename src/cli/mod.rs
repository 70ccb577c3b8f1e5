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
mod reload;
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

/// The exit statuses of `check` and `run`.
macro_rules! exit_status {
    () => {
        "Exit status:
  0  every file loaded (and, for run, every step passed)
  1  a step failed or a file did not load
  2  usage or I/O error: a PATH that does not exist or holds no scenario file
     (the other PATHs are still checked or run)"
    };
}

/// What `RUST_LOG` accepts, for every subcommand's help.
macro_rules! log_help {
    ($default:literal) => {
        concat!(
            "Logging: RUST_LOG sets what is logged to stderr (default: ",
            $default,
            "): a level (error, warn, info, debug, trace), optionally per module, \
             e.g. RUST_LOG=info,vpcesim::forwarder=debug."
        )
    };
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Load and validate scenario files (files, or directories of `*.toml`), reporting
    /// every problem of each file with its line and a caret.
    #[command(after_help = concat!(
        "Examples:\n",
        "  vpcesim check scenarios/\n",
        "  vpcesim check examples/quickstart.toml examples/topology.toml\n\n",
        log_help!("warn"),
        "\n\n",
        exit_status!(),
    ))]
    Check {
        /// Files or directories.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Output format: `json` is a list of `{file, line, column, message}`.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// List the built-in catalog of AWS services.
    #[command(after_help = concat!(
        "Examples:\n",
        "  vpcesim services\n",
        "  vpcesim services --region eu-west-1 --format json\n\n",
        log_help!("warn"),
    ))]
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
    #[command(after_help = concat!(
        "Examples:\n",
        "  vpcesim describe examples/topology.toml\n",
        "  vpcesim describe examples/topology.toml --format json\n\n",
        log_help!("warn"),
    ))]
    Describe {
        /// The scenario file.
        file: PathBuf,
        /// Output format: `json` is shaped like `aws ec2 describe-vpc-endpoints`.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Run scenario files: every step against the simulation, on simulated time.
    #[command(after_help = concat!(
        "Examples:\n",
        "  vpcesim run scenarios/\n",
        "  vpcesim run examples/quickstart.toml\n",
        "  vpcesim run scenarios/ --format junit --output report.xml\n\n",
        log_help!("warn"),
        "\n\n",
        exit_status!(),
    ))]
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
    /// Serve a scenario's topology live (steps are not run) until SIGINT or SIGTERM;
    /// SIGHUP reloads the file.
    #[command(after_help = concat!(
        "Examples:\n",
        "  vpcesim serve examples/topology.toml --dns main=127.0.0.1:5300 --dns 127.0.0.1:5301\n",
        "  vpcesim serve examples/topology.toml --api 127.0.0.1:8787\n",
        "  vpcesim serve examples/topology.toml \\\n",
        "    --forward 127.0.0.1:8443=web-1@kinesis.us-east-1.amazonaws.com:443 \\\n",
        "    --flow-log flows.log --flow-log-reasons\n\n",
        log_help!("info,hickory_server=warn"),
        " At the default level serve logs what it serves, each change made through \
         the API and each reload with what changed.",
    ))]
    Serve(Box<serve::ServeArgs>),
    /// Write one view's DNS answers as RFC 1035 zone files, one per served zone.
    #[command(after_help = concat!(
        "Examples:\n",
        "  vpcesim zone examples/topology.toml --out zones/\n",
        "  vpcesim zone examples/topology.toml --vpc main --out zones-main/\n\n",
        log_help!("warn"),
    ))]
    Zone(zone::ZoneArgs),
}

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
    init_logging(match cli.command {
        Command::Serve(_) => "info,hickory_server=warn",
        _ => "warn",
    });
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

/// Logs to stderr at `default` (hickory's per-response logging is off in `serve`'s);
/// `RUST_LOG` overrides.
fn init_logging(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .try_init();
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
