//! The fabric: carries IP packets between hosts on simulated time.
//!
//! A flow is decided once, at its first packet (a TCP SYN or a first UDP datagram),
//! through [`Gate`]; both directions are then entered in a connection-tracking table,
//! and every later packet costs one table lookup, an MTU check, a bucket reservation
//! when it carries payload, and a push onto the event queue. Drops are silent.

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::net::Ipv4Addr;
use std::time::Duration;

use indexmap::IndexMap;
use smoltcp::iface::{PollIngressSingleResult, PollResult, SocketHandle};
use smoltcp::socket::tcp;
use smoltcp::wire::IpProtocol;

use super::device::HostDevice;
use super::events::Events;
use super::gate::{Action, Decision, Gate, Meter};
use super::host::{HORIZON, Host, HostKind, PATH_MTU, TCP_IP_HEADERS, from_instant, to_instant};
use super::packet::{self, Header, Pool};
use super::resolver::{self, DnsView, LINK_LOCAL_RESOLVER, PUBLIC_RESOLVER, Resolver};
use crate::model::{Backend, Proto};
use crate::policy::{BlockedBy, FlowKey, Initiator};

/// One-way latency between hosts in the same AZ (docs/behaviour.md §6).
pub const SAME_AZ_LATENCY: Duration = Duration::from_micros(50);
/// One-way latency across AZs, and from on-premises hosts (which have no AZ).
pub const CROSS_AZ_LATENCY: Duration = Duration::from_micros(300);
/// The largest MSS that fits the path MTU.
pub const PATH_MSS: u16 = (PATH_MTU - TCP_IP_HEADERS) as u16;

/// What the fabric counted (for tests and benches).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FabricStats {
    /// Packets delivered to a host.
    pub delivered: u64,
    /// Packets dropped by a flow's verdict (including a cut flow).
    pub dropped_policy: u64,
    /// Packets dropped for exceeding the path MTU.
    pub dropped_mtu: u64,
    /// Packets that belonged to no flow and opened none.
    pub dropped_stray: u64,
    /// The largest packet carried, in bytes.
    pub largest_packet: usize,
    /// The largest MSS seen in a SYN or SYN-ACK after clamping.
    pub largest_mss: u16,
    /// Packets carried that held payload.
    pub payload_packets: u64,
    /// Packets carried with payload smaller than the path MSS.
    pub small_payload_packets: u64,
    /// DNS queries answered by a resolver.
    pub dns_queries: u64,
    /// Packet buffers ever allocated.
    pub buffers: usize,
}

/// A tracked flow.
pub(crate) struct Flow {
    pub(crate) client: usize,
    pub(crate) server: Option<usize>,
    pub(crate) initiator: Initiator,
    pub(crate) key: FlowKey,
    pub(crate) action: Action,
    pub(crate) blocked: Option<BlockedBy>,
    pub(crate) meter: Option<Meter>,
    pub(crate) backend: Option<Backend>,
    pub(crate) latency: Duration,
    /// A control-plane change now blocks it: every further packet is dropped.
    pub(crate) cut: bool,
}

impl Flow {
    /// Whether some of its packets are dropped: its client can never complete it.
    fn is_blocked(&self) -> bool {
        self.cut || self.action != Action::Pass
    }
}

/// A server socket the fabric opened for a new flow, for the step to give a role.
pub(crate) struct Accepted {
    pub(crate) host: usize,
    pub(crate) handle: SocketHandle,
    pub(crate) flow: usize,
}

/// The applications a step runs on the hosts.
pub(crate) trait Apps {
    /// Runs the applications of host `h` after a poll; true if they moved bytes.
    fn run_host(&mut self, fabric_hosts: &mut [Host], h: usize, now: Duration) -> bool;
    /// Takes over a server socket opened for a new flow.
    fn accept(&mut self, accepted: Accepted, flows: &[Flow]);
    /// Whether the step's goal is reached.
    fn done(&self) -> bool;
}

