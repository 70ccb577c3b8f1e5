//! `vpcesim serve FILE`: serve a scenario's topology live (its steps are not run) until
//! SIGINT or SIGTERM.
//!
//! [`ServeArgs`] holds every flag; [`run`] loads the world into [`Serving`], whose
//! `start_*` methods each bring up one kind of listener (DNS, forwarders, the EC2 API),
//! then waits for signals: SIGHUP reloads the file, SIGINT and SIGTERM call
//! [`Serving::shutdown`], which stops the listeners in reverse order.
//!
//! One control plane runs on wall time behind a mutex (changes are rare); every change,
//! whether from the API, a lifecycle transition coming due or a reload, is published at
//! once as a new DNS snapshot and a new policy snapshot for the forwarders, which
//! readers load without locks.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use arc_swap::ArcSwap;
use clap::Args;
use hickory_proto::rr::RecordType;
use tracing::{info, warn};

use crate::control::ControlPlane;
use crate::dns::server::{Config, DnsServer, Listener, StartError};
use crate::dns::{DnsHandle, DnsSnapshot, ViewId};
use crate::forwarder::{
    ForwardConfig, ForwardContext, ForwardError, ForwardOptions, ForwardSpec, Forwarders,
    HostResolver, run_forwarders,
};
use crate::model::Topology;
use crate::policy::{Initiator, PolicySnapshot};
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
    /// A TCP forwarder: each connection accepted on LISTEN is a flow from instance or
    /// on-premises host FROM to HOST:PORT, HOST resolved through FROM's view. Repeatable.
    #[arg(long = "forward", value_name = "LISTEN=FROM@HOST:PORT")]
    pub forward: Vec<ForwardSpec>,
    /// Write one VPC Flow Logs (version 2) record per forwarded flow to FILE.
    #[arg(long, value_name = "FILE")]
    pub flow_log: Option<PathBuf>,
    /// Add the verdict's reason (what blocked a flow) to each flow log record.
    #[arg(long, requires = "flow_log")]
    pub flow_log_reasons: bool,
    /// Serve the EC2 Query API (the AWS CLI's `--endpoint-url`) on ADDR.
    #[arg(long, value_name = "ADDR")]
    pub api: Option<SocketAddr>,
}

/// The world `serve` runs: one control plane and what is published from it.
struct World {
    control: Arc<Mutex<ControlPlane>>,
    dns: Arc<DnsHandle>,
    hosts: Arc<HostViews>,
    forwarders: OnceLock<ForwardContext>,
    started: Instant,
}

impl World {
    /// The control plane's `now`: wall time since `serve` started.
    fn now(&self) -> Duration {
        self.started.elapsed()
    }

    /// Publishes the control plane's state to DNS, host views and forwarders.
    fn publish(&self, control: &ControlPlane) {
        self.dns.refresh(control);
        self.hosts.update(control.topology());
        if let Some(forwarders) = self.forwarders.get() {
            let cut = forwarders.apply(Arc::new(PolicySnapshot::compile(control.topology())));
            if cut > 0 {
                info!(cut, "a change cut live flows");
            }
        }
    }

    /// Applies lifecycle transitions that have come due (`pending -> available`, ...).
    fn tick(&self) {
        let mut control = self.control.lock().unwrap_or_else(PoisonError::into_inner);
        let before = control.generation();
        control.advance(self.now());
        if control.generation() != before {
            self.publish(&control);
        }
    }

    /// SIGHUP: reloads the topology file, replacing any state made through the API.
    fn reload(&self, file: &Path) {
        let scenario = match load_file(file) {
            Ok(s) => s,
            Err(e) => {
                warn!("reload failed, keeping the current topology: {e}");
                return;
            }
        };
        let mut fresh = scenario.control;
        fresh.set_epoch_unix(unix_now().saturating_sub(self.now().as_secs()));
        fresh.advance(self.now());
        let mut control = self.control.lock().unwrap_or_else(PoisonError::into_inner);
        let changes = super::reload::ReloadSummary::between(control.topology(), fresh.topology());
        *control = fresh;
        // A new world: compile afresh rather than update from the old one's journal.
        self.dns.store(DnsSnapshot::compile(&control));
        if let Some(forwarders) = self.forwarders.get() {
            forwarders.set_bandwidth(control.topology().bandwidth);
        }
        self.publish(&control);
        info!(file = %file.display(), endpoints = control.topology().endpoints.len(), %changes, "reloaded the topology");
    }
}

/// Resolves a forwarder's `HOST` through the DNS view of the flow's initiator.
#[derive(Debug)]
struct HostViews {
    dns: Arc<DnsHandle>,
    views: ArcSwap<HashMap<String, ViewId>>,
}

