//! `vpcesim serve FILE`: serve a scenario's topology live (its steps are not run) until
//! SIGINT or SIGTERM.
//!
//! [`ServeArgs`] holds every flag; [`run`] loads the world into [`Serving`], whose
//! `start_*` methods each bring up one kind of listener (DNS, forwarders, the EC2 API),
//! then waits for signals: SIGHUP reloads the file, SIGINT and SIGTERM call
//! [`Serving::shutdown`], which stops the listeners in reverse order: the forwarders
//! stop accepting, end their live flows with a flow log record each and flush the log
//! before `serve` exits 0.
//!
//! A reload runs on a task of its own ([`Reloader`]), so that signals are still handled
//! while it runs, and reads the file on a thread of its own with a timeout: a file that
//! never finishes reading (a FIFO, a hung mount) fails that reload instead of freezing
//! `serve`.
//!
//! One control plane runs on wall time behind a `parking_lot` mutex (changes are rare;
//! a panic while it is held does not poison it); every change,
//! whether from the API, a lifecycle transition coming due or a reload, is published at
//! once as a new DNS snapshot and a new policy snapshot for the forwarders, which
//! readers load without locks.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use arc_swap::ArcSwap;
use clap::Args;
use hickory_proto::rr::RecordType;
use parking_lot::Mutex;
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
use crate::scenario::{Scenario, load_file};

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
    /// A resolver for names outside the served zones, asked by VPC listeners only (the
    /// public view never forwards, so it is no open reflector); else they get REFUSED,
    /// as they do when the upstream does not answer within 2 s.
    #[arg(long, value_name = "ADDR")]
    pub upstream: Option<SocketAddr>,
    /// How many forwarded queries may wait for the upstream at once; more get REFUSED.
    #[arg(long, value_name = "N", default_value_t = crate::dns::server::DEFAULT_UPSTREAM_IN_FLIGHT, value_parser = at_least_one)]
    pub upstream_in_flight: usize,
    /// How many DNS-over-TCP connections each listener keeps open at once; more wait.
    #[arg(long, value_name = "N", default_value_t = crate::dns::server::DEFAULT_TCP_CONNECTIONS, value_parser = at_least_one)]
    pub dns_tcp_connections: usize,
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
    /// How long a reload (SIGHUP) may take to read the file before it fails and the
    /// current topology stays.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = humantime::parse_duration)]
    pub reload_timeout: Duration,
    /// The forwarder's bounds.
    #[command(flatten)]
    pub bounds: ForwardBounds,
    /// How long the API waits for a request's headers, on a new connection or an idle
    /// kept-alive one, before closing it.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = humantime::parse_duration)]
    pub api_header_timeout: Duration,
    /// How long the API waits for a request's body once its headers have arrived.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = humantime::parse_duration)]
    pub api_body_timeout: Duration,
    /// The most API connections served at once; more wait in the listen backlog.
    #[arg(long, value_name = "N", default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..))]
    pub api_max_connections: u32,
}

impl ServeArgs {
    /// The API server's limits from the `--api-*` flags.
    fn api_limits(&self) -> crate::api::Limits {
        crate::api::Limits {
            header_timeout: self.api_header_timeout,
            body_timeout: self.api_body_timeout,
            max_connections: usize::try_from(self.api_max_connections).unwrap_or(usize::MAX),
            ..crate::api::Limits::default()
        }
    }
}

/// The forwarder's bounds as `serve` flags; the defaults are [`ForwardOptions::default`].
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Forwarder bounds")]
pub struct ForwardBounds {
    /// The most connections one `--forward` listener has open, relayed or held; more
    /// are reset at once (counted, logged at most `--drop-log-rate` a second).
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    pub max_connections: usize,
    /// The most dropped connections held silent in the whole process; past it the
    /// oldest is closed.
    #[arg(long, value_name = "N", default_value_t = 4_096)]
    pub max_held: usize,
    /// How long a dropped connection is held silent before it is closed.
    #[arg(long, value_name = "DURATION", default_value = "120s", value_parser = humantime::parse_duration)]
    pub hold: Duration,
    /// Descriptors kept for DNS, the API and the flow log: the forwarder's sockets take
    /// at most the process's `ulimit -n` less this (at least half of it).
    #[arg(long, value_name = "N", default_value_t = 256)]
    pub fd_reserve: usize,
    /// How long an established flow may move no bytes before both sides get a reset
    /// (AWS PrivateLink's idle timeout is 350 s).
    #[arg(long, value_name = "DURATION", default_value = "350s", value_parser = humantime::parse_duration)]
    pub idle_timeout: Duration,
    /// The largest read and write buffer of each direction of a flow.
    #[arg(long, value_name = "BYTES", default_value = "1MiB", value_parser = parse_bytes)]
    pub buffer_size: usize,
    /// How much all flows' buffers together may grow past their first 16 KiB a
    /// direction; past it flows keep their smaller buffers.
    #[arg(long, value_name = "BYTES", default_value = "128MiB", value_parser = parse_bytes)]
    pub buffer_budget: usize,
    /// The flow log records queued for the disk; past it records are dropped, counted,
    /// logged and marked in the file by a SKIPDATA record.
    #[arg(long, value_name = "N", default_value_t = 65_536)]
    pub flow_log_queue: usize,
    /// The most lines a second logged for dropped flows (and, apart, for refused
    /// connections); the rest are counted in one summary line a second.
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub drop_log_rate: u32,
}

