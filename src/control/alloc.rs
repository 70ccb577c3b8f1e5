//! Private address allocation: lowest free address first, never reusing a freed one.

use std::collections::{BTreeSet, HashMap};
use std::net::Ipv4Addr;

use crate::model::{Subnet, Topology};

/// Which addresses of each subnet have ever been used.
#[derive(Debug, Clone, Default)]
pub(crate) struct Allocator {
    subnets: HashMap<String, SubnetAddresses>,
}

#[derive(Debug, Clone, Default)]
struct SubnetAddresses {
    /// Every usable address below this one has been used: a freed address is never
    /// handed out again, so the cursor only moves forward.
    cursor: u32,
    /// Addresses at or above the cursor already taken (explicit instance addresses).
    taken: BTreeSet<u32>,
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
        let ip = u32::from(ip);
        ip >= entry.cursor && entry.taken.insert(ip)
    }

    /// The lowest usable address of `subnet` never used before; `None` when it is full.
    pub(crate) fn allocate(&mut self, subnet: &Subnet) -> Option<Ipv4Addr> {
        let entry = self.subnets.entry(subnet.name.clone()).or_default();
        let first = u32::from(subnet.cidr.network()) + 4;
        let last = u32::from(subnet.cidr.broadcast()).checked_sub(1)?;
        let mut candidate = entry.cursor.max(first);
        while candidate <= last {
            if entry.taken.remove(&candidate) {
                candidate += 1;
                continue;
            }
            entry.cursor = candidate + 1;
            return Some(Ipv4Addr::from(candidate));
        }
        entry.cursor = candidate;
        None
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

    #[test]
    fn lowest_free_first_skipping_taken() {
        let s = subnet("10.0.1.0/24");
        let mut a = Allocator::default();
        assert!(a.reserve("a", Ipv4Addr::new(10, 0, 1, 5)));
        assert!(!a.reserve("a", Ipv4Addr::new(10, 0, 1, 5)));
        assert_eq!(a.allocate(&s), Some(Ipv4Addr::new(10, 0, 1, 4)));
        assert_eq!(a.allocate(&s), Some(Ipv4Addr::new(10, 0, 1, 6)));
    }

    #[test]
    fn full_subnet_yields_none() {
        let s = subnet("10.0.0.16/28");
        let mut a = Allocator::default();
        let got: Vec<_> = std::iter::from_fn(|| a.allocate(&s)).collect();
        assert_eq!(got.len(), 11);
        assert_eq!(got[0], Ipv4Addr::new(10, 0, 0, 20));
        assert_eq!(got[10], Ipv4Addr::new(10, 0, 0, 30));
        assert_eq!(a.allocate(&s), None);
    }
}
