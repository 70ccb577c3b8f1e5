//! The compiled layers of a snapshot and the one lookup that walks them.
//!
//! Three layers answer a query, first hit wins:
//! 1. the asking VPC's overlay: its active private DNS names (default names, wildcards,
//!    providers' custom names as CNAMEs) and their zones;
//! 2. the vpce layer: every regional and zonal name of the Region, the same in every
//!    view, sharded so that a change clones only the shards it touches;
//! 3. the public layer: the catalog's default names with public addresses, and the zone
//!    apexes (the vpce zone and one zone per default name).
//!
//! Sans-IO: nothing here touches a socket.

use std::net::Ipv4Addr;
use std::sync::Arc;

use super::hash::{FxMap, hash_bytes};
use super::name::{is_at_or_below, parents};

/// How many shards the vpce layer has: a change clones at most a handful of them.
pub(crate) const SHARDS: usize = 1024;

/// What a name holds.
#[derive(Debug, Clone)]
pub(crate) enum Data {
    /// A records, in answer order.
    A(Arc<[Ipv4Addr]>),
    /// A CNAME to a regional name (a provider's custom private name), with that
    /// name's A records.
    Cname(Arc<Cname>),
}

/// A CNAME's target and what the target answers.
#[derive(Debug)]
pub(crate) struct Cname {
    /// The target's key (a regional vpce name).
    pub(crate) target: Box<[u8]>,
    /// The target's A records.
    pub(crate) addrs: Arc<[Ipv4Addr]>,
    /// The key length of the target's zone (for the SOA of a NODATA after the CNAME).
    pub(crate) target_zone_len: u8,
}

/// One name of the overlay or the public layer.
#[derive(Debug, Clone, Default)]
pub(crate) struct Node {
    /// Records at this name.
    pub(crate) here: Option<Data>,
    /// Records of the wildcard `*.<this name>`: every name below answers them (RFC 4592).
    pub(crate) below: Option<Data>,
    /// This name is the apex of a served zone (answers SOA and NS).
    pub(crate) apex: bool,
    /// The key length of the zone that holds the name.
    pub(crate) zone_len: u8,
}

/// One name of the vpce layer.
#[derive(Debug, Clone)]
pub(crate) struct VpceName {
    /// The endpoint's ENI addresses (all of them for the regional name, in subnet order).
    pub(crate) data: Data,
    /// S3: every name below answers as this one (docs/behaviour.md §1).
    pub(crate) subtree: bool,
}

/// A shard of the vpce layer.
pub(crate) type Shard = FxMap<Arc<[u8]>, VpceName>;

/// Every regional and zonal name of the Region.
#[derive(Debug, Clone)]
pub(crate) struct VpceLayer {
    /// The vpce zone's key (`us-east-1.vpce.amazonaws.com`).
    pub(crate) zone: Box<[u8]>,
    /// Names, by shard.
    pub(crate) shards: Vec<Arc<Shard>>,
    /// Empty non-terminals (`ec2.us-east-1.vpce.amazonaws.com`), with how many
    /// endpoints keep each alive.
    pub(crate) ents: Arc<FxMap<Box<[u8]>, u32>>,
}

impl VpceLayer {
    /// The shard a key lives in.
    #[inline]
    pub(crate) fn shard_of(key: &[u8]) -> usize {
        (hash_bytes(key) >> 54) as usize % SHARDS
    }

    #[inline]
    fn get(&self, key: &[u8]) -> Option<&VpceName> {
        self.shards[Self::shard_of(key)].get(key)
    }
}

/// The catalog's default names, public addresses, and every shared zone apex.
#[derive(Debug, Default)]
pub(crate) struct PublicLayer {
    /// Names by key.
    pub(crate) names: FxMap<Box<[u8]>, Node>,
}

/// One VPC's resolver.
#[derive(Debug, Default)]
pub(crate) struct VpcView {
    /// `enableDnsSupport`: without it every query is refused.
    pub(crate) dns_support: bool,
    /// Active private names and the zones of custom names.
    pub(crate) names: FxMap<Box<[u8]>, Node>,
}

