//! Compiling the control plane's state into a [`DnsSnapshot`], in full or by
//! rebuilding only what a change touched.
//!
//! A full compile walks every endpoint once. An update compares each endpoint with the
//! fingerprint the previous snapshot kept (state, private DNS flag, ENIs), then clones
//! only the vpce shards whose names changed and rebuilds only the overlays of VPCs whose
//! endpoints or DNS attributes changed; everything else is shared with the previous
//! snapshot.

use std::net::Ipv4Addr;
use std::sync::Arc;

use crate::catalog;
use crate::control::names::{regional_name, zonal_name};
use crate::control::{ControlPlane, ServiceInfo, Touched};
use crate::model::{Endpoint, EndpointState, Region, ServiceRef, Topology, Vpc};

use super::hash::FxMap;
use super::name::key_of;
use super::view::{Cname, Data, Node, PublicLayer, SHARDS, Shard, VpcView, VpceLayer, VpceName};

/// All views, compiled from one control-plane state; cheap to clone (`Arc` inside).
#[derive(Debug, Clone)]
pub struct DnsSnapshot(pub(crate) Arc<Inner>);

/// The snapshot's contents.
#[derive(Debug)]
pub(crate) struct Inner {
    /// The control plane's generation it was built from.
    pub(crate) generation: u64,
    /// The Region.
    pub(crate) region: Region,
    /// Default names and zone apexes (the same for every snapshot of a Region).
    pub(crate) public: Arc<PublicLayer>,
    /// Regional and zonal names.
    pub(crate) vpce: VpceLayer,
    /// One view per VPC, by VPC name.
    pub(crate) vpcs: Arc<FxMap<Arc<str>, Arc<VpcView>>>,
    /// What the next update compares against.
    book: Arc<Book>,
}

/// Fingerprints of the state a snapshot was built from.
#[derive(Debug, Default)]
struct Book {
    /// One per endpoint, in the control plane's order, in shared chunks.
    endpoints: Chunked<Arc<EndpointFp>>,
    /// One per VPC, in the control plane's order: name, dns_support, dns_hostnames.
    vpcs: Vec<(Box<str>, bool, bool)>,
    /// The endpoint indices of each VPC (by VPC index).
    members: Vec<Arc<Vec<u32>>>,
    /// Facts per service, computed once.
    services: FxMap<(bool, Box<str>), Arc<ServiceFacts>>,
}

/// Endpoints per chunk of [`Chunked`].
const CHUNK: usize = 1024;

/// A vector in shared chunks: cloning it copies one pointer per chunk, and a write
/// copies only its chunk.
#[derive(Debug, Clone)]
struct Chunked<T> {
    chunks: Vec<Arc<Vec<T>>>,
    len: usize,
}

impl<T> Default for Chunked<T> {
    fn default() -> Self {
        Self {
            chunks: Vec::new(),
            len: 0,
        }
    }
}

impl<T: Clone> Chunked<T> {
    fn get(&self, index: usize) -> Option<&T> {
        self.chunks
            .get(index / CHUNK)
            .and_then(|c| c.get(index % CHUNK))
    }

    fn push(&mut self, value: T) {
        if self.len.is_multiple_of(CHUNK) {
            self.chunks.push(Arc::new(Vec::with_capacity(CHUNK)));
        }
        if let Some(last) = self.chunks.last_mut() {
            Arc::make_mut(last).push(value);
            self.len += 1;
        }
    }

    fn set(&mut self, index: usize, value: T) {
        if let Some(slot) = self
            .chunks
            .get_mut(index / CHUNK)
            .and_then(|c| Arc::make_mut(c).get_mut(index % CHUNK))
        {
            *slot = value;
        }
    }
}

/// What the DNS of one endpoint depended on, and what it produced.
#[derive(Debug)]
struct EndpointFp {
    name: Box<str>,
    state: EndpointState,
    private_dns: bool,
    enis: Box<[Box<str>]>,
    service: Option<Arc<ServiceFacts>>,
    /// The keys it put in the vpce layer (regional first).
    names: Box<[Arc<[u8]>]>,
    /// The regional name's addresses.
    addrs: Arc<[Ipv4Addr]>,
}

/// What DNS needs of a service.
#[derive(Debug)]
struct ServiceFacts {
    info: ServiceInfo,
    /// Empty non-terminals between its names and the vpce zone.
    ents: Vec<Box<[u8]>>,
    /// S3: names below the endpoint's names answer too.
    subtree: bool,
}

