//! The DNS names of an endpoint and its `DnsEntries`, in AWS's order.

use crate::model::{Endpoint, IdGen, Topology};

use super::service::ServiceInfo;

/// Which of an endpoint's names a DNS entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    /// The regional name: every ENI.
    Regional,
    /// The zonal name of one AZ (the owner's AZ name).
    Zonal(String),
    /// The service's private (default or custom) name.
    Private,
}

/// One `DnsEntry` of `DescribeVpcEndpoints`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsEntry {
    /// The name, lowercase, without a trailing dot.
    pub name: String,
    /// The hosted zone that holds it.
    pub hosted_zone_id: String,
    /// Which name it is.
    pub kind: EntryKind,
}

/// The regional name: `vpce-<id>-<suffix>.<service-part>.<region>.vpce.amazonaws.com`.
pub fn regional_name(topology: &Topology, endpoint: &Endpoint, service: &ServiceInfo) -> String {
    format!(
        "{}-{}.{}.{}.vpce.amazonaws.com",
        endpoint.id, endpoint.dns_suffix, service.dns_part, topology.region
    )
}

/// The zonal name for AZ `az_name` (the owner's name for the zone).
pub fn zonal_name(
    topology: &Topology,
    endpoint: &Endpoint,
    service: &ServiceInfo,
    az_name: &str,
) -> String {
    format!(
        "{}-{}-{az_name}.{}.{}.vpce.amazonaws.com",
        endpoint.id, endpoint.dns_suffix, service.dns_part, topology.region
    )
}

/// The ID of the AWS-managed private hosted zone that holds an endpoint's private name:
/// AWS never documents these, so vpcesim derives a stable one of the right shape.
pub fn private_zone_id(endpoint: &Endpoint, name: &str) -> String {
    let digits = IdGen::new(0).dns_suffix(&format!("{}/{name}", endpoint.id), 0)
        + &IdGen::new(0).dns_suffix(&format!("{name}/{}", endpoint.id), 0);
    format!("Z{}", digits[..12].to_ascii_uppercase())
}

/// The endpoint's DNS entries: regional, one zonal per AZ with an ENI (in subnet order),
/// then the private name while private DNS is on. Empty once the endpoint is deleting.
pub fn dns_entries(topology: &Topology, endpoint: &Endpoint) -> Vec<DnsEntry> {
    let Some(service) = ServiceInfo::of(topology, &endpoint.service) else {
        return Vec::new();
    };
    if !endpoint.state.has_enis() {
        return Vec::new();
    }
    let zone = topology.region.vpce_hosted_zone_id();
    let mut entries = vec![DnsEntry {
        name: regional_name(topology, endpoint, &service),
        hosted_zone_id: zone.clone(),
        kind: EntryKind::Regional,
    }];
    for subnet in &endpoint.subnets {
        if let Some(subnet) = topology.subnets.get(subnet) {
            entries.push(DnsEntry {
                name: zonal_name(topology, endpoint, &service, &subnet.az_name),
                hosted_zone_id: zone.clone(),
                kind: EntryKind::Zonal(subnet.az_name.clone()),
            });
        }
    }
    if endpoint.private_dns
        && let Some(name) = service.private_dns_names.first()
    {
        entries.push(DnsEntry {
            name: name.clone(),
            hosted_zone_id: private_zone_id(endpoint, name),
            kind: EntryKind::Private,
        });
    }
    entries
}
