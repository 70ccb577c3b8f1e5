//! One view's answers as RFC 1035 zone files, one per served zone, that NSD, Knot and
//! BIND load unchanged: to look at the simulated private hosted zones, reuse them, or
//! serve the same content from another server in a side-by-side benchmark.
//!
//! Every zone gets the snapshot's SOA and one NS (out of zone, so no glue); S3's names
//! become wildcards below each regional and zonal name. A provider's exact custom name is
//! a CNAME, which RFC 1034 §3.6.2 forbids at a zone apex next to the SOA, so that name is
//! written into a zone of its parent: the answer for the name is the same, but a peer
//! then answers NXDOMAIN for its siblings where vpcesim answers REFUSED.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use super::answer::{SOA_MNAME, SOA_RNAME, SOA_TIMERS, TTL};
use super::view::{Data, Node};
use super::{DnsSnapshot, ViewId};

/// Why zone files could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ZoneFileError {
    /// The view has no resolver at all.
    #[error("{0} has no resolver (dns_support is off, or no such VPC): it serves no zone")]
    NoResolver(ViewId),
    /// Writing failed.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
}

/// The zone files of `view`: (zone name, file text), sorted by zone.
pub fn zones(
    snapshot: &DnsSnapshot,
    view: &ViewId,
) -> Result<Vec<(String, String)>, ZoneFileError> {
    let inner = &*snapshot.0;
    let overlay = match view {
        ViewId::Public => None,
        ViewId::Vpc(name) => match inner.vpcs.get(name.as_str()) {
            Some(vpc) if vpc.dns_support => Some(&vpc.names),
            _ => return Err(ZoneFileError::NoResolver(view.clone())),
        },
    };
    let serial = snapshot.serial();
    // zone -> owner -> records (each "TYPE rdata")
    let mut files: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    let vpce_zone = String::from_utf8_lossy(&inner.vpce.zone).into_owned();
    let vpce = files.entry(vpce_zone).or_default();
    for shard in &inner.vpce.shards {
        for (key, name) in shard.iter() {
            let owner = String::from_utf8_lossy(key).into_owned();
            let Data::A(addrs) = &name.data else { continue };
            vpce.entry(owner.clone())
                .or_default()
                .extend(a_records(addrs));
            if name.subtree {
                vpce.entry(format!("*.{owner}"))
                    .or_default()
                    .extend(a_records(addrs));
            }
        }
    }
    let mut add_node = |key: &[u8], node: &Node| {
        let name = String::from_utf8_lossy(key).into_owned();
        if let Some(Data::Cname(cname)) = &node.here {
            // Not at an apex: into a zone of the parent (see the module doc).
            let parent = name
                .split_once('.')
                .map_or(name.clone(), |(_, p)| p.to_string());
            let target = String::from_utf8_lossy(&cname.target);
            files
                .entry(parent)
                .or_default()
                .entry(name)
                .or_default()
                .push(format!("CNAME {target}."));
            return;
        }
        let zone = files.entry(name.clone()).or_default();
        let apex = zone.entry(name.clone()).or_default();
        if let Some(data) = &node.here {
            apex.extend(records(data));
        }
        if let Some(data) = &node.below {
            zone.entry(format!("*.{name}"))
                .or_default()
                .extend(records(data));
        }
    };
    for (key, node) in &inner.public.names {
        match overlay.and_then(|o| o.get(key)) {
            Some(private) => add_node(key, private),
            None => add_node(key, node),
        }
    }
    if let Some(overlay) = overlay {
        for (key, node) in overlay {
            if !inner.public.names.contains_key(key) {
                add_node(key, node);
            }
        }
    }
    let mut out = Vec::new();
    for (zone, owners) in files {
        let mut text = String::new();
        let _ = writeln!(
            text,
            "; {zone}: the {view} view of vpcesim, SOA serial {serial}"
        );
        let _ = writeln!(text, "$ORIGIN {zone}.\n$TTL {TTL}");
        let [refresh, retry, expire] = SOA_TIMERS;
        let _ = writeln!(
            text,
            "@ {TTL} IN SOA {SOA_MNAME}. {SOA_RNAME}. {serial} {refresh} {retry} {expire} {TTL}"
        );
        let _ = writeln!(text, "@ {TTL} IN NS {SOA_MNAME}.");
        for (owner, records) in owners {
            for record in records {
                let _ = writeln!(text, "{owner}. {TTL} IN {record}");
            }
        }
        out.push((zone, text));
    }
    Ok(out)
}

/// Writes `DIR/<zone>.zone` for every zone of `view`; returns the paths.
pub fn write_dir(
    snapshot: &DnsSnapshot,
    view: &ViewId,
    dir: &Path,
) -> Result<Vec<PathBuf>, ZoneFileError> {
    let io_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ZoneFileError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    let mut paths = Vec::new();
    for (zone, text) in zones(snapshot, view)? {
        let path = dir.join(format!("{zone}.zone"));
        std::fs::write(&path, text).map_err(io_err(&path))?;
        paths.push(path);
    }
    Ok(paths)
}

fn a_records(addrs: &[Ipv4Addr]) -> impl Iterator<Item = String> + '_ {
    addrs.iter().map(|ip| format!("A {ip}"))
}

fn records(data: &Data) -> Vec<String> {
    match data {
        Data::A(addrs) => a_records(addrs).collect(),
        Data::Cname(cname) => vec![format!("CNAME {}.", String::from_utf8_lossy(&cname.target))],
    }
}
