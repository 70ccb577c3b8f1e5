//! [`Network`]: the API the scenario runner calls for `resolve`, `connect` and
//! `transfer` steps, on simulated time.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;
use std::time::Duration;

use indexmap::IndexMap;
use smoltcp::iface::SocketHandle;
use smoltcp::socket::{tcp, udp};
use smoltcp::wire::IpAddress;

use super::apps::{Conn, Pattern, Receiver, Role, Sender};
use super::fabric::{Fabric, FabricStats, new_tcp_socket};
use super::gate::Gate;
use super::host::{HostKind, hosts_of};
use super::resolver::{PUBLIC_RESOLVER, Resolver};
use super::steps::{Goal, StepApps, Stream};
use crate::model::{Bandwidth, Direction, Proto, Topology};
use crate::policy::{BlockedBy, Initiator, PolicySnapshot, ephemeral_port};

/// How long `resolve` waits for the resolver's answer before giving up.
pub const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

/// The largest transfer the network carries (1 TB): every byte is simulated, packet by
/// packet, so a bigger one would run for hours of wall time. [`Network::transfer`]
/// refuses more (reports it not completed, without simulating anything); scenarios
/// check the limit when they load.
pub const MAX_TRANSFER_BYTES: u64 = 1_000_000_000_000;

/// The outcome of a `connect` step.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectReport {
    /// TCP: the handshake completed. UDP: a datagram came back.
    pub connected: bool,
    /// Why the flow was dropped, when it was.
    pub blocked_by: Option<BlockedBy>,
    /// When the step ended: the handshake's end, or the timeout.
    pub finished_at: Duration,
}

/// The outcome of a `transfer` step.
#[derive(Debug, Clone, PartialEq)]
pub struct TransferReport {
    /// Every stream connected and every byte was delivered and acknowledged.
    pub completed: bool,
    /// Why a stream's flow was dropped, when one was.
    pub blocked_by: Option<BlockedBy>,
    /// Payload bytes the receivers read.
    pub bytes: u64,
    /// Simulated seconds from the first payload byte sent to the last one acknowledged.
    pub payload_seconds: f64,
    /// Payload throughput over `payload_seconds`, in Gbit/s.
    pub gbps: f64,
    /// Every stream's receiver saw exactly the bytes its sender wrote (CRC-32).
    pub digest_ok: bool,
    /// When the step ended.
    pub finished_at: Duration,
}

/// The packet-level virtual network of one scenario.
pub struct Network {
    fabric: Fabric,
    gate: Gate,
    bandwidth: Bandwidth,
    seed: u64,
    /// How many ephemeral ports each host has used, kept across steps and updates.
    ports_used: IndexMap<String, u64>,
    pattern: Arc<Pattern>,
    resolver: Option<Box<dyn Resolver + Send + Sync>>,
}

impl Network {
    /// A network for `topology` now; `seed` (the scenario's) seeds every host's smoltcp
    /// stack and the transfer pattern.
    pub fn new(topology: &Topology, policy: PolicySnapshot, seed: u64) -> Self {
        Self {
            fabric: Fabric::new(hosts_of(topology), resolvers_of(topology), seed),
            gate: Gate::new(policy, topology.bandwidth),
            bandwidth: topology.bandwidth,
            seed,
            ports_used: IndexMap::new(),
            pattern: Arc::new(Pattern::new(seed)),
            resolver: None,
        }
    }

    /// After a control-plane change: new rules, ENIs and addresses. Flows still
    /// tracked are rechecked (a security group change keeps them, a NACL change cuts
    /// them); as every step closes its connections, none outlives a step today.
    pub fn update(&mut self, topology: &Topology, policy: PolicySnapshot) {
        self.gate.update(policy, topology.bandwidth);
        self.bandwidth = topology.bandwidth;
        self.fabric.recheck(&self.gate);
        self.fabric.end_step();
        self.fabric = Fabric::new(hosts_of(topology), resolvers_of(topology), self.seed);
    }

