//! `vpcesim serve FILE`: serve a scenario's topology live (its steps are not run) until
//! SIGINT or SIGTERM.
//!
//! Shape, for the parts that come later (forwarders, flow logs, SIGHUP reload, the API):
//! [`ServeArgs`] holds every flag; [`run`] loads the world into [`Serving`], whose
//! `start_*` methods each bring up one kind of listener, then waits for a signal and
//! calls [`Serving::shutdown`], which stops them in reverse order.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::Args;
use tracing::info;

use crate::control::ControlPlane;
use crate::dns::server::{Config, DnsServer, Listener};
use crate::dns::{DnsHandle, DnsSnapshot, ViewId};
use crate::scenario::load_file;

/// The flags of `vpcesim serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// The scenario file (its topology; steps are not run).
    pub file: PathBuf,
    /// A DNS listener: `ADDR` answers as the resolver of `--vpc` (or as public DNS
    /// without it); `VPC=ADDR` as that VPC's resolver. Repeatable.
    #[arg(long = "dns", value_name = "[VPC=]ADDR")]
    pub dns: Vec<String>,
    /// The VPC (name or ID) whose resolver a bare `--dns ADDR` is.
    #[arg(long)]
    pub vpc: Option<String>,
    /// A resolver for names outside the served zones (else they get REFUSED).
    #[arg(long, value_name = "ADDR")]
    pub upstream: Option<SocketAddr>,
}

/// Everything `serve` runs.
#[derive(Debug)]
pub struct Serving {
    /// The world.
    pub control: ControlPlane,
    /// The DNS answers readers load.
    pub dns: Arc<DnsHandle>,
    dns_server: Option<DnsServer>,
}

impl Serving {
    /// The world of `control`, with nothing listening yet.
    pub fn new(control: ControlPlane) -> Self {
        let dns = Arc::new(DnsHandle::new(DnsSnapshot::compile(&control)));
        Self {
            control,
            dns,
            dns_server: None,
        }
    }

    /// Starts the DNS listeners.
    pub async fn start_dns(
        &mut self,
        listeners: Vec<Listener>,
        upstream: Option<SocketAddr>,
    ) -> anyhow::Result<()> {
        let snapshot = self.dns.load();
        let server = DnsServer::start(
            self.dns.clone(),
            Config {
                listeners,
                upstream,
            },
        )
        .await
        .context("cannot bind a DNS listener")?;
        for listener in server.listeners() {
            let private = match &listener.view {
                ViewId::Vpc(vpc) => snapshot.private_names(vpc),
                ViewId::Public => Vec::new(),
            };
            info!(
                addr = %listener.addr,
                view = %listener.view,
                vpce_names = snapshot.vpce_name_count(),
                private_names = %if private.is_empty() { "none".to_string() } else { private.join(", ") },
                "serving DNS"
            );
        }
        if let Some(upstream) = upstream {
            info!(%upstream, "names outside the served zones go upstream");
        }
        self.dns_server = Some(server);
        Ok(())
    }

    /// Stops everything that was started, last first.
    pub async fn shutdown(mut self) {
        if let Some(server) = self.dns_server.take() {
            server.shutdown().await;
        }
    }
}

/// The VPC's scenario name, given its name or its ID.
fn vpc_name(control: &ControlPlane, given: &str) -> anyhow::Result<String> {
    let vpcs = &control.topology().vpcs;
    if vpcs.contains_key(given) {
        return Ok(given.to_string());
    }
    match vpcs.values().find(|v| v.id == given) {
        Some(vpc) => Ok(vpc.name.clone()),
        None => bail!(
            "no VPC named `{given}` in the scenario (it has: {})",
            vpcs.keys().cloned().collect::<Vec<_>>().join(", ")
        ),
    }
}

/// Turns `--dns` flags into listeners.
fn listeners(control: &ControlPlane, args: &ServeArgs) -> anyhow::Result<Vec<Listener>> {
    let default_view = match &args.vpc {
        Some(vpc) => ViewId::Vpc(vpc_name(control, vpc)?),
        None => ViewId::Public,
    };
    let mut out = Vec::new();
    for spec in &args.dns {
        let (view, addr) = match spec.split_once('=') {
            Some((vpc, addr)) => (ViewId::Vpc(vpc_name(control, vpc)?), addr),
            None => (default_view.clone(), spec.as_str()),
        };
        let addr: SocketAddr = addr.parse().with_context(|| {
            format!("`--dns {spec}`: `{addr}` is not an address like 127.0.0.1:5353")
        })?;
        out.push(Listener { addr, view });
    }
    Ok(out)
}

/// Runs `vpcesim serve`.
pub(super) fn run(args: &ServeArgs) -> anyhow::Result<ExitCode> {
    let scenario = match load_file(&args.file) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    init_logging();
    let listeners = listeners(&scenario.control, args)?;
    if listeners.is_empty() {
        bail!("nothing to serve: give at least one `--dns ADDR`");
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    runtime.block_on(async {
        let mut serving = Serving::new(scenario.control);
        info!(file = %args.file.display(), vpcs = %serving.dns.load().vpc_names().join(", "), "loaded the topology");
        serving.start_dns(listeners, args.upstream).await?;
        wait_for_signal().await?;
        info!("stopping");
        serving.shutdown().await;
        info!("stopped");
        Ok(ExitCode::SUCCESS)
    })
}

/// Logs to stderr; `RUST_LOG` overrides (hickory's per-response logging is off).
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,hickory_server=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

async fn wait_for_signal() -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r.context("cannot watch SIGINT")?,
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c()
        .await
        .context("cannot watch Ctrl-C")?;
    Ok(())
}