/// The network: hosts, the event queue and connection tracking.
pub(crate) struct Fabric {
    pub(crate) hosts: Vec<Host>,
    pub(crate) by_name: IndexMap<String, usize>,
    /// Resolver address of each VPC, by VPC name.
    pub(crate) resolvers: IndexMap<String, Ipv4Addr>,
    pool: RefCell<Pool>,
    events: Events,
    pub(crate) flows: Vec<Flow>,
    track: HashMap<u128, (u32, bool), BuildHasherDefault<KeyHasher>>,
    accepted: Vec<Accepted>,
    /// Hosts with sockets in the current step.
    active: Vec<usize>,
    seed: u64,
    /// Socket buffer size of server sockets the fabric opens.
    pub(crate) server_buffer: usize,
    pub(crate) stats: FabricStats,
}

impl Fabric {
    /// A fabric over `hosts`.
    pub(crate) fn new(
        hosts: IndexMap<String, Host>,
        resolvers: IndexMap<String, Ipv4Addr>,
        seed: u64,
    ) -> Self {
        let by_name = hosts
            .keys()
            .enumerate()
            .map(|(i, k)| (k.clone(), i))
            .collect();
        Self {
            hosts: hosts.into_values().collect(),
            by_name,
            resolvers,
            pool: RefCell::new(Pool::default()),
            events: Events::default(),
            flows: Vec::new(),
            track: HashMap::default(),
            accepted: Vec::new(),
            active: Vec::new(),
            seed,
            server_buffer: 64 * 1024,
            stats: FabricStats::default(),
        }
    }

    /// The index of host `name`, adding the provider side of a service on demand.
    pub(crate) fn host_index(&mut self, name: &str) -> Option<usize> {
        if let Some(&i) = self.by_name.get(name) {
            return Some(i);
        }
        let service = name.strip_prefix("service:")?;
        let n = self
            .hosts
            .iter()
            .filter(|h| h.kind == HostKind::Provider)
            .count();
        self.hosts.push(super::host::provider_host(service, n));
        self.by_name.insert(name.to_string(), self.hosts.len() - 1);
        Some(self.hosts.len() - 1)
    }

    /// Makes host `h` part of the step: builds its stack if needed.
    pub(crate) fn activate(&mut self, h: usize, now: Duration) {
        self.hosts[h].ensure_stack(&self.pool, self.seed, now);
        // New sockets want a poll now.
        self.hosts[h].poll_at = Some(now);
        if !self.active.contains(&h) {
            self.active.push(h);
        }
    }

    /// Ends a step: closes every socket, forgets every flow and pending packet.
    pub(crate) fn end_step(&mut self) {
        let mut pool = self.pool.borrow_mut();
        for p in self.events.drain() {
            pool.give(p);
        }
        for &h in &self.active {
            let host = &mut self.hosts[h];
            for p in host.rx.drain(..).chain(host.tx.drain(..)) {
                pool.give(p);
            }
            if let Some(stack) = &mut host.stack {
                let handles: Vec<SocketHandle> = stack.sockets.iter().map(|(h, _)| h).collect();
                for handle in handles {
                    stack.sockets.remove(handle);
                }
            }
            host.poll_at = None;
        }
        drop(pool);
        self.active.clear();
        self.flows.clear();
        self.track.clear();
        self.accepted.clear();
    }

    /// Marks tracked flows that a new policy blocks as cut (docs/behaviour.md §5:
    /// a security group change keeps established flows, a NACL change cuts them).
    pub(crate) fn recheck(&mut self, gate: &Gate) {
        for flow in &mut self.flows {
            if flow.action == Action::Pass && !flow.cut {
                flow.cut = gate.recheck(&flow.initiator, &flow.key).is_some();
            }
        }
    }

