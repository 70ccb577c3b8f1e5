//! The public addresses a catalog service's default name answers outside a VPC with
//! private DNS: a fixed, deterministic set per service and Region.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

/// Public /16 blocks that AWS announces (AMAZON and S3 ranges of ip-ranges.json);
/// catalog addresses are drawn from them so they look like real service addresses.
pub(super) const PUBLIC_BLOCKS: &[[u8; 2]] = &[[52, 94], [54, 239], [52, 46], [52, 119], [3, 5]];

/// 2 or 3 addresses from a stable hash of (Region, short name); a collision with an
/// address already in `used` is resolved by rehashing with a counter, and the chosen
/// addresses are added to `used`.
pub(super) fn public_addresses(
    region: &str,
    short: &str,
    used: &mut BTreeSet<Ipv4Addr>,
) -> Vec<Ipv4Addr> {
    let seed = fnv1a64(format!("{region}\0{short}").as_bytes());
    let count = 2 + usize::from(seed & 1 == 1);
    let mut addresses = Vec::with_capacity(count);
    let mut attempt: u64 = 0;
    while addresses.len() < count {
        let hash = fnv1a64(&[seed.to_le_bytes(), attempt.to_le_bytes()].concat());
        attempt += 1;
        let [a, b] = PUBLIC_BLOCKS[usize::try_from(hash % 5).unwrap_or_default()];
        let [.., c, d] = hash.to_be_bytes();
        // Avoid .0 and .255: valid in a /16, but they read as network/broadcast.
        let address = Ipv4Addr::new(a, b, c, d);
        if d != 0 && d != 255 && used.insert(address) {
            addresses.push(address);
        }
    }
    addresses
}

/// A stable 64-bit FNV-1a hash (std's `DefaultHasher` is not guaranteed stable
/// across releases, and catalog addresses must be).
fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collisions_are_resolved() {
        let mut used = BTreeSet::new();
        let first = public_addresses("us-east-1", "sqs", &mut used);
        // Same inputs again: every first choice is taken, so all must be fresh.
        let second = public_addresses("us-east-1", "sqs", &mut used);
        assert_eq!(first.len(), second.len());
        assert!(first.iter().all(|ip| !second.contains(ip)));
    }
}
