//! Lookups the control plane needs on every call, kept as indexes so that a call costs
//! the same at 50,000 endpoints as at five: endpoint ID to name, and each VPC's
//! endpoints. Endpoints are never removed from the topology (a deleted one stays
//! listed), so the indexes only grow.

use std::collections::HashMap;

use crate::model::Topology;

/// Indexes over the topology's endpoints.
#[derive(Debug, Clone, Default)]
pub(super) struct Index {
    /// Endpoint ID to endpoint key.
    pub(super) endpoint_ids: HashMap<String, String>,
    /// VPC name to the keys of its endpoints, in creation order.
    pub(super) vpc_endpoints: HashMap<String, Vec<String>>,
}

impl Index {
    /// The indexes of `topology` as it is.
    pub(super) fn new(topology: &Topology) -> Self {
        let mut index = Self::default();
        for endpoint in topology.endpoints.values() {
            index.add_endpoint(&endpoint.id, &endpoint.name, &endpoint.vpc);
        }
        index
    }

    /// Records a new endpoint.
    pub(super) fn add_endpoint(&mut self, id: &str, key: &str, vpc: &str) {
        self.endpoint_ids.insert(id.to_string(), key.to_string());
        self.vpc_endpoints
            .entry(vpc.to_string())
            .or_default()
            .push(key.to_string());
    }

    /// The key of the endpoint whose ID is `id`.
    pub(super) fn endpoint_key(&self, id: &str) -> Option<&str> {
        self.endpoint_ids.get(id).map(String::as_str)
    }

    /// The keys of VPC `vpc`'s endpoints.
    pub(super) fn endpoints_of(&self, vpc: &str) -> &[String] {
        self.vpc_endpoints.get(vpc).map_or(&[], Vec::as_slice)
    }
}