impl DnsSnapshot {
    /// Compiles every view from the control plane's current state.
    pub fn compile(control: &ControlPlane) -> Self {
        let topology = control.topology();
        let mut book = Book::default();
        let mut shards: Vec<Shard> = (0..SHARDS).map(|_| Shard::default()).collect();
        let mut ents: FxMap<Box<[u8]>, u32> = FxMap::default();
        let mut by_vpc: FxMap<&str, Vec<u32>> = FxMap::default();
        for (index, endpoint) in topology.endpoints.values().enumerate() {
            let facts = service_facts(&mut book.services, topology, &endpoint.service);
            let (fp, names) = fingerprint(topology, endpoint, facts);
            for (key, name) in names {
                shards[VpceLayer::shard_of(&key)].insert(key, name);
            }
            count_ents(&mut ents, &fp, 1);
            by_vpc.entry(&endpoint.vpc).or_default().push(index as u32);
            book.endpoints.push(Arc::new(fp));
        }
        let mut vpcs = FxMap::default();
        for vpc in topology.vpcs.values() {
            let members = by_vpc.remove(vpc.name.as_str()).unwrap_or_default();
            let fps = members
                .iter()
                .filter_map(|&i| book.endpoints.get(i as usize))
                .map(|fp| &**fp);
            let view = overlay(vpc, fps, &topology.region);
            vpcs.insert(Arc::from(vpc.name.as_str()), Arc::new(view));
            book.vpcs.push((
                Box::from(vpc.name.as_str()),
                vpc.dns_support,
                vpc.dns_hostnames,
            ));
            book.members.push(Arc::new(members));
        }
        Self(Arc::new(Inner {
            generation: control.generation(),
            region: topology.region.clone(),
            public: Arc::new(public_layer(&topology.region)),
            vpce: VpceLayer {
                zone: key_of(&vpce_zone(&topology.region)).into_boxed_slice(),
                shards: shards.into_iter().map(Arc::new).collect(),
                ents: Arc::new(ents),
            },
            vpcs: Arc::new(vpcs),
            book: Arc::new(book),
        }))
    }

    /// A snapshot of the control plane's current state that shares everything a change
    /// did not touch with `self`; falls back to [`Self::compile`] when the world changed
    /// shape (another Region, VPCs added or removed, endpoints removed or reordered).
    pub fn update(&self, control: &ControlPlane) -> Self {
        let inner = &*self.0;
        if control.generation() == inner.generation {
            return self.clone();
        }
        let topology = control.topology();
        let book = &*inner.book;
        if topology.region != inner.region
            || topology.endpoints.len() < book.endpoints.len
            || topology.vpcs.len() != book.vpcs.len()
        {
            return Self::compile(control);
        }
        // What changed: from the control plane's journal, or by comparing everything.
        let mut touched_vpcs: Vec<usize> = Vec::new();
        let mut changed: Vec<usize> = Vec::new();
        if let Some(touched) = control.touched_since(inner.generation) {
            for what in touched {
                match what {
                    Touched::Endpoint(key) => changed.extend(topology.endpoints.get_index_of(key)),
                    Touched::Vpc(name) => touched_vpcs.extend(topology.vpcs.get_index_of(name)),
                }
            }
            // Endpoints created since: by position.
            changed.extend(book.endpoints.len..topology.endpoints.len());
        } else {
            for (index, (vpc, (name, support, hostnames))) in
                topology.vpcs.values().zip(&book.vpcs).enumerate()
            {
                if *vpc.name != **name {
                    return Self::compile(control);
                }
                if vpc.dns_support != *support || vpc.dns_hostnames != *hostnames {
                    touched_vpcs.push(index);
                }
            }
            for (index, endpoint) in topology.endpoints.values().enumerate() {
                match book.endpoints.get(index) {
                    Some(fp) if *fp.name != *endpoint.name => return Self::compile(control),
                    Some(fp) if fp.matches(endpoint) => {}
                    _ => changed.push(index),
                }
            }
        }
        changed.sort_unstable();
        changed.dedup();
        let mut services = book.services.clone();
        let mut endpoints = book.endpoints.clone();
        let mut members = book.members.clone();
        let mut shards = inner.vpce.shards.clone();
        let mut ents = (*inner.vpce.ents).clone();
        for &index in &changed {
            let Some((_, endpoint)) = topology.endpoints.get_index(index) else {
                continue;
            };
            let Some(vpc_index) = topology.vpcs.get_index_of(&endpoint.vpc) else {
                continue;
            };
            touched_vpcs.push(vpc_index);
            if let Some(old) = book.endpoints.get(index) {
                for key in &old.names {
                    Arc::make_mut(&mut shards[VpceLayer::shard_of(key)]).remove(key);
                }
                count_ents(&mut ents, old, -1);
            }
            let facts = service_facts(&mut services, topology, &endpoint.service);
            let (fp, names) = fingerprint(topology, endpoint, facts);
            for (key, name) in names {
                Arc::make_mut(&mut shards[VpceLayer::shard_of(&key)]).insert(key, name);
            }
            count_ents(&mut ents, &fp, 1);
            let fp = Arc::new(fp);
            if index < endpoints.len {
                endpoints.set(index, fp);
            } else {
                endpoints.push(fp);
                Arc::make_mut(&mut members[vpc_index]).push(index as u32);
            }
        }
        // Rebuild the overlays of touched VPCs.
        touched_vpcs.sort_unstable();
        touched_vpcs.dedup();
        let mut vpcs = (*inner.vpcs).clone();
        let mut vpc_book = book.vpcs.clone();
        for &index in &touched_vpcs {
            let Some((_, vpc)) = topology.vpcs.get_index(index) else {
                continue;
            };
            let fps = members[index]
                .iter()
                .filter_map(|&i| endpoints.get(i as usize))
                .map(|fp| &**fp);
            let view = overlay(vpc, fps, &topology.region);
            vpcs.insert(Arc::from(vpc.name.as_str()), Arc::new(view));
            vpc_book[index] = (
                Box::from(vpc.name.as_str()),
                vpc.dns_support,
                vpc.dns_hostnames,
            );
        }
        Self(Arc::new(Inner {
            generation: control.generation(),
            region: inner.region.clone(),
            public: inner.public.clone(),
            vpce: VpceLayer {
                zone: inner.vpce.zone.clone(),
                shards,
                ents: Arc::new(ents),
            },
            vpcs: Arc::new(vpcs),
            book: Arc::new(Book {
                endpoints,
                vpcs: vpc_book,
                members,
                services,
            }),
        }))
    }

