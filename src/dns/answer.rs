//! Reading a query off the wire and writing the answer, in one pass over bytes.
//!
//! The response is built from the query's own bytes: the header's ID and flags and the
//! question (so the answer echoes the question's case, RFC 4343 §4.1) are copied, and
//! every record's owner is a compression pointer into that question, which keeps answers
//! as small as NSD's. Records are written from the compiled layers directly: an A record
//! is 16 bytes, so there is nothing left to pre-encode but the SOA's fixed names.

use std::net::Ipv4Addr;

use super::name::{read_qname, wire_len};
use super::view::{Data, Found, Layers};

/// TTL of every record and of negative answers (docs/behaviour.md §2).
pub const TTL: u32 = 60;
/// The SOA's primary server: the name Route 53 private hosted zones show.
pub const SOA_MNAME: &str = "ns-1536.awsdns-00.co.uk";
/// The SOA's mailbox.
pub const SOA_RNAME: &str = "awsdns-hostmaster.amazon.com";
/// SOA refresh, retry, expire (Route 53's values); minimum is the negative TTL.
pub const SOA_TIMERS: [u32; 3] = [7200, 900, 1_209_600];
/// The UDP payload size this server advertises in EDNS (the DNS flag day 2020 value).
pub const EDNS_PAYLOAD: u16 = 1232;
/// The largest UDP payload it ever sends, whatever a client advertises.
pub const MAX_UDP_PAYLOAD: u16 = 4096;
/// The longest query answered, in bytes: a longer one gets a header-only FORMERR over
/// any transport (a question of at most 255 bytes and one OPT fit many times over).
pub const MAX_QUERY: usize = 4096;

const TYPE_A: u16 = 1;
const TYPE_NS: u16 = 2;
const TYPE_CNAME: u16 = 5;
const TYPE_SOA: u16 = 6;
const TYPE_OPT: u16 = 41;
const TYPE_IXFR: u16 = 251;
const TYPE_AXFR: u16 = 252;
const TYPE_ANY: u16 = 255;
const CLASS_IN: u16 = 1;
const CLASS_ANY: u16 = 255;

const RCODE_FORMERR: u16 = 1;
const RCODE_NXDOMAIN: u16 = 3;
const RCODE_NOTIMP: u16 = 4;
const RCODE_REFUSED: u16 = 5;

const FLAG_QR: u16 = 0x8000;
const FLAG_AA: u16 = 0x0400;
const FLAG_TC: u16 = 0x0200;
const FLAG_RD: u16 = 0x0100;
const FLAG_CD: u16 = 0x0010;

/// What became of a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// `out` holds the response.
    Reply,
    /// The name is outside every served zone: `out` holds REFUSED, and a server with an
    /// upstream resolver forwards the query instead.
    Outside,
    /// Not a query that deserves an answer (shorter than a header, or a response).
    Drop,
}

/// The OPT record of a query (RFC 6891).
#[derive(Debug, Clone, Copy)]
struct Edns {
    payload: u16,
    version: u8,
}

/// The parsed header and question.
struct Query {
    id: u16,
    flags: u16,
    /// End of the question (qname, qtype, qclass).
    question_end: usize,
    qtype: u16,
    qclass: u16,
    edns: Option<Edns>,
}

