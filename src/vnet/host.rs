//! The hosts of the fabric: instances, on-premises hosts, endpoint ENIs and the
//! provider side of services, each a smoltcp interface with its own queues.
//!
//! A host's smoltcp stack is built the first time a step uses it, so a topology with
//! many ENIs costs nothing until traffic reaches them.

use std::collections::VecDeque;
use std::net::Ipv4Addr;
use std::time::Duration;

use indexmap::IndexMap;
use smoltcp::iface::{Config, Interface, SocketSet};
use smoltcp::time::Instant;
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr};

use super::device::HostDevice;
use super::packet::{Packet, Pool};
use crate::model::{Attachment, Topology};

/// An EC2 instance's MTU (jumbo frames): larger than the endpoint path's, so the
/// fabric's MSS clamping does real work.
pub const INSTANCE_MTU: usize = 9001;
/// The MTU of the endpoint path (docs/behaviour.md §5) and of ENIs.
pub const PATH_MTU: usize = 8500;
/// An on-premises host behind a Site-to-Site VPN: a standard Ethernet MTU.
pub const VPN_MTU: usize = 1500;

/// The IPv4 and TCP headers without options: the MSS that fits `PATH_MTU` is
/// `PATH_MTU - 40`.
pub(crate) const TCP_IP_HEADERS: usize = 40;

/// What a host is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HostKind {
    /// An instance in a subnet.
    Instance,
    /// A host of an on-premises network.
    OnPrem,
    /// An endpoint's ENI, by endpoint name.
    Eni { endpoint: String },
    /// The provider side of a service (`service:NAME`), which may not start flows.
    Provider,
}

/// A smoltcp interface and its sockets.
pub(crate) struct Stack {
    pub(crate) iface: Interface,
    pub(crate) sockets: SocketSet<'static>,
}

/// One host of the fabric.
pub(crate) struct Host {
    /// Instance or on-prem host name, ENI ID, or `service:NAME`.
    pub(crate) name: String,
    pub(crate) ip: Ipv4Addr,
    pub(crate) kind: HostKind,
    /// The VPC it is in or attached to.
    pub(crate) vpc: Option<String>,
    /// Its subnet's name (instances and ENIs).
    pub(crate) subnet: Option<String>,
    /// Its subnet's ID.
    pub(crate) subnet_id: Option<String>,
    /// Its AZ ID (none for on-premises hosts and the provider side).
    pub(crate) az_id: Option<String>,
    pub(crate) mtu: usize,
    pub(crate) stack: Option<Stack>,
    pub(crate) rx: VecDeque<Packet>,
    pub(crate) tx: Vec<Packet>,
    /// When smoltcp next wants a poll, as of the last poll.
    pub(crate) poll_at: Option<Duration>,
}

impl Host {
    fn new(name: String, ip: Ipv4Addr, kind: HostKind, mtu: usize) -> Self {
        Self {
            name,
            ip,
            kind,
            vpc: None,
            subnet: None,
            subnet_id: None,
            az_id: None,
            mtu,
            stack: None,
            rx: VecDeque::new(),
            tx: Vec::new(),
            poll_at: None,
        }
    }

    /// Builds the smoltcp stack if it is not there yet.
    pub(crate) fn ensure_stack(
        &mut self,
        pool: &std::cell::RefCell<Pool>,
        seed: u64,
        now: Duration,
    ) {
        if self.stack.is_some() {
            return;
        }
        let mut dev = HostDevice {
            rx: &mut self.rx,
            tx: &mut self.tx,
            pool,
            mtu: self.mtu,
        };
        let mut config = Config::new(HardwareAddress::Ip);
        config.random_seed = host_seed(seed, &self.name);
        let mut iface = Interface::new(config, &mut dev, to_instant(now));
        let ip = self.ip;
        iface.update_ip_addrs(|addrs| {
            // One address on a fresh interface always fits.
            let _ = addrs.push(IpCidr::new(IpAddress::Ipv4(ip), 32));
        });
        // Everything is off-link: the fabric routes. The gateway is never used on an IP medium.
        let _ = iface
            .routes_mut()
            .add_default_ipv4_route(Ipv4Addr::new(169, 254, 0, 1));
        self.stack = Some(Stack {
            iface,
            sockets: SocketSet::new(Vec::new()),
        });
    }