    /// The control plane generation this snapshot was compiled from.
    pub fn generation(&self) -> u64 {
        self.0.generation
    }

    /// The SOA serial of every zone: the generation, as 32 bits.
    pub fn serial(&self) -> u32 {
        (self.0.generation & u64::from(u32::MAX)) as u32
    }

    /// The Region it answers for.
    pub fn region(&self) -> &Region {
        &self.0.region
    }
}

impl EndpointFp {
    fn matches(&self, endpoint: &Endpoint) -> bool {
        self.state == endpoint.state
            && self.private_dns == endpoint.private_dns
            && self.enis.len() == endpoint.enis.len()
            && self
                .enis
                .iter()
                .zip(&endpoint.enis)
                .all(|(a, b)| **a == **b)
    }
}

/// The vpce zone of a Region.
pub(crate) fn vpce_zone(region: &Region) -> String {
    format!("{region}.vpce.amazonaws.com")
}

fn service_facts(
    cache: &mut FxMap<(bool, Box<str>), Arc<ServiceFacts>>,
    topology: &Topology,
    reference: &ServiceRef,
) -> Option<Arc<ServiceFacts>> {
    let key = match reference {
        ServiceRef::Aws(name) => (true, Box::from(name.as_str())),
        ServiceRef::Provider(name) => (false, Box::from(name.as_str())),
    };
    if let Some(facts) = cache.get(&key) {
        return Some(facts.clone());
    }
    let info = ServiceInfo::of(topology, reference)?;
    let zone = vpce_zone(&topology.region);
    let labels: Vec<&str> = info.dns_part.split('.').collect();
    let ents = (0..labels.len())
        .map(|i| key_of(&format!("{}.{zone}", labels[i..].join("."))).into_boxed_slice())
        .collect();
    let facts = Arc::new(ServiceFacts {
        subtree: info.is_aws() && info.dns_part == "s3",
        ents,
        info,
    });
    cache.insert(key, facts.clone());
    Some(facts)
}

/// A vpce name and what it holds.
type NamedVpce = (Arc<[u8]>, VpceName);