/// Answers `query` in `layers` into `out` (cleared first). `max_size`: the transport's
/// limit (512 for UDP, raised by the query's EDNS size up to [`MAX_UDP_PAYLOAD`];
/// `u16::MAX` for TCP). Never panics on any input.
pub(crate) fn answer_into(
    layers: &Layers<'_>,
    serial: u32,
    query: &[u8],
    max_size: u16,
    out: &mut Vec<u8>,
) -> Outcome {
    out.clear();
    if query.len() < 12 || read_u16(query, 2) & FLAG_QR != 0 {
        return Outcome::Drop;
    }
    if query.len() > MAX_QUERY {
        return too_long(query, out);
    }
    let id = read_u16(query, 0);
    let flags = read_u16(query, 2);
    let opcode = (flags >> 11) & 0xf;
    if opcode != 0 {
        header_only(out, id, flags, RCODE_NOTIMP);
        return Outcome::Reply;
    }
    let Ok((key, q)) = parse(query) else {
        header_only(out, id, flags, RCODE_FORMERR);
        return Outcome::Reply;
    };
    let limit = match (max_size, q.edns) {
        (u16::MAX, _) => usize::from(u16::MAX),
        (size, Some(edns)) => usize::from(size.max(edns.payload.clamp(512, MAX_UDP_PAYLOAD))),
        (size, None) => usize::from(size),
    };
    // Header, then the question as the client wrote it.
    out.extend_from_slice(&query[..q.question_end]);
    let qname_len = q.question_end - 12 - 4;
    let mut rcode = 0;
    let mut aa = true;
    let mut counts = [1u16, 0, 0];
    let mut outcome = Outcome::Reply;
    if let Some(edns) = q.edns.filter(|e| e.version != 0) {
        // BADVERS (16): the upper 8 bits go in the OPT record.
        finish(out, &q, 0, false, counts, Some((1, edns)), limit);
        return Outcome::Reply;
    }
    if q.qclass != CLASS_IN && q.qclass != CLASS_ANY {
        rcode = RCODE_REFUSED;
        aa = false;
    } else if q.qtype == TYPE_OPT {
        rcode = RCODE_FORMERR;
        aa = false;
    } else if q.qtype == TYPE_AXFR || q.qtype == TYPE_IXFR {
        rcode = RCODE_REFUSED;
        aa = false;
    } else {
        match layers.find(key.as_bytes()) {
            Found::Refused { outside } => {
                rcode = RCODE_REFUSED;
                aa = false;
                if outside {
                    outcome = Outcome::Outside;
                }
            }
            Found::NxDomain { zone_len } => {
                rcode = RCODE_NXDOMAIN;
                counts[2] += soa(out, zone_pointer(qname_len, zone_len), serial);
            }
            Found::Name {
                data,
                apex,
                zone_len,
            } => {
                counts = records(
                    out,
                    q.qtype,
                    data,
                    apex,
                    zone_pointer(qname_len, zone_len),
                    serial,
                );
            }
        }
    }
    finish(out, &q, rcode, aa, counts, q.edns.map(|e| (0, e)), limit);
    outcome
}

/// Writes the answer and authority records for an existing name; returns the counts
/// of the question, answer and authority sections.
fn records(
    out: &mut Vec<u8>,
    qtype: u16,
    data: Option<&Data>,
    apex: bool,
    zone_ptr: u16,
    serial: u32,
) -> [u16; 3] {
    let mut counts = [1u16, 0, 0];
    match data {
        Some(Data::Cname(cname)) => {
            // RFC 1034 §3.6.2: the CNAME answers every type; A follows it.
            let target_at = out.len() + 12;
            rr_header(out, 0xc00c, TYPE_CNAME, wire_len(&cname.target));
            super::name::write_wire(&cname.target, out);
            counts[1] = 1;
            let target_ptr = 0xc000 | u16::try_from(target_at).unwrap_or(0);
            if qtype == TYPE_A || qtype == TYPE_ANY {
                counts[1] += a_records(out, target_ptr, &cname.addrs);
            } else if qtype != TYPE_CNAME {
                let offset = target_at + wire_len(&cname.target)
                    - wire_len(
                        &cname.target[cname.target.len() - usize::from(cname.target_zone_len)..],
                    );
                counts[2] += soa(out, 0xc000 | u16::try_from(offset).unwrap_or(0), serial);
            }
        }
        Some(Data::A(addrs)) if qtype == TYPE_A || qtype == TYPE_ANY => {
            counts[1] = a_records(out, 0xc00c, addrs);
        }
        _ if apex && (qtype == TYPE_SOA || qtype == TYPE_ANY) => {
            counts[1] = soa(out, 0xc00c, serial);
            if qtype == TYPE_ANY {
                counts[1] += ns(out);
            }
        }
        _ if apex && qtype == TYPE_NS => counts[1] = ns(out),
        _ => counts[2] = soa(out, zone_ptr, serial),
    }
    counts
}

