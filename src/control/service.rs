//! One view of a service, whether it is in the built-in catalog or a provider's.

use std::net::Ipv4Addr;

use crate::catalog;
use crate::model::{Backend, IdGen, Region, ServiceRef, Topology};

/// The facts about a service that endpoints, DNS and the forwarder need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceInfo {
    /// How an endpoint refers to it.
    pub reference: ServiceRef,
    /// `com.amazonaws.us-east-1.kinesis-streams` or `com.amazonaws.vpce.us-east-1.vpce-svc-...`
    pub service_name: String,
    /// `vpce-svc-...` (synthetic but stable for AWS services).
    pub service_id: String,
    /// The part of vpce names between the endpoint label and the Region.
    pub dns_part: String,
    /// `amazon`, or the provider's account ID.
    pub owner: String,
    /// Whether endpoints wait in `pendingAcceptance`.
    pub acceptance_required: bool,
    /// AZ IDs served; `None` for every AZ of the Region.
    pub az_ids: Option<Vec<String>>,
    /// TCP ports it listens on.
    pub ports: Vec<u16>,
    /// Private DNS names (wildcards included); empty when it has none.
    pub private_dns_names: Vec<String>,
    /// Whether a provider's private name is answered as a CNAME to the regional name.
    pub private_name_is_cname: bool,
    /// Private DNS when the endpoint does not say.
    pub private_dns_by_default: bool,
    /// `VpcEndpointPolicySupported`.
    pub policy_supported: bool,
    /// Public addresses of its default name (AWS services only).
    pub public_addresses: Vec<Ipv4Addr>,
    /// `BaseEndpointDnsNames`.
    pub base_endpoint_dns_names: Vec<String>,
    /// Whether it is a Marketplace partner service.
    pub marketplace: bool,
    /// What answers behind it.
    pub backend: Backend,
}

impl ServiceInfo {
    /// Whether the service has an AZ with ID `az_id`.
    pub fn serves_az(&self, az_id: &str) -> bool {
        self.az_ids
            .as_ref()
            .is_none_or(|ids| ids.iter().any(|id| id == az_id))
    }

    /// Whether this is a built-in AWS service.
    pub fn is_aws(&self) -> bool {
        matches!(self.reference, ServiceRef::Aws(_))
    }

    /// Finds a service by full service name, or by the name of a `[services]` table.
    pub fn find(topology: &Topology, name: &str) -> Option<Self> {
        if let Some(svc) = topology.services.get(name) {
            return Some(Self::provider(topology, &svc.name));
        }
        if let Some(svc) = topology.services.values().find(|s| s.service_name == name) {
            return Some(Self::provider(topology, &svc.name));
        }
        catalog::lookup(&topology.region, name).map(|entry| Self::aws(topology, entry))
    }

    /// The info for a service an endpoint refers to.
    pub fn of(topology: &Topology, reference: &ServiceRef) -> Option<Self> {
        match reference {
            ServiceRef::Aws(name) => {
                catalog::lookup(&topology.region, name).map(|entry| Self::aws(topology, entry))
            }
            ServiceRef::Provider(name) => topology
                .services
                .contains_key(name)
                .then(|| Self::provider(topology, name)),
        }
    }

    fn aws(topology: &Topology, entry: &catalog::CatalogService) -> Self {
        let backend = topology
            .backends
            .get(&entry.service_name)
            .copied()
            .unwrap_or(Backend::Echo);
        Self {
            reference: ServiceRef::Aws(entry.service_name.clone()),
            service_id: aws_service_id(&entry.service_name),
            service_name: entry.service_name.clone(),
            dns_part: entry.dns_part.clone(),
            owner: "amazon".into(),
            acceptance_required: false,
            az_ids: None,
            ports: entry.ports.clone(),
            private_dns_names: entry.private_dns_names.clone(),
            private_name_is_cname: false,
            private_dns_by_default: entry.private_dns_by_default,
            policy_supported: entry.policy_supported,
            public_addresses: entry.public_addresses.clone(),
            base_endpoint_dns_names: entry.base_endpoint_dns_names.clone(),
            marketplace: false,
            backend,
        }
    }

    fn provider(topology: &Topology, name: &str) -> Self {
        let svc = &topology.services[name];
        let owner = topology
            .accounts
            .get(&svc.account)
            .map(|a| a.id.clone())
            .unwrap_or_default();
        Self {
            reference: ServiceRef::Provider(svc.name.clone()),
            service_name: svc.service_name.clone(),
            service_id: svc.id.clone(),
            dns_part: svc.id.clone(),
            owner,
            acceptance_required: svc.acceptance_required,
            az_ids: Some(svc.az_ids.clone()),
            ports: svc.ports.clone(),
            private_dns_names: svc.private_dns_name.iter().cloned().collect(),
            private_name_is_cname: true,
            private_dns_by_default: svc.marketplace && svc.private_dns_name.is_some(),
            policy_supported: false,
            public_addresses: Vec::new(),
            base_endpoint_dns_names: vec![format!(
                "{}.{}.vpce.amazonaws.com",
                svc.id, topology.region
            )],
            marketplace: svc.marketplace,
            backend: svc.backend,
        }
    }
}

/// The service name of a provider's endpoint service with ID `id`.
pub fn provider_service_name(region: &Region, id: &str) -> String {
    format!("com.amazonaws.vpce.{region}.{id}")
}

/// A stable `vpce-svc-` ID for an AWS service: AWS runs each as an endpoint service too,
/// but never documents their IDs.
fn aws_service_id(service_name: &str) -> String {
    IdGen::new(0).id("vpce-svc", service_name, 0)
}
