//! Listening, deciding, relaying or holding, and applying new policies to live flows.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arc_swap::{ArcSwap, ArcSwapOption};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::backend;
use super::flowlog::{FlowAction, FlowLog, FlowRecord};
use super::pacing::Meters;
use super::relay::{Counters, Ended, Pacers, relay};
use super::source::LoopbackSources;
use super::{ForwardError, ForwardSpec, HostResolver};
use crate::model::Bandwidth;
use crate::policy::{
    BlockedBy, FlowDirection, FlowKey, Initiator, PolicySnapshot, Proto, Verdict, ephemeral_port,
};

/// Tuning of the forwarder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ForwardOptions {
    /// The most bytes per read and write in each direction of a flow (buffers start at
    /// 16 KiB and double while reads fill them): the main lever on throughput. 64 KiB
    /// relays about twice as fast as 8 KiB on loopback; 1 MiB 15.6 Gbit/s against 13.3
    /// for 256 KiB and 12.5 for 128 KiB (same run, iperf3, one stream).
    pub buffer_size: usize,
    /// How long a dropped (or cut) connection is held silent before it is closed.
    pub hold: Duration,
}

impl Default for ForwardOptions {
    fn default() -> Self {
        Self {
            buffer_size: 1024 * 1024,
            hold: Duration::from_secs(120),
        }
    }
}

/// Everything `serve` needs to start the forwarders.
#[derive(Debug, Clone, Default)]
pub struct ForwardConfig {
    /// The `--forward` specs.
    pub forwards: Vec<ForwardSpec>,
    /// `--flow-log FILE`.
    pub flow_log: Option<PathBuf>,
    /// Add the verdict's reason to each flow log record.
    pub flow_log_reasons: bool,
    /// Tuning.
    pub options: ForwardOptions,
}

/// A flow being relayed, as [`ForwardContext::apply`] rechecks it.
struct LiveFlow {
    spec: Arc<ListenerState>,
    key: FlowKey,
    cut: watch::Sender<Option<BlockedBy>>,
}

struct Shared {
    policy: ArcSwap<PolicySnapshot>,
    /// Moves on every [`ForwardContext::apply`], after the new policy is in: HOST
    /// resolutions cached under an older one are stale.
    generation: AtomicU64,
    resolver: Arc<dyn HostResolver>,
    meters: Meters,
    flows: Mutex<HashMap<u64, LiveFlow>>,
    next_flow: AtomicU64,
    /// Each FROM's next ephemeral port (a count; see [`ListenerState::next_port`]),
    /// shared by the forwarders of one FROM.
    ports: Mutex<HashMap<Initiator, Arc<AtomicU64>>>,
    flow_log: Option<FlowLog>,
    /// Where connections to loopback backends leave from.
    sources: LoopbackSources,
    options: ForwardOptions,
}

/// What one `--forward` keeps between connections.
struct ListenerState {
    spec: ForwardSpec,
    /// FROM's port counter.
    ports: Arc<AtomicU64>,
    /// HOST resolved through FROM's view, and the generation it was resolved under.
    resolved: ArcSwapOption<(u64, Option<Ipv4Addr>)>,
}

impl ListenerState {
    /// The next ephemeral port of FROM, round the range.
    fn next_port(&self) -> u16 {
        ephemeral_port(self.ports.fetch_add(1, Ordering::Relaxed))
    }

    /// HOST's address, resolved once per policy generation: DNS only changes with one.
    fn resolve(&self, shared: &Shared) -> Option<Ipv4Addr> {
        let generation = shared.generation.load(Ordering::Acquire);
        if let Some(cached) = &*self.resolved.load()
            && cached.0 == generation
        {
            return cached.1;
        }
        let spec = &self.spec;
        let dst = spec
            .host
            .parse::<Ipv4Addr>()
            .ok()
            .or_else(|| shared.resolver.resolve(&spec.from, &spec.host));
        self.resolved.store(Some(Arc::new((generation, dst))));
        dst
    }
}

/// The state every forwarder of one `serve` shares: the current policy, the token
/// buckets, the live flows and the flow log. Cheap to clone.
#[derive(Clone)]
pub struct ForwardContext {
    shared: Arc<Shared>,
}

impl ForwardContext {
    /// A context serving `policy`, with buckets at `bandwidth`, resolving HOST names
    /// through `resolver`.
    pub fn new(
        policy: Arc<PolicySnapshot>,
        bandwidth: Bandwidth,
        resolver: Arc<dyn HostResolver>,
        flow_log: Option<FlowLog>,
        options: ForwardOptions,
    ) -> Self {
        Self {
            shared: Arc::new(Shared {
                policy: ArcSwap::new(policy),
                generation: AtomicU64::new(0),
                resolver,
                meters: Meters::new(bandwidth, Instant::now()),
                flows: Mutex::new(HashMap::new()),
                next_flow: AtomicU64::new(0),
                ports: Mutex::new(HashMap::new()),
                flow_log,
                sources: LoopbackSources::default(),
                options,
            }),
        }
    }

