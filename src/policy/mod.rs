//! The policy engine (sans-IO): security groups, network ACLs, connection tracking, the
//! flow decision of docs/behaviour.md §5, and the token buckets of §6.
//!
//! - Security groups are stateful unions of allow rules; a group reference matches the
//!   addresses of the instances and ENIs that carry the group.
//! - Network ACLs are stateless, first match in ascending rule order, `*` denies; they
//!   apply where a flow crosses a subnet boundary, never within a subnet.
//! - Connection tracking: [`PolicySnapshot::recheck`] keeps a tracked flow through
//!   security group changes and cuts it on NACL, endpoint state or ENI changes.
//!
//! Nothing here reads a clock or touches a socket: the packet-level network
//! (`crate::vnet`) drives it on simulated time and the TCP forwarder
//! (`crate::forwarder`) on wall time.

mod bucket;
mod rules;
mod snapshot;
#[cfg(test)]
mod tests;
mod verdict;

use std::net::Ipv4Addr;

pub use crate::model::Proto;
pub use bucket::{BucketPair, BucketTable, FlowDirection, TokenBucket, bucket_limits};
pub use snapshot::PolicySnapshot;
pub use verdict::{Admitted, BlockKind, BlockedBy, Verdict};

/// Who starts a flow.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Initiator {
    /// An instance name or on-premises host name.
    Host(String),
    /// A `[services]` name or AWS service name: the provider's side.
    Provider(String),
}

/// The first and last ephemeral port a consumer uses: Linux's default range
/// (docs/behaviour.md §5).
pub const EPHEMERAL_PORTS: (u16, u16) = (32768, 60999);

/// The `n`th ephemeral port of a host (counting from 0): its ports go in sequence and
/// wrap round [`EPHEMERAL_PORTS`].
pub fn ephemeral_port(n: u64) -> u16 {
    let span = u64::from(EPHEMERAL_PORTS.1 - EPHEMERAL_PORTS.0) + 1;
    // `n % span` < span <= 28,232: the sum stays within the range.
    EPHEMERAL_PORTS.0 + u16::try_from(n % span).unwrap_or(0)
}

/// A flow's 5-tuple as the consumer sends it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FlowKey {
    /// The consumer's address.
    pub src: Ipv4Addr,
    /// The consumer's (ephemeral) port.
    pub src_port: u16,
    /// The ENI's address.
    pub dst: Ipv4Addr,
    /// The service port.
    pub dst_port: u16,
    /// The protocol.
    pub proto: Proto,
}

/// Where a host is and which DNS view it resolves through.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostInfo {
    /// The instance's or on-premises host's address.
    pub ip: Ipv4Addr,
    /// The VPC whose resolver it asks (`None` for on-premises: the public view).
    pub vpc: Option<String>,
    /// The AZ ID of its subnet (`None` for on-premises).
    pub az_id: Option<String>,
}
