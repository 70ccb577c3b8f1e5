//! The one place the fabric calls the policy engine (`crate::policy`): a flow's
//! verdict, turned into what the fabric does with its packets, and the buckets.
//!
//! `PolicySnapshot::decide` reports the first check that blocks in the contract's
//! order, whatever order the packets meet them in (docs/behaviour.md §5). The
//! fabric enforces it where a real network would: a block on the forward path drops
//! the SYN (or the first datagram); a block on the reply path (the ENI subnet's NACL
//! outbound, the client subnet's NACL inbound) lets the SYN reach the ENI and drops
//! the SYN-ACK, so the client times out all the same.

use std::time::Duration;

use super::host::Host;
use crate::model::{Backend, Bandwidth};

use crate::policy::{
    BlockKind, BlockedBy, BucketTable, FlowDirection, FlowKey, Initiator, PolicySnapshot, Verdict,
};

/// What the fabric does with a flow's packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    /// Carry both directions.
    Pass,
    /// Drop what the client sends.
    DropForward,
    /// Carry what the client sends, drop what comes back.
    DropReply,
}

/// The buckets a flow's payload is metered against (endpoint, AZ ID), as the index of
/// their pair in the gate's table: found once per flow, so a packet costs no map
/// lookup and no allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Meter {
    pair: usize,
}

/// A flow's verdict in the fabric's terms.
#[derive(Debug, Clone)]
pub(crate) struct Decision {
    pub(crate) action: Action,
    /// Why it is blocked, as the policy engine says.
    pub(crate) blocked: Option<BlockedBy>,
    /// The host the client's packets go to (an ENI ID), if they go anywhere.
    pub(crate) server: Option<String>,
    pub(crate) meter: Option<Meter>,
    pub(crate) backend: Option<Backend>,
}

/// The policy snapshot and the buckets.
pub(crate) struct Gate {
    pub(crate) policy: PolicySnapshot,
    buckets: BucketTable,
}

impl Gate {
    /// A gate over `policy`, with full buckets of `bandwidth`.
    pub(crate) fn new(policy: PolicySnapshot, bandwidth: Bandwidth) -> Self {
        Self {
            policy,
            buckets: BucketTable::new(bandwidth),
        }
    }

    /// Takes a new policy; the buckets keep their state unless the bandwidth changed.
    pub(crate) fn update(&mut self, policy: PolicySnapshot, bandwidth: Bandwidth) {
        self.policy = policy;
        if bandwidth != self.buckets.bandwidth() {
            self.buckets.reset(bandwidth);
        }
    }

    /// Decides a new flow from `client`; `eni_at_dst` finds the ENI that holds the
    /// destination address in the client's VPC, if any, and is called only for a drop.
    pub(crate) fn decide<'h>(
        &mut self,
        now: Duration,
        initiator: &Initiator,
        key: &FlowKey,
        client: &Host,
        eni_at_dst: impl FnOnce() -> Option<&'h Host>,
    ) -> Decision {
        match self.policy.decide(initiator, key) {
            Verdict::Allow(admitted) => Decision {
                action: Action::Pass,
                blocked: None,
                server: Some(admitted.eni.clone()),
                meter: Some(Meter {
                    pair: self
                        .buckets
                        .pair(&admitted.endpoint, &admitted.az_id, now, |pair| pair)
                        .0,
                }),
                backend: Some(admitted.backend),
            },
            Verdict::Block(blocked) => {
                let reply_path = eni_at_dst().filter(|eni| on_reply_path(&blocked, client, eni));
                Decision {
                    action: if reply_path.is_some() {
                        Action::DropReply
                    } else {
                        Action::DropForward
                    },
                    server: reply_path.map(|eni| eni.name.clone()),
                    blocked: Some(blocked),
                    meter: None,
                    backend: None,
                }
            }
        }
    }

    /// Whether a tracked flow is blocked under the current policy.
    pub(crate) fn recheck(&self, initiator: &Initiator, key: &FlowKey) -> Option<BlockedBy> {
        self.policy.recheck(initiator, key)
    }

    /// When `bytes` of payload may go through `meter`'s bucket; `to_service` is the
    /// client-to-ENI direction.
    pub(crate) fn reserve(
        &mut self,
        meter: &Meter,
        to_service: bool,
        now: Duration,
        bytes: u64,
    ) -> Duration {
        let dir = if to_service {
            FlowDirection::ToService
        } else {
            FlowDirection::FromService
        };
        match self.buckets.get_mut(meter.pair) {
            Some(pair) => pair[dir.index()].reserve(now, bytes),
            // A meter from before a bandwidth change: its buckets are gone, so the
            // flow is no longer metered (flows never outlive a step today).
            None => now,
        }
    }
}

/// Whether `blocked` is a NACL on the reply path: the ENI subnet's outbound entries or
/// the client subnet's inbound entries.
fn on_reply_path(blocked: &BlockedBy, client: &Host, eni: &Host) -> bool {
    if blocked.kind != BlockKind::NetworkAcl {
        return false;
    }
    let is = |host: &Host| {
        blocked
            .subnet
            .as_ref()
            .is_some_and(|s| Some(s) == host.subnet.as_ref() || Some(s) == host.subnet_id.as_ref())
    };
    match blocked.direction {
        Some("outbound") => is(eni),
        Some("inbound") => is(client),
        _ => false,
    }
}
