//! Synthetic worlds for benchmarks and scale checks: many VPCs with many endpoints,
//! built straight into a [`ControlPlane`] (as a loaded scenario would hold them), since
//! creating 50,000 endpoints one API call at a time measures the control plane, not DNS.

use std::net::Ipv4Addr;
use std::time::Duration;

use indexmap::IndexMap;
use ipnet::Ipv4Net;

use crate::catalog;
use crate::control::ControlPlane;
use crate::model::{
    Account, Endpoint, EndpointState, Eni, IdGen, Nacl, NaclEntry, Peer, PortRange, Proto, Region,
    RuleAction, SecurityGroup, ServiceRef, SgRule, Subnet, Topology, Vpc,
};

/// The shape of a synthetic world.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    /// How many VPCs (each a /16, `10.<i>.0.0/16`; addresses repeat past 256, as VPC
    /// CIDRs may).
    pub vpcs: usize,
    /// How many endpoints in all, spread evenly over the VPCs (at most 50 per VPC).
    pub endpoints: usize,
    /// How many AZs (subnets, and ENIs per endpoint), at most 6.
    pub azs: usize,
}

/// The world for `spec`: every endpoint `available`, to AWS services, private DNS on
/// (S3 aside, as by default), no two endpoints of a VPC on the same service; VPCs have
/// both DNS attributes on. Names are `vpc-N`, `vpc-N-az` and `ep-N`.
pub fn world(spec: Spec) -> ControlPlane {
    let region = Region::default();
    let ids = IdGen::new(7);
    let services = catalog::services(&region);
    let azs = region.default_az_names();
    let azs = &azs[..spec.azs.clamp(1, azs.len())];
    let mut t = Topology {
        region: region.clone(),
        ..Topology::default()
    };
    let account = Account {
        name: "default".into(),
        id: "111111111111".into(),
        az_ids: Account::build_az_map(&region, &IndexMap::new()),
        access_keys: Vec::new(),
    };
    t.accounts.insert(account.name.clone(), account.clone());
    let per_vpc = spec
        .endpoints
        .div_ceil(spec.vpcs.max(1))
        .min(crate::control::ENDPOINTS_PER_VPC);
    let mut made = 0usize;
    for v in 0..spec.vpcs {
        let name = format!("vpc-{v}");
        let base = Ipv4Addr::new(10, (v % 256) as u8, 0, 0);
        t.vpcs.insert(
            name.clone(),
            Vpc {
                name: name.clone(),
                id: ids.id("vpc", &name, 0)[..12].to_string(),
                account: account.name.clone(),
                cidr: Ipv4Net::new(base, 16).unwrap_or_default(),
                dns_support: true,
                dns_hostnames: true,
            },
        );
        let key = format!("{name}/default");
        t.security_groups.insert(
            key.clone(),
            SecurityGroup {
                key: key.clone(),
                name: "default".into(),
                id: ids.id("sg", &key, 0),
                vpc: name.clone(),
                ingress: vec![SgRule {
                    proto: Proto::All,
                    ports: PortRange::ALL,
                    peer: Peer::Group(key.clone()),
                }],
                egress: vec![SgRule {
                    proto: Proto::All,
                    ports: PortRange::ALL,
                    peer: Peer::Cidr(Ipv4Net::default()),
                }],
            },
        );
        let allow = NaclEntry {
            rule: 100,
            proto: Proto::All,
            ports: PortRange::ALL,
            cidr: Ipv4Net::default(),
            action: RuleAction::Allow,
        };
        t.nacls.insert(
            key.clone(),
            Nacl {
                key: key.clone(),
                name: "default".into(),
                id: ids.id("acl", &key, 0),
                vpc: name.clone(),
                inbound: vec![allow.clone()],
                outbound: vec![allow],
            },
        );
        let mut subnets = Vec::new();
        for (a, az) in azs.iter().enumerate() {
            let subnet = format!("{name}-{az}");
            let cidr = Ipv4Net::new(Ipv4Addr::new(10, (v % 256) as u8, (a * 16) as u8, 0), 20)
                .unwrap_or_default();
            t.subnets.insert(
                subnet.clone(),
                Subnet {
                    name: subnet.clone(),
                    id: ids.id("subnet", &subnet, 0),
                    vpc: name.clone(),
                    cidr,
                    az_name: az.clone(),
                    az_id: region.default_az_id(az).unwrap_or_default(),
                    nacl: key.clone(),
                },
            );
            subnets.push((subnet, cidr));
        }
        for e in 0..per_vpc {
            if made == spec.endpoints {
                break;
            }
            let ep = format!("ep-{made}");
            let service = &services[(v + e) % services.len()];
            let id = ids.id("vpce", &ep, 0);
            let mut enis = Vec::new();
            for (subnet, cidr) in &subnets {
                let eni = ids.id("eni", &format!("{ep}/{subnet}"), 0);
                let ip = Ipv4Addr::from(u32::from(cidr.network()) + 4 + e as u32);
                t.enis.insert(
                    eni.clone(),
                    Eni {
                        id: eni.clone(),
                        endpoint: ep.clone(),
                        subnet: subnet.clone(),
                        ip,
                    },
                );
                enis.push(eni);
            }
            t.endpoints.insert(
                ep.clone(),
                Endpoint {
                    name: ep.clone(),
                    dns_suffix: ids.dns_suffix(&id, 0),
                    id,
                    vpc: name.clone(),
                    account: account.name.clone(),
                    service: ServiceRef::Aws(service.service_name.clone()),
                    service_name: service.service_name.clone(),
                    subnets: subnets.iter().map(|(s, _)| s.clone()).collect(),
                    security_groups: vec![key.clone()],
                    private_dns: service.private_dns_by_default,
                    policy: None,
                    tags: IndexMap::new(),
                    state: EndpointState::Available,
                    enis,
                    created_at: Duration::ZERO,
                },
            );
            made += 1;
        }
    }
    ControlPlane::new(t, 7, Duration::ZERO)
}