/// The compression pointer to the zone's name inside the question's name.
fn zone_pointer(qname_wire_len: usize, zone_key_len: u8) -> u16 {
    let zone_wire = usize::from(zone_key_len) + 2;
    0xc000 | u16::try_from(12 + qname_wire_len.saturating_sub(zone_wire)).unwrap_or(0)
}

fn rr_header(out: &mut Vec<u8>, owner: u16, rtype: u16, rdlen: usize) {
    out.extend_from_slice(&owner.to_be_bytes());
    out.extend_from_slice(&rtype.to_be_bytes());
    out.extend_from_slice(&CLASS_IN.to_be_bytes());
    out.extend_from_slice(&TTL.to_be_bytes());
    out.extend_from_slice(&u16::try_from(rdlen).unwrap_or(0).to_be_bytes());
}

fn a_records(out: &mut Vec<u8>, owner: u16, addrs: &[Ipv4Addr]) -> u16 {
    for addr in addrs {
        rr_header(out, owner, TYPE_A, 4);
        out.extend_from_slice(&addr.octets());
    }
    u16::try_from(addrs.len()).unwrap_or(u16::MAX)
}

/// The SOA's rdata without the serial and timers: mname and rname in wire form.
fn soa_names() -> &'static [u8] {
    static NAMES: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    NAMES.get_or_init(|| {
        let mut out = Vec::new();
        super::name::write_wire(SOA_MNAME.as_bytes(), &mut out);
        super::name::write_wire(SOA_RNAME.as_bytes(), &mut out);
        out
    })
}

fn soa(out: &mut Vec<u8>, owner: u16, serial: u32) -> u16 {
    let names = soa_names();
    rr_header(out, owner, TYPE_SOA, names.len() + 20);
    out.extend_from_slice(names);
    out.extend_from_slice(&serial.to_be_bytes());
    for timer in SOA_TIMERS {
        out.extend_from_slice(&timer.to_be_bytes());
    }
    out.extend_from_slice(&TTL.to_be_bytes());
    1
}

fn ns(out: &mut Vec<u8>) -> u16 {
    rr_header(out, 0xc00c, TYPE_NS, wire_len(SOA_MNAME.as_bytes()));
    super::name::write_wire(SOA_MNAME.as_bytes(), out);
    1
}

/// Writes the header (and OPT), truncating to the question when the records do not fit.
#[allow(clippy::too_many_arguments)]
fn finish(
    out: &mut Vec<u8>,
    q: &Query,
    rcode: u16,
    aa: bool,
    mut counts: [u16; 3],
    opt: Option<(u8, Edns)>,
    limit: usize,
) {
    let opt_len = if opt.is_some() { 11 } else { 0 };
    let mut flags = FLAG_QR | (q.flags & (FLAG_RD | FLAG_CD)) | (rcode & 0xf);
    if aa {
        flags |= FLAG_AA;
    }
    if out.len() + opt_len > limit {
        out.truncate(q.question_end);
        flags |= FLAG_TC;
        counts = [1, 0, 0];
    }
    if let Some((ext_rcode, _)) = opt {
        out.push(0);
        out.extend_from_slice(&TYPE_OPT.to_be_bytes());
        out.extend_from_slice(&EDNS_PAYLOAD.to_be_bytes());
        out.extend_from_slice(&[ext_rcode, 0, 0, 0, 0, 0]);
    }
    out[0..2].copy_from_slice(&q.id.to_be_bytes());
    out[2..4].copy_from_slice(&flags.to_be_bytes());
    out[4..6].copy_from_slice(&counts[0].to_be_bytes());
    out[6..8].copy_from_slice(&counts[1].to_be_bytes());
    out[8..10].copy_from_slice(&counts[2].to_be_bytes());
    out[10..12].copy_from_slice(&u16::from(opt.is_some()).to_be_bytes());
}