    /// The resolver that answers datagrams reaching a resolver outside `resolve` (a UDP
    /// `connect` probe to port 53); without one they get a SERVFAIL stand-in.
    pub fn set_resolver(&mut self, resolver: Box<dyn Resolver + Send + Sync>) {
        self.resolver = Some(resolver);
    }

    /// What the fabric counted so far.
    pub fn stats(&self) -> FabricStats {
        self.fabric.stats()
    }

    /// Sends `query` from host `from` to its resolver over simulated UDP (its VPC's
    /// base + 2; on-premises hosts ask the public resolver) and returns the response
    /// and when it arrived. An unknown host, or no answer, gives an empty response.
    pub fn resolve(
        &mut self,
        now: Duration,
        from: &str,
        query: &[u8],
        resolver: &dyn Resolver,
    ) -> (Vec<u8>, Duration) {
        let Some(h) = self.fabric.host_index(from) else {
            return (Vec::new(), now);
        };
        let host = &self.fabric.hosts[h];
        let server = match (&host.kind, &host.vpc) {
            (HostKind::Instance, Some(vpc)) => self.fabric.resolvers.get(vpc).copied(),
            (HostKind::OnPrem, _) => Some(PUBLIC_RESOLVER),
            _ => None,
        };
        let Some(server) = server else {
            return (Vec::new(), now);
        };
        let mut apps = StepApps::new(Goal::Datagram, Direction::Upload, self.pattern.clone());
        self.open_udp(&mut apps, h, now, SocketAddrV4::new(server, 53), query);
        let (end, _) = self.fabric.run(
            &mut self.gate,
            Some(resolver),
            &mut apps,
            now,
            now.saturating_add(RESOLVE_TIMEOUT),
        );
        let out = apps.datagram.take().unwrap_or((Vec::new(), end));
        self.fabric.end_step();
        out
    }

    /// Opens a TCP connection (or sends a UDP probe) from `from` to `dst` and waits up
    /// to `timeout`. The connection is closed when the step ends.
    pub fn connect(
        &mut self,
        now: Duration,
        from: &Initiator,
        dst: SocketAddrV4,
        proto: Proto,
        timeout: Duration,
    ) -> ConnectReport {
        let deadline = now.saturating_add(timeout);
        let Some(h) = self.fabric.host_index(&initiator_name(from)) else {
            return ConnectReport {
                connected: false,
                blocked_by: None,
                finished_at: deadline,
            };
        };
        let goal = if proto == Proto::Udp {
            Goal::Datagram
        } else {
            Goal::Established
        };
        let mut apps = StepApps::new(goal, Direction::Upload, self.pattern.clone());
        match proto {
            Proto::Tcp => {
                self.open_tcp(&mut apps, h, now, dst, 64 * 1024, Role::Hold);
            }
            Proto::Udp => self.open_udp(&mut apps, h, now, dst, &probe_query()),
            Proto::Icmp | Proto::All => {}
        }
        self.fabric.server_buffer = 64 * 1024;
        let resolver = self.resolver.as_deref().map(|r| r as &dyn Resolver);
        let (end, done) = self
            .fabric
            .run(&mut self.gate, resolver, &mut apps, now, deadline);
        let finished_at = match goal {
            Goal::Datagram => apps.datagram.as_ref().map_or(end, |d| d.1),
            _ => apps
                .client_conns()
                .filter_map(|c| c.established_at)
                .max()
                .unwrap_or(end),
        };
        let blocked_by = if done { None } else { self.first_block() };
        self.fabric.end_step();
        ConnectReport {
            connected: done,
            blocked_by,
            finished_at: if done { finished_at } else { deadline },
        }
    }

