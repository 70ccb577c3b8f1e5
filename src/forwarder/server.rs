//! Listening, deciding, relaying or holding, and applying new policies to live flows;
//! the bounds on what clients can make it hold; stopping with a record for every flow.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arc_swap::{ArcSwap, ArcSwapOption};
use tokio::io::Interest;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::backend;
use super::flowlog::{self, FlowAction, FlowLog, FlowRecord};
use super::limits::{Budget, HeldSet, OwnedPermit, SharedBudget};
use super::limits::{descriptor_budget, descriptor_limit};
use super::notice::RateLimit;
use super::pacing::Meters;
use super::relay::{Bounds, Counters, Ended, Pacers, relay};
use super::source::LoopbackSources;
use super::{ForwardError, ForwardSpec, HostResolver};
use crate::model::{Backend, Bandwidth};
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
    /// The bytes that every flow's buffers together may grow by past their first 16 KiB
    /// a direction. Growth that does not fit is skipped (the flow keeps its smaller
    /// buffer), so a client that writes and never reads costs a fixed amount.
    pub buffer_budget: usize,
    /// How long a dropped (or cut) connection is held silent before it is closed.
    pub hold: Duration,
    /// The most connections one listener has open (relayed or held); more are reset.
    pub max_connections: usize,
    /// The most dropped connections held silent in the whole process; past it the
    /// oldest is closed.
    pub max_held: usize,
    /// Descriptors the forwarder leaves to the rest of the process (DNS, the API, the
    /// flow log): its sockets take at most the `RLIMIT_NOFILE` limit less this (at
    /// least half the limit). Past it the oldest held connection is closed, else the new
    /// connection is reset.
    pub fd_reserve: usize,
    /// How long an established flow may move no bytes before both sides get a reset.
    pub idle_timeout: Duration,
    /// The records the flow log queues before it drops (and counts) new ones.
    pub flow_log_queue: usize,
    /// The most lines a second logged for dropped flows (and, apart, for refused
    /// connections); the rest are summed up in one line a second.
    pub drop_log_rate: u32,
}

impl ForwardOptions {
    /// AWS PrivateLink's idle timeout for TCP flows: 350 seconds.
    pub const AWS_IDLE_TIMEOUT: Duration = Duration::from_secs(350);
}

impl Default for ForwardOptions {
    fn default() -> Self {
        Self {
            buffer_size: 1024 * 1024,
            buffer_budget: 128 * 1024 * 1024,
            hold: Duration::from_secs(120),
            max_connections: 10_000,
            max_held: 4_096,
            fd_reserve: 256,
            idle_timeout: Self::AWS_IDLE_TIMEOUT,
            flow_log_queue: flowlog::DEFAULT_QUEUE,
            drop_log_rate: 20,
        }
    }
}

/// What the forwarder's bounds did so far, and what they hold now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ForwardStats {
    /// Connections reset at once: a listener at its limit, or no descriptor left.
    pub refused: u64,
    /// Held connections closed to make room for newer ones.
    pub evicted: u64,
    /// Dropped connections held silent now.
    pub held: usize,
    /// Flows reset after the idle timeout.
    pub idle_resets: u64,
    /// Bytes that flows' buffers have grown by, now.
    pub buffer_bytes: usize,
    /// Descriptors the forwarder's sockets take now.
    pub descriptors: usize,
    /// Flow log records dropped because the queue was full.
    pub flow_log_dropped: u64,
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
    /// Descriptors the forwarder's sockets may take.
    descriptors: SharedBudget,
    /// Growth of flows' buffers.
    buffers: Budget,
    held: HeldSet,
    refused: AtomicU64,
    idle_resets: AtomicU64,
    drop_notices: RateLimit,
    refuse_notices: RateLimit,
    notices_started: AtomicBool,
    /// Cancelled at shutdown: accept loops and flows end.
    stop: CancellationToken,
    /// Every accept loop and flow task, so that shutdown can wait for them.
    tasks: TaskTracker,
}