/// The answer to a query longer than [`MAX_QUERY`], of which `query` may be only the
/// start (a datagram the kernel cut): FORMERR, or nothing for what gets no answer.
pub(crate) fn too_long(query: &[u8], out: &mut Vec<u8>) -> Outcome {
    out.clear();
    if query.len() < 12 || read_u16(query, 2) & FLAG_QR != 0 {
        return Outcome::Drop;
    }
    header_only(out, read_u16(query, 0), read_u16(query, 2), RCODE_FORMERR);
    Outcome::Reply
}

/// A header-only error response (FORMERR, NOTIMP): the question may be unreadable.
fn header_only(out: &mut Vec<u8>, id: u16, qflags: u16, rcode: u16) {
    out.clear();
    out.extend_from_slice(&id.to_be_bytes());
    let flags = FLAG_QR | (qflags & (0x7800 | FLAG_RD | FLAG_CD)) | rcode;
    out.extend_from_slice(&flags.to_be_bytes());
    out.extend_from_slice(&[0; 8]);
}

fn read_u16(bytes: &[u8], at: usize) -> u16 {
    match bytes.get(at..at + 2) {
        Some(b) => u16::from_be_bytes([b[0], b[1]]),
        None => 0,
    }
}

/// Parses the header, the one question and the additional section (for OPT).
fn parse(query: &[u8]) -> Result<(super::name::KeyBuf, Query), ()> {
    let qdcount = read_u16(query, 4);
    let ancount = read_u16(query, 6);
    let nscount = read_u16(query, 8);
    let arcount = read_u16(query, 10);
    if qdcount != 1 || ancount != 0 || nscount != 0 {
        return Err(());
    }
    let (key, mut pos) = read_qname(query, 12).map_err(|_| ())?;
    if query.len() < pos + 4 {
        return Err(());
    }
    let qtype = read_u16(query, pos);
    let qclass = read_u16(query, pos + 2);
    pos += 4;
    let question_end = pos;
    let mut edns = None;
    for _ in 0..arcount {
        let name_start = pos;
        pos = skip_name(query, pos)?;
        let fixed = query.get(pos..pos + 10).ok_or(())?;
        let rtype = u16::from_be_bytes([fixed[0], fixed[1]]);
        let class = u16::from_be_bytes([fixed[2], fixed[3]]);
        let rdlen = usize::from(u16::from_be_bytes([fixed[8], fixed[9]]));
        if rtype == TYPE_OPT {
            // One OPT at most, owned by the root (RFC 6891 §6.1.1).
            if edns.is_some() || query[name_start] != 0 {
                return Err(());
            }
            edns = Some(Edns {
                payload: class,
                version: fixed[5],
            });
        }
        pos += 10;
        if query.len() < pos + rdlen {
            return Err(());
        }
        pos += rdlen;
    }
    let id = read_u16(query, 0);
    let flags = read_u16(query, 2);
    Ok((
        key,
        Query {
            id,
            flags,
            question_end,
            qtype,
            qclass,
            edns,
        },
    ))
}

/// Skips a possibly compressed name in a record of the additional section.
fn skip_name(packet: &[u8], mut pos: usize) -> Result<usize, ()> {
    loop {
        let len = *packet.get(pos).ok_or(())?;
        match len {
            0 => return Ok(pos + 1),
            1..=63 => pos += 1 + usize::from(len),
            0xc0..=0xff => {
                packet.get(pos + 1).ok_or(())?;
                return Ok(pos + 2);
            }
            _ => return Err(()),
        }
    }
}