    /// Runs the step from `start` until `apps` are done, nothing is left to happen, or
    /// `deadline` passes. Returns the time it stopped and whether the apps were done.
    ///
    /// Time jumps from event to event (the next arrival or the next smoltcp timer), and
    /// straight to `deadline` once the goal is out of reach: when no packet is in
    /// flight and a flow of the step is blocked, only retransmission timers are left,
    /// whose packets the same verdict drops again (verdicts do not change within a
    /// run), so a blocked `connect` with a timeout of years costs no more than one with
    /// a timeout of seconds. Nothing runs past [`HORIZON`].
    pub(crate) fn run(
        &mut self,
        gate: &mut Gate,
        resolver: Option<&dyn Resolver>,
        apps: &mut dyn Apps,
        start: Duration,
        deadline: Duration,
    ) -> (Duration, bool) {
        if start >= HORIZON {
            return (deadline.max(start), false);
        }
        let stop = deadline.min(HORIZON);
        let mut now = start;
        let mut same_instant = 0u32;
        let mut dirty = vec![false; self.hosts.len()];
        loop {
            if dirty.len() < self.hosts.len() {
                dirty.resize(self.hosts.len(), false);
            }
            while let Some(arrival) = self.events.pop_due(now) {
                self.stats.delivered += 1;
                dirty[arrival.host] = true;
                self.hosts[arrival.host].rx.push_back(arrival.packet);
            }
            let mut i = 0;
            while i < self.active.len() {
                let h = self.active[i];
                i += 1;
                let due = self.hosts[h].poll_at.is_some_and(|t| t <= now);
                if !(dirty[h] || due) {
                    continue;
                }
                dirty[h] = false;
                self.poll(h, now, gate, resolver, apps);
                for accepted in self.accepted.drain(..) {
                    apps.accept(accepted, &self.flows);
                }
                let host = &mut self.hosts[h];
                if let Some(stack) = &mut host.stack {
                    host.poll_at = stack
                        .iface
                        .poll_at(to_instant(now), &stack.sockets)
                        .map(from_instant);
                }
            }
            if apps.done() {
                return (now, true);
            }
            if self.events.next_at().is_none() && self.flows.iter().any(Flow::is_blocked) {
                return (deadline.max(now), false);
            }
            let next_poll = self
                .active
                .iter()
                .filter_map(|&h| self.hosts[h].poll_at)
                .min();
            let next = match (self.events.next_at(), next_poll) {
                (Some(a), Some(b)) => a.min(b),
                (a, b) => match a.or(b) {
                    Some(t) => t,
                    None => return (deadline.max(now), false),
                },
            };
            if next > stop {
                return (deadline.max(now), false);
            }
            if next <= now {
                // smoltcp asked for an immediate poll again; never spin on one instant.
                same_instant += 1;
                if same_instant > 64 {
                    now += Duration::from_micros(1);
                    same_instant = 0;
                }
                for &h in &self.active {
                    if self.hosts[h].poll_at.is_some_and(|t| t <= now) {
                        dirty[h] = true;
                    }
                }
            } else {
                now = next;
                same_instant = 0;
            }
        }
    }

    /// Polls host `h`: takes in what arrived, runs its applications, sends what they
    /// and the stacks have to send, and carries it. Applications run between ingress
    /// and egress, as a kernel's would between interrupts: a receiver has read its data
    /// before the ACK goes out (so the ACK opens the whole window) and a sender has
    /// refilled its buffer (so segments leave full-sized, without silly windows).
    fn poll(
        &mut self,
        h: usize,
        now: Duration,
        gate: &mut Gate,
        resolver: Option<&dyn Resolver>,
        apps: &mut dyn Apps,
    ) {
        let t = to_instant(now);
        {
            let host = &mut self.hosts[h];
            let Some(stack) = &mut host.stack else {
                return;
            };
            let mut dev = HostDevice {
                rx: &mut host.rx,
                tx: &mut host.tx,
                pool: &self.pool,
                mtu: host.mtu,
            };
            while stack
                .iface
                .poll_ingress_single(t, &mut dev, &mut stack.sockets)
                != PollIngressSingleResult::None
            {}
        }
        apps.run_host(&mut self.hosts, h, now);
        {
            let host = &mut self.hosts[h];
            let Some(stack) = &mut host.stack else {
                return;
            };
            let mut dev = HostDevice {
                rx: &mut host.rx,
                tx: &mut host.tx,
                pool: &self.pool,
                mtu: host.mtu,
            };
            while stack.iface.poll_egress(t, &mut dev, &mut stack.sockets) != PollResult::None {}
        }
        let mut sent = std::mem::take(&mut self.hosts[h].tx);
        for packet in sent.drain(..) {
            self.carry(h, packet, now, gate, resolver);
        }
        // Keep the (now empty) vector's capacity.
        self.hosts[h].tx = sent;
    }