/// What one `--forward` keeps between connections.
struct ListenerState {
    spec: ForwardSpec,
    /// FROM's port counter.
    ports: Arc<AtomicU64>,
    /// HOST resolved through FROM's view, and the generation it was resolved under.
    resolved: ArcSwapOption<(u64, Option<Ipv4Addr>)>,
    /// This listener's open connections.
    connections: SharedBudget,
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
                descriptors: Arc::new(Budget::new(descriptor_budget(
                    descriptor_limit(),
                    options.fd_reserve,
                ))),
                buffers: Budget::new(options.buffer_budget),
                held: HeldSet::new(options.max_held),
                refused: AtomicU64::new(0),
                idle_resets: AtomicU64::new(0),
                drop_notices: RateLimit::new(options.drop_log_rate, Instant::now()),
                refuse_notices: RateLimit::new(options.drop_log_rate, Instant::now()),
                notices_started: AtomicBool::new(false),
                stop: CancellationToken::new(),
                tasks: TaskTracker::new(),
                options,
            }),
        }
    }

    /// What the bounds did so far and hold now.
    pub fn stats(&self) -> ForwardStats {
        let shared = &self.shared;
        ForwardStats {
            refused: shared.refused.load(Ordering::Relaxed),
            evicted: shared.held.evicted(),
            held: shared.held.len(),
            idle_resets: shared.idle_resets.load(Ordering::Relaxed),
            buffer_bytes: shared.buffers.used(),
            descriptors: shared.descriptors.used(),
            flow_log_dropped: shared.flow_log.as_ref().map_or(0, FlowLog::dropped),
        }
    }

    /// Stops (SIGTERM, SIGINT): no new connections; every live flow ends and gets its
    /// flow log record, held ones close; waits up to `wait` for them, then writes and
    /// flushes the flow log. Returns whether every flow ended in time.
    pub async fn shutdown(&self, wait: Duration) -> bool {
        let shared = &self.shared;
        shared.stop.cancel();
        shared.tasks.close();
        let ended = tokio::time::timeout(wait, shared.tasks.wait())
            .await
            .is_ok();
        if !ended {
            tracing::warn!(
                left = shared.tasks.len(),
                "flows still ending after {wait:?}: stopping without them"
            );
        }
        shared.log_summaries(
            shared.drop_notices.flush().unwrap_or(0),
            shared.refuse_notices.flush().unwrap_or(0),
        );
        if let Some(log) = shared.flow_log.clone() {
            let _ = tokio::task::spawn_blocking(move || log.finish()).await;
            let dropped = self.stats().flow_log_dropped;
            if dropped > 0 {
                tracing::warn!(dropped, "flow log records dropped in all (queue full)");
            }
        }
        ended
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
            connections: Arc::new(Budget::new(shared.options.max_connections)),
        });
        shared.start_notices();
        let task = shared
            .tasks
            .spawn(accept_loop(Arc::clone(&shared), state, listener));
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
    let flow_log = match &config.flow_log {
        Some(path) => Some(
            FlowLog::create(path, config.flow_log_reasons, config.options.flow_log_queue).map_err(
                |source| ForwardError::FlowLog {
                    path: path.clone(),
                    source,
                },
            )?,
        ),
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

    /// Logs a dropped flow with what blocked it (rate-limited).
    fn note_drop(&self, spec: &ForwardSpec, key: &FlowKey, reason: &BlockedBy) {
        let (show, summary) = self.drop_notices.admit(Instant::now());
        self.log_summaries(summary.unwrap_or(0), 0);
        if show {
            tracing::info!(
                listen = %spec.listen,
                src = %key.src,
                dst = %key.dst,
                port = key.dst_port,
                blocked_by = %reason.kind.as_str(),
                "flow dropped: {reason}"
            );
        }
    }

    /// Resets a connection that a bound does not let in, counts and logs it (rate-limited).
    fn refuse(&self, listen: SocketAddr, client: TcpStream, why: &str) {
        reset(client);
        self.refused.fetch_add(1, Ordering::Relaxed);
        let (show, summary) = self.refuse_notices.admit(Instant::now());
        self.log_summaries(0, summary.unwrap_or(0));
        if show {
            tracing::warn!(%listen, "connection refused: {why}");
        }
    }

    /// Logs how many dropped flows and refused connections were not logged one by one
    /// (nothing for a count of 0).
    fn log_summaries(&self, drops: u64, refusals: u64) {
        if drops > 0 {
            tracing::info!(count = drops, "more flows dropped, not logged one by one");
        }
        if refusals > 0 {
            tracing::warn!(
                count = refusals,
                "more connections refused, not logged one by one"
            );
        }
    }

    /// Once: a ticker that logs the summaries of a second that had too many notices,
    /// even when no more come.
    fn start_notices(self: &Arc<Self>) {
        if self.notices_started.swap(true, Ordering::AcqRel) {
            return;
        }
        let shared = Arc::clone(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tokio::select! {
                    () = shared.stop.cancelled() => return,
                    _ = tick.tick() => {}
                }
                let now = Instant::now();
                let drops = shared.drop_notices.summary(now).unwrap_or(0);
                let refusals = shared.refuse_notices.summary(now).unwrap_or(0);
                shared.log_summaries(drops, refusals);
            }
        });
    }

    /// A descriptor for a new socket: from the budget, else by evicting the oldest held
    /// connection; `None` when neither can give one.
    fn descriptor(&self) -> Option<OwnedPermit> {
        OwnedPermit::try_take(&self.descriptors).or_else(|| {
            self.held
                .evict_oldest()
                .then(|| OwnedPermit::force_take(&self.descriptors))
        })
    }

    /// Holds a dropped connection open, silent, until the client gives up, `hold`
    /// passes, a newer one needs its place, or `serve` stops.
    async fn hold(&self, client: TcpStream) {
        let mut slot = self.held.enter();
        let deadline = Instant::now() + self.options.hold;
        tokio::select! {
            () = tokio::time::sleep_until(deadline) => {}
            () = slot.evicted() => {}
            () = self.stop.cancelled() => {}
            () = client_gone(&client) => {}
        }
    }
}