impl HostViews {
    fn new(dns: Arc<DnsHandle>, topology: &Topology) -> Self {
        let views = Self {
            dns,
            views: ArcSwap::from_pointee(HashMap::new()),
        };
        views.update(topology);
        views
    }

    /// Instances ask their VPC's resolver; on-premises hosts ask public DNS.
    fn update(&self, topology: &Topology) {
        let mut views = HashMap::new();
        for instance in topology.instances.values() {
            if let Some(subnet) = topology.subnets.get(&instance.subnet) {
                views.insert(instance.name.clone(), ViewId::Vpc(subnet.vpc.clone()));
            }
        }
        for network in topology.onprem.values() {
            for host in network.hosts.keys() {
                views.insert(host.clone(), ViewId::Public);
            }
        }
        self.views.store(Arc::new(views));
    }
}

impl HostResolver for HostViews {
    fn resolve(&self, from: &Initiator, host: &str) -> Option<Ipv4Addr> {
        if let Ok(ip) = host.parse() {
            return Some(ip);
        }
        let view = match from {
            Initiator::Host(name) => self.views.load().get(name).cloned()?,
            Initiator::Provider(_) => ViewId::Public,
        };
        self.dns
            .load()
            .lookup(&view, host, RecordType::A)
            .addresses()
            .first()
            .copied()
    }
}

/// A `--forward` value as the user could have written it.
fn forward_flag(spec: &ForwardSpec) -> String {
    let from = match &spec.from {
        Initiator::Host(name) => name.clone(),
        Initiator::Provider(name) => format!("service:{name}"),
    };
    format!("{}={from}@{}:{}", spec.listen, spec.host, spec.port)
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Everything `serve` runs.
pub struct Serving {
    world: Arc<World>,
    /// The DNS answers readers load.
    pub dns: Arc<DnsHandle>,
    dns_server: Option<DnsServer>,
    forwarders: Option<Forwarders>,
    api: Option<tokio::task::JoinHandle<()>>,
    ticker: Option<tokio::task::JoinHandle<()>>,
}

impl Serving {
    /// The world of `control`, with nothing listening yet; time 0 is now.
    pub fn new(mut control: ControlPlane) -> Self {
        control.set_epoch_unix(unix_now());
        control.advance(Duration::ZERO);
        let dns = Arc::new(DnsHandle::new(DnsSnapshot::compile(&control)));
        let hosts = Arc::new(HostViews::new(dns.clone(), control.topology()));
        let world = Arc::new(World {
            control: Arc::new(Mutex::new(control)),
            dns: dns.clone(),
            hosts,
            forwarders: OnceLock::new(),
            started: Instant::now(),
        });
        Self {
            world,
            dns,
            dns_server: None,
            forwarders: None,
            api: None,
            ticker: None,
        }
    }

    /// Applies lifecycle transitions as they come due on wall time.
    pub fn start_clock(&mut self) {
        let world = self.world.clone();
        self.ticker = Some(tokio::spawn(async move {
            let mut interval = tokio::time::interval(Duration::from_millis(100));
            loop {
                interval.tick().await;
                world.tick();
            }
        }));
    }

    /// Starts the `--forward` listeners (and the flow log).
    pub async fn start_forwarders(&mut self, config: ForwardConfig) -> anyhow::Result<()> {
        if config.forwards.is_empty() {
            return Ok(());
        }
        let (policy, bandwidth) = {
            let control = self
                .world
                .control
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let topology = control.topology();
            (
                Arc::new(PolicySnapshot::compile(topology)),
                topology.bandwidth,
            )
        };
        let resolver: Arc<dyn HostResolver> = self.world.hosts.clone();
        let specs = config.forwards.clone();
        let forwarders = run_forwarders(config, policy, bandwidth, resolver)
            .await
            .map_err(|error| match error {
                ForwardError::Bind { addr, source } => {
                    let flag = specs
                        .iter()
                        .find(|spec| spec.listen == addr)
                        .map_or_else(|| addr.to_string(), forward_flag);
                    anyhow::anyhow!("--forward {flag}: cannot bind TCP on {addr}: {source}")
                }
                other => anyhow::Error::new(other).context("cannot start the forwarders"),
            })?;
        for forwarder in &forwarders.forwarders {
            info!(listen = %forwarder.local_addr(), "forwarding TCP");
        }
        let _ = self.world.forwarders.set(forwarders.context.clone());
        self.forwarders = Some(forwarders);
        Ok(())
    }

    /// Starts the EC2 Query API on `addr`.
    pub async fn start_api(&mut self, addr: SocketAddr) -> anyhow::Result<()> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("--api {addr}: cannot bind TCP on {addr}"))?;
        let clock_world = self.world.clone();
        let change_world = self.world.clone();
        let router = crate::api::router(crate::api::ApiState {
            control: self.world.control.clone(),
            clock: Arc::new(move || clock_world.now()),
            on_change: Arc::new(move |control: &ControlPlane| change_world.publish(control)),
        });
        info!(addr = %listener.local_addr().unwrap_or(addr), "serving the EC2 API (signatures are not verified)");
        self.api = Some(tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, router).await {
                warn!("the API server stopped: {e}");
            }
        }));
        Ok(())
    }

    /// Starts the DNS listeners; `flags` are the `--dns` values they came from, in order,
    /// so that an address that cannot be bound is reported with its flag.
    pub async fn start_dns(
        &mut self,
        listeners: Vec<Listener>,
        flags: &[String],
        upstream: Option<SocketAddr>,
    ) -> anyhow::Result<()> {
        let snapshot = self.dns.load();
        let addrs: Vec<SocketAddr> = listeners.iter().map(|l| l.addr).collect();
        let server = DnsServer::start(
            self.dns.clone(),
            Config {
                listeners,
                upstream,
            },
        )
        .await
        .map_err(|error| match &error {
            StartError::Bind { addr, .. } => {
                let flag = addrs
                    .iter()
                    .position(|a| a == addr)
                    .and_then(|i| flags.get(i))
                    .map_or_else(|| addr.to_string(), Clone::clone);
                anyhow::anyhow!("--dns {flag}: {error}")
            }
            StartError::Io(_) => anyhow::Error::new(error).context("cannot start DNS"),
        })?;
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
        for task in [self.api.take(), self.ticker.take()].into_iter().flatten() {
            task.abort();
        }
        drop(self.forwarders.take());
        if let Some(server) = self.dns_server.take() {
            server.shutdown().await;
        }
    }
}

