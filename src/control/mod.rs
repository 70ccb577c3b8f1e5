//! The control plane: every change to the topology, on simulated time.
//!
//! Sans-IO: each call takes `now` (time since the world started) and nothing here reads
//! a clock or touches a socket, so `vpcesim run` drives it on simulated time and
//! `vpcesim serve` on wall time. It reproduces the lifecycle, validation and errors of
//! docs/behaviour.md §3, §4, §7 and §8.

pub(crate) mod alloc;
pub mod describe;
mod endpoint;
mod error;
mod index;
mod journal;
mod lifecycle;
pub mod names;
mod notifications;
mod notify;
pub mod provider;
pub mod service;
mod tags;

use std::collections::BTreeMap;
use std::time::Duration;

use indexmap::IndexMap;

pub use alloc::QUARANTINE;
pub use endpoint::{CreateEndpoint, ModifyEndpoint};
pub use error::{ApiError, ErrorCode};
pub use journal::Touched;
pub use notifications::{WatchedId, parse_events};
pub use notify::Delivery;
pub use provider::{CreateServiceConfiguration, ModifyServiceConfiguration, ServiceConfig};
pub use service::ServiceInfo;
pub use tags::TAGS_PER_RESOURCE;

use crate::model::{Endpoint, IdGen, Topology};
use alloc::Allocator;
use lifecycle::Transition;

/// AWS's quota of interface endpoints per VPC (docs/behaviour.md §4).
pub const ENDPOINTS_PER_VPC: usize = 50;

/// The wall-clock instant simulated time 0 stands for in timestamps
/// (2025-01-01T00:00:00Z): AWS's API reports times, simulations need a fixed one.
pub const SIMULATION_EPOCH_UNIX: u64 = 1_735_689_600;

/// The owner of every change to a simulated Region.
#[derive(Debug, Clone)]
pub struct ControlPlane {
    topology: Topology,
    ids: IdGen,
    provisioning: Duration,
    now: Duration,
    schedule: BTreeMap<(Duration, u64), Transition>,
    sequence: u64,
    allocator: Allocator,
    deliveries: IndexMap<String, Vec<Delivery>>,
    generation: u64,
    epoch_unix: u64,
    /// Tags of resources whose model has no tag list (VPCs, subnets, groups, services,
    /// ENIs, notifications), by resource ID.
    tags: IndexMap<String, IndexMap<String, String>>,
    /// What the API stores about providers' services beyond the model, by service key.
    service_configs: IndexMap<String, ServiceConfig>,
    journal: journal::Journal,
    index: index::Index,
    /// Set while a call only validates (an API `DryRun`): every change stops at its
    /// commit point with `DryRunOperation`.
    validate_only: bool,
}

impl ControlPlane {
    /// A control plane over `topology`, whose instances already hold their addresses.
    pub fn new(topology: Topology, seed: u64, provisioning: Duration) -> Self {
        let allocator = Allocator::new(&topology);
        let index = index::Index::new(&topology);
        Self {
            topology,
            ids: IdGen::new(seed),
            provisioning,
            now: Duration::ZERO,
            schedule: BTreeMap::new(),
            sequence: 0,
            allocator,
            deliveries: IndexMap::new(),
            generation: 0,
            epoch_unix: SIMULATION_EPOCH_UNIX,
            tags: IndexMap::new(),
            service_configs: IndexMap::new(),
            journal: journal::Journal::default(),
            index,
            validate_only: false,
        }
    }