    /// Decides and forwards one packet that host `h` sent at `now`.
    fn carry(
        &mut self,
        h: usize,
        mut pkt: packet::Packet,
        now: Duration,
        gate: &mut Gate,
        resolver: Option<&dyn Resolver>,
    ) {
        let Some(hdr) = Header::parse(pkt.bytes()) else {
            self.stats.dropped_stray += 1;
            self.pool.get_mut().give(pkt);
            return;
        };
        if hdr.proto == IpProtocol::Udp && hdr.dst_port == 53 && self.is_resolver(h, hdr.dst) {
            self.answer_dns(h, &hdr, pkt, now, resolver);
            return;
        }
        let key = track_key(h, &hdr);
        let tracked = self.track.get(&key).copied();
        let (fid, forward) = match tracked {
            Some((fid, forward)) => (fid as usize, forward),
            None if hdr.is_syn() || hdr.proto == IpProtocol::Udp => {
                match self.open_flow(h, &hdr, now, gate) {
                    Some(fid) => (fid, true),
                    None => {
                        self.stats.dropped_stray += 1;
                        self.pool.get_mut().give(pkt);
                        return;
                    }
                }
            }
            None => {
                self.stats.dropped_stray += 1;
                self.pool.get_mut().give(pkt);
                return;
            }
        };
        let flow = &self.flows[fid];
        let blocked = flow.cut
            || match flow.action {
                Action::Pass => false,
                Action::DropForward => forward,
                Action::DropReply => !forward,
            };
        let to = if forward {
            flow.server
        } else {
            Some(flow.client)
        };
        let (Some(to), false) = (to, blocked) else {
            self.stats.dropped_policy += 1;
            self.pool.get_mut().give(pkt);
            return;
        };
        if hdr.has_syn()
            && let Some(mss) = packet::clamp_mss(pkt.bytes_mut(), PATH_MSS)
        {
            self.stats.largest_mss = self.stats.largest_mss.max(mss);
        }
        if pkt.len() > PATH_MTU {
            self.stats.dropped_mtu += 1;
            self.pool.get_mut().give(pkt);
            return;
        }
        self.stats.largest_packet = self.stats.largest_packet.max(pkt.len());
        if hdr.payload_len > 0 {
            self.stats.payload_packets += 1;
            if hdr.payload_len < usize::from(PATH_MSS) {
                self.stats.small_payload_packets += 1;
            }
        }
        let latency = flow.latency;
        let go = match flow.meter {
            Some(meter) if hdr.payload_len > 0 => {
                gate.reserve(&meter, forward, now, hdr.payload_len as u64)
            }
            _ => now,
        };
        self.events
            .push(go.max(now).saturating_add(latency), to, pkt);
    }

    /// Decides a new flow from host `h`; opens the server's listening socket when the
    /// first packet will reach it. `None` if `h` may not start flows.
    fn open_flow(
        &mut self,
        h: usize,
        hdr: &Header,
        now: Duration,
        gate: &mut Gate,
    ) -> Option<usize> {
        let client = &self.hosts[h];
        let initiator = match &client.kind {
            HostKind::Instance | HostKind::OnPrem => Initiator::Host(client.name.clone()),
            HostKind::Provider => {
                Initiator::Provider(client.name.trim_start_matches("service:").to_string())
            }
            HostKind::Eni { .. } => return None,
        };
        let proto = if hdr.proto == IpProtocol::Tcp {
            Proto::Tcp
        } else {
            Proto::Udp
        };
        let key = FlowKey {
            src: hdr.src,
            src_port: hdr.src_port,
            dst: hdr.dst,
            dst_port: hdr.dst_port,
            proto,
        };
        let Decision {
            action,
            blocked,
            server,
            meter,
            backend,
        } = gate.decide(now, &initiator, &key, client, || {
            // Only a drop needs it (a reply-path drop answers from the ENI): no scan of
            // the hosts for an allowed flow.
            self.hosts.iter().find(|s| {
                matches!(s.kind, HostKind::Eni { .. })
                    && s.ip == hdr.dst
                    && s.vpc.is_some()
                    && s.vpc == client.vpc
            })
        });
        let server = server.and_then(|name| self.by_name.get(&name).copied());
        let latency = match server {
            Some(s) if self.hosts[s].same_az(&self.hosts[h]) => SAME_AZ_LATENCY,
            _ => CROSS_AZ_LATENCY,
        };
        let fid = self.flows.len();
        self.flows.push(Flow {
            client: h,
            server,
            initiator,
            key,
            action,
            blocked,
            meter,
            backend,
            latency,
            cut: false,
        });
        self.track.insert(track_key(h, hdr), (fid as u32, true));
        if let Some(s) = server {
            self.track
                .insert(track_key(s, &hdr.reversed()), (fid as u32, false));
            if action != Action::DropForward && hdr.proto == IpProtocol::Tcp {
                self.activate(s, now);
                let size = self.server_buffer;
                if let Some(stack) = &mut self.hosts[s].stack {
                    let mut socket = new_tcp_socket(size);
                    // A fresh socket always listens on a non-zero port.
                    let _ = socket.listen(hdr.dst_port);
                    let handle = stack.sockets.add(socket);
                    self.accepted.push(Accepted {
                        host: s,
                        handle,
                        flow: fid,
                    });
                }
            }
        }
        Some(fid)
    }