    /// Moves `bytes` over `streams` parallel connections from `from` to `dst`
    /// (`upload`) or back (`download`). `timeout` bounds the handshakes; once every
    /// stream is connected the transfer runs until its bytes are acknowledged (or
    /// stalls for `timeout`). More than [`MAX_TRANSFER_BYTES`] is not attempted.
    #[allow(clippy::too_many_arguments)]
    pub fn transfer(
        &mut self,
        now: Duration,
        from: &Initiator,
        dst: SocketAddrV4,
        bytes: u64,
        direction: Direction,
        streams: u32,
        timeout: Duration,
    ) -> TransferReport {
        let mut report = TransferReport {
            completed: false,
            blocked_by: None,
            bytes: 0,
            payload_seconds: 0.0,
            gbps: 0.0,
            digest_ok: false,
            finished_at: now.saturating_add(timeout),
        };
        if bytes > MAX_TRANSFER_BYTES {
            // Refused before any packet: the report says not completed, at `now`.
            report.finished_at = now;
            return report;
        }
        let Some(h) = self.fabric.host_index(&initiator_name(from)) else {
            return report;
        };
        let streams = u64::from(streams.max(1));
        let window = window_for(self.bandwidth);
        self.fabric.server_buffer = window;
        let mut apps = StepApps::new(Goal::Established, direction, self.pattern.clone());
        for k in 0..streams {
            let share = bytes / streams + u64::from(k < bytes % streams);
            let salt = k.wrapping_mul(0x9e37_79b9);
            let role = match direction {
                Direction::Upload => Role::Send(Sender::new(share, salt)),
                Direction::Download => Role::Receive(Receiver::new()),
            };
            let port = self.open_tcp(&mut apps, h, now, dst, window, role);
            apps.streams.push(Stream {
                client_port: port,
                bytes: share,
                salt,
            });
        }
        let resolver = self.resolver.as_deref().map(|r| r as &dyn Resolver);
        let (end, connected) = self.fabric.run(
            &mut self.gate,
            resolver,
            &mut apps,
            now,
            now.saturating_add(timeout),
        );
        if !connected {
            report.blocked_by = self.first_block();
            self.fabric.end_step();
            return report;
        }
        apps.goal = Goal::Complete;
        let expected = Duration::try_from_secs_f64(
            bytes as f64 * 8.0 / (self.bandwidth.per_az_gbps.max(1e-3) * 1e9),
        )
        .unwrap_or(Duration::MAX);
        let limit = end
            .saturating_add(expected.saturating_mul(4))
            .saturating_add(timeout);
        let (end, completed) = self
            .fabric
            .run(&mut self.gate, resolver, &mut apps, end, limit);
        report.completed = completed;
        report.finished_at = end;
        self.fill_transfer(&apps, &mut report);
        self.fabric.end_step();
        report
    }

    fn fill_transfer(&self, apps: &StepApps, report: &mut TransferReport) {
        let mut first: Option<Duration> = None;
        let mut last: Option<Duration> = None;
        let mut checked = 0;
        for c in &apps.conns {
            match &c.role {
                Role::Send(s) => {
                    first = min_opt(first, s.first_at);
                    last = max_opt(last, s.acked_at);
                }
                Role::Receive(r) => {
                    report.bytes += r.got;
                    let port = self.client_port_of(c);
                    let stream = apps.streams.iter().find(|s| Some(s.client_port) == port);
                    if let Some(s) = stream
                        && r.got == s.bytes
                        && r.crc.clone().finalize() == self.pattern.expected_crc(s.salt, s.bytes)
                    {
                        checked += 1;
                    }
                }
                _ => {}
            }
        }
        report.digest_ok = checked == apps.streams.len();
        if let (Some(a), Some(b)) = (first, last) {
            report.payload_seconds = (b - a).as_secs_f64();
            if report.payload_seconds > 0.0 {
                report.gbps = report.bytes as f64 * 8.0 / report.payload_seconds / 1e9;
            }
        }
    }

    /// The client port of a connection (its own port on the client, the remote port on
    /// the server), to pair a stream's two ends.
    fn client_port_of(&self, c: &Conn) -> Option<u16> {
        let host = &self.fabric.hosts[c.host];
        let socket = host
            .stack
            .as_ref()?
            .sockets
            .get::<tcp::Socket<'static>>(c.handle);
        match host.kind {
            HostKind::Eni { .. } => socket.remote_endpoint().map(|e| e.port),
            _ => socket.local_endpoint().map(|e| e.port),
        }
    }

