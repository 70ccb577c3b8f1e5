//! The packet-level virtual network: a deterministic network on simulated
//! time that `vpcesim run` drives for `resolve`, `connect` and `transfer` steps.
//!
//! Every instance, on-premises host and endpoint ENI is a smoltcp interface
//! ([`host`]); the [`fabric`] carries IPv4 packets between them with the latencies,
//! MTU and MSS clamping of docs/behaviour.md §5-6, decides each flow once through
//! the policy engine ([`gate`], the only caller of `crate::policy`), and applies the
//! endpoint's token buckets as queueing delay, never loss. An ENI terminates TCP and
//! runs the service's backend model (echo, sink, source) itself ([`apps`]); a
//! transfer's bytes are real and the receiver checks their CRC-32. The VPC resolver
//! answers UDP queries inside the fabric through a [`Resolver`] the caller plugs in.
//!
//! Latency: 50 µs one way within an AZ, 300 µs across AZs; on-premises hosts have no
//! AZ and always see the cross-AZ latency (the attachment adds nothing on top).
//!
//! May not touch: sockets, clocks, threads. Everything takes `now` and runs to
//! completion on simulated time.

mod apps;
mod device;
mod events;
mod fabric;
mod gate;
mod host;
mod network;
mod packet;
mod resolver;
mod steps;

pub use fabric::{CROSS_AZ_LATENCY, FabricStats, PATH_MSS, SAME_AZ_LATENCY};
pub use host::{INSTANCE_MTU, PATH_MTU, VPN_MTU};
pub use network::{
    ConnectReport, MAX_TRANSFER_BYTES, Network, RESOLVE_TIMEOUT, TransferReport, window_for,
};
pub use resolver::{DnsView, LINK_LOCAL_RESOLVER, PUBLIC_RESOLVER, Resolver};