/// Resolves when the client closes or resets its side. What it sends stays unread (the
/// flow is dropped): each arrival is only noted, and the wait goes on for the next event
/// of the socket, so unread data never hides the close.
async fn client_gone(client: &TcpStream) {
    loop {
        match client.ready(Interest::READABLE).await {
            Ok(ready) if !ready.is_read_closed() && !ready.is_error() => {
                // Data, left unread: clear the readiness and wait for the next event.
                let _ = client.try_io(Interest::READABLE, || {
                    Err::<(), _>(std::io::ErrorKind::WouldBlock.into())
                });
            }
            _ => return,
        }
    }
}

/// Whether an accept error means the process is out of a resource (descriptors,
/// memory) rather than one connection having failed.
fn out_of_resources(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

/// Accepts connections until `serve` stops: each one is let in within the listener's
/// and the descriptors' bounds, or reset. When the process is out of descriptors, it
/// closes the oldest held connection and backs off (10 ms doubling to 1 s) instead of
/// spinning on the error.
async fn accept_loop(shared: Arc<Shared>, state: Arc<ListenerState>, listener: TcpListener) {
    const FIRST_BACKOFF: Duration = Duration::from_millis(10);
    const MAX_BACKOFF: Duration = Duration::from_secs(1);
    let listen = state.spec.listen;
    let mut backoff = FIRST_BACKOFF;
    loop {
        let accepted = tokio::select! {
            biased;
            () = shared.stop.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let client = match accepted {
            Ok((client, _)) => {
                backoff = FIRST_BACKOFF;
                client
            }
            Err(e) => {
                let pause = if out_of_resources(&e) {
                    shared.held.evict_oldest();
                    let (show, summary) = shared.refuse_notices.admit(Instant::now());
                    shared.log_summaries(0, summary.unwrap_or(0));
                    if show {
                        tracing::warn!(%listen, "accept failed, backing off {backoff:?}: {e}");
                    }
                    let pause = backoff;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    pause
                } else {
                    // One connection failed (reset before accept, ...): go on, but never
                    // spin on an error that repeats.
                    tracing::debug!(%listen, "accept failed: {e}");
                    Duration::from_millis(1)
                };
                tokio::select! {
                    () = shared.stop.cancelled() => return,
                    () = tokio::time::sleep(pause) => continue,
                }
            }
        };
        let Some(slot) = OwnedPermit::try_take(&state.connections) else {
            let limit = state.connections.limit();
            shared.refuse(
                listen,
                client,
                &format!("the listener has {limit} connections open (--max-connections)"),
            );
            continue;
        };
        let Some(descriptor) = shared.descriptor() else {
            let limit = shared.descriptors.limit();
            shared.refuse(
                listen,
                client,
                &format!(
                    "the forwarder's sockets take {limit} descriptors, its share of the \
                     process's limit (see --fd-reserve)"
                ),
            );
            continue;
        };
        let permits = [slot, descriptor];
        shared.tasks.spawn(handle(
            Arc::clone(&shared),
            Arc::clone(&state),
            client,
            permits,
        ));
    }
}

/// Resets a connection: the backend refused, or HOST did not resolve.
fn reset(client: TcpStream) {
    let _ = client.set_zero_linger();
    drop(client);
}

/// One connection, from decision to flow log record. `_permits` (its place in the
/// listener and its descriptor) are given back when it ends.
async fn handle(
    shared: Arc<Shared>,
    state: Arc<ListenerState>,
    client: TcpStream,
    _permits: [OwnedPermit; 2],
) {
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
            shared.note_drop(spec, &key, &reason);
            shared.log(|| record(FlowAction::Reject, 0, 0, Some(reason)));
            shared.hold(client).await;
            return;
        }
        Verdict::Allow(admitted) => admitted,
    };
    // A real backend takes a descriptor of its own.
    let _backend_descriptor = match admitted.backend {
        Backend::Addr(_) => match shared.descriptor() {
            Some(permit) => Some(permit),
            None => {
                shared.log(|| record(FlowAction::Accept, 0, 0, None));
                let limit = shared.descriptors.limit();
                shared.refuse(
                    spec.listen,
                    client,
                    &format!("no descriptor left for the backend connection ({limit} in use)"),
                );
                return;
            }
        },
        _ => None,
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
        shared.hold(client).await;
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
    let bounds = Bounds {
        buffer: shared.options.buffer_size,
        budget: &shared.buffers,
        idle_timeout: shared.options.idle_timeout,
        stop: &shared.stop,
    };
    let ended = relay(&mut client, backend, pacers, &counters, &bounds, cut_rx).await;
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
    match ended {
        Ended::Cut(reason) => {
            shared.log(|| record(FlowAction::Reject, 0, 0, Some(reason)));
            shared.hold(client).await;
        }
        Ended::Idle => {
            shared.idle_resets.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(src = %key.src, dst = %key.dst, "idle timeout: flow reset");
            reset(client);
        }
        Ended::Closed | Ended::Stopped => {}
    }
}
