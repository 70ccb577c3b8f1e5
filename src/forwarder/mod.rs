//! The TCP forwarder of `vpcesim serve --forward LISTEN=FROM@HOST:PORT`, on tokio.
//!
//! Each connection accepted on LISTEN is a TCP flow from instance or on-premises host
//! FROM to HOST:PORT, HOST resolved through FROM's view ([`HostResolver`]). The flow
//! decision is the policy engine's ([`crate::policy::PolicySnapshot::decide`]):
//! - allowed: relayed both ways to the service's backend (`echo`, `sink`, `source` in
//!   process, or a real `HOST:PORT` on loopback), paced by the token buckets of the
//!   endpoint's AZ, half-close respected;
//! - dropped: the connection is held open silently, nothing read, nothing sent, so the
//!   client times out as it would in AWS. The kernel has already completed the handshake
//!   before vpcesim sees the connection, so a port scanner sees the port open;
//! - refused by a real backend: the client gets a reset.
//!
//! [`ForwardContext::apply`] installs a new policy snapshot (after SIGHUP) and cuts the
//! live flows that it no longer admits: NACL, endpoint state and ENI changes cut,
//! security group changes do not (connection tracking). A cut flow goes silent like a
//! dropped one. This module is an adapter: the policy itself stays sans-IO.

mod backend;
mod flowlog;
mod limits;
mod notice;
mod pacing;
mod relay;
mod server;
mod source;
mod spec;

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};

pub use flowlog::{FlowAction, FlowLog, FlowRecord, MSS};
pub use server::{
    ForwardConfig, ForwardContext, ForwardOptions, ForwardStats, Forwarder, Forwarders,
    run_forwarders,
};
pub use source::SOURCES;
pub use spec::{ForwardSpec, SpecError};

use crate::policy::Initiator;

/// Resolves the HOST of a `--forward` as its FROM would (the DNS view of FROM's VPC, or
/// the public view for on-premises hosts). `serve` wires the DNS engine in.
pub trait HostResolver: Send + Sync {
    /// The first A record of `host` seen from `from`, if it resolves.
    fn resolve(&self, from: &Initiator, host: &str) -> Option<Ipv4Addr>;
}

/// A fixed name-to-address map, the same from every view (tests and benchmarks).
impl HostResolver for HashMap<String, Ipv4Addr> {
    fn resolve(&self, _from: &Initiator, host: &str) -> Option<Ipv4Addr> {
        self.get(&host.to_ascii_lowercase()).copied()
    }
}

/// Why the forwarder cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    /// LISTEN cannot be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// FROM is no instance or on-premises host of the topology.
    #[error("--forward {listen}: `{from}` is no instance or on-premises host of the topology")]
    UnknownHost {
        /// The LISTEN address.
        listen: SocketAddr,
        /// The FROM name.
        from: String,
    },
    /// The flow log cannot be created.
    #[error("cannot create the flow log {path}: {source}")]
    FlowLog {
        /// The file.
        path: std::path::PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}
