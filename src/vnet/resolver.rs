//! The DNS resolvers inside the fabric: every VPC's resolver at its CIDR base + 2 and
//! 169.254.169.253, and a public resolver for on-premises hosts.
//!
//! The fabric only carries the datagrams: the answer comes from a [`Resolver`] the
//! caller plugs in (the DNS snapshot of `crate::dns`), so the fabric and the real
//! server answer through the same lookup.

use std::net::Ipv4Addr;

/// Which DNS view answers a query: the DNS layer's own view type, so the fabric and
/// the real server name views the same way.
pub use crate::dns::ViewId as DnsView;

/// Answers a DNS query in wire format; the fabric calls it for every datagram that
/// reaches a resolver.
pub trait Resolver {
    /// The response to `query` as seen from `view`; `max_size` is the largest datagram
    /// the fabric carries back (the DNS layer applies the EDNS or 512-byte limit itself).
    fn answer(&self, view: &DnsView, query: &[u8], max_size: u16) -> Vec<u8>;
}

impl<F: Fn(&DnsView, &[u8], u16) -> Vec<u8>> Resolver for F {
    fn answer(&self, view: &DnsView, query: &[u8], max_size: u16) -> Vec<u8> {
        self(view, query, max_size)
    }
}

/// The address on-premises hosts send their queries to. vpcesim models no internet
/// path, so this stands for "a public resolver" (TEST-NET-2, never a VPC address).
pub const PUBLIC_RESOLVER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 53);

/// The link-local resolver address every VPC answers on.
pub const LINK_LOCAL_RESOLVER: Ipv4Addr = crate::model::Vpc::LINK_LOCAL_RESOLVER;

/// A stand-in answer when no resolver is plugged in (a UDP `connect` probe to port 53):
/// the query echoed back as a response with rcode SERVFAIL, so a datagram comes back.
pub(crate) fn servfail(query: &[u8]) -> Vec<u8> {
    let mut r = query.to_vec();
    if r.len() >= 4 {
        r[2] |= 0x80; // QR
        r[3] = (r[3] & 0xf0) | 2; // SERVFAIL
    }
    r
}
