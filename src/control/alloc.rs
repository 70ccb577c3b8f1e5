//! Private address allocation: the lowest free address of a subnet first; an address
//! that an endpoint gave back is reused only after [`QUARANTINE`] of simulated time.
//!
//! AWS reuses a subnet's private addresses too (a subnet only has so many); holding a
//! freed one back for a while keeps a client that still has the old endpoint's address
//! cached from reaching a new endpoint by accident, and keeps churn (create, delete,
//! create) from pinning every address of a subnet forever.
//!
//! Allocation is split so that a change can be all or nothing: [`Allocator::lowest_free`]
//! only looks, [`Allocator::take`] and [`Allocator::release`] change.

use std::collections::{BTreeSet, HashMap};
use std::net::Ipv4Addr;
use std::time::Duration;

use crate::model::{Subnet, Topology};

/// How long a freed address stays unused before it can be handed out again.
pub const QUARANTINE: Duration = Duration::from_secs(3600);

/// Which addresses of each subnet are in use or in quarantine.
#[derive(Debug, Clone, Default)]
pub(crate) struct Allocator {
    subnets: HashMap<String, SubnetAddresses>,
}

#[derive(Debug, Clone, Default)]
struct SubnetAddresses {
    /// Addresses in use, and freed ones still in quarantine.
    held: BTreeSet<u32>,
    /// When each quarantined address becomes free again.
    quarantined: HashMap<u32, Duration>,
}

impl SubnetAddresses {
    /// Whether `ip` cannot be handed out at `now`.
    fn is_held(&self, ip: u32, now: Duration) -> bool {
        self.held.contains(&ip) && self.quarantined.get(&ip).is_none_or(|until| *until > now)
    }
}

impl Allocator {
    /// An allocator that knows the addresses of `topology`'s instances and ENIs.
    pub(crate) fn new(topology: &Topology) -> Self {
        let mut allocator = Self::default();
        let used = topology
            .instances
            .values()
            .map(|i| (&i.subnet, i.ip))
            .chain(topology.enis.values().map(|e| (&e.subnet, e.ip)));
        for (subnet, ip) in used {
            allocator.reserve(subnet, ip);
        }
        allocator
    }

    /// Marks `ip` of `subnet` as used; false if it already was.
    pub(crate) fn reserve(&mut self, subnet: &str, ip: Ipv4Addr) -> bool {
        let entry = self.subnets.entry(subnet.to_string()).or_default();
        entry.held.insert(u32::from(ip))
    }

    /// The lowest usable address of `subnet` free at `now` (AWS keeps the first four and
    /// the last address of every subnet); `None` when there is none. Changes nothing.
    pub(crate) fn lowest_free(&self, subnet: &Subnet, now: Duration) -> Option<Ipv4Addr> {
        let first = u32::from(subnet.cidr.network()).checked_add(4)?;
        let last = u32::from(subnet.cidr.broadcast()).checked_sub(1)?;
        if first > last {
            return None;
        }
        let Some(entry) = self.subnets.get(&subnet.name) else {
            return Some(Ipv4Addr::from(first));
        };
        // Walk the held addresses from `first` until the first gap, or the first one
        // whose quarantine is over: linear in the addresses below it.
        let mut candidate = first;
        for &ip in entry.held.range(first..=last) {
            if ip != candidate || !entry.is_held(ip, now) {
                break;
            }
            candidate = candidate.checked_add(1)?;
        }
        (candidate <= last).then(|| Ipv4Addr::from(candidate))
    }

    /// Takes the lowest free address of `subnet` at simulated time 0 (the loader's
    /// instances); `None` when the subnet is full.
    pub(crate) fn allocate(&mut self, subnet: &Subnet) -> Option<Ipv4Addr> {
        let ip = self.lowest_free(subnet, Duration::ZERO)?;
        self.take(&subnet.name, ip);
        Some(ip)
    }