    /// Whether the host carries traffic of the endpoint path only through the fabric's
    /// cross-AZ latency (on-premises hosts and the provider side have no AZ).
    pub(crate) fn same_az(&self, other: &Self) -> bool {
        matches!((&self.az_id, &other.az_id), (Some(a), Some(b)) if a == b)
    }
}

/// A per-host smoltcp seed derived from the scenario's: FNV-1a of the name, mixed.
pub(crate) fn host_seed(seed: u64, name: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    splitmix(seed ^ h)
}

/// SplitMix64's finaliser: spreads a seed's bits.
pub(crate) fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The end of simulated time for the fabric (2^62 µs, about 146,000 years): smoltcp
/// counts microseconds in an `i64` and adds its timers to the current time, so the
/// fabric stops short of where that could overflow. A step that reaches it ends as
/// timed out.
pub(crate) const HORIZON: Duration = Duration::from_micros(1 << 62);

/// Simulated time as smoltcp's instant (microseconds).
pub(crate) fn to_instant(t: Duration) -> Instant {
    Instant::from_micros(i64::try_from(t.as_micros()).unwrap_or(i64::MAX))
}

/// smoltcp's instant as simulated time.
pub(crate) fn from_instant(t: Instant) -> Duration {
    Duration::from_micros(u64::try_from(t.total_micros()).unwrap_or(0))
}

/// Every host of a topology, by name (instances, on-prem hosts, ENI IDs), in topology order.
pub(crate) fn hosts_of(topology: &Topology) -> IndexMap<String, Host> {
    let mut hosts = IndexMap::new();
    for inst in topology.instances.values() {
        let mut h = Host::new(inst.name.clone(), inst.ip, HostKind::Instance, INSTANCE_MTU);
        if let Some(subnet) = topology.subnets.get(&inst.subnet) {
            h.vpc = Some(subnet.vpc.clone());
            h.subnet = Some(subnet.name.clone());
            h.subnet_id = Some(subnet.id.clone());
            h.az_id = Some(subnet.az_id.clone());
        }
        hosts.insert(h.name.clone(), h);
    }
    for net in topology.onprem.values() {
        let mtu = match net.via {
            Attachment::Vpn => VPN_MTU,
            Attachment::DirectConnect => PATH_MTU,
        };
        for (name, ip) in &net.hosts {
            let mut h = Host::new(name.clone(), *ip, HostKind::OnPrem, mtu);
            h.vpc = Some(net.vpc.clone());
            hosts.insert(name.clone(), h);
        }
    }
    for eni in topology.enis.values() {
        let kind = HostKind::Eni {
            endpoint: eni.endpoint.clone(),
        };
        let mut h = Host::new(eni.id.clone(), eni.ip, kind, PATH_MTU);
        if let Some(subnet) = topology.subnets.get(&eni.subnet) {
            h.vpc = Some(subnet.vpc.clone());
            h.subnet = Some(subnet.name.clone());
            h.subnet_id = Some(subnet.id.clone());
            h.az_id = Some(subnet.az_id.clone());
        }
        hosts.insert(h.name.clone(), h);
    }
    hosts
}

/// The provider side of service number `index`: an address in 100.64.0.0/10, which no
/// VPC uses for its own hosts here, so its packets can only be the provider's.
pub(crate) fn provider_host(service: &str, index: usize) -> Host {
    let ip = Ipv4Addr::from(u32::from(Ipv4Addr::new(100, 64, 0, 1)) + index as u32);
    Host::new(
        format!("service:{service}"),
        ip,
        HostKind::Provider,
        PATH_MTU,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_differ_per_host_and_per_scenario() {
        assert_ne!(host_seed(1, "a"), host_seed(1, "b"));
        assert_ne!(host_seed(1, "a"), host_seed(2, "a"));
        assert_eq!(host_seed(7, "web"), host_seed(7, "web"));
    }

    #[test]
    fn time_round_trips_at_microsecond_resolution() {
        let t = Duration::from_nanos(1_234_567);
        assert_eq!(from_instant(to_instant(t)), Duration::from_micros(1_234));
    }
}