/// The endpoint's fingerprint and its vpce names (none once it is deleting).
fn fingerprint(
    topology: &Topology,
    endpoint: &Endpoint,
    service: Option<Arc<ServiceFacts>>,
) -> (EndpointFp, Vec<NamedVpce>) {
    let mut names = Vec::new();
    let mut addrs: Vec<Ipv4Addr> = Vec::new();
    if let Some(facts) = service.as_deref().filter(|_| endpoint.state.has_enis()) {
        let info = &facts.info;
        let mut zonal = Vec::new();
        for eni in &endpoint.enis {
            let Some(eni) = topology.enis.get(eni) else {
                continue;
            };
            addrs.push(eni.ip);
            if let Some(subnet) = topology.subnets.get(&eni.subnet) {
                let key: Arc<[u8]> =
                    key_of(&zonal_name(topology, endpoint, info, &subnet.az_name)).into();
                zonal.push((key, eni.ip));
            }
        }
        let regional: Arc<[u8]> = key_of(&regional_name(topology, endpoint, info)).into();
        names.push((
            regional,
            VpceName {
                data: Data::A(addrs.clone().into()),
                subtree: facts.subtree,
            },
        ));
        for (key, ip) in zonal {
            names.push((
                key,
                VpceName {
                    data: Data::A(Arc::new([ip])),
                    subtree: facts.subtree,
                },
            ));
        }
    }
    let fp = EndpointFp {
        name: endpoint.name.as_str().into(),
        state: endpoint.state,
        private_dns: endpoint.private_dns,
        enis: endpoint
            .enis
            .iter()
            .map(|e| Box::from(e.as_str()))
            .collect(),
        service,
        names: names.iter().map(|(k, _)| k.clone()).collect(),
        addrs: addrs.into(),
    };
    (fp, names)
}

fn count_ents(ents: &mut FxMap<Box<[u8]>, u32>, fp: &EndpointFp, delta: i32) {
    let Some(facts) = fp.service.as_deref() else {
        return;
    };
    if fp.names.is_empty() {
        return;
    }
    for ent in &facts.ents {
        if delta > 0 {
            *ents.entry(ent.clone()).or_default() += 1;
        } else if let Some(count) = ents.get_mut(ent) {
            *count -= 1;
            if *count == 0 {
                ents.remove(ent);
            }
        }
    }
}

/// Whether the endpoint's private names answer inside its VPC (docs/behaviour.md §3).
fn private_active(vpc: &Vpc, fp: &EndpointFp) -> bool {
    fp.state == EndpointState::Available
        && fp.private_dns
        && vpc.dns_support
        && vpc.dns_hostnames
        && !fp.names.is_empty()
}

/// One VPC's overlay: its active private names.
fn overlay<'a>(
    vpc: &Vpc,
    endpoints: impl Iterator<Item = &'a EndpointFp>,
    region: &Region,
) -> VpcView {
    let mut view = VpcView {
        dns_support: vpc.dns_support,
        names: FxMap::default(),
    };
    let vpce_zone_len = vpce_zone(region).len() as u8;
    for fp in endpoints {
        let Some(facts) = fp.service.as_deref() else {
            continue;
        };
        if !private_active(vpc, fp) {
            continue;
        }
        let data = if facts.info.private_name_is_cname {
            Data::Cname(Arc::new(Cname {
                target: Box::from(&*fp.names[0]),
                addrs: fp.addrs.clone(),
                target_zone_len: vpce_zone_len,
            }))
        } else {
            Data::A(fp.addrs.clone())
        };
        for name in &facts.info.private_dns_names {
            add_name(&mut view.names, name, data.clone());
        }
    }
    view
}

/// Adds a private or default name (`*.zone` or a plain name, each its own zone).
fn add_name(names: &mut FxMap<Box<[u8]>, Node>, name: &str, data: Data) {
    let (zone, wildcard) = match name.strip_prefix("*.") {
        Some(zone) => (zone, true),
        None => (name, false),
    };
    let key = key_of(zone);
    let zone_len = u8::try_from(key.len()).unwrap_or(u8::MAX);
    let node = names.entry(key.into_boxed_slice()).or_default();
    node.apex = true;
    node.zone_len = zone_len;
    if wildcard {
        node.below = Some(data);
    } else {
        node.here = Some(data);
    }
}

/// The public layer of a Region: the vpce zone apex and the catalog's default names.
fn public_layer(region: &Region) -> PublicLayer {
    let mut layer = PublicLayer::default();
    let zone = key_of(&vpce_zone(region));
    layer.names.insert(
        zone.clone().into_boxed_slice(),
        Node {
            here: None,
            below: None,
            apex: true,
            zone_len: zone.len() as u8,
        },
    );
    for service in catalog::services(region) {
        let addrs: Arc<[Ipv4Addr]> = service.public_addresses.clone().into();
        for name in &service.private_dns_names {
            add_name(&mut layer.names, name, Data::A(addrs.clone()));
        }
    }
    layer
}