    /// Marks `ip` (from [`Self::lowest_free`]) as in use.
    pub(crate) fn take(&mut self, subnet: &str, ip: Ipv4Addr) {
        let entry = self.subnets.entry(subnet.to_string()).or_default();
        let ip = u32::from(ip);
        entry.quarantined.remove(&ip);
        entry.held.insert(ip);
    }

    /// Gives `ip` back at `now`: free again after [`QUARANTINE`].
    pub(crate) fn release(&mut self, subnet: &str, ip: Ipv4Addr, now: Duration) {
        let entry = self.subnets.entry(subnet.to_string()).or_default();
        let ip = u32::from(ip);
        if entry.held.contains(&ip) {
            entry.quarantined.insert(ip, now.saturating_add(QUARANTINE));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subnet(cidr: &str) -> Subnet {
        Subnet {
            name: "a".into(),
            id: "subnet-abababab".into(),
            vpc: "v".into(),
            cidr: cidr.parse().unwrap(),
            az_name: "us-east-1a".into(),
            az_id: "use1-az1".into(),
            nacl: "v/default".into(),
        }
    }

    fn allocate_at(a: &mut Allocator, s: &Subnet, now: Duration) -> Option<Ipv4Addr> {
        let ip = a.lowest_free(s, now)?;
        a.take(&s.name, ip);
        Some(ip)
    }

    #[test]
    fn lowest_free_first_skipping_taken() {
        let s = subnet("10.0.1.0/24");
        let mut a = Allocator::default();
        assert!(a.reserve("a", Ipv4Addr::new(10, 0, 1, 5)));
        assert!(!a.reserve("a", Ipv4Addr::new(10, 0, 1, 5)));
        let now = Duration::ZERO;
        assert_eq!(
            allocate_at(&mut a, &s, now),
            Some(Ipv4Addr::new(10, 0, 1, 4))
        );
        assert_eq!(
            allocate_at(&mut a, &s, now),
            Some(Ipv4Addr::new(10, 0, 1, 6))
        );
    }

    #[test]
    fn looking_changes_nothing() {
        let s = subnet("10.0.1.0/24");
        let a = Allocator::default();
        let ip = a.lowest_free(&s, Duration::ZERO);
        assert_eq!(a.lowest_free(&s, Duration::ZERO), ip);
    }

    #[test]
    fn full_subnet_yields_none() {
        let s = subnet("10.0.0.16/28");
        let mut a = Allocator::default();
        let got: Vec<_> = std::iter::from_fn(|| allocate_at(&mut a, &s, Duration::ZERO)).collect();
        assert_eq!(got.len(), 11);
        assert_eq!(got[0], Ipv4Addr::new(10, 0, 0, 20));
        assert_eq!(got[10], Ipv4Addr::new(10, 0, 0, 30));
        assert_eq!(a.lowest_free(&s, Duration::ZERO), None);
    }

    #[test]
    fn freed_addresses_come_back_after_the_quarantine_lowest_first() {
        let s = subnet("10.0.0.16/28");
        let mut a = Allocator::default();
        let got: Vec<_> = std::iter::from_fn(|| allocate_at(&mut a, &s, Duration::ZERO)).collect();
        let t = Duration::from_secs(10);
        a.release("a", got[7], t);
        a.release("a", got[3], t);
        assert_eq!(
            a.lowest_free(&s, t + QUARANTINE - Duration::from_secs(1)),
            None
        );
        let later = t + QUARANTINE;
        assert_eq!(allocate_at(&mut a, &s, later), Some(got[3]), "lowest first");
        assert_eq!(allocate_at(&mut a, &s, later), Some(got[7]));
        assert_eq!(a.lowest_free(&s, later), None);
        // A huge `now` does not overflow.
        a.release("a", got[0], Duration::MAX);
        assert_eq!(a.lowest_free(&s, Duration::MAX), Some(got[0]));
    }
}