impl ForwardBounds {
    /// The forwarder's options these flags give.
    pub fn options(&self) -> ForwardOptions {
        ForwardOptions {
            buffer_size: self.buffer_size,
            buffer_budget: self.buffer_budget,
            hold: self.hold,
            max_connections: self.max_connections,
            max_held: self.max_held,
            fd_reserve: self.fd_reserve,
            idle_timeout: self.idle_timeout,
            flow_log_queue: self.flow_log_queue,
            drop_log_rate: self.drop_log_rate,
        }
    }
}

/// A byte count: a number, optionally with `KiB`, `MiB` or `GiB`.
fn parse_bytes(text: &str) -> Result<usize, String> {
    let text = text.trim();
    let digits = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(digits);
    let number: usize = number
        .parse()
        .map_err(|_| format!("`{text}` is not a byte count like 65536, 64KiB or 1MiB"))?;
    let scale: usize = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        other => {
            return Err(format!(
                "`{other}` in `{text}` is no unit: use KiB, MiB or GiB"
            ));
        }
    };
    number
        .checked_mul(scale)
        .ok_or_else(|| format!("`{text}` is too large"))
}

/// Parses a bound: a whole number of at least 1.
fn at_least_one(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!("`{s}` is not a whole number of at least 1")),
    }
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
        let mut control = self.control.lock();
        let before = control.generation();
        control.advance(self.now());
        if control.generation() != before {
            self.publish(&control);
        }
    }

    /// SIGHUP: installs the reloaded topology file, replacing any state made through the
    /// API.
    fn install(&self, scenario: Scenario, file: &Path) {
        let mut fresh = scenario.control;
        fresh.set_epoch_unix(unix_now().saturating_sub(self.now().as_secs()));
        fresh.advance(self.now());
        let mut control = self.control.lock();
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
            let control = self.world.control.lock();
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
    pub async fn start_api(
        &mut self,
        addr: SocketAddr,
        limits: crate::api::Limits,
    ) -> anyhow::Result<()> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("--api {addr}: cannot bind TCP on {addr}"))?;
        let clock_world = self.world.clone();
        let change_world = self.world.clone();
        let router = crate::api::router(
            crate::api::ApiState {
                control: self.world.control.clone(),
                clock: Arc::new(move || clock_world.now()),
                on_change: Arc::new(move |control: &ControlPlane| change_world.publish(control)),
            },
            limits,
        );
        info!(addr = %listener.local_addr().unwrap_or(addr), "serving the EC2 API (signatures are not verified)");
        self.api = Some(tokio::spawn(crate::api::serve(listener, router, limits)));
        Ok(())
    }

    /// Starts the DNS listeners; `flags` are the `--dns` values they came from, in order,
    /// so that an address that cannot be bound is reported with its flag.
    pub async fn start_dns(&mut self, config: Config, flags: &[String]) -> anyhow::Result<()> {
        let snapshot = self.dns.load();
        let upstream = config.upstream;
        let addrs: Vec<SocketAddr> = config.listeners.iter().map(|l| l.addr).collect();
        let server =
            DnsServer::start(self.dns.clone(), config)
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
            info!(%upstream, "names outside a VPC's zones go upstream");
        }
        self.dns_server = Some(server);
        Ok(())
    }

    /// Stops everything that was started, last first. The forwarders end their flows,
    /// each with its flow log record, and flush the log (waiting at most 5 s for flows).
    pub async fn shutdown(mut self) {
        for task in [self.api.take(), self.ticker.take()].into_iter().flatten() {
            task.abort();
        }
        if let Some(forwarders) = self.forwarders.take() {
            forwarders.context.shutdown(Duration::from_secs(5)).await;
        }
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
                .start_dns(Config {
                    listeners,
                    upstream: args.upstream,
                    upstream_in_flight: args.upstream_in_flight,
                    tcp_connections: args.dns_tcp_connections,
                }, &args.dns)
                .await?;
        }
        serving
            .start_forwarders(ForwardConfig {
                forwards: args.forward.clone(),
                flow_log: args.flow_log.clone(),
                flow_log_reasons: args.flow_log_reasons,
                options: args.bounds.options(),
            })
            .await?;
        if let Some(addr) = args.api {
            serving.start_api(addr, args.api_limits()).await?;
        }
        serving.start_clock();
        let reloader = Reloader::start(
            serving.world.clone(),
            args.file.clone(),
            args.reload_timeout,
        );
        while signals.next().await? == Signal::Reload {
            info!(file = %args.file.display(), "SIGHUP: reloading the topology");
            reloader.request();
        }
        reloader.task.abort();
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