    /// Installs a new policy (after SIGHUP) and cuts the live flows it no longer admits
    /// ([`PolicySnapshot::recheck`]); returns how many were cut.
    pub fn apply(&self, snapshot: Arc<PolicySnapshot>) -> usize {
        self.shared.policy.store(Arc::clone(&snapshot));
        self.shared.generation.fetch_add(1, Ordering::AcqRel);
        let flows = self
            .shared
            .flows
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let mut cut = 0;
        for flow in flows.values() {
            if let Some(reason) = snapshot.recheck(&flow.spec.spec.from, &flow.key) {
                tracing::info!(src = %flow.key.src, dst = %flow.key.dst, %reason, "flow cut");
                flow.cut.send_replace(Some(reason));
                cut += 1;
            }
        }
        cut
    }

    /// Replaces the token buckets (a new topology's `[bandwidth]`); they start full.
    pub fn set_bandwidth(&self, bandwidth: Bandwidth) {
        self.shared.meters.set_bandwidth(bandwidth);
    }

    /// How many flows are being relayed now.
    pub fn live_flows(&self) -> usize {
        self.shared
            .flows
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// The policy in force.
    pub fn policy(&self) -> Arc<PolicySnapshot> {
        self.shared.policy.load_full()
    }
}

/// One `--forward`: a listener whose connections are flows from one host to one target.
pub struct Forwarder {
    context: ForwardContext,
    local_addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Forwarder {
    /// Binds `spec.listen` and starts accepting; fails if FROM is unknown to the policy.
    pub async fn bind(context: &ForwardContext, spec: ForwardSpec) -> Result<Self, ForwardError> {
        if let Initiator::Host(name) = &spec.from
            && context.policy().host(name).is_none()
        {
            return Err(ForwardError::UnknownHost {
                listen: spec.listen,
                from: name.clone(),
            });
        }
        let listener =
            TcpListener::bind(spec.listen)
                .await
                .map_err(|source| ForwardError::Bind {
                    addr: spec.listen,
                    source,
                })?;
        let local_addr = listener.local_addr().map_err(|source| ForwardError::Bind {
            addr: spec.listen,
            source,
        })?;
        let shared = Arc::clone(&context.shared);
        let ports = Arc::clone(
            shared
                .ports
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .entry(spec.from.clone())
                .or_default(),
        );
        let state = Arc::new(ListenerState {
            spec,
            ports,
            resolved: ArcSwapOption::empty(),
        });
        let task = tokio::spawn(async move {
            loop {
                match listener.accept().await {
                    Ok((client, _)) => {
                        tokio::spawn(handle(Arc::clone(&shared), Arc::clone(&state), client));
                    }
                    Err(e) => {
                        // Out of descriptors, most likely: let flows finish.
                        tracing::warn!(listen = %state.spec.listen, "accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
            }
        });
        Ok(Self {
            context: context.clone(),
            local_addr,
            task,
        })
    }

    /// The address it listens on (the port the OS chose, for `:0`).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Installs a new policy for every forwarder of the context; see [`ForwardContext::apply`].
    pub fn apply(&self, snapshot: Arc<PolicySnapshot>) -> usize {
        self.context.apply(snapshot)
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The forwarders of one `serve`, sharing one context.
pub struct Forwarders {
    /// The shared state (apply new policies through it).
    pub context: ForwardContext,
    /// One per `--forward`, in order.
    pub forwarders: Vec<Forwarder>,
}

impl Forwarders {
    /// Installs a new policy; see [`ForwardContext::apply`].
    pub fn apply(&self, snapshot: Arc<PolicySnapshot>) -> usize {
        self.context.apply(snapshot)
    }
}

/// Starts every `--forward` of `config` and the flow log; returns once all listen.
pub async fn run_forwarders(
    config: ForwardConfig,
    policy: Arc<PolicySnapshot>,
    bandwidth: Bandwidth,
    resolver: Arc<dyn HostResolver>,
) -> Result<Forwarders, ForwardError> {
    let flow_log =
        match &config.flow_log {
            Some(path) => Some(FlowLog::create(path, config.flow_log_reasons).map_err(
                |source| ForwardError::FlowLog {
                    path: path.clone(),
                    source,
                },
            )?),
            None => None,
        };
    let context = ForwardContext::new(policy, bandwidth, resolver, flow_log, config.options);
    let mut forwarders = Vec::new();
    for spec in config.forwards {
        forwarders.push(Forwarder::bind(&context, spec).await?);
    }
    Ok(Forwarders {
        context,
        forwarders,
    })
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Shared {
    fn log(&self, record: impl FnOnce() -> FlowRecord) {
        if let Some(log) = &self.flow_log {
            log.write(record());
        }
    }
}

/// Resets a connection: the backend refused, or HOST did not resolve.
fn reset(client: TcpStream) {
    let _ = client.set_zero_linger();
    drop(client);
}

/// Holds a dropped connection open, silent, until the client gives up or `hold` passes.
async fn hold(client: TcpStream, hold: Duration) {
    let deadline = Instant::now() + hold;
    let mut probe = [0u8; 1];
    loop {
        tokio::select! {
            () = tokio::time::sleep_until(deadline) => return,
            peeked = client.peek(&mut probe) => match peeked {
                Ok(0) | Err(_) => return,
                // Data waits unread: look again later for the client's close.
                Ok(_) => tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    () = tokio::time::sleep_until(deadline) => return,
                },
            },
        }
    }
}

async fn handle(shared: Arc<Shared>, state: Arc<ListenerState>, client: TcpStream) {
    let _ = client.set_nodelay(true);
    let spec = &state.spec;
    let policy = shared.policy.load_full();
    let src = match &spec.from {
        Initiator::Host(name) => policy.host(name).map_or(Ipv4Addr::UNSPECIFIED, |h| h.ip),
        Initiator::Provider(_) => Ipv4Addr::UNSPECIFIED,
    };
    let Some(dst) = state.resolve(&shared) else {
        tracing::info!(host = %spec.host, "unresolved: connection reset");
        reset(client);
        return;
    };
    let key = FlowKey {
        src,
        src_port: state.next_port(),
        dst,
        dst_port: spec.port,
        proto: Proto::Tcp,
    };
    let start = unix_now();
    let record = |action, up, down, reason: Option<BlockedBy>| FlowRecord {
        account_id: policy.account_id(&spec.from).unwrap_or("-").to_string(),
        interface_id: policy
            .eni_of(&spec.from, key.dst)
            .unwrap_or("-")
            .to_string(),
        src: key.src,
        dst: key.dst,
        src_port: key.src_port,
        dst_port: key.dst_port,
        bytes_up: up,
        bytes_down: down,
        start,
        end: unix_now(),
        action,
        reason,
    };
    let admitted = match policy.decide(&spec.from, &key) {
        Verdict::Block(reason) => {
            tracing::debug!(%reason, "flow dropped");
            shared.log(|| record(FlowAction::Reject, 0, 0, Some(reason)));
            hold(client, shared.options.hold).await;
            return;
        }
        Verdict::Allow(admitted) => admitted,
    };
    let backend = match backend::connect(admitted.backend, &shared.sources).await {
        Ok(b) => b,
        Err(e) => {
            tracing::debug!("backend refused: {e}");
            shared.log(|| record(FlowAction::Accept, 0, 0, None));
            reset(client);
            return;
        }
    };
    let id = shared.next_flow.fetch_add(1, Ordering::Relaxed);
    let (cut_tx, cut_rx) = watch::channel(None);
    shared
        .flows
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(
            id,
            LiveFlow {
                spec: Arc::clone(&state),
                key,
                cut: cut_tx,
            },
        );
    // A policy applied between the decision and the registration must see this flow too:
    // `apply` stores its policy before it walks the flows, so either it saw this flow or
    // the policy loaded now is its own. The one decided under needs no second look.
    let recheck = {
        let current = shared.policy.load();
        if Arc::ptr_eq(&current, &policy) {
            None
        } else {
            current.recheck(&spec.from, &key)
        }
    };
    if let Some(reason) = recheck {
        shared
            .flows
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&id);
        shared.log(|| record(FlowAction::Reject, 0, 0, Some(reason)));
        hold(client, shared.options.hold).await;
        return;
    }
    let (endpoint, az_id) = (admitted.endpoint.as_str(), admitted.az_id.as_str());
    let pacers = Pacers {
        up: shared
            .meters
            .pacer(endpoint, az_id, FlowDirection::ToService),
        down: shared
            .meters
            .pacer(endpoint, az_id, FlowDirection::FromService),
    };
    let counters = Counters::default();
    let mut client = client;
    let ended = relay(
        &mut client,
        backend,
        pacers,
        &counters,
        shared.options.buffer_size,
        cut_rx,
    )
    .await;
    shared
        .flows
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .remove(&id);
    let (up, down) = (
        counters.up.load(Ordering::Relaxed),
        counters.down.load(Ordering::Relaxed),
    );
    shared.log(|| record(FlowAction::Accept, up, down, None));
    if let Ended::Cut(reason) = ended {
        shared.log(|| record(FlowAction::Reject, 0, 0, Some(reason)));
        hold(client, shared.options.hold).await;
    }
}