/// What the lookup found, before it is encoded.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Found<'a> {
    /// Not answered here: outside every served zone (or no resolver at all).
    Refused {
        /// The name is outside the served zones (an upstream may take it); false when the
        /// VPC has no resolver.
        outside: bool,
    },
    /// The name exists.
    Name {
        /// What it holds.
        data: Option<&'a Data>,
        /// It is a zone apex.
        apex: bool,
        /// The key length of its zone.
        zone_len: u8,
    },
    /// Nothing at or below the name: NXDOMAIN.
    NxDomain {
        /// The key length of its zone.
        zone_len: u8,
    },
}

impl PartialEq for Data {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::A(a), Self::A(b)) => a == b,
            (Self::Cname(a), Self::Cname(b)) => a.target == b.target && a.addrs == b.addrs,
            _ => false,
        }
    }
}

/// The view a query is answered in.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Layers<'a> {
    /// The VPC's overlay; `None` for the public view.
    pub(crate) vpc: Option<&'a VpcView>,
    /// The vpce names.
    pub(crate) vpce: &'a VpceLayer,
    /// Default names and zones.
    pub(crate) public: &'a PublicLayer,
}

impl<'a> Layers<'a> {
    /// Finds what `key` is in this view (the one lookup path of every transport).
    pub(crate) fn find(&self, key: &[u8]) -> Found<'a> {
        let overlay = match self.vpc {
            Some(vpc) if !vpc.dns_support => return Found::Refused { outside: false },
            Some(vpc) if !vpc.names.is_empty() => Some(&vpc.names),
            _ => None,
        };
        // The name itself.
        if let Some(found) = overlay.and_then(|names| names.get(key)).and_then(exact) {
            return found;
        }
        let vpce_zone = &*self.vpce.zone;
        let vpce_len = vpce_zone.len() as u8;
        let in_vpce = key.len() > vpce_zone.len() && is_at_or_below(key, vpce_zone);
        if in_vpce {
            if let Some(name) = self.vpce.get(key) {
                return Found::Name {
                    data: Some(&name.data),
                    apex: false,
                    zone_len: vpce_len,
                };
            }
            if self.vpce.ents.contains_key(key) {
                return Found::Name {
                    data: None,
                    apex: false,
                    zone_len: vpce_len,
                };
            }
        }
        if let Some(found) = self.public.names.get(key).and_then(exact) {
            return found;
        }
        // An ancestor: a wildcard, an S3 subtree, or the zone the name would be in.
        for parent in parents(key) {
            if let Some(found) = overlay.and_then(|names| names.get(parent)).and_then(below) {
                return found;
            }
            if in_vpce
                && parent.len() > vpce_zone.len()
                && let Some(name) = self.vpce.get(parent)
            {
                if name.subtree {
                    return Found::Name {
                        data: Some(&name.data),
                        apex: false,
                        zone_len: vpce_len,
                    };
                }
                // Below a leaf that is not a subtree: nothing there.
                return Found::NxDomain { zone_len: vpce_len };
            }
            if let Some(found) = self.public.names.get(parent).and_then(below) {
                return found;
            }
        }
        Found::Refused { outside: true }
    }
}

/// What a node says about its own name.
fn exact(node: &Node) -> Option<Found<'_>> {
    if node.here.is_some() || node.apex {
        Some(Found::Name {
            data: node.here.as_ref(),
            apex: node.apex,
            zone_len: node.zone_len,
        })
    } else {
        None
    }
}

/// What a node says about a name below it that has no node of its own.
fn below(node: &Node) -> Option<Found<'_>> {
    match (&node.below, node.apex) {
        (Some(data), _) => Some(Found::Name {
            data: Some(data),
            apex: false,
            zone_len: node.zone_len,
        }),
        (None, true) => Some(Found::NxDomain {
            zone_len: node.zone_len,
        }),
        (None, false) => None,
    }
}