/// The signals `serve` handles, watched from start to stop so that none is missed
/// between two waits.
struct Signals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    hup: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn watch() -> anyhow::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Self {
                term: signal(SignalKind::terminate()).context("cannot watch SIGTERM")?,
                hup: signal(SignalKind::hangup()).context("cannot watch SIGHUP")?,
                int: signal(SignalKind::interrupt()).context("cannot watch SIGINT")?,
            })
        }
        #[cfg(not(unix))]
        Ok(Self {})
    }

    /// The next signal.
    async fn next(&mut self) -> anyhow::Result<Signal> {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.int.recv() => Ok(Signal::Stop),
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

/// Runs reloads one at a time on a task of its own; a SIGHUP during a reload is folded
/// into one more reload after it.
struct Reloader {
    wake: Arc<tokio::sync::Notify>,
    task: tokio::task::JoinHandle<()>,
}

/// How many reads of the file that timed out may still hang (a thread each) before no
/// new reload starts.
const MAX_HUNG_READS: usize = 4;

impl Reloader {
    fn start(world: Arc<World>, file: PathBuf, timeout: Duration) -> Self {
        let wake = Arc::new(tokio::sync::Notify::new());
        let woken = wake.clone();
        let task = tokio::spawn(async move {
            let reads = Arc::new(AtomicUsize::new(0));
            loop {
                woken.notified().await;
                match load_within(&file, timeout, &reads).await {
                    Ok(scenario) => {
                        let (world, file) = (world.clone(), file.clone());
                        let installed =
                            tokio::task::spawn_blocking(move || world.install(scenario, &file));
                        if let Err(e) = installed.await {
                            warn!("reload failed: {e}");
                        }
                    }
                    Err(e) => warn!("reload failed, keeping the current topology: {e}"),
                }
            }
        });
        Self { wake, task }
    }

    /// Asks for a reload (after the one running, if any).
    fn request(&self) {
        self.wake.notify_one();
    }
}

/// Loads `file` on a thread of its own, waiting at most `timeout`; `reads` counts the
/// reads not finished yet (a read that timed out may hang on).
async fn load_within(
    file: &Path,
    timeout: Duration,
    reads: &Arc<AtomicUsize>,
) -> Result<Scenario, String> {
    let hung = reads.load(Ordering::Acquire);
    if hung >= MAX_HUNG_READS {
        return Err(format!(
            "{hung} earlier reads of {} never finished; no new one is started",
            file.display()
        ));
    }
    reads.fetch_add(1, Ordering::AcqRel);
    let (tx, rx) = tokio::sync::oneshot::channel();
    let (path, counter) = (file.to_path_buf(), reads.clone());
    let spawned = std::thread::Builder::new()
        .name("reload".into())
        .spawn(move || {
            let loaded = load_file(&path);
            counter.fetch_sub(1, Ordering::AcqRel);
            let _ = tx.send(loaded);
        });
    if let Err(e) = spawned {
        reads.fetch_sub(1, Ordering::AcqRel);
        return Err(format!("cannot start a thread to read the file: {e}"));
    }
    match tokio::time::timeout(timeout, rx).await {
        Ok(Ok(loaded)) => loaded.map_err(|e| e.to_string()),
        Ok(Err(_)) => Err("the thread reading the file ended without an answer".into()),
        Err(_) => Err(format!(
            "reading {} took longer than {} (--reload-timeout): is it a FIFO, or on a \
             mount that hangs?",
            file.display(),
            humantime::format_duration(timeout)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        bounds: ForwardBounds,
    }

    #[test]
    fn the_flags_defaults_are_the_forwarders_defaults() {
        let cli = Cli::try_parse_from(["serve"]).unwrap();
        assert_eq!(cli.bounds.options(), ForwardOptions::default());
    }

    #[test]
    fn byte_counts_take_binary_units_and_name_the_problem() {
        assert_eq!(parse_bytes("65536"), Ok(65_536));
        assert_eq!(parse_bytes("64KiB"), Ok(64 * 1024));
        assert_eq!(parse_bytes("128MiB"), Ok(128 << 20));
        assert!(parse_bytes("12MB").unwrap_err().contains("`MB`"));
        assert!(parse_bytes("MiB").unwrap_err().contains("byte count"));
    }
}