    /// Runs `f` with commits turned off: every change validates (and plans its
    /// allocations) as usual, then answers `DryRunOperation` instead of changing
    /// anything. This is how an API `DryRun` is answered without copying the world.
    pub fn without_commit<T>(&mut self, f: impl FnOnce(&mut Self) -> T) -> T {
        self.validate_only = true;
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(self)));
        self.validate_only = false;
        result.unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    }

    /// The commit point of every change: everything before it only validates and
    /// plans; after it nothing may fail. Refuses with `DryRunOperation` while
    /// [`Self::without_commit`] runs.
    pub(crate) fn may_commit(&self) -> Result<(), ApiError> {
        if self.validate_only {
            Err(ApiError::new(
                ErrorCode::DryRunOperation,
                "Request would have succeeded, but DryRun flag is set.",
            ))
        } else {
            Ok(())
        }
    }

    /// Sets the wall-clock instant that time 0 stands for (for `serve`, the start).
    pub fn set_epoch_unix(&mut self, epoch_unix: u64) {
        self.epoch_unix = epoch_unix;
    }

    /// The topology as it is now.
    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    /// The simulated time of the last call.
    pub fn now(&self) -> Duration {
        self.now
    }

    /// The ID generator of this world.
    pub fn ids(&self) -> &IdGen {
        &self.ids
    }

    /// Counts changes: readers rebuild their snapshots when it moves.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The delay from `pending` to `available` and from `deleting` to `deleted`.
    pub fn provisioning(&self) -> Duration {
        self.provisioning
    }

    /// The earliest pending lifecycle transition, if any.
    pub fn next_transition_at(&self) -> Option<Duration> {
        self.schedule.keys().next().map(|(at, _)| *at)
    }

    /// Applies every lifecycle transition due at or before `now`.
    pub fn advance(&mut self, now: Duration) {
        self.now = self.now.max(now);
        while let Some(entry) = self.schedule.first_entry() {
            if entry.key().0 > self.now {
                break;
            }
            let ((at, _), transition) = entry.remove_entry();
            self.apply_transition(at, transition);
        }
    }

    /// Sets a VPC's DNS attributes (`ModifyVpcAttribute`); `None` leaves one as it is.
    pub fn set_vpc_attributes(
        &mut self,
        now: Duration,
        vpc: &str,
        dns_support: Option<bool>,
        dns_hostnames: Option<bool>,
    ) -> Result<(), ApiError> {
        self.advance(now);
        let key = self.vpc_key(vpc)?;
        self.may_commit()?;
        let vpc = &mut self.topology.vpcs[&key];
        if let Some(on) = dns_support {
            vpc.dns_support = on;
        }
        if let Some(on) = dns_hostnames {
            vpc.dns_hostnames = on;
        }
        self.touch(Touched::Vpc(key));
        self.changed();
        Ok(())
    }

    /// Replaces a security group's rule lists; `None` keeps a list as it is.
    pub fn set_security_group(
        &mut self,
        now: Duration,
        key: &str,
        ingress: Option<Vec<crate::model::SgRule>>,
        egress: Option<Vec<crate::model::SgRule>>,
    ) -> Result<(), ApiError> {
        self.advance(now);
        if !self.topology.security_groups.contains_key(key) {
            return Err(ApiError::new(
                ErrorCode::InvalidGroupNotFound,
                format!("The security group '{key}' does not exist"),
            ));
        }
        self.may_commit()?;
        let group = &mut self.topology.security_groups[key];
        if let Some(rules) = ingress {
            group.ingress = rules;
        }
        if let Some(rules) = egress {
            group.egress = rules;
        }
        self.changed();
        Ok(())
    }

    /// Replaces a network ACL's entry lists; `None` keeps a list as it is.
    pub fn set_nacl(
        &mut self,
        now: Duration,
        key: &str,
        inbound: Option<Vec<crate::model::NaclEntry>>,
        outbound: Option<Vec<crate::model::NaclEntry>>,
    ) -> Result<(), ApiError> {
        self.advance(now);
        if !self.topology.nacls.contains_key(key) {
            return Err(ApiError::new(
                ErrorCode::InvalidParameterValue,
                format!("The network ACL '{key}' does not exist"),
            ));
        }
        self.may_commit()?;
        let nacl = &mut self.topology.nacls[key];
        if let Some(mut entries) = inbound {
            entries.sort_by_key(|e| e.rule);
            nacl.inbound = entries;
        }
        if let Some(mut entries) = outbound {
            entries.sort_by_key(|e| e.rule);
            nacl.outbound = entries;
        }
        self.changed();
        Ok(())
    }

    /// The ISO 8601 timestamp (with milliseconds, as EC2 prints) of simulated time `at`,
    /// at most 9999-12-31T23:59:59.999Z (a huge simulated time does not overflow).
    pub fn timestamp(&self, at: Duration) -> String {
        const LAST: Duration = Duration::from_millis(253_402_300_799_999);
        let since_unix = Duration::from_secs(self.epoch_unix)
            .saturating_add(at)
            .min(LAST);
        humantime::format_rfc3339_millis(std::time::UNIX_EPOCH + since_unix).to_string()
    }

    fn changed(&mut self) {
        self.generation += 1;
    }

    fn vpc_key(&self, vpc: &str) -> Result<String, ApiError> {
        let found = self
            .topology
            .vpcs
            .get(vpc)
            .map(|v| v.name.clone())
            .or_else(|| {
                self.topology
                    .vpcs
                    .values()
                    .find(|v| v.id == vpc)
                    .map(|v| v.name.clone())
            });
        found.ok_or_else(|| {
            ApiError::new(
                ErrorCode::InvalidVpcIdNotFound,
                format!("The vpc ID '{vpc}' does not exist"),
            )
        })
    }

    /// The endpoint whose ID is `id` (indexed: no scan of the endpoints).
    pub(crate) fn endpoint_by_id(&self, id: &str) -> Option<&Endpoint> {
        let key = self.index.endpoint_key(id)?;
        self.topology.endpoints.get(key)
    }

    /// The key of the endpoint named `name`, or whose ID is `name`.
    pub fn endpoint_key(&self, name: &str) -> Result<String, ApiError> {
        let found = self
            .topology
            .endpoints
            .get(name)
            .map(|e| e.name.clone())
            .or_else(|| self.index.endpoint_ids.get(name).cloned());
        found.ok_or_else(|| {
            ApiError::new(
                ErrorCode::InvalidVpcEndpointIdNotFound,
                format!("The Vpc Endpoint Id '{name}' does not exist"),
            )
        })
    }
}

#[cfg(test)]
pub(crate) mod testkit;
#[cfg(test)]
mod tests;