    /// The verdict of the step's first blocked flow.
    fn first_block(&self) -> Option<BlockedBy> {
        self.fabric.flows.iter().find_map(|f| f.blocked.clone())
    }

    /// The next ephemeral port of host `h`, in sequence, wrapping in the range.
    fn ephemeral_port(&mut self, h: usize) -> u16 {
        let name = self.fabric.hosts[h].name.clone();
        let used = self.ports_used.entry(name).or_insert(0);
        *used += 1;
        ephemeral_port(*used - 1)
    }

    fn open_tcp(
        &mut self,
        apps: &mut StepApps,
        h: usize,
        now: Duration,
        dst: SocketAddrV4,
        buffer: usize,
        role: Role,
    ) -> u16 {
        let port = self.ephemeral_port(h);
        self.fabric.activate(h, now);
        let handle = {
            let Some(stack) = self.fabric.hosts[h].stack.as_mut() else {
                return port;
            };
            let mut socket = new_tcp_socket(buffer);
            let remote = (IpAddress::Ipv4(*dst.ip()), dst.port());
            // The port is fresh and the remote is unspecified only for 0.0.0.0:0,
            // which then simply never connects.
            let _ = socket.connect(stack.iface.context(), remote, port);
            stack.sockets.add(socket)
        };
        apps.conns.insert(
            apps.clients,
            Conn {
                host: h,
                handle,
                role,
                established_at: None,
            },
        );
        apps.clients += 1;
        port
    }

    fn open_udp(
        &mut self,
        apps: &mut StepApps,
        h: usize,
        now: Duration,
        dst: SocketAddrV4,
        payload: &[u8],
    ) {
        let port = self.ephemeral_port(h);
        self.fabric.activate(h, now);
        let Some(stack) = self.fabric.hosts[h].stack.as_mut() else {
            return;
        };
        let mut socket = udp::Socket::new(
            udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; 4], vec![0; 16 * 1024]),
            udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; 4], vec![0; 16 * 1024]),
        );
        let _ = socket.bind(port);
        let _ = socket.send_slice(payload, (IpAddress::Ipv4(*dst.ip()), dst.port()));
        let handle: SocketHandle = stack.sockets.add(socket);
        apps.udp = Some((h, handle));
    }
}

/// The receive window (and send buffer) that lets one stream reach the bucket rate
/// across AZs: twice the bandwidth-delay product at 600 µs, a power of two between
/// 256 KiB and 64 MiB (2 MiB at the default 10 Gbps).
pub fn window_for(bandwidth: Bandwidth) -> usize {
    let bytes_per_s = bandwidth.per_az_gbps.max(0.0) * 1e9 / 8.0;
    let bdp = bytes_per_s * 2.0 * super::fabric::CROSS_AZ_LATENCY.as_secs_f64();
    ((bdp * 2.0) as usize)
        .next_power_of_two()
        .clamp(256 * 1024, 64 * 1024 * 1024)
}

fn initiator_name(from: &Initiator) -> String {
    match from {
        Initiator::Host(name) => name.clone(),
        Initiator::Provider(service) => format!("service:{service}"),
    }
}

fn resolvers_of(topology: &Topology) -> IndexMap<String, Ipv4Addr> {
    topology
        .vpcs
        .values()
        .map(|v| (v.name.clone(), v.resolver_addr()))
        .collect()
}

/// A UDP probe's payload: a DNS query for the root's SOA, so that a resolver answers.
fn probe_query() -> Vec<u8> {
    vec![
        0x56, 0x50, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 6, 0, 1,
    ]
}

fn min_opt(a: Option<Duration>, b: Option<Duration>) -> Option<Duration> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn max_opt(a: Option<Duration>, b: Option<Duration>) -> Option<Duration> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}