/// Turns `--dns` flags into listeners.
fn listeners(control: &ControlPlane, args: &ServeArgs) -> anyhow::Result<Vec<Listener>> {
    let default_view = match &args.vpc {
        Some(vpc) => ViewId::Vpc(super::vpc_name(control, vpc)?),
        None => ViewId::Public,
    };
    let mut out = Vec::new();
    for spec in &args.dns {
        let (view, addr) = match spec.split_once('=') {
            Some((vpc, addr)) => (ViewId::Vpc(super::vpc_name(control, vpc)?), addr),
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
    let listeners = listeners(&scenario.control, args)?;
    if listeners.is_empty() && args.forward.is_empty() && args.api.is_none() {
        bail!(
            "nothing to serve: give at least one of `--dns ADDR`, `--forward LISTEN=FROM@HOST:PORT`, `--api ADDR`"
        );
    }
    // Two workers: the forwarders relay on both cores; DNS over UDP has its own thread.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    runtime.block_on(async {
        // Watch the signals before anything is served: a SIGHUP that comes as soon as the
        // first listener answers must reload, not end the process.
        let mut signals = Signals::watch()?;
        let mut serving = Serving::new(scenario.control);
        info!(file = %args.file.display(), vpcs = %serving.dns.load().vpc_names().join(", "), "loaded the topology");
        if !listeners.is_empty() {
            serving
                .start_dns(listeners, &args.dns, args.upstream)
                .await?;
        }
        serving
            .start_forwarders(ForwardConfig {
                forwards: args.forward.clone(),
                flow_log: args.flow_log.clone(),
                flow_log_reasons: args.flow_log_reasons,
                options: ForwardOptions::default(),
            })
            .await?;
        if let Some(addr) = args.api {
            serving.start_api(addr).await?;
        }
        serving.start_clock();
        while signals.next().await? == Signal::Reload {
            serving.world.reload(&args.file);
        }
        info!("stopping");
        serving.shutdown().await;
        info!("stopped");
        Ok(ExitCode::SUCCESS)
    })
}

/// What a signal asks of `serve`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Signal {
    /// SIGHUP: reload the topology file.
    Reload,
    /// SIGINT or SIGTERM: stop.
    Stop,
}

/// The signals `serve` acts on, watched from start to stop so that none is missed
/// between two waits.
struct Signals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    fn watch() -> anyhow::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Self {
                term: signal(SignalKind::terminate()).context("cannot watch SIGTERM")?,
                hup: signal(SignalKind::hangup()).context("cannot watch SIGHUP")?,
            })
        }
        #[cfg(not(unix))]
        Ok(Self {})
    }

    /// Waits for the next signal.
    async fn next(&mut self) -> anyhow::Result<Signal> {
        #[cfg(unix)]
        {
            tokio::select! {
                r = tokio::signal::ctrl_c() => { r.context("cannot watch SIGINT")?; Ok(Signal::Stop) }
                _ = self.term.recv() => Ok(Signal::Stop),
                _ = self.hup.recv() => Ok(Signal::Reload),
            }
        }
        #[cfg(not(unix))]
        {
            tokio::signal::ctrl_c()
                .await
                .context("cannot watch Ctrl-C")?;
            Ok(Signal::Stop)
        }
    }
}
