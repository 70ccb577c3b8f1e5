//! Private DNS: compiled, immutable answers per view, one view per VPC resolver plus the
//! public view that on-premises hosts use (docs/behaviour.md §1-§4).
//!
//! - [`DnsSnapshot`] is built from the control plane ([`DnsSnapshot::compile`], or
//!   [`DnsSnapshot::update`] that rebuilds only what a change touched) and answers wire
//!   queries ([`DnsSnapshot::answer_bytes`]) and typed ones ([`DnsSnapshot::lookup`])
//!   through one lookup path;
//! - [`DnsHandle`] holds the current snapshot behind `arc-swap`: readers never lock;
//! - [`server`] binds real sockets and answers on them (UDP, and TCP through its own
//!   accept loop), forwarding a VPC view's out-of-zone names to an upstream resolver
//!   when one is configured; with its `tcp` and `upstream` helpers, the only modules
//!   here that do IO;
//! - [`zonefile`] writes a view as RFC 1035 zone files.
//!
//! The core (everything but `server`, `tcp` and `upstream`) is sans-IO: it never reads
//! a clock or a socket.

mod answer;
mod compile;
mod hash;
mod lookup;
mod name;
pub mod server;
pub mod synth;
mod tcp;
mod upstream;
mod view;
pub mod zonefile;

use std::sync::{Arc, LazyLock};

use arc_swap::ArcSwap;
use hickory_proto::rr::RecordType;

pub use answer::{
    EDNS_PAYLOAD, MAX_QUERY, MAX_UDP_PAYLOAD, Outcome, SOA_MNAME, SOA_RNAME, SOA_TIMERS, TTL,
};
pub use compile::DnsSnapshot;
pub use lookup::Lookup;

use view::{Layers, VpcView};

/// Which resolver asks.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ViewId {
    /// The resolver of the VPC with this name (instances in it, at base+2 and
    /// 169.254.169.253).
    Vpc(String),
    /// Public DNS: on-premises hosts and anyone outside a VPC.
    Public,
}

impl std::fmt::Display for ViewId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Vpc(name) => write!(f, "vpc {name}"),
            Self::Public => f.write_str("public"),
        }
    }
}

/// The resolver of a VPC the snapshot does not know: refuses everything.
static NO_RESOLVER: LazyLock<VpcView> = LazyLock::new(VpcView::default);

impl DnsSnapshot {
    fn layers(&self, view: &ViewId) -> Layers<'_> {
        let inner = &*self.0;
        let vpc = match view {
            ViewId::Public => None,
            ViewId::Vpc(name) => Some(
                inner
                    .vpcs
                    .get(name.as_str())
                    .map_or(&*NO_RESOLVER, |v| &**v),
            ),
        };
        Layers {
            vpc,
            vpce: &inner.vpce,
            public: &inner.public,
        }
    }

    /// Answers one wire-format query as the resolver of `view`; `max_size` is the UDP
    /// payload limit (512, raised by the query's own EDNS size) or `u16::MAX` for TCP.
    /// Returns an empty vector for a packet that gets no answer (shorter than a header,
    /// or a response). Never panics on any input.
    pub fn answer_bytes(&self, view: &ViewId, query: &[u8], max_size: u16) -> Vec<u8> {
        let mut out = Vec::with_capacity(512);
        self.answer_into(view, query, max_size, &mut out);
        out
    }

    /// [`Self::answer_bytes`] into a reused buffer; says whether the name was outside
    /// the served zones (for a server that forwards those upstream).
    pub fn answer_into(
        &self,
        view: &ViewId,
        query: &[u8],
        max_size: u16,
        out: &mut Vec<u8>,
    ) -> Outcome {
        answer::answer_into(&self.layers(view), self.serial(), query, max_size, out)
    }

    /// The same lookup, typed, for the runner's `resolve` step.
    pub fn lookup(&self, view: &ViewId, name: &str, rtype: RecordType) -> Lookup {
        let key = name::key_of(name);
        lookup::from_found(name, rtype, self.layers(view).find(&key))
    }

    /// The names of the VPCs it has views for, sorted.
    pub fn vpc_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.0.vpcs.keys().map(|k| k.to_string()).collect();
        names.sort();
        names
    }

    /// How many regional and zonal names the vpce layer holds.
    pub fn vpce_name_count(&self) -> usize {
        self.0.vpce.shards.iter().map(|s| s.len()).sum()
    }

    /// The private names active in a VPC's view (sorted keys; `*.` marks a wildcard).
    pub fn private_names(&self, vpc: &str) -> Vec<String> {
        let Some(view) = self.0.vpcs.get(vpc) else {
            return Vec::new();
        };
        let mut names: Vec<String> = Vec::new();
        for (key, node) in &view.names {
            let name = String::from_utf8_lossy(key);
            if node.here.is_some() {
                names.push(name.to_string());
            }
            if node.below.is_some() {
                names.push(format!("*.{name}"));
            }
        }
        names.sort();
        names
    }
}

/// Holds the current snapshot; readers load it without locks.
#[derive(Debug)]
pub struct DnsHandle(ArcSwap<DnsSnapshot>);

impl DnsHandle {
    /// A handle that serves `snapshot`.
    pub fn new(snapshot: DnsSnapshot) -> Self {
        Self(ArcSwap::from_pointee(snapshot))
    }

    /// The current snapshot.
    pub fn load(&self) -> Arc<DnsSnapshot> {
        self.0.load_full()
    }

    /// Serves `snapshot` from the next query on.
    pub fn store(&self, snapshot: DnsSnapshot) {
        self.0.store(Arc::new(snapshot));
    }

    /// Brings the answers up to the control plane's state, rebuilding only what changed.
    pub fn refresh(&self, control: &crate::control::ControlPlane) {
        let next = self.load().update(control);
        self.store(next);
    }
}

#[cfg(test)]
mod tests;