    fn is_resolver(&self, h: usize, dst: Ipv4Addr) -> bool {
        let host = &self.hosts[h];
        match host.kind {
            HostKind::Instance => {
                dst == LINK_LOCAL_RESOLVER
                    || host
                        .vpc
                        .as_ref()
                        .and_then(|v| self.resolvers.get(v))
                        .is_some_and(|&r| r == dst)
            }
            HostKind::OnPrem => dst == PUBLIC_RESOLVER,
            _ => false,
        }
    }

    /// DNS to a resolver is never filtered: answer it and send the reply back.
    fn answer_dns(
        &mut self,
        h: usize,
        hdr: &Header,
        pkt: packet::Packet,
        now: Duration,
        resolver: Option<&dyn Resolver>,
    ) {
        let host = &self.hosts[h];
        let (view, latency) = match (&host.kind, &host.vpc) {
            (HostKind::Instance, Some(vpc)) => (DnsView::Vpc(vpc.clone()), SAME_AZ_LATENCY),
            _ => (DnsView::Public, CROSS_AZ_LATENCY),
        };
        let query = &pkt.bytes()[hdr.payload_at..hdr.payload_at + hdr.payload_len];
        let max = (host.mtu.min(PATH_MTU) - 28) as u16;
        let answer = match resolver {
            Some(r) => r.answer(&view, query, max),
            None => resolver::servfail(query),
        };
        self.stats.dns_queries += 1;
        let mut reply = pkt;
        if packet::write_udp(
            &mut reply,
            (hdr.dst, hdr.dst_port),
            (hdr.src, hdr.src_port),
            &answer,
        ) {
            self.events.push(now.saturating_add(latency * 2), h, reply);
        } else {
            self.pool.get_mut().give(reply);
        }
    }

    /// Counters, with the pool's size filled in.
    pub(crate) fn stats(&self) -> FabricStats {
        FabricStats {
            buffers: self.pool.borrow().allocated(),
            ..self.stats
        }
    }
}

/// A TCP socket as every host uses it: `buffer` bytes each way (the receive buffer is
/// the window), no Nagle, and ACKs sent at once, so the last byte's ACK is not held
/// back by a delayed-ACK timer that would distort a transfer's measured duration.
pub(crate) fn new_tcp_socket(buffer: usize) -> tcp::Socket<'static> {
    let mut s = tcp::Socket::new(
        tcp::SocketBuffer::new(vec![0; buffer]),
        tcp::SocketBuffer::new(vec![0; buffer]),
    );
    s.set_nagle_enabled(false);
    s.set_ack_delay(None);
    s
}

/// The tracking key of a packet sent by host `h`: host, protocol, ports and destination.
fn track_key(h: usize, hdr: &Header) -> u128 {
    (h as u128) << 72
        | u128::from(u8::from(hdr.proto)) << 64
        | u128::from(hdr.src_port) << 48
        | u128::from(u32::from(hdr.dst)) << 16
        | u128::from(hdr.dst_port)
}

/// A cheap hasher for tracking keys (the table holds a handful of flows per step).
#[derive(Default)]
pub(crate) struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(0x517c_c1b7_2722_0a95);
        }
    }

    fn write_u128(&mut self, v: u128) {
        let x = (v as u64) ^ ((v >> 64) as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        self.0 = super::host::splitmix(x);
    }
}
